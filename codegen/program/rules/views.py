"""Lowering rules for shapes, views and copies: Shape, BroadcastTo, Subtensor
(basic indexing), Reshape, Join, Split and ARange.

Basic indexing and split pieces are views: an ``Access`` with a start per
buffer axis and a step per loop axis, composed with the access of their
input (so a slice of a transpose of a slice costs nothing).  Run-time
conditions (an index in bounds, sizes that add up) become a check step
with no outputs; a failed check reruns the node's ``perform``, which
raises NumPy's error.  Reshape, BroadcastTo and Join copy: a copy kernel
walks its input in C order and writes its output densely (a reshape) or
into a slice of the output (a join).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from theanine.codegen.program import shape_exprs as S
from theanine.codegen.program.kernel_ir import (
    Access,
    Arg,
    Call,
    DimOf,
    ElementwiseKernel,
    Index,
    Lit,
    ShapeExpr,
    Size,
    ValueOf,
)
from theanine.codegen.program.lowering import Lowerer, compose, lowering
from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.ops.creation import ARange
from theanine.graph.ops.shape import (
    BroadcastTo,
    DimShuffle,
    Join,
    Reshape,
    Shape,
    Split,
    static_entries,
)
from theanine.graph.ops.subtensor import Subtensor, bind_index


def vector_entries(lowerer: Lowerer, vector: Variable) -> list[ShapeExpr]:
    """Each entry of an integer vector of static length as a ShapeExpr.

    Shape vectors are usually built from pieces (``stack`` of sizes,
    concatenated with constants, ``x.shape``): entries are read through
    them, so a size stays a ``DimOf`` and nothing is read from data.
    """
    static = static_entries(vector)
    owner = vector.owner
    if owner is not None and isinstance(owner.op, Shape):
        symbolic = list(lowerer.shape(owner.inputs[0]))
    elif owner is not None and isinstance(owner.op, Join) and all(p.type.shape[0] is not None for p in owner.inputs):
        symbolic = [e for piece in owner.inputs for e in _piece_entries(lowerer, piece)]
    else:
        buffer = lowerer.plain_ref(vector).buffer
        symbolic = [ValueOf(buffer, i) for i in range(len(static))]
    return [s if s is not None else v for s, v in zip(static, symbolic, strict=True)]


def _piece_entries(lowerer: Lowerer, piece: Variable) -> list[ShapeExpr]:
    """Entries of one piece of a concatenated shape vector (a scalar made a vector, or any vector)."""
    if piece.owner is not None and piece.owner.op == DimShuffle(("x",)):
        return [lowerer.scalar_shape(piece.owner.inputs[0])]
    return vector_entries(lowerer, piece)


def _static_or(out: Variable, shape: Sequence[ShapeExpr]) -> tuple[ShapeExpr, ...]:
    """``shape`` with the dims the output's type knows statically."""
    return tuple(s if s is not None else d for s, d in zip(out.type.shape, shape, strict=True))


def _nonnegative(entries: Sequence[ShapeExpr]) -> list[ShapeExpr]:
    return [S.less(-1, e) for e in entries if not isinstance(e, (int, DimOf))]


def shift(lowerer: Lowerer, access: Access, axis: int, amount: ShapeExpr) -> Access:
    """``access`` starting ``amount`` elements further along its loop axis ``axis``."""
    target = access.axes[axis]
    if target is None or amount == 0:
        return access
    starts = list(access.starts) or [0] * len(lowerer.buffers[access.buffer].shape)
    starts[target] = S.add(starts[target], S.mul(amount, access.step(axis)))
    return dataclasses.replace(access, starts=tuple(starts))


def _copy_kernel(source: Access, out: int, dtype_in: str, dtype_out: str, shape, checks, node, **extra):
    value = Arg(0, dtype_in)
    if dtype_in != dtype_out:
        value = Call(f"cast_{dtype_out}", (value,), dtype_out)
    return ElementwiseKernel((source,), (out,), (value,), tuple(shape), tuple(checks), node, **extra)


# --- rules -----------------------------------------------------------------------


