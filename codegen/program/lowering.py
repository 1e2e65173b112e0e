"""Lowering: an optimized graph becomes a backend-neutral ``Program``.

Each op class has a lowering rule registered with ``@lowering(OpClass)``;
a rule turns one Apply node into steps (or into a new access of an existing
buffer, for views such as DimShuffle).  A node without a rule, or whose rule
declines (returns False, e.g. for a dtype the printer cannot compile),
becomes a ``HostCall`` of its NumPy ``perform``, so every graph lowers.

Whether a scalar op can be compiled is the printer's knowledge, passed in
as ``supports(op_name, in_dtypes, out_dtype) -> bool``; nothing here is
specific to one backend.  Whether the runner can evaluate buffer shapes
that are arithmetic on sizes or values of buffers (``ShapeCall``,
``ValueOf``: ``kernel_ir.shape_function``) is the runner's, passed as
``shape_arithmetic``; without it, rules that need such shapes decline.

Views (DimShuffle, basic indexing, split pieces) are accesses, not steps.
A view that a runner cannot express with its own view of an array (a
slice, or a broadcast to a size above 1) is copied into a buffer of its
own before a host call or the caller reads it (``plain_ref``).

Rules live by family: ``lower_views`` (shapes, slicing, joins, ranges),
``lower_linalg`` (products), ``lower_indexed`` (arg-reductions, scans,
gathers and scatters).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence

from theanine.codegen.program import shape_exprs as S
from theanine.codegen.program.dead_kernels import drop_unread_kernels
from theanine.codegen.program.forwarding import forward_stores, pinned_buffers
from theanine.codegen.program.inlining import inline_kernels
from theanine.codegen.program.kernel_ir import (
    Access,
    Arg,
    Buffer,
    CollectiveCall,
    DimOf,
    ElementwiseKernel,
    HostCall,
    Program,
    ReduceKernel,
    ShapeExpr,
    ValueOf,
    check_allocated,
    flat_steps,
    is_simple_shape,
    named_buffers,
    shape_buffers,
    step_outputs,
    step_writes,
)
from theanine.codegen.program.loop_operands import hoist_transposed_operands
from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.ops.elemwise import Elemwise
from theanine.graph.ops.reduce import Reduce
from theanine.graph.ops.shape import shape_source, static_int
from theanine.graph.rewriting.inplace import execution_order
from theanine.graph.shared import SharedVariable
from theanine.graph.type import is_string

Supports = Callable[[str, tuple[str, ...], str], bool]
Rule = Callable[["Lowerer", Apply], bool]
_RULES: dict[type, Rule] = {}

__all__ = ["lower", "lowering", "Lowerer", "Decline", "compose", "destroyable"]


class Decline(Exception):
    """Raised by a rule (or the Lowerer) when a node cannot lower natively here: it becomes a host call."""


def compose(access: Access, picks: Sequence[int | None]) -> Access:
    """A view of a view: new loop axis i walks ``access``'s loop axis ``picks[i]`` (None: broadcast)."""
    axes = tuple(None if p is None else access.axes[p] for p in picks)
    steps = tuple(1 if p is None else access.step(p) for p in picks) if access.steps else ()
    return dataclasses.replace(access, axes=axes, steps=steps if any(s != 1 for s in steps) else ())


def lowering(op_class: type) -> Callable[[Rule], Rule]:
    """Register the lowering rule of ``op_class`` (subclasses inherit it)."""

    def register(rule: Rule) -> Rule:
        _RULES[op_class] = rule
        return rule

    return register


def _rule_for(op) -> Rule | None:
    for cls in type(op).__mro__:
        if cls in _RULES:
            return _RULES[cls]
    return None


