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

A producer that writes one buffer through strided views covering it
exactly once (max pooling's gradient by window: one view per tap) takes a
consumer over the whole buffer too: the consumer runs once per view, its
reads and writes walking the buffer as that view does.  It also takes a
consumer over its own loop that reads the buffer through those same views
(a max pool over the 2x2 output tiles of a Winograd convolution): at each
loop element the consumer reads what the producer has just computed.

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
import itertools
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
    footprint = _Footprints()
    changed = False
    k = 0
    while k < len(steps):
        producer = steps[k]
        if _producer_fits(producer, outputs):
            fused = _absorb_next(steps, buffers, k, outputs, sized, footprint)
            if fused:
                changed = True
                continue  # the fused kernel may take the next consumer as well
        k += 1
    return dataclasses.replace(program, steps=steps, buffers=buffers) if changed else program


class _Footprints:
    """The buffers each step reads and writes, worked out once per step object: the search for a
    producer's next reader would otherwise walk every later step's expressions for every producer
    (AugMix's program of ~800 steps spent 39 s there)."""

    def __init__(self):
        self._known: dict[int, tuple[object, frozenset, frozenset]] = {}

    def __call__(self, step) -> tuple[frozenset, frozenset]:
        known = self._known.get(id(step))
        if known is None or known[0] is not step:
            known = (step, frozenset(a.buffer for a in step_inputs(step)), frozenset(step_writes(step)))
            self._known[id(step)] = known
        return known[1], known[2]


def _producer_fits(step, outputs: set) -> bool:
    return (isinstance(step, ElementwiseKernel) and len(step.outputs) >= 1
            and (not step.out_views or _covered_shape(step) is not None)
            and not fails_while_writing(step) and not any(b in outputs for b in step.reuses))


def _covered_shape(producer: ElementwiseKernel) -> tuple | None:
    """The shape of the one buffer ``producer`` writes through views that cover it exactly once
    (each axis either walked whole, or in static steps whose starts, over the views, take every
    offset below the step once); its loop shape when it writes densely; else None."""
    if not producer.out_views:
        return tuple(producer.shape)
    views = producer.out_views
    if None in views or len(set(producer.outputs)) != 1 or any(
            v.axes != tuple(range(len(producer.shape))) for v in views):
        return None
    shape, strided = [], []
    for axis, size in enumerate(producer.shape):
        steps = {v.step(axis) for v in views}
        if len(steps) != 1 or not isinstance(step := steps.pop(), int) or step < 1:
            return None
        if step == 1:
            if {v.start(axis) for v in views} != {0}:
                return None
            shape.append(size)
        elif isinstance(size, int):
            shape.append(size * step)
            strided.append(axis)
        else:
            return None
    offsets = sorted(tuple(v.start(a) for a in strided) for v in views)
    expected = sorted(itertools.product(*(range(views[0].step(a)) for a in strided)))
    return tuple(shape) if offsets == expected else None


def _absorb_next(steps: list, buffers: list, k: int, outputs: set, sized: set, footprint: _Footprints) -> bool:
    """Fuse into ``steps[k]`` the first later step that reads or writes one of its outputs, when it
    qualifies (``outputs``: the program's; ``sized``: buffers whose dimensions a shape names).  The
    search stops there: a consumer further on would compute its outputs earlier than it does, and
    keep them (a Winograd kernel gradient's 16 transformed tiles) alive across the steps between."""
    producer = steps[k]
    written = set(producer.outputs)
    for j in range(k + 1, len(steps)):
        step = steps[j]
        reads, writes = footprint(step)
        if written & (reads | writes):
            break
    else:
        return False
    aligned = _reads_through_the_views(producer, step)
    if not aligned and not _consumer_fits(producer, step, buffers):
        return False
    for between in steps[k + 1:j]:
        if isinstance(between, (HostCall, LoopStep)):
            return False
        between_reads, between_writes = footprint(between)
        if (between_reads | between_writes) & writes or between_writes & reads:
            return False
    consumer = dataclasses.replace(step, checks=())
    if consumer.reuses and uses_indices(producer.exprs):
        if any(b in outputs for b in consumer.reuses):
            return False
        consumer = _fresh_outputs(consumer, steps, buffers, j)
    later_reads = set().union(*(footprint(s)[0] for s in steps[j + 1:])) | outputs | sized
    fused = _fuse_aligned(producer, consumer, later_reads) if aligned else _fuse(producer, consumer, later_reads)
    del steps[j]
    steps[k] = fused
    if step.checks:
        steps.insert(k, ElementwiseKernel((), (), (), (), step.checks, step.node))
    return True


def _consumer_fits(producer: ElementwiseKernel, step, buffers: list) -> bool:
    """An elementwise kernel over the producer's shape that reads the producer's outputs at the
    loop element only, gathers nothing, cannot fail while writing and leaves the producer's inputs
    alone.  Under a producer that writes through views (then the consumer runs once per view),
    its reads are plain and its outputs have its loop's shape: a dense output is written in loop
    order, which a view of another shape is not."""
    if not isinstance(step, ElementwiseKernel) or tuple(step.shape) != _covered_shape(producer) or step.out_views:
        return False
    if uses(step.exprs, (Load,)) or fails_while_writing(step):
        return False
    if any(a.buffer in producer.outputs and not _at_the_element(a, step.shape) for a in step.inputs):
        return False
    if producer.out_views and (not all(a.plain for a in step.inputs)
                               or any(tuple(buffers[o].shape) != tuple(step.shape) for o in step.outputs)):
        return False
    direct = {a.buffer for a in step.inputs} | set(step.reuses)
    if not direct & set(producer.outputs) or ({a.buffer for a in step_inputs(step)} - direct) & set(producer.outputs):
        return False  # it must read them as elements, not as values in its shapes or checks
    return not set(step_writes(step)) & ({a.buffer for a in producer.inputs} | set(producer.outputs))


def _reads_through_the_views(producer: ElementwiseKernel, step) -> bool:
    """A kernel over the producer's loop that reads the producer's outputs only through the views
    they are written through (so at each element what the producer computed there), gathers
    nothing, cannot fail while writing and leaves the producer's inputs alone."""
    if not producer.out_views or not isinstance(step, ElementwiseKernel) or \
            tuple(step.shape) != tuple(producer.shape) or uses(step.exprs, (Load,)) or fails_while_writing(step):
        return False
    made = set(producer.outputs)
    if step.reuses or set(step_writes(step)) & ({a.buffer for a in producer.inputs} | made):
        return False
    reads = [a for a in step.inputs if a.buffer in made]
    if not reads or any(a not in producer.out_views for a in reads):
        return False
    return not ({a.buffer for a in step_inputs(step)} - {a.buffer for a in step.inputs}) & made


def _fuse_aligned(producer: ElementwiseKernel, consumer: ElementwiseKernel, later_reads: set) -> ElementwiseKernel:
    """One kernel over the common loop: the producer's expressions, then the consumer's, its reads
    through the producer's views replaced by the expressions written there."""
    inputs = list(producer.inputs)
    by_view = {v: e for v, e in zip(producer.out_views, producer.exprs, strict=True)}
    mapping: dict = {}
    for position, access in enumerate(consumer.inputs):
        if access in by_view:
            mapping[position] = by_view[access]
            continue
        if access not in inputs:
            inputs.append(access)
        mapping[position] = inputs.index(access)
    kept = [j for j, o in enumerate(producer.outputs) if o in later_reads or o in producer.reuses]
    return ElementwiseKernel(
        tuple(inputs), tuple(producer.outputs[j] for j in kept) + consumer.outputs,
        tuple(producer.exprs[j] for j in kept) + tuple(substitute(e, mapping) for e in consumer.exprs),
        producer.shape, producer.checks, producer.node, reuses=producer.reuses,
        out_views=tuple(producer.out_views[j] for j in kept) + tuple(
            consumer.output_view(j) for j in range(len(consumer.outputs))))


def _at_the_element(access: Access, shape) -> bool:
    """Whether ``access`` reads its buffer at the loop element (an axis of size 1 may be broadcast)."""
    return access.plain and len(access.axes) == len(shape) and all(
        a == i or (a is None and size == 1) for i, (a, size) in enumerate(zip(access.axes, shape, strict=True)))


def _fuse(producer: ElementwiseKernel, consumer: ElementwiseKernel, later_reads: set) -> ElementwiseKernel:
    """One kernel: the producer's expressions, then the consumer's with its reads of the producer's
    outputs replaced by their expressions; a producer output nothing later reads is not written.
    Under a producer's views the consumer runs once per view, reading and writing through it."""
    inputs = list(producer.inputs)
    views = producer.out_views or (None,)
    produced = [(o, e, producer.output_view(j)) for j, (o, e) in enumerate(zip(producer.outputs, producer.exprs,
                                                                          strict=True))]
    kept = [item for item in produced if item[0] in later_reads or item[0] in producer.reuses]
    outputs, exprs, out_views = [o for o, _, _ in kept], [e for _, e, _ in kept], [v for _, _, v in kept]
    for view in views:
        made = {o: e for o, e, v in produced if v == view}
        mapping: dict = {}
        for position, access in enumerate(consumer.inputs):
            if access.buffer in made:
                mapping[position] = made[access.buffer]
                continue
            walked = access if view is None else _walked_as(access, view)
            if walked not in inputs:
                inputs.append(walked)
            mapping[position] = inputs.index(walked)
        exprs += [substitute(e, mapping) for e in consumer.exprs]
        outputs += consumer.outputs
        out_views += [None if view is None else dataclasses.replace(view, buffer=o) for o in consumer.outputs]
    reuses = tuple(dict.fromkeys(r for r in producer.reuses + consumer.reuses))
    return ElementwiseKernel(tuple(inputs), tuple(outputs), tuple(exprs), producer.shape, producer.checks,
                             producer.node, reuses=reuses,
                             out_views=tuple(out_views) if producer.out_views else ())


def _walked_as(access: Access, view: Access) -> Access:
    """Plain ``access`` (transposes and broadcasts only) walking its buffer as output ``view`` walks
    the loop: from the view's start along each loop axis, in the view's steps."""
    starts = [0] * (max((a for a in access.axes if a is not None), default=-1) + 1)
    for axis, buffer_axis in enumerate(access.axes):
        if buffer_axis is not None:
            starts[buffer_axis] = view.start(axis)
    steps = tuple(1 if b is None else view.step(axis) for axis, b in enumerate(access.axes))
    return dataclasses.replace(access, starts=tuple(starts), steps=steps)


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
