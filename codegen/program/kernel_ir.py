"""The backend-neutral kernel program that every native printer shares.

A ``Program`` is a schedule of steps over a table of buffers:

- ``ElementwiseKernel``: a loop nest over the output's index space whose
  body is a DAG of scalar expressions (``Arg``, ``Lit``, ``Call``) per
  element.  Inputs are read through an ``Access``: for every loop axis, the
  buffer axis it walks, or None where the input is broadcast (stride 0).
  Transposes and broadcasts (DimShuffle) are folded into accesses, so they
  cost nothing at run time.
- ``ReduceKernel``: combine an elementwise expression of its inputs along
  some axes with an associative function (``add``, ``mul``, ``max``,
  ``min``, ``and``, ``or``) starting from its identity, so that
  ``sum(x ** 2)`` or the denominator of a softmax reads memory once.
- ``ArgReduceKernel``: the position of the first maximum/minimum over some
  axes (NumPy's rules: the first NaN wins).
- ``ScanKernel``: a running sum/product along one axis.
- ``ScatterKernel``: ``target[indices(e)] = value(e)`` (or ``+=``) for every
  element ``e`` of a loop nest, in order, into a buffer an earlier step
  made: set/inc of subtensors, repeated indices accumulating.
- ``NonzeroKernel``: the coordinates of the true elements of a boolean
  mask, one row each in C order (a serial compaction; an earlier count
  reduction sizes its output): boolean-mask indexing becomes a gather or
  scatter with these rows as index arrays.
- ``SortKernel``: the stable argsort of a 1-D key buffer (a serial merge
  sort with a scratch buffer), or a binary search of each query in keys
  already sorted (NumPy's ``searchsorted(side="right")``): random
  permutations and weighted choices.
- ``GemmCall``: C = alpha * A @ B + beta * C on float matrices, or on
  stacks of them (leading batch axes): a library call per matrix (BLAS on
  CPUs).
- ``HostCall``: run an op's NumPy ``perform``: the fallback for ops with no
  native lowering, so every graph compiles.
- ``LoopStep``: run a body of steps (the step graph of a ``Scan``) once
  per iteration, inside native code.  The iteration number lives in a 0-d
  buffer that the body's accesses read as a slice start (``ValueOf``), so
  ``x[t]`` and a tap's row of a history buffer are ordinary views; a
  ``while`` loop ends after the iteration whose stop buffer holds true.
- ``BranchStep``: run one of two bodies of steps, chosen by a 0-d buffer
  (``ifelse``): only the branch taken computes anything.

Shapes are symbolic: each buffer's shape is a tuple of ``ShapeExpr``
(a literal int, a dimension of another buffer, the value of a 0-d integer
buffer, or integer arithmetic on those), evaluated at run time from the
input shapes (``shape_function``), so one compiled program serves every
batch size.

Views cost nothing: an ``Access`` composes transposes, broadcasts
(DimShuffle, BroadcastTo) and basic slicing (a start per buffer axis, a
step per loop axis), and every kernel reads its inputs through one.
Expressions may also read an input at computed coordinates (``Load``: a
gather, with NumPy's negative-index wrap and a bounds check whose failure
is reported as the step's failure).

In-place steps write into a buffer that already exists (an earlier step's
result, or an input the graph allows to be destroyed): such buffers are
listed in the step's ``reuses`` (or are a scatter's target) and are not
among ``step_outputs``, so a runner never allocates them.
Nothing here is CPU-specific: vector width, threads and unrolling are the
printers' decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

# --- scalar expressions ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arg:
    """The element of kernel input ``position``."""

    position: int
    dtype: str


@dataclass(frozen=True, slots=True)
class Lit:
    """A literal value."""

    value: float | int | bool
    dtype: str


@dataclass(frozen=True, slots=True)
class Index:
    """The loop index along ``axis`` (int64): one-hot masks, ranges, identity matrices."""

    axis: int
    dtype: str = "int64"


@dataclass(frozen=True, slots=True)
class Size:
    """The run-time value of a dimension (int64), e.g. for ``x.shape[i]``."""

    dim: object
    dtype: str = "int64"


class _Node:
    """Equality and hashing for expression nodes that hold other nodes, without recursion.

    Expressions are DAGs thousands of nodes deep (long fused chains): the
    hash is computed once, from the children's cached hashes, when the node
    is made (children are always made first), and equality walks both
    DAGs with a stack, stopping early at shared subexpressions.
    """

    __slots__ = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((type(self).__name__,) + self._parts()))

    def _parts(self) -> tuple:
        return tuple(getattr(self, f.name) for f in fields(self) if f.compare)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        stack = [(self, other)]
        while stack:
            a, b = stack.pop()
            if a is b:
                continue
            if isinstance(a, _Node):
                if type(a) is not type(b) or a._hash != b._hash:
                    return False
                stack.extend(zip(a._parts(), b._parts(), strict=True))
            elif isinstance(a, tuple):
                if not isinstance(b, tuple) or len(a) != len(b):
                    return False
                stack.extend(zip(a, b, strict=True))
            elif a != b:
                return False
        return True


@dataclass(frozen=True, slots=True, eq=False)
class Load(_Node):
    """Kernel input ``position`` read at coordinates ``coords`` (one int64 expression per axis of its access).

    ``checked[i]`` marks coordinates that come from user data: they wrap
    once when negative (NumPy) and must then lie in ``[0, sizes[i])``,
    else the step fails (the value read is then 0 and nothing is written).
    """

    position: int
    coords: tuple
    sizes: tuple
    checked: tuple[bool, ...]
    dtype: str
    _hash: int = field(init=False, repr=False, compare=False)


@dataclass(frozen=True, slots=True, eq=False)
class Call(_Node):
    """Scalar op ``op`` (the ScalarOp name, e.g. "add", "exp", "cast_float64") on ``args``."""

    op: str
    args: tuple[Expr, ...]
    dtype: str
    _hash: int = field(init=False, repr=False, compare=False)


Expr = Arg | Lit | Index | Size | Load | Call

# --- shapes -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DimOf:
    """Dimension ``axis`` of buffer ``buffer`` (known once that buffer exists)."""

    buffer: int
    axis: int


@dataclass(frozen=True, slots=True)
class ValueOf:
    """The run-time value of element ``item`` of a 0-d or 1-d integer buffer (a size given as data)."""

    buffer: int
    item: int = 0


@dataclass(frozen=True, slots=True, eq=False)
class ShapeCall(_Node):
    """Integer arithmetic on shapes: ``op`` is one of ``SHAPE_OPS``."""

    op: str
    args: tuple
    _hash: int = field(init=False, repr=False, compare=False)


ShapeExpr = int | DimOf | ValueOf | ShapeCall

SHAPE_OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "floordiv": lambda a, b: a // b if b else 0,
    "max": max,
    "min": min,
    "lt": lambda a, b: int(a < b),
    "where": lambda c, a, b: a if c else b,
}
"""Python semantics of the shape ops (floor division; a zero divisor gives 0)."""


def evaluate_shape(expr: ShapeExpr, arrays) -> int:
    """The value of ``expr`` given the buffers' arrays (iterative: shape DAGs can be deep)."""
    values: dict = {}
    stack = [(expr, False)]
    while stack:
        e, ready = stack.pop()
        if isinstance(e, int):
            values[e] = e
        elif isinstance(e, DimOf):
            values[e] = int(arrays[e.buffer].shape[e.axis])
        elif isinstance(e, ValueOf):
            values[e] = int(arrays[e.buffer].reshape(-1)[e.item])
        elif not ready:
            stack.append((e, True))
            stack.extend((a, False) for a in e.args)
        else:
            values[e] = SHAPE_OPS[e.op](*(values[a] for a in e.args))
    return values[expr]


