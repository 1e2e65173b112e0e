"""Keras 3 layers added in session 9: aliases, InputSpec, Wrapper, EinsumDense, RMSNormalization,
SpectralNormalization, DepthwiseConv1D, SeparableConv1D and adaptive pooling, against NumPy."""

import numpy as np
import pytest

import conv_reference as ref
import theanine as th
from theanine.frontend import layers, models

R = np.random.default_rng(9)


def _round_trip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    return clone


def _set_random_weights(layer):
    values = [R.standard_normal(w.get_value().shape).astype(w.dtype) for w in layer.weights]
    layer.set_weights(values)
    return values


def _model_predicts_and_reloads(layer, x, expected, tmp_path, rtol=1e-5):
    """In a compiled model: predict equals ``expected``, fit runs, a saved model predicts the same."""
    model = models.Sequential([layers.Input(x.shape[1:]), layer])
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=rtol, atol=1e-5)
    model.compile("sgd", "mse")
    history = model.fit(x, np.zeros_like(expected), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    path = str(tmp_path / "model.theanine")
    model.save(path)
    np.testing.assert_allclose(models.load_model(path).predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


@pytest.mark.parametrize(("alias", "cls"), [
    ("Convolution1D", "Conv1D"), ("Convolution2D", "Conv2D"), ("Convolution3D", "Conv3D"),
    ("Convolution1DTranspose", "Conv1DTranspose"), ("Convolution2DTranspose", "Conv2DTranspose"),
    ("Convolution3DTranspose", "Conv3DTranspose"), ("SeparableConvolution1D", "SeparableConv1D"),
    ("SeparableConvolution2D", "SeparableConv2D"), ("MaxPool1D", "MaxPooling1D"), ("MaxPool2D", "MaxPooling2D"),
    ("MaxPool3D", "MaxPooling3D"), ("AvgPool1D", "AveragePooling1D"), ("AvgPool2D", "AveragePooling2D"),
    ("AvgPool3D", "AveragePooling3D"), ("GlobalMaxPool1D", "GlobalMaxPooling1D"),
    ("GlobalMaxPool2D", "GlobalMaxPooling2D"), ("GlobalMaxPool3D", "GlobalMaxPooling3D"),
    ("GlobalAvgPool1D", "GlobalAveragePooling1D"), ("GlobalAvgPool2D", "GlobalAveragePooling2D"),
    ("GlobalAvgPool3D", "GlobalAveragePooling3D"),
])
def test_keras_aliases_are_the_same_classes(alias, cls):
    assert getattr(layers, alias) is getattr(layers, cls) and alias in layers.__all__
    assert getattr(th.keras.layers, alias) is getattr(layers, cls)


def test_input_spec_checks_and_round_trips():
    spec = layers.InputSpec(ndim=3, axes={-1: 4})
    assert layers.InputSpec.from_config(spec.get_config()).get_config() == spec.get_config()
    assert spec.get_config() == {"dtype": None, "shape": None, "ndim": 3, "max_ndim": None, "min_ndim": None,
                                 "axes": {-1: 4}, "optional": False}
    layers.input_spec.assert_input_compatibility(spec, th.tensor("x", "float32", (None, 2, 4)), "dense")
    with pytest.raises(ValueError, match=r"Input 0 of layer 'dense' .*expected ndim=3, found ndim=2"):
        layers.input_spec.assert_input_compatibility(spec, np.zeros((2, 4)), "dense")
    with pytest.raises(ValueError, match="expected axis -1 of size 4, found 5"):
        layers.input_spec.assert_input_compatibility(spec, np.zeros((1, 2, 5)), "dense")
    with pytest.raises(ValueError, match="expected min_ndim=2"):
        layers.input_spec.assert_input_compatibility(layers.InputSpec(min_ndim=2), np.zeros(3), "d")
    with pytest.raises(ValueError, match="ndim must be an int"):
        layers.InputSpec(ndim=-1)


def test_wrapper_is_the_base_of_the_wrappers_and_saves_its_layer():
    assert issubclass(layers.TimeDistributed, layers.Wrapper) and issubclass(layers.Bidirectional, layers.Wrapper)
    assert issubclass(layers.SpectralNormalization, layers.Wrapper)
    wrapped = layers.TimeDistributed(layers.Dense(3))
    assert wrapped.get_config()["layer"]["class_name"] == "Dense"
    assert isinstance(_round_trip(wrapped).layer, layers.Dense)
    with pytest.raises(ValueError, match="TimeDistributed wraps a layer. Received: layer=3"):
        layers.TimeDistributed(3)


@pytest.mark.parametrize(("equation", "output_shape", "bias_axes", "input_shape", "kernel", "bias", "out"), [
    ("ab,bc->ac", 4, "c", (None, 3), (3, 4), (4,), (None, 4)),
    ("abc,cde->abde", (5, 2, 4), "de", (None, 5, 3), (3, 2, 4), (2, 4), (None, 5, 2, 4)),
    ("...b,bc->...c", 4, "c", (None, 7, 3), (3, 4), (4,), (None, 7, 4)),
    ("abc,cd->abd", (5, 6), "b", (None, 5, 3), (3, 6), (5, 1), (None, 5, 6)),
    ("ab...,bc->ac...", 4, "c", (None, 3, 7), (3, 4), (4, 1), (None, 4, 7)),
])
def test_einsum_dense_has_keras_weight_shapes(equation, output_shape, bias_axes, input_shape, kernel, bias, out):
    """Shapes as Keras 3.15's ``EinsumDense.build`` gives them (checked on its JAX backend)."""
    layer = layers.EinsumDense(equation, output_shape, bias_axes=bias_axes)
    layer.build(input_shape)
    assert [w.get_value().shape for w in layer.weights] == [kernel] + ([bias] if bias else [])
    assert tuple(layer.compute_output_shape(input_shape)) == out


def test_einsum_dense_matches_numpy_in_a_model(tmp_path):
    layer = layers.EinsumDense("abc,cde->abde", (5, 2, 4), bias_axes="de", activation="tanh")
    x = R.standard_normal((6, 5, 3)).astype("float32")
    layer.build((None, 5, 3))
    kernel, bias = _set_random_weights(layer)
    _model_predicts_and_reloads(layer, x, np.tanh(np.einsum("abc,cde->abde", x, kernel) + bias), tmp_path)
    assert _round_trip(layer).partial_output_shape == (5, 2, 4)


def test_einsum_dense_variance_scaling_takes_keras_fans():
    """Glorot uniform on kernel (64, 16, 32) of "abc,cde->abde": fan in 64, fan out 16 * 32, as Keras."""
    layer = layers.EinsumDense("abc,cde->abde", (5, 16, 32))
    layer.build((None, 5, 64))
    kernel = layer.get_weights()[0]
    limit = np.sqrt(6 / (64 + 512))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.95 * limit
    np.testing.assert_allclose(kernel.std(), limit / np.sqrt(3), rtol=0.03)


def test_einsum_dense_errors_name_the_argument():
    with pytest.raises(ValueError, match="Invalid einsum equation 'ab->b'"):
        layers.EinsumDense("ab->b", 3)
    with pytest.raises(ValueError, match="Bias dimension 'z' was requested"):
        layers.EinsumDense("ab,bc->ac", 3, bias_axes="z").build((None, 2))
    with pytest.raises(ValueError, match="Weight dimension 'q'"):
        layers.EinsumDense("ab,qc->ac", 3).build((None, 2))
    with pytest.raises(ValueError, match="output_shape must hold positive ints"):
        layers.EinsumDense("ab,bc->ac", 0)


def test_rms_normalization_matches_numpy(tmp_path):
    x = R.standard_normal((4, 3, 5)).astype("float32")
    layer = layers.RMSNormalization(axis=[1, 2], epsilon=1e-3)
    layer.build((None, 3, 5))
    (scale,) = _set_random_weights(layer)
    assert scale.shape == (3, 5)
    expected = x / np.sqrt((x ** 2).mean(axis=(1, 2), keepdims=True) + 1e-3) * scale
    _model_predicts_and_reloads(layer, x, expected, tmp_path)
    assert _round_trip(layers.RMSNormalization()).get_config()["epsilon"] == 1e-6
    with pytest.raises(ValueError, match="axis must be an int or a list"):
        layers.RMSNormalization(axis="last")


def _spectral_reference(kernel, u, iterations):
    """Keras' power iteration in NumPy: the new u and kernel / sigma."""
    w = kernel.reshape(-1, kernel.shape[-1]).astype("float64")
    u = u.astype("float64")
    for _ in range(iterations):
        v = u @ w.T
        v = v * min(1 / np.sqrt((v ** 2).sum()), 1e7)
        u = v @ w
        u = u * min(1 / np.sqrt((u ** 2).sum()), 1e7)
    return u, kernel / (v @ w @ u.T)[0, 0]


def test_spectral_normalization_follows_keras_power_iteration():
    layer = layers.SpectralNormalization(layers.Dense(5), power_iterations=2)
    layer.build((None, 6))
    assert [w.name for w in layer.weights] == ["dense/kernel", "spectral_normalization/vector_u", "dense/bias"]
    kernel, u, bias = _set_random_weights(layer)
    x = R.standard_normal((4, 6)).astype("float32")
    np.testing.assert_allclose(layer(x), x @ kernel + bias, rtol=1e-5)  # inference: the kernel as stored
    new_u, new_kernel = _spectral_reference(kernel, u, 2)
    np.testing.assert_allclose(layer(x, training=True), x @ new_kernel + bias, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.get_weights()[0], new_kernel, rtol=1e-5)
    np.testing.assert_allclose(layer.get_weights()[1], new_u, rtol=1e-5)
    for _ in range(20):
        layer(x, training=True)
    assert abs(np.linalg.svd(layer.get_weights()[0], compute_uv=False)[0] - 1) < 1e-3


def test_spectral_normalization_trains_in_a_model_and_reloads(tmp_path):
    layer = layers.SpectralNormalization(layers.Conv2D(3, 2))
    model = models.Sequential([layers.Input((5, 5, 2)), layer, layers.Flatten()])
    model.compile("sgd", "mse")
    x = R.standard_normal((8, 5, 5, 2)).astype("float32")
    u_before = layer.vector_u.get_value()
    model.fit(x, np.zeros((8, 48), "float32"), epochs=1, verbose=0)
    assert not np.allclose(layer.vector_u.get_value(), u_before)
    path = str(tmp_path / "sn.theanine")
    model.save(path)
    restored = models.load_model(path)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert restored.layers[0].power_iterations == 1
    with pytest.raises(ValueError, match="`power_iterations` should be greater than zero"):
        layers.SpectralNormalization(layers.Dense(2), power_iterations=0)
    with pytest.raises(ValueError, match="has no attribute 'kernel' nor 'embeddings'"):
        layers.SpectralNormalization(layers.Flatten()).build((None, 3))


def test_two_spectral_normalizations_keep_their_kernel_names_and_reload(tmp_path):
    model = models.Sequential([layers.Input((3,)), layers.SpectralNormalization(layers.Dense(3, name="a")),
                               layers.SpectralNormalization(layers.Dense(2, name="b"))])
    assert [w.name for w in model.weights] == ["a/kernel", "spectral_normalization/vector_u", "a/bias", "b/kernel",
                                               "spectral_normalization_1/vector_u", "b/bias"]
    model.compile("sgd", "mse")
    x = R.standard_normal((4, 3)).astype("float32")
    model.fit(x, np.zeros((4, 2), "float32"), epochs=1, verbose=0)
    path = str(tmp_path / "two.theanine")
    model.save(path)
    np.testing.assert_array_equal(models.load_model(path).predict(x, verbose=0), model.predict(x, verbose=0))


def test_depthwise_and_separable_conv1d_match_the_reference(tmp_path):
    x = R.standard_normal((3, 9, 2)).astype("float32")
    depthwise = layers.DepthwiseConv1D(3, strides=2, depth_multiplier=2, padding="same")
    depthwise.build((None, 9, 2))
    kernel, bias = _set_random_weights(depthwise)
    assert kernel.shape == (3, 2, 2) and bias.shape == (4,)
    pads = ref.same_pads([9], [3], [2], [1])
    expected = ref.conv(x, kernel.reshape(3, 1, 4), [2], pads, [1], groups=2) + bias
    _model_predicts_and_reloads(depthwise, x, expected, tmp_path)
    separable = layers.SeparableConv1D(4, 3, depth_multiplier=2, activation="relu")
    separable.build((None, 9, 2))
    dk, pk, b = _set_random_weights(separable)
    assert (dk.shape, pk.shape, b.shape) == ((3, 2, 2), (1, 4, 4), (4,))
    mid = ref.conv(x, dk.reshape(3, 1, 4), [1], [(0, 0)], [1], groups=2)
    np.testing.assert_allclose(separable(x), np.maximum(mid @ pk[0] + b, 0), rtol=1e-4, atol=1e-5)
    assert _round_trip(separable).filters == 4 and _round_trip(depthwise).depth_multiplier == 2
    _model_predicts_and_reloads(separable, x, np.maximum(mid @ pk[0] + b, 0), tmp_path, rtol=1e-4)


def _adaptive_reference(x, output_size, reduce):
    """Channels-last adaptive pooling by its definition: each output cell pools its window."""
    sizes = x.shape[1:-1]
    out = np.zeros((x.shape[0], *output_size, x.shape[-1]))
    for cell in np.ndindex(*output_size):
        window = tuple(slice(i * n // o, -(-(i + 1) * n // o)) for i, n, o in zip(cell, sizes, output_size,
                                                                                   strict=True))
        block = x[(slice(None), *window)]
        out[(slice(None), *cell)] = reduce(block.reshape(x.shape[0], -1, x.shape[-1]), axis=1)
    return out


@pytest.mark.parametrize(("cls", "shape", "output_size"), [
    (layers.AdaptiveAveragePooling1D, (2, 7, 3), 3),
    (layers.AdaptiveMaxPooling1D, (2, 7, 3), 4),
    (layers.AdaptiveAveragePooling2D, (2, 7, 9, 2), (3, 4)),
    (layers.AdaptiveMaxPooling2D, (2, 5, 6, 2), 4),
    (layers.AdaptiveAveragePooling3D, (1, 4, 5, 3, 2), (2, 3, 2)),
    (layers.AdaptiveMaxPooling3D, (1, 4, 5, 3, 2), 2),
])
def test_adaptive_pooling_matches_its_definition(cls, shape, output_size):
    x = R.standard_normal(shape).astype("float32")
    layer = cls(output_size)
    size = layer.output_size
    reduce = np.max if "Max" in cls.__name__ else np.mean
    np.testing.assert_allclose(layer(x), _adaptive_reference(x, size, reduce), rtol=1e-5, atol=1e-6)
    assert tuple(layer.compute_output_shape((None, *shape[1:]))) == (None, *size, shape[-1])
    channels_first = cls(output_size, data_format="channels_first")
    moved = np.moveaxis(x, -1, 1)
    np.testing.assert_allclose(np.moveaxis(channels_first(moved), 1, -1), layer(x), rtol=1e-5, atol=1e-6)
    assert _round_trip(layer).output_size == size


def test_adaptive_pooling_in_a_model_and_errors(tmp_path):
    x = R.standard_normal((4, 6, 6, 2)).astype("float32")
    layer = layers.AdaptiveAveragePooling2D((4, 3))
    _model_predicts_and_reloads(layer, x, _adaptive_reference(x, (4, 3), np.mean), tmp_path)
    with pytest.raises(ValueError, match="output_size"):
        layers.AdaptiveMaxPooling2D((2, 0))
    with pytest.raises(TypeError, match="`output_size` must be an integer"):
        layers.AdaptiveMaxPooling1D("2")
    with pytest.raises(ValueError, match="needs static spatial sizes"):
        layers.AdaptiveMaxPooling1D(2)(layers.Input((None, 3)))
