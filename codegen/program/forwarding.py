"""Store forwarding: a kernel writes its result where a later copy would have put it.

A copy kernel (one input read whole and in order, expression ``Arg(0)``)
that moves a temporary made by an earlier elementwise kernel
of the same step list into another buffer (a loop step's result into
its history row, a gradient's piece into its slice of the whole, a join's
piece, a reshape) costs a pass over memory and, inside a loop, a barrier
per iteration.  When nothing else reads the temporary and nothing
between the two steps touches the copy's target, the producer writes
through the copy's view instead, and the copy goes; its shape checks (a
join's pieces must agree) stay, as a step of their own before the producer.
A fill of part of a buffer that later kernels then write whole, in pieces,
before anything reads it goes too.
"""

from __future__ import annotations

import dataclasses

from theanine.codegen.program import shape_exprs as S
from theanine.codegen.program.kernel_ir import (
    CONTAINERS,
    Access,
    Arg,
    BranchStep,
    ElementwiseKernel,
    GemmCall,
    LoopStep,
    Program,
    ShapeCall,
    flat_steps,
    named_buffers,
    shape_buffers,
    step_inputs,
    step_outputs,
    step_writes,
)

__all__ = ["apart", "compose", "forward_stores", "pinned_buffers", "reader_steps"]


@dataclasses.dataclass(frozen=True)
class _Copy:
    """What a copy kernel moves: the temporary, the target, the view (over the temporary's own
    axes) it writes through (None: densely), and whether it allocates the target."""

    source: int
    target: int
    view: Access | None
    allocates: bool


def forward_stores(program: Program, pinned: set[int]) -> Program:
    """``program`` with every copy that its producer can make itself forwarded (module docstring);
    buffers in ``pinned`` (``pinned_buffers``) keep their contents."""
    readers = reader_steps(program)
    levels: dict[int, set] = {}
    _record_levels(program.steps, None, levels)
    forwarded: set[int] = set()
    steps = _forward(program, list(program.steps), readers, pinned, forwarded, (levels, None))
    if steps == list(program.steps):
        return program
    refs = {key: a for key, a in program.refs.items() if a.buffer not in forwarded}
    return dataclasses.replace(program, steps=steps, refs=refs)


def reader_steps(program: Program) -> dict[int, set[int]]:
    """``id`` of each step (loop and branch bodies included) that reads each buffer's elements."""
    readers: dict[int, set[int]] = {}
    for step in flat_steps(program.steps):
        if not isinstance(step, CONTAINERS):
            for access in step_inputs(step, values=False):
                readers.setdefault(access.buffer, set()).add(id(step))
    return readers


def _record_levels(steps, level, levels: dict[int, set]) -> None:
    """``levels[b]``: the step lists (None: the program's; a loop's or a branch's body, named by
    its node) whose steps touch buffer ``b``."""
    for step in steps:
        if isinstance(step, LoopStep):
            _record_levels(step.body, ("loop", id(step.node)), levels)
        elif isinstance(step, BranchStep):
            for k, body in enumerate(step.bodies):
                _record_levels(body, ("branch", id(step.node), k), levels)
        else:
            for b in {a.buffer for a in step_inputs(step, values=False)} | set(step_writes(step)):
                levels.setdefault(b, set()).add(level)


def _forward(program: Program, steps: list, readers: dict, pinned: set[int], forwarded: set[int],
             where: tuple) -> list:
    levels, level = where
    out: list = []
    for index, step in enumerate(steps):
        if isinstance(step, LoopStep):
            step = dataclasses.replace(step, body=tuple(_forward(program, list(step.body), readers, pinned, forwarded,
                                                                 (levels, ("loop", id(step.node))))))
        elif isinstance(step, BranchStep):
            step = dataclasses.replace(step, bodies=tuple(
                tuple(_forward(program, list(body), readers, pinned, forwarded, (levels, ("branch", id(step.node), k))))
                for k, body in enumerate(step.bodies)))
        copy = _as_copy(program, step)
        if copy is not None and copy.source not in pinned:
            position = _producer(program, out, step, copy, readers)
            if position is not None:
                out[position] = _redirected(out[position], copy)
                if step.checks:
                    out.insert(position, ElementwiseKernel((), (), (), (), step.checks, step.node))
                forwarded.add(copy.source)
                continue
            if (not step.checks and levels.get(copy.source) == {level}
                    and not any(_touches(later, copy.source) for later in steps[index + 1:])
                    and _renamed(program, out, copy)):
                forwarded.add(copy.source)
                continue
        out.append(step)
    out = [step for k, step in enumerate(out) if not _overwritten(step, out[k + 1:])]
    return _products_read_in_place(program, out, readers, pinned)


