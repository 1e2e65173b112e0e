"""Lowering rules of max pooling (graph/ops/pool.py): one kernel each, the window unrolled.

``MaxPool`` is an elementwise kernel over the output ``(N, *O, C)`` whose
expression is the maximum over the window's taps (unrolled: pools are
small) of ``x`` read at ``o * stride + tap * dilation - lo``; a tap in the
padding reads the dtype's lowest value, which never wins.  ``MaxPoolGrad``
zeroes its output, then scatters ``g`` (one entry per window) onto the
position of each window's first maximum, NaN counting as the maximum as
in ``np.argmax``: the scatter's coordinates are that argmax, computed by
the same unrolled walk over the taps.  Average pooling is a convolution
and lowers as one.  Pools whose input sizes are not known to be positive
when the graph is built are left to ``perform``.
"""

from __future__ import annotations

import itertools

import numpy as np

from theanine.codegen.program.expressions import call, cast
from theanine.codegen.program.kernel_ir import (
    Access,
    Arg,
    ElementwiseKernel,
    Expr,
    Index,
    Lit,
    Load,
    ScatterKernel,
)
from theanine.codegen.program.lowering import Lowerer, lowering
from theanine.codegen.program.rules.views import vector_entries
from theanine.codegen.program.rules.windows import as_int64, read_or, window_coords
from theanine.graph.basic import Apply
from theanine.graph.ops.pool import MaxPool, MaxPoolGrad

MAX_TAPS = 64


def _lowest(dtype: str) -> Lit:
    kind = np.dtype(dtype).kind
    if kind == "f":
        return Lit(float("-inf"), dtype)
    if kind == "b":
        return Lit(False, dtype)
    return Lit(int(np.iinfo(dtype).min), dtype)


class Window:
    """The taps of a pooling window over a channels-last input of static spatial sizes.

    ``read(tap)`` is the input at that tap of the window at ``windows`` (by
    default the loop's output position: loop axes batch, the output's
    spatial axes, channels), or the lowest value where the tap falls in the
    padding; ``coords(tap)`` are the (clamped) input coordinates it reads.
    """

    def __init__(self, lowerer: Lowerer, node: Apply, x, position: int):
        op = node.op
        self.op, self.x, self.position = op, x, position
        self.spatial = x.type.shape[1:-1]
        self.lows = vector_entries(lowerer, node.inputs[1])[0::2]
        self.x_shape = lowerer.shape(x)
        self.taps = list(itertools.product(*(range(k) for k in op.pool_size)))
        self.windows: list[Expr] = [Index(1 + i) for i in range(len(self.spatial))]
        self.tap_views: tuple[Access, ...] | None = None

    @staticmethod
    def applies(node: Apply) -> bool:
        x = node.inputs[0]
        sizes = x.type.shape[1:-1]
        return all(isinstance(n, int) and n > 0 for n in sizes) and int(np.prod(node.op.pool_size)) <= MAX_TAPS

    def coords(self, tap) -> tuple[tuple[Expr, ...], Expr | None]:
        """(clamped coordinates, whether the tap is inside the input)."""
        return window_coords(self.windows, tap, self.op.strides, self.op.dilation, self.lows, self.spatial,
                             Index(1 + len(self.spatial)))

    def read(self, tap) -> Expr:
        if self.tap_views is not None:
            return Arg(self.position + self.taps.index(tap), self.x.dtype)
        coords, inside = self.coords(tap)
        return read_or(self.position, self.x_shape, self.x.dtype, coords, inside, _lowest(self.x.dtype))

    def covers_input(self, windows) -> bool:
        """Whether ``windows`` windows per spatial axis cover the input exactly: no padding, and as
        many windows along each axis as the input holds whole pools."""
        return all(low == 0 for low in self.lows) and all(
            n == w * size for n, w, size in zip(self.spatial, windows, self.op.pool_size, strict=True))

    def read_through_views(self, lowerer: Lowerer, windows) -> tuple[Access, ...] | None:
        """When the windows (``windows`` of them per spatial axis) cover ``x`` exactly (no padding,
        strides equal to the pool, as many windows as whole pools), one strided view of ``x`` per
        tap, in ``taps`` order, which ``read`` then reads as kernel inputs ``position`` onwards: no
        gather, clamp or padding test per element, and a kernel after this one may read its output
        through the same views (``program/kernel_fusion``).  None otherwise."""
        access = lowerer.plain_ref(self.x)
        pool = tuple(self.op.pool_size)
        if tuple(self.op.strides) != pool or set(self.op.dilation) != {1} or not self.covers_input(windows) or \
                not access.plain or None in access.axes:
            return None
        self.tap_views = tuple(Access(access.buffer, access.axes, _by_buffer_axis(access.axes, (0, *tap, 0)),
                                      (1, *pool, 1)) for tap in self.taps)
        return self.tap_views


