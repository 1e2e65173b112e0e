"""Bad arguments to fit/evaluate/predict: a clear error before any step runs, weights unchanged.

Each case here was accepted before: string inputs were parsed as numbers,
``None`` targets became NaN, out-of-range sparse labels trained with a loss
of 0, empty arrays ran an epoch of no batches with a misleading warning,
and ``epochs=-1`` trained nothing while ``epochs=1.5`` failed inside
``range``.
"""

import numpy as np
import pytest

from theanine.frontend import callbacks, layers, losses, models

X = np.random.default_rng(0).normal(size=(12, 4)).astype("float32")
Y = np.arange(12) % 3


@pytest.fixture(scope="module")
def model():
    m = models.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def _weights(model):
    return [w.copy() for w in model.get_weights()]


def _refused(model, error, match, method, *args, **kwargs):
    before = _weights(model)
    with pytest.raises(error, match=match):
        getattr(model, method)(*args, verbose=0, **kwargs)
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("method, args, kwargs, match", [
    ("fit", (X.astype(str), Y), {}, r"input 0 has dtype <U\d+; expected numbers"),
    ("predict", (X.astype(str),), {}, r"input 0 has dtype <U\d+; expected numbers"),
    ("fit", (X, np.array(["a"] * 12)), {}, r"the target of output 'dense\w*' has dtype <U1"),
    ("evaluate", (X, np.array([None] * 12)), {}, r"the target of output 'dense\w*' has dtype object"),
    ("fit", (X, Y), {"sample_weight": np.array(["1"] * 12)}, r"sample_weight for 'dense\w*' has dtype <U1"),
])
def test_data_that_is_not_numbers_is_a_type_error(model, method, args, kwargs, match):
    _refused(model, TypeError, match, method, *args, **kwargs)


@pytest.mark.parametrize("method, labels, value", [
    ("fit", np.full(12, 3), "3"),
    ("fit", np.full(12, -1), "-1"),
    ("evaluate", np.full((12, 1), 7), "7"),
    ("fit", np.full(12, np.nan), "nan"),
])
def test_sparse_labels_out_of_range_are_refused(model, method, labels, value):
    match = rf"output 'dense\w*' has 3 classes, so its labels .* lie in \[0, 3\)\. Received a label value of {value}"
    _refused(model, ValueError, match, method, X, labels)


def test_sparse_labels_in_range_still_train(model):
    assert np.isfinite(model.evaluate(X, Y.astype("float32"), verbose=0)).all()  # float labels: cast
    assert np.isfinite(model.evaluate(X, Y.reshape(12, 1), verbose=0)).all()


def test_ignore_class_is_not_out_of_range():
    m = models.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
    m.compile(optimizer="sgd", loss=losses.SparseCategoricalCrossentropy(ignore_class=-1))
    labels = np.where(Y == 0, -1, Y)
    assert np.isfinite(m.evaluate(X, labels, verbose=0))
    with pytest.raises(ValueError, match=r"lie in \[0, 3\) or ignore_class=-1\. Received a label value of -2"):
        m.evaluate(X, np.full(12, -2), verbose=0)


@pytest.mark.parametrize("method, args, kwargs, what", [
    ("fit", (X[:0], Y[:0]), {}, "fit"),
    ("evaluate", (X[:0], Y[:0]), {}, "evaluate"),
    ("predict", (X[:0],), {}, "predict"),
    ("fit", (X, Y), {"validation_data": (X[:0], Y[:0])}, r"fit \(validation_data\)"),
])
def test_arrays_without_samples_are_refused(model, method, args, kwargs, what):
    _refused(model, ValueError, rf"\.{what}: x holds no samples", method, *args, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": -1}, r"epochs must be an integer >= 0\. Received: epochs=-1"),
    ({"epochs": 1.5}, r"epochs must be an integer >= 0\. Received: epochs=1\.5"),
    ({"epochs": True}, r"epochs must be an integer >= 0\. Received: epochs=True"),
    ({"initial_epoch": -2}, r"initial_epoch must be an integer >= 0\. Received: initial_epoch=-2"),
])
def test_bad_epoch_numbers_are_refused(model, kwargs, match):
    _refused(model, ValueError, match, "fit", X, Y, **kwargs)


def test_an_exception_in_a_callback_propagates_and_leaves_a_usable_model(model):
    class Boom(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                raise KeyError("boom")

    before = _weights(model)
    with pytest.raises(KeyError, match="boom"):
        model.fit(X, Y, batch_size=4, epochs=2, callbacks=[Boom()], verbose=0)
    after = _weights(model)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))  # two steps ran
    assert all(np.isfinite(w).all() for w in after)
    history = model.fit(X, Y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_optimizer_state_of_the_wrong_shape_changes_no_variable():
    import theanine as th
    from theanine.frontend import optimizers

    weights = [th.shared(np.zeros((2, 3), "float32"), name="w"), th.shared(np.zeros(4, "float32"), name="b")]
    optimizer = optimizers.Adam(1e-3)
    optimizer.build(weights)
    before = [v.get_value().copy() for v in optimizer.variables()]
    values = [np.full_like(v, 7) for v in before]
    values[-1] = np.ones(5, "float32")  # the last slot does not fit
    with pytest.raises(ValueError, match="has shape"):
        optimizer.set_variable_values(values)
    for variable, old in zip(optimizer.variables(), before, strict=True):
        np.testing.assert_array_equal(variable.get_value(), old)