def _products_read_in_place(program: Program, steps: list, readers: dict, pinned: set[int]) -> list:
    """``steps`` where a copy that only reshapes a buffer into the matrix of its leading axes by its
    last, for products alone to read (a loop's history before the weight gradient's GEMM), is
    dropped: the products read the buffer in place (an operand naming the last two axes of a
    C-contiguous buffer reads those rows; see ``GemmCall``)."""
    for k, step in enumerate(steps):
        source = _matrix_copy(program, step, pinned)
        if source is None:
            continue
        target = step.outputs[0]
        users = [j for j in range(k + 1, len(steps)) if _touches(steps[j], target)]
        if not users or len(readers.get(target, ())) != len(users) or any(
                not _reads_as_matrix(steps[j], target) for j in users):
            continue
        if any(source.buffer in step_writes(s) for s in steps[k + 1:users[-1] + 1]):
            continue
        rank = len(program.buffers[source.buffer].shape)
        rows, columns = (rank - 2, rank - 1)
        for j in users:
            steps[j] = dataclasses.replace(steps[j], **{
                name: Access(source.buffer, (rows, columns) if access.axes == (0, 1) else (columns, rows),
                             source.starts)
                for name, access in (("a", steps[j].a), ("b", steps[j].b)) if access.buffer == target})
        steps[k] = None
    return [s for s in steps if s is not None]


def _matrix_copy(program: Program, step, pinned: set[int]) -> Access | None:
    """How ``step`` reads the buffer (whole, or a run of its leading rows) that it copies, in order,
    into a new matrix of its leading axes by its last; None for any other step."""
    if not (isinstance(step, ElementwiseKernel) and len(step.inputs) == 1 and len(step.outputs) == 1
            and not step.reuses and not step.out_views and not step.checks):
        return None
    (source,), (target,) = step.inputs, step.outputs
    src, dst = program.buffers[source.buffer], program.buffers[target]
    if (target in pinned or dst.role != "temp" or len(dst.shape) != 2 or len(src.shape) < 3 or source.steps
            or any(start != 0 for start in source.starts[1:]) or source.axes != tuple(range(len(src.shape)))
            or tuple(step.shape[1:]) != tuple(src.shape[1:]) or step.exprs != (Arg(0, src.dtype),)
            or dst.dtype != src.dtype or dst.shape[1] != src.shape[-1]):
        return None
    return source


def _reads_as_matrix(step, buffer: int) -> bool:
    """Whether ``step`` is a product that reads ``buffer`` only as a whole matrix operand."""
    if not (isinstance(step, GemmCall) and step.epilogue is None and len(step.a.axes) == 2):
        return False
    if buffer == step.output or buffer in step_writes(step):
        return False
    operands = [a for a in (step.a, step.b) if a.buffer == buffer]
    return bool(operands) and all(a.plain and a.axes in ((0, 1), (1, 0)) for a in operands)


def _overwritten(step, later: list) -> bool:
    """Whether ``step`` only fills part of an existing buffer that later kernels of the same list
    write whole, in pieces, before anything reads it (a gradient's zero fill whose every column
    block the gate kernels then write): the fill is dead."""
    if not (isinstance(step, ElementwiseKernel) and len(step.outputs) == 1 and step.outputs[0] in step.reuses
            and not step.checks):
        return False
    target = step.outputs[0]
    whole = step.output_view(0) or Access(target, tuple(range(len(step.shape))))
    if any(a.buffer == target for a in step.inputs) or any(x != 1 for x in whole.steps):
        return False
    pieces: list[tuple[Access, tuple]] = []
    for kernel in later:
        if not isinstance(kernel, ElementwiseKernel):
            if _touches(kernel, target):
                return False
            continue
        if any(a.buffer == target for a in kernel.inputs):
            return False
        pieces += [(kernel.output_view(j), tuple(kernel.shape)) for j, b in enumerate(kernel.outputs) if b == target]
        if _covers(whole, tuple(step.shape), pieces):
            return True
    return False


