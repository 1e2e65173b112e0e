"""Reductions and linear algebra beyond the op table: errors and their
messages, gradient conventions (first extremum, zeros in products), R_op
against a finite-difference Jacobian, and numerical accuracy."""

import numpy as np
import pytest

import theanine as th
from theanine.graph.ops.linalg import MatMul
from theanine.graph.ops.reduce import Cumulative, Reduce


def f64(name, shape):
    return th.tensor(name, "float64", shape)


def run(inputs, outputs, *values):
    return th.function(inputs, outputs, backend="numpy")(*values)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("reduction", [th.max, th.min, th.argmax, th.argmin])
def test_extremum_of_static_empty_axis_raises_at_construction(reduction):
    x = f64("x", (0, 3))
    with pytest.raises(ValueError, match=r"axis 0, which has size 0 \(input shape \(0, 3\)\)"):
        reduction(x, axis=0)


def test_max_of_empty_axis_found_at_run_time_raises_numpy_error_with_node():
    x = f64("x", (None, 3))
    f = th.function([x], th.max(x, axis=0), backend="numpy")
    with pytest.raises(ValueError, match=r"zero-size array.*Reduce\{kind=max.*float64\(0, 3\)"):
        f(np.zeros((0, 3)))


def test_max_over_a_nonempty_axis_of_an_empty_tensor_is_allowed():
    x = f64("x", (0, 3))
    assert run([x], th.max(x, axis=1), np.zeros((0, 3))).shape == (0,)


@pytest.mark.parametrize(
    ("axis", "error", "message"),
    [
        (2, ValueError, "sum: axis 2 is out of bounds for a tensor of rank 2"),
        (-3, ValueError, "sum: axis -3 is out of bounds"),
        ((0, -2), ValueError, r"sum: repeated axis in axis=\(0, -2\)"),
        (1.5, TypeError, "sum: axis must be None, an int or a tuple of ints"),
    ],
)
def test_bad_axes_are_named(axis, error, message):
    with pytest.raises(error, match=message):
        th.sum(f64("x", (3, 4)), axis=axis)


def test_argmax_takes_one_axis_like_numpy():
    message = r"argmax: axis must be None or an int. Received: axis=\(0, 1\)"
    with pytest.raises(TypeError, match=message):
        th.argmax(f64("x", (3, 4)), axis=(0, 1))


def test_cumsum_takes_one_axis():
    with pytest.raises(TypeError, match="cumsum: axis must be None or an int"):
        th.cumsum(f64("x", (3, 4)), axis=(0,))


def test_matmul_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(3, 4\) and \(5, 2\) are not aligned"):
        th.matmul(f64("a", (3, 4)), f64("b", (5, 2)))


def test_dot_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"dot: shapes \(3, 4\) and \(5,\) are not aligned"):
        th.dot(f64("a", (3, 4)), f64("b", (5,)))


def test_matmul_batch_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"matmul of shapes \(2, 3, 4\) and \(5, 4, 2\)"):
        th.matmul(f64("a", (2, 3, 4)), f64("b", (5, 4, 2)))


def test_matmul_rejects_scalars():
    with pytest.raises(ValueError, match=r"rank >= 1 .*Received shapes \(\) and \(3,\)"):
        th.matmul(f64("a", ()), f64("b", (3,)))


def test_matmul_unknown_dims_are_checked_at_run_time():
    a, b = th.matrix("a", "float64"), th.matrix("b", "float64")
    f = th.function([a, b], a @ b, backend="numpy")
    message = r"mismatch in its core dimension.*MatMul.*\(3, 4\).*\(5, 2\)"
    with pytest.raises(ValueError, match=message):
        f(np.ones((3, 4)), np.ones((5, 2)))


def test_matmul_unknown_batch_dim_does_not_broadcast_silently():
    a, b = f64("a", (None, 2, 2)), f64("b", (None, 2, 2))
    f = th.function([a, b], a @ b, backend="numpy")
    with pytest.raises(ValueError, match="batch dimension 0 differs"):
        f(np.ones((3, 2, 2)), np.ones((1, 2, 2)))


def test_tensordot_axes_errors():
    a, b = f64("a", (2, 3)), f64("b", (3, 4))
    with pytest.raises(ValueError, match="same length"):
        th.tensordot(a, b, ([0, 1], [0]))
    message = r"tensordot: shapes \(2, 3\) and \(3, 4\) are not aligned"
    with pytest.raises(ValueError, match=message):
        th.tensordot(a, b, ([0], [0]))
    with pytest.raises(ValueError, match="axes=3 must be between 0 and the smaller rank"):
        th.tensordot(a, b, 3)


# ---------------------------------------------------------------- static types


