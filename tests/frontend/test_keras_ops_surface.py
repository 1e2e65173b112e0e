"""``keras.ops`` names added for Keras 3.15 parity: cdist, fold/unfold, unique, the complex-valued
ops on arrays, view (bitcast), jvp (forward mode) and the ``ops.numpy`` namespace."""

import numpy as np
import pytest
import scipy.spatial

import theanine as th
from theanine.frontend import ops

RNG = np.random.default_rng(0)


def test_cdist_matches_scipy_and_batches():
    x, y = RNG.normal(size=(2, 4, 3)), RNG.normal(size=(2, 5, 3))
    got = ops.cdist(x, y)
    assert got.shape == (2, 4, 5)
    for b in range(2):
        np.testing.assert_allclose(got[b], scipy.spatial.distance.cdist(x[b], y[b]), rtol=1e-12)
    assert ops.cdist(x[0], x[0]).diagonal().tolist() == [0.0] * 4
    with pytest.raises(ValueError, match="rank >= 2"):
        ops.cdist(np.ones(3), np.ones((2, 3)))


def _unfold_reference(x, kernel, dilation, padding, stride):
    """im2col by loops, PyTorch's layout: rows (c, ki, kj), columns windows in row-major order."""
    n, c, h, w = x.shape
    xp = np.pad(x, [(0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2])
    bh = (h + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    bw = (w + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    out = np.zeros((n, c * kernel[0] * kernel[1], bh * bw))
    for ch in range(c):
        for i in range(kernel[0]):
            for j in range(kernel[1]):
                row = (ch * kernel[0] + i) * kernel[1] + j
                for bi in range(bh):
                    for bj in range(bw):
                        out[:, row, bi * bw + bj] = xp[:, ch, bi * stride[0] + i * dilation[0],
                                                       bj * stride[1] + j * dilation[1]]
    return out


GEOMETRIES = [
    dict(kernel_size=2, stride=2),
    dict(kernel_size=(3, 2), dilation=(1, 2), padding=1, stride=(2, 1)),
    dict(kernel_size=3),
]


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_unfold_is_im2col_and_fold_its_adjoint(geometry):
    x = RNG.normal(size=(2, 3, 7, 6))
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    args = [pair(geometry.get(k, d)) for k, d in (("kernel_size", 1), ("dilation", 1), ("padding", 0), ("stride", 1))]
    columns = ops.unfold(x, **geometry)
    np.testing.assert_allclose(columns, _unfold_reference(x, *args), rtol=1e-12)
    other = RNG.normal(size=columns.shape)
    folded = ops.fold(other, (7, 6), **geometry)
    assert folded.shape == (2, 3, 7, 6)
    np.testing.assert_allclose(np.sum(columns * other), np.sum(x * folded), rtol=1e-10)  # <Ux, c> = <x, U^T c>


def test_fold_sums_overlaps_and_unfold_has_gradients():
    counts = ops.fold(ops.unfold(np.ones((1, 1, 4, 4)), kernel_size=3), (4, 4), kernel_size=3)
    np.testing.assert_array_equal(counts[0, 0], [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]])
    weights = th.constant(RNG.normal(size=(1, 8, 4)))
    th.verify_grad(lambda x: (ops.unfold(x, kernel_size=2, stride=2) * weights).sum(),
                   [RNG.normal(size=(1, 2, 4, 4))], rng=np.random.RandomState(0))
    with pytest.raises(ValueError, match="static second axis divisible by kH\\*kW = 4"):
        ops.fold(np.ones((1, 6, 4)), (4, 4), kernel_size=2, stride=2)
    with pytest.raises(ValueError, match="does not fit"):
        ops.unfold(np.ones((1, 1, 2, 2)), kernel_size=3)


X = np.array([3, 1, 3, 2, 1, 5, 3])


def test_unique_on_arrays_follows_numpy_and_keras_size():
    np.testing.assert_array_equal(ops.unique(X), [1, 2, 3, 5])
    values, index, inverse, counts = ops.unique(X, return_index=True, return_inverse=True, return_counts=True,
                                                size=6, fill_value=-1)
    np.testing.assert_array_equal(values, [1, 2, 3, 5, -1, -1])
    np.testing.assert_array_equal(index, [1, 3, 0, 5, 1, 1])  # padded with the first unique's index, as JAX
    np.testing.assert_array_equal(inverse, [2, 0, 2, 1, 0, 3, 2])
    np.testing.assert_array_equal(counts, [2, 1, 3, 1, 0, 0])
    assert index.dtype == inverse.dtype == counts.dtype == np.int32
    values, counts = ops.unique(X, return_counts=True, size=2)
    np.testing.assert_array_equal(values, [1, 2])
    np.testing.assert_array_equal(counts, [2, 1])
    rows, inverse = ops.unique(np.array([[1, 2], [1, 2], [0, 3]]), axis=0, return_inverse=True)
    np.testing.assert_array_equal(rows, [[0, 3], [1, 2]])
    np.testing.assert_array_equal(inverse, [1, 1, 0])
    assert ops.unique(X.reshape(1, 7), return_inverse=True)[1].shape == (1, 7)


@pytest.mark.parametrize("size", [2, 4, 6])
def test_unique_in_a_graph_needs_size_and_matches_the_eager_form(size):
    v = th.lvector("v")
    outputs = ops.unique(v, return_index=True, return_inverse=True, return_counts=True, size=size, fill_value=-1)
    got = th.function([v], list(outputs))(X)
    expected = ops.unique(X, return_index=True, return_inverse=True, return_counts=True, size=size, fill_value=-1)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)
    assert got[1].dtype == np.int32 and got[2].dtype == np.int32
    empty = th.function([v], list(ops.unique(v, return_counts=True, size=size, fill_value=7)))(np.zeros(0, "int64"))
    np.testing.assert_array_equal(empty[0], [7] * size)
    np.testing.assert_array_equal(empty[1], [0] * size)
    with pytest.raises(ValueError, match="needs a static size and axis=None"):
        ops.unique(v)
    with pytest.raises(ValueError, match="size must be a positive int"):
        ops.unique(X, size=0)


def test_unique_in_a_graph_on_floats_with_ties():
    m = th.matrix("m")
    data = np.array([[0.5, -1.0, 0.5], [2.0, -1.0, 0.25]], "float32")
    values, inverse = th.function([m], list(ops.unique(m, return_inverse=True, size=5)))(data)
    np.testing.assert_array_equal(values, [-1.0, 0.25, 0.5, 2.0, 0.0])
    np.testing.assert_array_equal(values[inverse], data)


def test_complex_ops_on_arrays():
    z = ops.polar(np.array([2.0, 1.0], "float32"), np.array([0.0, np.pi / 2], "float32"))
    assert z.dtype == np.complex64
    np.testing.assert_allclose(z, [2.0, 1j], atol=1e-7)
    np.testing.assert_array_equal(ops.view_as_complex(np.array([[1.0, 2.0], [3.0, 4.0]])), [1 + 2j, 3 + 4j])
    np.testing.assert_array_equal(ops.view_as_real(np.array([1 + 2j, 3 + 4j])), [[1.0, 2.0], [3.0, 4.0]])
    a = RNG.normal(size=(2, 3, 3)).astype("float32")
    values, vectors = ops.eig(a)
    assert values.dtype == vectors.dtype == np.complex64 and values.shape == (2, 3)
    np.testing.assert_allclose(a @ vectors, vectors * values[:, None, :], atol=1e-5)
    with pytest.raises(ValueError, match="last axis of size 2"):
        ops.view_as_complex(np.ones((2, 3)))
    with pytest.raises(ValueError, match="square matrices"):
        ops.eig(np.ones((2, 3)))


@pytest.mark.parametrize("op, args", [(ops.eig, 1), (ops.polar, 2), (ops.view_as_complex, 1)])
def test_complex_ops_refuse_graph_tensors_with_the_reason(op, args):
    with pytest.raises(TypeError, match="theanine's graph tensors are real"):
        op(*[th.matrix("x")] * args)


def test_view_reinterprets_bits_eagerly_and_in_a_graph():
    ints = np.array([1, 2, 65536], "int32")
    np.testing.assert_array_equal(ops.view(ints, "float32"), ints.view("float32"))
    np.testing.assert_array_equal(ops.view(ints, "int16"), ints.view("int16"))
    np.testing.assert_array_equal(ops.view(np.array([1, 2, 3, 4], "int16"), "int32"),
                                  np.array([1, 2, 3, 4], "int16").view("int32"))
    x = th.matrix("x")
    y = ops.view(x * 2, "int32")
    assert y.type.shape == x.type.shape and y.dtype == "int32"
    data = RNG.normal(size=(2, 3)).astype("float32")
    np.testing.assert_array_equal(th.function([x], y + 1)(data), (data * 2).view("int32") + 1)
    with pytest.raises(ValueError, match="does not split into int64 values"):
        ops.view(np.ones(3, "int32"), "int64")


def test_jvp_matches_the_analytic_directional_derivative():
    primal, tangent = ops.jvp(ops.sin, (np.float32(0.1),), (np.float32(0.2),))
    np.testing.assert_allclose([primal, tangent], [np.sin(0.1), 0.2 * np.cos(0.1)], rtol=1e-6)
    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    ta, tb = np.array([0.5, -1.0]), np.array([2.0, 1.0])

    def fun(a, b):
        return {"p": ops.multiply(a, b), "q": ops.sum(ops.exp(a))}, "aux"

    out, tangents, aux = ops.jvp(fun, (a, b), (ta, tb), has_aux=True)
    assert aux == "aux"
    np.testing.assert_allclose(out["p"], a * b)
    np.testing.assert_allclose(tangents["p"], ta * b + a * tb)
    np.testing.assert_allclose(tangents["q"], np.sum(np.exp(a) * ta))


def test_jvp_on_graph_tensors_equals_finite_differences():
    x, t = th.dmatrix("x"), th.dmatrix("t")
    out, tangent = ops.jvp(lambda m: ops.tanh(ops.matmul(m, m)), (x,), (t,))
    f = th.function([x, t], tangent)
    xv, tv = RNG.normal(size=(3, 3)), RNG.normal(size=(3, 3))
    step = 1e-6
    numeric = (np.tanh((xv + step * tv) @ (xv + step * tv)) - np.tanh((xv - step * tv) @ (xv - step * tv))) / (2 * step)
    np.testing.assert_allclose(f(xv, tv), numeric, rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="2 primals but 1 tangents"):
        ops.jvp(ops.add, (1.0, 2.0), (1.0,))


def test_ops_numpy_namespace():
    import theanine.frontend.ops.numpy as knp

    assert ops.numpy.sum is ops.sum and ops.numpy.unique is ops.unique and knp.mean is ops.mean
    np.testing.assert_array_equal(ops.numpy.cumsum(np.array([1, 2, 3])), [1, 3, 6])
