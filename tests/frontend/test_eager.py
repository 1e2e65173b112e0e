"""Layers and models called on NumPy arrays run eagerly, compiled once per input types (Keras 3)."""

import numpy as np
import pytest

import theanine as th
from theanine.frontend import layers, models


def test_dense_on_arrays_returns_the_keras_formula(rng):
    layer = layers.Dense(3, activation="relu", dtype="float64")
    x = rng.normal(size=(5, 4))
    out = layer(x)
    kernel, bias = layer.get_weights()
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_allclose(out, np.maximum(x @ kernel + bias, 0), rtol=1e-12)


def test_eager_call_compiles_once_per_input_types_not_per_batch_size(rng):
    layer = layers.Dense(2)
    layer(rng.normal(size=(3, 4)).astype("float32"))
    layer(rng.normal(size=(7, 4)).astype("float32"))
    assert len(layer._eager_functions) == 1
    layer(rng.normal(size=(7, 4)))  # float64 input: another signature (autocast to float32)
    assert len(layer._eager_functions) == 2
    layer(rng.normal(size=(7, 4)), training=True)
    assert len(layer._eager_functions) == 3


def test_model_call_equals_predict_and_sees_later_weight_changes(rng):
    model = models.Sequential([layers.Input((4,)), layers.Dense(3), layers.Dense(2)])
    x = rng.normal(size=(6, 4)).astype("float32")
    np.testing.assert_allclose(model(x), model.predict(x, verbose=0), rtol=1e-6)
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    np.testing.assert_array_equal(model(x), np.zeros((6, 2), "float32"))


def test_unbuilt_sequential_builds_on_first_eager_call_and_pop_add_retrace(rng):
    model = models.Sequential([layers.Dense(4), layers.Dense(3)])
    x = rng.normal(size=(2, 5)).astype("float32")
    assert model(x).shape == (2, 3) and model.built
    model.pop()
    assert model(x).shape == (2, 4)
    model.add(layers.Dense(7))
    assert model(x).shape == (2, 7)


def test_dropout_is_inactive_unless_training_is_true():
    layer = layers.Dropout(0.5, seed=1)
    x = np.ones((50, 40), "float32")
    np.testing.assert_array_equal(layer(x), x)
    dropped = layer(x, training=True)
    assert set(np.unique(dropped)) == {0.0, 2.0}  # Keras scales the kept units by 1 / (1 - rate)
    assert not np.array_equal(dropped, layer(x, training=True))  # the random state advances


def test_batch_normalization_updates_moving_statistics_only_in_training(rng):
    layer = layers.BatchNormalization(momentum=0.99, epsilon=1e-3, dtype="float64")
    x = rng.normal(loc=3.0, size=(8, 2))
    inference = layer(x)
    np.testing.assert_allclose(inference, x / np.sqrt(1 + 1e-3), rtol=1e-12)
    moving_mean = [w for w in layer.weights if "moving_mean" in w.name][0]
    np.testing.assert_array_equal(moving_mean.get_value(), [0.0, 0.0])
    training = layer(x, training=True)
    np.testing.assert_allclose(moving_mean.get_value(), 0.01 * x.mean(axis=0), rtol=1e-12)
    expected = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-3)
    np.testing.assert_allclose(training, expected, rtol=1e-10)


def test_output_structures_follow_the_symbolic_call(rng):
    inp = layers.Input((2,))
    model = models.Model(inp, {"a": layers.Dense(2)(inp), "b": layers.Dense(1)(inp)})
    out = model(rng.normal(size=(3, 2)))
    assert sorted(out) == ["a", "b"] and out["a"].shape == (3, 2) and out["b"].shape == (3, 1)
    np.testing.assert_array_equal(layers.Add()([np.ones(3), np.full(3, 2.0)]), [3.0, 3.0, 3.0])


def test_python_numbers_and_subclassed_models_run_eagerly():
    class Twice(models.Model):
        def call(self, x):
            return x * 2.0

    assert float(Twice()(np.float32(1.5))) == 3.0
    assert layers.Activation("relu")(-2.0) == 0.0


def test_bad_eager_calls_raise_clear_errors():
    layer = layers.Dense(2)
    with pytest.raises(TypeError, match="input 0 must hold numbers. Received dtype <U1"):
        layer(np.array(["a"]))
    with pytest.raises(TypeError, match="keyword arguments of an eager call must be hashable"):
        layers.Activation("relu")(np.ones(2), training=[1])
    with pytest.raises(TypeError, match="either on symbolic tensors or on arrays"):
        layers.Add()([np.ones(2), th.vector("v")])
    assert not layer.built  # nothing was built by a refused call
