"""BatchNormalization and LayerNormalization against NumPy: values, moving statistics, saving."""

import numpy as np
import pytest

import theanine as th
from theanine.frontend import layers, models, optimizers
from theanine.graph.basic import clone_replace


def _run(layer, x_value, training=None):
    x = th.tensor("x", str(x_value.dtype), (None, *x_value.shape[1:]))
    out = layer(x) if training is None else layer(x, training=training)
    return th.function([x], out)(x_value)


def _np_normalize(x, mean, variance, gamma, beta, epsilon):
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


def _built_bn(rng, shape, **options):
    """A float64 BatchNormalization built for ``shape`` with random weights, and those weights."""
    layer = layers.BatchNormalization(dtype="float64", **options)
    layer(th.tensor("x", "float64", (None, *shape[1:])))
    gamma, beta = rng.normal(size=(2, shape[layer._axes[0]]))
    moving_mean = rng.normal(size=shape[layer._axes[0]])
    moving_variance = rng.uniform(0.5, 2.0, size=shape[layer._axes[0]])
    layer.set_weights([gamma, beta, moving_mean, moving_variance])
    return layer, (gamma, beta, moving_mean, moving_variance)


def test_batch_normalization_defaults_and_weights_follow_keras():
    layer = layers.BatchNormalization()
    assert (layer.axis, layer.momentum, layer.epsilon, layer.center, layer.scale) == (
        -1,
        0.99,
        1e-3,
        True,
        True,
    )
    layer(layers.Input(shape=(5,)))
    assert [w.name for w in layer.trainable_weights] == [
        "batch_normalization/gamma",
        "batch_normalization/beta",
    ]
    assert [w.name for w in layer.non_trainable_weights] == [
        "batch_normalization/moving_mean",
        "batch_normalization/moving_variance",
    ]
    np.testing.assert_array_equal(layer.get_weights()[0], np.ones(5, "float32"))
    np.testing.assert_array_equal(layer.get_weights()[3], np.ones(5, "float32"))


def test_batch_normalization_inference_uses_the_moving_statistics(rng):
    x = rng.normal(size=(6, 4))
    layer, (gamma, beta, mean, variance) = _built_bn(rng, x.shape)
    expected = _np_normalize(x, mean, variance, gamma, beta, 1e-3)
    np.testing.assert_allclose(_run(layer, x), expected, rtol=1e-12)
    np.testing.assert_allclose(_run(layer, x, training=False), expected, rtol=1e-12)
    assert layer.state_updates == []


def test_batch_normalization_training_uses_batch_statistics_and_records_updates(rng):
    x = rng.normal(2.0, 3.0, size=(8, 4))
    layer, (gamma, beta, moving_mean, moving_variance) = _built_bn(rng, x.shape, momentum=0.8)
    xt = th.tensor("x", "float64", (None, 4))
    out = layer(xt, training=True)
    updates = layer.state_updates
    assert [shared.name for shared, _ in updates] == [
        "batch_normalization/moving_mean",
        "batch_normalization/moving_variance",
    ]
    f = th.function([xt], [out, *(value for _, value in updates)])
    y, new_mean, new_variance = f(x)
    batch_mean, batch_variance = x.mean(axis=0), x.var(axis=0)
    np.testing.assert_allclose(
        y, _np_normalize(x, batch_mean, batch_variance, gamma, beta, 1e-3), rtol=1e-10
    )
    np.testing.assert_allclose(new_mean, 0.8 * moving_mean + 0.2 * batch_mean, rtol=1e-12)
    np.testing.assert_allclose(
        new_variance, 0.8 * moving_variance + 0.2 * batch_variance, rtol=1e-12
    )


def test_batch_normalization_on_channels_first_images(rng):
    x = rng.normal(size=(3, 2, 4, 5))
    layer, (gamma, beta, _, _) = _built_bn(rng, x.shape, axis=1, center=True)
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    variance = x.var(axis=(0, 2, 3), keepdims=True)
    expected = _np_normalize(
        x, mean, variance, gamma.reshape(1, 2, 1, 1), beta.reshape(1, 2, 1, 1), 1e-3
    )
    np.testing.assert_allclose(_run(layer, x, training=True), expected, rtol=1e-10)
    assert layer.compute_output_shape((None, 2, 4, 5)) == (None, 2, 4, 5)


def test_frozen_batch_normalization_runs_in_inference_mode(rng):
    x = rng.normal(size=(5, 3))
    layer, (gamma, beta, mean, variance) = _built_bn(rng, x.shape)
    layer.trainable = False
    expected = _np_normalize(x, mean, variance, gamma, beta, 1e-3)
    np.testing.assert_allclose(_run(layer, x, training=True), expected, rtol=1e-12)
    assert layer.state_updates == []


def test_batch_normalization_without_center_and_scale_has_only_moving_statistics(rng):
    layer = layers.BatchNormalization(center=False, scale=False, epsilon=0.01, dtype="float64")
    x = rng.normal(size=(4, 3))
    y = _run(layer, x, training=True)
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 0.01), rtol=1e-10)
    assert [w.name.split("/")[1] for w in layer.weights] == ["moving_mean", "moving_variance"]


