"""Kernel fusion on the kernel program: inlining a kernel into the one kernel that reads it.

The graph's fusion makes one kernel of a DAG of elementwise nodes of one
shape, but slicing leaves neighbours apart: an LSTM step adds the input
projection to the recurrent product in one kernel and computes its gates
from slices of the sum in another.  Every extra kernel is another pass
over its data and, inside a loop, another barrier per iteration.  A
kernel of one result that only one later kernel reads, each element at
most once (slices of it, not broadcasts), is computed inside that kernel
from its own inputs, read through the composed views; the result is then
never stored.

Merging neighbouring kernels of one loop into one (an LSTM gradient's
three gate kernels) was measured too and left out: the merged kernel ran
slower than the three it replaced (LSTM benchmark, one thread: 21.6 ms
against 16.6; two threads 11.7 against 9.1), even with in-place
reads addressed like their writes; why is not known yet.
"""

from __future__ import annotations

import dataclasses

from theanine.codegen.program.expressions import MAX_KERNEL_CALLS, call_weight, post_order, substitute
from theanine.codegen.program.forwarding import compose, reader_steps
from theanine.codegen.program.kernel_ir import (
    BranchStep,
    ElementwiseKernel,
    Index,
    Load,
    LoopStep,
    Program,
    step_inputs,
    step_writes,
    uses,
)

__all__ = ["inline_kernels"]


def inline_kernels(program: Program, pinned: set[int]) -> Program:
    """``program`` with kernels inlined into their one reader (module docstring); buffers in
    ``pinned`` (``forwarding.pinned_buffers``) stay stored."""
    readers = {b: len(steps) for b, steps in reader_steps(program).items()}
    fusion = _Fusion(program, readers, pinned)
    steps = fusion.steps(list(program.steps))
    return program if steps == list(program.steps) else dataclasses.replace(program, steps=steps)


class _Fusion:
    def __init__(self, program: Program, readers: dict[int, int], kept: set[int]):
        self.program, self.readers, self.kept = program, readers, kept

    def steps(self, steps: list) -> list:
        out: list = []
        for step in steps:
            if isinstance(step, LoopStep):
                step = dataclasses.replace(step, body=tuple(self.steps(list(step.body))))
            elif isinstance(step, BranchStep):
                step = dataclasses.replace(step, bodies=tuple(tuple(self.steps(list(b))) for b in step.bodies))
            out.append(self._inline(out, step))
        return out

    def _inline(self, earlier: list, step):
        """``step`` computing, from their inputs, the results it reads of earlier kernels it alone reads."""
        if not _kernel(step):
            return step
        for source in dict.fromkeys(a.buffer for a in step.inputs):
            if self.readers.get(source, 0) != 1 or source in self.kept or source in step_writes(step):
                continue
            position = _last_writer(earlier, source)
            if position is None:
                continue
            producer = earlier[position]
            inlined = self._inlined(producer, step, source, earlier[position + 1:])
            if inlined is not None:
                if producer.checks:  # its shape checks stay, still naming its node
                    earlier[position] = ElementwiseKernel((), (), (), (), producer.checks, producer.node)
                else:
                    del earlier[position]
                step = inlined
        return step

    def _inlined(self, producer, consumer: ElementwiseKernel, source: int, between: list):
        if not _kernel(producer) or producer.outputs != (source,) or source in producer.reuses:
            return None  # (a kernel that stays for its other outputs would compute shared parts twice)
        if uses(producer.exprs, (Index,)):
            return None  # its loop indices are not the reader's
        buffer, (expr,) = self.program.buffers[source], producer.exprs
        if producer.out_views or tuple(buffer.shape) != tuple(producer.shape) or expr.dtype != buffer.dtype:
            return None  # written densely in its loop's order: element e of the loop is element e of it
        produced_from = {a.buffer for a in producer.inputs}
        if produced_from & set(step_writes(consumer)):
            return None
        if any(produced_from & set(step_writes(s)) or any(a.buffer == source for a in step_inputs(s, values=False))
               for s in between):
            return None
        reads = [a for a in consumer.inputs if a.buffer == source]
        if any(None in a.axes or any(s != 1 for s in a.steps) for a in reads):
            return None  # a broadcast read would compute the same element again and again
        inputs = [a for a in consumer.inputs if a.buffer != source]
        mapping: dict[int, object] = {}
        for position, access in enumerate(consumer.inputs):
            if access.buffer != source:
                mapping[position] = inputs.index(access)
                continue
            inner: dict[int, object] = {}
            for k, original in enumerate(producer.inputs):
                composed = compose(self.program, access, original)
                if composed not in inputs:
                    inputs.append(composed)
                inner[k] = inputs.index(composed)
            mapping[position] = substitute(expr, inner)
        done: dict = {}
        exprs = tuple(substitute(e, mapping, done) for e in consumer.exprs)
        if sum(call_weight(e) for e in post_order(exprs)) > MAX_KERNEL_CALLS:
            return None  # the lowering cut this DAG into pieces LLVM compiles quickly: keep them
        return dataclasses.replace(consumer, inputs=tuple(inputs), exprs=exprs)


def _kernel(step) -> bool:
    return isinstance(step, ElementwiseKernel) and bool(step.outputs) and not uses(step.exprs, (Load,))


def _last_writer(steps: list, buffer: int) -> int | None:
    for position in range(len(steps) - 1, -1, -1):
        if buffer in step_writes(steps[position]):
            return position
    return None
