"""Losses (``keras.losses``): per-sample functions and ``Loss`` objects that reduce them.

A plain function ``fn(y_true, y_pred, **options)`` returns one loss per
sample (the last axis is averaged or summed away, as in Keras 3).  A
``Loss`` object wraps such a function and reduces it to a scalar with
``sample_weight``: ``"sum_over_batch_size"`` (the default, Keras' rule;
``"mean"`` is the same) is ``sum(loss * weight) / number_of_losses``,
``"mean_with_sample_weight"`` divides by the sum of the weights instead,
``"sum"`` is the weighted sum and ``"none"`` keeps the weighted per-sample
values.  Masks follow Keras 3: the mask ``y_pred`` carries (from
``Embedding(mask_zero=True)``, ``Masking``, a recurrent layer) and the one
the per-sample losses carry (``ignore_class``) are merged into the sample
weights, so a mean runs over the valid entries only (``apply_mask``).  Before the
function runs, ``y_true`` and ``y_pred`` of ranks differing by one with a
trailing axis of size 1 are brought to the same rank (``(batch,)``
targets against ``(batch, 1)`` predictions), and ``y_true`` takes
``y_pred``'s dtype, as Keras does.

The crossentropies use the numerically stable ops of ``theanine``
(``th.categorical_crossentropy`` and friends): probabilities are clipped to
``[1e-7, 1 - 1e-7]``; ``from_logits=True`` works on logits directly.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping

import theanine as th
from theanine.frontend.ctc import ctc
from theanine.frontend.ops import eager
from theanine.frontend.registry import (
    Registry,
    custom_object_scope,
    function_by_name,
    function_reference,
    is_function_reference,
)
from theanine.graph.ops.nnet import EPSILON

__all__ = [
    "Loss",
    "LossFunctionWrapper",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "Huber",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "KLDivergence",
    "Hinge",
    "CosineSimilarity",
    "Poisson",
    "LogCosh",
    "SquaredHinge",
    "CategoricalHinge",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "BinaryFocalCrossentropy",
    "CategoricalFocalCrossentropy",
    "Dice",
    "Tversky",
    "CTC",
    "Circle",
    "CategoricalGeneralizedCrossEntropy",
    "mean_squared_error",
    "mean_absolute_error",
    "huber",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "kl_divergence",
    "hinge",
    "cosine_similarity",
    "poisson",
    "log_cosh",
    "squared_hinge",
    "categorical_hinge",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
    "dice",
    "tversky",
    "ctc",
    "circle",
    "categorical_generalized_cross_entropy",
    "mape",
    "msle",
    "logcosh",
    "mse",
    "mae",
    "kld",
    "get",
    "serialize",
    "deserialize",
]


# ----------------------------------------------------------------------------- rank matching


def _squeeze_last(x):
    """Drop a trailing axis of static size 1."""
    return th.DimShuffle(range(x.ndim - 1))(x)


def _expand_last(x):
    return th.DimShuffle([*range(x.ndim), "x"])(x)


def match_rank(a, b):
    """Keras' ``squeeze_or_expand_to_same_rank``: fix a rank difference of one due to a trailing 1.

    A rank-1 tensor gains the axis; otherwise the other tensor loses it.
    """
    if a.ndim == b.ndim + 1 and a.type.shape[-1] == 1:
        return (a, _expand_last(b)) if b.ndim == 1 else (_squeeze_last(a), b)
    if b.ndim == a.ndim + 1 and b.type.shape[-1] == 1:
        return (_expand_last(a), b) if a.ndim == 1 else (a, _squeeze_last(b))
    return a, b


def prepared_targets(y_true, y_pred):
    """``y_pred`` as a float tensor and ``y_true`` in its dtype, ranks matched."""
    y_pred = th.as_tensor_variable(y_pred)
    if not y_pred.dtype.startswith("float"):
        y_pred = th.cast(y_pred, th.config.floatX)
    y_true = th.cast(th.as_tensor_variable(y_true), y_pred.dtype)
    return match_rank(y_true, y_pred)


# ----------------------------------------------------------------------------- functions
# Each loss function is eager on arrays (``frontend.ops.eager``): called on NumPy arrays it
# returns the per-sample losses as an array, as Keras' functions return tensors.


@eager
def mean_squared_error(y_true, y_pred):
    """``mean((y_true - y_pred)^2, axis=-1)``."""
    y_true, y_pred = prepared_targets(y_true, y_pred)
    return th.mean(th.square(y_true - y_pred), axis=-1)


@eager
def mean_absolute_error(y_true, y_pred):
    """``mean(|y_true - y_pred|, axis=-1)``."""
    y_true, y_pred = prepared_targets(y_true, y_pred)
    return th.mean(th.abs(y_true - y_pred), axis=-1)


@eager
def huber(y_true, y_pred, delta: float = 1.0):
    """Mean over the last axis of ``e^2 / 2`` if ``|e| <= delta``, else ``delta (|e| - delta/2)``.

    ``e`` is the error ``y_pred - y_true``.
    """
    y_true, y_pred = prepared_targets(y_true, y_pred)
    error = y_pred - y_true
    magnitude = th.abs(error)
    quadratic = 0.5 * th.square(error)
    linear = delta * magnitude - 0.5 * delta * delta
    return th.mean(th.where(magnitude <= delta, quadratic, linear), axis=-1)


def _smooth_labels(y_true, label_smoothing: float, classes):
    """Keras' label smoothing: ``y (1 - s) + s / classes``."""
    if not label_smoothing:
        return y_true
    return y_true * (1.0 - label_smoothing) + label_smoothing / classes