def _by_buffer_axis(axes: tuple[int, ...], starts: tuple[int, ...]) -> tuple[int, ...]:
    """``starts`` of the loop axes as an Access's starts, which name the axes of its buffer: ``x``
    may be a transpose of its buffer (the channels-last view of a ``channels_first`` input)."""
    by_axis = [0] * len(axes)
    for loop_axis, buffer_axis in enumerate(axes):
        by_axis[buffer_axis] = starts[loop_axis]
    return tuple(by_axis)


@lowering(MaxPool)
def _lower_max_pool(lowerer: Lowerer, node: Apply) -> bool:
    x, (out,) = node.inputs[0], node.outputs
    if not Window.applies(node) or None in out.type.shape[1:-1]:
        return False
    window = Window(lowerer, node, x, 0)
    inputs = window.read_through_views(lowerer, out.type.shape[1:-1]) or (lowerer.plain_ref(x),)
    value = window.read(window.taps[0])
    for tap in window.taps[1:]:
        value = call("maximum", x.dtype, window.read(tap), value)
    shape = (window.x_shape[0], *out.type.shape[1:-1], window.x_shape[-1])
    index = lowerer.bind_new(out, shape)
    lowerer.steps.append(ElementwiseKernel(inputs, (index,), (value,), shape, (), node))
    return True


def _argmax_tap(window: Window) -> Expr:
    """The index (in ``window.taps``) of the window's first maximum, NaN first as ``np.argmax``."""
    best, best_tap = window.read(window.taps[0]), Lit(0, "int32")
    for k, tap in enumerate(window.taps[1:], 1):
        value = window.read(tap)
        nan_first = call("logical_and", "bool", call("isnan", "bool", value),
                         call("logical_not", "bool", call("isnan", "bool", best)))
        better = call("logical_or", "bool", call("greater", "bool", value, best), nan_first)
        best_tap = call("where", "int32", better, Lit(k, "int32"), best_tap)
        best = call("where", window.x.dtype, better, value, best)
    return best_tap


def _lower_window_max_pool_grad(lowerer: Lowerer, node: Apply, x, g, out) -> bool:
    """Windows that cover the input exactly: one kernel over the windows finds each window's first
    maximum once and writes every tap of it (``g`` at the maximum, 0 elsewhere) through strided
    views of the output, instead of each input element searching its window again.  CNN step of
    tests/benchmarks/bench_conv.py: the (64, 28, 28, 32) gradient took 0.57 ms by input element."""
    window = Window(lowerer, node, x, 1)
    inputs = window.read_through_views(lowerer, g.type.shape[1:-1]) or (lowerer.plain_ref(x),)
    best = _argmax_tap(window)
    gradient, zero = Arg(0, g.dtype), cast(Lit(0, "int64"), out.dtype)
    exprs = tuple(call("where", out.dtype, call("equal", "bool", best, Lit(k, "int32")), gradient, zero)
                  for k in range(len(window.taps)))
    target = lowerer.bind_new(out, window.x_shape)
    every_axis = tuple(range(x.ndim))
    views = tuple(Access(target, every_axis, (0, *tap, 0), (1, *node.op.pool_size, 1)) for tap in window.taps)
    loop = (window.x_shape[0], *g.type.shape[1:-1], window.x_shape[-1])
    lowerer.steps.append(ElementwiseKernel((lowerer.plain_ref(g), *inputs), (target,) * len(views),
                                           exprs, loop, (), node, out_views=views))
    return True


