"""fit/evaluate/predict on generators and PyDataset sequences; steps_per_epoch, validation_freq,
steps_per_execution (Keras 3 semantics)."""

import warnings

import numpy as np
import pytest

from theanine.frontend import callbacks, layers, models, optimizers, utils

WEIGHTS = np.array([[1.0], [-2.0], [0.5]], "float32")


def _model(lr=0.0, **compile_options):
    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(1)])
    model.compile(optimizers.SGD(lr), "mse", metrics=["mae"], **compile_options)
    return model


def _data(rng, n):
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, x @ WEIGHTS


class Batches(utils.PyDataset):
    """``len(x) / batch_size`` batches of (x, y); counts the epochs it saw end."""

    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size, self.epochs_ended = x, y, batch_size, 0

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[part], self.y[part]

    def on_epoch_end(self):
        self.epochs_ended += 1


def _generator(x, y, batch_size, sample_weight=None):
    for start in range(0, len(x), batch_size):
        part = slice(start, start + batch_size)
        if sample_weight is None:
            yield x[part], y[part]
        else:
            yield x[part], y[part], sample_weight[part]


def test_a_pydataset_gives_the_same_results_as_its_arrays(rng):
    x, y = _data(rng, 20)
    model = _model()
    dataset = Batches(x, y, 6, workers=2)
    assert len(dataset) == 4 and dataset.num_batches == 4 and dataset.workers == 2
    assert model.evaluate(dataset, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0))
    np.testing.assert_allclose(model.predict(dataset, verbose=0), model.predict(x, verbose=0))
    assert dataset.epochs_ended == 2  # one pass each for evaluate and predict, as in Keras
    history = _model(0.05).fit(dataset, epochs=3, verbose=0)
    assert history.epoch == [0, 1, 2] and dataset.epochs_ended == 5


def test_a_generator_with_sample_weights_matches_the_weighted_arrays(rng):
    x, y = _data(rng, 20)
    weights = rng.uniform(0, 2, size=20).astype("float32")
    model = _model()
    expected = model.evaluate(x, y, sample_weight=weights, verbose=0, return_dict=True)
    got = model.evaluate(_generator(x, y, 7, weights), verbose=0, return_dict=True)
    assert got == pytest.approx(expected)
    predictions = model.predict((xb for xb, _ in _generator(x, y, 7)), verbose=0)
    np.testing.assert_allclose(predictions, model.predict(x, verbose=0))


def test_a_generator_builds_an_unbuilt_model_and_trains(rng):
    x, y = _data(rng, 64)
    model = models.Sequential([layers.Dense(1)])
    model.compile(optimizers.SGD(0.1), "mse")
    endless = (batch for _ in range(1000) for batch in _generator(x, y, 16))
    history = model.fit(endless, steps_per_epoch=4, epochs=30, verbose=0)
    assert len(history.history["loss"]) == 30 and history.history["loss"][-1] < 1e-3
    np.testing.assert_allclose(model.layers[0].kernel.get_value(), WEIGHTS, atol=0.05)


def test_steps_per_epoch_continues_a_pass_and_a_finite_generator_runs_out(rng):
    x, y = _data(rng, 40)
    seen = []
    count = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    history = _model().fit(
        x,
        y,
        batch_size=10,
        steps_per_epoch=2,
        epochs=4,
        verbose=0,
        callbacks=[count],
        shuffle=False,
    )
    assert history.epoch == [0, 1, 2, 3] and seen == [0, 1] * 4
    with pytest.warns(UserWarning, match="Your input ran out of data; interrupting training"):
        history = _model().fit(_generator(x, y, 10), steps_per_epoch=3, epochs=3, verbose=0)
    assert history.epoch == [0, 1]
    with pytest.warns(UserWarning, match="ran out of data"):
        history = _model().fit(_generator(x, y, 10), epochs=2, verbose=0)
    assert history.epoch == [0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _model().fit(_generator(x, y, 10), epochs=1, verbose=0).epoch == [0]


def test_validation_freq_and_validation_steps(rng):
    x, y = _data(rng, 30)
    model = _model()
    history = model.fit(x, y, epochs=5, verbose=0, validation_data=(x, y), validation_freq=2)
    assert len(history.history["val_loss"]) == 2
    validated = []
    marker = callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: validated.append("val_loss" in logs)
    )
    model.fit(
        x, y, epochs=4, verbose=0, validation_split=0.2, validation_freq=[1, 4], callbacks=[marker]
    )
    assert validated == [True, False, False, True]
    dataset = Batches(x, y, 5)
    history = model.fit(x, y, epochs=1, verbose=0, validation_data=dataset, validation_steps=2)
    assert history.history["val_loss"][0] == pytest.approx(
        model.evaluate(x[:10], y[:10], verbose=0)[0]
    )
    with pytest.raises(
        ValueError, match=r"validation_freq must be a positive int .* Received: validation_freq=0"
    ):
        model.fit(x, y, verbose=0, validation_freq=0)


