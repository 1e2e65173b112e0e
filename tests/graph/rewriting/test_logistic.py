"""The logistic family (graph/rewriting/logistic.py): every exp/log spelling of sigmoid and
softplus, and the gradient th.grad derives from it, is finite and right at |z| from 1e1 to 1e4,
in float32 and float64, under every backend.  Expected values are closed forms computed
stably with NumPy/SciPy; the gradients are also checked against finite differences."""

import numpy as np
import pytest
from scipy.special import expit

import theanine as th

MAGNITUDES = [10.0, 17.0, 37.0, 40.0, 100.0, 1e3, 1e4]
Z = np.array(sorted([-m for m in MAGNITUDES] + [-1.5, 0.0, 2.0] + MAGNITUDES))
Y = 0.75


def _softplus(z):
    return np.logaddexp(0.0, z)


FAMILY = {
    # name: (expression of z, forward closed form, d forward / dz closed form)
    "log(sigmoid(z))": (lambda z: th.log(th.sigmoid(z)), lambda z: -_softplus(-z), lambda z: expit(-z)),
    "log(1 - sigmoid(z))": (lambda z: th.log(1 - th.sigmoid(z)), lambda z: -_softplus(z), lambda z: -expit(z)),
    "log(1 + exp(z))": (lambda z: th.log(1 + th.exp(z)), _softplus, expit),
    "log1p(exp(z))": (lambda z: th.log1p(th.exp(z)), _softplus, expit),
    "log(1 + exp(-z))": (lambda z: th.log(1 + th.exp(-z)), lambda z: _softplus(-z), lambda z: -expit(-z)),
    "1 / (1 + exp(-z))": (lambda z: 1 / (1 + th.exp(-z)), expit, lambda z: expit(z) * expit(-z)),
    "1 / (1 + exp(z))": (lambda z: 1 / (1 + th.exp(z)), lambda z: expit(-z), lambda z: -expit(z) * expit(-z)),
    "exp(z) / (exp(z) + 1)": (lambda z: th.exp(z) / (th.exp(z) + 1), expit, lambda z: expit(z) * expit(-z)),
    "reciprocal(1 + exp(-z))": (lambda z: th.reciprocal(1 + th.exp(-z)), expit, lambda z: expit(z) * expit(-z)),
    "sigmoid(z) * exp(-z)": (lambda z: th.sigmoid(z) * th.exp(-z), lambda z: expit(-z),
                             lambda z: -expit(z) * expit(-z)),
    "sigmoid(z) / exp(z)": (lambda z: th.sigmoid(z) / th.exp(z), lambda z: expit(-z),
                            lambda z: -expit(z) * expit(-z)),
    "-log(1 - 1 / (1 + exp(-z)))": (lambda z: -th.log(1 - 1 / (1 + th.exp(-z))), _softplus, expit),
    "log(1 / (1 + exp(-z)))": (lambda z: th.log(1 / (1 + th.exp(-z))), lambda z: -_softplus(-z),
                               lambda z: expit(-z)),
    "log(exp(z) / (1 + exp(z)))": (lambda z: th.log(th.exp(z) / (1 + th.exp(z))), lambda z: -_softplus(-z),
                                   lambda z: expit(-z)),
    "-y * log(sigmoid(z))": (lambda z: -Y * th.log(th.sigmoid(z)), lambda z: Y * _softplus(-z),
                             lambda z: -Y * expit(-z)),
    "binary crossentropy": (
        lambda z: -(Y * th.log(th.sigmoid(z)) + (1 - Y) * th.log(1 - th.sigmoid(z))),
        lambda z: Y * _softplus(-z) + (1 - Y) * _softplus(z),
        lambda z: expit(z) - Y,
    ),
    "crossentropy of 1 / (1 + exp(-z))": (
        lambda z: -Y * th.log(1 / (1 + th.exp(-z))) - (1 - Y) * th.log(1 - 1 / (1 + th.exp(-z))),
        lambda z: Y * _softplus(-z) + (1 - Y) * _softplus(z),
        lambda z: expit(z) - Y,
    ),
    "sigmoid(z)": (th.sigmoid, expit, lambda z: expit(z) * expit(-z)),
}

TOLERANCE = {"float32": dict(rtol=2e-5, atol=1e-37), "float64": dict(rtol=1e-12, atol=1e-300)}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(FAMILY))
def test_family_is_finite_and_right_forward_and_backward(name, dtype, backend):
    build, forward, derivative = FAMILY[name]
    z = th.vector("z", dtype=dtype)
    out = build(z)
    f = th.function([z], [out, th.grad(out.sum(), z)], backend=backend)
    values = Z.astype(dtype)
    got, grad = f(values)
    assert got.dtype == dtype and grad.dtype == dtype
    exact = values.astype("float64")
    np.testing.assert_allclose(got, forward(exact), **TOLERANCE[dtype])
    np.testing.assert_allclose(grad, derivative(exact), **TOLERANCE[dtype])


@pytest.mark.parametrize("name", sorted(FAMILY))
def test_family_gradients_match_finite_differences(name):
    build, _, _ = FAMILY[name]
    th.verify_grad(build, [np.array([-3.0, -0.5, 0.25, 4.0])])