def is_simple_shape(parts) -> bool:
    """True when every entry is an int or a DimOf (what a minimal runner can evaluate)."""
    return all(isinstance(p, (int, DimOf)) for p in parts)


def shape_function(parts: tuple):
    """``arrays -> shape`` for a buffer shape, fast for the common int/DimOf entries."""
    if all(isinstance(p, int) for p in parts):
        fixed = tuple(parts)
        return lambda arrays: fixed
    if is_simple_shape(parts):
        return lambda arrays: tuple(arrays[p.buffer].shape[p.axis] if isinstance(p, DimOf) else p for p in parts)
    return lambda arrays: tuple(evaluate_shape(p, arrays) for p in parts)


def shape_buffers(expr: ShapeExpr, values_only: bool = False) -> set[int]:
    """Buffers whose shape (or, for ValueOf, whose value) ``expr`` reads."""
    found: set[int] = set()
    stack = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, DimOf) and not values_only:
            found.add(e.buffer)
        elif isinstance(e, ValueOf):
            found.add(e.buffer)
        elif isinstance(e, ShapeCall):
            stack.extend(e.args)
    return found

# --- buffers and accesses -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Buffer:
    """One array of the program: an input, an output, a temporary or a constant.

    ``contiguous``: the runner passes the array C-contiguous (copying one
    that is not), so kernels need no strided variant for a whole read of
    it; constants and shared variables, whose storage is contiguous.
    """

    index: int
    dtype: str
    shape: tuple[ShapeExpr, ...]
    role: str
    contiguous: bool = False


