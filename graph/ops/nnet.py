"""Neural-network ops: softmax, log-softmax and the crossentropy losses.

``Softmax`` and ``LogSoftmax`` are dedicated ops (not compositions of exp,
max and sum) so that rewrites can recognise them and backends can emit one
numerically stable kernel: the reference ``perform`` shifts by the maximum
along the axis before exponentiating.  Their gradients never divide by the
softmax, so they stay finite for saturated logits (e.g. +-1e4).

The crossentropies follow ``keras.ops``: they return per-example losses
(reduced over the class axis only; ``binary_crossentropy`` is elementwise).
With probabilities, Keras' clipping to ``[eps, 1 - eps]`` (``eps = 1e-7``)
applies; with logits the stable forms are used:
``-sum(target * log_softmax(x))`` and ``softplus(x) - x * z`` (which equals
``max(x, 0) - x * z + log1p(exp(-|x|))``).

The argument order is Keras' ``(target, output)``, the reverse of Theano's
``categorical_crossentropy(coding_dist, true_dist)``.  A call in Theano's
order is caught when the types show it: the second argument holds labels
(integers, bools, a cast of them, a class mask or a constant of 0s and 1s)
while the first holds floats that are not labels; the error names the
order expected.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.graph.ops.math import Cast, cast, clip, exp, log, softplus
from theanine.graph.ops.reduce import sum as reduce_sum
from theanine.graph.ops.shape import squeeze
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType, format_shape, is_discrete, is_float

__all__ = [
    "Softmax", "LogSoftmax", "ClassMask", "softmax", "log_softmax", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "binary_crossentropy", "EPSILON",
]

EPSILON = 1e-7
"""Keras' fuzz factor: probabilities are clipped to ``[EPSILON, 1 - EPSILON]``."""


def _normalize_axis(axis, ndim: int, what: str) -> int:
    """A non-negative axis, or a ValueError naming ``what``, the axis and the rank."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{what}: axis must be an int. Received: axis={axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{what}: axis {axis} is out of bounds for a tensor of rank {ndim}")
    return int(axis) % ndim


def _float_input(x):
    """``x`` as a float tensor; integers and bools take NumPy's ``exp`` dtype (float64 for int64)."""
    x = as_tensor_variable(x)
    if is_float(x.dtype):
        return x
    return cast(x, np.exp(np.zeros((), dtype=x.dtype)).dtype.name)


def _shift_by_max(x: np.ndarray, axis: int) -> np.ndarray:
    """``x - max(x, axis)``: the largest entry along ``axis`` becomes 0, so exp cannot overflow."""
    if x.shape[axis] == 0:
        return x
    return x - np.max(x, axis=axis, keepdims=True)


def _compute_dtype(dtype: str) -> str:
    """float16 is computed in float32 (as NumPy users do) and rounded once at the end."""
    return "float32" if dtype == "float16" else dtype


class _AxisOp(Op):
    """Shared rules of the softmax family: one float input, same type out, one ``axis``."""

    __props__ = ("axis",)

    def __init__(self, axis: int):
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or axis < 0:
            raise ValueError(
                f"{type(self).__name__} takes a non-negative axis (use th.softmax for negative ones). "
                f"Received: axis={axis!r}"
            )
        self.axis = int(axis)

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        if not is_float(x.dtype):
            raise TypeError(f"{self} expects a float tensor. Received: dtype {x.dtype} ({x.type})")
        if self.axis >= x.ndim:
            raise ValueError(
                f"{self}: axis {self.axis} is out of bounds for an input of shape {format_shape(x.type.shape)}"
            )
        return Apply(self, [x], [x.type])

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


class Softmax(_AxisOp):
    """``exp(x) / sum(exp(x), axis)``, computed as ``exp(x - max) / sum(exp(x - max))``."""

    def perform(self, node, inputs):
        (x,) = inputs
        dtype = node.outputs[0].dtype
        with np.errstate(invalid="ignore"):
            e = np.exp(_shift_by_max(x.astype(_compute_dtype(dtype), copy=False), self.axis))
            return [(e / np.sum(e, axis=self.axis, keepdims=True)).astype(dtype, copy=False)]

    def L_op(self, inputs, outputs, output_grads):
        """``(gz - sum(gz * sm, axis)) * sm``: the Jacobian-vector product without any division."""
        (sm,), (gz,) = outputs, output_grads
        return [(gz - reduce_sum(gz * sm, axis=self.axis, keepdims=True)) * sm]

    def R_op(self, inputs, eval_points):
        (v,) = eval_points
        if v is None:
            return [None]
        sm = self(inputs[0])
        return [sm * (v - reduce_sum(v * sm, axis=self.axis, keepdims=True))]


