"""Lowering rules of the convolution and its transpose (graph/ops/conv.py): im2col / col2im and BLAS GEMM.

``Conv`` (channels-last, groups of one) becomes three steps:

1. an elementwise kernel over ``(N, *O, *K, C)`` that writes the patch
   matrix ``cols`` of shape ``(N * prod(O), prod(K) * C)`` densely: element
   ``(n, o, k, c)`` reads ``x[n, o * stride + k * dilation - lo, c]``, or 0
   where that coordinate falls in the padding (the read itself is clamped
   into the input, so no address leaves it);
2. the kernel ``(*K, C, F)`` copied into a ``(prod(K) * C, F)`` matrix (it may
   be a view: the kernel gradient's is the output gradient transposed);
3. one ``GemmCall`` ``cols @ kernel`` written straight into the
   ``(N, *O, F)`` output, which is that product's row-major layout.

3x3 convolutions with unit strides and enough channels, their input and
kernel gradients included, take Winograd's form instead (``rules/winograd``).
A grouped convolution is one batched GEMM over the groups
(``_lower_grouped``), a depthwise one a direct kernel.  A kernel gradient
with few input channels is one GEMM per batch item (``_per_item_kernel_gradient``),
and ConvTranspose multiplies and gathers a chunk of the batch at a time
(``_tiled_transpose``).  Everything is in
the kernel program, so every printer gets it.  Inputs whose spatial sizes
are not known to be positive when the graph is built (padding only, or
run-time padding vectors) are left to ``perform`` as host calls.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from theanine.codegen.program import shape_exprs as S
from theanine.codegen.program.expressions import call, cast
from theanine.codegen.program.kernel_ir import (
    Access,
    Arg,
    ElementwiseKernel,
    Expr,
    GemmCall,
    Index,
    Lit,
    Load,
    LoopStep,
    ReduceKernel,
    ValueOf,
)
from theanine.codegen.program.lowering import Lowerer, compose, lowering
from theanine.codegen.program.rules import winograd
from theanine.codegen.program.rules.views import vector_entries
from theanine.codegen.program.rules.windows import all_of, as_int64, read_or, window_coords
from theanine.graph.basic import Apply
from theanine.graph.ops.conv import Conv, ConvTranspose
from theanine.graph.ops.dimshuffle import DimShuffle
from theanine.graph.ops.reduce import Reduce
from theanine.graph.ops.reshape import Reshape

TILE_BYTES = 1 << 22
"""The patch rows a ConvTranspose multiplies and gathers per iteration (``_tiled_transpose``).  On
the 2-core development VM (1 MiB L2 per core, 32 MiB L3), the CNN step of tests/benchmarks/bench_conv.py
took 12.3-12.8 ms with 4 MiB chunks, 12.6-13.3 untiled, 13.3-13.4 with 0.5-1 MiB (a barrier per step
per iteration) and 13.0 with 8 MiB."""

PER_ITEM_DEPTH_RATIO = 8
"""A kernel gradient runs one GEMM per batch item when its patch rows per item are at least this
many times its depth (taps times input channels): the partial products, ``N * depth * F``, are then
at most an eighth of the output gradient (a first layer's few channels)."""


@lowering(Conv)
def _lower_conv(lowerer: Lowerer, node: Apply) -> bool:
    x, kernel, pads = node.inputs
    (out,) = node.outputs
    op = node.op
    rank = op.rank
    spatial = x.type.shape[1:-1]
    if not all(isinstance(n, int) and n > 0 for n in spatial):
        return False
    if op.groups != 1 and kernel.type.shape[-2] == 1:
        return _lower_depthwise(lowerer, node)
    if not lowerer.supports("gemm", (x.dtype, x.dtype), x.dtype):
        return False
    if op.groups != 1:
        x_source = _grouped_kernel_gradient_source(node)
        if x_source is not None:
            g = _before(lowerer, kernel, (*range(1, rank + 1), 0, rank + 1))
            return _lower_grouped_kernel_gradient(lowerer, node, x_source, g)
        return _lower_grouped(lowerer, node)
    if _is_kernel_gradient(node):
        return _lower_kernel_gradient(lowerer, node)
    pad_entries = vector_entries(lowerer, pads)
    lows, highs = pad_entries[0::2], pad_entries[1::2]
    x_shape, k_shape = lowerer.shape(x), lowerer.shape(kernel)
    batch, taps, channels, filters = x_shape[0], k_shape[:rank], x_shape[-1], k_shape[-1]
    outputs = [
        static if static is not None else S.add(S.floordiv(S.sub(S.add(S.add(n, lo), hi), S.add(
            S.mul(op.dilation[i], S.sub(k, 1)), 1)), op.strides[i]), 1)
        for i, (static, n, lo, hi, k) in enumerate(zip(out.type.shape[1:-1], spatial, lows, highs, taps, strict=True))
    ]
    checks = ((k_shape[-2], channels),) if k_shape[-2] != channels else ()
    if winograd.applies(op, kernel.type.shape[:rank], lows, x.type.shape[-1], out.type.shape[-1], outputs, x.dtype):
        return winograd.lower(lowerer, node, x, kernel, lows, outputs,
                              lambda i, j: (Lit(i, "int64"), Lit(j, "int64"), Index(0), Index(1)), checks)
    out_shape = (batch, *outputs, filters)
    rows, depth = S.product([batch, *outputs]), S.product([*taps, channels])

    cols = _patches(lowerer, node, x, outputs, taps, op.strides, op.dilation, lows)

    matrix = lowerer.new_buffer(kernel.dtype, (depth, filters), "temp", 2)
    lowerer.steps.append(ElementwiseKernel((lowerer.ref(kernel),), (matrix,), (Arg(0, kernel.dtype),),
                                           tuple(k_shape), checks, node))
    index = lowerer.bind_new(out, out_shape)
    lowerer.steps.append(GemmCall(Access(cols, (1, 2)), Access(matrix, (0, 1)), index, out.dtype, rows, filters,
                                  depth, depth, node))
    return True



def _patches(lowerer: Lowerer, node: Apply, x, windows, taps, strides, dilation, lows) -> int:
    """The patch matrix of channels-last ``x``, one per batch item, ``(N, prod(windows), prod(taps) * C)``:
    element ``(n, o, k, c)`` is ``x[n, o * stride + k * dilation - lo, c]``, 0 in the padding (the read
    is clamped into ``x``).  GEMMs read it as the one ``(N * prod(windows), prod(taps) * C)`` matrix
    (its last two axes; see ``_as_matrix``) or per batch item.  Written once per program: the kernel
    gradient reads the forward's."""
    rank = len(taps)
    x_shape = lowerer.shape(x)
    batch, channels = x_shape[0], x_shape[-1]
    coords, inside = window_coords([Index(1 + i) for i in range(rank)], [Index(1 + rank + i) for i in range(rank)],
                                   strides, dilation, lows, x.type.shape[1:-1], Index(1 + 2 * rank))
    value = read_or(0, x_shape, x.dtype, coords, inside, cast(Lit(0, "int64"), x.dtype))
    cols = lowerer.new_buffer(x.dtype, (batch, S.product(list(windows)), S.product([*taps, channels])), "temp", 3)
    (cols,) = lowerer.computed_once(ElementwiseKernel((lowerer.plain_ref(x),), (cols,), (value,),
                                                      (batch, *windows, *taps, channels), (), node))
    return cols


def _per_item(windows, taps, channels) -> bool:
    """Whether a kernel gradient of these sizes runs one GEMM per batch item (``PER_ITEM_DEPTH_RATIO``)."""
    return isinstance(channels, int) and math.prod(windows) >= PER_ITEM_DEPTH_RATIO * math.prod(taps) * channels


def _as_matrix(lowerer: Lowerer, node: Apply, var, rows, columns, checks=()) -> Access:
    """A GEMM operand reading channels-last ``var`` as the ``(rows, columns)`` matrix of its leading
    axes by its last.  A whole, untransposed buffer is read in place: GEMM operands are C-contiguous
    (``kernel_ir.dense_buffers``), so its rows follow one another at the stride of its second-to-last
    axis, as a GEMM's N-d output's do (the access names those last two axes); anything else is
    copied into a matrix first."""
    access = lowerer.ref(var)
    if not checks and var.ndim >= 2 and access.plain and access.axes == tuple(range(var.ndim)):
        return Access(access.buffer, (var.ndim - 2, var.ndim - 1))
    matrix = lowerer.new_buffer(var.dtype, (rows, columns), "temp", 2)
    lowerer.steps.append(ElementwiseKernel((access,), (matrix,), (Arg(0, var.dtype),), tuple(lowerer.shape(var)),
                                           tuple(checks), node))
    return Access(matrix, (0, 1))


def _is_kernel_gradient(node: Apply) -> bool:
    """The kernel gradient's form (graph/ops/conv.kernel_gradient, one group): a Conv of ``x`` with
    its batch and channel axes swapped by the output gradient laid out ``(*O, N, F)``.  Both are
    transposes, which the graph's rewrites may have merged with transposes before them (those of
    a ``channels_first`` convolution): any transposes take the form (``_before``)."""
    return all(_is_transpose(v) for v in node.inputs[:2])


def _is_transpose(var) -> bool:
    """Whether ``var`` is a DimShuffle that only reorders axes."""
    shuffle = var.owner
    return (isinstance(getattr(shuffle, "op", None), DimShuffle) and "x" not in shuffle.op.pattern
            and len(shuffle.op.pattern) == shuffle.inputs[0].ndim)


def _before(lowerer: Lowerer, var, pattern: tuple[int, ...]):
    """The variable that the transpose ``pattern`` made ``var`` of (``var`` is a transpose): the
    transpose's input, or, where ``pattern`` is not the whole transpose, a view of that input
    which ``pattern`` completes, lowered here."""
    shuffle = var.owner
    source = shuffle.inputs[0]
    earlier = tuple(shuffle.op.pattern[pattern.index(axis)] for axis in range(len(pattern)))
    if earlier == tuple(range(len(pattern))):
        return source
    view = DimShuffle(earlier)(source)
    lowerer.lower_node(view.owner)
    lowerer.made.append(view)
    return view


def _lower_kernel_gradient(lowerer: Lowerer, node: Apply) -> bool:
    """``dk = cols(x)^T @ g``: the forward convolution's patch matrix of the original ``x`` (its
    strides and dilation are this Conv's dilation and strides), transposed into one GEMM with the
    output gradient as an ``(N * prod(O), F)`` matrix, then laid out as this node's ``(C, *K, F)``.
    Read as a plain Conv, the patches would gather ``x`` across the batch axis, element by element."""
    op = node.op
    rank = op.rank
    x = _before(lowerer, node.inputs[0], (rank + 1, *range(1, rank + 1), 0))
    g = _before(lowerer, node.inputs[1], (*range(1, rank + 1), 0, rank + 1))
    (out,) = node.outputs
    spatial, windows, taps = x.type.shape[1:-1], g.type.shape[1:-1], out.type.shape[1:-1]
    if not all(isinstance(n, int) and n > 0 for n in (*spatial, *windows, *taps)):
        return False
    lows = vector_entries(lowerer, node.inputs[2])[0::2]
    x_shape, g_shape = lowerer.shape(x), lowerer.shape(g)
    batch, channels, filters = x_shape[0], x_shape[-1], g_shape[-1]
    rows, depth = S.product([batch, *windows]), S.product([*taps, channels])
    checks = ((g_shape[0], batch),) if g_shape[0] != batch else ()
    sizes = (batch, math.prod(windows), depth, filters)
    if x.dtype == g.dtype == out.dtype and winograd.applies(op, taps, lows, x.type.shape[-1], g.type.shape[-1],
                                                            windows, out.dtype):
        g_items = _items(lowerer, node, g, sizes, checks, False)
        winograd.lower_kernel_gradient(lowerer, node, x, g, lows, lowerer.bind_new(out, (channels, *taps, filters)))
        _bias_gradient(lowerer, node, g, g_items, sizes)
        return True

    per_item = _per_item(windows, taps, x.type.shape[-1])
    cols = _patches(lowerer, node, x, windows, taps, op.dilation, op.strides, lows)
    product = lowerer.new_buffer(out.dtype, (depth, filters), "temp", 2)
    g_items = _items(lowerer, node, g, sizes, checks, per_item)
    if per_item:
        _per_item_kernel_gradient(lowerer, node, cols, g_items, product, sizes)
    else:
        g_matrix = _as_matrix(lowerer, node, g, rows, filters, checks)
        lowerer.steps.append(GemmCall(Access(cols, (2, 1)), g_matrix, product, out.dtype, depth, filters, rows,
                                      rows, node))
    if out.dtype == g.dtype:
        _bias_gradient(lowerer, node, g, g_items, sizes)
    out_shape = (channels, *taps, filters)
    index = lowerer.bind_new(out, out_shape)
    row = _linear([*(Index(1 + a) for a in range(rank)), Index(0)], [*taps, channels])
    lowerer.steps.append(ElementwiseKernel(
        (Access(product, (0, 1)),), (index,), (Load(0, (row, Index(1 + rank)), (depth, filters), (False, False),
                                                     out.dtype),), out_shape, (), node))
    return True


def _per_item_kernel_gradient(lowerer: Lowerer, node: Apply, cols: int, g_items: Access, product: int,
                              sizes) -> None:
    """``product = sum over n of cols[n]^T @ g[n]``: one small GEMM per batch item (the batch split
    across threads), then their sum.  The one GEMM over every row would have an inner dimension of
    ``N * prod(O)`` and an output of ``depth * F`` elements too few to share between threads."""
    batch, windows, depth, filters = sizes
    dtype = node.outputs[0].dtype
    partial = lowerer.new_buffer(dtype, (batch, depth, filters), "temp", 3)
    lowerer.steps.append(GemmCall(Access(cols, (0, 2, 1)), g_items, partial, dtype, depth, filters, windows,
                                  windows, node))
    lowerer.steps.append(ReduceKernel((Access(partial, (0, 1, 2)),), Arg(0, dtype), product, (0,), "add", dtype,
                                      (batch, depth, filters), (), node))


def _items(lowerer: Lowerer, node: Apply, g, sizes, checks, copy: bool) -> Access | None:
    """``g`` as ``(N, prod(O), F)`` matrices, one per batch item: its buffer read in place when whole,
    else (with ``copy``) a copy; None when it would need a copy and ``copy`` is false."""
    batch, windows, _, filters = sizes
    access = lowerer.ref(g)
    if not checks and access.plain and access.axes == tuple(range(g.ndim)):
        return Access(access.buffer, (0, g.ndim - 2, g.ndim - 1))
    if not copy:
        return None
    items = lowerer.new_buffer(g.dtype, (batch, windows, filters), "temp", 3)
    lowerer.steps.append(ElementwiseKernel((access,), (items,), (Arg(0, g.dtype),), tuple(lowerer.shape(g)),
                                           tuple(checks), node))
    return Access(items, (0, 1, 2))


def _bias_gradient(lowerer: Lowerer, node: Apply, g, g_items: Access | None, sizes) -> None:
    """When a Reduce sums ``g`` over all but its last axis (the bias gradient of the convolution),
    compute that sum here as a row of ones times each item's ``g`` (a batched GEMM, split across
    threads) and their sum, for the Reduce to read (``Lowerer.known_sum``): a reduction that keeps
    the last axis runs on one thread."""
    batch, windows, _, filters = sizes
    axes = tuple(range(g.ndim - 1))
    dtype = g.dtype
    if g_items is None or not dtype.startswith("float") or not any(
            isinstance(c.op, Reduce) and c.op.kind == "sum" and tuple(c.op.axes) == axes
            and id(c.outputs[0]) not in lowerer.refs for c in lowerer.clients.get(id(g), ())):
        return  # no such Reduce, or it ran already
    ones = lowerer.new_buffer(dtype, (1, windows), "temp", 2)
    lowerer.steps.append(ElementwiseKernel((), (ones,), (cast(Lit(1, "int64"), dtype),), (1, windows), (), node))
    sums = lowerer.new_buffer(dtype, (batch, 1, filters), "temp", 3)
    lowerer.steps.append(GemmCall(Access(ones, (None, 0, 1)), g_items, sums, dtype, 1, filters, windows, windows,
                                  node))
    total = lowerer.new_buffer(dtype, (filters,), "temp", 1)
    lowerer.steps.append(ReduceKernel((Access(sums, (0, 2)),), Arg(0, dtype), total, (0,), "add", dtype,
                                      (batch, filters), (), node))
    lowerer.remember_sum(g, axes, Access(total, (0,)))


def _grouped_kernel_gradient_source(node: Apply):
    """``x`` when ``node`` is a grouped convolution's kernel gradient (graph/ops/conv.kernel_gradient):
    ``x`` reshaped to ``(N, *S, G, C/G)``, its channel and batch axes swapped and folded into
    ``(C/G, *S, G * N)``, convolved with ``g`` laid out ``(*O, N, F)`` by a transpose (which may
    have merged with those of a ``channels_first`` convolution: ``_before``)."""
    x_side, kernel = node.inputs[:2]
    rank = node.op.rank
    folded = x_side.owner
    if folded is None or not isinstance(folded.op, Reshape):
        return None
    swap = folded.inputs[0].owner
    if swap is None or not isinstance(swap.op, DimShuffle) or \
            tuple(swap.op.pattern) != (rank + 2, *range(1, rank + 1), rank + 1, 0):
        return None
    split = swap.inputs[0].owner
    if split is None or not isinstance(split.op, Reshape) or split.inputs[0].ndim != rank + 2:
        return None
    return split.inputs[0] if _is_transpose(kernel) else None


def _lower_grouped_kernel_gradient(lowerer: Lowerer, node: Apply, x, g) -> bool:
    """``dk`` of a grouped convolution: per group, ``cols_g(x)^T @ g_g`` (one batched GEMM), where
    ``cols_g`` is the forward convolution's patch matrix of the group's input channels, then laid
    out as this node's ``(C/G, *K, F)``."""
    op, rank, groups = node.op, node.op.rank, node.op.groups
    (out,) = node.outputs
    spatial, windows, taps = x.type.shape[1:-1], g.type.shape[1:-1], out.type.shape[1:-1]
    per_group_in, filters = out.type.shape[0], g.type.shape[-1]
    if not all(isinstance(n, int) and n > 0 for n in (*spatial, *windows, *taps)) or None in (per_group_in, filters) \
            or filters % groups:
        return False
    per_group_out = filters // groups
    lows = vector_entries(lowerer, node.inputs[2])[0::2]
    batch, g_shape = lowerer.shape(x)[0], lowerer.shape(g)
    rows, depth = S.product([batch, *windows]), math.prod(taps) * per_group_in
    cols = _grouped_patches(lowerer, node, x, groups, per_group_in, windows, taps, op.dilation, op.strides, lows)
    g_groups = _split_groups(lowerer, node, g, groups, per_group_out,
                             ((g_shape[0], batch),) if g_shape[0] != batch else ())
    product = lowerer.new_buffer(out.dtype, (groups, depth, per_group_out), "temp", 3)
    lowerer.steps.append(GemmCall(Access(cols, (0, 2, 1)), Access(g_groups, (0, 1, 2)), product, out.dtype, depth,
                                  per_group_out, rows, rows, node))
    out_shape = (per_group_in, *taps, filters)
    index = lowerer.bind_new(out, out_shape)
    row = _linear([*(Index(1 + a) for a in range(rank)), Index(0)], [*taps, per_group_in])
    gathered = Load(0, (Index(1 + rank), row, Index(2 + rank)), (groups, depth, per_group_out), (False,) * 3,
                    out.dtype)
    lowerer.steps.append(ElementwiseKernel((Access(product, (0, 1, 2)),), (index,), (gathered,),
                                           (per_group_in, *taps, groups, per_group_out), (), node))
    return True


def _window_reads(lowerer: Lowerer, node: Apply, channel: Expr) -> list[tuple[tuple, Expr]]:
    """(tap, x at that tap of the loop's window and ``channel``, 0 in the padding) for every tap."""
    x, kernel, pads = node.inputs
    op = node.op
    lows = vector_entries(lowerer, pads)[0::2]
    windows = [Index(1 + i) for i in range(op.rank)]
    reads = []
    for tap in itertools.product(*(range(k) for k in kernel.type.shape[:op.rank])):
        coords, inside = window_coords(windows, tap, op.strides, op.dilation, lows, x.type.shape[1:-1], channel)
        reads.append((tap, read_or(0, lowerer.shape(x), x.dtype, coords, inside, cast(Lit(0, "int64"), x.dtype))))
    return reads


def _lower_depthwise(lowerer: Lowerer, node: Apply) -> bool:
    """A convolution whose groups each read one input channel (depthwise): GEMM would multiply
    matrices one column wide, so one direct kernel over the output instead, the window unrolled:
    ``out[n, o, f] = sum over taps of x[n, window, f // (F / groups)] * kernel[tap, 0, f]``."""
    x, kernel, _ = node.inputs
    (out,) = node.outputs
    rank, taps = node.op.rank, kernel.type.shape[:node.op.rank]
    filters = kernel.type.shape[-1]
    if None in taps or filters is None or None in out.type.shape[1:-1] or math.prod(taps) > 64:
        return False
    per_group = filters // node.op.groups
    channel = call("floor_divide", "int64", Index(1 + rank), Lit(per_group, "int64"))
    total = None
    for tap, value in _window_reads(lowerer, node, channel):
        weight = Load(1, tuple(Lit(t, "int64") for t in tap) + (Lit(0, "int64"), Index(1 + rank)),
                      tuple(lowerer.shape(kernel)), (False,) * kernel.ndim, kernel.dtype)
        term = call("multiply", x.dtype, value, weight)
        total = term if total is None else call("add", x.dtype, total, term)
    x_shape = lowerer.shape(x)
    shape = (x_shape[0], *out.type.shape[1:-1], filters)
    checks = ((x_shape[-1], node.op.groups),) if x_shape[-1] != node.op.groups else ()
    index = lowerer.bind_new(out, shape)
    lowerer.steps.append(ElementwiseKernel((lowerer.plain_ref(x), lowerer.plain_ref(kernel)), (index,), (total,),
                                           shape, checks, node))
    return True


def _in_group(width: int, axis: int) -> Expr:
    """``group * width + Index(axis)``, the group being the loop's first axis."""
    return call("add", "int64", call("multiply", "int64", Index(0), Lit(width, "int64")), Index(axis))


def _split_groups(lowerer: Lowerer, node: Apply, var, groups: int, width: int, checks=()) -> int:
    """``var``'s last axis cut into ``groups`` blocks of ``width``: a ``(groups, rows, width)`` buffer
    where ``rows`` runs over ``var``'s other axes in C order."""
    shape = lowerer.shape(var)
    value = Load(0, (*(Index(1 + i) for i in range(var.ndim - 1)), _in_group(width, var.ndim)), tuple(shape),
                 (False,) * var.ndim, var.dtype)
    buffer = lowerer.new_buffer(var.dtype, (groups, S.product(list(shape[:-1])), width), "temp", 3)
    lowerer.steps.append(ElementwiseKernel((lowerer.plain_ref(var),), (buffer,), (value,),
                                           (groups, *shape[:-1], width), tuple(checks), node))
    return buffer


def _grouped_patches(lowerer: Lowerer, node: Apply, x, groups: int, per_group: int, windows, taps, strides,
                     dilation, lows, checks=()) -> int:
    """The patch matrices of every group, ``(groups, N * prod(windows), prod(taps) * per_group)``:
    element ``(g, n, o, k, c)`` is ``x[n, o * stride + k * dilation - lo, g * per_group + c]``, 0 in
    the padding."""
    rank = len(taps)
    x_shape = lowerer.shape(x)
    coords, inside = window_coords([Index(2 + i) for i in range(rank)], [Index(2 + rank + i) for i in range(rank)],
                                   strides, dilation, lows, x.type.shape[1:-1], _in_group(per_group, 2 + 2 * rank))
    coords = (Index(1), *coords[1:])  # the batch is the loop's second axis here
    value = read_or(0, x_shape, x.dtype, coords, inside, cast(Lit(0, "int64"), x.dtype))
    rows, depth = S.product([x_shape[0], *windows]), math.prod(taps) * per_group
    cols = lowerer.new_buffer(x.dtype, (groups, rows, depth), "temp", 3)
    lowerer.steps.append(ElementwiseKernel((lowerer.plain_ref(x),), (cols,), (value,),
                                           (groups, x_shape[0], *windows, *taps, per_group), tuple(checks), node))
    return cols


def _lower_grouped(lowerer: Lowerer, node: Apply) -> bool:
    """A grouped convolution (G groups of C / G input channels and F / G filters) as one batched GEMM:
    the patch matrices of all groups ``(G, N * prod(O), prod(K) * C / G)``, the kernel's groups
    ``(G, prod(K) * C / G, F / G)``, their products ``(G, N * prod(O), F / G)``, and a gather that
    interleaves the groups' filters into the ``(N, *O, F)`` output."""
    x, kernel, pads = node.inputs
    (out,) = node.outputs
    op, rank, groups = node.op, node.op.rank, node.op.groups
    taps, per_group_in, filters = kernel.type.shape[:rank], kernel.type.shape[-2], kernel.type.shape[-1]
    outputs = out.type.shape[1:-1]
    if None in (*taps, per_group_in, filters, *outputs) or filters % groups:
        return False
    per_group_out = filters // groups
    x_shape = lowerer.shape(x)
    batch = x_shape[0]
    rows, depth = S.product([batch, *outputs]), math.prod(taps) * per_group_in
    lows = vector_entries(lowerer, pads)[0::2]
    checks = ((x_shape[-1], groups * per_group_in),) if x_shape[-1] != groups * per_group_in else ()
    cols = _grouped_patches(lowerer, node, x, groups, per_group_in, outputs, taps, op.strides, op.dilation, lows,
                            checks)
    matrices = _split_groups(lowerer, node, kernel, groups, per_group_out)

    products = lowerer.new_buffer(out.dtype, (groups, rows, per_group_out), "temp", 3)
    lowerer.steps.append(GemmCall(Access(cols, (0, 1, 2)), Access(matrices, (0, 1, 2)), products, out.dtype, rows,
                                  per_group_out, depth, depth, node))

    row = _linear([Index(0), *(Index(1 + i) for i in range(rank))], [batch, *outputs])
    gathered = Load(0, (Index(1 + rank), row, Index(2 + rank)), (groups, rows, per_group_out), (False,) * 3,
                    out.dtype)
    index = lowerer.bind_new(out, (batch, *outputs, filters))
    lowerer.steps.append(ElementwiseKernel((Access(products, (0, 1, 2)),), (index,), (gathered,),
                                           (batch, *outputs, groups, per_group_out), (), node))
    return True


def _linear(indices: list, sizes: list) -> Expr:
    """The C-order position of ``indices`` in an array of ``sizes`` (int64 expressions)."""
    position = indices[0]
    for index, size in zip(indices[1:], sizes[1:], strict=True):
        position = call("add", "int64", call("multiply", "int64", position, as_int64(size)), index)
    return position


@lowering(ConvTranspose)
def _lower_conv_transpose(lowerer: Lowerer, node: Apply) -> bool:
    """The adjoint of the rule above: ``y @ kernel^T`` gives every patch's contribution (one GEMM),
    then col2im as a gather, so it runs in parallel: each output element sums, over the kernel's
    taps (unrolled), the contribution of the one window that puts that tap on it, if any (the
    offset must be a multiple of the stride and the window must exist)."""
    y, kernel, _, pads = node.inputs
    (out,) = node.outputs
    op = node.op
    rank = op.rank
    sizes, windows = out.type.shape[1:-1], y.type.shape[1:-1]
    kernel_taps = kernel.type.shape[:rank]
    static = all(isinstance(n, int) and n > 0 for n in (*sizes, *windows, *kernel_taps))
    if static and math.prod(kernel_taps) > 64:
        return False  # col2im unrolls the taps
    if not static or not lowerer.supports("gemm", (y.dtype, y.dtype), y.dtype):
        return False
    if op.groups != 1:
        return _lower_grouped_transpose(lowerer, node)
    lows = vector_entries(lowerer, pads)[0::2]
    y_shape, k_shape = lowerer.shape(y), lowerer.shape(kernel)
    batch, taps, channels, filters = y_shape[0], k_shape[:rank], k_shape[-2], k_shape[-1]
    rows, depth = S.product([batch, *windows]), S.product([*taps, channels])
    if winograd.applies(op, kernel_taps, lows, y.type.shape[-1], out.type.shape[-1], sizes, y.dtype):
        checks = ((k_shape[-1], y_shape[-1]),) if k_shape[-1] != y_shape[-1] else ()
        return winograd.lower(lowerer, node, y, kernel, [2 - lo for lo in lows], sizes,
                              lambda i, j: (Lit(2 - i, "int64"), Lit(2 - j, "int64"), Index(1), Index(0)), checks)

    matrix = _kernel_rows_by_filter(lowerer, node, kernel, y_shape[-1])
    if _tiled_transpose(lowerer, node, matrix, (depth, filters, channels), kernel_taps, lows):
        return True
    y_matrix = _as_matrix(lowerer, node, y, rows, filters)
    cols = lowerer.new_buffer(y.dtype, (rows, depth), "temp", 2)
    lowerer.steps.append(GemmCall(y_matrix, Access(matrix, (0, 1)), cols, y.dtype, rows, depth,
                                  filters, filters, node))

    out_shape = (batch, *sizes, channels)
    index = lowerer.bind_new(out, out_shape)

    def read(row, tap):
        column = _linear([*(Lit(k, "int64") for k in tap), Index(1 + rank)], [*taps, channels])
        return Load(0, (row, column), (rows, depth), (False, False), y.dtype)

    total = _col2im(op, kernel_taps, lows, windows, batch, y.dtype, read)
    lowerer.steps.append(ElementwiseKernel((Access(cols, (0, 1)),), (index,), (total,), out_shape, (), node))
    return True


def _kernel_rows_by_filter(lowerer: Lowerer, node: Apply, kernel, y_filters) -> int:
    """The kernel ``(*taps, channels, filters)`` copied as a ``(filters, taps * channels)`` matrix: the
    right operand of ``y @ kernel^T`` row-major, as the register-blocked GEMM reads it without packing
    (the kernel is small next to ``y``'s rows)."""
    k_shape = lowerer.shape(kernel)
    rank = len(k_shape) - 2
    order = (rank + 1, *range(rank + 1))
    matrix = lowerer.new_buffer(kernel.dtype, (k_shape[-1], S.product(k_shape[:-1])), "temp", 2)
    checks = ((k_shape[-1], y_filters),) if k_shape[-1] != y_filters else ()
    lowerer.steps.append(ElementwiseKernel((compose(lowerer.ref(kernel), list(order)),), (matrix,),
                                           (Arg(0, kernel.dtype),), tuple(k_shape[a] for a in order), checks, node))
    return matrix


def _tiled_transpose(lowerer: Lowerer, node: Apply, matrix: int, sizes, kernel_taps, lows) -> bool:
    """ConvTranspose (one group) as a loop over chunks of the batch whose patch rows fit
    ``TILE_BYTES``: each iteration multiplies the chunk's rows of ``y`` into one tile and gathers the
    tile into the chunk's output items (col2im) while it is still in cache, instead of writing every
    patch row to memory and reading it back.  The chunks are row slices of ``y``'s buffer: a view
    (the transposed output gradient of a ``channels_first`` convolution) is copied first, as the
    plain form's GEMM would copy it.  False (the plain form) unless shapes may read the loop's
    counter."""
    y, _, _, _ = node.inputs
    (out,) = node.outputs
    depth, filters, channels = sizes
    windows = math.prod(y.type.shape[1:-1])
    itemsize = np.dtype(y.dtype).itemsize
    if not lowerer.shape_arithmetic or not isinstance(depth, int) or windows * depth * itemsize > TILE_BYTES:
        return False
    access = lowerer.ref(y)
    if not access.plain or access.axes != tuple(range(y.ndim)):
        lowerer.copy(y)
        access = lowerer.ref(y)
    chunk = TILE_BYTES // (windows * depth * itemsize)
    batch = lowerer.shape(y)[0]
    counter = lowerer.new_buffer("int64", (), "temp", 0)
    first = S.mul(ValueOf(counter), chunk)
    items = S.minimum(chunk, S.sub(batch, first))
    tile = lowerer.new_buffer(y.dtype, (chunk * windows, depth), "temp", 2)
    rows = Access(access.buffer, (y.ndim - 2, y.ndim - 1), starts=(first, *(0,) * (y.ndim - 1)))
    product = GemmCall(rows, Access(matrix, (0, 1)), tile, y.dtype, S.mul(items, windows), depth, filters, filters,
                       node)
    rank = node.op.rank
    sizes_out = out.type.shape[1:-1]
    index = lowerer.bind_new(out, (batch, *sizes_out, channels))

    def read(row, tap):
        column = _linear([*(Lit(k, "int64") for k in tap), Index(1 + rank)], [*kernel_taps, channels])
        return Load(0, (row, column), (chunk * windows, depth), (False, False), y.dtype)

    total = _col2im(node.op, kernel_taps, lows, y.type.shape[1:-1], chunk, y.dtype, read)
    chunk_view = Access(index, tuple(range(rank + 2)), (first, *(0,) * (rank + 1)))
    gather = ElementwiseKernel((Access(tile, (0, 1)),), (index,), (total,), (items, *sizes_out, channels), (), node,
                               reuses=(index,), out_views=(chunk_view,))
    loop = LoopStep((product, gather), counter, S.ceil_div(batch, chunk), (index,), node)
    lowerer.native_body(loop)
    lowerer.steps.append(loop)
    return True


def _col2im(op, kernel_taps, lows, windows, batch, dtype: str, read) -> Expr:
    """The sum, over the kernel's taps (unrolled), of the contribution ``read(row, tap)`` of the one
    window that puts that tap on the loop's output element, if any (the offset must be a multiple
    of the stride and the window must exist); spatial coordinates are loop axes 1..rank."""
    total = None
    for tap in itertools.product(*(range(k) for k in kernel_taps)):
        windows_at, conditions = [], []
        for i, k in enumerate(tap):
            offset = call("subtract", "int64", call("add", "int64", Index(1 + i), as_int64(lows[i])),
                          Lit(k * op.dilation[i], "int64"))
            window = call("floor_divide", "int64", offset, Lit(op.strides[i], "int64"))
            hits = call("logical_and", "bool", call("greater_equal", "bool", offset, Lit(0, "int64")),
                        call("less", "bool", window, Lit(windows[i], "int64")))
            if op.strides[i] != 1:
                aligned = call("equal", "bool", call("mod", "int64", offset, Lit(op.strides[i], "int64")),
                               Lit(0, "int64"))
                hits = call("logical_and", "bool", hits, aligned)
            conditions.append(hits)
            windows_at.append(call("minimum", "int64", call("maximum", "int64", window, Lit(0, "int64")),
                                   Lit(windows[i] - 1, "int64")))
        row = _linear([Index(0), *windows_at], [batch, *windows])
        term = call("where", dtype, all_of(conditions), read(row, tap), cast(Lit(0, "int64"), dtype))
        total = term if total is None else call("add", dtype, total, term)
    return total


def _lower_grouped_transpose(lowerer: Lowerer, node: Apply) -> bool:
    """A grouped ConvTranspose (G groups of F / G input channels, C / G output channels) as one
    batched GEMM: the input's groups ``(G, N * prod(W), F / G)`` times the kernel's groups
    ``(G, prod(K) * C / G, F / G)`` transposed, then col2im from group ``c // (C / G)``."""
    y, kernel, _, pads = node.inputs
    (out,) = node.outputs
    op, rank, groups = node.op, node.op.rank, node.op.groups
    sizes, windows, kernel_taps = out.type.shape[1:-1], y.type.shape[1:-1], kernel.type.shape[:rank]
    per_group_out, filters = kernel.type.shape[-2], kernel.type.shape[-1]
    if per_group_out is None or filters is None or filters % groups:
        return False
    per_group_in = filters // groups
    lows = vector_entries(lowerer, pads)[0::2]
    y_shape = lowerer.shape(y)
    batch = y_shape[0]
    rows, depth = S.product([batch, *windows]), math.prod(kernel_taps) * per_group_out

    y_groups = _split_groups(lowerer, node, y, groups, per_group_in,
                             ((y_shape[-1], filters),) if y_shape[-1] != filters else ())
    matrices = _split_groups(lowerer, node, kernel, groups, per_group_in)
    cols = lowerer.new_buffer(y.dtype, (groups, rows, depth), "temp", 3)
    lowerer.steps.append(GemmCall(Access(y_groups, (0, 1, 2)), Access(matrices, (0, 2, 1)), cols, y.dtype, rows,
                                  depth, per_group_in, per_group_in, node))

    channels = groups * per_group_out
    index = lowerer.bind_new(out, (batch, *sizes, channels))
    group = call("floor_divide", "int64", Index(1 + rank), Lit(per_group_out, "int64"))
    within = call("mod", "int64", Index(1 + rank), Lit(per_group_out, "int64"))

    def read(row, tap):
        column = _linear([*(Lit(k, "int64") for k in tap), within], [*kernel_taps, per_group_out])
        return Load(0, (group, row, column), (groups, rows, depth), (False,) * 3, y.dtype)

    total = _col2im(op, kernel_taps, lows, windows, batch, y.dtype, read)
    lowerer.steps.append(ElementwiseKernel((Access(cols, (0, 1, 2)),), (index,), (total,),
                                           (batch, *sizes, channels), (), node))
    return True
