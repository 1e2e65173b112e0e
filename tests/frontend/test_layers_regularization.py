"""Identity, PReLU, GaussianNoise, GaussianDropout, AlphaDropout, ActivityRegularization, UnitNormalization
and GroupNormalization: values against NumPy versions of Keras 3's equations, training-only noise,
config round trips."""

import numpy as np
import pytest

import theanine as th
from theanine.frontend import layers, models

R = np.random.default_rng(9)


def _model(layer, shape):
    inputs = layers.Input(shape)
    return models.Model(inputs, layer(inputs))


def _training_output(layer, value):
    x = th.tensor("x", "float32", (None, *value.shape[1:]))
    return th.function([x], layer(x, training=True))(value)


def test_prelu_uses_its_slopes_with_shared_axes():
    layer = layers.PReLU(shared_axes=[1, 2])
    model = _model(layer, (4, 5, 3))
    assert layer.alpha.get_value().shape == (1, 1, 3)
    alpha = np.array([[[0.1, -0.5, 2.0]]], "float32")
    layer.set_weights([alpha])
    value = R.standard_normal((2, 4, 5, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(value, verbose=0), np.where(value > 0, value, alpha * value), rtol=1e-6)
    clone = layers.PReLU.from_config(layer.get_config())
    assert clone.shared_axes == [1, 2]
    with pytest.raises(ValueError, match="shared axis 4 is not an axis of a sample"):
        _model(layers.PReLU(shared_axes=[4]), (4, 5, 3))


def test_noise_layers_are_the_identity_outside_training():
    value = R.standard_normal((3, 7)).astype("float32")
    for layer in (layers.GaussianNoise(0.5), layers.GaussianDropout(0.3), layers.AlphaDropout(0.3)):
        np.testing.assert_array_equal(_model(layer, (7,)).predict(value, verbose=0), value)


def test_noise_statistics_in_training():
    ones = np.ones((400, 500), "float32")
    noisy = _training_output(layers.GaussianNoise(0.5, seed=1), ones)
    assert abs(noisy.mean() - 1.0) < 0.01 and abs(noisy.std() - 0.5) < 0.01
    scaled = _training_output(layers.GaussianDropout(0.2, seed=2), ones)
    assert abs(scaled.mean() - 1.0) < 0.01 and abs(scaled.std() - np.sqrt(0.2 / 0.8)) < 0.01
    normal = R.standard_normal((400, 500)).astype("float32")
    dropped = _training_output(layers.AlphaDropout(0.2, seed=3), normal)
    assert abs(dropped.mean()) < 0.02 and abs(dropped.std() - 1.0) < 0.02  # SELU's fixed point kept
    alpha_p = -1.6732632423543772 * 1.0507009873554805
    a = (0.8 + alpha_p**2 * 0.8 * 0.2) ** -0.5
    assert np.isclose(dropped, a * alpha_p - a * alpha_p * 0.2, atol=1e-6).mean() == pytest.approx(0.2, abs=0.01)
    again = _training_output(layers.AlphaDropout(0.2, seed=3), normal)
    np.testing.assert_array_equal(dropped, again)


def test_activity_regularization_adds_its_penalty_per_sample_to_the_loss():
    inputs = layers.Input((4,))
    model = models.Model(inputs, layers.ActivityRegularization(l1=0.01, l2=0.1)(inputs))
    model.compile(loss="mse")
    value, target = R.standard_normal((8, 4)).astype("float32"), np.zeros((8, 4), "float32")
    penalty = (0.01 * np.abs(value).sum() + 0.1 * (value**2).sum()) / 8
    expected = (value**2).mean() + penalty
    assert model.evaluate(value, target, batch_size=8, verbose=0) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("axis", [-1, [1, 2]])
def test_unit_normalization(axis):
    value = R.standard_normal((3, 4, 5)).astype("float32")
    value[0] = 0.0
    got = _model(layers.UnitNormalization(axis=axis), (4, 5)).predict(value, verbose=0)
    axes = (-1,) if axis == -1 else tuple(axis)
    norm = np.sqrt(np.maximum((value.astype(np.float64) ** 2).sum(axis=axes, keepdims=True), 1e-12))
    np.testing.assert_allclose(got, value / norm, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("groups", [1, 2, -1])
def test_group_normalization_channels_last_and_first(groups):
    value = R.standard_normal((2, 3, 5, 4)).astype("float32")
    layer = layers.GroupNormalization(groups=groups, epsilon=1e-3)
    model = _model(layer, (3, 5, 4))
    gamma, beta = R.standard_normal(4).astype("float32"), R.standard_normal(4).astype("float32")
    layer.set_weights([gamma, beta])
    count = 4 if groups == -1 else groups
    grouped = value.astype(np.float64).reshape(2, 3, 5, count, 4 // count)
    mean = grouped.mean(axis=(1, 2, 4), keepdims=True)
    var = grouped.var(axis=(1, 2, 4), keepdims=True)
    expected = ((grouped - mean) / np.sqrt(var + 1e-3)).reshape(value.shape) * gamma + beta
    np.testing.assert_allclose(model.predict(value, verbose=0), expected, rtol=1e-4, atol=1e-5)
    first = np.moveaxis(value, -1, 1)
    first_layer = layers.GroupNormalization(groups=groups, axis=1)
    first_model = _model(first_layer, first.shape[1:])
    first_layer.set_weights([gamma, beta])
    np.testing.assert_allclose(first_model.predict(first, verbose=0), np.moveaxis(expected, -1, 1), rtol=1e-4,
                               atol=1e-5)
    assert layers.GroupNormalization.from_config(layer.get_config()).groups == groups


def test_group_normalization_refuses_uneven_groups():
    with pytest.raises(ValueError, match="the 6 channels of axis -1 do not split into groups=4"):
        _model(layers.GroupNormalization(groups=4), (3, 6))



def test_identity_layer_passes_values_and_masks():
    value = R.standard_normal((2, 3)).astype("float32")
    np.testing.assert_array_equal(_model(layers.Identity(), (3,)).predict(value, verbose=0), value)
    ids = layers.Input((4,), dtype="int32")
    embedded = layers.Identity()(layers.Embedding(5, 2, mask_zero=True)(ids))
    assert getattr(embedded, "_keras_mask", None) is not None
