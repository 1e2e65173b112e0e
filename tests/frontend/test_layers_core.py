"""Core layers against NumPy re-implementations, and gradients through them."""

import numpy as np
import pytest

import theanine as th
from theanine.frontend import layers
from theanine.graph.basic import clone_replace


def _run(layer, x_value, training=None):
    x = th.tensor("x", str(x_value.dtype), (None, *x_value.shape[1:]))
    out = layer(x, training=training) if training is not None else layer(x)
    return th.function([x], out)(x_value)


def _relu(a):
    return np.maximum(a, 0)


@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_matches_numpy_for_given_weights(rng, use_bias):
    layer = layers.Dense(4, activation="relu", use_bias=use_bias, dtype="float64")
    x = rng.normal(size=(5, 3))
    layer(th.tensor("x", "float64", (None, 3)))
    kernel, bias = rng.normal(size=(3, 4)), rng.normal(size=4)
    layer.set_weights([kernel, bias] if use_bias else [kernel])
    expected = _relu(x @ kernel + (bias if use_bias else 0))
    np.testing.assert_allclose(_run(layer, x), expected, rtol=1e-12)
    assert [w.name for w in layer.weights] == (
        ["dense/kernel", "dense/bias"] if use_bias else ["dense/kernel"]
    )
    assert layer.count_params() == 12 + 4 * use_bias


def test_dense_on_rank3_inputs_works_on_the_last_axis(rng):
    layer = layers.Dense(2, dtype="float64")
    x = rng.normal(size=(2, 3, 4))
    out = _run(layer, x)
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(out, x @ kernel + bias, rtol=1e-12)
    assert layer.compute_output_shape((None, 3, 4)) == (None, 3, 2)


def test_dense_output_static_shape_and_float32_default():
    x = layers.Input(shape=(64,))
    y = layers.Dense(128)(x)
    assert y.type.shape == (None, 128) and y.dtype == "float32"


def test_dense_gradients_wrt_inputs_and_weights(rng):
    layer = layers.Dense(3, activation="tanh", dtype="float64")
    layer(th.tensor("x", "float64", (None, 4)))
    x = rng.normal(size=(2, 4))
    kernel, bias = layer.get_weights()
    th.verify_grad(lambda xv: layer(xv), [x])
    th.verify_grad(
        lambda xv, k, b: clone_replace([layer(xv)], {layer.kernel: k, layer.bias: b})[0],
        [x, kernel, bias],
    )


def test_dense_rejects_bad_units_and_unknown_input_dim():
    with pytest.raises(ValueError, match=r"positive integer. Received: units=0"):
        layers.Dense(0)
    with pytest.raises(ValueError, match=r"needs a known last input dimension"):
        layers.Dense(2)(th.tensor("x", shape=(None, None)))


def test_dense_config_round_trip():
    layer = layers.Dense(
        7, activation="softmax", use_bias=False, name="head", kernel_regularizer="l2"
    )
    clone = layers.Dense.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.name == "head" and clone.units == 7 and not clone.use_bias


def test_activation_layer_matches_numpy(rng):
    x = rng.normal(size=(3, 5))
    np.testing.assert_allclose(_run(layers.Activation("relu", dtype="float64"), x), _relu(x))
    softmax = _run(layers.Activation("softmax", dtype="float64"), x)
    expected = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax, expected, rtol=1e-12)
    th.verify_grad(lambda v: layers.Activation("tanh", dtype="float64")(v), [x])


def test_dropout_is_identity_when_not_training(rng):
    x = rng.normal(size=(4, 6)).astype("float32")
    layer = layers.Dropout(0.5, seed=1)
    np.testing.assert_array_equal(_run(layer, x), x)
    np.testing.assert_array_equal(_run(layer, x, training=False), x)
    th.verify_grad(lambda v: layers.Dropout(0.5, seed=1, dtype="float64")(v, training=False), [x])


def test_dropout_in_training_zeroes_a_fraction_and_rescales(rng):
    x = rng.uniform(1, 2, size=(200, 50)).astype("float32")
    out = _run(layers.Dropout(0.3, seed=3), x, training=True)
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / np.float32(0.7), rtol=1e-6)
    assert abs(1 - kept.mean() - 0.3) < 0.02


def test_dropout_gradient_is_the_scaled_mask(rng):
    x = th.tensor("x", "float64", (None, 8))
    out = layers.Dropout(0.5, seed=4, dtype="float64")(x, training=True)
    f = th.function([x], [out, th.grad(out.sum(), x)])
    value = rng.uniform(1, 2, size=(3, 8))
    y, g = f(value)
    np.testing.assert_allclose(g, (y != 0) / 0.5)


