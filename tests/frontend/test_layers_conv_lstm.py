"""ConvLSTM1D/2D/3D: values against Keras' equations computed with convolutions by definition
(tests/conv_reference.py), every rank, padding, stride, dilation and data format; masks, state
options, gradients by finite differences, training and saving."""

import numpy as np
import pytest

import theanine as th
from conv_reference import conv as conv_by_definition  # noqa: I001
from conv_reference import same_pads
from theanine.frontend import layers, models

R = np.random.default_rng(7)
LAYERS = {1: layers.ConvLSTM1D, 2: layers.ConvLSTM2D, 3: layers.ConvLSTM3D}


@pytest.fixture(autouse=True)
def _float64_models():
    with th.config.context(floatX="float64"):
        yield


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _conv(x, kernel, strides, padding, dilation):
    rank = kernel.ndim - 2
    pads = same_pads(x.shape[1:-1], kernel.shape[:rank], strides, dilation) if padding == "same" else [(0, 0)] * rank
    return conv_by_definition(x, kernel, strides, pads, dilation)


def conv_lstm_reference(x, kernel, recurrent, bias, strides, padding, dilation, go_backwards=False):
    """Keras' ConvLSTM over channels-last ``x`` (batch, time, *spatial, channels): (every h, final h, final c)."""
    rank, filters = kernel.ndim - 2, recurrent.shape[-2]
    steps = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    h = c = None
    outputs = []
    for t in steps:
        z_x = _conv(x[:, t], kernel, strides, padding, dilation) + bias
        if h is None:
            h = c = np.zeros(z_x.shape[:-1] + (filters,))
        z = z_x + _conv(h, recurrent, (1,) * rank, "same", (1,) * rank)
        i, f, g, o = (z[..., k * filters:(k + 1) * filters] for k in range(4))
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1), h, c


def _random_weights(layer):
    values = [R.standard_normal(w.get_value().shape) * 0.3 for w in layer.trainable_weights]
    layer.set_weights(values)
    return values


CASES = [
    (1, dict(kernel_size=3, padding="same")),
    (1, dict(kernel_size=2, strides=2, padding="valid")),
    (2, dict(kernel_size=3, padding="same")),
    (2, dict(kernel_size=(2, 3), strides=(2, 1), padding="valid")),
    (2, dict(kernel_size=3, dilation_rate=2, padding="same")),
    (3, dict(kernel_size=2, padding="same")),
]


@pytest.mark.parametrize("rank, options", CASES)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_values_match_keras_equations(rank, options, go_backwards):
    spatial = {1: (7,), 2: (6, 5), 3: (4, 3, 4)}[rank]
    x = R.standard_normal((2, 3, *spatial, 2))
    layer = LAYERS[rank](3, return_sequences=True, return_state=True, go_backwards=go_backwards, **options)
    inputs = layers.Input(x.shape[1:])
    model = models.Model(inputs, layer(inputs))
    kernel, recurrent, bias = _random_weights(layer)
    got = model.predict(x, verbose=0)
    strides = tuple(np.broadcast_to(options.get("strides", 1), (rank,)))
    dilation = tuple(np.broadcast_to(options.get("dilation_rate", 1), (rank,)))
    expected = conv_lstm_reference(x, kernel, recurrent, bias, strides, options["padding"], dilation, go_backwards)
    assert kernel.shape == (*np.broadcast_to(options["kernel_size"], (rank,)), 2, 12)
    assert recurrent.shape == (*np.broadcast_to(options["kernel_size"], (rank,)), 3, 12)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-10)


def test_channels_first_equals_channels_last():
    x = R.standard_normal((2, 3, 5, 4, 2))
    last = layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True)
    first = layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True, data_format="channels_first")
    out_last = last(x)
    first(np.moveaxis(x, -1, 2))
    first.set_weights(last.get_weights())
    np.testing.assert_allclose(first(np.moveaxis(x, -1, 2)), np.moveaxis(out_last, -1, 2), rtol=1e-10, atol=1e-12)


def test_masked_steps_keep_the_states_and_stateful_layers_carry_them():
    x = R.standard_normal((2, 4, 5, 5, 1))
    mask = np.array([[True, True, False, True], [True, False, True, True]])
    layer = layers.ConvLSTM2D(2, 3, padding="same", return_state=True)
    xs, masks = th.tensor("x", "float64", (None, 4, 5, 5, 1)), th.tensor("m", "bool", (None, 4))
    out, h, c = th.function([xs, masks], layer(xs, mask=masks))(x, mask)
    reference = layers.ConvLSTM2D(2, 3, padding="same", return_state=True)
    reference(x[:1, [0, 1, 3]])
    reference.set_weights(layer.get_weights())
    np.testing.assert_allclose(h[0], reference(x[:1, [0, 1, 3]])[1][0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out, h, rtol=0, atol=0)
    stateful = layers.ConvLSTM2D(2, 3, padding="same", stateful=True, return_sequences=True)
    model = models.Model(i := layers.Input((None, 5, 5, 1), batch_size=2), stateful(i))
    for variable, value in zip(stateful.trainable_weights, layer.get_weights(), strict=True):
        variable.set_value(value)
    halves = np.concatenate([model.predict(x[:, :2], verbose=0), model.predict(x[:, 2:], verbose=0)], axis=1)
    stateful.reset_states()
    np.testing.assert_allclose(halves, model.predict(x, verbose=0), rtol=1e-10, atol=1e-12)


def test_gradient_matches_finite_differences_and_training_lowers_the_loss(tmp_path):
    layer = layers.ConvLSTM1D(2, 3, padding="same", unroll=True)
    x = th.tensor("x", "float64", (None, 3, 6, 2))
    out = layer(x)
    cost = (out ** 2).sum()
    data = R.standard_normal((2, 3, 6, 2))
    grads = th.function([x], th.grad(cost, layer.trainable_weights))(data)
    base = layer.get_weights()
    value = th.function([x], cost)
    kernel = base[0].copy()
    kernel[1, 0, 5] += 1e-6
    layer.set_weights([kernel, *base[1:]])
    plus = value(data)
    kernel[1, 0, 5] -= 2e-6
    layer.set_weights([kernel, *base[1:]])
    minus = value(data)
    assert grads[0][1, 0, 5] == pytest.approx((plus - minus) / 2e-6, rel=1e-5)

    model = models.Sequential([layers.Input((4, 6, 6, 1)), layers.ConvLSTM2D(4, 3, padding="same"),
                               layers.GlobalAveragePooling2D(), layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    xs, ys = R.standard_normal((16, 4, 6, 6, 1)), R.standard_normal((16, 1))
    history = model.fit(xs, ys, epochs=5, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "m.keras")
    loaded = models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(xs, verbose=0), model.predict(xs, verbose=0), rtol=1e-12)
    assert loaded.layers[0].get_config()["filters"] == 4


def test_errors_name_what_was_received():
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, time, 2 spatial axes and channels\)"):
        layers.ConvLSTM2D(2, 3)(th.tensor("x", "float32", (None, 3, 5, 1)))
    with pytest.raises(ValueError, match="needs static channel and spatial sizes"):
        layers.ConvLSTM2D(2, 3)(th.tensor("x", "float32", (None, 3, None, 5, 1)))
    with pytest.raises(ValueError, match="Received filters=0"):
        layers.ConvLSTM2D(0, 3)
    with pytest.raises(ValueError, match="padding"):
        layers.ConvLSTM2D(2, 3, padding="full")