@eager
def binary_crossentropy(
    y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1
):
    """Mean over ``axis`` of the elementwise binary crossentropy (labels smoothed toward 0.5)."""
    y_true, y_pred = prepared_targets(y_true, y_pred)
    y_true = _smooth_labels(y_true, label_smoothing, 2.0)
    return th.mean(th.binary_crossentropy(y_true, y_pred, from_logits=from_logits), axis=axis)


@eager
def categorical_crossentropy(
    y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1
):
    """``-sum(y_true * log p, axis)`` for one-hot (or soft) targets."""
    y_true, y_pred = prepared_targets(y_true, y_pred)
    if label_smoothing:
        classes = y_pred.type.shape[axis]
        count = (
            float(classes)
            if classes is not None
            else th.sum(th.ones_like(y_pred), axis=axis, keepdims=True)
        )
        y_true = _smooth_labels(y_true, label_smoothing, count)
    return th.categorical_crossentropy(y_true, y_pred, from_logits=from_logits, axis=axis)


_FOCAL_EPSILON = 1e-7  # Keras' backend.epsilon(), the clip of probabilities


@eager
def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing: bool = False, alpha: float = 0.25,
                              gamma: float = 2.0, from_logits: bool = False, label_smoothing: float = 0.0,
                              axis: int = -1):
    """Binary crossentropy scaled by ``(1 - p_t) ** gamma`` (Lin et al., 2017), ``p_t`` the probability
    given to the true label; with ``apply_class_balancing``, also by ``alpha`` for positives and
    ``1 - alpha`` for negatives.  Mean over ``axis`` (Keras 3's definition)."""
    y_true, y_pred = prepared_targets(y_true, y_pred)
    y_true = _smooth_labels(y_true, label_smoothing, 2.0)
    p = th.clip(th.sigmoid(y_pred) if from_logits else y_pred, _FOCAL_EPSILON, 1.0 - _FOCAL_EPSILON)
    bce = -(y_true * th.log(p) + (1.0 - y_true) * th.log(1.0 - p))
    p_t = y_true * p + (1.0 - y_true) * (1.0 - p)
    focal = (1.0 - p_t) ** gamma * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return th.mean(focal, axis=axis)


@eager
def categorical_focal_crossentropy(y_true, y_pred, alpha: float = 0.25, gamma: float = 2.0,
                                   from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1):
    """``sum(alpha * (1 - p) ** gamma * -y_true * log p, axis)`` of the normalized, clipped class
    probabilities (Keras 3's definition)."""
    y_true, y_pred = prepared_targets(y_true, y_pred)
    if label_smoothing:
        classes = y_pred.type.shape[axis]
        count = float(classes) if classes is not None else th.sum(th.ones_like(y_pred), axis=axis, keepdims=True)
        y_true = _smooth_labels(y_true, label_smoothing, count)
    if from_logits:
        y_pred = th.softmax(y_pred, axis=axis)
    p = th.clip(y_pred / th.sum(y_pred, axis=axis, keepdims=True), _FOCAL_EPSILON, 1.0 - _FOCAL_EPSILON)
    return th.sum(alpha * (1.0 - p) ** gamma * -y_true * th.log(p), axis=axis)


