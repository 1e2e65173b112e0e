"""The NumPy / keras.ops names of the th namespace against NumPy, under every backend, and their
gradients by finite differences; the ArgSort op (perform, shape inference, no gradient)."""

import math

import numpy as np
import pytest

import theanine as th

RNG = np.random.default_rng(0)
A = RNG.normal(size=(3, 4))
B = RNG.normal(size=(4, 5))
C = RNG.normal(size=(2, 3, 4))
V = RNG.normal(size=5)
TIES = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [5.0, -1.0, 5.0, 4.0]])

# (name, th function, numpy function, arguments)
CASES = [
    ("sort", lambda x: th.sort(x), lambda x: np.sort(x), [A]),
    ("sort_axis0", lambda x: th.sort(x, axis=0), lambda x: np.sort(x, axis=0), [C]),
    ("argsort_ties", lambda x: th.argsort(x), lambda x: np.argsort(x, kind="stable"), [TIES]),
    ("top_k_values", lambda x: th.top_k(x, 3)[0], lambda x: -np.sort(-x)[:, :3], [TIES]),
    ("top_k_indices", lambda x: th.top_k(x, 2)[1],
     lambda x: np.argsort(-x, kind="stable")[:, :2], [TIES]),
    ("einsum_matmul", lambda a, b: th.einsum("ij,jk->ik", a, b),
     lambda a, b: np.einsum("ij,jk->ik", a, b), [A, B]),
    ("einsum_batch", lambda c: th.einsum("bij,bkj->bik", c, c),
     lambda c: np.einsum("bij,bkj->bik", c, c), [C]),
    ("einsum_implicit", lambda a, b: th.einsum("ij,jk", a, b),
     lambda a, b: np.einsum("ij,jk", a, b), [A, B]),
    ("einsum_ellipsis", lambda c, b: th.einsum("...j,jk->...k", c, b),
     lambda c, b: np.einsum("...j,jk->...k", c, b), [C, B]),
    ("einsum_trace", lambda x: th.einsum("ii->", x), lambda x: np.einsum("ii->", x), [A[:, :3]]),
    ("einsum_sum", lambda c: th.einsum("bij->j", c), lambda c: np.einsum("bij->j", c), [C]),
    ("einsum_outer3", lambda a, v: th.einsum("ij,k,k->ik", a, v, v),
     lambda a, v: np.einsum("ij,k,k->ik", a, v, v), [A, V]),
    ("norm_vector", lambda v: th.norm(v), lambda v: np.linalg.norm(v), [V]),
    ("norm_l1", lambda v: th.norm(v, 1), lambda v: np.linalg.norm(v, 1), [V]),
    ("norm_p3", lambda v: th.norm(v, 3), lambda v: np.linalg.norm(v, 3), [V]),
    ("norm_inf", lambda v: th.norm(v, math.inf), lambda v: np.linalg.norm(v, np.inf), [V]),
    ("norm_0", lambda v: th.norm(v, 0), lambda v: np.linalg.norm(v, 0), [V]),
    ("norm_fro", lambda a: th.norm(a, "fro"), lambda a: np.linalg.norm(a, "fro"), [A]),
    ("norm_matrix_1", lambda a: th.norm(a, 1), lambda a: np.linalg.norm(a, 1), [A]),
    ("norm_matrix_inf", lambda a: th.norm(a, -math.inf), lambda a: np.linalg.norm(a, -np.inf),
     [A]),
    ("norm_axis_keep", lambda c: th.norm(c, axis=-1, keepdims=True),
     lambda c: np.linalg.norm(c, axis=-1, keepdims=True), [C]),
    ("norm_axes", lambda c: th.norm(c, 1, axis=(2, 1)),
     lambda c: np.linalg.norm(c, 1, axis=(2, 1)), [C]),
    ("swapaxes", lambda c: th.swapaxes(c, 0, 2), lambda c: np.swapaxes(c, 0, 2), [C]),
    ("moveaxis", lambda c: th.moveaxis(c, 0, -1), lambda c: np.moveaxis(c, 0, -1), [C]),
    ("moveaxis_many", lambda c: th.moveaxis(c, (0, 1), (2, 0)),
     lambda c: np.moveaxis(c, (0, 1), (2, 0)), [C]),
    ("flip", lambda c: th.flip(c, axis=1), lambda c: np.flip(c, axis=1), [C]),
    ("flip_all", lambda c: th.flip(c), lambda c: np.flip(c), [C]),
    ("roll", lambda c: th.roll(c, 2, axis=2), lambda c: np.roll(c, 2, axis=2), [C]),
    ("roll_flat", lambda c: th.roll(c, -3), lambda c: np.roll(c, -3), [C]),
    ("hstack", lambda a: th.hstack([a, a]), lambda a: np.hstack([a, a]), [A]),
    ("hstack_vectors", lambda v: th.hstack([v, v]), lambda v: np.hstack([v, v]), [V]),
    ("vstack", lambda a: th.vstack([a[0], a]), lambda a: np.vstack([a[0], a]), [A]),
    ("append", lambda a, v: th.append(a, v), lambda a, v: np.append(a, v), [A, V]),
    ("take_along_axis", lambda a: th.take_along_axis(a, th.argsort(a, 0), 0),
     lambda a: np.take_along_axis(a, np.argsort(a, 0), 0), [A]),
    ("trace", lambda a: th.trace(a, 1), lambda a: np.trace(a, 1), [A]),
    ("diagonal", lambda c: th.diagonal(c, -1, 1, 2), lambda c: np.diagonal(c, -1, 1, 2), [C]),
    ("diag_vector", lambda v: th.diag(v, 1), lambda v: np.diag(v, 1), [V]),
    ("diag_vector_below", lambda v: th.diag(v, -2), lambda v: np.diag(v, -2), [V]),
    ("diag_matrix", lambda a: th.diag(a, 1), lambda a: np.diag(a, 1), [A]),
    ("tril", lambda a: th.tril(a, -1), lambda a: np.tril(a, -1), [A]),
    ("triu", lambda c: th.triu(c, 1), lambda c: np.triu(c, 1), [C]),
    ("vdot", lambda a: th.vdot(a, a), lambda a: np.vdot(a, a), [A]),
    ("cross", lambda c: th.cross(c[..., :3], c[..., 1:], axis=-1),
     lambda c: np.cross(c[..., :3], c[..., 1:]), [C]),
    ("median", lambda c: th.median(c, axis=1), lambda c: np.median(c, axis=1), [C]),
    ("median_all_even", lambda a: th.median(a), lambda a: np.median(a), [A]),
    ("median_keep", lambda c: th.median(c, axis=2, keepdims=True),
     lambda c: np.median(c, axis=2, keepdims=True), [C]),
    ("quantile", lambda c: th.quantile(c, 0.3, axis=2), lambda c: np.quantile(c, 0.3, axis=2),
     [C]),
    ("quantile_vector", lambda a: th.quantile(a, np.array([0.0, 0.25, 1.0]), axis=1),
     lambda a: np.quantile(a, [0.0, 0.25, 1.0], axis=1), [A]),
    ("average", lambda a, v: th.average(a, axis=1, weights=v[:4] ** 2),
     lambda a, v: np.average(a, axis=1, weights=v[:4] ** 2), [A, V]),
    ("average_plain", lambda a: th.average(a), lambda a: np.average(a), [A]),
    ("count_nonzero", lambda a: th.count_nonzero(th.round(a), axis=0),
     lambda a: np.count_nonzero(np.round(a), axis=0), [A]),
    ("diff", lambda c: th.diff(c, 2, axis=-1), lambda c: np.diff(c, 2, axis=-1), [C]),
    ("logaddexp", lambda a: th.logaddexp(a, a * 3), lambda a: np.logaddexp(a, a * 3), [A]),
    ("amax", lambda c: th.amax(c, axis=(0, 2)), lambda c: np.amax(c, axis=(0, 2)), [C]),
    ("ravel", lambda c: th.ravel(c), lambda c: np.ravel(c), [C]),
    ("imag", lambda a: th.imag(a), lambda a: np.imag(a), [A]),
]


