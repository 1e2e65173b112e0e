"""Lowering rules for ops that walk an axis in order or index with data:
ArgReduce, Cumulative, AdvancedSubtensor (gathers) and IncSubtensor (scatters).

Boolean masks index as their nonzero coordinates: a count of the true
elements sizes a buffer of coordinate rows (``NonzeroKernel``), whose
columns then serve as integer index arrays, so the result's length is
read from data at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theanine.codegen.program import shape_exprs as S
from theanine.codegen.program.expressions import call, cast
from theanine.codegen.program.kernel_ir import (
    Access,
    Arg,
    ArgReduceKernel,
    Call,
    ElementwiseKernel,
    Index,
    Lit,
    Load,
    NonzeroKernel,
    ReduceKernel,
    ScanKernel,
    ScatterKernel,
    Size,
    ValueOf,
)
from theanine.codegen.program.lowering import Lowerer, compose, destroyable, lowering
from theanine.codegen.program.rules.views import basic_view
from theanine.graph.basic import Apply
from theanine.graph.ops.reduce import ArgReduce, Cumulative
from theanine.graph.ops.subtensor import AdvancedSubtensor, IncSubtensor, bind_index


@lowering(ArgReduce)
def _lower_arg_reduce(lowerer: Lowerer, node: Apply) -> bool:
    (x,), (out,) = node.inputs, node.outputs
    shape = lowerer.shape(x)
    out_shape = tuple(d for a, d in enumerate(shape) if a not in node.op.axes)
    source = lowerer.ref(x)
    index = lowerer.bind_new(out, out_shape)
    lowerer.steps.append(ArgReduceKernel(source, index, node.op.axes, node.op.kind, shape, node))
    return True


@lowering(Cumulative)
def _lower_cumulative(lowerer: Lowerer, node: Apply) -> bool:
    (x,), (out,) = node.inputs, node.outputs
    shape = lowerer.shape(x)
    source = lowerer.ref(x)
    index = lowerer.bind_new(out, shape)
    combine = "add" if node.op.kind == "sum" else "mul"
    lowerer.steps.append(ScanKernel(source, index, node.op.axis, combine, node.op.reverse, out.dtype, shape, node))
    return True


# --- integer-array and mask indexing: gathers and scatters ---------------------------


@dataclass(frozen=True)
class _IndexArray:
    """An integer index array as a plan reads it: its access, run-time and static shapes, dtype.

    ``trusted`` arrays hold coordinates known to be in bounds (the nonzero
    rows of a mask whose shape was checked): they are neither wrapped nor
    checked.
    """

    access: Access
    shape: tuple
    static: tuple
    dtype: str
    trusted: bool = False

    @property
    def ndim(self) -> int:
        return len(self.shape)


class _Plan:
    """Where ``x[index]`` reads, as expressions of the result's loop indices.

    ``coords[a]`` is the coordinate on x's axis ``a`` (an int64 Expr over
    ``Index`` leaves and index-array ``Load`` leaves); ``checked[a]`` marks
    the ones that come from index arrays (NumPy wraps them once and checks
    them; ints are wrapped and checked by a step before, as NumPy checks
    them even when the result is empty); ``inputs`` are the index-array
    accesses (after the kernel's other inputs); ``shape`` is the result's
    loop shape and ``checks`` the run-time equalities of broadcast index
    arrays.
    """

    def __init__(self, shape, coords, checked, inputs, checks):
        self.shape, self.coords, self.checked, self.inputs, self.checks = shape, coords, checked, inputs, checks


def index_plan(lowerer: Lowerer, node: Apply, x, parts, first_arg: int, static: tuple | None = None) -> _Plan:
    """The plan of ``x[index]`` for an index of ints, slices, newaxis, Ellipsis, integer arrays and masks.

    A boolean mask indexes as its nonzero coordinates do (NumPy's rule):
    steps that compute them come first (``_mask_columns``).  Run-time
    conditions (a slice step read from data must not be 0, ints in bounds)
    become a check step.  ``static``: the result's static shape where the
    node's type knows it.
    """
    bound = _with_index_arrays(lowerer, node, x, bind_index(node.op.index, parts))
    if not any(e[0] == "ellipsis" for e in bound):
        bound.append(("ellipsis",))
    used = sum(e[0] in ("int", "slice", "array") for e in bound)
    x_shape = lowerer.shape(x)
    advanced = [k for k, e in enumerate(bound) if e[0] in ("array", "int")] if any(
        e[0] == "array" for e in bound) else []
    adjacent = bool(advanced) and advanced[-1] - advanced[0] + 1 == len(advanced)
    arrays = [e[1] for e in bound if e[0] == "array"]
    block_rank = max(a.ndim for a in arrays) if arrays else 0
    block, checks = _block_shape(arrays, block_rank)
    out_dims: list = []
    pending: list = []  # (x axis, kind, payload) resolved once the block's position is known
    conditions: list = []
    axis = 0
    block_at = None
    for k, entry in enumerate(bound):
        kind = entry[0]
        if kind == "int":
            position = S.wrap(_part(lowerer, entry[1]), x_shape[axis])
            conditions.append(S.in_range(position, x_shape[axis]))
            if advanced and block_at is None:
                block_at = len(out_dims) if adjacent else 0
            pending.append((axis, "int", position))
            axis += 1
        elif advanced and k in advanced:
            if block_at is None:
                block_at = len(out_dims) if adjacent else 0
            pending.append((axis, kind, entry[1]))
            axis += 1
        elif kind == "newaxis":
            out_dims.append(1)
        elif kind == "ellipsis":
            for _ in range(x.ndim - used):
                pending.append((axis, "loop", len(out_dims)))
                out_dims.append(x_shape[axis])
                axis += 1
        else:
            start, stop, step = (_part(lowerer, p) for p in entry[1:4])
            step = 1 if step is None else step
            conditions.append(S.nonzero(step))
            first, length = S.slice_bounds(x_shape[axis], start, stop, step)
            pending.append((axis, "slice", (len(out_dims), first, step)))
            out_dims.append(length)
            axis += 1
    if any(c != 1 for c in conditions):
        for var in node.inputs:
            lowerer.plain_ref(var)  # a failed check reruns perform on the values the node saw
    S.check_step(lowerer, node, conditions)
    if block_at is not None:
        out_dims[block_at:block_at] = block
    shift = lambda position: position + (block_rank if block_at is not None and position >= block_at else 0)  # noqa: E731
    coords, checked, inputs = [None] * x.ndim, [False] * x.ndim, []
    for x_axis, kind, payload in pending:
        if kind == "loop":
            coords[x_axis] = Index(shift(payload))
        elif kind == "slice":
            position, first, step = payload
            coords[x_axis] = _affine(Index(shift(position)), first, step)
        elif kind == "int":
            coords[x_axis] = Size(payload)
        else:
            inputs.append(payload.access)
            load = _array_coordinate(payload, block, block_at, first_arg + len(inputs) - 1)
            coords[x_axis] = _as_int64(load)
            checked[x_axis] = not payload.trusted
    static = static or (None,) * len(out_dims)
    shape = tuple(s if s is not None else d for s, d in zip(static, out_dims, strict=True))
    return _Plan(shape, tuple(coords), tuple(checked), tuple(inputs), tuple(checks))


def _with_index_arrays(lowerer: Lowerer, node: Apply, x, bound: list) -> list:
    """``bound`` with each index array as an ``_IndexArray`` and each mask replaced by one array
    per axis it covers (its nonzero coordinates)."""
    if any(e[0] == "mask" for e in bound):
        for var in node.inputs:
            lowerer.plain_ref(var)  # a failed mask check reruns perform on the values the node saw
    x_shape = lowerer.shape(x)
    named = sum(_axes_taken(e) for e in bound)
    result, axis = [], 0
    for entry in bound:
        if entry[0] == "mask":
            covered = x_shape[axis:axis + entry[1].ndim]
            result.extend(("array", column) for column in _mask_columns(lowerer, node, entry[1], covered))
        elif entry[0] == "array":
            var = entry[1]
            result.append(("array", _IndexArray(lowerer.plain_ref(var), lowerer.shape(var), var.type.shape, var.dtype)))
        else:
            result.append(entry)
        axis += x.ndim - named if entry[0] == "ellipsis" else _axes_taken(entry)
    return result


def _axes_taken(entry: tuple) -> int:
    """How many axes of x an index entry consumes (the Ellipsis: none of its own)."""
    if entry[0] in ("newaxis", "ellipsis"):
        return 0
    return entry[1].ndim if entry[0] == "mask" else 1


def _mask_columns(lowerer: Lowerer, node: Apply, mask, covered: tuple) -> list[_IndexArray]:
    """``mask.nonzero()`` as index arrays: a check that the mask's shape is that of the axes it
    covers, a count of its true elements, then their coordinates as the rows of a (count, k) buffer."""
    source, shape = lowerer.plain_ref(mask), lowerer.shape(mask)
    S.check_step(lowerer, node, [S.equal(d, m) for d, m in zip(covered, shape, strict=True)])
    count = lowerer.new_buffer("int64", (), "temp", 0)
    ones = Call("cast_int64", (Arg(0, mask.dtype),), "int64")
    every = tuple(range(mask.ndim))
    lowerer.steps.append(ReduceKernel((source,), ones, count, every, "add", "int64", shape, (), node))
    rows = lowerer.new_buffer("int64", (ValueOf(count), mask.ndim), "temp", 2)
    lowerer.steps.append(NonzeroKernel(source, rows, shape, node))
    return [
        _IndexArray(Access(rows, (0,), (0, a) if a else ()), (ValueOf(count),), (None,), "int64", trusted=True)
        for a in range(mask.ndim)
    ]


def _block_shape(arrays, rank: int):
    """The broadcast shape of the index arrays (right-aligned, NumPy's run-time rule: a 1 stretches)
    and the checks that the other dims agree with it."""
    block, checks = [], []
    for position in range(rank):
        dims = []
        for a in arrays:
            axis = position - (rank - a.ndim)
            if axis >= 0 and a.static[axis] != 1:
                dims.append(a.shape[axis])
        chosen = 1
        for d in dims:
            chosen = _unless_one(d, chosen)
        block.append(chosen)
        checks.extend((_unless_one(d, chosen), chosen) for d in dims if d != chosen)
    return block, checks


def _unless_one(d, otherwise):
    """``d`` unless it is 1 (then ``otherwise``)."""
    if isinstance(d, int) or otherwise == 1:
        return otherwise if d == 1 else d
    return S.where(S.less(1, d), d, S.where(S.less(d, 1), d, otherwise))


def _array_coordinate(array: _IndexArray, block: list, block_at: int, position: int):
    """The element of index array ``array`` (kernel input ``position``) at the current block position:
    an axis whose run-time size is 1 stays at 0 (it broadcasts) unless it is the block's own size."""
    lead = len(block) - array.ndim
    coords = []
    for a in range(array.ndim):
        loop = Index(block_at + lead + a)
        stretches = 1 if array.shape[a] == block[lead + a] else S.less(1, array.shape[a])
        coords.append(loop if stretches == 1 else Call("multiply", (loop, Size(stretches)), "int64"))
    return Load(position, tuple(coords), array.shape, (False,) * array.ndim, array.dtype)


def _part(lowerer: Lowerer, part):
    if part is None or isinstance(part, (int, np.integer)):
        return None if part is None else int(part)
    return lowerer.scalar_shape(part)


def _affine(index: Index, first, step):
    """``first + index * step`` (int64) for ShapeExpr ``first`` and ``step``."""
    scaled = index
    if step != 1:
        scaled = Call("multiply", (index, Lit(step, "int64") if isinstance(step, int) else Size(step)), "int64")
    return scaled if first == 0 else Call("add", (scaled, Size(first)), "int64")


def _as_int64(expr):
    return expr if expr.dtype == "int64" else Call("cast_int64", (expr,), "int64")


@lowering(AdvancedSubtensor)
def _lower_gather(lowerer: Lowerer, node: Apply) -> bool:
    """``x[index]``: one kernel over the result whose element loads x at coordinates from the index arrays."""
    x, *parts = node.inputs
    (out,) = node.outputs
    source = lowerer.plain_ref(x)
    plan = index_plan(lowerer, node, x, parts, 1, out.type.shape)
    load = Load(0, plan.coords, lowerer.shape(x), plan.checked, x.dtype)
    index = lowerer.bind_new(out, plan.shape)
    lowerer.steps.append(ElementwiseKernel((source,) + plan.inputs, (index,), (load,), plan.shape, plan.checks, node))
    return True


@lowering(IncSubtensor)
def _lower_inc_subtensor(lowerer: Lowerer, node: Apply) -> bool:
    """A copy of x (or x itself, for the inplace op), then ``v`` written into ``x[index]``: through a
    view of it (a parallel elementwise kernel) for a basic index, by a serial scatter otherwise."""
    x, v, *parts = node.inputs
    (out,) = node.outputs
    x_shape = lowerer.shape(x)
    if getattr(node.op, "destroy_map", None) and destroyable(lowerer, x):
        target = lowerer.overwrite(x)
        lowerer.bind(out, Access(target, tuple(range(x.ndim))), x_shape)
    else:
        source = lowerer.ref(x)
        target = lowerer.bind_new(out, x_shape)
        lowerer.steps.append(ElementwiseKernel((source,), (target,), (Arg(0, x.dtype),), x_shape, (), node))
    if not _write_through_view(lowerer, node, target):
        _scatter(lowerer, node, target)
    return True


def _write_through_view(lowerer: Lowerer, node: Apply, target: int) -> bool:
    """``target[index] = v`` (or ``+=``) for a basic index without newaxis, as one elementwise
    kernel over the view's shape (bool increments stay with the scatter: ``+`` is ``or`` there)."""
    x, v, *parts = node.inputs
    if any(entry[0] not in ("int", "slice", "ellipsis") for entry in node.op.index) or x.dtype == "bool":
        return False
    view, dims, conditions = basic_view(lowerer, x, node.op.index, parts, Access(target, tuple(range(x.ndim))))
    if any(c != 1 for c in conditions):
        S.check_step(lowerer, node, conditions)
    value, checks = _broadcast_value(lowerer, v, dims)
    if node.op.set_instead_of_inc:
        inputs, expr = (value,), cast(Arg(0, v.dtype), x.dtype)
    else:
        inputs, expr = (view, value), call("add", x.dtype, Arg(0, x.dtype), cast(Arg(1, v.dtype), x.dtype))
    lowerer.steps.append(ElementwiseKernel(inputs, (target,), (expr,), tuple(dims), checks, node,
                                           reuses=(target,), out_views=(view,)))
    return True


def _scatter(lowerer: Lowerer, node: Apply, target: int) -> None:
    """``target[index] = v`` (or ``+=``) element by element, in order (repeated indices accumulate)."""
    x, v, *parts = node.inputs
    plan = index_plan(lowerer, node, x, parts, 1)
    value, checks = _broadcast_value(lowerer, v, plan.shape)
    mode = "set" if node.op.set_instead_of_inc else "add"
    lowerer.steps.append(ScatterKernel(
        (value,) + plan.inputs, target, plan.coords, lowerer.shape(x), plan.checked,
        Arg(0, v.dtype), mode, plan.shape, plan.checks + checks, node,
    ))


def _broadcast_value(lowerer: Lowerer, v, shape) -> tuple[Access, tuple]:
    """How to read ``v`` at each element of ``shape`` (NumPy's broadcasting, from the right), and
    the checks that its other dims match."""
    lead = len(shape) - v.ndim
    v_shape = lowerer.shape(v)
    picks = [None] * lead + [None if v.type.shape[a] == 1 else a for a in range(v.ndim)]
    checks = tuple((shape[lead + a], v_shape[a]) for a in range(v.ndim)
                   if v.type.shape[a] != 1 and shape[lead + a] != v_shape[a])
    return compose(lowerer.ref(v), picks), checks
