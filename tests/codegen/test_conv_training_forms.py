"""The lowering forms a CNN training step takes: values equal the numpy backend's.

- a kernel gradient with few input channels (a first layer) is one small
  GEMM per batch item and their sum (``rules/conv._per_item_kernel_gradient``);
- GEMMs read the output gradient in place, as the matrix of its leading
  axes by its last (``rules/conv._as_matrix``), instead of a copy;
- an elementwise kernel that reads another's output at the same element
  runs in that kernel's loop (``program/kernel_fusion``): max pooling's
  gradient with the ReLU gradient after it, in place or not.
"""

import numpy as np
import pytest

import theanine as th
from theanine.codegen.llvm import scalar as llvm_scalar
from theanine.codegen.program.kernel_fusion import absorb_consumers
from theanine.codegen.program.kernel_ir import (
    Access,
    Arg,
    Buffer,
    Call,
    ElementwiseKernel,
    GemmCall,
    Index,
    Lit,
    Load,
    LoopStep,
    Program,
    ReduceKernel,
    flat_steps,
    uses,
)
from theanine.codegen.program.lowering import lower
from theanine.graph.ops.conv import Conv

RNG = np.random.default_rng(17)

# spatial sizes, kernel sizes, strides, padding: at least 8 patch rows per tap of the one input channel
ONE_CHANNEL = [
    ((40,), (3,), (1,), "same"),
    ((12, 11), (3, 3), (1, 1), "same"),
    ((13, 12), (3, 2), (2, 1), "valid"),
    ((6, 7, 6), (2, 2, 2), (1, 1, 1), "valid"),
]


def _program(f):
    return lower(f.fgraph_inputs, f.optimized_outputs, llvm_scalar.supports, shape_arithmetic=True)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("spatial, taps, strides, padding", ONE_CHANNEL)