@dataclass(frozen=True, slots=True)
class Access:
    """How a kernel walks a buffer.

    Loop axis i reads buffer axis ``axes[i]`` (None: broadcast, stride 0)
    moving ``steps[i]`` elements of it per step; the walk starts at
    coordinate ``starts[k]`` of buffer axis k.  Empty ``starts``/``steps``
    mean all zeros/ones (a plain view: transposes and broadcasts only).
    """

    buffer: int
    axes: tuple[int | None, ...]
    starts: tuple = ()
    steps: tuple = ()

    @property
    def plain(self) -> bool:
        return not self.starts and not self.steps

    def step(self, axis: int) -> ShapeExpr:
        return self.steps[axis] if self.steps else 1

    def start(self, buffer_axis: int) -> ShapeExpr:
        return self.starts[buffer_axis] if self.starts else 0


# --- steps ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ElementwiseKernel:
    """``outputs[j][e] = exprs[j](inputs at e)`` for every ``e`` of ``shape``.

    ``reuses`` lists outputs that are existing buffers written in place (an
    input of the same kernel read at the same element, or a buffer an
    earlier step made), so the runner does not allocate them.  Outputs are
    written densely in loop order (so a copy kernel also reshapes), or, where
    ``out_views`` holds an ``Access`` for an output (one entry per output,
    None for a dense one; empty: all dense), through that view of the
    output buffer, as an input would be read: a copy into a slice or a
    history row, an increment of ``x[2:, ::2]`` in place.  A view walks
    every loop axis (no broadcast axis: an element is written once).
    """

    inputs: tuple[Access, ...]
    outputs: tuple[int, ...]
    exprs: tuple[Expr, ...]
    shape: tuple[ShapeExpr, ...]
    checks: tuple[tuple[ShapeExpr, ShapeExpr], ...]
    node: object = field(compare=False, hash=False)
    reuses: tuple[int, ...] = ()
    out_views: tuple = ()

    def output_view(self, j: int) -> Access | None:
        """The view output ``j`` is written through, or None when it is written densely."""
        return self.out_views[j] if self.out_views else None


@dataclass(frozen=True, slots=True)
class ReduceKernel:
    inputs: tuple[Access, ...]
    expr: Expr
    output: int
    axes: tuple[int, ...]
    combine: str
    dtype: str
    shape: tuple[ShapeExpr, ...]
    checks: tuple[tuple[ShapeExpr, ShapeExpr], ...]
    node: object = field(compare=False, hash=False)
    producer: object = field(default=None, compare=False, hash=False)

    @property
    def checked_node(self):
        """The node whose shape rules ``checks`` enforce (the fused producer, if any)."""
        return self.producer if self.producer is not None else self.node