def test_dropout_draws_new_masks_and_is_reproducible_with_a_seed(rng):
    x = np.ones((10, 10), "float32")
    a = th.tensor("x", shape=(None, 10))
    f = th.function([a], layers.Dropout(0.5, seed=7)(a, training=True))
    g = th.function([a], layers.Dropout(0.5, seed=7)(a, training=True))
    first, second = f(x), f(x)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, g(x))


def test_dropout_rejects_bad_rate():
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\). Received: rate=1.0"):
        layers.Dropout(1.0)


def test_flatten_matches_numpy_reshape(rng):
    x = rng.normal(size=(3, 2, 4))
    layer = layers.Flatten(dtype="float64")
    np.testing.assert_array_equal(_run(layer, x), x.reshape(3, 8))
    assert layers.Flatten()(layers.Input(shape=(8, 8))).type.shape == (None, 64)
    assert layer.compute_output_shape((None, 2, 4)) == (None, 8)
    th.verify_grad(lambda v: layers.Flatten(dtype="float64")(v), [x])


def test_input_returns_a_symbolic_tensor_with_history():
    x = layers.Input(shape=(64,), name="pixels")
    assert x.type.shape == (None, 64) and x.dtype == "float32"
    layer, node_index, tensor_index = x._layer_history
    assert (
        isinstance(layer, layers.InputLayer)
        and layer.name == "pixels"
        and (node_index, tensor_index) == (0, 0)
    )
    with pytest.raises(ValueError, match="shape entries must be ints"):
        layers.Input(shape=(-1,))


def test_layer_rejects_inputs_that_are_neither_symbolic_nor_arrays():
    with pytest.raises(TypeError, match="called on symbolic tensors .* or on NumPy arrays"):
        layers.Dense(2)("text")
    with pytest.raises(TypeError, match="either on symbolic tensors or on arrays, not on both"):
        layers.Add()([np.zeros((2, 2)), th.matrix("x")])


def test_custom_layer_with_weights_state_updates_and_losses():
    class Counter(layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight((input_shape[-1],), "ones", regularizer="l2", name="scale")
            self.calls = self.add_weight((), "zeros", trainable=False, name="calls")

        def call(self, inputs, training=None):
            if training:
                self.add_update((self.calls, self.calls + 1))
            return inputs * self.scale

    layer = Counter()
    layer(th.tensor("x", shape=(None, 3)), training=True)
    assert [w.name for w in layer.trainable_weights] == ["counter/scale"]
    assert [w.name for w in layer.non_trainable_weights] == ["counter/calls"]
    assert len(layer.state_updates) == 1 and len(layer.losses) == 1
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2


def test_add_weight_takes_keras_3_arguments_and_names_unnamed_weights():
    class Pair(layers.Layer):
        def build(self, input_shape):
            self.a = self.add_weight(shape=(input_shape[-1], 2), initializer="ones")
            self.b = self.add_weight(shape=(2,))
            self.count = self.add_weight(dtype="int64", trainable=False)
            self.c = self.add_weight((2,), "zeros", name="c")

        def call(self, inputs):
            return th.dot(inputs, self.a) + self.b + self.c

    layer = Pair(name="pair")
    layer(th.matrix(shape=(None, 3)))
    assert [w.name for w in layer.weights] == [
        "pair/variable",
        "pair/variable_1",
        "pair/variable_2",
        "pair/c",
    ]
    np.testing.assert_array_equal(layer.a.get_value(), np.ones((3, 2), "float32"))
    assert layer.b.get_value().shape == (2,) and np.any(layer.b.get_value() != 0)
    assert layer.count.get_value().shape == () and layer.count.dtype == "int64"
    assert layer.count.get_value() == 0 and len(layer.trainable_weights) == 3


def test_add_weight_errors_name_the_weight():
    layer = layers.Layer(name="plain")
    with pytest.raises(
        TypeError, match=r"plain.add_weight\('variable'\): shape must be a sequence"
    ):
        layer.add_weight("kernel", (2, 2))
    with pytest.raises(ValueError, match=r"plain.add_weight\('k'\): shape must hold ints >= 0"):
        layer.add_weight((2, -1), name="k")


def test_a_weights_trainable_flag_freezes_it_alone():
    """Keras' ``Variable.trainable``: one weight of a layer can be frozen."""
    layer = layers.Dense(2)
    layer.build((None, 3))
    assert all(w.trainable for w in layer.weights)
    layer.bias.trainable = False
    assert layer.trainable_weights == [layer.kernel] and layer.non_trainable_weights == [layer.bias]
    frozen = layers.Layer().add_weight(shape=(2,), initializer="zeros", trainable=False)
    assert frozen.trainable is False


def test_variable_repr_and_path_as_keras():
    layer = layers.Dense(3)
    layer(np.ones((1, 4), "float32"))
    kernel = layer.weights[0]
    assert kernel.path == "dense/kernel" and kernel.shape == (4, 3)
    assert repr(kernel) == "<Variable path=dense/kernel, shape=(4, 3), dtype=float32>"
