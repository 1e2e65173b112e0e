"""Lowering rules of softmax, log-softmax, class masks and the fused softmax-crossentropy ops.

All of them start with the same scheme along the class axis (``RowSoftmax``):
the row max, then the sum of ``exp(x - max)`` in one pass.  Softmax and
log-softmax finish elementwise.  The crossentropy loss (graph/ops/nnet_fused.py)
is then one reduction of ``where(w == 0, 0, w * log_prob)`` and a negation
(the sign of a zero loss is NumPy's), and its gradient one elementwise pass.
The target weights ``w`` are the one-hot of integer labels (an out-of-range
label gives a zero row) or the dense target broadcast to the logits.
float16 logits are computed in float32 and rounded once, as ``perform`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from theanine.codegen.program.expressions import call, cast
from theanine.codegen.program.kernel_ir import (
    Access,
    Arg,
    Call,
    ElementwiseKernel,
    Expr,
    Index,
    Lit,
    Load,
    ReduceKernel,
    Size,
)
from theanine.codegen.program.lowering import Lowerer, compose, lowering
from theanine.graph.basic import Apply
from theanine.graph.ops.nnet import ClassMask, LogSoftmax, Softmax
from theanine.graph.ops.nnet_fused import CrossentropySoftmax, CrossentropySoftmaxDx


class RowSoftmax:
    """The row max and the sum of ``exp(x - max)`` along ``node.op.axis``, as two reduction steps
    (computed once per program: a crossentropy's gradient reads its forward's).

    ``inputs`` are the accesses the later kernels read, x's first (loop
    axes are x's); the row max is appended to them, and ``shifted`` is
    ``x - max`` in the compute dtype.  ``read(buffer)`` appends a per-row
    buffer (such as ``total``) broadcast along the axis and returns its Arg.
    """

    def __init__(self, lowerer: Lowerer, node: Apply, x, inputs: Sequence[Access], checks: Sequence = ()):
        self.axis = axis = node.op.axis
        self.x_dtype = x.dtype
        self.dtype = "float32" if x.dtype == "float16" else x.dtype
        self.shape = shape = lowerer.shape(x)
        self.reduced = tuple(d for a, d in enumerate(shape) if a != axis)
        self.along = tuple(None if a == axis else a - (a > axis) for a in range(x.ndim))
        self.inputs = list(inputs)
        row_max = lowerer.new_buffer(x.dtype, self.reduced, "temp", x.ndim - 1)
        (self.row_max,) = lowerer.computed_once(ReduceKernel((self.inputs[0],), Arg(0, x.dtype), row_max, (axis,),
                                                             "max", x.dtype, shape, tuple(checks), node))
        self._max = self.read(self.row_max)
        total = lowerer.new_buffer(self.dtype, self.reduced, "temp", x.ndim - 1)
        (self.total,) = lowerer.computed_once(ReduceKernel(tuple(self.inputs), call("exp", self.dtype, self.shifted),
                                                           total, (axis,), "add", self.dtype, shape, (), node))

    def read(self, buffer: int) -> Arg:
        self.inputs.append(Access(buffer, self.along))
        return Arg(len(self.inputs) - 1, self.dtype)

    @property
    def shifted(self) -> Expr:
        return call("subtract", self.dtype, cast(Arg(0, self.x_dtype), self.dtype),
                    cast(Arg(self._max.position, self.x_dtype), self.dtype))


def _lower_softmax_family(lowerer: Lowerer, node: Apply, finish: Callable[[Expr, Expr, str], Expr]) -> bool:
    """``finish(x - max, sum(exp(x - max)))`` elementwise after the row scheme."""
    (x,), (out,) = node.inputs, node.outputs
    dtype = "float32" if x.dtype == "float16" else x.dtype
    if not all(lowerer.supports(op, (dtype,), dtype) for op in ("exp", "log", "subtract", "true_divide")):
        return False
    rows = RowSoftmax(lowerer, node, x, [lowerer.ref(x)])
    total = rows.read(rows.total)
    index = lowerer.bind_new(out, rows.shape)
    result = cast(finish(rows.shifted, total, dtype), out.dtype)
    lowerer.steps.append(ElementwiseKernel(tuple(rows.inputs), (index,), (result,), rows.shape, (), node))
    return True


@lowering(Softmax)
def _lower_softmax(lowerer: Lowerer, node: Apply) -> bool:
    """The exponentials are computed once, into the output, which is then summed and divided in
    place (the row scheme would compute them twice: once for the sum, once for the quotient); the
    LLVM backend runs those steps row block by row block (``FusedRows``), so each block is still
    in cache when the next step reads it."""
    (x,), (out,) = node.inputs, node.outputs
    if x.dtype == out.dtype and x.dtype in ("float32", "float64"):
        return _lower_softmax_once(lowerer, node)
    return _lower_softmax_family(
        lowerer, node, lambda shifted, total, dt: call("true_divide", dt, call("exp", dt, shifted), total)
    )


def _lower_softmax_once(lowerer: Lowerer, node: Apply) -> bool:
    """Row max; ``out = exp(x - max)``; row sums of ``out``; ``out *= 1 / sums``: one division per
    row instead of one per element (a vector division costs several multiplications), within an
    ulp of dividing each element."""
    (x,), (out,) = node.inputs, node.outputs
    dtype, axis = x.dtype, node.op.axis
    if not all(lowerer.supports(op, (dtype,), dtype) for op in ("exp", "subtract", "true_divide")):
        return False
    shape = lowerer.shape(x)
    reduced = tuple(d for a, d in enumerate(shape) if a != axis)
    along = tuple(None if a == axis else a - (a > axis) for a in range(x.ndim))
    source = lowerer.ref(x)
    row_max = lowerer.new_buffer(dtype, reduced, "temp", x.ndim - 1)
    lowerer.steps.append(ReduceKernel((source,), Arg(0, dtype), row_max, (axis,), "max", dtype, shape, (), node))
    index = lowerer.bind_new(out, shape)
    shifted = call("subtract", dtype, Arg(0, dtype), Arg(1, dtype))
    lowerer.steps.append(ElementwiseKernel((source, Access(row_max, along)), (index,), (call("exp", dtype, shifted),),
                                           shape, (), node))
    whole = Access(index, tuple(range(x.ndim)))
    total = lowerer.new_buffer(dtype, reduced, "temp", x.ndim - 1)
    lowerer.steps.append(ReduceKernel((whole,), Arg(0, dtype), total, (axis,), "add", dtype, shape, (), node))
    reciprocal = call("true_divide", dtype, Lit(1.0, dtype), Arg(1, dtype))  # hoisted out of each row's loop
    lowerer.steps.append(ElementwiseKernel((whole, Access(total, along)), (index,),
                                           (call("multiply", dtype, Arg(0, dtype), reciprocal),),
                                           shape, (), node, reuses=(index,)))
    return True


@lowering(LogSoftmax)
def _lower_log_softmax(lowerer: Lowerer, node: Apply) -> bool:
    return _lower_softmax_family(
        lowerer, node, lambda shifted, total, dt: call("subtract", dt, shifted, call("log", dt, total))
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
    is_class = Call("equal", (cast(Arg(0, labels.dtype), "int64"), Index(axis)), "bool")
    index = lowerer.bind_new(out, shape)
    lowerer.steps.append(
        ElementwiseKernel((compose(source, along),), (index,), (cast(is_class, out.dtype),), shape, checks, node)
    )
    return True


class _Rows(RowSoftmax):
    """The crossentropy's start: x and the target read together, then the log of the row sum.

    Args: 0 = x, 1 = the target (labels or dense weights), 2 = the row max, 3 = log(total).
    """

    def __init__(self, lowerer: Lowerer, node: Apply, x, target):
        self.sparse = node.op.sparse
        self.target_dtype = target.dtype
        axis = node.op.axis
        shape = lowerer.shape(x)
        if self.sparse:
            along = [None if a == axis else a - (a > axis) for a in range(x.ndim)]
            reduced = [d for a, d in enumerate(shape) if a != axis]
            checks = [(d, t) for d, t in zip(reduced, lowerer.shape(target), strict=False) if d != t]
            target_access = compose(lowerer.ref(target), along)
        else:
            picks = [None if target.type.shape[a] == 1 else a for a in range(target.ndim)]
            t_shape = lowerer.shape(target)
            checks = [(shape[a], t_shape[a]) for a in range(x.ndim) if picks[a] is not None and shape[a] != t_shape[a]]
            target_access = compose(lowerer.ref(target), picks)
        super().__init__(lowerer, node, x, [lowerer.ref(x), target_access], checks)
        rows = tuple(range(x.ndim - 1))
        log_total = lowerer.new_buffer(self.dtype, self.reduced, "temp", x.ndim - 1)
        (self.log_total,) = lowerer.computed_once(ElementwiseKernel((Access(self.total, rows),), (log_total,),
                                                                    (call("log", self.dtype, Arg(0, self.dtype)),),
                                                                    self.reduced, (), node))
        self._log_total = self.read(self.log_total)

    @property
    def log_prob(self) -> Expr:
        return call("subtract", self.dtype, self.shifted, self._log_total)

    @property
    def weight(self) -> Expr:
        if self.sparse:
            return cast(call("equal", "bool", self.label, Index(self.axis)), self.dtype)
        return cast(Arg(1, self.target_dtype), self.dtype)

    @property
    def label(self) -> Expr:
        """A sparse target's label at the loop position (kernel input 1)."""
        return cast(Arg(1, self.target_dtype), "int64")

    @property
    def label_inside(self) -> Expr:
        """Whether the label names a class (a row whose label does not has no weight)."""
        return call("logical_and", "bool", call("greater_equal", "bool", self.label, Lit(0, "int64")),
                    call("less", "bool", self.label, Size(self.shape[self.axis])))