@dataclass(frozen=True, slots=True)
class ArgReduceKernel:
    """int64 ``output`` = flat C-order position, within the ``axes`` block, of the first max/min of ``input``.

    ``kind`` is "argmax" or "argmin"; a NaN counts as the extreme (its
    first occurrence wins), and an empty block fails (NumPy raises).
    """

    input: Access
    output: int
    axes: tuple[int, ...]
    kind: str
    shape: tuple[ShapeExpr, ...]
    node: object = field(compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class ScanKernel:
    """``output`` = running ``combine`` ("add"/"mul") of ``input`` along ``axis`` (from the end if ``reverse``)."""

    input: Access
    output: int
    axis: int
    combine: str
    reverse: bool
    dtype: str
    shape: tuple[ShapeExpr, ...]
    node: object = field(compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class ScatterKernel:
    """For each ``e`` of ``shape`` in C order: ``target[coords(e)] = value(e)`` ("set") or ``+=`` ("add").

    ``target`` already exists (a copy made by an earlier step, or a buffer
    the graph lets this step destroy).  ``coords`` hold one int64
    expression per target axis; ``checked`` coordinates wrap once when
    negative and must then be in bounds (``sizes``), else the step fails
    before writing anything.  Runs serially, so repeated coordinates
    accumulate (``np.add.at``) or the last write wins (set).
    """

    inputs: tuple[Access, ...]
    target: int
    coords: tuple
    sizes: tuple
    checked: tuple[bool, ...]
    value: Expr
    mode: str
    shape: tuple[ShapeExpr, ...]
    checks: tuple[tuple[ShapeExpr, ShapeExpr], ...]
    node: object = field(compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class NonzeroKernel:
    """int64 ``output[j, a]`` = coordinate ``a`` of the ``j``-th nonzero element of ``input`` in C order.

    ``shape`` is the input's; ``output`` has ``(count, len(shape))`` rows,
    the count coming from an earlier step (rows past the nonzero elements
    are not written, and nonzero elements past the rows are skipped).
    Runs serially: where each row goes depends on every element before it.
    """

    input: Access
    output: int
    shape: tuple[ShapeExpr, ...]
    node: object = field(compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class SortKernel:
    """Orders a 1-D ``keys`` buffer of ``length`` elements, into the int64 ``output``.

    ``kind`` "argsort": ``output`` (``length`` entries) = the stable argsort
    of the keys (ties keep index order; keys compare as numbers, without
    NaN), by a bottom-up merge sort on thread 0 that alternates between
    ``output`` and ``scratch`` (an int64 buffer of ``length`` entries).
    ``kind`` "search": ``output[q]`` = the number of keys ``<= queries[q]``
    for each of the ``count`` queries, the keys being sorted ascending (a
    NaN key counts as above every query): NumPy's
    ``searchsorted(keys, queries, side="right")``, one binary search per
    query, split across threads (``queries`` and ``scratch`` are None for
    an argsort and a search respectively).
    """

    keys: Access
    queries: Access | None
    output: int
    scratch: int | None
    kind: str
    length: ShapeExpr
    count: ShapeExpr
    node: object = field(compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class GemmCall:
    """``output = alpha * A @ B + beta * output`` (``beta`` 0: the output is not read).

    With ``beta != 0`` the output already holds C (written by an earlier
    step, or destroyed in place) and is not allocated for this step.  When
    ``a`` and ``b`` have more than two axes, the leading ones are batch axes
    (None where an operand broadcasts) matching the output's leading axes:
    one product per matrix of the batch.

    ``epilogue`` (one matrix only, ``beta`` 0): an ``ElementwiseKernel``
    over the output buffer's shape, whose rows in C order are the product's
    rows, that a printer runs on each block of the product right after
    computing it, while the block is in cache (``program/epilogues.py``
    makes them: the bias add and activation after a Dense or Conv).  Its
    inputs read the product or another buffer of its shape at the same
    element, or broadcast a vector along the last axis or a scalar; it may
    write the product's own buffer (listed in its ``reuses``).

    An operand access naming the last two axes of a C-contiguous buffer of
    more axes reads the matrix of its leading axes (after the batch axes)
    by its last (a convolution's output gradient, read in place as rows of
    channels); so does the output, whose batch axes are as many as the
    operands'.

    ``out_view`` (one matrix, ``beta`` 0, no epilogue): the product is written
    through this view of ``output``, a buffer an earlier step made (a loop's
    history row), instead of into a buffer of its own.
    """

    a: Access
    b: Access
    output: int
    dtype: str
    m: ShapeExpr
    n: ShapeExpr
    k: ShapeExpr
    k_check: ShapeExpr
    node: object = field(compare=False, hash=False)
    alpha: float = 1.0
    beta: float = 0.0
    epilogue: ElementwiseKernel | None = None
    out_view: Access | None = None


@dataclass(frozen=True, slots=True)
class CollectiveCall:
    """An MPI collective over ``MPI_COMM_WORLD``, called by the compiled code itself.

    ``kind`` "allreduce" (``reduction`` sum, mean, max or min) or
    "broadcast" (from rank ``root``): the one input (a whole, C-contiguous
    buffer) combined across the ranks into the one output, a new buffer of
    the same shape and dtype.
    """

    inputs: tuple[Access]
    outputs: tuple[int]
    kind: str
    dtype: str
    node: object = field(compare=False, hash=False)
    reduction: str = "sum"
    root: int = 0


@dataclass(frozen=True, slots=True)
class HostCall:
    inputs: tuple[Access, ...]
    outputs: tuple[int, ...]
    node: object = field(compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class LoopStep:
    """``for t in range(count): counter = t; body; if stop: break`` as one step.

    ``body`` holds native steps only (no host call, no nested collective);
    every buffer they allocate is allocated once, before the loop, so their
    shapes may not depend on values the loop writes.  ``allocates`` lists
    further buffers the loop fills in place (a mapped output's rows) that
    the runner must allocate for it.  ``stop`` (a 0-d bool buffer the body
    writes, or None) ends the loop after the iteration that sets it, and
    ``ran`` (a 0-d int64 buffer, or None) receives the number of
    iterations run.
    """

    body: tuple
    counter: int
    count: ShapeExpr
    allocates: tuple[int, ...]
    node: object = field(compare=False, hash=False)
    stop: int | None = None
    ran: int | None = None


@dataclass(frozen=True, slots=True)
class BranchStep:
    """``bodies[0]`` when the 0-d buffer ``condition`` holds a nonzero value, else ``bodies[1]``.

    Both bodies hold native steps only and end by copying their results
    into the buffers listed in ``allocates``, which the runner allocates
    for the step (their shapes choose between the branches' shapes with
    the condition); the buffers the bodies make are allocated too, sized
    to nothing for the branch not taken.
    """

    condition: int
    bodies: tuple[tuple, tuple]
    allocates: tuple[int, ...]
    node: object = field(compare=False, hash=False)

    @property
    def body(self) -> tuple:
        return self.bodies[0] + self.bodies[1]


@dataclass(frozen=True, slots=True)
class FusedRows:
    """Steps that walk the same leading axis (``rows``), run one block of rows at a time.

    Every thread takes a share of the rows and runs each step of ``body``
    on a block of them before the next block, so what one step writes for
    a block is still in cache when the next step reads it: a row softmax
    reads its input from memory once instead of three times.  The body
    holds elementwise kernels and reductions that keep the leading axis
    (``codegen/program/row_fusion.py`` proves that each step reads what
    an earlier one wrote only at the same row).
    """

    body: tuple
    rows: ShapeExpr
    node: object = field(compare=False, hash=False)


Step = (ElementwiseKernel | ReduceKernel | ArgReduceKernel | ScanKernel | NonzeroKernel | ScatterKernel | SortKernel
        | GemmCall | CollectiveCall | HostCall | LoopStep | BranchStep | FusedRows)
CONTAINERS = (LoopStep, BranchStep, FusedRows)  # steps that run a body of other steps


def flat_steps(steps) -> list:
    """``steps`` with the body of every loop and branch listed after the step itself (for
    whole-program scans: which buffers BLAS reads, which steps are host calls)."""
    out: list = []
    stack = list(reversed(steps))
    while stack:
        step = stack.pop()
        out.append(step)
        if isinstance(step, CONTAINERS):
            stack.extend(reversed(step.body))
    return out


@dataclass
class Program:
    """Buffers, the schedule, and which buffers are the function's inputs and outputs.

    ``refs`` maps ``id(variable)`` of the graph's variables to the access
    that reads them, so run-time errors can show the values a node saw.
    """

    buffers: list[Buffer]
    steps: list[Step]
    inputs: list[int]
    outputs: list[Access]
    constants: dict[int, object]
    refs: dict[int, Access] = field(default_factory=dict)

    def describe(self) -> str:
        """A readable listing, one step a line (for tests and debugging)."""
        lines = [f"buffers: {len(self.buffers)}"]
        for step in self.steps:
            lines.append(f"{type(step).__name__}: {step.node.op if step.node is not None else ''}")
        return "\n".join(lines)


def segments(program: Program) -> list[tuple[str, list]]:
    """The schedule cut into maximal runs of native steps and single host calls.

    Each native run becomes one entry point of the compiled module, so a
    graph without host calls enters native code exactly once per call.  A
    run is also cut before a step whose output's shape reads the value of a
    buffer written earlier in the same run: the runner allocates a run's
    outputs before entering it.
    """
    out: list[tuple[str, list]] = []
    written: set[int] = set()
    for step in program.steps:
        if isinstance(step, HostCall):
            out.append(("host", [step]))
            continue
        needs = set()
        for b in step_outputs(step):
            for part in program.buffers[b].shape:
                needs |= shape_buffers(part, values_only=True)
        if out and out[-1][0] == "native" and not needs & written:
            out[-1][1].append(step)
        else:
            out.append(("native", [step]))
            written = set()
        written |= set(step_writes(step))
    return out


def step_inputs(step: Step, values: bool = True) -> tuple[Access, ...]:
    """The accesses a step reads, including buffers it updates in place and (unless ``values`` is
    False: a search of every field, which passes over the program that leave 0-d buffers alone
    skip) 0-d buffers whose values its shapes use (so lifetimes cover them)."""
    if isinstance(step, GemmCall):
        reads = (step.a, step.b) + ((_whole(step.output),) if step.beta != 0.0 else ())
        if step.epilogue is not None:
            reads += tuple(a for a in step.epilogue.inputs if a.buffer != step.output)
    elif isinstance(step, (ArgReduceKernel, ScanKernel, NonzeroKernel)):
        reads = (step.input,)
    elif isinstance(step, ScatterKernel):
        reads = step.inputs + (_whole(step.target),)
    elif isinstance(step, SortKernel):
        reads = (step.keys,) + ((step.queries,) if step.queries is not None else ())
    elif isinstance(step, ElementwiseKernel):
        reads = step.inputs + tuple(_whole(b) for b in step.reuses)
    elif isinstance(step, (LoopStep, FusedRows)):
        reads = tuple(a for inner in step.body for a in step_inputs(inner, values))
    elif isinstance(step, BranchStep):
        reads = (_whole(step.condition),) + tuple(a for inner in step.body for a in step_inputs(inner, values))
    else:
        reads = step.inputs
    if not values:
        return reads
    return reads + tuple(Access(b, ()) for b in sorted(_value_reads(step)))


def _whole(buffer: int) -> Access:
    return Access(buffer, ())


def _value_reads(step: Step) -> set[int]:
    """Buffers whose values appear in a step's shape expressions (its fields, searched iteratively)."""
    return named_buffers([getattr(step, name) for name in step.__dataclass_fields__], (ValueOf,))


def named_buffers(roots: list, kinds: tuple[type, ...] = (DimOf, ValueOf),
                  skipped: frozenset[str] = frozenset()) -> set[int]:
    """Buffers that the shape expressions under ``roots`` name through ``kinds`` (``DimOf``: a
    dimension, ``ValueOf``: a value), searched iteratively, each shared expression node once; the
    graph nodes kept for messages, and fields named in ``skipped``, are not searched."""
    found: set[int] = set()
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        item = stack.pop()
        if isinstance(item, kinds):
            found.add(item.buffer)
        elif isinstance(item, (tuple, list)):
            stack.extend(item)
        elif isinstance(item, _Node):
            if id(item) not in seen:
                seen.add(id(item))
                stack.extend(item._parts())
        elif hasattr(item, "__dataclass_fields__") and not isinstance(item, (DimOf, ValueOf, Lit, Arg, Index)):
            stack.extend(getattr(item, f.name) for f in fields(item)
                         if f.compare and f.name not in skipped and f.name not in ("node", "producer"))
    return found


def step_writes(step: Step) -> tuple[int, ...]:
    """Every buffer a step writes, allocated for it or existing (in place)."""
    if isinstance(step, GemmCall):
        extra = step.epilogue.outputs if step.epilogue is not None else ()
        return (step.output,) + tuple(b for b in extra if b != step.output)
    if isinstance(step, (ReduceKernel, ArgReduceKernel, ScanKernel, NonzeroKernel)):
        return (step.output,)
    if isinstance(step, ScatterKernel):
        return (step.target,)
    if isinstance(step, SortKernel):
        return (step.output,) + ((step.scratch,) if step.scratch is not None else ())
    if isinstance(step, CONTAINERS):
        return _body_buffers(step, step_writes) + getattr(step, "allocates", ())
    return step.outputs


def step_outputs(step: Step) -> tuple[int, ...]:
    """The buffers a step writes and a runner must allocate for it (in-place targets excluded)."""
    if isinstance(step, ScatterKernel):
        return ()
    if isinstance(step, GemmCall):
        own = (step.output,) if step.beta == 0.0 and step.out_view is None else ()
        return own + (step_outputs(step.epilogue) if step.epilogue is not None else ())
    if isinstance(step, ElementwiseKernel):
        return tuple(dict.fromkeys(b for b in step.outputs if b not in step.reuses))
    if isinstance(step, CONTAINERS):
        return _body_buffers(step, step_outputs) + getattr(step, "allocates", ())
    return step_writes(step)


def _body_buffers(step: LoopStep | BranchStep | FusedRows, of) -> tuple[int, ...]:
    """A loop's counter and ``ran`` buffer, then ``of(inner)`` for each step of the body, in order."""
    own = (step.counter,) + ((step.ran,) if step.ran is not None else ()) if isinstance(step, LoopStep) else ()
    return own + tuple(dict.fromkeys(b for inner in step.body for b in of(inner)))


# Fields (of steps, accesses and shape expressions) that hold buffer numbers.
BUFFER_FIELDS = frozenset({"buffer", "output", "outputs", "target", "scratch", "reuses", "counter", "allocates",
                           "stop", "ran", "condition"})


def step_signature(step: Step, buffers: list[Buffer]) -> tuple[tuple, tuple[int, ...]]:
    """(key, slots): the step with its buffers renamed 0, 1, ... in order of first mention.

    ``slots[j]`` is the buffer that local number j stands for.  The key
    also holds what a printer may read about each of those buffers (dtype,
    role, contiguity, shape), so two steps with equal keys print as the
    same code over different buffers: a printer emits that code once and
    passes each step its own slots (a deep network's identical layers
    compile once).  The walk is iterative and numbers shared expression
    nodes, so long fused chains and DAGs cost one visit per node.
    """
    slot_of: dict[int, int] = {}
    tokens: list = []

    def walk(root, as_buffer: bool = False) -> None:
        seen: dict[int, int] = {}
        stack = [(root, as_buffer)]
        while stack:
            item, is_buffer = stack.pop()
            if is_buffer and isinstance(item, int):
                tokens.append(("b", slot_of.setdefault(item, len(slot_of))))
            elif isinstance(item, (tuple, list)):
                tokens.append(("(", len(item)))
                stack.extend((x, is_buffer) for x in reversed(item))
            elif hasattr(item, "__dataclass_fields__"):
                if isinstance(item, _Node):
                    if id(item) in seen:
                        tokens.append(("@", seen[id(item)]))
                        continue
                    seen[id(item)] = len(seen)
                names = [f.name for f in fields(item) if f.compare]
                tokens.append((type(item).__name__, len(names)))
                stack.extend((getattr(item, n), n in BUFFER_FIELDS) for n in reversed(names))
            else:  # repr tells -0.0 from 0.0 (equal as floats, different as literals)
                tokens.append((type(item).__name__, repr(item)))

    walk(step)
    mentioned = list(slot_of)
    for b in mentioned:
        buffer = buffers[b]
        tokens.append(("buffer", buffer.dtype, buffer.role, buffer.contiguous))
        walk(buffer.shape)
    return tuple(tokens), tuple(slot_of)


def check_allocated(program: Program) -> None:
    """Raise when a step touches a buffer that is not allocated by then (not an input, a
    constant, or made by an earlier step): native code would write into storage nobody owns.
    The rewrites of the program (forwarding, kernel fusion) move writes between steps; this
    keeps a mistake there an error rather than a crash."""
    _check_allocated(program.steps, set(program.inputs) | set(program.constants))


def _check_allocated(steps, made: set) -> None:
    for step in steps:
        made |= set(step_outputs(step))
        if isinstance(step, CONTAINERS):
            for body in getattr(step, "bodies", (step.body,)):
                _check_allocated(body, set(made))
        missing = ({a.buffer for a in step_inputs(step, values=False)} | set(step_writes(step))) - made
        if missing:
            raise RuntimeError(f"internal error: {type(step).__name__} of {step.node} touches buffers "
                               f"{sorted(missing)} that no earlier step made")


def dense_buffers(program: Program) -> set[int]:
    """Buffers every caller must pass C-contiguous: GEMM operands (BLAS reads them dense, with at
    most a transposition chosen by the access), collective inputs (MPI reads them dense) and
    buffers marked ``contiguous``."""
    steps = flat_steps(program.steps)
    gemm_operands = {a.buffer for step in steps if isinstance(step, GemmCall) for a in (step.a, step.b)}
    collective_inputs = {a.buffer for step in steps if isinstance(step, CollectiveCall) for a in step.inputs}
    return gemm_operands | collective_inputs | {buffer.index for buffer in program.buffers if buffer.contiguous}


def distinct_nodes(exprs, into_gathers: bool = True):
    """Each distinct node of the expression DAGs once, in order of first appearance (depth first,
    arguments left to right; a gather's coordinates too with ``into_gathers``).  Expressions share
    subexpressions (an argmax chain reads its running maximum twice per step): a walk that
    revisited them would take time exponential in the chain's length."""
    seen: set[int] = set()
    stack = list(reversed(exprs))
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        if isinstance(e, Call):
            stack.extend(reversed(e.args))
        elif into_gathers and isinstance(e, Load):
            stack.extend(reversed(e.coords))


def uses(exprs: tuple[Expr, ...], kinds: tuple[type, ...]) -> bool:
    """True when some node of the expressions (not inside a gather's coordinates) is one of ``kinds``."""
    return any(isinstance(e, kinds) for e in distinct_nodes(exprs, into_gathers=False))


def uses_indices(exprs: tuple[Expr, ...]) -> bool:
    """True when some expression reads a loop index or gathers (so loops cannot be flattened)."""
    return uses(exprs, (Index, Load))


def uses_gather(exprs: tuple[Expr, ...]) -> bool:
    """True when some expression reads an input at computed coordinates."""
    return uses(exprs, (Load,))
