"""Lowering rules of elementwise ops, reductions, dimension shuffles and shape reads.

An Elemwise node (a fused ``Composite`` included) becomes one
``ElementwiseKernel`` whose expression DAG is the scalar op's; an
elementwise result read only by a reduction is deferred into that
reduction's loop.  A DimShuffle is a view (a new access, no step).
"""

from __future__ import annotations

from collections.abc import Sequence

from theanine.codegen.program import shape_exprs as S
from theanine.codegen.program.expressions import MAX_KERNEL_CALLS, call_weight, post_order
from theanine.codegen.program.kernel_ir import (
    Access,
    Arg,
    Call,
    ElementwiseKernel,
    Expr,
    Lit,
    Load,
    ReduceKernel,
    ShapeExpr,
    Size,
    distinct_nodes,
)
from theanine.codegen.program.lowering import Decline, Lowerer, Supports, compose, destroyable, lowering
from theanine.graph.basic import Apply
from theanine.graph.ops.composite import Composite
from theanine.graph.ops.elemwise import Elemwise, ScalarOp
from theanine.graph.ops.reduce import Reduce
from theanine.graph.ops.shape import DimShuffle, ShapeI


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
    return all(supports(e.op, tuple(a.dtype for a in e.args), e.dtype)
               for e in distinct_nodes((expr,), into_gathers=False) if isinstance(e, Call))


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
    deferred = len(node.outputs) == 1 and lowerer.only_read_by_a_reduction(node.outputs[0])
    written: dict[int, int] = {}
    computes = {}
    for k, root in enumerate(exprs):
        if not deferred and k not in getattr(node.op, "destroy_map", {}):
            computes.setdefault(id(root), k)

    def output_buffer(expr: Expr) -> int | None:
        """The buffer of the node output that ``expr`` computes, for a piece of a split to store into."""
        k = computes.pop(id(expr), None)
        if k is None:
            return None
        written[k] = lowerer.bind_new(node.outputs[k], shape)
        return written[k]

    exprs = _split_large(lowerer, node, accesses, exprs, shape, checks, output_buffer)
    remaining = [k for k in range(len(exprs)) if k not in written]
    if deferred:
        inputs, exprs = _used_inputs(accesses, exprs, keep=len(node.inputs))
        lowerer.defer(node.outputs[0], ElementwiseKernel(inputs, (), exprs, shape, checks, node))
        return True
    reuses = _inplace_outputs(lowerer, node, accesses, shape)
    if remaining:
        inputs, rest = _used_inputs(accesses, [exprs[k] for k in remaining], keep=len(node.inputs))
        outputs = tuple(reuses[k] if k in reuses else lowerer.bind_new(node.outputs[k], shape) for k in remaining)
        lowerer.steps.append(ElementwiseKernel(inputs, outputs, rest, shape, checks, node, tuple(reuses.values())))
    return True


