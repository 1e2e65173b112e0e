"""compile(): which metrics see sample and class weights, and what the logs call them (Keras 3)."""

import numpy as np
import pytest

from theanine.frontend import layers, models, optimizers


def _regression_model():
    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(1)])
    return model


def _data(rng, n=12):
    x = rng.normal(size=(n, 3)).astype("float32")
    y = rng.normal(size=(n, 1)).astype("float32")
    weights = rng.uniform(0.0, 2.0, size=n).astype("float32")
    return x, y, weights


def test_only_weighted_metrics_see_sample_weights(rng):
    model = _regression_model()
    model.compile(optimizers.SGD(0.0), "mse", metrics=["mae"], weighted_metrics=["mae"])
    x, y, w = _data(rng)
    logs = model.evaluate(x, y, sample_weight=w, batch_size=5, verbose=0, return_dict=True)
    error = (model.predict(x, verbose=0) - y)[:, 0]
    assert list(logs) == ["loss", "mae", "weighted_mae"]
    assert logs["loss"] == pytest.approx(np.mean(w * error**2), rel=1e-5)
    assert logs["mae"] == pytest.approx(np.mean(np.abs(error)), rel=1e-5)
    assert logs["weighted_mae"] == pytest.approx(np.sum(w * np.abs(error)) / np.sum(w), rel=1e-5)
    assert model.metrics_names == ["loss", "mae", "weighted_mae"]


def test_a_weighted_metric_keeps_its_name_when_no_plain_metric_takes_it(rng):
    model = _regression_model()
    model.compile(optimizers.SGD(0.0), "mse", weighted_metrics=["mae"])
    x, y, w = _data(rng)
    logs = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    error = (model.predict(x, verbose=0) - y)[:, 0]
    assert list(logs) == ["loss", "mae"]
    assert logs["mae"] == pytest.approx(np.sum(w * np.abs(error)) / np.sum(w), rel=1e-5)


def test_class_weights_apply_to_the_loss_and_weighted_metrics_only(rng):
    model = models.Sequential([layers.Input(shape=(2,)), layers.Dense(3, activation="softmax")])
    model.compile(
        optimizers.SGD(0.0),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
        weighted_metrics=["accuracy"],
    )
    x = rng.normal(size=(30, 2)).astype("float32")
    y = np.arange(30) % 3
    class_weight = {0: 0.5, 1: 2.0, 2: 4.0}
    logs = model.train_on_batch(x, y, class_weight=class_weight, return_dict=True)
    p = model.predict(x, verbose=0)
    w = np.array([class_weight[c] for c in y])
    hit = p.argmax(axis=1) == y
    assert logs["accuracy"] == pytest.approx(hit.mean())
    assert logs["weighted_accuracy"] == pytest.approx(np.sum(w * hit) / np.sum(w), rel=1e-6)
    assert logs["loss"] == pytest.approx(np.mean(-w * np.log(p[np.arange(30), y])), rel=1e-5)


def test_duplicate_names_and_several_outputs_follow_keras(rng):
    inputs = layers.Input(shape=(3,))
    model = models.Model(
        inputs, [layers.Dense(1, name="a")(inputs), layers.Dense(1, name="b")(inputs)]
    )
    model.compile(
        optimizers.SGD(0.0),
        ["mse", "mse"],
        metrics=[["mae", "mae"], []],
        weighted_metrics={"a": "mae", "b": ["mse"]},
    )
    x, y, w = _data(rng)
    logs = model.evaluate(x, [y, 2 * y], sample_weight=w, verbose=0, return_dict=True)
    assert list(logs) == [
        "loss",
        "a_loss",
        "b_loss",
        "a_mae",
        "a_mae_1",
        "a_weighted_mae",
        "b_mse",
    ]
    pa, pb = model.predict(x, verbose=0)
    assert logs["a_mae"] == logs["a_mae_1"] == pytest.approx(np.abs(pa - y).mean(), rel=1e-5)
    weighted_mse = np.sum(w * (pb - 2 * y)[:, 0] ** 2) / np.sum(w)
    assert logs["b_mse"] == pytest.approx(weighted_mse, rel=1e-5)
    assert logs["b_loss"] == pytest.approx(np.mean(w * (pb - 2 * y)[:, 0] ** 2), rel=1e-5)


def test_metrics_for_an_output_without_a_loss_are_an_error(rng):
    inputs = layers.Input(shape=(3,))
    model = models.Model(
        inputs, [layers.Dense(1, name="a")(inputs), layers.Dense(1, name="b")(inputs)]
    )
    model.compile("sgd", {"a": "mse"}, metrics={"b": ["mae"]})
    x, y, _ = _data(rng)
    with pytest.raises(ValueError, match=r"metrics to output 'b', which has no loss"):
        model.evaluate(x, {"a": y}, verbose=0)
    model.compile("sgd", {"a": "mse"}, metrics=["mae"])
    assert model.evaluate(x, {"a": y}, verbose=0, return_dict=True).keys() == {
        "loss",
        "a_loss",
        "a_mae",
    }
