"""3x3 convolutions with unit strides and enough channels lower to Winograd's F(2x2, 3x3).

The forward convolution and its input gradient (a ConvTranspose with unit
strides) take the form (rules/winograd.py): 16 GEMMs between a kernel, an
input and an output transform; the kernel gradient is F(3x3, 2x2) summed
over the output's tiles, reading the forward's input transform.  Values agree with the explicit-loop reference
(tests/conv_reference.py) and the numpy backend for every padding kind, both
float dtypes, one and two threads, and a batch size other than the first;
the bias and ReLU after the convolution run in the output transform's loop.
Convolutions outside the form (strides, dilation, other kernel sizes, few
channels, odd output sizes) keep the im2col GEMM.
"""

import numpy as np
import pytest

import conv_reference as ref
import theanine as th
from theanine.codegen.llvm import scalar as llvm_scalar
from theanine.codegen.program.epilogues import absorb_epilogues
from theanine.codegen.program.kernel_fusion import absorb_consumers
from theanine.codegen.program.kernel_ir import ElementwiseKernel, GemmCall, flat_steps
from theanine.codegen.program.lowering import lower
from theanine.codegen.program.relu_masks import read_relu_outputs
from theanine.graph.ops.conv import Conv, ConvTranspose
from theanine.graph.ops.pool import MaxPool, MaxPoolGrad

RNG = np.random.default_rng(23)

# spatial sizes, channels, filters, padding
CASES = [
    ((8, 6), 16, 16, "same"),
    ((10, 8), 17, 20, "valid"),
    ((7, 9), 16, 24, ((1, 0), (2, 1))),  # explicit pads giving even output sizes from odd inputs
    ((6, 6), 32, 16, ((0, 0), (1, 1))),
    ((4, 4), 8, 9, "same"),
]


def _pads(padding, spatial):
    if padding == "valid":
        return [(0, 0)] * 2
    if padding == "same":
        return ref.same_pads(spatial, (3, 3), (1, 1), (1, 1))
    return list(padding)


def _program(f):
    program = lower(f.fgraph_inputs, f.optimized_outputs, llvm_scalar.supports, shape_arithmetic=True)
    return absorb_consumers(absorb_epilogues(read_relu_outputs(program))[0])


def _gemms_of(steps, op_class) -> int:
    return sum(isinstance(s, GemmCall) and isinstance(s.node.op, op_class) for s in flat_steps(steps))


def _batched_gemms_of(steps, op_class) -> int:
    """Products of ``op_class``'s nodes over 16 stacked matrices."""
    return sum(isinstance(s, GemmCall) and isinstance(s.node.op, op_class) and len(s.a.axes) == 3
               and s.a.axes[0] == 0 for s in flat_steps(steps))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spatial, channels, filters, padding", CASES)
