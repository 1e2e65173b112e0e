"""Every BLAS-backed op agrees with NumPy over every memory layout of its operands, under every backend.

Layouts: C order, Fortran order, a transposed view, negative strides, a
sliced view with a gap, and 0- and 1-size dimensions; each operand of each
product takes each layout (both call paths: the native fast call and the
Python one).  BLAS itself must never see an argument it would reject: its
error handler prints to stderr, which is checked to stay silent.
"""

import itertools

import numpy as np
import pytest

import theanine as th

BACKENDS = ["llvm", "numpy"]


def _c(a):
    return np.ascontiguousarray(a)


def _fortran(a):
    return np.asfortranarray(a)


def _transposed_view(a):
    return np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2) if a.ndim >= 2 else a


def _reversed(a):
    flip = (slice(None, None, -1),) * a.ndim
    return np.ascontiguousarray(a[flip])[flip]


def _gap(a):
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype) if a.ndim else a.copy()
    big[..., ::2] = a
    return big[..., ::2]


LAYOUTS = {"C": _c, "F": _fortran, "T": _transposed_view, "reversed": _reversed, "gap": _gap}

# name -> (builder of the symbolic result from inputs, NumPy reference, operand shapes per case)
PRODUCTS = {
    "matmul": (lambda a, b: a @ b, np.matmul,
               [((5, 4), (4, 3)), ((0, 4), (4, 3)), ((5, 0), (0, 3)), ((1, 4), (4, 1)), ((40, 30), (30, 40)),
                ((64, 64), (64, 4))]),
    "matrix_vector": (lambda a, b: a @ b, np.matmul, [((6, 5), (5,)), ((1, 5), (5,)), ((0, 5), (5,))]),
    "vector_matrix": (lambda a, b: th.dot(a, b), np.dot, [((5,), (5, 6)), ((5,), (5, 1))]),
    "batched": (lambda a, b: a @ b, np.matmul, [((3, 5, 4), (3, 4, 2)), ((1, 5, 4), (1, 4, 2)), ((3, 5, 4), (4, 2)),
                                                 ((0, 5, 4), (0, 4, 2))]),
    "tensordot": (lambda a, b: th.tensordot(a, b, axes=([2], [0])),
                  lambda a, b: np.tensordot(a, b, axes=([2], [0])), [((3, 5, 4), (4, 6))]),
    "gemm": (lambda a, b: 0.5 * (a @ b) + th.ones_like(a @ b) * 2.0,
             lambda a, b: 0.5 * (a @ b) + 2.0, [((7, 6), (6, 5)), ((0, 6), (6, 5))]),
    "gemv_bias": (lambda a, b: a @ b + 1.5, lambda a, b: a @ b + 1.5, [((7, 6), (6,))]),
}


def _cases():
    for name, (_, _, shapes) in PRODUCTS.items():
        for case, (sa, sb) in enumerate(shapes):
            for dtype in ("float32", "float64"):
                yield pytest.param(name, sa, sb, dtype, id=f"{name}-{case}-{dtype}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, shape_a, shape_b, dtype", list(_cases()))
def test_every_layout_of_every_operand(backend, name, shape_a, shape_b, dtype, capfd):
    build, reference, _ = PRODUCTS[name]
    a = th.tensor("a", dtype, (None,) * len(shape_a))
    b = th.tensor("b", dtype, (None,) * len(shape_b))
    f = th.function([a, b], build(a, b), backend=backend)
    rng = np.random.default_rng(len(shape_a) * 10 + len(shape_b))
    va = rng.standard_normal(shape_a).astype(dtype)
    vb = rng.standard_normal(shape_b).astype(dtype)
    expected = reference(va.astype("float64"), vb.astype("float64"))
    tolerance = 2e-4 if dtype == "float32" else 1e-10
    for (la, lay_a), (lb, lay_b) in itertools.product(LAYOUTS.items(), LAYOUTS.items()):
        xa, xb = lay_a(va), lay_b(vb)
        np.testing.assert_array_equal(xa, va)
        for got in (f(xa, xb), f(a=xa, b=xb)):
            assert got.shape == expected.shape, (la, lb)
            np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance, err_msg=f"{la} @ {lb}")
    assert "illegal value" not in capfd.readouterr().err


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_shared_weights_with_any_layout(layout):
    """A shared matrix set from a view of any layout, read by a GEMM with an update."""
    rng = np.random.default_rng(5)
    value = rng.standard_normal((6, 4)).astype("float32")
    original = value.copy()  # borrow=True: W may keep (and update in) the C-order array itself
    W = th.shared(np.zeros((6, 4), "float32"), name="W")
    W.set_value(LAYOUTS[layout](value), borrow=True)
    x = th.matrix("x")
    step = th.function([x], x @ W, updates=[(W, W * 2)])
    inputs = rng.standard_normal((3, 6)).astype("float32")
    np.testing.assert_allclose(step(inputs), inputs @ original, rtol=1e-5)
    np.testing.assert_allclose(W.get_value(), original * 2)