def test_steps_per_execution_calls_batch_callbacks_once_per_group(rng):
    x, y = _data(rng, 50)
    model = _model(steps_per_execution=4, jit_compile=True)
    assert model.steps_per_execution == 4 and model.jit_compile is True
    begins, ends = [], []
    record = callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs: begins.append(batch),
        on_train_batch_end=lambda batch, logs: ends.append(batch),
    )
    model.fit(x, y, batch_size=5, epochs=1, verbose=0, callbacks=[record])
    assert begins == [0, 4, 8] and ends == [3, 7, 9]
    unweighted = _model()
    unweighted.set_weights(model.get_weights())
    assert model.evaluate(x, y, batch_size=5, verbose=0) == pytest.approx(
        unweighted.evaluate(x, y, batch_size=5, verbose=0)
    )


def test_compile_options_and_stream_arguments_are_checked(rng, tmp_path):
    x, y = _data(rng, 10)
    with pytest.raises(
        ValueError, match=r"positive integer or None. Received: steps_per_execution=0"
    ):
        _model(steps_per_execution=0)
    with pytest.raises(
        ValueError, match=r"jit_compile must be 'auto', True or False. Received: jit_compile='xla'"
    ):
        _model(jit_compile="xla")
    model = _model(steps_per_execution=3, jit_compile=False)
    model.save(tmp_path / "m.theanine")
    restored = models.load_model(tmp_path / "m.theanine")
    assert (restored.steps_per_execution, restored.jit_compile) == (3, False)
    with pytest.raises(ValueError, match=r"y and sample_weight must be None"):
        model.fit(_generator(x, y, 5), y, verbose=0)
    # as Keras: batch_size is ignored when the data comes in batches (the training guide passes it)
    assert np.allclose(model.evaluate(Batches(x, y, 5), batch_size=64, verbose=0),
                       model.evaluate(Batches(x, y, 5), verbose=0))
    with pytest.raises(ValueError, match=r"validation_split needs array inputs"):
        model.fit(Batches(x, y, 5), validation_split=0.5, verbose=0)
    with pytest.raises(ValueError, match=r"positive integer or None. Received: steps_per_epoch=-1"):
        model.fit(x, y, steps_per_epoch=-1, verbose=0)
    with pytest.raises(ValueError, match=r"the data holds no batch"):
        model.evaluate(iter([]), verbose=0)
    with pytest.raises(
        ValueError, match=r"a batch must be x, \(x,\), \(x, y\) or \(x, y, sample_weight\)"
    ):
        model.evaluate(iter([(x, y, None, None)]), verbose=0)


def test_class_weight_applies_to_generator_batches(rng):
    model = models.Sequential([layers.Input(shape=(2,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    x = rng.normal(size=(12, 2)).astype("float32")
    y = np.arange(12) % 2
    history = model.fit(_generator(x, y, 4), class_weight={1: 3.0}, epochs=1, verbose=0)
    p = model.predict(x, verbose=0)
    losses = -np.log(p[np.arange(12), y]) * np.where(y == 1, 3.0, 1.0)
    assert history.history["loss"][0] == pytest.approx(losses.mean(), rel=1e-5)