class LogSoftmax(_AxisOp):
    """``x - log(sum(exp(x), axis))``, computed as ``s - log(sum(exp(s)))`` with ``s = x - max``."""

    def perform(self, node, inputs):
        (x,) = inputs
        dtype = node.outputs[0].dtype
        with np.errstate(invalid="ignore", divide="ignore"):
            s = _shift_by_max(x.astype(_compute_dtype(dtype), copy=False), self.axis)
            out = s - np.log(np.sum(np.exp(s), axis=self.axis, keepdims=True))
        return [out.astype(dtype, copy=False)]

    def L_op(self, inputs, outputs, output_grads):
        """``gz - exp(out) * sum(gz, axis)``: exp of a log-softmax never overflows."""
        (out,), (gz,) = outputs, output_grads
        return [gz - exp(out) * reduce_sum(gz, axis=self.axis, keepdims=True)]

    def R_op(self, inputs, eval_points):
        (v,) = eval_points
        if v is None:
            return [None]
        sm = exp(self(inputs[0]))
        return [v - reduce_sum(v * sm, axis=self.axis, keepdims=True)]


def softmax(x, axis: int = -1):
    """Softmax along ``axis`` (default the last), as ``keras.ops.softmax``."""
    x = _float_input(x)
    return Softmax(_normalize_axis(axis, x.ndim, "softmax"))(x)


def log_softmax(x, axis: int = -1):
    """Log-softmax along ``axis`` (default the last), as ``keras.ops.log_softmax``."""
    x = _float_input(x)
    return LogSoftmax(_normalize_axis(axis, x.ndim, "log_softmax"))(x)


class ClassMask(Op):
    """One-hot of integer ``labels`` laid out like ``like`` along ``axis``.

    ``mask[..., c, ...] = (labels[...] == c)`` in ``like``'s dtype and shape;
    labels outside ``[0, classes)`` give an all-zero row (as Keras'
    ``one_hot``).  It only reads ``like``'s shape, so no gradient flows.
    """

    __props__ = ("axis",)

    def __init__(self, axis: int):
        self.axis = int(axis)

    def make_node(self, labels, like) -> Apply:
        labels, like = as_tensor_variable(labels), as_tensor_variable(like)
        if not is_discrete(labels.dtype) or labels.dtype == "bool":
            raise TypeError(f"{self}: labels must be integers. Received: dtype {labels.dtype}")
        expected = like.type.shape[: self.axis] + like.type.shape[self.axis + 1:]
        if not TensorType(labels.dtype, expected).shape_compatible(labels.type):
            raise ValueError(
                f"{self}: labels of shape {format_shape(labels.type.shape)} do not match the "
                f"shape {format_shape(like.type.shape)} without its class axis {self.axis}; "
                f"expected {format_shape(expected)}"
            )
        shape = tuple(o if o is not None else lab for o, lab in zip(expected, labels.type.shape, strict=True))
        shape = shape[: self.axis] + (like.type.shape[self.axis],) + shape[self.axis:]
        return Apply(self, [labels, like], [TensorType(like.dtype, shape)])

    def perform(self, node, inputs):
        labels, like = inputs
        expected = like.shape[: self.axis] + like.shape[self.axis + 1:]
        if labels.shape != expected:
            raise ValueError(
                f"labels have shape {labels.shape} but the {like.ndim}-d tensor of shape {like.shape} "
                f"needs {expected} (its shape without class axis {self.axis})"
            )
        classes = np.arange(like.shape[self.axis]).reshape(
            [-1 if a == self.axis else 1 for a in range(like.ndim)]
        )
        mask = np.expand_dims(labels, self.axis) == classes
        return [np.broadcast_to(mask, like.shape).astype(node.outputs[0].dtype)]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[1]]

    def L_op(self, inputs, outputs, output_grads):
        return [None, None]

    def R_op(self, inputs, eval_points):
        return [None]

    def connection_pattern(self, node):
        return [[False], [False]]


def _label_evidence(var) -> str | None:
    """How ``var`` shows that it holds labels (class indices or 0/1 indicators), or None."""
    if is_discrete(var.dtype):
        return f"integer labels of type {var.type}" if var.dtype != "bool" else f"bools of type {var.type}"
    owner = var.owner
    if owner is not None and isinstance(owner.op, ClassMask):
        return "a one-hot class mask"
    is_cast = owner is not None and isinstance(getattr(owner.op, "scalar_op", None), Cast)
    if is_cast and is_discrete(owner.inputs[0].dtype):
        return f"labels cast from {owner.inputs[0].dtype}"
    data = getattr(var, "data", None)
    if data is not None and data.size and np.isin(data, (0, 1)).all():
        return "a constant of 0s and 1s"
    return None