def test_static_shapes_and_dtypes():
    x = th.tensor("x", "int8", (3, 4, 5))
    assert th.sum(x, axis=(0, -1), keepdims=True).type == th.TensorType("int64", (1, 4, 1))
    assert th.mean(x, axis=1).type == th.TensorType("float64", (3, 5))
    assert th.argmax(x).type == th.TensorType("int64", ())
    assert (th.cumsum(x).dtype, th.cumsum(x).ndim) == ("int64", 1)
    a, b = th.tensor("a", "float32", (2, 1, 3, 4)), th.tensor("b", "float32", (5, 4, 6))
    batched = th.matmul(a, b)
    assert batched.type == th.TensorType("float32", (2, 5, 3, 6))


def test_natural_dtype_gives_the_same_op():
    x = th.vector("x", "int8")
    assert th.sum(x, dtype="int64").owner.op == th.sum(x).owner.op
    assert th.sum(x, dtype="int16").owner.op != th.sum(x).owner.op


# ---------------------------------------------------------------- gradient conventions


def _first_extremum_one_hot(values, axes, pick):
    """One-hot of np.argmax/np.argmin over ``axes`` (flattened in C order)."""
    kept = [a for a in range(values.ndim) if a not in axes]
    block = np.transpose(values, kept + list(axes)).reshape([values.shape[a] for a in kept] + [-1])
    one_hot = np.zeros_like(block)
    np.put_along_axis(one_hot, pick(block, axis=-1)[..., None], 1.0, axis=-1)
    moved = one_hot.reshape([values.shape[a] for a in kept] + [values.shape[a] for a in axes])
    return np.transpose(moved, np.argsort(kept + list(axes)))


TIED = np.array([[[1.0, 4.0], [4.0, 0.0]], [[2.0, 2.0], [-1.0, 2.0]], [[0.0, -1.0], [-1.0, 0.0]]])


@pytest.mark.parametrize("axes", [(0, 1, 2), (1,), (0, 2), (1, 2)])
@pytest.mark.parametrize(("reduction", "pick"), [(th.max, np.argmax), (th.min, np.argmin)])
def test_extremum_gradient_goes_to_the_element_argmax_picks(axes, reduction, pick):
    x = f64("x", (None, None, None))
    cost = reduction(x, axis=axes).sum()
    got = run([x], th.grad(cost, x), TIED)
    np.testing.assert_array_equal(got, _first_extremum_one_hot(TIED, axes, pick))


def test_extremum_rop_uses_the_same_element():
    x, v = f64("x", (None, None, None)), f64("v", (None, None, None))
    direction = np.arange(TIED.size, dtype="float64").reshape(TIED.shape)
    got = run([x, v], th.Rop(th.max(x, axis=(0, 2)), x, v), TIED, direction)
    expected = (direction * _first_extremum_one_hot(TIED, (0, 2), np.argmax)).sum(axis=(0, 2))
    np.testing.assert_array_equal(got, expected)


def _product_of_others(values, axis):
    others = np.empty_like(values)
    for index in np.ndindex(values.shape):
        line = np.take(values, index[1 - axis], axis=1 - axis)
        others[index] = np.prod(np.delete(line, index[axis]))
    return others


def test_prod_gradient_with_zeros_is_exact_and_finite():
    values = np.array([[2.0, 3.0, 4.0], [0.0, 3.0, 5.0], [0.0, 0.0, 7.0]])
    x = f64("x", (None, None))
    got = run([x], th.grad(th.prod(x, axis=1).sum(), x), values)
    np.testing.assert_allclose(got, _product_of_others(values, 1), rtol=1e-15)
    assert np.all(np.isfinite(got))


def test_cumprod_gradient_with_zeros_matches_brute_force():
    values = np.array([1.5, 0.0, 2.0, 0.0, 3.0, -1.0])
    weights = np.array([0.3, -1.0, 2.0, 0.5, 1.5, -0.7])
    x = f64("x", (None,))
    got = run([x], th.grad((th.cumprod(x) * weights).sum(), x), values)
    expected = [
        sum(weights[i] * np.prod(np.delete(values[: i + 1], j)) for i in range(j, len(values)))
        for j in range(len(values))
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-14)


@pytest.mark.parametrize("build", [th.argmax, th.argmin, th.all, th.any])
def test_discrete_reductions_have_no_gradient(build):
    x = f64("x", (None,))
    with pytest.raises(th.DisconnectedInputError):
        th.grad(th.cast(build(x), "float64").sum(), x)


def test_int_operand_of_matmul_gets_no_gradient():
    a, b = th.tensor("a", "int32", (2, 3)), f64("b", (3, 2))
    assert MatMul().L_op([a, b], [a @ b], [th.ones_like(a @ b)])[0] is None


