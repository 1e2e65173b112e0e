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
from collections.abc import Callable, Sequence

from theanine.codegen.kernel_ir import (
    Access,
    Arg,
    Buffer,
    Call,
    DimOf,
    ElementwiseKernel,
    Expr,
    HostCall,
    Index,
    Lit,
    Program,
    ReduceKernel,
    ShapeExpr,
    Size,
    ValueOf,
    is_simple_shape,
)
from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.ops.composite import Composite
from theanine.graph.ops.elemwise import Elemwise, ScalarOp
from theanine.graph.ops.nnet import ClassMask, LogSoftmax, Softmax
from theanine.graph.ops.reduce import Reduce
from theanine.graph.ops.shape import DimShuffle, ShapeI, shape_source, static_int
from theanine.graph.rewriting.inplace import execution_order
from theanine.graph.shared import SharedVariable

Supports = Callable[[str, tuple[str, ...], str], bool]
Rule = Callable[["Lowerer", Apply], bool]
_RULES: dict[type, Rule] = {}

__all__ = ["lower", "lowering", "Lowerer", "Decline", "scalar_expression", "compose", "destroyable"]


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
                 shape_arithmetic: bool = False):
        self.supports = supports
        self.shape_arithmetic = shape_arithmetic
        self.clients = clients
        self.outputs = outputs
        self.buffers: list[Buffer] = []
        self.steps: list = []
        self.constants: dict[int, object] = {}
        self.refs: dict[int, Access] = {}
        self.shapes: dict[int, tuple[ShapeExpr, ...]] = {}
        self.deferred: dict[int, tuple[Variable, ElementwiseKernel]] = {}

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
        readers = self.clients.get(id(var), [])
        return id(var) not in self.outputs and len(readers) == 1 and isinstance(readers[0].op, Reduce)

    def defer(self, var: Variable, kernel: ElementwiseKernel) -> None:
        self.deferred[id(var)] = (var, kernel)
        self.shapes[id(var)] = kernel.shape

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

    # steps
    def host_call(self, node: Apply) -> None:
        accesses = tuple(self.plain_ref(v) for v in node.inputs)
        outputs = tuple(self.bind_new(v, None) for v in node.outputs)
        self.steps.append(HostCall(accesses, outputs, node))

    def lower_node(self, node: Apply) -> None:
        """Lower by the op's rule; on a decline, undo what the rule did and make a host call."""
        rule = _rule_for(node.op)
        saved = (len(self.steps), dict(self.deferred), dict(self.refs), dict(self.shapes))
        try:
            if rule is not None and rule(self, node):
                return
        except Decline:
            pass
        del self.steps[saved[0]:]
        self.deferred, self.refs, self.shapes = saved[1], saved[2], saved[3]
        self.host_call(node)


def lower(inputs: Sequence[Variable], outputs: Sequence[Variable], supports: Supports,
          shape_arithmetic: bool = False) -> Program:
    """The Program computing ``outputs`` from ``inputs`` (in order)."""
    nodes = execution_order(outputs, inputs)
    clients: dict[int, list[Apply]] = {}
    for node in nodes:
        for var in node.inputs:
            clients.setdefault(id(var), []).append(node)
    lowerer = Lowerer(supports, clients, {id(v) for v in outputs}, shape_arithmetic)
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
    return Program(lowerer.buffers, lowerer.steps, input_buffers, result, lowerer.constants, refs)


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


# --- rules ---------------------------------------------------------------------


@lowering(DimShuffle)
def _lower_dimshuffle(lowerer: Lowerer, node: Apply) -> bool:
    """A view: compose the access, emit nothing."""
    (x,) = node.inputs
    source = lowerer.ref(x)
    shape = lowerer.shape(x)
    out_shape = tuple(1 if p == "x" else shape[p] for p in node.op.pattern)
    lowerer.bind(node.outputs[0], compose(source, [None if p == "x" else p for p in node.op.pattern]), out_shape)
    return True


def scalar_expression(scalar_op: ScalarOp, args: Sequence[Expr], out_dtypes: Sequence[str]) -> list[Expr] | None:
    """The expression of each output of ``scalar_op`` applied to ``args``.

    Composite scalar ops (fusion) expand their inner graph into one DAG;
    None means the op has no expression form.
    """
    if isinstance(scalar_op, Composite):
        return scalar_op.map_inner(args, _literal, _inner_call)
    if scalar_op.nout != 1:
        return None
    return [Call(scalar_op.name, tuple(args), out_dtypes[0])]