def _check_order(target, output, what: str, expected: str, theano_form: str) -> None:
    """Raise when the call is evidently in Theano's order (see the module docstring)."""
    target, output = as_tensor_variable(target), as_tensor_variable(output)
    evidence = _label_evidence(output)
    if evidence is None or not is_float(target.dtype) or _label_evidence(target) is not None:
        return
    raise ValueError(
        f"{what}: the arguments look reversed: `output` (the second argument) holds {evidence} "
        f"and `target` (the first) holds probabilities or logits of type {target.type}. theanine "
        f"takes Keras' order, {expected}; Theano's {theano_form} is the reverse"
    )


def _check_same_shape(target, output, what: str) -> None:
    if target.ndim != output.ndim or not target.type.shape_compatible(output.type):
        raise ValueError(
            f"{what}: arguments `target` and `output` must have the same shape. Received: "
            f"target.shape={format_shape(target.type.shape)}, output.shape={format_shape(output.type.shape)}"
        )


def _clipped_log(probabilities):
    """``log(clip(p, eps, 1 - eps))``: Keras' guard against ``log(0)``."""
    return log(clip(probabilities, EPSILON, 1.0 - EPSILON))


def _log_probabilities(output, from_logits: bool, axis: int):
    """Log-probabilities along ``axis``: log_softmax of logits, or renormalised and clipped."""
    if from_logits:
        return log_softmax(output, axis)
    return _clipped_log(output / reduce_sum(output, axis=axis, keepdims=True))


def _class_output(output, what: str):
    """``output`` as floats, with at least one axis (the class axis)."""
    output = _float_input(output)
    if output.ndim == 0:
        raise ValueError(f"{what}: `output` needs a class axis. Received: output.shape=()")
    return output


_CATEGORICAL_ORDER = (
    "categorical_crossentropy(target=one_hot, output=probabilities), or for integer class labels "
    "sparse_categorical_crossentropy(target=labels, output=probabilities)"
)

_THEANO_CATEGORICAL = "categorical_crossentropy(coding_dist, true_dist)"


def categorical_crossentropy(target, output, from_logits: bool = False, axis: int = -1):
    """``-sum(target * log p, axis)`` per example, as ``keras.ops.categorical_crossentropy``.

    ``output`` holds probabilities (renormalised along ``axis`` and clipped
    to ``[1e-7, 1 - 1e-7]``) or, with ``from_logits=True``, logits.
    """
    _check_order(target, output, "categorical_crossentropy", _CATEGORICAL_ORDER, _THEANO_CATEGORICAL)
    output = _class_output(output, "categorical_crossentropy")
    target = cast(as_tensor_variable(target), output.dtype)
    _check_same_shape(target, output, "categorical_crossentropy")
    axis = _normalize_axis(axis, output.ndim, "categorical_crossentropy")
    return -reduce_sum(target * _log_probabilities(output, from_logits, axis), axis=axis)


def sparse_categorical_crossentropy(target, output, from_logits: bool = False, axis: int = -1):
    """Categorical crossentropy with integer class labels, as Keras'.

    ``target`` has ``output``'s shape without the class axis (or, as in
    Keras, that shape plus a trailing axis of size 1, squeezed first); labels
    outside ``[0, classes)`` select nothing and give a loss of 0.
    """
    what = "sparse_categorical_crossentropy"
    _check_order(
        target, output, what, "sparse_categorical_crossentropy(target=labels, output=probabilities)",
        _THEANO_CATEGORICAL,
    )
    output = _class_output(output, what)
    target = as_tensor_variable(target)
    if target.ndim == output.ndim and target.ndim > 0 and target.type.shape[-1] in (1, None):
        target = squeeze(target, axis=-1)
    axis = _normalize_axis(axis, output.ndim, what)
    if target.ndim != output.ndim - 1:
        raise ValueError(
            f"{what}: `target` must have the shape of `output` without its class axis {axis}. "
            f"Received: target.shape={format_shape(target.type.shape)}, "
            f"output.shape={format_shape(output.type.shape)}"
        )
    one_hot = ClassMask(axis)(target, output)
    return -reduce_sum(one_hot * _log_probabilities(output, from_logits, axis), axis=axis)


def binary_crossentropy(target, output, from_logits: bool = False):
    """Elementwise binary crossentropy, as ``keras.ops.binary_crossentropy``.

    Logits use ``softplus(x) - x * z``, exact for any logit magnitude;
    probabilities are clipped to ``[1e-7, 1 - 1e-7]`` before the logs.
    """
    _check_order(
        target, output, "binary_crossentropy", "binary_crossentropy(target=labels, output=probabilities)",
        "binary_crossentropy(output, target)",
    )
    output = _float_input(output)
    target = cast(as_tensor_variable(target), output.dtype)
    _check_same_shape(target, output, "binary_crossentropy")
    if from_logits:
        return softplus(output) - output * target
    return -(target * _clipped_log(output) + (1.0 - target) * _clipped_log(1.0 - output))
