"""Kernel epilogues: an elementwise kernel that reads another's output at the same element runs in its loop.

Lowering gives a node that is not an ``Elemwise`` (max pooling's gradient,
a direct convolution) a kernel of its own, and the elementwise node after
it another: the ReLU gradient after ``MaxPoolGrad`` reads the whole
gradient back from memory right after it was written.
``absorb_consumers`` rewrites such pairs into one kernel that computes the
producer's expression and feeds it to the consumer's in registers: the
producer's output is written only when something else still reads it (or
a shape names its dimensions).  The LLVM backend runs it after
``absorb_epilogues``.

A pair qualifies when both loop over the same shape, the consumer reads
the producer's output only at the loop element (a plain, untransposed
access), gathers nothing itself, cannot fail while writing, and writes
nothing the producer reads; the producer may gather (its ``Load``
positions keep their inputs, which stay first) but cannot fail while
writing either.  Nothing between the two may write what the consumer
reads, nor read or write what it writes: the consumer's work moves up to
the producer's place.  A consumer's shape checks stay behind as a
check-only step in front, so a failure still names its node.

A consumer that updates a buffer in place writes a new buffer instead
when the producer walks its loop with indices (it gathers): every later
reference to the old buffer is renamed.  The loop vectorizer cannot tell
that an in-place read and write through different strides meet at the
same address, and would fall back to scalar code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import fields, is_dataclass

from theanine.codegen.program.expressions import substitute
from theanine.codegen.program.fallible import fails_while_writing
from theanine.codegen.program.kernel_ir import (
    Access,
    Buffer,
    DimOf,
    ElementwiseKernel,
    HostCall,
    Load,
    LoopStep,
    Program,
    named_buffers,
    step_inputs,
    step_writes,
    uses,
    uses_indices,
)

__all__ = ["absorb_consumers"]


def absorb_consumers(program: Program) -> Program:
    """``program`` with each qualifying elementwise consumer run inside its producer's kernel."""
    steps, buffers = list(program.steps), list(program.buffers)
    outputs = {a.buffer for a in program.outputs}
    sized = _sized_by(steps, buffers)
    changed = False
    k = 0
    while k < len(steps):
        producer = steps[k]
        if _producer_fits(producer, outputs):
            fused = _absorb_next(steps, buffers, k, outputs, sized)
            if fused:
                changed = True
                continue  # the fused kernel may take the next consumer as well
        k += 1
    return dataclasses.replace(program, steps=steps, buffers=buffers) if changed else program


def _producer_fits(step, outputs: set) -> bool:
    return (isinstance(step, ElementwiseKernel) and len(step.outputs) >= 1 and not step.out_views
            and not fails_while_writing(step) and not any(b in outputs for b in step.reuses))


def _absorb_next(steps: list, buffers: list, k: int, outputs: set, sized: set) -> bool:
    """Fuse into ``steps[k]`` the first later step that reads one of its outputs, when it qualifies
    (``outputs``: the program's; ``sized``: buffers whose dimensions a shape names)."""
    producer = steps[k]
    written = set(producer.outputs)
    for j in range(k + 1, len(steps)):
        step = steps[j]
        if written & ({a.buffer for a in step_inputs(step)} | set(step_writes(step))):
            break
    else:
        return False
    if not _consumer_fits(producer, step):
        return False
    reads, writes = {a.buffer for a in step_inputs(step)}, set(step_writes(step))
    for between in steps[k + 1:j]:
        if isinstance(between, (HostCall, LoopStep)):
            return False
        between_reads, between_writes = {a.buffer for a in step_inputs(between)}, set(step_writes(between))
        if (between_reads | between_writes) & writes or between_writes & reads:
            return False
    consumer = dataclasses.replace(step, checks=())
    if consumer.reuses and uses_indices(producer.exprs):
        if any(b in outputs for b in consumer.reuses):
            return False
        consumer = _fresh_outputs(consumer, steps, buffers, j)
    later_reads = {a.buffer for s in steps[j + 1:] for a in step_inputs(s)} | outputs | sized
    fused = _fuse(producer, consumer, later_reads)
    del steps[j]
    steps[k] = fused
    if step.checks:
        steps.insert(k, ElementwiseKernel((), (), (), (), step.checks, step.node))
    return True


