"""Fused softmax-crossentropy ops, built by the stabilize/specialize rewrites.

``CrossentropySoftmax(axis, sparse)(x, target)`` is the per-example loss
``-sum(target * log_softmax(x), axis)`` computed from the logits ``x`` in
one stable pass (the maximum is shifted out; no probability is ever
materialized, so nothing underflows to ``log(0)``).  With ``sparse=True``
the target is an integer label per example (the class axis removed) and
the loss is ``-log_softmax(x)[label]``; a label outside ``[0, classes)``
selects nothing and gives 0, as ``ClassMask`` does in the unfused graph.

``CrossentropySoftmaxDx(axis, sparse)(dy, x, target)`` is its gradient
with respect to the logits, Theano's ``CrossentropySoftmax1HotWithBiasDx``:
``dy * (softmax(x) * sum(target, axis) - target)``, i.e. ``dy * (softmax(x)
- onehot(label))`` for a valid label and 0 for an out-of-range one.  It
recomputes the softmax from ``x`` (a few flops per element) so the
optimized training graph keeps no separate softmax node.

Both compute in float32 for float16 inputs and round once, like ``Softmax``.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Variable
from theanine.graph.op import Op
from theanine.graph.ops.dimshuffle import expand_dims
from theanine.graph.ops.elemwise import broadcast_shapes
from theanine.graph.ops.gradient_helpers import unbroadcast
from theanine.graph.ops.nnet import ClassMask, log_softmax, softmax
from theanine.graph.ops.reduce import sum as reduce_sum
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType, format_shape, is_discrete, is_float

__all__ = ["CrossentropySoftmax", "CrossentropySoftmaxDx"]


def _without(shape: tuple, axis: int) -> tuple:
    return tuple(shape[:axis]) + tuple(shape[axis + 1:])


def _compute_dtype(dtype: str) -> str:
    return "float32" if dtype == "float16" else dtype


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """Stable log-softmax in the compute dtype (max shifted out first)."""
    x = x.astype(_compute_dtype(x.dtype.name), copy=False)
    if x.shape[axis] == 0:
        return x
    shifted = x - np.max(x, axis=axis, keepdims=True)
    with np.errstate(divide="ignore"):
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _one_hot(labels: np.ndarray, like_shape: tuple, axis: int, dtype) -> np.ndarray:
    """``onehot[..., c, ...] = labels[...] == c``; out-of-range labels give an all-zero row."""
    classes = np.arange(like_shape[axis]).reshape([-1 if a == axis else 1 for a in range(len(like_shape))])
    return (np.expand_dims(labels, axis) == classes).astype(dtype)


def _check_labels(labels: np.ndarray, x_shape: tuple, axis: int, what: str) -> None:
    expected = _without(x_shape, axis)
    if labels.shape != expected:
        raise ValueError(
            f"{what}: labels have shape {labels.shape} but logits of shape {x_shape} need "
            f"{expected} (their shape without class axis {axis})"
        )


def _target_type_problem(op: Op, x: Variable, target: Variable) -> str | None:
    """Why ``target`` does not fit logits ``x`` (labels or dense probabilities), or None."""
    if op.sparse:
        if not is_discrete(target.dtype) or target.dtype == "bool":
            return f"labels must be integers. Received: dtype {target.dtype}"
        expected = TensorType(target.dtype, _without(x.type.shape, op.axis))
        if not expected.shape_compatible(target.type):
            return (
                f"labels of shape {format_shape(target.type.shape)} do not match logits of shape "
                f"{format_shape(x.type.shape)} without class axis {op.axis}"
            )
        return None
    if target.dtype != x.dtype or target.ndim != x.ndim:
        return f"the target must be a {x.dtype} tensor of rank {x.ndim}. Received: {target.type}"
    pairs = list(zip(x.type.shape, target.type.shape, strict=True))
    broadcast = [a for a, (xs, ts) in enumerate(pairs) if xs == 1 and ts != 1]
    if broadcast or not x.type.shape_compatible(target.type.with_shape(
        tuple(xs if ts == 1 else ts for xs, ts in zip(x.type.shape, target.type.shape, strict=True))
    )):
        return (
            f"the target of shape {format_shape(target.type.shape)} must broadcast to the logits' "
            f"shape {format_shape(x.type.shape)}"
        )
    return None


def logits_shape(op: Op, x: Variable, target: Variable) -> tuple:
    """The static shape of the logits, completed with what the target's type knows."""
    if op.sparse:
        known = list(target.type.shape)
        known.insert(op.axis, None)
    else:
        known = [None if d == 1 else d for d in target.type.shape]
    return tuple(xs if xs is not None else ts for xs, ts in zip(x.type.shape, known, strict=True))