def _covers(whole: Access, shape: tuple, pieces: list[tuple[Access, tuple]]) -> bool:
    """Whether the pieces (views with their loops' shapes) tile ``whole`` walked over ``shape``:
    the same axes, one buffer axis cut into blocks of constant width that cover it."""
    if not pieces or any(view is None or view.axes != whole.axes or view.steps for view, _ in pieces):
        return False
    cut = {axis for view, _ in pieces for axis in range(len(view.starts or whole.starts))
           if view.start(axis) != whole.start(axis)}
    if len(cut) != 1:
        return False
    (axis,) = cut
    if axis not in whole.axes:
        return False
    i = whole.axes.index(axis)
    if not isinstance(shape[i], int) or any(
            piece_shape[:i] + piece_shape[i + 1:] != shape[:i] + shape[i + 1:] for _, piece_shape in pieces):
        return False
    blocks = []
    for view, piece_shape in pieces:
        offset = _difference(view.start(axis), whole.start(axis))
        if offset is None or not isinstance(piece_shape[i], int):
            return False
        blocks.append((offset, offset + piece_shape[i]))
    reached = 0
    for first, last in sorted(blocks):
        if first > reached:
            return False
        reached = max(reached, last)
    return reached >= shape[i] and min(first for first, _ in blocks) >= 0


def _as_copy(program: Program, step) -> _Copy | None:
    """The copy ``step`` makes of a whole temporary, or None when it is no such copy."""
    if not isinstance(step, ElementwiseKernel) or len(step.inputs) != 1 or len(step.outputs) != 1:
        return None
    (source,), (target,) = step.inputs, step.outputs
    temp = program.buffers[source.buffer]
    if not program.buffers[target].shape:
        return None  # a 0-d buffer's value may size later steps (the passes here do not search for that)
    if (temp.role != "temp" or program.buffers[target].role == "input" or target == source.buffer
            or step.exprs != (Arg(0, temp.dtype),) or program.buffers[target].dtype != temp.dtype or not source.plain):
        return None
    kept = [i for i, a in enumerate(source.axes) if a is not None]
    if [source.axes[i] for i in kept] != list(range(len(temp.shape))):
        return None
    if any(step.shape[i] != 1 for i in range(len(step.shape)) if i not in kept):
        return None
    if tuple(step.shape[i] for i in kept) != tuple(temp.shape):
        return None
    view = step.output_view(0)
    if view is not None:
        view = Access(target, tuple(view.axes[i] for i in kept), view.starts,
                      tuple(view.step(i) for i in kept) if view.steps else ())
    return _Copy(source.buffer, target, view, target not in step.reuses)


def _producer(program: Program, earlier: list, copy_step, copy: _Copy, readers: dict) -> int | None:
    """The position in ``earlier`` of the elementwise kernel that can write ``copy``'s temporary
    through its view, or None."""
    checked = {b for pair in copy_step.checks for e in pair for b in shape_buffers(e, values_only=True)}
    if copy.allocates:  # the producer allocates the target: its size must be known before the producer runs
        checked |= {b for d in program.buffers[copy.target].shape for b in shape_buffers(d, values_only=True)}
    for position in range(len(earlier) - 1, -1, -1):
        step = earlier[position]
        if checked & set(step_writes(step)):
            return None  # the checks (or the target's size) read a value written after the producer ran
        if copy.source in step_writes(step):
            break
        if copy.target in step_writes(step) or any(a.buffer == copy.target for a in step_inputs(step, values=False)):
            return None
    else:
        return None
    if isinstance(step, GemmCall):
        return position if _gemm_can_write(program, step, copy, readers, copy_step) else None
    if not isinstance(step, ElementwiseKernel) or copy.source not in step.outputs:
        return None
    j = step.outputs.index(copy.source)
    if step.output_view(j) is not None or tuple(step.shape) != tuple(program.buffers[copy.source].shape):
        return None
    if readers.get(copy.source, set()) - {id(copy_step), id(step)}:
        return None
    shape = tuple(step.shape)
    others = [v for b, v in zip(step.outputs, (step.output_view(i) for i in range(len(step.outputs))), strict=True)
              if b == copy.target]
    if any(not apart(v, copy.view, shape) for v in others):
        return None
    if any(a.buffer == copy.target and not apart(a, copy.view, shape) for a in step.inputs):
        return None
    return position


def _touches(step, buffer: int) -> bool:
    return buffer in step_writes(step) or any(a.buffer == buffer for a in step_inputs(step, values=False))


