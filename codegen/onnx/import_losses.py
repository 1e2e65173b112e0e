"""ONNX's training losses as theanine expressions: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.

Both read ``input`` as ``(N, C, d1, ..., dk)`` scores and ``target`` as
``(N, d1, ..., dk)`` class indices.  An element whose target equals
``ignore_index`` contributes nothing, and its weight is 0; with class
``weight``s (or an ``ignore_index``) ``reduction="mean"`` divides the
weighted sum by the sum of the weights that applied, as ONNX's reference
does, else it is the plain mean.  SoftmaxCrossEntropyLoss is the former on
``log_softmax`` over the class axis, whose value is its optional second
output.
"""

from __future__ import annotations

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.import_rules import _same
from theanine.codegen.onnx.reader import Unsupported, imports

REDUCTIONS = ("none", "sum", "mean")


@imports("NegativeLogLikelihoodLoss")
def _negative_log_likelihood(ctx, node, args, attrs):
    x, target, weight = (*args, None)[:3]
    return [_weighted_loss(x, target, weight, attrs)]


@imports("SoftmaxCrossEntropyLoss")
def _softmax_cross_entropy(ctx, node, args, attrs):
    x, target, weight = (*args, None)[:3]
    log_prob = _same(th.log_softmax(x, axis=1), x)
    return [_weighted_loss(log_prob, target, weight, attrs), log_prob][:len(node.output)]


def _weighted_loss(log_prob, target, weight, attrs):
    """``-log_prob`` at each element's target class, weighted and reduced as ONNX's reference."""
    reduction = attrs.get("reduction", "mean")
    if reduction not in REDUCTIONS:
        raise Unsupported(f"reduction={reduction!r} (ONNX defines {', '.join(REDUCTIONS)})")
    if log_prob.ndim < 2 or target.ndim != log_prob.ndim - 1:
        raise Unsupported(f"input of rank {log_prob.ndim} with target of rank {target.ndim}: the input must be "
                          "(N, C, d1, ..., dk) and the target (N, d1, ..., dk)")
    classes = th.shape(log_prob)[1]
    index = th.cast(target, "int64")
    ignore_index = attrs.get("ignore_index")
    kept = None if ignore_index is None else th.not_equal(index, ignore_index)
    safe = th.clip(index if kept is None else th.where(kept, index, 0), 0, classes - 1)
    by_class_last = th.moveaxis(log_prob, 1, -1)
    picked = th.take_along_axis(by_class_last, th.expand_dims(safe, -1), axis=-1)[..., 0]
    loss = -picked
    weights = None
    if weight is not None:
        weights = th.take(weight, safe)
    if kept is not None:
        mask = th.cast(kept, log_prob.dtype)
        weights = mask if weights is None else weights * mask
    if weights is not None:
        loss = loss * weights
    if reduction == "none":
        return _same(loss, log_prob)
    if reduction == "sum":
        return _same(th.sum(loss), log_prob)
    if weights is None:
        return _same(th.mean(loss), log_prob)
    return _same(th.sum(loss) / th.sum(weights), log_prob)