class _CrossentropyOp(Op):
    """Shared parameters: the class ``axis`` and whether targets are ``sparse`` labels."""

    __props__ = ("axis", "sparse")

    def __init__(self, axis: int, sparse: bool):
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or axis < 0:
            raise ValueError(f"{type(self).__name__} takes a non-negative axis. Received: axis={axis!r}")
        self.axis = int(axis)
        self.sparse = bool(sparse)

    def _checked_logits_and_target(self, x, target) -> tuple[Variable, Variable]:
        x, target = as_tensor_variable(x), as_tensor_variable(target)
        if not is_float(x.dtype):
            raise TypeError(f"{self}: logits must be floats. Received: dtype {x.dtype}")
        if self.axis >= x.ndim:
            raise ValueError(
                f"{self}: axis {self.axis} is out of bounds for logits of shape {format_shape(x.type.shape)}"
            )
        problem = _target_type_problem(self, x, target)
        if problem:
            raise TypeError(f"{self}: {problem}")
        return x, target

    def _dense_target(self, x: np.ndarray, target: np.ndarray, dtype) -> np.ndarray:
        if self.sparse:
            _check_labels(target, x.shape, self.axis, str(self))
            return _one_hot(target, x.shape, self.axis, dtype)
        return np.broadcast_to(target.astype(dtype, copy=False), x.shape)


class CrossentropySoftmax(_CrossentropyOp):
    """``-sum(target * log_softmax(x), axis)`` per example; labels when ``sparse``."""

    def make_node(self, x, target) -> Apply:
        x, target = self._checked_logits_and_target(x, target)
        shape = _without(logits_shape(self, x, target), self.axis)
        return Apply(self, [x, target], [TensorType(x.dtype, shape)])

    def perform(self, node, inputs):
        x, target = inputs
        log_probs = _log_softmax(x, self.axis)
        weights = self._dense_target(x, target, log_probs.dtype)
        with np.errstate(invalid="ignore"):
            terms = np.where(weights == 0, 0, weights * log_probs)
        return [np.asarray(-np.sum(terms, axis=self.axis), dtype=node.outputs[0].dtype)]

    def infer_shape(self, node, input_shapes):
        return [_without(input_shapes[0], self.axis)]

    def connection_pattern(self, node):
        return [[True], [not self.sparse]]

    def L_op(self, inputs, outputs, output_grads):
        """x: ``CrossentropySoftmaxDx``; a dense target: ``-dy * log_softmax(x)``."""
        x, target = inputs
        (dy,) = output_grads
        grad_x = CrossentropySoftmaxDx(self.axis, self.sparse)(dy, x, target)
        if self.sparse:
            return [grad_x, None]
        return [grad_x, unbroadcast(-expand_dims(dy, self.axis) * log_softmax(x, self.axis), target)]


class CrossentropySoftmaxDx(_CrossentropyOp):
    """``dy * (softmax(x) * sum(target, axis) - target)``: the loss's gradient w.r.t. the logits."""

    def make_node(self, dy, x, target) -> Apply:
        x, target = self._checked_logits_and_target(x, target)
        dy = as_tensor_variable(dy)
        shape = logits_shape(self, x, target)
        loss_shape = _without(shape, self.axis)
        if dy.dtype != x.dtype or dy.ndim != x.ndim - 1:
            raise TypeError(
                f"{self}: dy must be a {x.dtype} tensor of the loss's rank {x.ndim - 1}. Received: {dy.type}"
            )
        if broadcast_shapes([loss_shape, dy.type.shape], str(self)) != loss_shape:
            raise ValueError(
                f"{self}: dy of shape {format_shape(dy.type.shape)} must broadcast to the loss's shape "
                f"{format_shape(loss_shape)}"
            )
        return Apply(self, [dy, x, target], [TensorType(x.dtype, shape)])

    def perform(self, node, inputs):
        dy, x, target = inputs
        log_probs = _log_softmax(x, self.axis)
        weights = self._dense_target(x, target, log_probs.dtype)
        probabilities = np.exp(log_probs)
        total = np.sum(weights, axis=self.axis, keepdims=True)
        scale = np.expand_dims(dy.astype(log_probs.dtype, copy=False), self.axis)
        dx = scale * (probabilities * total - weights)
        return [np.asarray(np.broadcast_to(dx, x.shape), dtype=node.outputs[0].dtype)]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[1]]

    def connection_pattern(self, node):
        return [[True], [True], [not self.sparse]]

    def L_op(self, inputs, outputs, output_grads):
        """With ``s = softmax(x)``, ``S = sum(t)``, ``d = s * S - t`` and incoming ``g``:
        dy: ``sum(g * d)``; x: the softmax Jacobian applied to ``g * dy * S``;
        a dense t: ``dy * (sum(g * s) - g)``."""
        dy, x, target = inputs
        (g,) = output_grads
        weights = ClassMask(self.axis)(target, x) if self.sparse else target
        s = softmax(x, self.axis)
        total = reduce_sum(weights, axis=self.axis, keepdims=True)
        scale = expand_dims(dy, self.axis)
        grad_dy = unbroadcast(reduce_sum(g * (s * total - weights), axis=self.axis), dy)
        h = g * scale * total
        grad_x = (h - reduce_sum(h * s, axis=self.axis, keepdims=True)) * s
        if self.sparse:
            return [grad_dy, grad_x, None]
        grad_t = scale * (reduce_sum(g * s, axis=self.axis, keepdims=True) - g)
        return [grad_dy, grad_x, unbroadcast(grad_t, target)]
