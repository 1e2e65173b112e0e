"""Convolutions and max pooling lower natively and agree with the explicit-loop reference.

Forward convolutions, their input gradients (``ConvTranspose``: GEMM then
col2im) and kernel gradients (``Conv`` graphs) of 1 to 3 spatial axes, with
strides, dilation and every padding kind, and max pooling with its gradient,
compile without a Python fallback; the results match
``tests/conv_reference.py`` (loops over small shapes) and the numpy backend,
also split over two threads and for a batch size other than the one first
seen.
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
        f = th.function([x, k], [y, *th.grad((y**2).sum(), [k, x])])
    assert f.python_fallbacks == []
    rng = np.random.default_rng(rank)
    kv = rng.standard_normal((*taps, 3, 4)).astype(dtype)
    pads = _pads(padding, spatial, taps, strides, dilation)
    tolerance = 1e-4 if dtype == "float32" else 1e-10
    for batch in (5, 2, 0):
        xv = rng.standard_normal((batch, *spatial, 3)).astype(dtype)
        out, dk, dx = f(xv, kv)
        expected = ref.conv(xv.astype("float64"), kv.astype("float64"), strides, pads, dilation)
        np.testing.assert_allclose(out, expected, rtol=tolerance, atol=tolerance)
        reference = th.function([x, k], th.grad((y**2).sum(), [k, x]), backend="numpy")(xv, kv)
        np.testing.assert_allclose(dk, reference[0], rtol=tolerance * 10, atol=tolerance * 10)
        np.testing.assert_allclose(dx, reference[1], rtol=tolerance * 10, atol=tolerance * 10)


POOLS = [
    ((9,), (2,), None, "valid"),
    ((9, 8), (2, 2), None, "valid"),
    ((9, 8), (2, 2), None, "same"),
    ((7, 7), (3, 3), None, "same"),
    ((9, 8), (3, 3), (2, 2), "same"),
    ((9, 8), (2, 3), (1, 2), "valid"),
    ((5, 6, 4), (2, 2, 2), (1, 2, 1), "same"),
    ((8,), (2,), None, "valid"),  # windows that cover the input exactly: one kernel over the windows
    ((8, 6), (2, 3), None, "same"),
    ((4, 6, 4), (2, 2, 2), None, "valid"),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("spatial, pool, strides, padding", POOLS)
def test_max_pool_and_its_gradient_are_native(spatial, pool, strides, padding, threads):
    x = th.tensor("x", "float64", (None, *spatial, 3))
    y = th.max_pool(x, pool, strides=strides, padding=padding)
    weights = th.constant(np.random.default_rng(1).standard_normal(3))
    loss = (y * weights).sum()
    with th.config.context(num_threads=threads):
        f = th.function([x], [y, th.grad(loss, x)])
    assert f.python_fallbacks == []
    reference = th.function([x], [y, th.grad(loss, x)], backend="numpy")
    rng = np.random.default_rng(len(spatial))
    for batch in (4, 1, 0):
        xv = rng.standard_normal((batch, *spatial, 3))
        if xv.size:
            xv.flat[::7] = xv.flat[3]  # ties: the gradient goes to the first maximum
            xv.flat[5] = np.nan  # NaN is the maximum of its windows
        for got, expected in zip(f(xv), reference(xv), strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-12, equal_nan=True)
        expected_pool = ref.max_pool(xv, pool, strides or pool, _pads(padding, spatial, pool, strides or pool,
                                                                      (1,) * len(spatial)), (1,) * len(spatial))
        np.testing.assert_allclose(f(xv)[0], expected_pool, equal_nan=True)


@pytest.mark.parametrize("multiplier", [1, 3])
@pytest.mark.parametrize("strides, padding", [(1, "same"), (2, "valid"), ((1, 2), ((1, 0), (2, 1)))])
def test_depthwise_convolution_is_one_native_kernel(multiplier, strides, padding):
    x = th.tensor("x", "float64", (None, 9, 8, 4))
    k = th.tensor("k", "float64", (3, 3, 4, multiplier))
    y = th.depthwise_conv(x, k, strides=strides, padding=padding)
    f = th.function([x, k], y)
    assert f.python_fallbacks == []
    rng = np.random.default_rng(multiplier)
    xv, kv = rng.standard_normal((3, 9, 8, 4)), rng.standard_normal((3, 3, 4, multiplier))
    expected = th.function([x, k], y, backend="numpy")(xv, kv)
    np.testing.assert_allclose(f(xv, kv), expected, rtol=1e-12)


GROUPED = [
    # spatial sizes, kernel sizes, strides, dilation, padding, groups, input channels, filters
    ((9, 8), (3, 3), (1, 1), (1, 1), "same", 2, 4, 6),
    ((9, 8), (3, 2), (2, 1), (1, 2), "valid", 3, 6, 3),
    ((11,), (3,), (2,), (1,), ((2, 1),), 4, 8, 8),
    ((5, 6, 4), (2, 2, 2), (1, 2, 1), (1, 1, 1), "same", 2, 2, 4),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("spatial, taps, strides, dilation, padding, groups, channels, filters", GROUPED)
def test_a_grouped_conv_is_one_native_batched_gemm(spatial, taps, strides, dilation, padding, groups, channels,
                                                   filters, threads):
    """Groups of several input channels: the patch matrices of every group, one batched GEMM, and a
    gather interleaving the groups' filters; values against the loop reference, batch 0 included."""
    x = th.tensor("x", "float64", (None, *spatial, channels))
    k = th.tensor("k", "float64", (*taps, channels // groups, filters))
    y = th.conv(x, k, strides=strides, padding=padding, dilation=dilation, groups=groups)
    with th.config.context(num_threads=threads):
        f = th.function([x, k], y)
    assert f.python_fallbacks == []
    rng = np.random.default_rng(len(spatial))
    kv = rng.standard_normal((*taps, channels // groups, filters))
    pads = _pads(padding, spatial, taps, strides, dilation)
    for batch in (3, 0):
        xv = rng.standard_normal((batch, *spatial, channels))
        expected = ref.conv(xv, kv, strides, pads, dilation, groups)
        np.testing.assert_allclose(f(xv, kv), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("spatial, taps, strides, dilation, padding, groups, channels, filters", GROUPED)
def test_a_grouped_conv_transpose_is_one_native_batched_gemm(spatial, taps, strides, dilation, padding, groups,
                                                            channels, filters):
    """The adjoint: the input's groups times the kernel's groups (one batched GEMM), then col2im
    from each output channel's group; it is also a grouped convolution's input gradient, whose
    kernel gradient is native as well."""
    y = th.tensor("y", "float64", (None, *spatial, filters))
    k = th.tensor("k", "float64", (*taps, channels // groups, filters))
    out = th.conv_transpose(y, k, strides=strides, padding=padding if isinstance(padding, str) else "valid",
                            dilation=dilation, groups=groups)
    f = th.function([y, k], out)
    assert f.python_fallbacks == []
    rng = np.random.default_rng(len(spatial))
    kv = rng.standard_normal((*taps, channels // groups, filters))
    for batch in (3, 0):
        yv = rng.standard_normal((batch, *spatial, filters))
        expected = th.function([y, k], out, backend="numpy")(yv, kv)
        np.testing.assert_allclose(f(yv, kv), expected, rtol=1e-10, atol=1e-10)
    x = th.tensor("x", "float64", (None, *spatial, channels))
    conv = th.conv(x, k, strides=strides, padding=padding, dilation=dilation, groups=groups)
    gradients = th.grad((conv ** 2).sum(), [x, k])
    gradient = th.function([x, k], gradients)
    assert gradient.python_fallbacks == []  # the kernel gradient too: one batched cols^T @ dy
    xv = rng.standard_normal((2, *spatial, channels))
    expected = th.function([x, k], gradients, backend="numpy")(xv, kv)
    for got, want in zip(gradient(xv, kv), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