def test_winograd_conv_and_its_input_gradient_match_the_loop_reference(spatial, channels, filters, padding, dtype,
                                                                       threads):
    x = th.tensor("x", dtype, (None, *spatial, channels))
    k = th.tensor("k", dtype, (3, 3, channels, filters))
    y = th.conv(x, k, padding=padding)
    with th.config.context(num_threads=threads):
        f = th.function([x, k], [y, *th.grad((y**2).sum(), [x, k])])
    assert f.python_fallbacks == []
    steps = _program(f).steps
    even = all(n % 2 == 0 for n in spatial)
    assert _batched_gemms_of(steps, Conv) == 2  # the forward's and the kernel gradient's, 16 matrices each
    assert _batched_gemms_of(steps, ConvTranspose) == (1 if even else 0)
    # the forward's kernel and input transforms, the output gradient's tiles; the input gradient's two
    transforms = [s for s in flat_steps(steps) if isinstance(s, ElementwiseKernel) and len(s.outputs) == 16]
    assert len(transforms) == (5 if even else 3)

    reference = th.function([x, k], [y, *th.grad((y**2).sum(), [x, k])], backend="numpy")
    kv = RNG.standard_normal((3, 3, channels, filters)).astype(dtype)
    pads = _pads(padding, spatial)
    tolerance = 2e-5 if dtype == "float32" else 1e-12
    for batch in (3, 1, 0):
        xv = RNG.standard_normal((batch, *spatial, channels)).astype(dtype)
        out, dx, dk = f(xv, kv)
        expected = ref.conv(xv.astype("float64"), kv.astype("float64"), (1, 1), pads, (1, 1))
        scale = max(np.abs(expected).max(initial=0.0), 1.0)
        np.testing.assert_allclose(out, expected, rtol=0, atol=tolerance * scale)
        dx_expected = ref.conv_transpose(2 * expected, kv.astype("float64"), (1, 1), pads, (1, 1))
        np.testing.assert_allclose(dx, dx_expected, rtol=0, atol=tolerance * scale * 10)
        _, dx_numpy, dk_numpy = reference(xv, kv)
        np.testing.assert_allclose(dk, dk_numpy, rtol=tolerance * 10, atol=tolerance * scale * 10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bias_and_relu_run_in_the_output_transform(dtype):
    """The output transform writes its four outputs through views covering the output; the bias add
    and ReLU after the convolution join it, and the convolution's own output is never written."""
    x = th.tensor("x", dtype, (None, 8, 8, 16))
    k, b = th.tensor("k", dtype, (3, 3, 16, 16)), th.tensor("b", dtype, (16,))
    y = th.relu(th.conv(x, k, padding="same") + b)
    f = th.function([x, k, b], y)
    kernels = [s for s in flat_steps(_program(f).steps) if isinstance(s, ElementwiseKernel)]
    assert len(kernels) == 3  # kernel transform, input transform, output transform with the epilogue
    assert len(kernels[-1].out_views) == 4 and "relu" in repr(kernels[-1].exprs)
    xv, kv = RNG.standard_normal((2, 8, 8, 16)).astype(dtype), RNG.standard_normal((3, 3, 16, 16)).astype(dtype)
    bv = RNG.standard_normal(16).astype(dtype)
    expected = np.maximum(ref.conv(xv.astype("float64"), kv.astype("float64"), (1, 1), [(1, 1)] * 2, (1, 1)) + bv, 0)
    np.testing.assert_allclose(f(xv, kv, bv), expected, rtol=0, atol=1e-4 if dtype == "float32" else 1e-11)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_channels_first_convolutions_take_the_form_through_their_transposes(dtype):
    """``data_format="channels_first"`` reaches the same lowering (the op works channels-last between
    two transposes): the forward, input and kernel gradients are Winograd's, with the layout's values."""
    x = th.tensor("x", dtype, (None, 16, 8, 6))
    k = th.tensor("k", dtype, (3, 3, 16, 24))
    y = th.conv(x, k, padding="same", data_format="channels_first")
    f = th.function([x, k], [y, *th.grad((y**2).sum(), [x, k])])
    steps = _program(f).steps
    assert _batched_gemms_of(steps, Conv) == 2 and _batched_gemms_of(steps, ConvTranspose) == 1
    xv, kv = RNG.standard_normal((3, 16, 8, 6)).astype(dtype), RNG.standard_normal((3, 3, 16, 24)).astype(dtype)
    out, dx, dk = f(xv, kv)
    last = np.moveaxis(xv, 1, -1).astype("float64")
    expected = ref.conv(last, kv.astype("float64"), (1, 1), ref.same_pads((8, 6), (3, 3), (1, 1), (1, 1)), (1, 1))
    scale = np.abs(expected).max()
    tolerance = 2e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out, np.moveaxis(expected, -1, 1), rtol=0, atol=tolerance * scale)
    _, dx_numpy, dk_numpy = th.function([x, k], [y, *th.grad((y**2).sum(), [x, k])], backend="numpy")(xv, kv)
    np.testing.assert_allclose(dx, dx_numpy, rtol=0, atol=tolerance * scale * 10)
    np.testing.assert_allclose(dk, dk_numpy, rtol=tolerance * 10, atol=tolerance * scale * 10)