@pytest.mark.parametrize("training", [True, False])
def test_batch_normalization_gradients(rng, training):
    x = rng.normal(size=(4, 3))
    layer, (gamma, beta, _, _) = _built_bn(rng, x.shape)

    def normalized(xv, g, b):
        out = layer(xv, training=training)
        return clone_replace([out], {layer.gamma: g, layer.beta: b})[0]

    th.verify_grad(normalized, [x, gamma, beta])


def test_moving_statistics_after_fit_steps_match_numpy_and_predict_uses_them(rng):
    th.set_seed(0)
    x = rng.normal(1.5, 2.0, size=(12, 3)).astype("float32")
    y = rng.normal(size=(12, 3)).astype("float32")
    model = models.Sequential(
        [layers.Input(shape=(3,)), layers.BatchNormalization(momentum=0.9, epsilon=1e-2)]
    )
    model.compile(optimizers.SGD(0.1), "mse")
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)

    mean, variance = np.zeros(3), np.ones(3)
    for _ in range(2):
        for start in range(0, 12, 4):
            batch = x[start : start + 4].astype("float64")
            mean = 0.9 * mean + 0.1 * batch.mean(axis=0)
            variance = 0.9 * variance + 0.1 * batch.var(axis=0)
    gamma, beta, moving_mean, moving_variance = model.layers[0].get_weights()
    np.testing.assert_allclose(moving_mean, mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(moving_variance, variance, rtol=1e-5)
    assert not np.allclose(gamma, 1.0)

    expected = _np_normalize(x, moving_mean, moving_variance, gamma, beta, 1e-2)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    before = model.layers[0].get_weights()
    model.evaluate(x, y, verbose=0)
    for a, b in zip(model.layers[0].get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_batch_normalization_config_round_trip_and_errors():
    layer = layers.BatchNormalization(axis=1, momentum=0.5, epsilon=0.1, center=False, name="bn")
    clone = layers.BatchNormalization.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert (clone.axis, clone.momentum, clone.epsilon, clone.center) == (1, 0.5, 0.1, False)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\]. Received: momentum=2"):
        layers.BatchNormalization(momentum=2)
    with pytest.raises(ValueError, match=r"got axis=3 for inputs of rank 2"):
        layers.BatchNormalization(axis=3)(layers.Input(shape=(4,)))
    with pytest.raises(ValueError, match=r"needs known sizes on axis=-1"):
        layers.BatchNormalization()(th.tensor("x", shape=(None, None)))


@pytest.mark.parametrize("axis", [-1, [1, 2]])
def test_layer_normalization_matches_numpy(rng, axis):
    x = rng.normal(3.0, 2.0, size=(3, 4, 5))
    axes = (2,) if axis == -1 else (1, 2)
    layer = layers.LayerNormalization(axis=axis, dtype="float64")
    layer(th.tensor("x", "float64", (None, 4, 5)))
    param_shape = tuple(x.shape[a] for a in axes)
    gamma, beta = rng.normal(size=(2, *param_shape))
    layer.set_weights([gamma, beta])
    mean = x.mean(axis=axes, keepdims=True)
    variance = x.var(axis=axes, keepdims=True)
    expected = (x - mean) / np.sqrt(variance + 1e-3) * gamma + beta
    np.testing.assert_allclose(_run(layer, x), expected, rtol=1e-10)
    np.testing.assert_allclose(_run(layer, x, training=True), expected, rtol=1e-10)
    assert layer.compute_output_shape((None, 4, 5)) == (None, 4, 5)

    def normalized(xv, g, b):
        out = layer(xv)
        return clone_replace([out], {layer.gamma: g, layer.beta: b})[0]

    th.verify_grad(normalized, [x[:2], gamma, beta])


def test_layer_normalization_defaults_and_config():
    layer = layers.LayerNormalization(center=False)
    assert (layer.axis, layer.epsilon, layer.scale) == (-1, 1e-3, True)
    layer(layers.Input(shape=(6,)))
    assert [w.name for w in layer.weights] == ["layer_normalization/gamma"]
    clone = layers.LayerNormalization.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match=r"epsilon must be positive. Received: epsilon=0"):
        layers.LayerNormalization(epsilon=0)


def test_model_with_normalization_layers_saves_and_loads_bit_identically(rng, tmp_path):
    th.set_seed(1)
    model = models.Sequential(
        [
            layers.Input(shape=(6,)),
            layers.Dense(8),
            layers.BatchNormalization(),
            layers.Dense(4),
            layers.LayerNormalization(),
        ]
    )
    model.compile(optimizers.Adam(0.01), "mse")
    x = rng.normal(size=(16, 6)).astype("float32")
    model.fit(x, rng.normal(size=(16, 4)).astype("float32"), batch_size=8, epochs=2, verbose=0)
    path = tmp_path / "normalization.theanine"
    model.save(path)
    restored = models.load_model(path)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    for a, b in zip(restored.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(model.layers[1].get_weights()[2], 0.0)
