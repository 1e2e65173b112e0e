"""Lowering rule of ``IfElse``: a native branch (``BranchStep``), so only the branch taken runs.

Each branch's inner graph lowers with the usual rules (a nested
``Lowerer`` over the op's inputs) and ends by copying its results into
the op's output buffers, whose shapes pick the taken branch's shapes with
the condition (``where``).  The buffers a branch makes are allocated
before the step, so their sizes are multiplied out to nothing when the
condition picks the other branch: the branch not taken costs neither work
nor memory.  The rule declines (the op runs as a host call of
``perform``) when a branch needs a host call or a collective, or sizes a
buffer by a value it computes.
"""

from __future__ import annotations

import dataclasses

from theanine.codegen.program import shape_exprs as S
from theanine.codegen.program.expressions import cast
from theanine.codegen.program.kernel_ir import (
    Access,
    Arg,
    BranchStep,
    ElementwiseKernel,
    ShapeExpr,
    ValueOf,
    step_outputs,
)
from theanine.codegen.program.lowering import Decline, Lowerer, lowering
from theanine.graph.basic import Apply
from theanine.graph.ops.ifelse import IfElse
from theanine.graph.rewriting.inplace import execution_order


@lowering(IfElse)
def _lower_ifelse(lowerer: Lowerer, node: Apply) -> bool:
    op = node.op
    if not lowerer.shape_arithmetic:
        raise Decline("a branch's output shapes are chosen at run time")
    condition = _truth(lowerer, node)
    taken = ValueOf(condition)
    branches = []
    for outputs in (op.then_outputs, op.else_outputs):
        inner = lowerer.nested(execution_order(outputs, op.inner_inputs), outputs)
        for var, value in zip(op.inner_inputs, node.inputs[1:], strict=True):
            inner.bind(var, lowerer.ref(value), lowerer.shape(value))
        try:
            for inner_node in execution_order(outputs, op.inner_inputs):
                inner.lower_node(inner_node)
            results = [(inner.ref(v), inner.shape(v), v.dtype) for v in outputs]
        except ValueError as exc:  # a branch reads a variable that is neither an input nor a constant
            raise Decline(str(exc)) from exc
        branches.append((inner, results))
    targets = []
    for j, out in enumerate(node.outputs):
        (_, then_shape, _), (_, else_shape, _) = branches[0][1][j], branches[1][1][j]
        shape = tuple(s if s is not None else S.where(taken, a, b)
                      for s, a, b in zip(out.type.shape, then_shape, else_shape, strict=True))
        targets.append(lowerer.new_buffer(out.dtype, shape, "temp", out.ndim))
    bodies = []
    for (inner, results), picked in zip(branches, (1, 0), strict=True):
        copies = tuple(
            ElementwiseKernel((source,), (target,), (cast(Arg(0, dtype), out.dtype),), shape, (), node,
                              reuses=(target,))
            for (source, shape, dtype), target, out in zip(results, targets, node.outputs, strict=True)
        )
        bodies.append(tuple(inner.steps) + copies)
        if not lowerer.is_nested:  # in a body, buffers are allocated before the condition is known
            _size_to_nothing_unless(lowerer, inner.steps, taken, picked)
    step = BranchStep(condition, tuple(bodies), tuple(targets), node)
    lowerer.native_body(step)
    lowerer.steps.append(step)
    for out, target in zip(node.outputs, targets, strict=True):
        lowerer.bind(out, Access(target, tuple(range(out.ndim))), lowerer.buffers[target].shape)
    return True


def _truth(lowerer: Lowerer, node: Apply) -> int:
    """A 0-d bool buffer holding the condition's truth (a float 0.5 is true, as in ``perform``)."""
    condition = node.inputs[0]
    access = lowerer.plain_ref(condition)
    if condition.dtype == "bool":
        return access.buffer
    truth = lowerer.new_buffer("bool", (), "temp", 0)
    lowerer.steps.append(ElementwiseKernel((access,), (truth,), (cast(Arg(0, condition.dtype), "bool"),), (), (), node))
    return truth


def _size_to_nothing_unless(lowerer: Lowerer, steps, taken: ValueOf, picked: int) -> None:
    """Buffers that ``steps`` allocate get their first dimension zeroed unless the condition is
    ``picked`` (1: true), so the branch not taken allocates nothing."""
    for buffer in dict.fromkeys(b for step in steps for b in step_outputs(step)):
        entry = lowerer.buffers[buffer]
        if not entry.shape:
            continue
        first: ShapeExpr = entry.shape[0]
        sized = S.where(taken, first, 0) if picked else S.where(taken, 0, first)
        lowerer.buffers[buffer] = dataclasses.replace(entry, shape=(sized, *entry.shape[1:]))