# spatial sizes, kernel sizes, channels, strides, dilation, padding: outside the form
OUTSIDE = [
    ((8, 8), (3, 3), 16, (2, 2), (1, 1), "same"),  # strides
    ((8, 8), (3, 3), 16, (1, 1), (2, 2), "same"),  # dilation
    ((8, 8), (5, 5), 16, (1, 1), (1, 1), "same"),  # kernel size
    ((8, 8), (3, 3), 4, (1, 1), (1, 1), "same"),  # too few channels
    ((7, 7), (3, 3), 16, (1, 1), (1, 1), "same"),  # odd output sizes
]


@pytest.mark.parametrize("spatial, taps, channels, strides, dilation, padding", OUTSIDE)
def test_convolutions_outside_the_form_keep_im2col(spatial, taps, channels, strides, dilation, padding):
    x = th.tensor("x", "float32", (None, *spatial, channels))
    k = th.tensor("k", "float32", (*taps, channels, channels))
    y = th.conv(x, k, strides=strides, dilation=dilation, padding=padding)
    f = th.function([x, k], y)
    assert _gemms_of(_program(f).steps, Conv) == 1
    xv, kv = RNG.standard_normal((2, *spatial, channels)), RNG.standard_normal((*taps, channels, channels))
    xv, kv = xv.astype("float32"), kv.astype("float32")
    pads = ref.same_pads(spatial, taps, strides, dilation)
    expected = ref.conv(xv.astype("float64"), kv.astype("float64"), strides, pads, dilation)
    np.testing.assert_allclose(f(xv, kv), expected, rtol=1e-4, atol=1e-4)


def test_winograd_prints_as_cuda_kernels_too():
    """The transforms and the 16 GEMMs under the CUDA printer (emulated): the numpy backend's values."""
    x = th.tensor("x", "float64", (None, 6, 4, 16))
    k = th.tensor("k", "float64", (3, 3, 16, 16))
    y = th.conv(x, k, padding="same")
    outputs = [y, *th.grad((y**2).sum(), [x])]
    emulated = th.function([x, k], outputs, backend="cuda-emulated")
    assert emulated.python_fallbacks == []
    values = [RNG.standard_normal((2, 6, 4, 16)), RNG.standard_normal((3, 3, 16, 16))]
    expected = th.function([x, k], outputs, backend="numpy")(*values)
    for got, want in zip(emulated(*values), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)



@pytest.mark.parametrize("threads", [1, 2])
def test_pooling_joins_the_output_transform(threads):
    """Conv, bias, ReLU, 2x2 max pool: the pool reads the output transform's four views and runs in
    its loop (``kernel_fusion``, aligned views).  Backwards, the kernel gradient's tile transform
    stays after the input gradient's, where it was lowered: fused into the pooling gradient, its 16
    layers would live across the input gradient.  Values equal the numpy backend's, with ties and
    zeros in the activations."""
    x = th.tensor("x", "float32", (None, 8, 6, 16))
    k, b = th.tensor("k", "float32", (3, 3, 16, 16)), th.tensor("b", "float32", (16,))
    h = th.max_pool(th.relu(th.conv(x, k, padding="same") + b), 2)
    loss = (h**2).sum()
    with th.config.context(num_threads=threads):
        f = th.function([x, k, b], [h, *th.grad(loss, [x, k, b])])
    steps = list(flat_steps(_program(f).steps))
    assert not any(isinstance(s.node.op, MaxPool) for s in steps)  # inside the convolution's kernel
    pool_gradient = [s for s in steps if isinstance(s.node.op, MaxPoolGrad)]
    assert len(pool_gradient) == 1 and len(pool_gradient[0].outputs) == 4
    values = [RNG.standard_normal(s).astype("float32") for s in ((3, 8, 6, 16), (3, 3, 16, 16), (16,))]
    values[0][0, :4, :4] = 0.25  # equal inputs: ties in the pooling windows, zeros after the ReLU
    values[2][:4] = -50.0
    expected = th.function([x, k, b], [h, *th.grad(loss, [x, k, b])], backend="numpy")(*values)
    for got, want in zip(f(*values), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
