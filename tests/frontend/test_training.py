"""fit / evaluate / predict: compiled once, batching, weights, validation, progress output."""

import io

import numpy as np
import pytest

import theanine as th
from theanine.frontend import callbacks, layers, models, optimizers
from theanine.frontend.progbar import Progbar


def _linear_model(units=1, lr=0.1):
    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(units)])
    model.compile(optimizers.SGD(lr), "mse")
    return model


def _regression_data(rng, n=50):
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]], "float32") + 0.3).astype("float32")


def test_each_function_is_compiled_once_even_with_a_partial_last_batch(rng, monkeypatch):
    compiled = []
    real = th.function
    monkeypatch.setattr(
        th, "function", lambda *a, **k: compiled.append(k.get("name")) or real(*a, **k)
    )
    model = _linear_model()
    x, y = _regression_data(rng, 50)
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_split=0.2)
    model.evaluate(x, y, batch_size=7, verbose=0)
    model.predict(x, batch_size=9, verbose=0)
    model.train_on_batch(x[:5], y[:5])
    assert sorted(compiled) == ["sequential_predict", "sequential_test", "sequential_train"]


def test_fit_converges_and_evaluate_returns_a_scalar_without_metrics(rng):
    model = _linear_model()
    x, y = _regression_data(rng)
    history = model.fit(x, y, batch_size=10, epochs=40, verbose=0)
    assert history.history["loss"][-1] < 1e-4 < history.history["loss"][0]
    loss = model.evaluate(x, y, verbose=0)
    assert isinstance(loss, float) and loss < 1e-4
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(kernel[:, 0], [1.0, -2.0, 0.5], atol=1e-2)


