"""Stabilize: naive formulas that overflow or lose precision become stable ones.

Each rewrite replaces a formula by a mathematically equal one that stays
finite and accurate where the naive one gives inf, nan or 0 (see the tests,
which feed logits of magnitude 1e3 to 1e4).  A float16 product (MatMul,
Conv, ConvTranspose) is computed in float32 and rounded once, as NumPy's
float16 ``matmul`` does: a kernel that rounded each product or partial sum
to float16 would drift several float16 ulps from the reference.
"""

from __future__ import annotations

from theanine.graph.basic import Apply
from theanine.graph.ops.conv import Conv, ConvTranspose
from theanine.graph.ops.linalg import MatMul
from theanine.graph.ops.math import cast
from theanine.graph.ops.nnet import LogSoftmax, Softmax
from theanine.graph.ops.reduce import Reduce, logsumexp
from theanine.graph.ops.shape import DimShuffle
from theanine.graph.rewriting.db import register
from theanine.graph.rewriting.rewriters import PatternRewriter, match_pattern, node_rewriter
from theanine.graph.rewriting.utils import elemwise_op, same_type

__all__: list[str] = []

LOG, EXP, ADD, SUB = (elemwise_op(n) for n in ("log", "exp", "add", "subtract"))
LOG1P, EXPM1 = elemwise_op("log1p"), elemwise_op("expm1")
MUL, DIV = elemwise_op("multiply"), elemwise_op("true_divide")

_SOFTMAX_OF_LOG_GRAD = (
    MUL,
    (SUB, (DIV, "g", "sm"), (DimShuffle, (Reduce, (MUL, (DIV, "g", "sm"), "sm")))),
    "sm",
)


@register("stabilize")
@node_rewriter([MatMul, Conv, ConvTranspose])
def float16_products_in_float32(node: Apply):
    """``op(a, b)`` on float16 operands -> ``cast(op(float32(a), float32(b)), float16)`` (module docstring)."""
    if node.outputs[0].dtype != "float16":
        return None
    new = node.op(*[cast(v, "float32") if v.dtype == "float16" else v for v in node.inputs])
    new = cast(new, "float16")
    return [new] if same_type(node.outputs[0], new) else None


@register("stabilize")
@node_rewriter([LOG])
def log_of_softmax(node: Apply):
    """``log(softmax(x)) -> log_softmax(x)`` along the same axis (no log of an underflowed 0)."""
    (inner,) = node.inputs
    if inner.owner is None or not isinstance(inner.owner.op, Softmax):
        return None
    new = LogSoftmax(inner.owner.op.axis)(inner.owner.inputs[0])
    return [new] if same_type(node.outputs[0], new) else None


@register("stabilize")
@node_rewriter([LOG])
def log_of_sum_of_exp(node: Apply):
    """``log(sum(exp(x), axes)) -> logsumexp(x, axes)``: the maximum is shifted out first."""
    (total,) = node.inputs
    if total.owner is None or not isinstance(total.owner.op, Reduce):
        return None
    reduce_op = total.owner.op
    (terms,) = total.owner.inputs
    if reduce_op.kind != "sum" or reduce_op.dtype is not None or not reduce_op.axes:
        return None
    if any(terms.type.shape[a] == 0 for a in reduce_op.axes):
        return None
    if terms.owner is None or terms.owner.op != EXP:
        return None
    new = logsumexp(terms.owner.inputs[0], axis=reduce_op.axes)
    return [new] if same_type(node.outputs[0], new) else None


@register("stabilize")
@node_rewriter([MUL])
def log_softmax_grad(node: Apply):
    """The gradient of ``log(softmax(x))``, ``softmax_grad(g / sm)``, becomes ``g - sm * sum(g)``.

    The naive form divides by the softmax, which underflows to 0 for
    saturated logits (0/0: nan); the rewritten one is the log-softmax's own
    gradient and has no division.
    """
    bindings = match_pattern(_SOFTMAX_OF_LOG_GRAD, node.outputs[0], {})
    if bindings is None:
        return None
    sm, g = bindings["sm"], bindings["g"]
    if sm.owner is None or not isinstance(sm.owner.op, Softmax):
        return None
    difference = next(v for v in node.inputs if v.owner is not None and v.owner.op == SUB)
    kept_dims = difference.owner.inputs[1]
    reduce_op = kept_dims.owner.inputs[0].owner.op
    if (
        reduce_op.kind != "sum"
        or reduce_op.axes != (sm.owner.op.axis,)
        or reduce_op.dtype is not None
    ):
        return None
    new = g - sm * DimShuffle(kept_dims.owner.op.pattern)(Reduce("sum", reduce_op.axes)(g))
    return [new] if same_type(node.outputs[0], new) else None


log_one_plus = register("stabilize")(
    PatternRewriter((LOG, (ADD, 1, "x")), (LOG1P, "x"), name="log1p")
)
log_one_plus.__doc__ = "``log(1 + x) -> log1p(x)``: accurate for |x| far below the float epsilon."

exp_minus_one = register("stabilize")(
    PatternRewriter((SUB, (EXP, "x"), 1), (EXPM1, "x"), name="expm1")
)
exp_minus_one.__doc__ = "``exp(x) - 1 -> expm1(x)``: accurate for tiny x, where exp(x) rounds to 1."