def _literal(value, dtype: str) -> Lit:
    return Lit(value.item() if hasattr(value, "item") else value, dtype)


def _inner_call(scalar_op: ScalarOp, args: Sequence[Expr], out_dtypes: Sequence[str]) -> list[Expr]:
    exprs = scalar_expression(scalar_op, args, out_dtypes)
    if exprs is None:
        raise _Inexpressible(scalar_op.name)
    return exprs


class _Inexpressible(Exception):
    """A scalar op inside a Composite has no expression form (multi-output leaf)."""


def _supported(expr: Expr, supports: Supports) -> bool:
    stack = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, Call):
            if not supports(e.op, tuple(a.dtype for a in e.args), e.dtype):
                return False
            stack.extend(e.args)
    return True


def _elementwise_shape(lowerer: Lowerer, node: Apply):
    """Loop shape from the inputs, and the run-time equalities it needs."""
    out_type = node.outputs[0].type
    shape: list[ShapeExpr] = []
    checks = []
    for axis, static in enumerate(out_type.shape):
        dims = [lowerer.shape(x)[axis] for x in node.inputs if x.type.shape[axis] != 1]
        chosen = static if static is not None else dims[0]
        shape.append(chosen)
        checks.extend((chosen, d) for d in dims if d != chosen)
    return tuple(shape), tuple(checks)


@lowering(Elemwise)
def _lower_elemwise(lowerer: Lowerer, node: Apply) -> bool:
    args = [Arg(i, x.dtype) for i, x in enumerate(node.inputs)]
    try:
        exprs = scalar_expression(node.op.scalar_op, args, [o.dtype for o in node.outputs])
    except _Inexpressible:
        return False
    if exprs is None or not all(_supported(e, lowerer.supports) for e in exprs):
        return False
    shape, checks = _elementwise_shape(lowerer, node)
    accesses = []
    for x in node.inputs:
        access = lowerer.ref(x)
        accesses.append(compose(access, [None if x.type.shape[a] == 1 else a for a in range(x.ndim)]))
    if len(node.outputs) == 1 and lowerer.only_read_by_a_reduction(node.outputs[0]):
        lowerer.defer(node.outputs[0], ElementwiseKernel(tuple(accesses), (), tuple(exprs), shape, checks, node))
        return True
    reuses = _inplace_outputs(lowerer, node, accesses, shape)
    outputs = tuple(reuses.get(k) if k in reuses else lowerer.bind_new(o, shape) for k, o in enumerate(node.outputs))
    lowerer.steps.append(ElementwiseKernel(
        tuple(accesses), outputs, tuple(exprs), shape, checks, node, tuple(reuses.values()),
    ))
    return True


def _inplace_outputs(lowerer: Lowerer, node: Apply, accesses: list[Access], shape) -> dict[int, int]:
    """Output position -> input buffer it overwrites, for the ``destroy_map`` entries that are safe here.

    Each element is read before it is written, so writing into an input is
    safe when no other input reads that buffer through another access.
    """
    reuses = {}
    for out_position, (destroyed,) in getattr(node.op, "destroy_map", {}).items():
        var = node.inputs[destroyed]
        if not destroyable(lowerer, var) or lowerer.shape(var) != tuple(shape):
            continue
        buffer = accesses[destroyed].buffer
        if any(a.buffer == buffer and a != accesses[destroyed] for a in accesses):
            continue
        reuses[out_position] = lowerer.overwrite(var)
        lowerer.bind(node.outputs[out_position], Access(buffer, tuple(range(var.ndim))), shape)
    return reuses


_COMBINE = {"sum": "add", "prod": "mul", "max": "max", "min": "min", "all": "and", "any": "or"}


@lowering(Reduce)
def _lower_reduce(lowerer: Lowerer, node: Apply) -> bool:
    (x,), (out,) = node.inputs, node.outputs
    combine = _COMBINE[node.op.kind]
    if not lowerer.supports(f"reduce_{combine}", (x.dtype,), out.dtype):
        return False
    producer = lowerer.take_deferred(x)
    if producer is not None:
        inputs, expr, shape, checks = producer.inputs, producer.exprs[0], producer.shape, producer.checks
    else:
        inputs, expr, shape, checks = (lowerer.ref(x),), Arg(0, x.dtype), lowerer.shape(x), ()
    out_shape = tuple(d for a, d in enumerate(shape) if a not in node.op.axes)
    index = lowerer.bind_new(out, out_shape)
    lowerer.steps.append(ReduceKernel(
        inputs, expr, index, node.op.axes, combine, out.dtype, shape, checks, node,
        producer.node if producer is not None else None,
    ))
    return True