def _renamed(program: Program, earlier: list, copy: _Copy) -> bool:
    """Have every step from the one that makes the temporary up to the copy use the copy's view of
    its target instead (several steps write parts of it, others read it: a gradient assembled in
    slices, a product both read and recorded).  The caller has checked that no other step touches
    the temporary.  ``earlier`` is changed in place; False (and ``earlier`` untouched) when some
    step cannot, or anything else touches the target meanwhile."""
    if copy.view is None or copy.allocates:
        return False
    source, rank = copy.source, len(program.buffers[copy.source].shape)
    if len(copy.view.axes) != rank:
        return False
    start = None
    for position in range(len(earlier) - 1, -1, -1):
        step = earlier[position]
        if _touches(step, copy.target):
            return False
        if source in step_outputs(step):
            start = position
            break
    if start is None:
        return False
    renamed = [_through(program, s, source, copy) for s in earlier[start:]]
    if any(s is None for s in renamed):
        return False
    earlier[start:] = renamed
    return True


def _through(program: Program, step, source: int, copy: _Copy):
    """``step`` reading and writing ``copy``'s view of its target wherever it used ``source``, or
    None when it cannot say so; a step that does not touch ``source`` comes back as it is."""
    if not _touches(step, source):
        return step
    view = copy.view
    if isinstance(step, ElementwiseKernel):
        inputs = tuple(compose(program, a, view) if a.buffer == source else a for a in step.inputs)
        outputs, views = list(step.outputs), [step.output_view(j) for j in range(len(step.outputs))]
        for j, b in enumerate(outputs):
            if b != source:
                continue
            own = views[j]
            if own is None:
                if tuple(step.shape) != tuple(program.buffers[source].shape):
                    return None
                own = Access(source, tuple(range(len(step.shape))))
            outputs[j], views[j] = copy.target, compose(program, own, view)
        reuses = tuple(dict.fromkeys(copy.target if b == source else b for b in step.reuses))
        if copy.target in outputs and copy.target not in reuses:
            reuses += (copy.target,)
        return dataclasses.replace(step, inputs=inputs, outputs=tuple(outputs), reuses=reuses,
                                   out_views=tuple(views) if any(v is not None for v in views) else ())
    if isinstance(step, GemmCall) and step.epilogue is None and len(step.a.axes) == 2:
        a = compose(program, step.a, view) if step.a.buffer == source else step.a
        b = compose(program, step.b, view) if step.b.buffer == source else step.b
        if step.output != source:
            return dataclasses.replace(step, a=a, b=b)
        if step.beta != 0.0 or step.out_view is not None or len(program.buffers[source].shape) != 2:
            return None
        return dataclasses.replace(step, a=a, b=b, output=copy.target, out_view=view)
    return None


def compose(program: Program, access: Access, view: Access) -> Access:
    """``access`` of a buffer whose elements are ``view`` of another: the same elements, addressed
    in the other buffer (where the view broadcasts an axis, so does the result)."""
    starts = list(view.starts) or [0] * len(program.buffers[view.buffer].shape)
    for axis, target_axis in enumerate(view.axes):
        if target_axis is not None:
            starts[target_axis] = S.add(starts[target_axis], S.mul(access.start(axis), view.step(axis)))
    axes = tuple(None if a is None else view.axes[a] for a in access.axes)
    steps = tuple(1 if a is None else S.mul(access.step(i), view.step(a)) for i, a in enumerate(access.axes))
    return Access(view.buffer, axes, tuple(starts), steps if any(x != 1 for x in steps) else ())


def _gemm_can_write(program: Program, gemm: GemmCall, copy: _Copy, readers: dict, copy_step) -> bool:
    """Whether the product (one matrix, not accumulated, nothing after it in its step) can go
    straight into the copy's view of a buffer that already exists."""
    return (gemm.output == copy.source and len(gemm.a.axes) == 2 and gemm.beta == 0.0 and gemm.epilogue is None
            and gemm.out_view is None and copy.view is not None and not copy.allocates
            and len(copy.view.axes) == 2 and len(program.buffers[copy.source].shape) == 2
            and not readers.get(copy.source, set()) - {id(copy_step)}
            and copy.target not in (gemm.a.buffer, gemm.b.buffer))