@lowering(CrossentropySoftmax)
def _lower_crossentropy(lowerer: Lowerer, node: Apply) -> bool:
    (x, target), (out,) = node.inputs, node.outputs
    rows = _Rows(lowerer, node, x, target)
    if rows.sparse:
        return _picked_loss(lowerer, node, x, target, rows)
    dtype = rows.dtype
    weight = rows.weight
    zero = Lit(0.0, dtype)
    term = call("where", dtype, call("equal", "bool", weight, zero), zero,
                 call("multiply", dtype, weight, rows.log_prob))
    total = lowerer.new_buffer(dtype, rows.reduced, "temp", x.ndim - 1)
    lowerer.steps.append(ReduceKernel(tuple(rows.inputs), term, total, (rows.axis,), "add", dtype, rows.shape, (),
                                      node))
    index = lowerer.bind_new(out, rows.reduced)
    loss = cast(call("negative", dtype, Arg(0, dtype)), out.dtype)
    lowerer.steps.append(ElementwiseKernel((Access(total, tuple(range(x.ndim - 1))),), (index,), (loss,),
                                           rows.reduced, (), node))
    return True


def _picked_loss(lowerer: Lowerer, node: Apply, x, labels, rows: _Rows) -> bool:
    """A sparse crossentropy's loss, one row at a time: ``-(x[label] - max - log_total)``, the logit
    read at the label (-0 for a label outside the classes, whose row has no weight), instead of a
    pass over every class."""
    (out,) = node.outputs
    dtype, axis = rows.dtype, rows.axis
    kept = tuple(range(x.ndim - 1))
    inputs = (lowerer.ref(x), lowerer.ref(labels), Access(rows.row_max, kept), Access(rows.log_total, kept))
    column = call("where", "int64", rows.label_inside, rows.label, Lit(0, "int64"))  # a read inside x at every row
    coords = tuple(column if a == axis else Index(a - (a > axis)) for a in range(x.ndim))
    picked = cast(Load(0, coords, tuple(rows.shape), (False,) * x.ndim, x.dtype), dtype)
    log_prob = call("subtract", dtype, call("subtract", dtype, picked, cast(Arg(2, x.dtype), dtype)), Arg(3, dtype))
    # in the forward's order, so a zero loss is -0 as NumPy's; -0 also where no class has weight
    loss = call("where", dtype, rows.label_inside, call("negative", dtype, log_prob), Lit(-0.0, dtype))
    index = lowerer.bind_new(out, rows.reduced)
    lowerer.steps.append(ElementwiseKernel(inputs, (index,), (cast(loss, out.dtype),), rows.reduced, (), node))
    return True