@lowering(Shape)
def _lower_shape(lowerer: Lowerer, node: Apply) -> bool:
    """The vector of dims: entry ``i`` selected by the loop index."""
    (x,), (out,) = node.inputs, node.outputs
    dims = lowerer.shape(x)
    value = Lit(0, "int64")
    for axis in reversed(range(x.ndim)):
        is_axis = Call("equal", (Index(0), Lit(axis, "int64")), "bool")
        value = Call("where", (is_axis, Size(dims[axis]), value), "int64")
    index = lowerer.bind_new(out, (x.ndim,))
    lowerer.steps.append(ElementwiseKernel((), (index,), (value,), (x.ndim,), (), node))
    return True


@lowering(BroadcastTo)
def _lower_broadcast_to(lowerer: Lowerer, node: Apply) -> bool:
    (x, vector), (out,) = node.inputs, node.outputs
    target = _static_or(out, vector_entries(lowerer, vector))
    lead = len(target) - x.ndim
    x_shape = lowerer.shape(x)
    picks = [None] * lead + [None if x.type.shape[a] == 1 else a for a in range(x.ndim)]
    checks = [(target[lead + a], x_shape[a]) for a in range(x.ndim)
              if x.type.shape[a] != 1 and target[lead + a] != x_shape[a]]
    S.check_step(lowerer, node, _nonnegative(target))
    index = lowerer.bind_new(out, target)
    lowerer.steps.append(_copy_kernel(compose(lowerer.ref(x), picks), index, x.dtype, out.dtype, target, checks, node))
    return True


@lowering(Reshape)
def _lower_reshape(lowerer: Lowerer, node: Apply) -> bool:
    """A copy in C order into a buffer of the new shape (the kernel walks the input's shape).

    An entry may be -1 (at most one): it stands for the size left over.
    Entries read from data are resolved at run time the same way.
    """
    (x, vector), (out,) = node.inputs, node.outputs
    entries = vector_entries(lowerer, vector)
    x_shape = lowerer.shape(x)
    size = S.product(x_shape)
    negative = [S.less(e, 0) for e in entries]
    known = S.product([S.where(n, 1, e) for n, e in zip(negative, entries, strict=False)])
    missing = S.floordiv(size, known)
    shape = _static_or(out, [S.where(n, missing, e) for n, e in zip(negative, entries, strict=False)])
    conditions = [S.less(-2, e) for e in entries] + [S.less(S.total(negative), 2)]
    conditions.append(S.where(S.total(negative), S.less(0, known), 1))
    checks = [(S.product(shape), size)] if S.product(shape) != size else []
    S.check_step(lowerer, node, conditions)
    index = lowerer.bind_new(out, shape)
    lowerer.steps.append(_copy_kernel(lowerer.ref(x), index, x.dtype, out.dtype, x_shape, checks, node))
    return True


@lowering(Join)
def _lower_join(lowerer: Lowerer, node: Apply) -> bool:
    """One copy kernel per input, each into its slice of the output."""
    (out,), axis = node.outputs, node.op.axis
    shapes = [lowerer.shape(t) for t in node.inputs]
    joined = [S.total([s[axis] for s in shapes]) if a == axis else shapes[0][a] for a in range(out.ndim)]
    shape = _static_or(out, joined)
    index = lowerer.bind_new(out, shape)
    offset: ShapeExpr = 0
    for k, (t, t_shape) in enumerate(zip(node.inputs, shapes, strict=False)):
        checks = [(shape[a], t_shape[a]) for a in range(out.ndim) if a != axis and shape[a] != t_shape[a]]
        starts = tuple(offset if a == axis else 0 for a in range(out.ndim))
        lowerer.steps.append(_copy_kernel(
            lowerer.ref(t), index, t.dtype, out.dtype, t_shape, checks, node,
            reuses=(index,) if k else (), out_views=(Access(index, tuple(range(out.ndim)), starts),),
        ))
        offset = S.add(offset, t_shape[axis])
    return True


