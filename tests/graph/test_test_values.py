"""Test values (graph/test_values.py, Theano's ``compute_test_value``): every node a user builds
is evaluated at once on its inputs' test values, so shape errors show at the line that wrote them;
the four modes decide what a missing test value does."""

import inspect
import warnings

import numpy as np
import pytest
import scipy.special

import theanine as th
from theanine.graph import test_values

RNG = np.random.default_rng(5)
X = RNG.standard_normal((4, 3))
W = RNG.standard_normal((3, 5))
LABELS = np.array([0, 4, 2, 1])


@pytest.fixture
def raise_mode():
    with th.config.context(compute_test_value="raise"):
        yield


def _input(name, value, dtype="float64"):
    var = th.tensor(name, dtype, (None,) * np.ndim(value))
    var.tag.test_value = np.asarray(value, dtype)
    return var


def _here() -> str:
    caller = inspect.currentframe().f_back
    return f"{__file__}:{caller.f_lineno}"


EXPRESSIONS = {
    # name: (build from x (4, 3), w (3, 5), labels (4,)), NumPy of the same)
    "elementwise": (lambda x, w, y: th.tanh(x) * 2 + 1, lambda x, w, y: np.tanh(x) * 2 + 1),
    "reduction": (lambda x, w, y: x.sum(axis=0) / x.max(), lambda x, w, y: x.sum(axis=0) / x.max()),
    "matmul": (lambda x, w, y: x @ w, lambda x, w, y: x @ w),
    "reshape by a shape vector": (lambda x, w, y: x.reshape(x.shape[::-1]), lambda x, w, y: x.reshape(3, 4)),
    "indexing": (lambda x, w, y: x[1:, ::2][y[:2] % 3], lambda x, w, y: x[1:, ::2][y[:2] % 3]),
    "softmax crossentropy": (
        lambda x, w, y: th.sparse_categorical_crossentropy(y, x @ w, from_logits=True),
        lambda x, w, y: -scipy.special.log_softmax(x @ w, axis=1)[np.arange(4), y],
    ),
    "split (several outputs)": (lambda x, w, y: th.split(x, 3, axis=1)[2], lambda x, w, y: x[:, 2:]),
    "gradient": (
        lambda x, w, y: th.grad(th.sum(th.sigmoid(x @ w)), w),
        lambda x, w, y: x.T @ (scipy.special.expit(x @ w) * scipy.special.expit(-(x @ w))),
    ),
    "shared and constants": (
        lambda x, w, y: x * th.shared(np.full(3, 2.0)) + np.float64(0.5),
        lambda x, w, y: x * 2.0 + 0.5,
    ),
}


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_test_values_are_the_values_numpy_computes(name, raise_mode):
    build, reference = EXPRESSIONS[name]
    out = build(_input("x", X), _input("w", W), _input("labels", LABELS, "int64"))
    np.testing.assert_allclose(out.tag.test_value, reference(X, W, LABELS), rtol=1e-12)


def test_a_shape_error_is_raised_at_the_line_that_wrote_it(raise_mode):
    x, w = _input("x", X), _input("w", W.T)
    with pytest.raises(ValueError, match=r"mismatch in its core dimension") as caught:
        x @ w
    line = f"{__file__}:{inspect.currentframe().f_lineno - 1}"
    assert f"while computing MatMul on inputs [float64(4, 3), float64(5, 3)], created at {line}]" in str(caught.value)
    assert caught.traceback[0].lineno + 1 == int(line.rsplit(":", 1)[1])


@pytest.mark.parametrize("mode", ["ignore", "warn", "raise"])
def test_a_missing_test_value_is_ignored_warned_or_raised(mode):
    z = th.vector("z", "float64")
    with th.config.context(compute_test_value=mode), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if mode == "raise":
            missing = r"z of type float64\(\?,\) \(created at .*\) has no test value"
            with pytest.raises(test_values.TestValueError, match=missing):
                z + 1
            return
        y = z + 1
        line = _here()
    assert not y.tag.has_test_value()
    if mode == "ignore":
        assert not caught
        return
    (warning,) = caught
    assert warning.category is test_values.TestValueWarning
    assert f"{warning.filename}:{warning.lineno + 1}" == line
    assert "set `z.tag.test_value = <array>`" in str(warning.message)


def test_off_computes_nothing_and_is_the_default():
    assert th.config.compute_test_value == "off"
    x = _input("x", X)
    assert not (x * 2).tag.has_test_value()


def test_test_values_are_checked_against_the_type():
    x = th.matrix("x", "float32")
    with pytest.raises(ValueError, match=r"test value: expected 2 dimension\(s\), got an array with 1"):
        x.tag.test_value = np.zeros(3, "float32")
    with pytest.raises(TypeError, match="test value: expected dtype float32, got float64"):
        x.tag.test_value = np.zeros((2, 2))
    with pytest.raises(AttributeError, match="has no test value"):
        x.tag.test_value  # noqa: B018


def test_the_setting_is_validated():
    with pytest.raises(ValueError, match=r"compute_test_value must be one of \('off', 'ignore', 'warn', 'raise'\)"):
        th.config.compute_test_value = True


def test_compiling_and_running_under_raise_computes_no_test_values_in_rewrites(raise_mode):
    x, w = _input("x", X), _input("w", W)
    cost = th.mean(th.log(1 + th.exp(x @ w)))
    f = th.function([x, w], [cost, th.grad(cost, w)])
    value, grad = f(X, W)
    np.testing.assert_allclose(value, np.mean(np.logaddexp(0, X @ W)), rtol=1e-12)
    np.testing.assert_allclose(grad, X.T @ scipy.special.expit(X @ W) / 20, rtol=1e-12)


def test_derivatives_built_on_placeholders_have_test_values(raise_mode):
    """Gradients through an OpFromGraph and a fused Composite, and an R_op taken through an
    L_op, build on placeholders; they carry the values they stand for, so nothing raises."""
    x, w = _input("x", X), _input("w", W)
    a, b = th.matrix("a", "float64"), th.matrix("b", "float64")
    with th.config.context(compute_test_value="off"):
        affine = th.OpFromGraph([a, b], [th.tanh(a @ b)])
        fused = th.rewrite(th.exp(x) * 2.0 + th.sin(x))
    through_op = th.grad(th.sum(affine(x, w)), w)
    np.testing.assert_allclose(through_op.tag.test_value, X.T @ (1 - np.tanh(X @ W) ** 2), rtol=1e-12)
    assert "Composite" in str(fused.owner.op)
    fused.tag.test_value = np.exp(X) * 2.0 + np.sin(X)
    through_composite = th.grad(th.sum(fused), x)
    np.testing.assert_allclose(through_composite.tag.test_value, np.exp(X) * 2.0 + np.cos(X), rtol=1e-12)
    v = _input("v", np.ones_like(W))
    jv = th.Rop(th.sum(x @ w, axis=1, keepdims=True), w, v)
    np.testing.assert_allclose(jv.tag.test_value, (X @ np.ones_like(W)).sum(axis=1, keepdims=True), rtol=1e-12)