# ---------------------------------------------------------------- R_op against the Jacobian


def _numeric_jvp(fn, points, directions, eps=1e-6):
    plus = fn(*[p + eps * d for p, d in zip(points, directions, strict=True)])
    minus = fn(*[p - eps * d for p, d in zip(points, directions, strict=True)])
    return (np.asarray(plus) - np.asarray(minus)) / (2 * eps)


R = np.random.default_rng(5)
ROP_CASES = [
    ("sum", lambda x: th.sum(x, axis=1), [(3, 4)]),
    ("sum_keepdims", lambda x: th.sum(x, axis=(0, 1), keepdims=True), [(3, 4)]),
    ("mean", lambda x: th.mean(x, axis=0), [(3, 4)]),
    ("max", lambda x: th.max(x, axis=1), [(3, 4)]),
    ("min", lambda x: th.min(x), [(3, 4)]),
    ("prod", lambda x: th.prod(x, axis=0), [(3, 4)]),
    ("var", lambda x: th.var(x, axis=1, ddof=1), [(3, 4)]),
    ("logsumexp", lambda x: th.logsumexp(x, axis=1), [(3, 4)]),
    ("cumsum", lambda x: th.cumsum(x, axis=0), [(3, 4)]),
    ("cumprod", lambda x: th.cumprod(x, axis=1), [(3, 4)]),
    ("matmul", th.matmul, [(3, 4), (4, 2)]),
    ("matmul_batched_broadcast", th.matmul, [(2, 3, 4), (4, 2)]),
    ("matmul_vector", th.matmul, [(4,), (2, 4, 3)]),
    ("dot_matrix_vector", th.dot, [(3, 4), (4,)]),
]


@pytest.mark.parametrize(
    ("build", "shapes"), [c[1:] for c in ROP_CASES], ids=[c[0] for c in ROP_CASES]
)
def test_rop_matches_jacobian_times_vector(build, shapes):
    inputs = [f64(f"x{i}", s) for i, s in enumerate(shapes)]
    directions = [f64(f"v{i}", s) for i, s in enumerate(shapes)]
    points = [R.standard_normal(s) for s in shapes]
    tangents = [R.standard_normal(s) for s in shapes]
    out = build(*inputs)
    jvp = run(inputs + directions, th.Rop(out, inputs, directions), *points, *tangents)
    forward = th.function(inputs, out, backend="numpy")
    np.testing.assert_allclose(jvp, _numeric_jvp(forward, points, tangents), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(
    ("op", "inputs"),
    [
        (Reduce("sum", (1,)), [f64("x", (3, 4))]),
        (Reduce("max", (0, 1)), [f64("x", (3, 4))]),
        (Reduce("min", (0,)), [f64("x", (3, 4))]),
        (Cumulative("sum", 1), [f64("x", (3, 4))]),
        (MatMul(), [f64("a", (3, 4)), f64("b", (4, 2))]),
    ],
    ids=str,
)
def test_ops_with_their_own_rop(op, inputs):
    points = [f64(f"v{i}", x.type.shape) for i, x in enumerate(inputs)]
    (result,) = op.R_op(inputs, points)
    assert result.type.shape == op(*inputs).type.shape


# ---------------------------------------------------------------- numerical accuracy


def test_logsumexp_of_large_values_is_finite_and_right():
    x = th.vector("x", "float64")
    values = np.array([1e4, 1e4, 1e4 - 2.0])
    got = run([x], th.logsumexp(x), values)
    assert got == pytest.approx(1e4 + np.log(2 + np.exp(-2.0)), rel=1e-15)
    grad = run([x], th.grad(th.logsumexp(x), x), values)
    np.testing.assert_allclose(grad, np.exp(values - got), rtol=1e-12)


def test_logsumexp_float32_at_1e4():
    x = th.vector("x", "float32")
    got = run([x], th.logsumexp(x), np.array([1e4, -1e4], dtype="float32"))
    assert got.dtype == np.float32
    assert got == np.float32(1e4)


def test_sum_of_a_million_float32_ones_is_exact():
    x = th.vector("x", "float32")
    got = run([x], th.sum(x), np.ones(10**6, dtype="float32"))
    assert got.dtype == np.float32
    assert got == 1e6


def test_float16_mean_accumulates_in_float32():
    x = th.vector("x", "float16")
    got = run([x], th.mean(x), np.ones(100_000, dtype="float16"))
    assert got.dtype == np.float16
    assert got == 1.0


def test_var_is_two_pass_accurate_with_a_large_offset():
    x = th.vector("x", "float64")
    assert run([x], th.var(x), 1e8 + np.array([0.0, 1.0, 2.0, 3.0])) == 1.25
