"""Row fusion: consecutive kernels over the same rows run block by block (``FusedRows``).

A row softmax is three steps over a (rows, columns) array: the row
maxima, the sums of exponentials, the quotients.  Run one after the
other, each streams the whole input from memory; run a block of rows at a
time, the block stays in cache from the first step to the last, so the
input is read from memory once.  The same holds for a layer norm, a
cross-entropy or any chain of row reductions and elementwise kernels.

A run fuses when every step is an elementwise kernel or a reduction of
the innermost axes that keeps the leading one, all over the same number
of rows, and every buffer that a step of the run writes is read and
written by the run only at the row being computed (the leading loop axis
walks its leading axis from 0, one row a step): then running the steps
row block by row block computes what running them one after the other
does.
"""

from __future__ import annotations

import dataclasses

from theanine.codegen.program.kernel_ir import (
    Access,
    BranchStep,
    ElementwiseKernel,
    FusedRows,
    Load,
    LoopStep,
    Program,
    ReduceKernel,
    step_inputs,
    step_writes,
    uses,
)

__all__ = ["fuse_rows"]


def fuse_rows(program: Program) -> Program:
    """``program`` with every run of row-local kernels (module docstring) made one ``FusedRows``."""
    steps = _fuse(program, list(program.steps))
    return program if steps == list(program.steps) else dataclasses.replace(program, steps=steps)


def _fuse(program: Program, steps: list) -> list:
    out: list = []
    run: list = []

    def close() -> None:
        if len(run) > 1:
            out.append(FusedRows(tuple(run), run[0].shape[0], run[0].node))
        else:
            out.extend(run)
        run.clear()

    for step in steps:
        if isinstance(step, LoopStep):
            step = dataclasses.replace(step, body=tuple(_fuse(program, list(step.body))))
        elif isinstance(step, BranchStep):
            step = dataclasses.replace(step, bodies=tuple(tuple(_fuse(program, list(b))) for b in step.bodies))
        if _row_kernel(step) and (not run or _joins(program, run, step)):
            run.append(step)
            continue
        close()
        if _row_kernel(step):
            run.append(step)
        else:
            out.append(step)
    close()
    return out


def _row_kernel(step) -> bool:
    """An elementwise kernel or a reduction of the innermost axes keeping the leading one, with rows."""
    if isinstance(step, ElementwiseKernel):
        return len(step.shape) >= 1 and not uses(step.exprs, (Load,))
    if isinstance(step, ReduceKernel):
        rank = len(step.shape)
        return (rank >= 2 and 0 not in step.axes and rank - 1 in step.axes
                and not uses((step.expr,), (Load,)))
    return False


def _joins(program: Program, run: list, step) -> bool:
    """Whether ``step`` may join ``run``: same rows, and every buffer the run and the step share
    (one of them writing it) is touched by both only at the current row."""
    rows = run[0].shape[0]
    if step.shape[0] != rows:
        return False
    written = {b for s in run for b in step_writes(s)} | set(step_writes(step))
    for s in (*run, step):
        reused = set(getattr(s, "reuses", ()))  # read where written: the write is checked below
        for access in step_inputs(s):
            if access.buffer in written and not (access.buffer in reused and not access.axes) and not _row_local(
                    program, access, rows):
                return False
        for buffer, view, layout in _writes(s):
            if buffer in written and not (_row_local(program, view, rows) if view is not None
                                          else tuple(program.buffers[buffer].shape) == layout):
                return False
    return True


def _writes(step) -> list[tuple[int, Access | None, tuple]]:
    """(buffer, view, layout) for each buffer ``step`` writes: the view is None for a dense write,
    which puts the loop's rows on the buffer's rows when the buffer's shape is ``layout``."""
    if isinstance(step, ReduceKernel):
        return [(step.output, None, tuple(d for a, d in enumerate(step.shape) if a not in step.axes))]
    return [(b, step.output_view(j), tuple(step.shape)) for j, b in enumerate(step.outputs)]


def _row_local(program: Program, access: Access, rows) -> bool:
    """Whether the loop's leading axis walks the buffer's leading axis of ``rows`` from 0, one by one."""
    if not access.axes or access.axes[0] != 0 or access.start(0) != 0 or access.step(0) != 1:
        return False
    return program.buffers[access.buffer].shape[:1] == (rows,) and 0 not in access.axes[1:]