def _split_large(lowerer: Lowerer, node: Apply, accesses: list[Access], exprs, shape, checks,
                 output_buffer) -> list[Expr]:
    """Cut an expression DAG weighing more than ``MAX_KERNEL_CALLS`` into kernels of about that weight.

    Fusion may make one loop of thousands of operations, and compilers take
    superlinear time on such a body.  Walking the DAG children first, each
    time the weight since the last cut reaches the limit, the values of that
    stretch still needed later are stored (one kernel reading only the
    inputs it uses, so that the pieces of a regular chain are alike and
    print as one function) and read back (new entries of ``accesses``) by
    what follows, so nothing is computed twice.  A stored value that is an
    output of the node goes straight to that output's buffer
    (``output_buffer(expr)``; None: a temporary of the loop's shape).
    Returns the expressions that remain.
    """
    order = post_order(exprs)
    if sum(call_weight(e) for e in order) <= MAX_KERNEL_CALLS:
        return list(exprs)
    last_use = {id(e): len(order) for e in exprs}
    for position, e in enumerate(order):
        for a in getattr(e, "args", ()):
            last_use[id(a)] = max(last_use.get(id(a), 0), position)
    rebuilt: dict[int, Expr] = {}
    stretch: list[Expr] = []
    weight = 0
    identity = tuple(range(len(shape)))
    for position, e in enumerate(order):
        if not isinstance(e, Call):
            continue
        rebuilt[id(e)] = Call(e.op, tuple(rebuilt.get(id(a), a) for a in e.args), e.dtype)
        stretch.append(e)
        weight += call_weight(e)
        if weight < MAX_KERNEL_CALLS:
            continue
        live = [s for s in stretch if last_use.get(id(s), 0) > position]
        stored = tuple(output_buffer(s) or lowerer.new_buffer(s.dtype, shape, "temp", len(shape)) for s in live)
        inputs, values = _used_inputs(accesses, [rebuilt[id(s)] for s in live])
        lowerer.steps.append(ElementwiseKernel(inputs, stored, values, shape, checks, node))
        for s, buffer in zip(live, stored, strict=True):
            accesses.append(Access(buffer, identity))
            rebuilt[id(s)] = Arg(len(accesses) - 1, s.dtype)
        stretch, weight = [], 0
    return [rebuilt.get(id(e), e) for e in exprs]


def _used_inputs(accesses: list[Access], exprs: list[Expr], keep: int = 0) -> tuple[tuple, tuple]:
    """(inputs, exprs) reading only the accesses ``exprs`` use, renumbered in order of first use
    after the first ``keep``, which stay where they are (the node's own inputs).

    Expressions that gather (``Load``) keep every access and their numbering.
    """
    order = post_order(exprs)
    if any(isinstance(e, Load) for e in order):
        return tuple(accesses), tuple(exprs)
    positions: dict[int, int] = {k: k for k in range(keep)}
    renumbered: dict[int, Expr] = {}
    for e in order:
        if isinstance(e, Arg):
            renumbered[id(e)] = Arg(positions.setdefault(e.position, len(positions)), e.dtype)
        elif isinstance(e, Call):
            renumbered[id(e)] = Call(e.op, tuple(renumbered.get(id(a), a) for a in e.args), e.dtype)
    return tuple(accesses[p] for p in positions), tuple(renumbered.get(id(e), e) for e in exprs)


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
    known = lowerer.known_sum(x, node.op.axes) if combine == "add" else None
    if known is not None and id(x) not in lowerer.deferred and out.dtype == x.dtype:
        lowerer.bind(out, known, tuple(d for a, d in enumerate(lowerer.shape(x)) if a not in node.op.axes))
        return True
    producer = lowerer.take_deferred(x)
    if producer is not None:
        inputs, expr, shape, checks = producer.inputs, producer.exprs[0], producer.shape, producer.checks
    else:
        inputs, expr, shape, checks = (lowerer.ref(x),), Arg(0, x.dtype), lowerer.shape(x), ()
    if combine in ("max", "min"):  # no identity: NumPy refuses an empty reduction
        not_empty = S.nonzero(S.product([shape[a] for a in node.op.axes]))
        if not_empty == 0:
            raise Decline  # always empty: the host call raises NumPy's error
        S.check_step(lowerer, node, [not_empty])
    out_shape = tuple(d for a, d in enumerate(shape) if a not in node.op.axes)
    index = lowerer.bind_new(out, out_shape)
    lowerer.steps.append(ReduceKernel(
        inputs, expr, index, node.op.axes, combine, out.dtype, shape, checks, node,
        producer.node if producer is not None else None,
    ))
    return True


@lowering(ShapeI)
def _lower_shape_i(lowerer: Lowerer, node: Apply) -> bool:
    (x,), (out,) = node.inputs, node.outputs
    dim = lowerer.shape(x)[node.op.i]
    index = lowerer.bind_new(out, ())
    lowerer.steps.append(ElementwiseKernel((), (index,), (Size(dim),), (), (), node))
    return True