def test_one_channel_kernel_gradient_is_a_gemm_per_batch_item(spatial, taps, strides, padding, threads):
    x = th.tensor("x", "float32", (None, *spatial, 1))
    k = th.tensor("k", "float32", (*taps, 1, 5))
    y = th.conv(x, k, strides=strides, padding=padding)
    loss = (y * y).sum()
    with th.config.context(num_threads=threads):
        f = th.function([x, k], [y, *th.grad(loss, [k, x])])
    assert f.python_fallbacks == []
    steps = _program(f).steps
    batched = [s for s in steps if isinstance(s, GemmCall) and len(s.a.axes) == 3]
    assert len(batched) == 1 and any(isinstance(s, ReduceKernel) and s.axes == (0,) for s in steps)
    bias = th.tensor("b", "float32", (5,))
    loss_b = ((y + bias) ** 2).sum()
    f_b = th.function([x, k, bias], th.grad(loss_b, [k, bias]))
    sums = [s for s in _program(f_b).steps if isinstance(s, GemmCall) and len(s.a.axes) == 3]
    assert len(sums) == 2  # the bias gradient: ones times each item's dy, in parallel
    kv, bv = RNG.standard_normal((*taps, 1, 5)).astype("float32"), RNG.standard_normal(5).astype("float32")
    xv = RNG.standard_normal((3, *spatial, 1)).astype("float32")
    reference_b = th.function([x, k, bias], th.grad(loss_b, [k, bias]), backend="numpy")(xv, kv, bv)
    for got, expected in zip(f_b(xv, kv, bv), reference_b, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)
    reference = th.function([x, k], [y, *th.grad(loss, [k, x])], backend="numpy")
    kv = RNG.standard_normal((*taps, 1, 5)).astype("float32")
    for batch in (3, 1, 0):
        xv = RNG.standard_normal((batch, *spatial, 1)).astype("float32")
        for got, expected in zip(f(xv, kv), reference(xv, kv), strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_kernel_gradient_reads_the_output_gradient_in_place():
    """No copy of dy into a matrix: the kernel gradient's and the input gradient's GEMMs read its buffer
    (the latter a chunk of the batch at a time, in a loop that gathers each chunk's product into dx)."""
    x = th.tensor("x", "float32", (None, 6, 5, 3))
    k = th.tensor("k", "float32", (3, 3, 3, 4))
    y = th.conv(x, k, padding="same")
    f = th.function([x, k], th.grad((y * y).sum(), [k, x]))
    program = _program(f)
    gemms = [s for s in flat_steps(program.steps) if isinstance(s, GemmCall)]
    four_d = [a for g in gemms for a in (g.a, g.b) if len(program.buffers[a.buffer].shape) == 4]
    assert len(four_d) >= 2 and all(a.axes == (2, 3) for a in four_d)
    assert any(isinstance(s, LoopStep) for s in program.steps)  # ConvTranspose: a chunk of the batch at a time
    xv = RNG.standard_normal((2, 6, 5, 3)).astype("float32")
    kv = RNG.standard_normal((3, 3, 3, 4)).astype("float32")
    reference = th.function([x, k], th.grad((y * y).sum(), [k, x]), backend="numpy")(xv, kv)
    for got, expected in zip(f(xv, kv), reference, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


# spatial sizes, kernel sizes, strides, dilation, channels, filters
CHANNELS_FIRST = [
    ((9,), (3,), (1,), (1,), 4, 5),
    ((7, 6), (3, 2), (2, 1), (1, 1), 3, 4),
    ((8, 8), (5, 5), (1, 1), (1, 2), 2, 3),
    ((5, 4, 6), (2, 3, 2), (1, 1, 2), (1, 1, 1), 3, 2),
]


@pytest.mark.parametrize("spatial, taps, strides, dilation, channels, filters", CHANNELS_FIRST)
def test_channels_first_gradients_take_the_gemm_forms(spatial, taps, strides, dilation, channels, filters):
    """The gradient's transposes merge with those around a channels_first convolution; the kernel
    gradient still takes its form (one GEMM reading the forward's patch matrix, not a second patch
    matrix of the transposed input gathered across the batch), and the input gradient its loop over
    chunks of the batch (reading a copy of the transposed output gradient)."""
    x = th.tensor("x", "float32", (None, channels, *spatial))
    k = th.tensor("k", "float32", (*taps, channels, filters))
    y = th.conv(x, k, strides=strides, dilation=dilation, padding="same", data_format="channels_first")
    f = th.function([x, k], th.grad((y * y).sum(), [k, x]))
    steps = _program(f).steps
    patches = [s for s in flat_steps(steps) if isinstance(s, ElementwiseKernel)
               and isinstance(s.node.op, Conv) and len(s.shape) == 2 * len(spatial) + 2]
    assert len(patches) == 1
    assert any(isinstance(s, LoopStep) for s in steps)
    xv = RNG.standard_normal((3, channels, *spatial)).astype("float32")
    kv = RNG.standard_normal((*taps, channels, filters)).astype("float32")
    reference = th.function([x, k], th.grad((y * y).sum(), [k, x]), backend="numpy")(xv, kv)
    for got, expected in zip(f(xv, kv), reference, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_a_grouped_kernel_gradient_takes_the_gemm_form_in_either_layout(data_format):
    """A grouped convolution's three products (forward, kernel and input gradients) are GEMMs in
    either layout: the transposes of channels_first merge with the kernel gradient's own."""
    shape = (8, 7, 6) if data_format == "channels_last" else (6, 8, 7)
    x = th.tensor("x", "float32", (None, *shape))
    k = th.tensor("k", "float32", (3, 3, 2, 6))
    y = th.conv(x, k, padding="same", groups=3, data_format=data_format)
    f = th.function([x, k], th.grad((y * y).sum(), [k, x]))
    assert sum(isinstance(s, GemmCall) for s in flat_steps(_program(f).steps)) == 3
    xv, kv = RNG.standard_normal((2, *shape)).astype("float32"), RNG.standard_normal((3, 3, 2, 6)).astype("float32")
    reference = th.function([x, k], th.grad((y * y).sum(), [k, x]), backend="numpy")(xv, kv)
    for got, expected in zip(f(xv, kv), reference, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("threads", [1, 2])
def test_cnn_step_with_fused_pool_and_relu_gradients_matches_numpy(threads):
    """conv, ReLU, max pool, conv, ReLU, max pool, dense: the gradients of every parameter, with ties
    and zeros in the activations (the first maximum takes the gradient; ReLU's is 0 at 0)."""
    x = th.tensor("x", "float32", (None, 12, 12, 1))
    k1 = th.tensor("k1", "float32", (3, 3, 1, 4))
    k2 = th.tensor("k2", "float32", (3, 3, 4, 6))
    b1, b2 = th.tensor("b1", "float32", (4,)), th.tensor("b2", "float32", (6,))
    w = th.tensor("w", "float32", (3 * 3 * 6, 2))
    h = th.max_pool(th.relu(th.conv(x, k1, padding="same") + b1), 2)
    h = th.max_pool(th.relu(th.conv(h, k2, padding="same") + b2), 2)
    loss = ((h.reshape((x.shape[0], 54)) @ w) ** 2).sum()
    params = [k1, b1, k2, b2, w]
    with th.config.context(num_threads=threads):
        f = th.function([x, *params], th.grad(loss, params))
    assert f.python_fallbacks == []
    reference = th.function([x, *params], th.grad(loss, params), backend="numpy")
    values = [RNG.standard_normal((3, 3, 1, 4)), np.array([0.0, 0.1, -0.1, 0.0]),
              RNG.standard_normal((3, 3, 4, 6)) * 0.5, np.zeros(6), RNG.standard_normal((54, 2))]
    values = [v.astype("float32") for v in values]
    for batch in (3, 0):
        xv = RNG.standard_normal((batch, 12, 12, 1)).astype("float32")
        if batch:
            xv[0, :4, :4] = 0.5  # equal activations: ties in the pooling windows
        for got, expected in zip(f(xv, *values), reference(xv, *values), strict=True):
            np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-4)


def _gathering_pair(in_place: bool):
    """A producer that gathers (``t[i] = x[n - 1 - i]``, reversed) and a consumer
    ``out[i] = t[i] * y[i]`` that updates ``y`` in place or writes a new buffer; then ``z = y + 1``."""
    n = 6
    buffers = [Buffer(0, "float64", (n,), "input"), Buffer(1, "float64", (n,), "temp"),
               Buffer(2, "float64", (n,), "temp"), Buffer(3, "float64", (n,), "temp"),
               Buffer(4, "float64", (n,), "temp")]
    copy_y = ElementwiseKernel((Access(0, (0,)),), (2,), (Call("add", (Arg(0, "float64"), Lit(1.0, "float64")),
                                                                     "float64"),), (n,), (), None)
    reversed_x = Load(0, (Call("subtract", (Lit(n - 1, "int64"), Index(0)), "int64"),), (n,), (False,), "float64")
    producer = ElementwiseKernel((Access(0, (0,)),), (1,), (reversed_x,), (n,), (), None)
    target = 2 if in_place else 3
    consumer = ElementwiseKernel((Access(1, (0,)), Access(2, (0,))), (target,),
                                 (Call("multiply", (Arg(0, "float64"), Arg(1, "float64")), "float64"),), (n,), (),
                                 None, reuses=(2,) if in_place else ())
    after = ElementwiseKernel((Access(target, (0,)),), (4,), (Call("add", (Arg(0, "float64"), Lit(1.0, "float64")),
                                                                         "float64"),), (n,), (), None)
    return Program(buffers, [copy_y, producer, consumer, after], [0], [Access(4, (0,))], {})


@pytest.mark.parametrize("in_place", [True, False])
def test_a_consumer_runs_in_its_gathering_producers_loop(in_place):
    """The consumer, then the kernel after it, join the producer's loop; the producer's output and the
    consumer's (in place: a new buffer, not ``y``'s) are read by nothing else and never written."""
    program = absorb_consumers(_gathering_pair(in_place))
    copy_y, fused = program.steps
    assert fused.outputs == (4,) and not fused.reuses
    assert {a.buffer for a in fused.inputs} == {0, 2}
    assert len(program.buffers) == (6 if in_place else 5)


def test_a_consumer_whose_input_changes_in_between_stays_apart():
    program = _gathering_pair(False)
    overwrite = ElementwiseKernel((), (2,), (Lit(0.0, "float64"),), (6,), (), None, reuses=(2,))
    steps = list(program.steps)
    steps.insert(2, overwrite)
    changed = absorb_consumers(Program(program.buffers, steps, [0], program.outputs, {}))
    assert changed.steps[1] == steps[1]  # the producer still writes its output for the consumer


def test_the_forms_print_as_cuda_kernels_too(monkeypatch):
    """The per-item kernel gradient, the bias gradient's batched GEMM, GEMMs reading a 4-d buffer as
    a matrix and the input gradient in chunks of two batch items under the CUDA printer (emulated):
    no host call, the numpy backend's values."""
    from theanine.codegen.program.rules import conv as rules

    monkeypatch.setattr(rules, "TILE_BYTES", 2 * 90 * 27 * 8)
    x = th.tensor("x", "float64", (None, 10, 9, 1))
    k, b = th.tensor("k", "float64", (3, 3, 1, 3)), th.tensor("b", "float64", (3,))
    k2 = th.tensor("k2", "float64", (3, 3, 3, 2))
    h = th.relu(th.conv(x, k, padding="same") + b)
    loss = (th.conv(h, k2, padding="same") ** 2).sum()
    outputs = th.grad(loss, [x, k, b, k2])
    emulated = th.function([x, k, b, k2], outputs, backend="cuda-emulated")
    assert emulated.python_fallbacks == []
    values = [RNG.standard_normal((3, 10, 9, 1)), RNG.standard_normal((3, 3, 1, 3)), RNG.standard_normal(3),
              RNG.standard_normal((3, 3, 3, 2))]
    expected = th.function([x, k, b, k2], outputs, backend="numpy")(*values)
    for got, want in zip(emulated(*values), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


# spatial sizes, kernel sizes, strides, dilation, padding
TRANSPOSES = [
    ((7, 6), (3, 3), (1, 1), (1, 1), "same"),
    ((9,), (4,), (2,), (1,), "same"),
    ((6, 7), (2, 3), (2, 1), (1, 2), "valid"),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("spatial, taps, strides, dilation, padding", TRANSPOSES)
def test_conv_transpose_in_chunks_of_the_batch(spatial, taps, strides, dilation, padding, threads, monkeypatch):
    """Two batch items per iteration (the tile sized for that): batches of 5 (a last, partial chunk),
    2, 1 and 0, for the transposed convolution and the convolution's input gradient."""
    from theanine.codegen.program.rules import conv as rules

    x = th.tensor("x", "float32", (None, *spatial, 3))
    k = th.tensor("k", "float32", (*taps, 3, 4))
    y = th.conv(x, k, strides=strides, padding=padding, dilation=dilation)
    windows = int(np.prod([1 if s is None else s for s in y.type.shape[1:-1]]))
    monkeypatch.setattr(rules, "TILE_BYTES", 2 * windows * int(np.prod(taps)) * 3 * 4)
    outputs = [th.grad((y * y).sum(), x), th.conv_transpose(y, k, strides=strides, padding=padding,
                                                            dilation=dilation)]
    with th.config.context(num_threads=threads):
        f = th.function([x, k], outputs)
    assert f.python_fallbacks == []
    loops = [s for s in _program(f).steps if isinstance(s, LoopStep)]
    assert loops and all(len(s.body) == 2 for s in loops)
    reference = th.function([x, k], outputs, backend="numpy")
    kv = RNG.standard_normal((*taps, 3, 4)).astype("float32")
    for batch in (5, 2, 1, 0):
        xv = RNG.standard_normal((batch, *spatial, 3)).astype("float32")
        for got, expected in zip(f(xv, kv), reference(xv, kv), strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


# input shape, pool size: windows that cover the input exactly, in 1, 2 and 3 spatial dimensions
COVERING_POOLS = [((2, 8, 3), (2,)), ((3, 6, 9, 2), (2, 3)), ((2, 4, 6, 4, 1), (2, 3, 2))]


@pytest.mark.parametrize("shape, pool", COVERING_POOLS)
def test_relu_gradient_runs_in_the_window_pool_gradients_loop(shape, pool):
    """Max pooling's gradient by window writes each tap through a strided view; the ReLU gradient
    after it runs once per view in the same loop (``kernel_fusion._covered_shape``), and the pooling
    gradient itself is never written: values equal the numpy backend's, ties and zeros included."""
    x = th.tensor("x", "float32", (None, *shape[1:]))
    scale = th.tensor("s", "float32", shape[1:])
    loss = (th.max_pool(th.relu(x), pool) ** 2).sum() + (th.relu(x) * scale).sum()
    f = th.function([x, scale], th.grad(loss, [x, scale]))
    assert f.python_fallbacks == []
    steps = absorb_consumers(_program(f)).steps
    pool_steps = [s for s in flat_steps(steps) if type(getattr(s.node, "op", None)).__name__ == "MaxPoolGrad"]
    assert len(pool_steps) == 1 and len(pool_steps[0].out_views) == np.prod(pool)  # one buffer: x's gradient
    assert len(set(pool_steps[0].outputs)) == 1
    assert not any(isinstance(s, ElementwiseKernel) and "greater" in str(s.node.op) for s in flat_steps(steps))
    values = RNG.standard_normal(shape).astype("float32")
    values.reshape(-1)[::5] = 0.0  # ReLU's gradient is 0 at 0; windows of equal zeros tie
    s = RNG.standard_normal(shape[1:]).astype("float32")
    reference = th.function([x, scale], th.grad(loss, [x, scale]), backend="numpy")
    for got, expected in zip(f(values, s), reference(values, s), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape, pool", COVERING_POOLS)
def test_channels_first_max_pooling_reads_its_input_through_strided_views(shape, pool):
    """The channels-last view of a channels_first input is a transpose of its buffer; the taps of
    windows covering it are strided views of that buffer all the same (no gathers), for the forward
    pooling and its gradient."""
    layout = (0, len(shape) - 1, *range(1, len(shape) - 1))
    x = th.tensor("x", "float32", (None, *(shape[a] for a in layout[1:])))
    y = th.max_pool(x, pool, data_format="channels_first")
    f = th.function([x], th.grad((y * y).sum(), x))
    pooling = [s for s in flat_steps(absorb_consumers(_program(f)).steps) if "Pool" in type(s.node.op).__name__]
    assert pooling and all(not uses(s.exprs, (Load,)) for s in pooling)
    reads_of_x = [a for s in pooling for a in s.inputs if a.buffer == 0]
    assert len(reads_of_x) >= np.prod(pool) and all(a.steps == (1, *pool, 1) for a in reads_of_x)
    values = RNG.standard_normal(shape).astype("float32").transpose(layout).copy()
    values.reshape(-1)[::7] = 0.0  # windows of equal zeros tie
    expected = th.function([x], th.grad((y * y).sum(), x), backend="numpy")(values)
    np.testing.assert_allclose(f(values), expected, rtol=1e-6, atol=1e-6)


def test_a_reshaping_consumer_stays_out_of_the_window_pool_gradients_loop():
    """TimeDistributed pooling: the pooling gradient of the folded (N * T, H, W, C) frames is copied
    into (N, T, H, W, C), a kernel that writes in loop order, which no strided view of the pooling
    gradient's windows can express: it stays a kernel of its own (fused, it wrote out of bounds)."""
    x = th.tensor("x", "float32", (None, 4, 8, 8, 3))
    frames = th.reshape(x, (-1, 8, 8, 3))
    pooled = th.max_pool(th.relu(frames), 2)
    loss = (th.reshape(pooled, (x.shape[0], 4, 4, 4, 3)) ** 2).sum()
    f = th.function([x], th.grad(loss, x))
    values = RNG.standard_normal((3, 4, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(f(values), th.function([x], th.grad(loss, x), backend="numpy")(values),
                               rtol=1e-6, atol=1e-6)
