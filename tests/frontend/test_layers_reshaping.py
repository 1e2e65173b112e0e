"""Reshape, Permute, RepeatVector and Lambda against NumPy; gradients; configs; saving."""

import numpy as np
import pytest

import theanine as th
from theanine.frontend import layers, models


def _run(layer, x_value, training=None):
    x = th.tensor("x", str(x_value.dtype), (None, *x_value.shape[1:]))
    out = layer(x) if training is None else layer(x, training=training)
    return th.function([x], out)(x_value)


def _config_round_trip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    return clone


@pytest.mark.parametrize(
    ("target", "expected"),
    [((4, 6), (4, 6)), ((2, -1), (2, 12)), ((-1,), (24,)), ((2, 3, 4), (2, 3, 4))],
)
def test_reshape_matches_numpy(rng, target, expected):
    x = rng.normal(size=(3, 6, 4))
    layer = layers.Reshape(target, dtype="float64")
    out = _run(layer, x)
    np.testing.assert_array_equal(out, x.reshape(3, *expected))
    assert layer.compute_output_shape((None, 6, 4)) == (None, *expected)
    assert layers.Reshape(target)(layers.Input(shape=(6, 4))).type.shape == (None, *expected)
    _config_round_trip(layer)


def test_reshape_with_unknown_input_sizes_infers_at_run_time(rng):
    x = th.tensor("x", "float64", (None, None))
    y = layers.Reshape((-1, 2), dtype="float64")(x)
    assert y.type.shape == (None, None, 2)
    value = rng.normal(size=(2, 6))
    np.testing.assert_array_equal(th.function([x], y)(value), value.reshape(2, 3, 2))


def test_reshape_rejects_bad_targets_and_sizes():
    with pytest.raises(ValueError, match=r"at most one -1. Received: target_shape=\(-1, -1\)"):
        layers.Reshape((-1, -1))
    with pytest.raises(ValueError, match=r"positive integers .* Received: target_shape=\(0, 2\)"):
        layers.Reshape((0, 2))
    with pytest.raises(
        ValueError, match=r"cannot reshape samples of shape \(6,\) .*target_shape=\(4,\)"
    ):
        layers.Reshape((4,))(layers.Input(shape=(6,)))
    with pytest.raises(ValueError, match=r"cannot reshape samples of shape \(7,\)"):
        layers.Reshape((2, -1))(layers.Input(shape=(7,)))


def test_permute_matches_numpy_transpose(rng):
    x = rng.normal(size=(2, 3, 4, 5))
    layer = layers.Permute((3, 1, 2), dtype="float64")
    np.testing.assert_array_equal(_run(layer, x), x.transpose(0, 3, 1, 2))
    assert layer.compute_output_shape((None, 3, 4, 5)) == (None, 5, 3, 4)
    assert _config_round_trip(layer).dims == (3, 1, 2)


def test_permute_rejects_bad_dims():
    with pytest.raises(ValueError, match=r"permutation of 1..n .* Received: dims=\(0, 1\)"):
        layers.Permute((0, 1))
    with pytest.raises(ValueError, match=r"expects inputs of rank 3. Received: input_shape="):
        layers.Permute((2, 1))(layers.Input(shape=(4,)))


def test_repeat_vector_matches_numpy(rng):
    x = rng.normal(size=(2, 3))
    layer = layers.RepeatVector(4, dtype="float64")
    np.testing.assert_array_equal(_run(layer, x), np.repeat(x[:, None, :], 4, axis=1))
    assert layers.RepeatVector(4)(layers.Input(shape=(3,))).type.shape == (None, 4, 3)
    assert _config_round_trip(layer).n == 4
    with pytest.raises(ValueError, match=r"positive integer. Received: n=0"):
        layers.RepeatVector(0)
    with pytest.raises(ValueError, match=r"expects inputs of rank 2"):
        layers.RepeatVector(2)(layers.Input(shape=(3, 4)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.Reshape((2, -1), dtype="float64"),
        lambda: layers.Permute((2, 1), dtype="float64"),
        lambda: layers.Lambda(_scaled_square, arguments={"factor": 3.0}, dtype="float64"),
    ],
    ids=["reshape", "permute", "lambda"],
)
def test_gradients_through_rearranging_layers(rng, make):
    th.verify_grad(lambda v: make()(v), [rng.normal(size=(2, 4, 3))])


