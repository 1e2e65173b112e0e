"""Small control-flow helpers for building LLVM IR, in the style of Numba's cgutils."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from llvmlite import ir

from theanine.codegen.llvm_types import I64


@contextlib.contextmanager
def for_range(builder: ir.IRBuilder, count: ir.Value, name: str = "i") -> Iterator[ir.Value]:
    """``for (i = 0; i < count; ++i)``: the body is what the ``with`` block emits."""
    function = builder.function
    before = builder.block
    header = function.append_basic_block(f"{name}.header")
    body = function.append_basic_block(f"{name}.body")
    end = function.append_basic_block(f"{name}.end")
    builder.branch(header)
    builder.position_at_end(header)
    index = builder.phi(I64, name=name)
    index.add_incoming(ir.Constant(I64, 0), before)
    builder.cbranch(builder.icmp_signed("<", index, count), body, end)
    builder.position_at_end(body)
    yield index
    index.add_incoming(builder.add(index, ir.Constant(I64, 1)), builder.block)
    builder.branch(header)
    builder.position_at_end(end)


def nested_ranges(builder: ir.IRBuilder, counts: list[ir.Value], name: str = "i"):
    """Enter one ``for_range`` per count; returns (exit stack, indices)."""
    stack = contextlib.ExitStack()
    indices = [stack.enter_context(for_range(builder, c, f"{name}{k}")) for k, c in enumerate(counts)]
    return stack, indices
