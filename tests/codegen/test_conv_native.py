"""Convolutions lower natively (im2col into BLAS GEMM) and agree with the explicit-loop reference.

Forward convolutions and the kernel gradients (themselves ``Conv`` graphs) of
1 to 3 spatial axes, with strides, dilation and every padding kind, compile
without a Python fallback for ``Conv``; the results match
``tests/conv_reference.py`` (loops over small shapes), also split over two
threads and for a batch size other than the one first seen.
"""

import numpy as np
import pytest

import conv_reference as ref
import theanine as th

CASES = [
    # spatial sizes, kernel sizes, strides, dilation, padding
    ((11,), (3,), (1,), (1,), "valid"),
    ((11,), (4,), (2,), (1,), "same"),
    ((9, 8), (3, 3), (1, 1), (1, 1), "same"),
    ((9, 8), (3, 2), (2, 1), (1, 2), "valid"),
    ((9, 8), (2, 3), (1, 1), (1, 1), ((2, 0), (1, 3))),
    ((5, 6, 4), (3, 2, 2), (1, 2, 1), (1, 1, 2), "same"),
]


def _pads(padding, spatial, kernel, strides, dilation):
    if padding == "valid":
        return [(0, 0)] * len(spatial)
    if padding == "same":
        return ref.same_pads(spatial, kernel, strides, dilation)
    return list(padding)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spatial, taps, strides, dilation, padding", CASES)
def test_conv_is_native_and_matches_the_loop_reference(spatial, taps, strides, dilation, padding, dtype, threads):
    rank = len(spatial)
    x = th.tensor("x", dtype, (None, *spatial, 3))
    k = th.tensor("k", dtype, (*taps, 3, 4))
    y = th.conv(x, k, strides=strides, padding=padding, dilation=dilation)
    with th.config.context(num_threads=threads):
        f = th.function([x, k], [y, th.grad((y**2).sum(), k)])
    assert [type(n.op).__name__ for n in f.python_fallbacks if type(n.op).__name__ == "Conv"] == []
    rng = np.random.default_rng(rank)
    kv = rng.standard_normal((*taps, 3, 4)).astype(dtype)
    pads = _pads(padding, spatial, taps, strides, dilation)
    tolerance = 1e-4 if dtype == "float32" else 1e-10
    for batch in (5, 2):
        xv = rng.standard_normal((batch, *spatial, 3)).astype(dtype)
        out, dk = f(xv, kv)
        expected = ref.conv(xv.astype("float64"), kv.astype("float64"), strides, pads, dilation)
        np.testing.assert_allclose(out, expected, rtol=tolerance, atol=tolerance)
        reference_grad = th.function([x, k], th.grad((y**2).sum(), k), backend="numpy")(xv, kv)
        np.testing.assert_allclose(dk, reference_grad, rtol=tolerance * 10, atol=tolerance * 10)