@eager
def dice(y_true, y_pred, axis=None):
    """``1 - 2 sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + 1e-7)`` over ``axis`` (None:
    every axis, one value for the batch), Keras 3's definition."""
    y_true, y_pred = prepared_targets(y_true, y_pred)
    overlap = th.sum(y_true * y_pred, axis=axis)
    return 1.0 - 2.0 * overlap / (th.sum(y_true, axis=axis) + th.sum(y_pred, axis=axis) + _FOCAL_EPSILON)


@eager
def tversky(y_true, y_pred, alpha: float = 0.5, beta: float = 0.5, axis=None):
    """``1 - TP / (TP + alpha FP + beta FN + 1e-7)`` with soft counts over ``axis`` (Keras 3's
    definition, which weighs ``sum((1 - y_pred) * y_true)`` by ``alpha``)."""
    y_true, y_pred = prepared_targets(y_true, y_pred)
    overlap = th.sum(y_true * y_pred, axis=axis)
    first = th.sum((1.0 - y_pred) * y_true, axis=axis)
    second = th.sum(y_pred * (1.0 - y_true), axis=axis)
    return 1.0 - overlap / (overlap + alpha * first + beta * second + _FOCAL_EPSILON)


def sparse_labels(y_true, y_pred):
    """Integer class labels for ``y_pred``: float labels are cast to int64, and labels with
    ``y_pred``'s rank (``(batch, 1)``) lose their last axis (its first entry is the label)."""
    y_true = th.as_tensor_variable(y_true)
    if y_true.ndim == y_pred.ndim and y_true.ndim > 0:
        y_true = y_true[(slice(None),) * (y_true.ndim - 1) + (0,)]
    return y_true if y_true.dtype.startswith(("int", "uint")) else th.cast(y_true, "int64")


@eager
def sparse_categorical_crossentropy(
    y_true, y_pred, from_logits: bool = False, ignore_class: int | None = None, axis: int = -1
):
    """Categorical crossentropy of integer labels (``(batch,)`` or ``(batch, 1)``).

    ``ignore_class``: entries with that label lose 0 and carry a mask (``_keras_mask``) that
    ``Loss`` and the mean metrics leave them out with, as in Keras 3 (padding in segmentation).
    """
    y_pred = th.as_tensor_variable(y_pred)
    labels = sparse_labels(y_true, y_pred)
    if ignore_class is None:
        return th.sparse_categorical_crossentropy(labels, y_pred, from_logits=from_logits, axis=axis)
    valid = th.not_equal(labels, int(ignore_class))
    labels = th.where(valid, labels, th.zeros_like(labels))
    losses = th.sparse_categorical_crossentropy(labels, y_pred, from_logits=from_logits, axis=axis)
    losses = th.where(valid, losses, th.zeros_like(losses))
    losses._keras_mask = valid
    return losses


@eager
def kl_divergence(y_true, y_pred):
    """``sum(y_true * log(y_true / y_pred), axis=-1)`` with both clipped to ``[1e-7, 1]``."""
    y_true, y_pred = prepared_targets(y_true, y_pred)
    y_true, y_pred = th.clip(y_true, EPSILON, 1.0), th.clip(y_pred, EPSILON, 1.0)
    return th.sum(y_true * th.log(y_true / y_pred), axis=-1)


def _hinge_labels(y_true):
    """Labels in {0, 1} become {-1, 1}; other labels (already -1/1) are kept, as Keras does."""
    is_binary = th.all(th.logical_or(th.eq(y_true, 0), th.eq(y_true, 1)))
    return th.where(is_binary, 2.0 * y_true - 1.0, y_true)


@eager
def hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0), axis=-1)`` with labels -1/1 (or 0/1, converted)."""
    y_true, y_pred = prepared_targets(y_true, y_pred)
    return th.mean(th.maximum(1.0 - _hinge_labels(y_true) * y_pred, 0.0), axis=-1)


def l2_normalize(x, axis: int = -1):
    """``x / sqrt(max(sum(x^2), 1e-12))`` along ``axis``."""
    return x / th.sqrt(th.maximum(th.sum(th.square(x), axis=axis, keepdims=True), 1e-12))


@eager
def cosine_similarity(y_true, y_pred, axis: int = -1):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``: -1 for aligned vectors."""
    y_true, y_pred = prepared_targets(y_true, y_pred)
    return -th.sum(l2_normalize(y_true, axis) * l2_normalize(y_pred, axis), axis=axis)