def _consumer_fits(producer: ElementwiseKernel, step) -> bool:
    """An elementwise kernel over the producer's shape that reads the producer's outputs at the
    loop element only, gathers nothing, cannot fail while writing and leaves the producer's inputs
    alone."""
    if not isinstance(step, ElementwiseKernel) or tuple(step.shape) != tuple(producer.shape) or step.out_views:
        return False
    if uses(step.exprs, (Load,)) or fails_while_writing(step):
        return False
    identity = tuple(range(len(producer.shape)))
    if any(a.buffer in producer.outputs and (not a.plain or a.axes != identity) for a in step.inputs):
        return False
    direct = {a.buffer for a in step.inputs} | set(step.reuses)
    if not direct & set(producer.outputs) or ({a.buffer for a in step_inputs(step)} - direct) & set(producer.outputs):
        return False  # it must read them as elements, not as values in its shapes or checks
    return not set(step_writes(step)) & ({a.buffer for a in producer.inputs} | set(producer.outputs))


def _fuse(producer: ElementwiseKernel, consumer: ElementwiseKernel, later_reads: set) -> ElementwiseKernel:
    """One kernel: the producer's expressions, then the consumer's with its reads of the producer's
    outputs replaced by their expressions; a producer output nothing later reads is not written."""
    made = dict(zip(producer.outputs, producer.exprs, strict=True))
    inputs = list(producer.inputs)
    mapping: dict = {}
    for position, access in enumerate(consumer.inputs):
        if access.buffer in made:
            mapping[position] = made[access.buffer]
        elif access in inputs:
            mapping[position] = inputs.index(access)
        else:
            mapping[position] = len(inputs)
            inputs.append(access)
    renamed = tuple(substitute(e, mapping) for e in consumer.exprs)
    kept = [(o, e) for o, e in made.items() if o in later_reads or o in producer.reuses]
    outputs = tuple(o for o, _ in kept) + consumer.outputs
    exprs = tuple(e for _, e in kept) + renamed
    reuses = tuple(dict.fromkeys(r for r in producer.reuses + consumer.reuses))
    return ElementwiseKernel(tuple(inputs), outputs, exprs, producer.shape, producer.checks, producer.node,
                             reuses=reuses)


def _fresh_outputs(consumer: ElementwiseKernel, steps: list, buffers: list, j: int) -> ElementwiseKernel:
    """``consumer`` (at ``steps[j]``) writing new buffers instead of updating its ``reuses`` in place;
    the steps after it read and write the new ones."""
    for old in consumer.reuses:
        new = len(buffers)
        buffers.append(Buffer(new, buffers[old].dtype, buffers[old].shape, "temp"))
        consumer = dataclasses.replace(consumer, outputs=tuple(new if o == old else o for o in consumer.outputs))
        for later in range(j + 1, len(steps)):
            steps[later] = _renamed(steps[later], old, new)
    return dataclasses.replace(consumer, reuses=())


_STEP_BUFFER_FIELDS = frozenset({"output", "outputs", "target", "scratch", "reuses", "counter", "allocates",
                                 "stop", "ran", "condition"})


def _renamed(item, old: int, new: int):
    """``item`` (a step, an access, or a tuple of them) with buffer ``old`` renamed ``new`` in its
    accesses and in the buffer fields of its steps (nested bodies and epilogues included); shape
    expressions keep naming ``old``, whose shape is the same."""
    if isinstance(item, Access):
        return dataclasses.replace(item, buffer=new) if item.buffer == old else item
    if isinstance(item, (tuple, list)):
        return type(item)(_renamed(x, old, new) for x in item)
    if not is_dataclass(item) or not hasattr(item, "node"):
        return item
    changes = {}
    for f in fields(item):
        if f.name in ("node", "producer"):
            continue
        value = getattr(item, f.name)
        if f.name in _STEP_BUFFER_FIELDS:
            if value == old:
                changes[f.name] = new
            elif isinstance(value, tuple) and old in value:
                changes[f.name] = tuple(new if b == old else b for b in value)
        else:
            changes[f.name] = _renamed(value, old, new)
    return dataclasses.replace(item, **changes)


def _sized_by(steps: list, buffers: list) -> set[int]:
    """Buffers whose dimensions (``DimOf``) some buffer's shape or step names: they must exist, so
    they are written even when no step reads their elements."""
    return named_buffers([b.shape for b in buffers] + list(steps), (DimOf,))
