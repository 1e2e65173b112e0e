"""The softmax-crossentropy family: one fused op forward, one fused op backward.

Forward (stabilize), ``crossentropy_of_softmax``: the per-example loss
``-sum(target * log_p, axis)`` where ``log_p`` is ``log_softmax(x)`` (the
from-logits form) or Keras' probabilities form
``log(clip(p / sum(p), eps, 1 - eps))`` with ``p = softmax(x)`` (what
``th.categorical_crossentropy`` / ``th.sparse_categorical_crossentropy``
build without ``from_logits``) becomes ``CrossentropySoftmax(x, target)``,
and a ``ClassMask`` target its integer labels (``sparse``).

For the probabilities form this drops the clipping, exactly as Keras' own
TensorFlow backend does when its output comes from a softmax (it takes the
softmax's logits and computes the from-logits loss): where the clip was
active (a probability below 1e-7) the naive loss is capped at
``-log(1e-7) ~ 16.1`` with a zero gradient, while the fused one is the true
loss with its true gradient; elsewhere they agree to rounding.

Backward (specialize), ``crossentropy_softmax_grad``: the gradient that
``th.grad`` derived through those formulas, which ends in the softmax's
(or log-softmax's) own gradient, becomes ``CrossentropySoftmaxDx(dy, x,
target)``.  The matcher proves the shape of the incoming gradient: with a
row-broadcast factor ``G`` (static size 1 on the class axis),

- log-softmax gradient ``gz - softmax(x) * sum(gz)`` with ``gz = G * t``;
- softmax gradient ``(gz - sum(gz * sm)) * sm`` with ``gz`` a sum of
  row-broadcast terms (which the softmax Jacobian annihilates) and one term
  ``G * t / q / sum(sm)`` (optionally under the clip's gradient mask), where
  ``q`` is the clipped or unclipped ``sm / sum(sm)``;

and in both cases the result is ``-G * (softmax(x) * sum(t) - t)``, i.e.
``Dx(dy=-G)``.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Variable
from theanine.graph.ops.nnet import EPSILON, ClassMask, LogSoftmax, Softmax
from theanine.graph.ops.nnet_fused import CrossentropySoftmax, CrossentropySoftmaxDx
from theanine.graph.ops.reduce import Reduce
from theanine.graph.ops.shape import DimShuffle
from theanine.graph.rewriting.db import register
from theanine.graph.rewriting.rewriters import node_rewriter
from theanine.graph.rewriting.utils import elemwise_op, same_type, uniform_constant
from theanine.graph.type import is_float

__all__: list[str] = []

LOG, EXP, CLIP, WHERE = (elemwise_op(n) for n in ("log", "exp", "clip", "where"))
ADD, SUB, MUL, DIV = (elemwise_op(n) for n in ("add", "subtract", "multiply", "true_divide"))
SECOND, AND, GE = elemwise_op("second"), elemwise_op("logical_and"), elemwise_op("greater_equal")


def _owner_op(var: Variable):
    return None if var.owner is None else var.owner.op


def _is_sum_over(var: Variable, axis: int) -> bool:
    """Is ``var`` a plain ``sum`` over exactly ``axis``?"""
    op = _owner_op(var)
    return isinstance(op, Reduce) and op.kind == "sum" and op.axes == (axis,) and op.dtype is None


def _row_total(var: Variable, axis: int) -> Variable | None:
    """``v`` when ``var`` is ``sum(v, axis)`` with the axis put back (keepdims); else None."""
    op = _owner_op(var)
    if not isinstance(op, DimShuffle) or var.type.shape[axis] != 1:
        return None
    (total,) = var.owner.inputs
    kept = [p for p in op.pattern if p != "x"]
    if op.pattern[axis] != "x" or kept != list(range(total.ndim)) or not _is_sum_over(total, axis):
        return None
    return total.owner.inputs[0]


def _softmax_logits(var: Variable, axis: int) -> Variable | None:
    """``x`` when ``var`` is ``softmax(x)`` along ``axis`` (or ``exp(log_softmax(x))``)."""
    op = _owner_op(var)
    if isinstance(op, Softmax) and op.axis == axis:
        return var.owner.inputs[0]
    if op == EXP:
        inner = var.owner.inputs[0]
        if isinstance(_owner_op(inner), LogSoftmax) and inner.owner.op.axis == axis:
            return inner.owner.inputs[0]
    return None


def _renormalized_softmax(var: Variable, axis: int) -> tuple[Variable, Variable] | None:
    """``(x, sm)`` when ``var`` is ``sm`` or ``sm / sum(sm, axis)`` with ``sm = softmax(x)``."""
    x = _softmax_logits(var, axis)
    if x is not None:
        return x, var
    if _owner_op(var) != DIV:
        return None
    sm, divisor = var.owner.inputs
    x = _softmax_logits(sm, axis)
    if x is None or _row_total(divisor, axis) is not sm:
        return None
    return x, sm


def _keras_clip_input(var: Variable) -> Variable | None:
    """``p`` when ``var`` is ``clip(p, 1e-7, 1 - 1e-7)`` in ``p``'s dtype (Keras' guard)."""
    if _owner_op(var) != CLIP:
        return None
    p, low, high = var.owner.inputs
    dtype = np.dtype(var.dtype)
    if uniform_constant(low) != dtype.type(EPSILON) or uniform_constant(high) != dtype.type(1.0 - EPSILON):
        return None
    return p


def _logits_of_log_probabilities(var: Variable, axis: int) -> Variable | None:
    """``x`` when ``var`` is ``log_softmax(x)`` or ``log([clip](softmax(x) [/ its sum]))``."""
    op = _owner_op(var)
    if isinstance(op, LogSoftmax) and op.axis == axis:
        return var.owner.inputs[0]
    if op != LOG:
        return None
    inner = var.owner.inputs[0]
    clipped = _keras_clip_input(inner)
    found = _renormalized_softmax(inner if clipped is None else clipped, axis)
    return None if found is None else found[0]


def _target_of(t: Variable, axis: int, x: Variable) -> tuple[Variable, bool] | None:
    """``(labels, True)`` for a class mask along ``axis``; ``(t, False)`` for dense targets."""
    if isinstance(_owner_op(t), ClassMask) and t.owner.op.axis == axis:
        return t.owner.inputs[0], True
    if t.dtype == x.dtype and t.ndim == x.ndim:
        return t, False
    return None


def _fused(op_class, axis: int, sparse: bool, *inputs: Variable) -> Variable | None:
    """The fused op on ``inputs``, or None when they do not type-check (declined rewrite)."""
    try:
        return op_class(axis, sparse)(*inputs)
    except (TypeError, ValueError):
        return None


@register("stabilize")
@node_rewriter([Reduce])
def crossentropy_of_softmax(node: Apply):
    """``sum(target * log_p(x), axis)`` -> ``-CrossentropySoftmax(x, target)`` (see the module
    docstring for the forms of ``log_p`` and for the clipping caveat)."""
    op = node.op
    if op.kind != "sum" or op.dtype is not None or len(op.axes) != 1:
        return None
    (axis,) = op.axes
    (product,) = node.inputs
    if _owner_op(product) != MUL or not is_float(product.dtype):
        return None
    first, second = product.owner.inputs
    for t, log_p in ((first, second), (second, first)):
        x = _logits_of_log_probabilities(log_p, axis)
        target = None if x is None else _target_of(t, axis, x)
        if target is None:
            continue
        loss = _fused(CrossentropySoftmax, axis, target[1], x, target[0])
        if loss is not None and same_type(node.outputs[0], -loss):
            return [-loss]
    return None


@register("canonicalize", "fast_compile")
@node_rewriter([ClassMask])
def class_mask_like_logits(node: Apply):
    """``ClassMask(labels, softmax(x))`` -> ``ClassMask(labels, x)``: the mask only reads the
    shape and dtype of ``like``, which the logits share, so the softmax is not needed for it."""
    labels, like = node.inputs
    if not isinstance(_owner_op(like), (Softmax, LogSoftmax)):
        return None
    new = ClassMask(node.op.axis)(labels, like.owner.inputs[0])
    return [new] if same_type(node.outputs[0], new) else None


# ---------------------------------------------------------------------------- the gradient


def _strip_broadcast(var: Variable) -> Variable:
    """``y`` for ``second(a, y)`` and ``second(a, 0) + y``: the value, without its broadcast."""
    while True:
        op = _owner_op(var)
        if op == SECOND:
            var = var.owner.inputs[1]
        elif op == ADD and any(_is_zeros(v) for v in var.owner.inputs):
            var = next(v for v in var.owner.inputs if not _is_zeros(v))
        else:
            return var


def _is_zeros(var: Variable) -> bool:
    return _owner_op(var) == SECOND and uniform_constant(var.owner.inputs[1]) == 0


def _row_broadcast(var: Variable, axis: int) -> bool:
    return var.type.shape[axis] == 1


def _scaled_target(var: Variable, axis: int) -> tuple[Variable, Variable] | None:
    """``(G, t)`` when ``var`` is ``G * t`` with ``G`` constant along ``axis`` (row-broadcast)."""
    var = _strip_broadcast(var)
    if _owner_op(var) != MUL:
        return None
    first, second = var.owner.inputs
    for g, t in ((first, second), (second, first)):
        g = _strip_broadcast(g)
        if _row_broadcast(g, axis) and not _row_broadcast(t, axis):
            return g, t
    return None


def _additive_terms(var: Variable) -> list[Variable]:
    """``var`` split over ``+`` (and the zeros that gradients accumulate onto), iteratively."""
    terms, pending = [], [var]
    while pending:
        item = _strip_broadcast(pending.pop())
        if _owner_op(item) == ADD:
            pending.extend(item.owner.inputs)
        else:
            terms.append(item)
    return terms


def _clip_gradient_operand(var: Variable, p: Variable) -> Variable | None:
    """``g`` for ``where(p >= low & ..., g, 0)``, the gradient of ``clip(p, low, high)``."""
    if _owner_op(var) != WHERE or uniform_constant(var.owner.inputs[2]) != 0:
        return None
    mask = var.owner.inputs[0]
    if _owner_op(mask) != AND or _owner_op(mask.owner.inputs[0]) != GE:
        return None
    return var.owner.inputs[1] if mask.owner.inputs[0].owner.inputs[0] is p else None


def _probability_term(term: Variable, sm: Variable, axis: int) -> tuple[Variable, Variable] | None:
    """``(G, t)`` when ``term`` is what the gradient of ``sum(G*t*log q)`` sends to ``sm``
    directly: ``[clip-mask](G*t / q) / sum(sm)`` with ``q = [clip](sm / sum(sm))``, or
    ``[clip-mask](G*t / q)`` with ``q = [clip](sm)``."""
    inner = term
    if _owner_op(term) == DIV and _row_total(term.owner.inputs[1], axis) is sm:
        inner = term.owner.inputs[0]
    quotient = _quotient_under_clip(inner)
    if quotient is None:
        return None
    numerator, q = quotient.owner.inputs
    clipped = _keras_clip_input(q)
    p = q if clipped is None else clipped
    found = _renormalized_softmax(p, axis)
    if found is None or found[1] is not sm or (p is sm) != (inner is term):
        return None
    if q is not p and _clip_gradient_operand(inner, p) is not quotient:
        return None
    return _scaled_target(numerator, axis)


def _quotient_under_clip(var: Variable) -> Variable | None:
    """The division ``G*t / q`` in ``var`` or in ``where(mask, var, 0)``."""
    if _owner_op(var) == WHERE and uniform_constant(var.owner.inputs[2]) == 0:
        var = var.owner.inputs[1]
    return var if _owner_op(var) == DIV else None


def _softmax_gradient_input(node: Apply, axis: int) -> tuple[Variable, Variable] | None:
    """``(gz, sm)`` when ``node`` is ``(gz - sum(gz * sm, axis, keepdims)) * sm``."""
    if node.op != MUL:
        return None
    for difference, sm in (node.inputs, node.inputs[::-1]):
        if _owner_op(difference) != SUB or _softmax_logits(sm, axis) is None:
            continue
        gz, correction = difference.owner.inputs
        weighted = _row_total(correction, axis)
        if weighted is not None and _owner_op(weighted) == MUL and set(weighted.owner.inputs) == {gz, sm}:
            return gz, sm
    return None


def _from_softmax_gradient(node: Apply, axis: int):
    """``(x, G, t)`` for the softmax-gradient form (see the module docstring)."""
    found = _softmax_gradient_input(node, axis)
    if found is None:
        return None
    gz, sm = found
    terms = [t for t in _additive_terms(gz) if not _row_broadcast(t, axis)]
    if len(terms) != 1:
        return None
    scaled = _probability_term(terms[0], sm, axis)
    return None if scaled is None else (_softmax_logits(sm, axis), *scaled)


def _from_log_softmax_gradient(node: Apply, axis: int):
    """``(x, G, t)`` when ``node`` is ``gz - softmax(x) * sum(gz, axis, keepdims)``, ``gz = G * t``."""
    if node.op != SUB:
        return None
    gz, correction = node.inputs
    if _owner_op(correction) != MUL:
        return None
    for sm, total in (correction.owner.inputs, correction.owner.inputs[::-1]):
        x = _softmax_logits(sm, axis)
        if x is not None and _row_total(total, axis) is gz:
            scaled = _scaled_target(gz, axis)
            return None if scaled is None else (x, *scaled)
    return None


def _class_axis_candidates(node: Apply) -> list[int]:
    """Axes a class axis can be: those along which the result is not broadcast."""
    return [a for a, size in enumerate(node.outputs[0].type.shape) if size != 1]


def _loss_gradient(g: Variable, axis: int) -> Variable:
    """``-G`` without its class axis: the incoming gradient of the per-example loss."""
    kept = tuple(a for a in range(g.ndim) if a != axis)
    return -DimShuffle(kept)(g)


@register("specialize")
@node_rewriter([MUL, SUB])
def crossentropy_softmax_grad(node: Apply):
    """The logits' gradient of a softmax crossentropy -> ``CrossentropySoftmaxDx(dy, x, target)``."""
    out = node.outputs[0]
    if not is_float(out.dtype):
        return None
    for axis in _class_axis_candidates(node):
        found = _from_softmax_gradient(node, axis) or _from_log_softmax_gradient(node, axis)
        if found is None:
            continue
        x, g, t = found
        target = _target_of(t, axis, x)
        if target is None or g.dtype != out.dtype:
            continue
        dx = _fused(CrossentropySoftmaxDx, axis, target[1], _loss_gradient(g, axis), x, target[0])
        if dx is not None and same_type(out, dx):
            return [dx]
    return None


@register("specialize")
@node_rewriter([CrossentropySoftmaxDx])
def crossentropy_dx_unbroadcast_dy(node: Apply):
    """``Dx(second(loss, dy), x, t)`` -> ``Dx(dy, x, t)``: the op broadcasts ``dy`` itself, so
    the broadcast (and its read of the loss, for the shape) is not needed."""
    dy, x, target = node.inputs
    if _owner_op(dy) != SECOND:
        return None
    value = dy.owner.inputs[1]
    if value.dtype != dy.dtype:
        return None
    new = _fused(CrossentropySoftmaxDx, node.op.axis, node.op.sparse, value, x, target)
    return [new] if new is not None and same_type(node.outputs[0], new) else None