@eager
def poisson(y_true, y_pred):
    """``mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)``."""
    y_true, y_pred = prepared_targets(y_true, y_pred)
    return th.mean(y_pred - y_true * th.log(y_pred + EPSILON), axis=-1)


@eager
def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed as ``e + softplus(-2e) - log 2``
    so that large errors do not overflow."""
    y_true, y_pred = prepared_targets(y_true, y_pred)
    error = y_pred - y_true
    return th.mean(error + th.softplus(-2.0 * error) - math.log(2.0), axis=-1)


@eager
def squared_hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0)^2, axis=-1)`` with labels -1/1 (or 0/1, converted)."""
    y_true, y_pred = prepared_targets(y_true, y_pred)
    return th.mean(th.square(th.maximum(1.0 - _hinge_labels(y_true) * y_pred, 0.0)), axis=-1)


@eager
def categorical_hinge(y_true, y_pred):
    """``max(neg - pos + 1, 0)``: ``pos`` the score of the true class, ``neg`` the best other one."""
    y_true, y_pred = prepared_targets(y_true, y_pred)
    positive = th.sum(y_true * y_pred, axis=-1)
    negative = th.max((1.0 - y_true) * y_pred, axis=-1)
    return th.maximum(negative - positive + 1.0, 0.0)


@eager
def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(|y_true - y_pred| / max(|y_true|, 1e-7), axis=-1)``."""
    y_true, y_pred = prepared_targets(y_true, y_pred)
    ratio = th.abs(y_true - y_pred) / th.maximum(th.abs(y_true), EPSILON)
    return 100.0 * th.mean(ratio, axis=-1)


@eager
def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))^2, axis=-1)``."""
    y_true, y_pred = prepared_targets(y_true, y_pred)
    first = th.log(th.maximum(y_pred, EPSILON) + 1.0)
    second = th.log(th.maximum(y_true, EPSILON) + 1.0)
    return th.mean(th.square(first - second), axis=-1)


_MASKED_LOG = -1e30  # Keras' -inf in circle's logsumexp, finite so that no inf - inf reaches a gradient


def _pair_masks(labels, ref_labels, remove_diagonal: bool):
    """Keras' ``build_pos_neg_masks``: same-label pairs (without ``i == j`` when asked) and the others."""
    same = th.eq(th.DimShuffle([0, "x"])(labels), th.DimShuffle(["x", 0])(ref_labels))
    different = th.logical_not(same)
    if remove_diagonal:
        rows, columns = th.arange(th.shape(labels)[0]), th.arange(th.shape(ref_labels)[0])
        same = th.logical_and(same, th.neq(th.DimShuffle([0, "x"])(rows), th.DimShuffle(["x", 0])(columns)))
    return same, different


@eager
def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal: bool = True,
           gamma: float = 80.0, margin: float = 0.4):
    """Circle loss (Sun et al., 2020) of integer labels and L2-normalized embeddings, Keras 3's formula.

    With cosine distances ``d`` to the references (the batch itself by
    default): ``softplus(logsumexp_pos(-gamma max(margin + d, 0)(margin - d)) +
    logsumexp_neg(gamma max(1 + margin - d, 0)(1 - margin - d)))`` per sample.
    A sample with no positive pair loses 0; as in Keras the losses carry the
    mask ``loss > 0``, so a mean runs over the others.
    """
    y_pred = th.as_tensor_variable(y_pred)
    y_pred = y_pred if y_pred.dtype.startswith("float") else th.cast(y_pred, th.config.floatX)
    labels = th.flatten(th.cast(th.as_tensor_variable(y_true), "int64"))
    references = y_pred if ref_embeddings is None else th.cast(th.as_tensor_variable(ref_embeddings), y_pred.dtype)
    ref_labels = labels if ref_labels is None else th.flatten(th.cast(th.as_tensor_variable(ref_labels), "int64"))
    distances = th.maximum(1.0 - th.matmul(y_pred, th.DimShuffle([1, 0])(references)), 0.0)
    positive, negative = _pair_masks(labels, ref_labels, remove_diagonal)
    positive_weights = th.maximum((margin + distances) * th.cast(positive, y_pred.dtype), 0.0)
    negative_weights = th.maximum((1.0 + margin - distances) * th.cast(negative, y_pred.dtype), 0.0)
    positive_terms = -gamma * positive_weights * (margin - distances)
    negative_terms = gamma * negative_weights * (1.0 - margin - distances)
    positive_loss = th.logsumexp(th.where(positive, positive_terms, _MASKED_LOG), axis=1)
    negative_loss = th.logsumexp(th.where(negative, negative_terms, _MASKED_LOG), axis=1)
    losses = th.softplus(positive_loss + negative_loss)
    losses._keras_mask = losses > 0
    return losses


