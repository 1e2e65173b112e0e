"""keras.ops core: control flow, slices, scatters and casts, eager and compiled, against NumPy."""

import numpy as np
import pytest
from keras_ops_check import check

import theanine as th
from theanine.frontend import ops

RNG = np.random.default_rng(0)
V = RNG.normal(size=5).astype("float32")
M = RNG.normal(size=(3, 4)).astype("float32")


def _scan_reference(init, xs):
    carry, ys = init, []
    for x in xs:
        carry, y = carry + x, carry * x
        ys.append(y)
    return carry, np.stack(ys)


def _prefix_max(x):
    return np.maximum.accumulate(x, axis=0)


CASES = {
    "scan": (lambda c, xs: ops.scan(lambda a, x: (a + x, a * x), c, xs), [np.float32(0.5), V],
             _scan_reference(np.float32(0.5), V)),
    "scan_reverse_nested": (
        lambda c, xs: ops.scan(lambda a, x: ((a[0] + x, a[1] * 2), {"y": a[0]}), c, xs, reverse=True),
        [(np.float32(0), np.float32(1)), V],
        ((V.sum(), np.float32(32)), {"y": np.array([V[i + 1:].sum() for i in range(5)], "float32")})),
    "scan_length_no_y": (lambda c: ops.scan(lambda a, _: (a * 2, None), c, length=3), [M], (M * 8, None)),
    "map": (lambda x: ops.map(lambda row: ops.sum(row * row), x), [M], (M * M).sum(1)),
    "vectorized_map_list": (lambda a, b: ops.vectorized_map(lambda ab: ab[0] - ab[1], [a, b]), [M, M * 2], -M),
    "fori_loop": (lambda x: ops.fori_loop(1, 4, lambda i, v: v * ops.cast(i, "float32"), x), [V], V * 6),
    "fori_loop_tuple": (lambda x: ops.fori_loop(0, 3, lambda i, s: (s[0] + x, s[1] - 1.0), (x, x)), [V],
                        (V * 4, V - 3)),
    "while_loop_bounded": (
        lambda x: ops.while_loop(lambda v: ops.less(ops.sum(v), 100.0), lambda v: v + 1.0, x, maximum_iterations=3),
        [V], V + 3),
    "while_loop_zero_steps": (lambda x: ops.while_loop(lambda v: ops.less(ops.sum(v), -100.0), lambda v: v + 1.0,
                                                       [x]), [V], [V]),
    "associative_scan": (lambda x: ops.associative_scan(lambda a, b: ops.maximum(a, b), x), [M], _prefix_max(M)),
    "associative_scan_axis_reverse": (lambda x: ops.associative_scan(lambda a, b: a + b, x, reverse=True, axis=1),
                                      [M], np.cumsum(M[:, ::-1], 1)[:, ::-1]),
    "switch": (lambda i, x: ops.switch(i, [lambda v: v + 1, lambda v: v * 10, lambda v: -v], x),
               [np.int32(1), V], V * 10),
    "switch_clipped": (lambda i, x: ops.switch(i, [lambda v: v + 1, lambda v: v * 10], x), [np.int32(7), V], V * 10),
    "cond_nested": (lambda p, x: ops.cond(p, lambda: (x, {"a": x * 2}), lambda: (-x, {"a": x})),
                    [np.bool_(False), V], (-V, {"a": V})),
    "slice": (lambda x: ops.slice(x, (1, 1), (2, 3)), [M], M[1:3, 1:4]),
    "slice_update": (lambda x, u: ops.slice_update(x, (1, 0), u), [M, np.ones((2, 2), "float32")],
                     np.concatenate([M[:1], np.concatenate([np.ones((2, 2)), M[1:, 2:]], 1)]).astype("float32")),
    "scatter": (lambda v: ops.scatter(np.array([[0, 1], [2, 3], [0, 1]]), v, (3, 4)), [V[:3]],
                np.array([[0, V[0] + V[2], 0, 0], [0, 0, 0, 0], [0, 0, 0, V[1]]], "float32")),
    "scatter_update": (lambda x, u: ops.scatter_update(x, np.array([[0, 0], [2, 1]]), u), [M, V[:2]],
                       np.where([[1, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]], 0, M)
                       + np.array([[V[0], 0, 0, 0], [0, 0, 0, 0], [0, V[1], 0, 0]], "float32")),
    "scatter_update_max": (lambda x, u: ops.scatter_update(x, np.array([[1], [2]]), u, reduction="max"),
                           [V, np.array([9.0, -9.0], "float32")], np.array([V[0], 9.0, V[2], V[3], V[4]], "float32")),
    "saturate_cast": (lambda x: ops.saturate_cast(x, "uint8"), [np.array([-5.0, 3.7, 300.0], "float32")],
                      np.array([0, 3, 255], "uint8")),
    "saturate_cast_int": (lambda x: ops.saturate_cast(x, "int8"), [np.array([-1000, 5, 1000], "int64")],
                          np.array([-128, 5, 127], "int8")),
    "unstack": (lambda x: ops.unstack(x, axis=1), [M], [M[:, i] for i in range(4)]),
    "get_item": (lambda x: ops.get_item(x, (slice(1, None), 2)), [M], M[1:, 2]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_core_op_matches_numpy(name):
    op, args, expected = CASES[name]
    check(op, args, expected)


def test_while_loop_without_bound_runs_to_its_condition():
    grow = (lambda i, v: ops.less(v, 100.0), lambda i, v: (i + 1, v * 2.0))
    assert [int(a) for a in ops.while_loop(*grow, (0, 3.0))] == [6, 192]
    x = th.fscalar("x")
    steps, value = ops.while_loop(*grow, (th.constant(np.int64(0)), x))
    f = th.function([x], [steps, value])
    assert [float(v) for v in f(np.float32(3.0))] == [6.0, 192.0]
    assert [float(v) for v in f(np.float32(500.0))] == [0.0, 500.0]


def test_fori_loop_with_symbolic_bounds():
    x, n = th.fvector("x"), th.lscalar("n")
    f = th.function([x, n], ops.fori_loop(1, n, lambda i, v: v + ops.cast(i, "float32") * x, ops.zeros_like(x)))
    np.testing.assert_allclose(f(V, 5), V * 10, rtol=1e-6)
    np.testing.assert_allclose(f(V, 1), np.zeros_like(V))


def test_scan_gradient_by_finite_differences():
    def last_carry(init, xs):
        return ops.scan(lambda a, x: (a * x + ops.sin(a), a), init, xs)[0]

    th.verify_grad(last_carry, [RNG.normal(size=3), RNG.normal(size=(4, 3))], rng=RNG)


def test_is_tensor_dtype_and_vectorize():
    assert ops.is_tensor(M) and ops.is_tensor(th.vector()) and not ops.is_tensor([1.0])
    assert ops.dtype(M) == "float32" and ops.dtype(th.lvector()) == "int64"
    scale = ops.vectorize(lambda value, k: value * k, excluded={1})
    np.testing.assert_allclose(scale(M, 3.0), M * 3.0, rtol=1e-6)


@pytest.mark.parametrize(
    "function, signature, args, expected",
    [
        (lambda a, b: ops.maximum(a, b) * 2, None, [M, V[:4]], np.maximum(M, V[:4]) * 2),
        (lambda a, b: ops.sum(a * b), "(n),(n)->()", [M, V[:4]], M @ V[:4]),
        (lambda a: (ops.max(a), ops.flip(a, 0)), "(n)->(),(n)", [M], (M.max(1), M[:, ::-1])),
        (lambda a, b: ops.matmul(a, b), "(m,n),(n,k)->(m,k)", [np.stack([M, M * 2]), np.stack([M.T] * 2)],
         np.stack([M @ M.T, 2 * M @ M.T])),
    ],
)
def test_vectorize_follows_numpy(function, signature, args, expected):
    check(ops.vectorize(function, signature=signature), args, expected, rtol=1e-5)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: ops.scan(1, 0.0, V), TypeError, "f must be callable"),
        (lambda: ops.scan(lambda c, x: (c, x), 0.0), ValueError, "no xs to scan over"),
        (lambda: ops.scan(lambda c, x: c, np.float32(0), V), ValueError, "must return a pair"),
        (lambda: ops.switch(0, []), ValueError, "non-empty list"),
        (lambda: ops.while_loop(lambda v: ops.less(v, 3.0), lambda v: (v, v), th.fscalar(), 2), ValueError,
         "returned 2 state"),
        (lambda: ops.slice(M, (0,), (1, 1)), ValueError, "start_indices has 1 entries"),
        (lambda: ops.scatter_update(M, np.array([[0, 0]]), V[:1], reduction="sum"), ValueError,
         "unsupported reduction 'sum'"),
        (lambda: ops.unstack(th.fmatrix(), axis=0), ValueError, "pass num="),
        (lambda: ops.vectorize(ops.sum, signature="(n)")(M), ValueError, "signature must look like"),
        (lambda: ops.vectorize(ops.add, signature="(n)->()")(M, M), ValueError, "has 1 inputs for 2"),
    ],
)
def test_core_ops_reject_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_custom_gradient_replaces_the_gradient_of_its_value():
    @ops.custom_gradient
    def log1pexp(x):
        e = ops.exp(x)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            return upstream * (1.0 - 1.0 / (1.0 + e))

        return ops.log(1 + e), grad

    @ops.custom_gradient
    def clipped_backward(x):
        return x * 3.0, lambda upstream: ops.clip(upstream, -0.5, 0.5)

    values = np.array([0.0, 100.0, -3.0])
    np.testing.assert_allclose(log1pexp(values), np.log1p(np.exp(values)))
    x = th.dvector("x")
    f = th.function([x], [log1pexp(x), th.grad(ops.sum(log1pexp(x)), x), th.grad(ops.sum(clipped_backward(x)), x)])
    value, slope, clipped = f(values)
    np.testing.assert_allclose(value, np.log1p(np.exp(values)))
    np.testing.assert_allclose(slope, 1 / (1 + np.exp(-values)))  # finite at 100, where autodiff of log(1+e) is nan
    np.testing.assert_array_equal(clipped, [0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="returned 2 gradient"):
        th.grad(ops.sum(ops.custom_gradient(lambda v: (v * 2, lambda g: (g, g)))(x)), x)
