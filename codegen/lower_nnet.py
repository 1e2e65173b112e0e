"""Lowering rules for the fused softmax-crossentropy ops (graph/ops/nnet_fused.py).

Both start like a log-softmax along the class axis: the row max, then the
sum of ``exp(x - max)`` in one pass and its log per row; the loss is then one reduction of
``where(w == 0, 0, w * log_prob)`` and a negation (the sign of a zero loss
is NumPy's), and the gradient one elementwise pass.  The target weights
``w`` are the one-hot of integer labels (an out-of-range label gives a
zero row) or the dense target broadcast to the logits.  float16 logits
are computed in float32 and rounded once, as ``perform`` does.
"""

from __future__ import annotations

from theanine.codegen.kernel_ir import Access, Arg, Call, ElementwiseKernel, Index, Lit, ReduceKernel, Size
from theanine.codegen.lower import Lowerer, compose, lowering
from theanine.graph.basic import Apply
from theanine.graph.ops.nnet_fused import CrossentropySoftmax, CrossentropySoftmaxDx


def _call(op: str, dtype: str, *args):
    return Call(op, tuple(args), dtype)


def _cast(expr, dtype: str):
    return expr if expr.dtype == dtype else Call(f"cast_{dtype}", (expr,), dtype)


class _Rows:
    """The shared start: accesses of x and the target, the row max and the sum of exponentials."""

    def __init__(self, lowerer: Lowerer, node: Apply, x, target):
        op = node.op
        self.sparse = op.sparse
        self.x_dtype, self.target_dtype = x.dtype, target.dtype
        self.axis = axis = op.axis
        self.dtype = "float32" if x.dtype == "float16" else x.dtype
        self.shape = shape = lowerer.shape(x)
        self.reduced = tuple(d for a, d in enumerate(shape) if a != axis)
        self.along = [None if a == axis else a - (a > axis) for a in range(x.ndim)]
        source = lowerer.ref(x)
        self.checks = []
        if op.sparse:
            labels = compose(lowerer.ref(target), self.along)
            self.checks = [(d, t) for d, t in zip(self.reduced, lowerer.shape(target), strict=False) if d != t]
            self.inputs = [source, labels]
        else:
            picks = [None if target.type.shape[a] == 1 else a for a in range(target.ndim)]
            t_shape = lowerer.shape(target)
            self.checks = [(shape[a], t_shape[a]) for a in range(x.ndim)
                           if picks[a] is not None and shape[a] != t_shape[a]]
            self.inputs = [source, compose(lowerer.ref(target), picks)]
        row_max = lowerer.new_buffer(x.dtype, self.reduced, "temp", x.ndim - 1)
        lowerer.steps.append(ReduceKernel((source,), Arg(0, x.dtype), row_max, (axis,), "max", x.dtype, shape,
                                          tuple(self.checks), node))
        self.inputs.append(Access(row_max, tuple(self.along)))
        total = lowerer.new_buffer(self.dtype, self.reduced, "temp", x.ndim - 1)
        lowerer.steps.append(ReduceKernel(tuple(self.inputs), _call("exp", self.dtype, self.shifted), total,
                                          (axis,), "add", self.dtype, shape, (), node))
        rows = tuple(range(x.ndim - 1))
        log_total = lowerer.new_buffer(self.dtype, self.reduced, "temp", x.ndim - 1)
        lowerer.steps.append(ElementwiseKernel((Access(total, rows),), (log_total,),
                                               (_call("log", self.dtype, Arg(0, self.dtype)),), self.reduced, (), node))
        self.inputs.append(Access(log_total, tuple(self.along)))

    @property
    def shifted(self):
        x, row_max = _cast(Arg(0, self.x_dtype), self.dtype), _cast(Arg(2, self.x_dtype), self.dtype)
        return _call("subtract", self.dtype, x, row_max)

    @property
    def log_prob(self):
        return _call("subtract", self.dtype, self.shifted, Arg(3, self.dtype))

    @property
    def weight(self):
        if self.sparse:
            hit = _call("equal", "bool", _cast(Arg(1, self.target_dtype), "int64"), Index(self.axis))
            return _cast(hit, self.dtype)
        return _cast(Arg(1, self.target_dtype), self.dtype)


@lowering(CrossentropySoftmax)
def _lower_crossentropy(lowerer: Lowerer, node: Apply) -> bool:
    (x, target), (out,) = node.inputs, node.outputs
    rows = _Rows(lowerer, node, x, target)
    dtype = rows.dtype
    weight = rows.weight
    zero = Lit(0.0, dtype)
    term = _call("where", dtype, _call("equal", "bool", weight, zero), zero,
                 _call("multiply", dtype, weight, rows.log_prob))
    total = lowerer.new_buffer(dtype, rows.reduced, "temp", x.ndim - 1)
    lowerer.steps.append(ReduceKernel(tuple(rows.inputs), term, total, (rows.axis,), "add", dtype, rows.shape, (),
                                      node))
    index = lowerer.bind_new(out, rows.reduced)
    loss = _cast(_call("negative", dtype, Arg(0, dtype)), out.dtype)
    lowerer.steps.append(ElementwiseKernel((Access(total, tuple(range(x.ndim - 1))),), (index,), (loss,),
                                           rows.reduced, (), node))
    return True


@lowering(CrossentropySoftmaxDx)
def _lower_crossentropy_dx(lowerer: Lowerer, node: Apply) -> bool:
    """``dy * (softmax(x) * sum(w) - w)`` broadcast to the logits."""
    (dy, x, target), (out,) = node.inputs, node.outputs
    rows = _Rows(lowerer, node, x, target)
    dtype = rows.dtype
    inputs = list(rows.inputs)
    if rows.sparse:
        label = _cast(Arg(1, rows.target_dtype), "int64")
        inside = _call("logical_and", "bool", _call("greater_equal", "bool", label, Lit(0, "int64")),
                       _call("less", "bool", label, Size(rows.shape[rows.axis])))
        weight_sum = _cast(inside, dtype)
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
    scale = _cast(Arg(len(inputs) - 1, dy.dtype), dtype)
    probability = _call("exp", dtype, rows.log_prob)
    dx = _call("multiply", dtype, scale, _call("subtract", dtype, _call("multiply", dtype, probability, weight_sum),
                                               rows.weight))
    index = lowerer.bind_new(out, rows.shape)
    lowerer.steps.append(ElementwiseKernel(tuple(inputs), (index,), (_cast(dx, out.dtype),), rows.shape,
                                           tuple(checks), node))
    return True