def _check_q(q) -> float:
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 < q < 1:
        raise ValueError(f"q must be in the interval (0, 1). Received: q={q!r}")
    return float(q)


@eager
def categorical_generalized_cross_entropy(y_true, y_pred, q: float = 0.5):
    """``(1 - p^q) / q`` with ``p`` the probability given to the integer label (Zhang & Sabuncu, 2018).

    Labels of shape ``(batch,)`` or ``(batch, 1)`` (Keras one-hot encodes them
    as given, which for ``(batch, 1)`` labels broadcasts wrongly; here both
    shapes mean one label per sample).
    """
    q = _check_q(q)
    y_pred = th.as_tensor_variable(y_pred)
    y_pred = y_pred if y_pred.dtype.startswith("float") else th.cast(y_pred, th.config.floatX)
    labels = sparse_labels(y_true, y_pred)
    probability = th.sum(y_pred * th.one_hot(labels, th.shape(y_pred)[-1], y_pred.dtype), axis=-1)
    return (1.0 - probability**q) / q


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh


# ----------------------------------------------------------------------------- reduction

_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none")


def _aligned(values, weight):
    """``weight`` with ``values``' rank: Keras' ``squeeze_or_expand_to_same_rank``, then trailing
    axes added to a lower-ranked weight (a ``(batch,)`` weight on ``(batch, time)`` values)."""
    values, weight = match_rank(values, weight)
    while weight.ndim < values.ndim:
        weight = _expand_last(weight)
    return values, weight


def apply_mask(sample_weight, mask, dtype: str, reduction: str):
    """Keras' ``apply_mask``: merge a boolean mask into the sample weights (None when neither).

    For a mean ("sum_over_batch_size", "mean") a valid entry weighs ``total / valid`` (0 when
    nothing is valid), so the mean runs over the valid entries only; otherwise the mask is 0/1.
    """
    if mask is None:
        return sample_weight
    mask = th.as_tensor_variable(mask)
    if reduction in ("sum_over_batch_size", "mean"):
        total = th.cast(th.size(mask), dtype)
        valid = th.sum(th.cast(mask, dtype))
        float_mask = th.cast(mask, dtype) * th.divide_no_nan(total, valid)
    else:
        float_mask = th.cast(mask, dtype)
    if sample_weight is None:
        return float_mask
    weight = th.cast(th.as_tensor_variable(sample_weight), dtype)
    if weight.ndim > float_mask.ndim:
        weight, float_mask = _aligned(weight, float_mask)
    else:
        float_mask, weight = _aligned(float_mask, weight)
    return weight * float_mask


def reduce_weighted_values(values, sample_weight=None, reduction: str = "sum_over_batch_size", mask=None):
    """Keras' ``reduce_weighted_values``: the mask merged into the sample weights, the values
    weighted, then reduced as ``reduction`` says ("mean_with_sample_weight" divides by the sum
    of the weights, the mean reductions by the number of values)."""
    sample_weight = apply_mask(sample_weight, mask, values.dtype, reduction)
    if sample_weight is not None:
        values, sample_weight = match_rank(values, th.cast(th.as_tensor_variable(sample_weight), values.dtype))
        broadcast = sample_weight
        while broadcast.ndim < values.ndim:
            broadcast = _expand_last(broadcast)
        values = values * broadcast
    if reduction == "none" or values.ndim == 0:
        return values
    total = th.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        return th.divide_no_nan(total, th.sum(sample_weight))
    return th.divide_no_nan(total, th.cast(th.size(values), values.dtype))


def combined_mask(first, second):
    """The logical and of two optional boolean masks (None when both are None)."""
    if first is None or second is None:
        return first if second is None else second
    return th.logical_and(th.cast(first, "bool"), th.cast(second, "bool"))