def test_evaluate_loss_is_the_numpy_mean_and_metrics_follow(rng):
    model = models.Sequential([layers.Input(shape=(4,)), layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = rng.normal(size=(23, 4)).astype("float32")
    y = rng.integers(0, 3, size=23)
    loss, accuracy = model.evaluate(x, y, batch_size=5, verbose=0)
    p = model.predict(x, verbose=0)
    np.testing.assert_allclose(loss, -np.log(p[np.arange(23), y]).mean(), rtol=1e-5)
    assert accuracy == pytest.approx((p.argmax(axis=1) == y).mean())


def test_sample_weight_zero_ignores_samples(rng):
    model = _linear_model()
    x, y = _regression_data(rng, 20)
    weights = np.r_[np.ones(10), np.zeros(10)]
    weighted = model.evaluate(x, y, sample_weight=weights, batch_size=20, verbose=0)
    first_half = model.evaluate(x[:10], y[:10], verbose=0)
    assert weighted == pytest.approx(first_half / 2, rel=1e-5)


def test_class_weight_scales_the_loss_per_class(rng):
    model = models.Sequential([layers.Input(shape=(2,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    x = rng.normal(size=(8, 2)).astype("float32")
    y = np.array([0, 1] * 4)
    plain = model.train_on_batch(x, y)
    doubled = model.train_on_batch(x, y, class_weight={0: 2.0, 1: 2.0})
    assert doubled == pytest.approx(2 * plain, rel=1e-5)


def _per_sample_crossentropy(model, x, y):
    p = model.predict(x, verbose=0)
    return -np.log(p[np.arange(len(y)), y])


def test_a_class_missing_from_class_weight_has_weight_one(rng):
    model = models.Sequential([layers.Input(shape=(2,)), layers.Dense(10, activation="softmax")])
    model.compile(optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    x = rng.normal(size=(20, 2)).astype("float32")
    y = np.arange(20) % 10
    loss = model.train_on_batch(x, y, class_weight={9: 3.0})
    weights = np.where(y == 9, 3.0, 1.0)
    expected = np.mean(weights * _per_sample_crossentropy(model, x, y))
    assert loss == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    "encode",
    [
        lambda y: np.eye(3, dtype="float32")[y],
        lambda y: (y + 0.2).astype("float32")[:, None],
        lambda y: y.astype("float32"),
    ],
    ids=["one-hot", "(n, 1) floats, rounded", "(n,) floats"],
)
def test_class_weight_reads_labels_as_keras_does(encode):
    from theanine.frontend.data_adapter import class_weights

    y = np.array([0, 2, 1, 2])
    weights = class_weights({0: 0.5, "2": 4.0}, encode(y))
    np.testing.assert_array_equal(weights, [0.5, 4.0, 1.0, 4.0])


def test_class_weight_errors_name_the_problem():
    from theanine.frontend.data_adapter import class_weights

    with pytest.raises(ValueError, match=r"integer class indices. Received the key 'cat'"):
        class_weights({"cat": 1.0}, np.zeros(3))
    with pytest.raises(ValueError, match=r"integer class indices. Received the key 1.5"):
        class_weights({1.5: 1.0}, np.zeros(3))
    with pytest.raises(ValueError, match=r"must be a dict .* Received: class_weight=\[1.0\]"):
        class_weights([1.0], np.zeros(3))
    with pytest.raises(ValueError, match=r"targets of shape \(3, 2, 2\)"):
        class_weights({0: 1.0}, np.zeros((3, 2, 2)))


def test_class_weight_applies_to_training_batches_only(rng):
    model = models.Sequential([layers.Input(shape=(2,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    x = rng.normal(size=(40, 2)).astype("float32")
    y = np.arange(40) % 2
    history = model.fit(
        x, y, batch_size=8, epochs=1, verbose=0, validation_split=0.25, class_weight={1: 5.0}
    )
    losses = _per_sample_crossentropy(model, x, y)
    weights = np.where(y == 1, 5.0, 1.0)
    assert history.history["loss"][0] == pytest.approx(np.mean((weights * losses)[:30]), rel=1e-5)
    assert history.history["val_loss"][0] == pytest.approx(np.mean(losses[30:]), rel=1e-5)


def test_validation_data_initial_epoch_and_history(rng):
    model = _linear_model()
    x, y = _regression_data(rng)
    history = model.fit(
        x, y, validation_data=(x[:10], y[:10]), epochs=5, initial_epoch=2, verbose=0
    )
    assert history.epoch == [2, 3, 4]
    assert sorted(history.history) == ["loss", "val_loss"] and len(history.history["val_loss"]) == 3


def test_batch_functions(rng):
    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizers.SGD(0.5), "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = rng.normal(size=(6, 3)).astype("float32"), np.array([0, 1, 0, 1, 0, 1])
    before = model.test_on_batch(x, y)
    model.train_on_batch(x, y)
    after = model.test_on_batch(x, y, return_dict=True)
    assert after["loss"] < before[0]
    assert model.predict_on_batch(x).shape == (6, 2)


def test_training_is_reproducible_with_set_seed(rng):
    x, y = _regression_data(rng)

    def run():
        th.set_seed(11)
        model = models.Sequential(
            [
                layers.Input(shape=(3,)),
                layers.Dense(8, activation="relu"),
                layers.Dropout(0.3),
                layers.Dense(1),
            ]
        )
        model.compile("adam", "mse")
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        return model.get_weights()

    for a, b in zip(run(), run(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_input_errors_name_the_problem(rng):
    model = _linear_model()
    with pytest.raises(
        ValueError, match=r"expected shape \(None, 3\), received an array of shape \(4, 2\)"
    ):
        model.fit(np.zeros((4, 2)), np.zeros((4, 1)), verbose=0)
    with pytest.raises(ValueError, match=r"same number of samples; got \[4, 5\]"):
        model.fit(np.zeros((4, 3)), np.zeros((5, 1)), verbose=0)
    with pytest.raises(RuntimeError, match="must be compiled"):
        models.Sequential([layers.Input(shape=(3,)), layers.Dense(1)]).fit(
            np.zeros((2, 3)), np.zeros((2, 1))
        )
    with pytest.raises(ValueError, match=r"positive integer. Received: batch_size=0"):
        model.fit(np.zeros((4, 3)), np.zeros((4, 1)), batch_size=0)


def test_verbose_2_prints_one_line_per_epoch(rng, capsys):
    model = _linear_model()
    x, y = _regression_data(rng, 30)
    model.fit(x, y, batch_size=10, epochs=2, verbose=2, validation_split=0.2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert (
        lines[1].startswith("3/3 - ")
        and "step - loss: " in lines[1]
        and " - val_loss: " in lines[1]
    )


def test_progbar_draws_a_keras_style_bar():
    stream = io.StringIO()
    bar = Progbar(4, width=8, stream=stream)
    bar.update(2, {"loss": 0.5})
    bar.update(4, {"loss": 0.25, "accuracy": 1e-5})
    text = stream.getvalue()
    assert text.startswith("4/4 [========] - ") and text.endswith(
        " - loss: 0.2500 - accuracy: 1.0000e-05\n"
    )
    assert "ETA" not in text


def test_progbar_on_a_terminal_redraws_in_place():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    bar = Progbar(4, width=8, stream=stream, interval=0.0)
    bar.update(2, {"loss": 0.5})
    assert stream.getvalue().startswith("\r2/4 [===>....] - ETA: ")


def test_a_callback_can_stop_training_mid_epoch(rng):
    model = _linear_model()
    x, y = _regression_data(rng)
    seen = []
    stopper = callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: (
            seen.append(batch) or setattr(model, "stop_training", batch == 1)
        )
    )
    history = model.fit(x, y, batch_size=10, epochs=3, verbose=0, callbacks=[stopper])
    assert seen == [0, 1] and history.epoch == [0]


def test_verbose_2_with_an_unknown_number_of_steps(capsys):
    stream = io.StringIO()
    Progbar(None, verbose=2, stream=stream).update(5, {"loss": 0.5}, finalize=True)
    assert stream.getvalue().startswith("5/Unknown - ")


def test_a_layer_called_on_two_tensors_with_add_loss_and_compile_without_loss():
    """The training guide's LogisticEndpoint: ``layer(targets, logits)`` records a node with both
    tensors; the model compiles without a loss and trains on the loss the layer adds."""
    from theanine.frontend import losses

    class LogisticEndpoint(layers.Layer):
        def __init__(self, name=None, **kwargs):
            super().__init__(name=name, **kwargs)
            self.loss_fn = losses.BinaryCrossentropy(from_logits=True)

        def call(self, targets, logits, sample_weights=None):
            self.add_loss(self.loss_fn(targets, logits, sample_weights))
            return th.softmax(logits)

    inputs, targets = layers.Input(shape=(3,), name="inputs"), layers.Input(shape=(10,), name="targets")
    logits = layers.Dense(10)(inputs)
    model = models.Model(inputs=[inputs, targets], outputs=LogisticEndpoint(name="predictions")(targets, logits))
    assert [layer.name for layer in model.layers][-1] == "predictions"
    model.compile(optimizer=optimizers.SGD(0.5))
    rng = np.random.default_rng(0)
    data = {"inputs": rng.random((8, 3), dtype=np.float32), "targets": rng.random((8, 10), dtype=np.float32)}
    kernel, bias = (w.numpy() for w in model.layers[2].weights)
    history = model.fit(data, batch_size=8, epochs=2, verbose=0)
    z = data["inputs"] @ kernel + bias
    expected = np.mean(np.maximum(z, 0) - z * data["targets"] + np.log1p(np.exp(-np.abs(z))))
    assert np.isclose(history.history["loss"][0], expected, rtol=1e-5)
    assert history.history["loss"][1] < history.history["loss"][0]
    rebuilt = models.Model.from_config(model.get_config(), custom_objects={"LogisticEndpoint": LogisticEndpoint})
    assert rebuilt.predict(data, verbose=0).shape == (8, 10)
