"""ReLU, LeakyReLU, ELU and Softmax layers against NumPy (Keras 3 formulas and defaults)."""

import numpy as np
import pytest

import theanine as th
from theanine.frontend import layers, models


def _run(layer, x_value):
    x = th.tensor("x", str(x_value.dtype), (None, *x_value.shape[1:]))
    out = layer(x)
    assert out.type.shape == x.type.shape
    return th.function([x], out)(x_value)


def _np_relu(x, max_value=None, negative_slope=0.0, threshold=0.0):
    """Keras 3: x above the threshold, clipped to max_value; slope * (x - threshold) below."""
    out = np.where(x > threshold, x, negative_slope * (x - threshold))
    return out if max_value is None else np.minimum(out, max_value)


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _away_from_kinks(rng, shape, kinks):
    """Samples at least 0.05 from each kink, so finite differences see one branch."""
    x = rng.uniform(-3, 3, size=shape)
    for kink in kinks:
        near = np.abs(x - kink) < 0.05
        x[near] += 0.1
    return x


CASES = [
    (lambda: layers.ReLU(dtype="float64"), lambda x: _np_relu(x), [0.0]),
    (
        lambda: layers.ReLU(max_value=1.5, dtype="float64"),
        lambda x: _np_relu(x, max_value=1.5),
        [0.0, 1.5],
    ),
    (
        lambda: layers.ReLU(negative_slope=0.1, threshold=0.5, dtype="float64"),
        lambda x: _np_relu(x, negative_slope=0.1, threshold=0.5),
        [0.5],
    ),
    (
        lambda: layers.ReLU(max_value=2.0, negative_slope=0.2, threshold=1.0, dtype="float64"),
        lambda x: _np_relu(x, 2.0, 0.2, 1.0),
        [1.0, 2.0],
    ),
    (lambda: layers.LeakyReLU(dtype="float64"), lambda x: np.where(x > 0, x, 0.3 * x), [0.0]),
    (
        lambda: layers.LeakyReLU(negative_slope=0.05, dtype="float64"),
        lambda x: np.where(x > 0, x, 0.05 * x),
        [0.0],
    ),
    (lambda: layers.ELU(dtype="float64"), lambda x: np.where(x > 0, x, np.expm1(x)), [0.0]),
    (
        lambda: layers.ELU(alpha=0.5, dtype="float64"),
        lambda x: np.where(x > 0, x, 0.5 * np.expm1(x)),
        [0.0],
    ),
    (lambda: layers.Softmax(dtype="float64"), lambda x: _np_softmax(x, -1), []),
    (lambda: layers.Softmax(axis=1, dtype="float64"), lambda x: _np_softmax(x, 1), []),
]
IDS = [
    "relu",
    "relu_max",
    "relu_slope_threshold",
    "relu_all",
    "leaky",
    "leaky_slope",
    "elu",
    "elu_alpha",
    "softmax",
    "softmax_axis1",
]


@pytest.mark.parametrize(("make", "reference", "kinks"), CASES, ids=IDS)
def test_activation_layers_match_numpy_and_have_correct_gradients(rng, make, reference, kinks):
    x = _away_from_kinks(rng, (3, 4, 5), kinks)
    layer = make()
    np.testing.assert_allclose(_run(layer, x), reference(x), rtol=1e-12, atol=1e-15)
    assert layer.compute_output_shape((None, 4, 5)) == (None, 4, 5)
    th.verify_grad(lambda v: make()(v), [x[:2]])
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_keras_3_defaults():
    relu = layers.ReLU()
    assert (relu.max_value, relu.negative_slope, relu.threshold) == (None, 0.0, 0.0)
    assert layers.LeakyReLU().negative_slope == 0.3
    assert layers.ELU().alpha == 1.0
    assert layers.Softmax().axis == -1
    assert layers.ReLU().weights == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: layers.ReLU(max_value=-1), r"max_value of a ReLU .* Received: max_value=-1"),
        (
            lambda: layers.ReLU(negative_slope=-0.1),
            r"negative_slope of a ReLU layer must be a number >= 0. Received: negative_slope=-0.1",
        ),
        (lambda: layers.ReLU(threshold=-1.0), r"Received: threshold=-1.0"),
        (lambda: layers.LeakyReLU(negative_slope=None), r"Received: negative_slope=None"),
    ],
)
def test_activation_layers_reject_negative_parameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_model_with_activation_layers_saves_and_loads_bit_identically(rng, tmp_path):
    th.set_seed(6)
    model = models.Sequential(
        [
            layers.Input(shape=(5,)),
            layers.Dense(8),
            layers.ReLU(max_value=3.0, negative_slope=0.1, threshold=0.2),
            layers.Dense(8),
            layers.LeakyReLU(),
            layers.Dense(8),
            layers.ELU(alpha=0.7),
            layers.Dense(3),
            layers.Softmax(),
        ]
    )
    x = rng.normal(size=(6, 5)).astype("float32")
    path = tmp_path / "activations.theanine"
    model.save(path)
    restored = models.load_model(path)
    predictions = restored.predict(x, verbose=0)
    np.testing.assert_array_equal(predictions, model.predict(x, verbose=0))
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-6)
    assert restored.get_config() == model.get_config()