@pytest.mark.parametrize("name, fn, reference, args", CASES, ids=[c[0] for c in CASES])
def test_matches_numpy(backend, name, fn, reference, args):
    inputs = [th.tensor(f"a{i}", "float64", (None,) * a.ndim) for i, a in enumerate(args)]
    got = th.function(inputs, fn(*inputs), backend=backend)(*args)
    expected = reference(*args)
    assert got.shape == np.shape(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


GRADIENTS = [
    ("sort", lambda x: th.sort(x) * np.arange(4.0), [A]),
    ("top_k", lambda x: th.top_k(x, 2)[0], [A]),
    ("einsum", lambda a, b: th.einsum("ij,jk->ik", a, b), [A, B]),
    ("einsum_diag", lambda a: th.einsum("ii->i", a), [A[:, :3]]),
    ("norm", lambda c: th.norm(c, axis=-1), [C]),
    ("norm_p3", lambda v: th.norm(v, 3), [V]),
    ("median", lambda c: th.median(c, axis=1), [C]),
    ("quantile", lambda a: th.quantile(a, 0.3, axis=1), [A]),
    ("roll", lambda c: th.roll(c, 1, axis=1) * C, [C]),
    ("tril", lambda a: th.tril(a), [A]),
    ("logaddexp", lambda a, b: th.logaddexp(a, b[:3, :4]), [A, B]),
    ("cross", lambda c: th.cross(c[..., :3], c[..., 1:]), [C]),
    ("take_along_axis", lambda a: th.take_along_axis(a, th.argsort(a, 1), 1) ** 2, [A]),
]


@pytest.mark.parametrize("name, fn, args", GRADIENTS, ids=[g[0] for g in GRADIENTS])
def test_gradients_by_finite_differences(name, fn, args):
    th.verify_grad(fn, args)


def test_elementwise_helpers_and_ranges():
    x = th.vector("x", "float64")
    values = np.array([1.0, np.nan, np.inf, -np.inf, 0.0])
    f = th.function([x], [th.isfinite(x), th.nan_to_num(x), th.isclose(x, values),
                          th.isclose(x, values, equal_nan=True), th.divide_no_nan(x, th.zeros_like(x))])
    finite, cleaned, close, close_nan, divided = f(values)
    np.testing.assert_array_equal(finite, np.isfinite(values))
    np.testing.assert_array_equal(cleaned, np.nan_to_num(values))
    np.testing.assert_array_equal(close, np.isclose(values, values))
    np.testing.assert_array_equal(close_nan, np.isclose(values, values, equal_nan=True))
    np.testing.assert_array_equal(divided, np.zeros(5))
    for args in ((0, 1, 5), (2.0, -3.0, 7, False), (0, 1, 1), (0, 1, 0)):
        np.testing.assert_allclose(th.convert_to_numpy(th.linspace(*args)), np.linspace(*args))
    np.testing.assert_allclose(th.convert_to_numpy(th.logspace(0, 2, 3)), np.logspace(0, 2, 3))
    np.testing.assert_array_equal(th.convert_to_numpy(th.tri(3, 4, 1)), np.tri(3, 4, 1))
    np.testing.assert_array_equal(th.convert_to_numpy(th.identity(3)), np.identity(3))
    grids = [th.convert_to_numpy(g) for g in th.meshgrid(np.arange(3.0), np.arange(2.0))]
    for got, expected in zip(grids, np.meshgrid(np.arange(3.0), np.arange(2.0)), strict=True):
        np.testing.assert_array_equal(got, expected)
    grids = th.meshgrid(np.arange(3.0), np.arange(2.0), indexing="ij")
    assert th.convert_to_numpy(grids[0]).shape == (3, 2)


def test_convert_to_tensor_and_numpy():
    t = th.convert_to_tensor([1, 2, 3], dtype="float32")
    assert isinstance(t, th.Constant) and t.dtype == "float32"
    shared = th.shared(np.ones(2))
    value = th.convert_to_numpy(shared)
    value[0] = 5.0
    assert shared.get_value()[0] == 1.0
    np.testing.assert_array_equal(th.convert_to_numpy(shared * 2 + t[:2]), [3.0, 4.0])
    np.testing.assert_array_equal(th.convert_to_numpy([1, 2]), [1, 2])
    assert th.ndim(th.matrix()) == 2
    with pytest.raises(ValueError, match="depends on the free input\\(s\\) \\['x'\\]"):
        th.convert_to_numpy(th.vector("x") + 1)


def test_argsort_op_shape_and_no_gradient():
    x = th.tensor("x", "float32", (None, 4))
    order = th.argsort(x, axis=0, descending=True)
    assert order.type == th.TensorType("int64", (None, 4))
    assert isinstance(order.owner.op, th.ArgSort) and order.owner.op == th.ArgSort(0, True)
    f = th.function([x], [order, th.shape(order)])
    values = TIES.astype("float32")
    got, got_shape = f(values)
    np.testing.assert_array_equal(got, np.argsort(-values, axis=0, kind="stable"))
    np.testing.assert_array_equal(got_shape, values.shape)
    assert th.grad(th.sum(x * th.cast(order, "float32")), x) is not None
    with pytest.raises(ValueError, match="axis 2 is out of bounds for a tensor of rank 2"):
        th.argsort(x, axis=2)


def test_bad_arguments_raise_clear_errors():
    a, v = th.matrix("a"), th.vector("v")
    with pytest.raises(ValueError, match="names 2 operand\\(s\\), 1 were given"):
        th.einsum("ij,jk->ik", a)
    with pytest.raises(ValueError, match="do not fit a tensor of rank 2"):
        th.einsum("ijk->i", a)
    with pytest.raises(ValueError, match="bad output subscripts"):
        th.einsum("ij->iz", a)
    with pytest.raises(ValueError, match="needs singular values"):
        th.norm(a, 2)
    with pytest.raises(ValueError, match="invalid norm order 'fro' for vectors"):
        th.norm(v, "fro")
    with pytest.raises(ValueError, match="k must be a positive integer"):
        th.top_k(v, 0)
    with pytest.raises(ValueError, match="must have size 3"):
        th.cross(th.tensor("u", shape=(2, 4)), th.tensor("w", shape=(2, 3)))
