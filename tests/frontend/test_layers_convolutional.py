"""Convolution layers: Keras weight shapes, values against th.conv and the loop references, configs,
summary shapes, training and saving."""

import numpy as np
import pytest

import conv_reference as ref
import theanine as th
from theanine.frontend import datasets, layers, models, optimizers

R = np.random.default_rng(41)


def _run(layer, value):
    x = th.tensor("x", str(value.dtype), (None, *value.shape[1:]))
    return th.function([x], layer(x))(value)


def _round_trip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    return clone


def _keras_weights(layer):
    """Random arrays of the layer's weight shapes, loaded with set_weights as a Keras model's would be."""
    values = [R.standard_normal(w.get_value().shape).astype(w.dtype) for w in layer.weights]
    layer.set_weights(values)
    return values


@pytest.mark.parametrize(("cls", "shape", "kernel_shape"), [
    (layers.Conv1D, (2, 9, 3), (3, 3, 4)),
    (layers.Conv2D, (2, 7, 6, 3), (3, 3, 3, 4)),
    (layers.Conv3D, (1, 5, 4, 5, 3), (3, 3, 3, 3, 4)),
])
def test_conv_layers_have_keras_weights_and_match_the_reference(cls, shape, kernel_shape):
    layer = cls(4, 3, strides=2, padding="same", activation="relu", dtype="float64")
    layer(th.tensor("x", "float64", (None, *shape[1:])))
    assert [w.get_value().shape for w in layer.weights] == [kernel_shape, (4,)]
    assert [w.name for w in layer.weights] == [f"{layer.name}/kernel", f"{layer.name}/bias"]
    kernel, bias = _keras_weights(layer)
    x = R.standard_normal(shape)
    rank = len(shape) - 2
    pads = ref.same_pads(shape[1:-1], kernel_shape[:rank], (2,) * rank, (1,) * rank)
    expected = np.maximum(ref.conv(x, kernel, (2,) * rank, pads, (1,) * rank) + bias, 0)
    np.testing.assert_allclose(_run(layer, x), expected, rtol=1e-10, atol=1e-12)
    assert _round_trip(layer).kernel_size == (3,) * rank


def test_conv2d_groups_dilation_channels_first_and_no_bias_match_th_conv():
    layer = layers.Conv2D(6, (2, 3), dilation_rate=2, groups=3, use_bias=False, data_format="channels_first",
                          dtype="float64")
    x = R.standard_normal((2, 3, 7, 8))
    layer(th.tensor("x", "float64", (None, 3, 7, 8)))
    assert [w.get_value().shape for w in layer.weights] == [(2, 3, 1, 6)]
    (kernel,) = _keras_weights(layer)
    xs = th.tensor("x", "float64", (None, 3, 7, 8))
    expected = th.conv(xs, kernel, 1, "valid", 2, 3, "channels_first").eval({xs: x})
    np.testing.assert_allclose(_run(layer, x), expected, rtol=1e-12)
    assert layer.compute_output_shape((None, 3, 7, 8)) == (None, 6, 5, 4)


def test_conv1d_causal_padding_pads_the_start_only():
    layer = layers.Conv1D(2, 3, padding="causal", dilation_rate=2, dtype="float64")
    x = R.standard_normal((2, 6, 1))
    layer(th.tensor("x", "float64", (None, 6, 1)))
    kernel, bias = _keras_weights(layer)
    expected = ref.conv(x, kernel, (1,), [(4, 0)], (2,)) + bias
    np.testing.assert_allclose(_run(layer, x), expected, rtol=1e-12)


@pytest.mark.parametrize(("cls", "shape", "padding", "output_padding"), [
    (layers.Conv1DTranspose, (2, 4, 3), "valid", None),
    (layers.Conv2DTranspose, (2, 3, 4, 3), "same", 1),
    (layers.Conv3DTranspose, (1, 2, 3, 2, 3), "valid", (1, 0, 1)),
])
def test_conv_transpose_layers_follow_keras_shapes(cls, shape, padding, output_padding):
    rank = len(shape) - 2
    layer = cls(5, 3, strides=2, padding=padding, output_padding=output_padding, dtype="float64")
    layer(th.tensor("x", "float64", (None, *shape[1:])))
    assert [w.get_value().shape for w in layer.weights] == [(3,) * rank + (5, 3), (5,)]
    kernel, bias = _keras_weights(layer)
    x = R.standard_normal(shape)
    extra = None if output_padding is None else (output_padding,) * rank if isinstance(output_padding, int) \
        else output_padding
    crops = ref.keras_transpose_crops((3,) * rank, (2,) * rank, (1,) * rank, padding, extra)
    out = _run(layer, x)
    np.testing.assert_allclose(out, ref.conv_transpose(x, kernel, (2,) * rank, crops, (1,) * rank) + bias,
                               rtol=1e-10, atol=1e-12)
    lengths = [ref.keras_transpose_length(n, 3, 2, 1, padding, None if extra is None else extra[i])
               for i, n in enumerate(shape[1:-1])]
    assert out.shape == (shape[0], *lengths, 5)
    assert _round_trip(layer).get_config()["output_padding"] == (None if extra is None else list(extra))


