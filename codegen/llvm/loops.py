"""Small control-flow helpers for building LLVM IR, in the style of Numba's cgutils."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from llvmlite import ir

from theanine.codegen.llvm.ir_types import I64


@contextlib.contextmanager
def for_range(builder: ir.IRBuilder, count: ir.Value, name: str = "i",
              start: ir.Value | None = None, interleaved: bool = True) -> Iterator[ir.Value]:
    """``for (i = start; i < count; ++i)``: the body is what the ``with`` block emits.

    ``interleaved=False`` asks LLVM's loop vectorizer for one vector per
    iteration (``single_vector_loop``): for loops whose iterations are
    independent (elementwise kernels), where interleaving gains nothing the
    CPU's out-of-order core does not already overlap, but costs compile time.
    """
    function = builder.function
    before = builder.block
    header = function.append_basic_block(f"{name}.header")
    body = function.append_basic_block(f"{name}.body")
    end = function.append_basic_block(f"{name}.end")
    builder.branch(header)
    builder.position_at_end(header)
    index = builder.phi(I64, name=name)
    index.add_incoming(start if start is not None else ir.Constant(I64, 0), before)
    builder.cbranch(builder.icmp_signed("<", index, count), body, end)
    builder.position_at_end(body)
    yield index
    index.add_incoming(builder.add(index, ir.Constant(I64, 1)), builder.block)
    back_edge = builder.branch(header)
    if not interleaved:
        back_edge.set_metadata("llvm.loop", single_vector_loop(builder.module))
    builder.position_at_end(end)


def single_vector_loop(module: ir.Module) -> ir.MDValue:
    """A fresh loop ID asking for an interleave count of 1.

    LLVM's loop vectorizer otherwise copies an elementwise body up to four
    times per iteration and adds a narrower vectorized epilogue loop; with
    LLVM built with assertions (llvmlite's wheels) each such loop costs a
    few milliseconds to optimize and emit, a third of a cold compile.  A
    loop ID refers to itself, so each loop gets its own node.
    """
    count = ir.MetaDataString(module, "llvm.loop.interleave.count")
    hint = module.add_metadata([count, ir.Constant(ir.IntType(32), 1)])
    loop_id = ir.values.MDValue(module, [hint], name=str(len(module.metadata)))
    loop_id.operands = (loop_id, hint)
    return loop_id


def nested_ranges(builder: ir.IRBuilder, counts: list[ir.Value], name: str = "i",
                  first: tuple[ir.Value, ir.Value] | None = None, interleaved: bool = True):
    """Enter one ``for_range`` per count; returns (exit stack, indices).

    ``first = (start, stop)`` restricts the outermost loop (a thread's share);
    ``interleaved`` applies to the innermost loop (see ``for_range``).
    """
    stack = contextlib.ExitStack()
    indices = []
    for k, count in enumerate(counts):
        start = None
        if k == 0 and first is not None:
            start, count = first
        innermost = k == len(counts) - 1
        indices.append(stack.enter_context(
            for_range(builder, count, f"{name}{k}", start, interleaved or not innermost)))
    return stack, indices


def product(builder: ir.IRBuilder, values: list[ir.Value]) -> ir.Value:
    total = ir.Constant(I64, 1)
    for v in values:
        total = builder.mul(total, v)
    return total


def contiguous_strides(builder: ir.IRBuilder, dims: list[ir.Value]) -> list[ir.Value]:
    """C-order element strides of an array of ``dims``."""
    strides = [ir.Constant(I64, 1)] * len(dims)
    for a in range(len(dims) - 2, -1, -1):
        strides[a] = builder.mul(strides[a + 1], dims[a + 1])
    return strides


def linear_offset(builder: ir.IRBuilder, indices: list[ir.Value], strides: list[ir.Value]) -> ir.Value:
    offset = ir.Constant(I64, 0)
    for i, s in zip(indices, strides, strict=False):
        offset = builder.add(offset, builder.mul(i, s))
    return offset


def minimum(builder: ir.IRBuilder, a: ir.Value, b: ir.Value) -> ir.Value:
    return builder.select(builder.icmp_signed("<", a, b), a, b)


def interleave_axes(kept, kept_values, other, other_values) -> list:
    """Per-axis values: ``kept_values[i]`` at axis ``kept[i]``, ``other_values[j]`` at axis ``other[j]``."""
    values = [None] * (len(kept) + len(other))
    for axis, value in zip(kept, kept_values, strict=False):
        values[axis] = value
    for axis, value in zip(other, other_values, strict=False):
        values[axis] = value
    return values