# ----------------------------------------------------------------------------- classes


class Loss:
    """A loss object: ``loss(y_true, y_pred, sample_weight=None)`` -> scalar (see ``reduction``)."""

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size"):
        reduction = "none" if reduction is None else reduction  # Keras 3 takes None for "none"
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"reduction must be one of {_REDUCTIONS}. Received: reduction={reduction!r}"
            )
        self.name = name or type(self).__name__
        self.reduction = reduction

    def call(self, y_true, y_pred):
        """Per-sample losses."""
        raise NotImplementedError(f"{type(self).__name__} must implement call()")

    @eager
    def __call__(self, y_true, y_pred, sample_weight=None):
        """The reduced loss, as Keras 3: the mask ``y_pred`` carries (``_keras_mask``) and the one
        the per-sample losses carry (``ignore_class``) weigh the entries.  On arrays it returns
        the value (``frontend.ops.eager``), as a Keras loss called on tensors does.  Arrays are
        made constants first, so that ``call`` runs symbolically and its losses keep their mask."""
        losses = self.call(th.as_tensor_variable(y_true), th.as_tensor_variable(y_pred))
        mask = combined_mask(getattr(y_pred, "_keras_mask", None), getattr(losses, "_keras_mask", None))
        return reduce_weighted_values(losses, sample_weight, self.reduction, mask)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict) -> Loss:
        return cls(**config)


class LossFunctionWrapper(Loss):
    """A ``Loss`` around a per-sample function ``fn(y_true, y_pred, **options)``."""

    def __init__(
        self,
        fn: Callable,
        name: str | None = None,
        reduction: str = "sum_over_batch_size",
        **options,
    ):
        super().__init__(name or getattr(fn, "__name__", "loss"), reduction)
        self.fn, self.options = fn, options

    @property
    def from_logits(self) -> bool:
        return bool(self.options.get("from_logits", False))

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self.options)

    def get_config(self) -> dict:
        """Name, reduction and options, and the function by name (``registry.function_reference``)."""
        return {
            **super().get_config(),
            "fn": function_reference(self.fn, "loss function"),
            **self.options,
        }

    @classmethod
    def from_config(cls, config: dict) -> LossFunctionWrapper:
        """The wrapper of the function ``config["fn"]`` names (registered or in custom_objects)."""
        config = dict(config)
        return cls(_function_of(config.pop("fn")), **config)


def _function_of(reference) -> Callable:
    """The loss function a ``function_reference`` names: a user function or a built-in one."""
    name = reference["config"] if is_function_reference(reference) else reference
    return function_by_name(name, "loss function", builtins=_FUNCTIONS)


def check_options(function: Callable, options: Mapping, owner: str) -> None:
    """Reject options that ``function(y_true, y_pred, **options)`` does not take."""
    accepted = list(inspect.signature(function).parameters)[2:]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(
            f"{owner} got an unexpected keyword argument {unknown[0]!r}; its options are {accepted}"
        )


class _BuiltinLoss(LossFunctionWrapper):
    """A wrapper around one built-in function; its config is its constructor's arguments."""

    function: Callable

    def __init__(self, reduction: str = "sum_over_batch_size", name: str | None = None, **options):
        function = type(self).function
        check_options(function, options, type(self).__name__)
        super().__init__(function, name or function.__name__, reduction, **options)

    def get_config(self) -> dict:
        """The constructor's arguments: name, reduction and options (the function is the class's)."""
        return {**Loss.get_config(self), **self.options}

    @classmethod
    def from_config(cls, config: dict) -> Loss:
        return cls(**config)


class MeanSquaredError(_BuiltinLoss):
    """Mean of squares of errors."""

    function = staticmethod(mean_squared_error)


class MeanAbsoluteError(_BuiltinLoss):
    """Mean of absolute errors."""

    function = staticmethod(mean_absolute_error)


class Huber(_BuiltinLoss):
    """Quadratic for errors up to ``delta``, linear beyond."""

    function = staticmethod(huber)

    def __init__(
        self, delta: float = 1.0, reduction: str = "sum_over_batch_size", name: str | None = None
    ):
        super().__init__(reduction, name, delta=float(delta))