@lowering(Split)
def _lower_split(lowerer: Lowerer, node: Apply) -> bool:
    """Views of consecutive slices; the sizes must be >= 0 and add up to the axis."""
    (x, vector), axis = node.inputs, node.op.axis
    sizes = vector_entries(lowerer, vector)
    x_shape, source = lowerer.shape(x), lowerer.ref(x)
    conditions = _nonnegative(sizes)
    total = S.total(sizes)
    if total != x_shape[axis]:
        conditions.append(S.mul(S.less(total, S.add(x_shape[axis], 1)), S.less(S.sub(x_shape[axis], 1), total)))
    S.check_step(lowerer, node, conditions)
    offset: ShapeExpr = 0
    for out, size in zip(node.outputs, sizes, strict=False):
        shape = _static_or(out, [size if a == axis else d for a, d in enumerate(x_shape)])
        lowerer.bind(out, shift(lowerer, source, axis, offset), shape)
        offset = S.add(offset, size)
    return True


@lowering(Subtensor)
def _lower_subtensor(lowerer: Lowerer, node: Apply) -> bool:
    """A view (see ``basic_view``)."""
    x, *parts = node.inputs
    view, dims, conditions = basic_view(lowerer, x, node.op.index, parts)
    if any(c != 1 for c in conditions):
        lowerer.plain_ref(x)
        S.check_step(lowerer, node, conditions)
    out = node.outputs[0]
    lowerer.bind(out, view, _static_or(out, dims))
    return True


def basic_view(lowerer: Lowerer, x: Variable, index, parts, base: Access | None = None) -> tuple[Access, list, list]:
    """``x[index]`` for a basic index as ``(access, dims, conditions)``: ints fix a buffer
    coordinate (checked in bounds), slices start and step, newaxis broadcasts (a None axis).

    A step read at run time is a run-time stride: its sign picks the bounds
    rule, and a zero step fails the check (``perform`` raises NumPy's error);
    ``conditions`` must hold (``S.check_step``) before the view is used.
    ``base`` (default: how ``x`` is read) is the access the view starts from.
    """
    bound = bind_index(index, parts)
    if sum(e[0] == "ellipsis" for e in bound) == 0:
        bound.append(("ellipsis",))
    used = sum(e[0] in ("int", "slice") for e in bound)
    shape = lowerer.shape(x)
    view = lowerer.ref(x) if base is None else base
    picks, dims, conditions = [], [], []
    axis = 0
    for entry in bound:
        kind = entry[0]
        if kind == "newaxis":
            picks.append(None)
            dims.append(1)
        elif kind == "ellipsis":
            for _ in range(x.ndim - used):
                picks.append(axis)
                dims.append(shape[axis])
                axis += 1
        elif kind == "int":
            position = _bound_part(lowerer, entry[1])
            conditions.append(S.in_range(S.wrap(position, shape[axis]), shape[axis]))
            view = shift(lowerer, view, axis, S.wrap(position, shape[axis]))
            axis += 1
        else:
            start, stop, step = (_bound_part(lowerer, p) for p in entry[1:4])
            step = 1 if step is None else step
            conditions.append(S.nonzero(step))
            first, length = S.slice_bounds(shape[axis], start, stop, step)
            view = shift(lowerer, view, axis, first)
            picks.append(axis)
            dims.append(length)
            view = _scaled(view, axis, step)
            axis += 1
    return compose(view, picks), dims, conditions


def _bound_part(lowerer: Lowerer, part) -> ShapeExpr | None:
    """An index part: None, a Python int, or an integer scalar variable read at run time."""
    if part is None or isinstance(part, (int, np.integer)):
        return None if part is None else int(part)
    return lowerer.scalar_shape(part)


def _scaled(access: Access, axis: int, step: ShapeExpr) -> Access:
    if step == 1 or access.axes[axis] is None:
        return access
    steps = list(access.steps) or [1] * len(access.axes)
    steps[axis] = S.mul(steps[axis], step)
    return dataclasses.replace(access, steps=tuple(steps))