def test_repeat_vector_gradient_sums_over_repeats(rng):
    th.verify_grad(lambda v: layers.RepeatVector(3, dtype="float64")(v), [rng.normal(size=(2, 4))])


def _scaled_square(x, factor=1.0):
    return factor * x * x


def _scaled_in_training(x, training=None):
    return x * 10.0 if training else x


def _sum_of_pair(pair):
    return pair[0] + pair[1]


def test_lambda_applies_the_function_with_arguments(rng):
    x = rng.normal(size=(3, 4))
    layer = layers.Lambda(_scaled_square, arguments={"factor": 2.0}, dtype="float64")
    np.testing.assert_allclose(_run(layer, x), 2.0 * x * x, rtol=1e-12)
    assert layer.compute_output_shape((None, 4)) == (None, 4)
    assert layer.get_config()["function"] == "_scaled_square"
    assert layer.get_config()["arguments"] == {"factor": 2.0}


def test_lambda_passes_training_when_the_function_accepts_it(rng):
    x = rng.normal(size=(2, 3)).astype("float32")
    layer = layers.Lambda(_scaled_in_training)
    np.testing.assert_array_equal(_run(layer, x, training=True), x * np.float32(10))
    np.testing.assert_array_equal(_run(layer, x, training=False), x)
    np.testing.assert_array_equal(_run(layer, x), x)


def test_lambda_on_several_inputs_and_declared_output_shape(rng):
    a, b = layers.Input(shape=(3,)), layers.Input(shape=(3,))
    layer = layers.Lambda(_sum_of_pair, output_shape=(3,))
    out = layer([a, b])
    assert out.type.shape == (None, 3)
    assert layer.compute_output_shape([(None, 3), (None, 3)]) == (None, 3)
    model = models.Model([a, b], out)
    xa, xb = rng.normal(size=(2, 2, 3)).astype("float32")
    np.testing.assert_array_equal(model.predict([xa, xb], verbose=0), xa + xb)
    shaped = layers.Lambda(_scaled_square, output_shape=lambda shape: (shape[0], 9))
    assert shaped.compute_output_shape((None, 9)) == (None, 9)


def test_lambda_is_restored_only_through_custom_objects():
    layer = layers.Lambda(_scaled_square, output_shape=(4,), arguments={"factor": 2.0})
    config = layer.get_config()
    with pytest.raises(ValueError, match=r"'_scaled_square' is not in custom_objects"):
        layers.deserialize_layer({"class_name": "Lambda", "config": config})
    restored = layers.deserialize_layer(
        {"class_name": "Lambda", "config": config},
        custom_objects={"_scaled_square": _scaled_square},
    )
    assert restored.function is _scaled_square and restored.get_config() == config


def test_anonymous_lambda_functions_cannot_be_serialized():
    layer = layers.Lambda(lambda x: x + 1)
    with pytest.raises(ValueError, match=r"it has no name. Define it with def"):
        layer.get_config()
    with pytest.raises(TypeError, match=r"must be a callable or its name. Received: 3"):
        layers.Lambda(3)


def test_model_with_rearranging_layers_saves_and_loads_bit_identically(rng, tmp_path):
    th.set_seed(3)
    model = models.Sequential(
        [
            layers.Input(shape=(6,)),
            layers.Reshape((3, 2)),
            layers.Permute((2, 1)),
            layers.Flatten(),
            layers.Dense(4, activation="tanh"),
            layers.RepeatVector(2),
            layers.Lambda(_scaled_square, arguments={"factor": 0.5}),
            layers.Flatten(),
        ]
    )
    x = rng.normal(size=(5, 6)).astype("float32")
    expected = model.predict(x, verbose=0)
    assert expected.shape == (5, 8)
    path = tmp_path / "rearranging.theanine"
    model.save(path)
    with pytest.raises(ValueError, match="custom_objects"):
        models.load_model(path)
    restored = models.load_model(path, custom_objects={"_scaled_square": _scaled_square})
    np.testing.assert_array_equal(restored.predict(x, verbose=0), expected)
    assert restored.get_config() == model.get_config()