class _SmoothedCrossentropy(_BuiltinLoss):
    """A crossentropy with Keras' options ``from_logits``, ``label_smoothing`` and ``axis``."""

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str = "sum_over_batch_size",
        name: str | None = None,
    ):
        options = {
            "from_logits": bool(from_logits),
            "label_smoothing": float(label_smoothing),
            "axis": axis,
        }
        super().__init__(reduction, name, **options)


class BinaryCrossentropy(_SmoothedCrossentropy):
    """Binary crossentropy of probabilities (or logits with ``from_logits=True``)."""

    function = staticmethod(binary_crossentropy)


class CategoricalCrossentropy(_SmoothedCrossentropy):
    """Crossentropy of one-hot targets against class probabilities (or logits)."""

    function = staticmethod(categorical_crossentropy)


class BinaryFocalCrossentropy(_BuiltinLoss):
    """``binary_focal_crossentropy`` with Keras 3's options and defaults."""

    function = staticmethod(binary_focal_crossentropy)

    def __init__(self, apply_class_balancing: bool = False, alpha: float = 0.25, gamma: float = 2.0,
                 from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction: str = "sum_over_batch_size", name: str | None = None):
        super().__init__(reduction, name, apply_class_balancing=bool(apply_class_balancing), alpha=float(alpha),
                         gamma=float(gamma), from_logits=bool(from_logits), label_smoothing=float(label_smoothing),
                         axis=axis)


class CategoricalFocalCrossentropy(_BuiltinLoss):
    """``categorical_focal_crossentropy`` with Keras 3's options and defaults."""

    function = staticmethod(categorical_focal_crossentropy)

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, from_logits: bool = False,
                 label_smoothing: float = 0.0, axis: int = -1, reduction: str = "sum_over_batch_size",
                 name: str | None = None):
        super().__init__(reduction, name, alpha=float(alpha), gamma=float(gamma), from_logits=bool(from_logits),
                         label_smoothing=float(label_smoothing), axis=axis)


class Dice(_BuiltinLoss):
    """``dice`` as a loss object (Keras 3's arguments)."""

    function = staticmethod(dice)

    def __init__(self, reduction: str = "sum_over_batch_size", name: str | None = None, axis=None):
        super().__init__(reduction, name, axis=axis)


class Tversky(_BuiltinLoss):
    """``tversky`` as a loss object (Keras 3's arguments)."""

    function = staticmethod(tversky)

    def __init__(self, alpha: float = 0.5, beta: float = 0.5, reduction: str = "sum_over_batch_size",
                 name: str | None = None, axis=None):
        super().__init__(reduction, name, alpha=float(alpha), beta=float(beta), axis=axis)


class SparseCategoricalCrossentropy(_BuiltinLoss):
    """Crossentropy of integer class labels against class probabilities (or logits)."""

    function = staticmethod(sparse_categorical_crossentropy)

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: str = "sum_over_batch_size",
        axis: int = -1,
        name: str | None = None,
    ):
        options = {"from_logits": bool(from_logits), "axis": axis}
        if ignore_class is not None:
            options["ignore_class"] = int(ignore_class)
        super().__init__(reduction, name, **options)


class KLDivergence(_BuiltinLoss):
    """Kullback-Leibler divergence of ``y_pred`` from ``y_true``."""

    function = staticmethod(kl_divergence)


class Hinge(_BuiltinLoss):
    """Hinge loss for labels -1/1 (or 0/1)."""

    function = staticmethod(hinge)


class CosineSimilarity(_BuiltinLoss):
    """Negative cosine similarity along ``axis``."""

    function = staticmethod(cosine_similarity)

    def __init__(
        self, axis: int = -1, reduction: str = "sum_over_batch_size", name: str | None = None
    ):
        super().__init__(reduction, name, axis=axis)


class Poisson(_BuiltinLoss):
    """Poisson loss: ``y_pred - y_true * log(y_pred)``, for count targets."""

    function = staticmethod(poisson)


class LogCosh(_BuiltinLoss):
    """Logarithm of the hyperbolic cosine of the error: like MSE near 0, like MAE far away."""

    function = staticmethod(log_cosh)


class SquaredHinge(_BuiltinLoss):
    """Squared hinge loss for labels -1/1 (or 0/1)."""

    function = staticmethod(squared_hinge)


class CategoricalHinge(_BuiltinLoss):
    """Hinge loss between the true class's score and the best other score (one-hot targets)."""

    function = staticmethod(categorical_hinge)