class Lowerer:
    """Builds a Program node by node; ``refs`` says how each variable is read.

    An elementwise result whose only reader is a reduction is not stored:
    it is kept as a deferred expression that the reduction evaluates in
    its own loop (``deferred``); any other reader materializes it first.
    """

    def __init__(self, supports: Supports, clients: dict[int, list[Apply]], outputs: set[int],
                 shape_arithmetic: bool = False, step_kinds: Collection[type] | None = None):
        self.supports = supports
        self.step_kinds = step_kinds
        self.shape_arithmetic = shape_arithmetic
        self.clients = clients
        self.outputs = outputs
        self.buffers: list[Buffer] = []
        self.steps: list = []
        self.constants: dict[int, object] = {}
        self.refs: dict[int, Access] = {}
        self.shapes: dict[int, tuple[ShapeExpr, ...]] = {}
        self.deferred: dict[int, tuple[Variable, ElementwiseKernel]] = {}
        self.is_nested = False  # lowering a loop's or a branch's body (see ``nested``)
        self.computed: dict[tuple, tuple[int, ElementwiseKernel | ReduceKernel]] = {}
        self.sums: dict[tuple[int, tuple[int, ...]], Access] = {}
        self.made: list[Variable] = []  # views a rule lowered for itself: alive, since ``refs`` holds ids

    def nested(self, nodes: Sequence[Apply], outputs: Sequence[Variable]) -> Lowerer:
        """A lowerer for an inner graph (a loop's step, ``nodes`` in execution order): it shares this
        one's buffers and constants and collects steps, references and deferred kernels of its own."""
        clients: dict[int, list[Apply]] = {}
        for node in nodes:
            for var in node.inputs:
                clients.setdefault(id(var), []).append(node)
        child = Lowerer(self.supports, clients, {id(v) for v in outputs}, self.shape_arithmetic, self.step_kinds)
        child.buffers, child.constants, child.is_nested = self.buffers, self.constants, True
        return child

    # buffers and references
    def new_buffer(self, dtype: str, shape: Sequence[ShapeExpr] | None, role: str, ndim: int) -> int:
        index = len(self.buffers)
        if shape is not None:
            self.expressible(shape)
        if shape is None:
            shape = tuple(DimOf(index, a) for a in range(ndim))
        self.buffers.append(Buffer(index, dtype, tuple(shape), role, role == "constant"))
        return index

    def expressible(self, shape: Sequence[ShapeExpr]) -> None:
        """Decline unless the runner can evaluate ``shape`` (a buffer may be made with it)."""
        if not self.shape_arithmetic and not is_simple_shape(shape):
            raise Decline("shape arithmetic is not available to this runner")

    def bind(self, var: Variable, access: Access, shape: Sequence[ShapeExpr]) -> None:
        self.expressible(shape)
        self.refs[id(var)] = access
        self.shapes[id(var)] = tuple(shape)

    def runner_safe(self, var: Variable) -> bool:
        """Whether a runner's own view of the buffer shows ``var`` (no slice; broadcasts only of size 1)."""
        return _runner_safe(self.refs[id(var)], self.shapes[id(var)], self.buffers)

    def plain_ref(self, var: Variable) -> Access:
        """``ref(var)``, first copying a view the runner could not express into a buffer of its own."""
        self.ref(var)
        if not self.runner_safe(var):
            self.copy(var)
        return self.refs[id(var)]

    def copy(self, var: Variable) -> int:
        """Copy ``var`` into a new contiguous buffer and read it from there from now on."""
        source, shape = self.ref(var), self.shape(var)
        index = self.bind_new(var, shape)
        self.steps.append(ElementwiseKernel((source,), (index,), (Arg(0, var.dtype),), shape, (), var.owner))
        return index

    def scalar_shape(self, var: Variable) -> ShapeExpr:
        """An integer scalar variable as a ShapeExpr: a constant, a dimension, or a value read at run time."""
        value = static_int(var)
        if value is not None:
            return value
        source = shape_source(var)
        if source is not None:
            return self.shape(source[0])[source[1]]
        if var.ndim != 0 or not var.dtype.startswith(("int", "uint")):
            raise Decline(f"{var.label()} of type {var.type} is not an integer scalar")
        owner = var.owner
        if self.shape_arithmetic and owner is not None and isinstance(owner.op, Elemwise) \
                and owner.op.scalar_op.name in _SHAPE_ARITHMETIC and all(a.ndim == 0 for a in owner.inputs):
            # arithmetic on sizes and constants only: a value read from a buffer could be overwritten
            # in place before the shape is evaluated (the arithmetic's own step writes a fresh one)
            size = _SHAPE_ARITHMETIC[owner.op.scalar_op.name](*(self.scalar_shape(a) for a in owner.inputs))
            if not named_buffers([size], (ValueOf,)):
                return size
        return ValueOf(self.plain_ref(var).buffer)

    def bind_new(self, var: Variable, shape: Sequence[ShapeExpr] | None, role: str = "temp") -> int:
        index = self.new_buffer(var.dtype, shape, role, var.ndim)
        self.bind(var, Access(index, tuple(range(var.ndim))), self.buffers[index].shape)
        return index

    def ref(self, var: Variable) -> Access:
        if id(var) in self.deferred:
            self._materialize(var)
        if id(var) not in self.refs:
            if not isinstance(var, Constant):
                raise ValueError(f"variable {var.label()} of type {var.type} is not an input of the function")
            index = self.bind_new(var, var.data.shape, role="constant")
            self.constants[index] = var.data
        return self.refs[id(var)]

    def shape(self, var: Variable) -> tuple[ShapeExpr, ...]:
        if id(var) not in self.shapes:
            self.ref(var)
        return self.shapes[id(var)]

    def only_read_by_a_reduction(self, var: Variable) -> bool:
        """``var`` is read once, by a reduction that cannot fail: a max or min over axes that may be
        empty reads a stored input, so that its failure reruns ``perform`` for NumPy's error."""
        readers = self.clients.get(id(var), [])
        if id(var) in self.outputs or len(readers) != 1 or not isinstance(readers[0].op, Reduce):
            return False
        op = readers[0].op
        return op.kind not in ("max", "min") or all(
            isinstance(var.type.shape[a], int) and var.type.shape[a] > 0 for a in op.axes
        )

    def defer(self, var: Variable, kernel: ElementwiseKernel) -> None:
        self.deferred[id(var)] = (var, kernel)
        self.shapes[id(var)] = kernel.shape

    def computed_once(self, kernel: ElementwiseKernel | ReduceKernel) -> tuple[int, ...]:
        """The buffers holding ``kernel``'s outputs: an earlier kernel's when an identical kernel (the
        same fields but where it writes) wrote them and no step since wrote its inputs or those
        buffers, else a new step's.  Rules call it for pure intermediates two nodes compute alike (a
        convolution's patch matrix, read again by its kernel gradient; a softmax crossentropy's row
        maxima and sums, read again by its gradient)."""
        key = (type(kernel), *(getattr(kernel, f.name) for f in dataclasses.fields(kernel)
                               if f.compare and f.name not in _WHERE_WRITTEN))
        if key in self.computed:
            position, earlier = self.computed[key]  # a rule that declined may have removed it since
            touched = {a.buffer for a in kernel.inputs} | set(step_writes(earlier))
            if position < len(self.steps) and self.steps[position] is earlier and not any(
                    touched & set(step_writes(s)) for s in self.steps[position + 1:]):
                return step_writes(earlier)
        self.steps.append(kernel)
        self.computed[key] = (len(self.steps) - 1, kernel)
        return step_writes(kernel)

    def remember_sum(self, var: Variable, axes: tuple[int, ...], access: Access) -> None:
        """Note that a step already wrote ``var``'s sum over ``axes`` where ``access`` reads it (a
        by-product: the bias gradient a kernel gradient's GEMM yields), for a Reduce to read."""
        self.sums[(id(var), tuple(axes))] = access

    def known_sum(self, var: Variable, axes: tuple[int, ...]) -> Access | None:
        return self.sums.get((id(var), tuple(axes)))

    def take_deferred(self, var: Variable) -> ElementwiseKernel | None:
        _, kernel = self.deferred.pop(id(var), (None, None))
        return kernel

    def overwrite(self, var: Variable) -> int:
        """The buffer of ``var``, which the step being lowered writes over: deferred kernels that
        read it are computed first (their reduction would otherwise read the new values)."""
        buffer = self.ref(var).buffer
        for reader, kernel in list(self.deferred.values()):
            if any(a.buffer == buffer for a in kernel.inputs):
                self._materialize(reader)
        return buffer

    def _materialize(self, var: Variable) -> None:
        _, kernel = self.deferred.pop(id(var))
        index = self.bind_new(var, kernel.shape)
        self.steps.append(
            ElementwiseKernel(kernel.inputs, (index,), kernel.exprs, kernel.shape, kernel.checks, kernel.node)
        )

    def native_body(self, step) -> None:
        """Decline unless ``step`` (a LoopStep or a BranchStep) can run its body natively: no host
        call or collective inside, and no buffer it allocates sized by a value the body computes
        (they are allocated before it runs)."""
        if any(isinstance(s, (HostCall, CollectiveCall)) for s in flat_steps(step.body)):
            raise Decline(f"the body of {step.node.op} needs a host call or a collective")
        written = set(step_writes(step))
        for buffer in step_outputs(step):
            if any(shape_buffers(d, values_only=True) & written for d in self.buffers[buffer].shape):
                raise Decline(f"a buffer of {step.node.op}'s body is sized by a value computed in it")

    # steps
    def host_call(self, node: Apply) -> None:
        accesses = tuple(self.plain_ref(v) for v in node.inputs)
        outputs = tuple(self.bind_new(v, None) for v in node.outputs)
        self.steps.append(HostCall(accesses, outputs, node))

    def lower_node(self, node: Apply) -> None:
        """Lower by the op's rule; on a decline, or a step kind the printer has no emitter for, undo
        what the rule did and make a host call.  A node reading or writing strings (Python objects)
        is always a host call: native code never touches a string buffer."""
        rule = None if any(is_string(v.dtype) for v in (*node.inputs, *node.outputs)) else _rule_for(node.op)
        saved = (len(self.steps), dict(self.deferred), dict(self.refs), dict(self.shapes))
        try:
            if rule is not None and rule(self, node) and (
                    self.step_kinds is None or all(type(s) in self.step_kinds for s in self.steps[saved[0]:])):
                return
        except Decline:
            pass
        del self.steps[saved[0]:]
        self.deferred, self.refs, self.shapes = saved[1], saved[2], saved[3]
        self.host_call(node)