def _call(op: str, dtype: str, *args: Expr) -> Call:
    return Call(op, args, dtype)


def _cast(expr: Expr, dtype: str) -> Expr:
    return expr if expr.dtype == dtype else Call(f"cast_{dtype}", (expr,), dtype)


def _lower_softmax_family(lowerer: Lowerer, node: Apply, finish: Callable[[Expr, Expr, str], Expr]) -> bool:
    """Row max, then sum(exp(x - max)) in one pass, then ``finish(x - max, sum)`` elementwise.

    float16 inputs are computed in float32 and rounded once, as ``perform`` does.
    """
    (x,), (out,) = node.inputs, node.outputs
    axis = node.op.axis
    dtype = "float32" if x.dtype == "float16" else x.dtype
    if not all(lowerer.supports(op, (dtype,), dtype) for op in ("exp", "log", "subtract", "true_divide")):
        return False
    shape, source = lowerer.shape(x), lowerer.ref(x)
    reduced_shape = tuple(d for a, d in enumerate(shape) if a != axis)
    along = tuple(None if a == axis else a - (a > axis) for a in range(x.ndim))
    row_max = lowerer.new_buffer(x.dtype, reduced_shape, "temp", x.ndim - 1)
    lowerer.steps.append(
        ReduceKernel((source,), Arg(0, x.dtype), row_max, (axis,), "max", x.dtype, shape, (), node)
    )
    shifted = _call("subtract", dtype, _cast(Arg(0, x.dtype), dtype), _cast(Arg(1, x.dtype), dtype))
    total = lowerer.new_buffer(dtype, reduced_shape, "temp", x.ndim - 1)
    lowerer.steps.append(ReduceKernel(
        (source, Access(row_max, along)), _call("exp", dtype, shifted), total, (axis,), "add", dtype, shape, (), node
    ))
    index = lowerer.bind_new(out, shape)
    result = _cast(finish(shifted, Arg(2, dtype), dtype), out.dtype)
    lowerer.steps.append(ElementwiseKernel(
        (source, Access(row_max, along), Access(total, along)), (index,), (result,), shape, (), node
    ))
    return True


@lowering(Softmax)
def _lower_softmax(lowerer: Lowerer, node: Apply) -> bool:
    return _lower_softmax_family(
        lowerer, node, lambda shifted, total, dt: _call("true_divide", dt, _call("exp", dt, shifted), total)
    )


@lowering(LogSoftmax)
def _lower_log_softmax(lowerer: Lowerer, node: Apply) -> bool:
    return _lower_softmax_family(
        lowerer, node, lambda shifted, total, dt: _call("subtract", dt, shifted, _call("log", dt, total))
    )


@lowering(ClassMask)
def _lower_class_mask(lowerer: Lowerer, node: Apply) -> bool:
    """``mask[..., c, ...] = labels[...] == c``: a comparison with the loop index."""
    (labels, like), (out,) = node.inputs, node.outputs
    axis = node.op.axis
    shape = lowerer.shape(like)
    label_shape = lowerer.shape(labels)
    source = lowerer.ref(labels)
    along = [None if a == axis else a - (a > axis) for a in range(like.ndim)]
    others = [d for a, d in enumerate(shape) if a != axis]
    checks = tuple((d, ld) for d, ld in zip(others, label_shape, strict=False) if d != ld)
    is_class = Call("equal", (_cast(Arg(0, labels.dtype), "int64"), Index(axis)), "bool")
    index = lowerer.bind_new(out, shape)
    lowerer.steps.append(
        ElementwiseKernel((compose(source, along),), (index,), (_cast(is_class, out.dtype),), shape, checks, node)
    )
    return True


@lowering(ShapeI)
def _lower_shape_i(lowerer: Lowerer, node: Apply) -> bool:
    (x,), (out,) = node.inputs, node.outputs
    dim = lowerer.shape(x)[node.op.i]
    index = lowerer.bind_new(out, ())
    lowerer.steps.append(ElementwiseKernel((), (index,), (Size(dim),), (), (), node))
    return True


from theanine.codegen import (  # noqa: E402,F401  (their rules register)
    lower_indexed,
    lower_linalg,
    lower_nnet,
    lower_random,
    lower_views,
)