class MeanAbsolutePercentageError(_BuiltinLoss):
    """Mean absolute error relative to the target, in percent."""

    function = staticmethod(mean_absolute_percentage_error)


class MeanSquaredLogarithmicError(_BuiltinLoss):
    """Mean squared error of ``log(1 + y)``."""

    function = staticmethod(mean_squared_logarithmic_error)


class CTC(_BuiltinLoss):
    """Connectionist temporal classification loss (``ctc``: padded integer labels, logits)."""

    function = staticmethod(ctc)

    def __init__(self, reduction: str = "sum_over_batch_size", name: str | None = "ctc"):
        super().__init__(reduction, name)


class Circle(_BuiltinLoss):
    """``circle`` as a loss object (Keras 3's arguments); the batch is its own reference set."""

    function = staticmethod(circle)

    def __init__(self, gamma: float = 80.0, margin: float = 0.4, remove_diagonal: bool = True,
                 reduction: str = "sum_over_batch_size", name: str | None = "circle"):
        super().__init__(reduction, name, gamma=float(gamma), margin=float(margin),
                         remove_diagonal=bool(remove_diagonal))


class CategoricalGeneralizedCrossEntropy(_BuiltinLoss):
    """``categorical_generalized_cross_entropy`` as a loss object; ``q`` in (0, 1)."""

    function = staticmethod(categorical_generalized_cross_entropy)

    def __init__(self, q: float = 0.5, reduction: str = "sum_over_batch_size",
                 name: str | None = "categorical_generalized_cross_entropy"):
        super().__init__(reduction, name, q=_check_q(q))


# ----------------------------------------------------------------------------- lookup

_CLASSES = (
    MeanSquaredError,
    MeanAbsoluteError,
    Huber,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    KLDivergence,
    Hinge,
    CosineSimilarity,
    Poisson,
    LogCosh,
    SquaredHinge,
    CategoricalHinge,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    BinaryFocalCrossentropy,
    CategoricalFocalCrossentropy,
    Dice,
    Tversky,
    CTC,
    Circle,
    CategoricalGeneralizedCrossEntropy,
)
_ALIASES = {
    "mape": MeanAbsolutePercentageError,
    "MAPE": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError,
    "MSLE": MeanSquaredLogarithmicError,
    "logcosh": LogCosh,
    "mse": MeanSquaredError,
    "MSE": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "MAE": MeanAbsoluteError,
    "kld": KLDivergence,
    "KLD": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "huber_loss": Huber,
}
REGISTRY = Registry(
    "loss",
    Loss,
    {
        **{cls.__name__: cls for cls in _CLASSES},
        **{cls.function.__name__: cls for cls in _CLASSES},
        **_ALIASES,
        "LossFunctionWrapper": LossFunctionWrapper,
    },
    accepts_none=False,
)
"""Loss classes by class name, function name and Keras alias (``"mse"``)."""

_FUNCTIONS = {cls.function.__name__: cls.function for cls in _CLASSES}


def serialize(loss) -> dict:
    """``{"class_name": ..., "config": ...}``; a plain function is saved by its registered name."""
    if not isinstance(loss, Loss):
        return function_reference(loss, "loss function")
    return REGISTRY.serialize(loss)


def deserialize(config: Mapping, custom_objects: Mapping | None = None) -> Loss:
    """A loss from ``serialize``'s dict; user functions and classes are registered ones or come
    from custom_objects."""
    if is_function_reference(config):
        with custom_object_scope(custom_objects):
            return LossFunctionWrapper(_function_of(config))
    found, settings = REGISTRY.resolve(config, custom_objects)
    if not isinstance(found, type):
        return LossFunctionWrapper(found)
    with custom_object_scope(custom_objects):
        return found.from_config(settings)


def get(identifier, custom_objects: Mapping | None = None) -> Loss:
    """A ``Loss`` from a name (``"mse"``, ``"binary_crossentropy"``), a dict, an instance,
    a ``Loss`` class or a per-sample function ``fn(y_true, y_pred)``."""
    if isinstance(identifier, str):
        found = REGISTRY.lookup(identifier, custom_objects)
        return found() if isinstance(found, type) else LossFunctionWrapper(found)
    if isinstance(identifier, Mapping):
        return deserialize(identifier, custom_objects)
    loss = REGISTRY.get(identifier, custom_objects)
    return loss if isinstance(loss, Loss) else LossFunctionWrapper(loss)