@lowering(CrossentropySoftmaxDx)
def _lower_crossentropy_dx(lowerer: Lowerer, node: Apply) -> bool:
    """``dy * (softmax(x) * sum(w) - w)`` broadcast to the logits."""
    (dy, x, target), (out,) = node.inputs, node.outputs
    rows = _Rows(lowerer, node, x, target)
    dtype = rows.dtype
    inputs = list(rows.inputs)
    if rows.sparse:
        weight_sum = cast(rows.label_inside, dtype)
    else:
        total = lowerer.new_buffer(dtype, rows.reduced, "temp", x.ndim - 1)
        lowerer.steps.append(ReduceKernel(tuple(inputs), rows.weight, total, (rows.axis,), "add", dtype, rows.shape,
                                          (), node))
        inputs.append(Access(total, tuple(rows.along)))
        weight_sum = Arg(len(inputs) - 1, dtype)
    dy_shape = lowerer.shape(dy)
    dy_picks = [None if a == rows.axis else a - (a > rows.axis) for a in range(x.ndim)]
    dy_picks = [None if p is None or dy.type.shape[p] == 1 else p for p in dy_picks]
    checks = [(rows.reduced[p], dy_shape[p]) for p in dy_picks if p is not None and rows.reduced[p] != dy_shape[p]]
    inputs.append(compose(lowerer.ref(dy), dy_picks))
    scale = cast(Arg(len(inputs) - 1, dy.dtype), dtype)
    probability = call("exp", dtype, rows.log_prob)
    dx = call("multiply", dtype, scale, call("subtract", dtype, call("multiply", dtype, probability, weight_sum),
                                               rows.weight))
    index = lowerer.bind_new(out, rows.shape)
    lowerer.steps.append(ElementwiseKernel(tuple(inputs), (index,), (cast(dx, out.dtype),), rows.shape,
                                           tuple(checks), node))
    return True
