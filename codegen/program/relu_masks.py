"""ReLU gradients read the ReLU's output, so the pre-activation need not be kept.

A layer's fused kernel writes both the pre-activation ``p`` and
``relu(p)`` (or a kernel of its own computes ``relu`` of the stored
``p``); the backward pass reads ``p`` only in ``p > 0``, the ReLU's
gradient mask, which ``relu(p) > 0`` equals exactly (a NaN or a
non-positive value fails both; rounding to the stored dtype keeps the
sign and zero of either).  ``read_relu_outputs`` points those reads at the
ReLU's output, and the kernel stops writing ``p`` when nothing else reads
it: a conv or dense layer then writes one array instead of two, and its
GEMM's product goes straight into the activation's buffer (see
``epilogues._product_in_an_output``).

A later step that updates ``p`` in place (the ReLU gradient written over
the pre-activation) gets a buffer of its own instead.  Run before
``absorb_epilogues``.
"""

from __future__ import annotations

import dataclasses

from theanine.codegen.program.kernel_ir import (
    Access,
    Arg,
    Call,
    ElementwiseKernel,
    Lit,
    Program,
    step_inputs,
    step_writes,
)

__all__ = ["read_relu_outputs"]


def read_relu_outputs(program: Program) -> Program:
    """``program`` with every qualifying ``p > 0`` reading ``relu(p)`` (see the module docstring)."""
    steps = list(program.steps)
    outputs = {a.buffer for a in program.outputs}
    changed = False
    for k, step in enumerate(steps):
        if not isinstance(step, ElementwiseKernel) or step.out_views:
            continue
        for pre, post in _relu_pairs(step, program.buffers):
            if pre in outputs or pre in step.reuses or post in outputs:
                continue
            if _redirect(steps, k, pre, post, tuple(step.shape)):
                changed = True
    return dataclasses.replace(program, steps=steps) if changed else program


def _relu_pairs(kernel: ElementwiseKernel, buffers) -> list[tuple[int, int]]:
    """(p, r) buffer pairs where ``kernel`` writes r as ``relu`` of p: of another of its outputs'
    expressions, or of buffer p read at the loop element; both stored as the same float dtype."""
    exprs = dict(zip(kernel.outputs, kernel.exprs, strict=True))
    identity = tuple(range(len(kernel.shape)))
    pairs = []
    for post, e in exprs.items():
        if not isinstance(e, Call) or e.op != "relu":
            continue
        argument = e.args[0]
        pairs += [(pre, post) for pre, p in exprs.items() if pre != post and p == argument]
        if isinstance(argument, Arg) and kernel.inputs[argument.position] == Access(
                kernel.inputs[argument.position].buffer, identity):
            pairs.append((kernel.inputs[argument.position].buffer, post))
    return [(pre, post) for pre, post in pairs if pre != post and buffers[pre].dtype == buffers[post].dtype
            and buffers[pre].dtype.startswith("float") and tuple(buffers[pre].shape) == tuple(buffers[post].shape)]


def _redirect(steps: list, k: int, pre: int, post: int, shape: tuple) -> bool:
    """Make the steps after ``steps[k]`` read ``post`` where they read ``pre`` only as ``pre > 0``, up
    to a step that writes ``pre`` (included); then ``steps[k]`` stops writing ``pre``.  False, with
    nothing changed, unless every read of ``pre`` until then has that form."""
    identity = tuple(range(len(shape)))
    rewritten = {}
    for j in range(k + 1, len(steps)):
        step = steps[j]
        reads = {a.buffer for a in step_inputs(step) if not (isinstance(step, ElementwiseKernel)
                                                               and a.buffer == pre and a in step.inputs)}
        writes = set(step_writes(step))
        if post in writes:
            return False
        if pre in reads and not (isinstance(step, ElementwiseKernel) and pre in step.reuses):
            return False
        if isinstance(step, ElementwiseKernel) and any(a.buffer == pre for a in step.inputs):
            if tuple(step.shape) != shape or step.out_views:
                return False
            mask_only = _masks_only(step, pre, post, identity)
            if mask_only is None:
                return False
            rewritten[j] = mask_only
        if pre in writes:
            break
    for j, step in rewritten.items():
        steps[j] = step
    kernel = steps[k]
    if pre in kernel.outputs:
        kept = [(o, e) for o, e in zip(kernel.outputs, kernel.exprs, strict=True) if o != pre]
        steps[k] = dataclasses.replace(kernel, outputs=tuple(o for o, _ in kept), exprs=tuple(e for _, e in kept))
    return bool(rewritten) or pre in kernel.outputs


def _masks_only(step: ElementwiseKernel, pre: int, post: int, identity: tuple) -> ElementwiseKernel | None:
    """``step`` reading ``post`` instead of ``pre``, when it reads ``pre`` at the loop element only inside
    ``greater(pre, 0)``; an in-place update of ``pre`` becomes a new allocation of it.  None otherwise."""
    positions = [p for p, a in enumerate(step.inputs) if a.buffer == pre]
    if any(step.inputs[p] != Access(pre, identity) for p in positions):
        return None
    if not all(_only_in_masks(e, positions) for e in step.exprs):
        return None
    inputs = tuple(Access(post, identity) if a.buffer == pre else a for a in step.inputs)
    return dataclasses.replace(step, inputs=inputs, reuses=tuple(b for b in step.reuses if b != pre))


def _only_in_masks(expr, positions: list[int]) -> bool:
    """Whether every ``Arg`` at ``positions`` in ``expr`` is the first operand of ``greater(arg, 0)``."""
    stack, seen = [expr], set()
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, Arg) and e.position in positions:
            return False
        if isinstance(e, Call):
            if (e.op == "greater" and isinstance(e.args[0], Arg) and e.args[0].position in positions
                    and isinstance(e.args[1], Lit) and e.args[1].value == 0):
                continue
            stack.extend(e.args)
    return True
