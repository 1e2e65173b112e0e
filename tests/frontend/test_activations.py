"""Activations against NumPy formulas (Keras 3 definitions), gradients by finite differences."""

import math

import numpy as np
import pytest
import scipy.special

import theanine as th
from theanine.frontend import activations

X = np.array([[-30.0, -3.0, -1.0, -0.5, 0.0], [0.25, 0.7, 1.0, 3.0, 30.0]])


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805

REFERENCES = {
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": scipy.special.expit,
    "tanh": np.tanh,
    "softmax": np_softmax,
    "log_softmax": lambda x: np.log(np_softmax(x)),
    "softplus": lambda x: np.logaddexp(0, x),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "elu": np_elu,
    "selu": lambda x: SELU_SCALE * np_elu(x, SELU_ALPHA),
    "gelu": lambda x: 0.5 * x * (1 + scipy.special.erf(x / math.sqrt(2))),
    "swish": lambda x: x * scipy.special.expit(x),
    "silu": lambda x: x * scipy.special.expit(x),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "relu6": lambda x: np.clip(x, 0, 6),
    "hard_sigmoid": lambda x: np.clip(x + 3, 0, 6) / 6,
    "exponential": np.exp,
    "mish": lambda x: x * np.tanh(np.logaddexp(0, x)),
    "linear": lambda x: x,
    "hard_silu": lambda x: x * np.clip(x + 3, 0, 6) / 6,
    "hard_swish": lambda x: x * np.clip(x + 3, 0, 6) / 6,
    "log_sigmoid": lambda x: -np.logaddexp(0, -x),
    "celu": lambda x: np.maximum(x, 0) + np.expm1(np.minimum(x, 0)),
    "hard_tanh": lambda x: np.clip(x, -1, 1),
    "hard_shrink": lambda x: np.where(np.abs(x) > 0.5, x, 0),
    "soft_shrink": lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0)),
    "tanh_shrink": lambda x: x - np.tanh(x),
    "squareplus": lambda x: (x + np.sqrt(x * x + 4)) / 2,
    "sparse_plus": lambda x: np.where(x <= -1, 0, np.where(x < 1, (x + 1) ** 2 / 4, x)),
    "sparse_sigmoid": lambda x: np.clip((x + 1) / 2, 0, 1),
}


def test_every_builtin_has_a_reference():
    """(glu halves an axis and threshold takes its levels: both are tested on their own below;
    sparsemax, a projection per row, in test_keras_api_surface.py.)"""
    assert sorted(REFERENCES) == sorted(set(activations.ACTIVATIONS) - {"glu", "threshold", "sparsemax"})


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_values_match_numpy(name):
    x = th.matrix("x")
    fn = th.function([x], activations.get(name)(x))
    points = X if name != "exponential" else X / 10
    got = fn(points.astype("float32"))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, REFERENCES[name](points), rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_gradients(name):
    points = np.array([[-2.1, -0.7, 0.3, 1.1], [-0.2, 0.45, 2.3, -1.4]])
    th.verify_grad(activations.get(name), [points])


@pytest.mark.parametrize("name", ["elu", "selu", "softplus", "swish", "gelu", "mish", "softmax"])
def test_gradients_stay_finite_for_large_inputs(name):
    x = th.vector("x")
    grad = th.function([x], th.grad(th.sum(activations.get(name)(x)), x))
    assert np.all(np.isfinite(grad(np.array([-100.0, 100.0, 500.0], "float32"))))


def test_keras_defaults_and_options():
    x = th.vector("x")
    values = np.array([-2.0, -0.5, 0.5, 3.0, 8.0], "float32")

    def run(expr):
        return th.function([x], expr)(values)

    np.testing.assert_allclose(
        run(activations.leaky_relu(x, negative_slope=0.1)),
        np.where(values > 0, values, 0.1 * values),
    )
    np.testing.assert_allclose(run(activations.elu(x, alpha=0.5)), np_elu(values, 0.5), rtol=1e-6)
    np.testing.assert_allclose(run(activations.relu(x, max_value=4.0)), np.clip(values, 0, 4))
    np.testing.assert_allclose(
        run(activations.relu(x, negative_slope=0.1, threshold=1.0)),
        np.where(values > 1, values, 0.1 * (values - 1)),
        rtol=1e-6,
    )
    tanh_gelu = (
        0.5 * values * (1 + np.tanh(math.sqrt(2 / math.pi) * (values + 0.044715 * values**3)))
    )
    # 1 + tanh(...) cancels near x = -2: compare at float32 precision of the inputs
    np.testing.assert_allclose(run(activations.gelu(x, approximate=True)), tanh_gelu, rtol=1e-5, atol=1e-6)


def test_softmax_axis():
    m = th.matrix("m")
    got = th.function([m], activations.softmax(m, axis=0))(X.astype("float32"))
    np.testing.assert_allclose(got, np_softmax(X.T).T, rtol=1e-6)


def test_get_and_serialize():
    assert activations.get(None) is activations.linear
    assert activations.get("relu") is activations.relu
    assert activations.get(th.tanh) is th.tanh
    assert activations.serialize(activations.get("silu")) == "swish"
    for name in REFERENCES:
        assert activations.get(activations.serialize(activations.get(name))) is activations.get(
            name
        )


def test_custom_activation_round_trip():
    def scaled_tanh(x):
        return 1.7 * th.tanh(x)

    name = activations.serialize(scaled_tanh)
    assert name == "scaled_tanh"
    assert activations.get(name, custom_objects={"scaled_tanh": scaled_tanh}) is scaled_tanh
    with pytest.raises(ValueError, match="Unknown activation 'scaled_tanh'"):
        activations.get(name)
    with pytest.raises(ValueError, match="Cannot serialize the activation"):
        activations.serialize(lambda x: x)
    with pytest.raises(TypeError, match="must be a name, a callable or None"):
        activations.get(3)


def test_glu_threshold_and_an_odd_width():
    x = th.matrix("x", dtype="float32")
    value = np.linspace(-3, 3, 12, dtype="float32").reshape(2, 6)
    np.testing.assert_allclose(th.function([x], activations.get("glu")(x))(value),
                               value[:, :3] * scipy.special.expit(value[:, 3:]), rtol=2e-6)
    value = np.array([[-1.0, 0.5, 0.7]], "float32")
    np.testing.assert_array_equal(th.function([x], activations.threshold(x, 0.5, -2.0))(value),
                                  np.array([[-2.0, -2.0, 0.7]], "float32"))
    with pytest.raises(ValueError, match="glu splits axis -1 into two halves: it needs an even size"):
        activations.glu(th.tensor("odd", "float32", (None, 3)))