_SHAPE_ARITHMETIC = {"add": S.add, "subtract": S.sub, "multiply": S.mul, "floor_divide": S.floordiv,
                     "maximum": S.maximum, "minimum": S.minimum}
"""Integer scalar ops that ``Lowerer.scalar_shape`` reads as shape arithmetic, not as a value computed by a step."""
_WHERE_WRITTEN = ("outputs", "output", "reuses", "out_views")  # fields of a kernel that say where, not what


def lower(inputs: Sequence[Variable], outputs: Sequence[Variable], supports: Supports,
          shape_arithmetic: bool = False, step_kinds: Collection[type] | None = None) -> Program:
    """The Program computing ``outputs`` from ``inputs`` (in order), with only the step kinds a
    printer emits (``step_kinds``; None: every kind)."""
    nodes = execution_order(outputs, inputs)
    clients: dict[int, list[Apply]] = {}
    for node in nodes:
        for var in node.inputs:
            clients.setdefault(id(var), []).append(node)
    lowerer = Lowerer(supports, clients, {id(v) for v in outputs}, shape_arithmetic, step_kinds)
    input_buffers = []
    for var in inputs:
        static = [d if d is not None else None for d in var.type.shape]
        index = lowerer.new_buffer(var.dtype, None, "input", var.ndim)
        shape = tuple(s if s is not None else DimOf(index, a) for a, s in enumerate(static))
        lowerer.buffers[index] = Buffer(index, var.dtype, shape, "input", isinstance(var, SharedVariable))
        lowerer.bind(var, Access(index, tuple(range(var.ndim))), shape)
        input_buffers.append(index)
    for node in nodes:
        lowerer.lower_node(node)
    result = [lowerer.plain_ref(v) for v in outputs]
    refs = {key: a for key, a in lowerer.refs.items() if _runner_safe(a, lowerer.shapes[key], lowerer.buffers)}
    program = Program(lowerer.buffers, lowerer.steps, input_buffers, result, lowerer.constants, refs)
    pinned = pinned_buffers(program)
    program = hoist_transposed_operands(inline_kernels(forward_stores(program, pinned), pinned))
    program = drop_unread_kernels(program)
    check_allocated(program)
    return program


def destroyable(lowerer: Lowerer, var: Variable) -> bool:
    """Whether a step may write its result into ``var``'s storage (an op's ``destroy_map`` allows it):
    ``var`` must be a whole buffer of its own that is not a compiled constant."""
    access = lowerer.ref(var)
    buffer = lowerer.buffers[access.buffer]
    return (_runner_safe(access, lowerer.shape(var), lowerer.buffers) and access.axes == tuple(range(var.ndim))
            and len(buffer.shape) == var.ndim and buffer.role != "constant")


def _runner_safe(access: Access, shape: Sequence[ShapeExpr], buffers: Sequence[Buffer]) -> bool:
    """Whether the runner's view of ``access`` (axes only) has ``shape``: no slice, no narrowing,
    broadcasts only of size 1."""
    whole = buffers[access.buffer].shape
    return access.plain and all(
        shape[i] == 1 if a is None else shape[i] == whole[a] for i, a in enumerate(access.axes)
    )


from theanine.codegen.program import rules  # noqa: E402,F401  (the rules register themselves)