def _lower_tiled_max_pool_grad(lowerer: Lowerer, node: Apply, x, g, out) -> bool:
    """Windows that tile the input (strides equal to the pool, no dilation): each input element
    belongs to at most one window, so one parallel kernel over the input gives it its window's
    gradient when it is that window's first maximum, else 0."""
    op = node.op
    window = Window(lowerer, node, x, 1)
    g_windows = g.type.shape[1:-1]
    own, tap_index, inside = [], None, None
    for i, (size, low) in enumerate(zip(op.pool_size, window.lows, strict=True)):
        shifted = call("add", "int64", Index(1 + i), as_int64(low))
        number = call("floor_divide", "int64", shifted, Lit(size, "int64"))
        place = call("mod", "int64", shifted, Lit(size, "int64"))
        within = call("less", "bool", number, Lit(g_windows[i], "int64"))
        inside = within if inside is None else call("logical_and", "bool", inside, within)
        own.append(call("minimum", "int64", number, Lit(g_windows[i] - 1, "int64")))
        tap_index = place if tap_index is None else call(
            "add", "int64", call("multiply", "int64", tap_index, Lit(size, "int64")), place)
    window.windows = own
    hit = call("logical_and", "bool", inside, call("equal", "bool", _argmax_tap(window), cast(tap_index, "int32")))
    gradient = Load(0, (Index(0), *own, Index(1 + len(own))), tuple(lowerer.shape(g)), (False,) * g.ndim, g.dtype)
    value = call("where", out.dtype, hit, gradient, cast(Lit(0, "int64"), out.dtype))
    target = lowerer.bind_new(out, window.x_shape)
    lowerer.steps.append(ElementwiseKernel((lowerer.plain_ref(g), lowerer.plain_ref(x)), (target,), (value,),
                                           tuple(window.x_shape), (), node))
    return True


@lowering(MaxPoolGrad)
def _lower_max_pool_grad(lowerer: Lowerer, node: Apply) -> bool:
    x, _, g = node.inputs
    (out,) = node.outputs
    if not Window.applies(node) or None in g.type.shape[1:-1] or not np.dtype(x.dtype).kind == "f":
        return False
    op = node.op
    if tuple(op.strides) == tuple(op.pool_size) and set(op.dilation) == {1}:
        if Window(lowerer, node, x, 1).covers_input(g.type.shape[1:-1]):
            return _lower_window_max_pool_grad(lowerer, node, x, g, out)
        return _lower_tiled_max_pool_grad(lowerer, node, x, g, out)
    window = Window(lowerer, node, x, 1)
    best, best_coords = window.read(window.taps[0]), list(window.coords(window.taps[0])[0])
    for tap in window.taps[1:]:
        value = window.read(tap)
        nan_first = call("logical_and", "bool", call("isnan", "bool", value),
                         call("logical_not", "bool", call("isnan", "bool", best)))
        better = call("logical_or", "bool", call("greater", "bool", value, best), nan_first)
        coords = window.coords(tap)[0]
        best_coords = [call("where", "int64", better, new, old) for new, old in zip(coords, best_coords, strict=True)]
        best = call("where", x.dtype, better, value, best)
    x_shape = window.x_shape
    target = lowerer.bind_new(out, x_shape)
    lowerer.steps.append(ElementwiseKernel((), (target,), (cast(Lit(0, "int64"), out.dtype),), x_shape, (), node))
    loop = (x_shape[0], *g.type.shape[1:-1], x_shape[-1])
    g_access = Access(lowerer.plain_ref(g).buffer, tuple(range(g.ndim)))
    lowerer.steps.append(ScatterKernel(
        (g_access, lowerer.plain_ref(x)), target, tuple(best_coords), x_shape, (False,) * x.ndim,
        Arg(0, g.dtype), "add", loop, (), node,
    ))
    return True