def test_conv_transpose_rejects_output_padding_not_below_strides():
    with pytest.raises(ValueError, match=r"`output_padding` must be < `strides`"):
        layers.Conv2DTranspose(2, 3, strides=2, output_padding=2)


def test_depthwise_and_separable_conv2d_have_keras_weights():
    depthwise = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, dtype="float64")
    depthwise(th.tensor("x", "float64", (None, 5, 5, 3)))
    assert [w.get_value().shape for w in depthwise.weights] == [(3, 3, 3, 2), (6,)]
    kernel, bias = _keras_weights(depthwise)
    x = R.standard_normal((2, 5, 5, 3))
    pads = ref.same_pads((5, 5), (3, 3), (1, 1), (1, 1))
    expected = ref.conv(x, kernel.reshape(3, 3, 1, 6), (1, 1), pads, (1, 1), groups=3) + bias
    np.testing.assert_allclose(_run(depthwise, x), expected, rtol=1e-12)

    separable = layers.SeparableConv2D(4, 3, depth_multiplier=2, dtype="float64")
    separable(th.tensor("x", "float64", (None, 5, 5, 3)))
    assert [w.name.split("/")[1] for w in separable.weights] == ["depthwise_kernel", "pointwise_kernel", "bias"]
    assert [w.get_value().shape for w in separable.weights] == [(3, 3, 3, 2), (1, 1, 6, 4), (4,)]
    dk, pk, b = _keras_weights(separable)
    middle = ref.conv(x, dk.reshape(3, 3, 1, 6), (1, 1), [(0, 0), (0, 0)], (1, 1), groups=3)
    expected = ref.conv(middle, pk, (1, 1), [(0, 0), (0, 0)], (1, 1)) + b
    np.testing.assert_allclose(_run(separable, x), expected, rtol=1e-12)
    assert _round_trip(separable).depth_multiplier == 2


def test_conv_arguments_are_checked_with_keras_messages():
    with pytest.raises(ValueError, match=r"strictly positive value. Received filters=0"):
        layers.Conv2D(0, 3)
    with pytest.raises(ValueError, match=r"`kernel_size` argument must be a tuple of 2 positive integers"):
        layers.Conv2D(2, (3, 0))
    with pytest.raises(ValueError, match=r"`padding` argument must be one of \['valid', 'same'\]"):
        layers.Conv2D(2, 3, padding="causal")
    with pytest.raises(ValueError, match=r"evenly divisible by the number of groups"):
        layers.Conv2D(3, 3, groups=2)
    with pytest.raises(ValueError, match=r"input has 3 channels"):
        layers.Conv2D(4, 3, groups=2)(layers.Input(shape=(8, 8, 3)))
    with pytest.raises(ValueError, match=r"data_format"):
        layers.Conv2D(2, 3, data_format="NHWC")
    with pytest.raises(ValueError, match=r"expects inputs of rank 4"):
        layers.Conv2D(2, 3)(layers.Input(shape=(8, 3)))


def test_batch_normalization_normalizes_conv_features_per_channel():
    x = th.tensor("x", "float64", (None, 6, 6, 2))
    conv = layers.Conv2D(3, 3, dtype="float64")
    norm = layers.BatchNormalization(dtype="float64", center=False, scale=False, epsilon=1e-9)
    out = th.function([x], norm(conv(x), training=True))(R.standard_normal((4, 6, 6, 2)) * 3 + 1)
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-10)
    np.testing.assert_allclose(out.var(axis=(0, 1, 2)), 1, rtol=1e-6)
    assert [w.get_value().shape for w in norm.weights] == [(3,), (3,)]


def _digits_cnn():
    return models.Sequential([
        layers.Input(shape=(8, 8, 1)),
        layers.Conv2D(8, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])


def test_cnn_fit_lowers_the_loss_on_digits_and_save_load_predicts_the_same(tmp_path):
    th.set_seed(3)
    (x_train, y_train), (x_test, _) = datasets.digits.load_data(flatten=False)
    model = _digits_cnn()
    model.compile(optimizer=optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train[:512, ..., None], y_train[:512], batch_size=32, epochs=4, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0], losses
    path = tmp_path / "cnn.theanine"
    model.save(path)
    restored = models.load_model(path)
    np.testing.assert_array_equal(restored.predict(x_test[..., None], verbose=0),
                                  model.predict(x_test[..., None], verbose=0))
    assert [type(layer).__name__ for layer in restored.layers] == [type(layer).__name__ for layer in model.layers]


def test_summary_shows_the_output_shapes(capsys):
    model = models.Sequential([
        layers.Input(shape=(16, 16, 3)),
        layers.Conv2D(8, 3, strides=2, padding="same"),
        layers.Conv2DTranspose(4, 3, strides=2, padding="same"),
        layers.MaxPooling2D(),
        layers.SeparableConv2D(6, 3),
        layers.GlobalMaxPooling2D(keepdims=True),
    ])
    model.summary()
    text = capsys.readouterr().out
    for shape in ["(None, 8, 8, 8)", "(None, 16, 16, 4)", "(None, 8, 8, 4)", "(None, 6, 6, 6)", "(None, 1, 1, 6)"]:
        assert shape in text, text
