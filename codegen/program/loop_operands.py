"""Loop-invariant transposed GEMM operands copied row-major once, before the loop.

A recurrent net's backward loop multiplies by the transposed recurrent
kernel on every step (``dh = dz @ U^T``).  Read transposed, the right
operand sends the product to BLAS, which packs it again on every call; a
row-major copy made once before the loop lets the register-blocked kernel
(``codegen/llvm/small_gemm``) read it in place.  The copy is made only for
float32 (the kernel's type), for an operand no step of the loop writes, of
static shape and at most ``LARGEST`` elements: for the LSTM of
tests/benchmarks/bench_lstm.py, a copy of 64K elements per call replaces
50 packings of the same matrix.
"""

from __future__ import annotations

import dataclasses

from theanine.codegen.program.kernel_ir import (
    Access,
    Arg,
    Buffer,
    ElementwiseKernel,
    GemmCall,
    LoopStep,
    Program,
    step_writes,
)

LARGEST = 1 << 20
"""Elements of the largest operand copied (4 MiB of float32)."""


def hoist_transposed_operands(program: Program) -> Program:
    """``program`` with each eligible operand (module docstring) of a top-level loop's GEMMs copied
    row-major before the loop, the GEMMs reading the copy."""
    buffers = list(program.buffers)
    steps = []
    for step in program.steps:
        if isinstance(step, LoopStep):
            copies, step = _hoisted(step, buffers)
            steps.extend(copies)
        steps.append(step)
    if len(steps) == len(program.steps):
        return program
    return dataclasses.replace(program, buffers=buffers, steps=steps)


def _hoisted(loop: LoopStep, buffers: list[Buffer]) -> tuple[list, LoopStep]:
    """The copies to run before ``loop`` and the loop reading them."""
    written = {b for inner in loop.body for b in step_writes(inner)}
    copies, row_major = [], {}
    body = []
    for inner in loop.body:
        source = inner.b.buffer if isinstance(inner, GemmCall) else None
        if source is not None and _eligible(inner, buffers[source], written):
            if source not in row_major:
                rows, columns = buffers[source].shape
                row_major[source] = len(buffers)
                buffers.append(Buffer(len(buffers), inner.dtype, (columns, rows), "temp"))
                copies.append(ElementwiseKernel((Access(source, (1, 0)),), (row_major[source],),
                                                (Arg(0, inner.dtype),), (columns, rows), (), inner.node))
            inner = dataclasses.replace(inner, b=Access(row_major[source], (0, 1)))
        body.append(inner)
    return copies, (dataclasses.replace(loop, body=tuple(body)) if copies else loop)


def _eligible(gemm: GemmCall, source: Buffer, written: set[int]) -> bool:
    """A float32 product reading a whole, unwritten, static 2-d buffer transposed as its right operand."""
    shape = source.shape
    return (gemm.dtype == "float32" and gemm.b.axes == (1, 0) and gemm.b.plain and len(shape) == 2
            and all(isinstance(d, int) for d in shape) and shape[0] * shape[1] <= LARGEST
            and source.index not in written)


__all__ = ["hoist_transposed_operands"]