@lowering(ARange)
def _lower_arange(lowerer: Lowerer, node: Apply) -> bool:
    """NumPy's fill: ``v0``, ``v1 = start + step``, then ``v0 + i * (v1 - v0)`` in the output dtype.

    Bounds whose differences NumPy computes in int64 give the length by
    exact integer arithmetic; other bounds (a float, or narrower integers,
    whose differences wrap in NumPy) are first measured by a native step
    (NumPy's length rule, see ``_measured_range``), whose result sizes the output.
    """
    (out,) = node.outputs
    bounds = node.inputs
    if all(isinstance(b, Constant) for b in bounds):
        first, second, length, conditions, inputs = _constant_range(node)
    elif _scalar_dtypes(node)[::2] == ("int64", "int64"):
        first, second, length, conditions, inputs = _integer_range(lowerer, node)
    else:
        first, second, length, conditions, inputs = _measured_range(lowerer, node)
    if out.type.shape[0] is not None:
        length = out.type.shape[0]
    S.check_step(lowerer, node, conditions)
    index = lowerer.bind_new(out, (length,))
    value = _range_value(first, second, out.dtype)
    lowerer.steps.append(ElementwiseKernel(inputs, (index,), (value,), (length,), (), node))
    return True


def _constant_range(node: Apply):
    start, stop, step = (b.data.item() for b in node.inputs)
    dtype = node.outputs[0].dtype
    first = Lit(np.asarray(start).astype(dtype).item(), dtype)
    second = Lit(np.asarray(start + step).astype(dtype).item(), dtype)
    length = len(np.arange(start, stop, step, dtype=dtype))  # the output type may predate folded bounds
    return first, second, length, [], ()


def _integer_range(lowerer: Lowerer, node: Apply):
    start, stop, step = (lowerer.scalar_shape(b) for b in node.inputs)
    dtype = node.outputs[0].dtype
    first = Call(f"cast_{dtype}", (Size(start),), dtype)
    second = Call(f"cast_{dtype}", (Size(S.add(start, step)),), dtype)
    length = S.maximum(0, S.ceil_div(S.sub(stop, start), step))
    checks = _integer_value_checks(start, S.add(start, step), length, dtype)
    return first, second, length, [S.nonzero(step), *checks], ()


def _integer_value_checks(first: ShapeExpr, second: ShapeExpr, length: ShapeExpr, dtype: str) -> list[ShapeExpr]:
    """What NumPy's arange checks before filling: a bool range holds at most 2 values; an integer
    range's first value (when there is one) and second (when there are two) fit in ``dtype``."""
    if dtype == "bool":
        return [S.less(length, 3)]
    if dtype.startswith("float"):
        return []
    info = np.iinfo(dtype)
    low, high = max(int(info.min), -(2**63)), min(int(info.max), 2**63 - 1)

    def fits(value: ShapeExpr) -> ShapeExpr:
        above = 1 if low == -(2**63) else S.less(low - 1, value)
        return S.where(above, 1 if high == 2**63 - 1 else S.less(value, high + 1), 0)

    return [S.where(S.less(0, length), fits(first), 1), S.where(S.less(1, length), fits(second), 1)]


def _scalar_dtypes(node: Apply) -> tuple[str, str, str]:
    """The dtypes of NumPy's scalar arithmetic on the bounds: ``stop - start``, ``(stop - start) / step``
    and ``start + step`` (``perform`` passes NumPy scalars to ``np.arange``)."""
    start, stop, step = (np.dtype(b.dtype) for b in node.inputs)
    span = np.result_type(stop, start)
    ratio = np.true_divide.resolve_dtypes((span, step, None))[2]
    return span.name, ratio.name, np.result_type(start, step).name




def _measured_range(lowerer: Lowerer, node: Apply):
    """A step writes the length (-1 where NumPy fails), checked before the output is sized by it;
    the fill reads start and step as data."""
    start, stop, step = node.inputs
    dtype = node.outputs[0].dtype
    span, ratio, total = _scalar_dtypes(node)
    reads = tuple(lowerer.plain_ref(b) for b in node.inputs)
    s, e, d = (Arg(k, b.dtype) for k, b in enumerate(node.inputs))
    difference = Call("subtract", (_as(e, span), _as(s, span)), span)
    quotient = _as(Call("true_divide", (_as(difference, ratio), _as(d, ratio)), ratio), "float64")
    counted = lowerer.new_buffer("int64", (), "temp", 0)
    following = Call("add", (_as(s, total), _as(d, total)), total)
    measured = _measured_value_checks(_numpy_length(difference, quotient), s, following, dtype)
    lowerer.steps.append(ElementwiseKernel(reads, (counted,), (measured,), (), (), node))
    length = ValueOf(counted)
    first = _as(Arg(0, start.dtype), dtype)
    second = _as(Call("add", (_as(Arg(0, start.dtype), total), _as(Arg(1, step.dtype), total)), total), dtype)
    inputs = (compose(reads[0], [None]), compose(reads[2], [None]))
    return first, second, length, [S.less(-1, length)], inputs