def test_gradient_with_a_symbolic_label_is_finite():
    """The reported case: ``-y * log(sigmoid(z))`` at z = -100, y an input (was -inf / nan)."""
    for backend in ("numpy", "llvm"):
        for dtype in ("float32", "float64"):
            y, z = th.vector("y", dtype=dtype), th.vector("z", dtype=dtype)
            loss = (-y * th.log(th.sigmoid(z))).sum()
            f = th.function([y, z], [loss, *th.grad(loss, [y, z])], backend=backend)
            labels, logits = np.array([1.0, 0.5], dtype), np.array([-100.0, -1e4], dtype)
            value, dy, dz = f(labels, logits)
            np.testing.assert_allclose(value, 100.0 + 0.5e4, rtol=1e-6)
            np.testing.assert_allclose(dy, [100.0, 1e4], rtol=1e-6)
            np.testing.assert_allclose(dz, -labels * expit(-logits.astype("float64")), rtol=1e-6)


def test_theano_tutorial_logistic_regression_trains_at_large_logits(backend):
    """The Theano tutorial's model, with weights that make |logits| reach 1e3: finite cost and
    the exact gradients (mean of (sigmoid(z) - y) * x, plus the L2 term)."""
    for dtype in ("float32", "float64"):
        x, y = th.matrix("x", dtype=dtype), th.vector("y", dtype=dtype)
        w = th.shared(np.full(3, 10.0, dtype), name="w")
        b = th.shared(np.asarray(1.0, dtype), name="b")
        p_1 = 1 / (1 + th.exp(-th.dot(x, w) - b))
        xent = -y * th.log(p_1) - (1 - y) * th.log(1 - p_1)
        cost = xent.mean() + 0.01 * (w**2).sum()
        f = th.function([x, y], [cost, *th.grad(cost, [w, b])], backend=backend)
        data = np.array([[1, 1, 1], [-1, -1, -1], [100, 0, 0], [-100, 0, 0], [0.1, 0, 0]], dtype)
        labels = np.array([0, 1, 1, 0, 1], dtype)
        z = data.astype("float64") @ np.full(3, 10.0) + 1.0
        cost_value, gw, gb = f(data, labels)
        exact = np.mean(labels * _softplus(-z) + (1 - labels) * _softplus(z)) + 0.01 * 300
        np.testing.assert_allclose(cost_value, exact, rtol=1e-6)
        np.testing.assert_allclose(gw, ((expit(z) - labels)[:, None] * data).mean(0) + 0.2, rtol=1e-5)
        np.testing.assert_allclose(gb, (expit(z) - labels).mean(), rtol=1e-5)


# ---------------------------------------------------------------------------- each rewrite


MODERATE = np.array([-3.0, -0.5, 0.0, 0.25, 4.0])


@pytest.mark.parametrize(
    "rewrite, build",
    [
        ("one_minus_sigmoid", lambda z: 1 - th.sigmoid(z)),
        ("log_sigmoid", lambda z: th.log(th.sigmoid(z))),
        ("log1p_exp", lambda z: th.log1p(th.exp(z))),
        ("logistic_product", lambda z: th.exp(z) / (1 + th.exp(z))),
        ("logistic_product", lambda z: 2 * th.sigmoid(z) / th.exp(z)),
        ("logistic_product", lambda z: z / th.sigmoid(z) * th.sigmoid(z)),
        ("logistic_product", lambda z: (z / th.sigmoid(z) + 3.0) * th.sigmoid(z)),
        ("logistic_difference", lambda z: z * th.sigmoid(z) - z * th.sigmoid(z) * th.sigmoid(-z)),
    ],
)
def test_each_rewrite_fires_and_keeps_the_value(rewrite, build, optimized):
    z = th.vector("z", dtype="float64")
    result = optimized([z], [build(z)])
    assert result.fired(rewrite) >= 1
    result.check_values(MODERATE, rtol=1e-13)


def test_product_keeps_the_shape_a_cancelled_factor_gave():
    """``c / sigmoid(z) * sigmoid(z)`` with a broadcasting c still has z's shape."""
    z = th.matrix("z", dtype="float64")
    c = th.tensor("c", dtype="float64", shape=(1, 1))
    out = th.rewrite(c / th.sigmoid(z) * th.sigmoid(z))
    assert out.type == th.TensorType("float64", (None, None))
    got = th.function([c, z], out, backend="numpy")(np.full((1, 1), 3.0), np.zeros((2, 3)))
    np.testing.assert_array_equal(got, np.full((2, 3), 3.0))


def test_products_that_may_be_zero_do_not_cancel():
    """``x / x`` is nan at 0: only positive factors (sigmoid, exp, softplus) cancel."""
    x = th.vector("x", dtype="float64")
    f = th.function([x], x * th.tanh(x) / th.tanh(x), backend="numpy")
    assert "logistic_product" not in f.rewrite_report.fired
    assert np.isnan(f(np.array([0.0])))[0]


def test_long_products_are_read_within_a_budget():
    """A chain of thousands of products rewrites in linear time and still cancels near its root."""
    x = th.vector("x", dtype="float64")
    y = x
    for _ in range(2000):
        y = y * 1.0001
    f = th.function([x], th.sigmoid(x) * y / th.sigmoid(x), backend="numpy")
    assert f.rewrite_report.fired["logistic_product"] >= 1
    np.testing.assert_allclose(f(np.array([-1e4, 2.0])), np.array([-1e4, 2.0]) * 1.0001**2000, rtol=1e-9)
