"""Dropping kernels whose results nothing reads.

A node's rule lowers it to a kernel as soon as the node comes up, before
its consumers do; a consumer may then read the value without that kernel.
A Reshape reads its shape vector's entries as shape expressions (a
``Join`` of sizes stays ``DimOf``s), so the kernels that computed the
vector wrote a buffer nobody reads: each is a step to compile and to run.

A kernel is dropped when it is an elementwise kernel or a reduction that
only writes temporaries, checks nothing and cannot fail, and none of the
buffers it writes is read by a later step, named by a later step's shapes,
or returned, and no shape names its value.  Anything else (library calls,
loops, host calls, in-place updates of inputs) stays.
"""

from __future__ import annotations

import dataclasses

from theanine.codegen.program.fallible import fails_while_writing
from theanine.codegen.program.kernel_ir import (
    ElementwiseKernel,
    Program,
    ReduceKernel,
    ValueOf,
    named_buffers,
    step_inputs,
    step_writes,
)

__all__ = ["drop_unread_kernels"]


def drop_unread_kernels(program: Program) -> Program:
    """``program`` without the kernels whose results are never read (module docstring)."""
    live = {access.buffer for access in program.outputs} | named_buffers([program.outputs])
    live |= named_buffers([buffer.shape for buffer in program.buffers], (ValueOf,))  # read when allocating
    kept: list = []
    for step in reversed(program.steps):
        written = set(step_writes(step))
        if _pure(program, step) and not written & live:
            continue
        kept.append(step)
        live |= {access.buffer for access in step_inputs(step)} | named_buffers([step])
    if len(kept) == len(program.steps):
        return program
    return dataclasses.replace(program, steps=kept[::-1])


def _pure(program: Program, step) -> bool:
    """A kernel with no effect but its temporaries' values: no checks, no failure, no other writes."""
    return (isinstance(step, (ElementwiseKernel, ReduceKernel)) and not step.checks
            and not fails_while_writing(step)
            and all(program.buffers[b].role == "temp" for b in step_writes(step)))