def apart(one: Access | None, other: Access | None, shape: tuple) -> bool:
    """Whether two views of one buffer walked over ``shape`` provably touch different elements: on
    a buffer axis neither walks, their starts always differ (two rows of a history, or of a ring
    of them); or both walk it along the same loop axis, one element a step, from starts at least
    that axis's (constant) length apart (two column blocks of a gate matrix)."""
    if one is None or other is None:
        return False
    for axis in range(max(len(one.starts), len(other.starts))):
        walks = [i for i, a in enumerate(one.axes) if a == axis], [i for i, a in enumerate(other.axes) if a == axis]
        if walks == ([], []) and _distinct(one.start(axis), other.start(axis)):
            return True
        difference = _difference(one.start(axis), other.start(axis))
        if difference is None or difference == 0:
            continue
        if (len(walks[0]) == 1 and walks[0] == walks[1] and one.step(walks[0][0]) == other.step(walks[0][0]) == 1
                and isinstance(shape[walks[0][0]], int) and abs(difference) >= shape[walks[0][0]]):
            return True
    return False


def _distinct(a, b) -> bool:
    """Whether two positions always differ: by a nonzero constant, or as ``x mod n`` and ``(x + k)
    mod n`` (a ring's rows: ``x - x // n * n``) with ``k`` not a multiple of ``n``."""
    difference = _difference(a, b)
    if difference is not None:
        return difference != 0
    ring_a, ring_b = _residue(a), _residue(b)
    if ring_a is None or ring_b is None or ring_a[1] != ring_b[1]:
        return False
    shift = _difference(ring_a[0], ring_b[0])
    return shift is not None and shift % ring_a[1] != 0


def _residue(expr) -> tuple | None:
    """``(x, n)`` when ``expr`` is ``x - x // n * n`` for an int ``n > 0``."""
    if not (isinstance(expr, ShapeCall) and expr.op == "sub" and len(expr.args) == 2):
        return None
    x, product = expr.args
    if not (isinstance(product, ShapeCall) and product.op == "mul" and len(product.args) == 2):
        return None
    quotient, n = product.args
    if (isinstance(n, int) and n > 0 and isinstance(quotient, ShapeCall) and quotient.op == "floordiv"
            and quotient.args == (x, n)):
        return x, n
    return None


def _difference(a, b) -> int | None:
    """``a - b`` when it is a constant: two ints, equal expressions, or one is the other plus an int."""
    if isinstance(a, int) and isinstance(b, int):
        return a - b
    if a == b:
        return 0
    for x, y, sign in ((a, b, 1), (b, a, -1)):
        if isinstance(x, ShapeCall) and x.op == "add" and len(x.args) == 2:
            base, offset = x.args
            if base == y and isinstance(offset, int):
                return sign * offset
    return None


def _redirected(producer, copy: _Copy):
    """``producer`` writing ``copy.source``'s values through ``copy.view`` into ``copy.target``."""
    if isinstance(producer, GemmCall):
        return dataclasses.replace(producer, output=copy.target, out_view=copy.view)
    j = producer.outputs.index(copy.source)
    views = [producer.output_view(i) for i in range(len(producer.outputs))]
    views[j] = copy.view
    outputs = producer.outputs[:j] + (copy.target,) + producer.outputs[j + 1:]
    allocated_here = copy.allocates or (copy.target in producer.outputs and copy.target not in producer.reuses)
    reuses = tuple(b for b in producer.reuses if b != copy.source)
    if not allocated_here and copy.target not in reuses:
        reuses += (copy.target,)
    return dataclasses.replace(producer, outputs=outputs, reuses=reuses,
                               out_views=tuple(views) if any(v is not None for v in views) else ())


def pinned_buffers(program: Program) -> set[int]:
    """Buffers that must keep their contents: outputs, loop and branch control buffers and what
    they allocate, buffers sized from their own data, and every buffer whose shape or value a
    shape expression reads.  Expressions are not searched: the only shapes they read (a
    ``Size``, a gather's bounds) are shapes of inputs or of buffers sized from their own data."""
    pinned = {a.buffer for a in program.outputs}
    for step in flat_steps(program.steps):
        if isinstance(step, LoopStep):
            pinned |= {step.counter, *step.allocates} | {b for b in (step.stop, step.ran) if b is not None}
        elif isinstance(step, BranchStep):
            pinned |= {step.condition, *step.allocates}
    expressions = frozenset({"exprs", "expr", "value", "coords"})
    return pinned | named_buffers([program.buffers, program.steps], skipped=expressions)
