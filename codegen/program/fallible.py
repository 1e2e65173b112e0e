"""Which steps of a program may fail at run time, and which inputs must be copied for that.

A step fails before it writes anything when a shape check fails (kernels'
``checks``, a GEMM's inner dimensions, an empty arg-reduction), and during
its loop when coordinates read from user data are out of bounds (gathers,
scatters) or an element makes NumPy raise (a negative integer exponent).
A host call may raise anything, and the runner may fail to size a buffer
whose shape it computes (a negative size), and an MPI collective may return an error.  The backend overwrites a
shared variable's storage in place only when nothing can fail afterwards:
``inputs_to_copy`` names the input buffers it must copy instead, so that a
failed call leaves every shared variable as it was.
"""

from __future__ import annotations

from theanine.codegen.program.kernel_ir import (
    ArgReduceKernel,
    Call,
    CollectiveCall,
    ElementwiseKernel,
    GemmCall,
    HostCall,
    Load,
    Program,
    ReduceKernel,
    ScatterKernel,
    distinct_nodes,
    is_simple_shape,
    step_outputs,
    step_writes,
)

__all__ = ["fails_before_writing", "fails_while_writing", "inputs_to_copy"]


def _raises_per_element(exprs) -> bool:
    """True when some expression reads an input at user-given (bounds-checked) coordinates, or
    calls an op that NumPy lets raise for some values (an integer to a signed integer power)."""
    for e in distinct_nodes(exprs):
        if isinstance(e, Load) and any(e.checked):
            return True
        if isinstance(e, Call) and e.op == "power" and e.dtype.startswith(("int", "uint")) and \
                e.args[1].dtype.startswith("int"):
            return True
    return False


def fails_while_writing(step) -> bool:
    """Whether ``step`` may fail after writing part of its output."""
    if isinstance(step, HostCall):
        return True
    if isinstance(step, ScatterKernel):
        return any(step.checked) or _raises_per_element((step.value, *step.coords))
    if isinstance(step, ElementwiseKernel):
        return _raises_per_element(step.exprs)
    if isinstance(step, ReduceKernel):
        return _raises_per_element((step.expr,))
    return False


def fails_before_writing(program: Program, step) -> bool:
    """Whether ``step`` may fail before it writes: a shape check, or sizing an output from shape
    arithmetic or array values (a negative size)."""
    if not all(is_simple_shape(program.buffers[b].shape) for b in step_outputs(step)):
        return True
    if isinstance(step, GemmCall):
        return step.k != step.k_check
    if isinstance(step, (ArgReduceKernel, CollectiveCall)):  # an MPI error is reported, not raised
        return True
    return bool(getattr(step, "checks", ()))


def inputs_to_copy(program: Program) -> list[int]:
    """Positions (in ``program.inputs``) of the inputs a step overwrites while a failure can still
    follow: that step itself failing mid-loop, or any later step failing at all."""
    steps = program.steps
    fallible = [fails_before_writing(program, s) or fails_while_writing(s) for s in steps]
    last = max((k for k, f in enumerate(fallible) if f), default=-1)
    positions = {buffer: k for k, buffer in enumerate(program.inputs)}
    copied = set()
    for k, step in enumerate(steps):
        for buffer in step_writes(step):
            if buffer in positions and (k < last or fails_while_writing(step)):
                copied.add(positions[buffer])
    return sorted(copied)