def _measured_value_checks(length, first, second, dtype: str):
    """``length``, or -1 where NumPy's arange rejects the values (``_integer_value_checks``): a float
    ``v`` converts to an integer dtype as ``trunc(v)``, which fits when ``low - 1 < v < high + 1``."""
    def call(op, *args, dtype="bool"):
        return Call(op, args, dtype)

    def more_than(count):
        return call("less", Lit(count, "int64"), length)

    if dtype == "bool":
        ok = call("logical_not", more_than(2))
    elif dtype.startswith("float"):
        return length
    else:
        info = np.iinfo(dtype)

        def fits(value):
            value = _as(value, "float64")
            above = call("greater_equal" if info.min == -(2**63) else "greater", value,
                         Lit(float(info.min) - (info.min != -(2**63)), "float64"))
            return call("logical_and", above, call("less", value, Lit(float(info.max) + 1, "float64")))

        ok = call("logical_and", call("logical_or", call("logical_not", more_than(0)), fits(first)),
                  call("logical_or", call("logical_not", more_than(1)), fits(second)))
    return call("where", ok, length, Lit(-1, "int64"), dtype="int64")


def _numpy_length(difference, quotient):
    """NumPy's length of a range (int64), or -1 where it raises.

    ``quotient`` = (stop - start) / step as a double: a quotient that
    underflowed to 0 (or came from an infinite step) while ``difference``
    is not 0 gives 1 for +0.0 and 0 for -0.0; otherwise ``ceil`` must be a
    number in int64's range (NaN, a zero step and overflows fail) and a
    negative length is 0.
    """
    def lit(value):
        return Lit(value, "float64")

    def call(op, *args, dtype="bool"):
        return Call(op, args, dtype)

    zero = Lit(0, difference.dtype)
    underflow = call("logical_and", call("equal", quotient, lit(0.0)), call("not_equal", difference, zero))
    negative_zero = call("less", call("true_divide", lit(1.0), quotient, dtype="float64"), lit(0.0))
    rounded = call("ceil", quotient, dtype="float64")
    valid = call("logical_and", call("greater_equal", rounded, lit(-(2.0**63))), call("less", rounded, lit(2.0**63)))
    measured = call("where", valid, call("maximum", rounded, lit(0.0), dtype="float64"), lit(-1.0), dtype="float64")
    tiny = call("where", negative_zero, lit(0.0), lit(1.0), dtype="float64")
    return _as(call("where", underflow, tiny, measured, dtype="float64"), "int64")


def _range_value(first, second, dtype: str):
    """Element ``i`` of the range: ``first``, ``second``, then ``first + i * (second - first)``.

    NumPy stores the first two values as given (not recomputed: ``-0.0`` and
    ``start + (v1 - start)`` keep their bits) and fills the rest in the
    output dtype (bool counts in int64, float16 in float32, rounded once).
    """
    compute = {"bool": "int64", "float16": "float32"}.get(dtype, dtype)
    delta = Call("subtract", (_as(second, compute), _as(first, compute)), compute)
    steps = Call("multiply", (Call(f"cast_{compute}", (Index(0),), compute), delta), compute)
    value = _as(Call("add", (_as(first, compute), steps), compute), dtype)
    if not dtype.startswith("float"):
        return value
    position = Index(0)
    is_first = Call("equal", (position, Lit(0, "int64")), "bool")
    is_second = Call("equal", (position, Lit(1, "int64")), "bool")
    return Call("where", (is_first, first, Call("where", (is_second, _as(second, dtype), value), dtype)), dtype)


def _as(expr, dtype: str):
    return expr if expr.dtype == dtype else Call(f"cast_{dtype}", (expr,), dtype)
