"""Metrics (``keras.metrics``): the mean metrics, F-scores, the lookup by name.

The contract is ``metric_base.Metric``; the confusion-matrix metrics
(precision, recall, AUC) live in ``confusion_metrics``.  Sample weights
follow Keras: a mean metric
adds ``sum(value * weight)`` and ``sum(weight)``; the confusion-matrix
metrics (precision, recall, AUC) weight every prediction by the weight of
its sample.  ``get("accuracy", loss=...)`` picks the accuracy that matches
the loss, as Keras does.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

import numpy as np

import theanine as th
from theanine.frontend import losses as losses_module
from theanine.frontend.call_context import current_call_context
from theanine.frontend.confusion_metrics import (
    AUC,
    FalseNegatives,
    FalsePositives,
    Precision,
    PrecisionAtRecall,
    Recall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    TrueNegatives,
    TruePositives,
)
from theanine.frontend.iou_metrics import BinaryIoU, IoU, MeanIoU, OneHotIoU, OneHotMeanIoU
from theanine.frontend.losses import (  # Keras exposes the loss functions as metric functions too
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)
from theanine.frontend.metric_base import Metric, PendingResult
from theanine.frontend.metric_base import divide_no_nan as _divide
from theanine.frontend.ops import eager
from theanine.frontend.registry import (
    Registry,
    custom_object_scope,
    function_by_name,
    function_reference,
    is_function_reference,
)

__all__ = [
    "Metric",
    "PendingResult",
    "MeanMetricWrapper",
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "MeanSquaredLogarithmicError",
    "MeanAbsolutePercentageError",
    "CosineSimilarity",
    "LogCoshError",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "KLDivergence",
    "Poisson",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "Precision",
    "Recall",
    "AUC",
    "TruePositives",
    "FalsePositives",
    "TrueNegatives",
    "FalseNegatives",
    "SensitivityAtSpecificity",
    "SpecificityAtSensitivity",
    "PrecisionAtRecall",
    "RecallAtPrecision",
    "IoU",
    "MeanIoU",
    "BinaryIoU",
    "OneHotIoU",
    "OneHotMeanIoU",
    "PearsonCorrelation",
    "ConcordanceCorrelation",
    "pearson_correlation",
    "concordance_correlation",
    "RootMeanSquaredError",
    "R2Score",
    "Mean",
    "Sum",
    "FBetaScore",
    "F1Score",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "cosine_similarity",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_hinge",
    "hinge",
    "huber",
    "kl_divergence",
    "log_cosh",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "poisson",
    "sparse_categorical_crossentropy",
    "squared_hinge",
    "get",
    "serialize",
    "deserialize",
]


# ----------------------------------------------------------------------------- per-sample functions

_KERAS_EPSILON = 1e-7


def _float(x):
    return th.cast(x, th.config.floatX)


@eager
def accuracy(y_true, y_pred):
    """1 where ``y_true == y_pred`` exactly, else 0."""
    y_true, y_pred = losses_module.match_rank(
        th.as_tensor_variable(y_true), th.as_tensor_variable(y_pred)
    )
    return _float(th.eq(y_true, y_pred))


@eager
def binary_accuracy(y_true, y_pred, threshold: float = 0.5):
    """The fraction of entries where ``(y_pred > threshold) == y_true``, over the last axis (Keras 3:
    one value per sample for targets of rank 2 or more)."""
    y_true, y_pred = losses_module.match_rank(
        th.as_tensor_variable(y_true), th.as_tensor_variable(y_pred)
    )
    predicted = th.cast(y_pred > threshold, y_true.dtype)
    hits = _float(th.eq(y_true, predicted))
    return th.mean(hits, axis=-1) if hits.ndim >= 2 else hits


@eager
def categorical_accuracy(y_true, y_pred):
    """1 where the arg-max class of the one-hot ``y_true`` and of ``y_pred`` agree."""
    return _float(th.eq(th.argmax(y_true, axis=-1), th.argmax(y_pred, axis=-1)))


@eager
def sparse_categorical_accuracy(y_true, y_pred):
    """1 where the integer label equals the arg-max class of ``y_pred``."""
    y_pred = th.as_tensor_variable(y_pred)
    return _float(th.eq(losses_module.sparse_labels(y_true, y_pred), th.argmax(y_pred, axis=-1)))


def in_top_k(labels, y_pred, k: int):
    """Whether each label's score is among the ``k`` largest of its row (ties count as inside)."""
    mask = th.ClassMask(y_pred.ndim - 1)(labels, y_pred)
    label_score = th.sum(y_pred * mask, axis=-1, keepdims=True)
    higher = th.sum(th.cast(y_pred > label_score, "int64"), axis=-1)
    return higher < k


@eager
def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    """1 where the integer label is among the ``k`` highest-scored classes."""
    y_pred = th.as_tensor_variable(y_pred)
    return _float(in_top_k(losses_module.sparse_labels(y_true, y_pred), y_pred, k))


@eager
def top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    """1 where the one-hot ``y_true``'s class is among the ``k`` highest-scored classes."""
    y_pred = th.as_tensor_variable(y_pred)
    return _float(in_top_k(th.argmax(y_true, axis=-1), y_pred, k))


# ----------------------------------------------------------------------------- mean metrics


def _axes_from(start: int, ndim: int) -> tuple[int, ...]:
    return tuple(range(start, ndim))


def samplewise_values(values, sample_weight, values_mask=None):
    """Keras' ``reduce_to_samplewise_values``: per-sample means of weighted values, and weights.

    ``values_mask`` (the mask the values carried, e.g. ``ignore_class``'s) joins the weights
    when there are weights, as in Keras.  Returns ``(values, weights)``; ``weights`` is None
    without ``sample_weight``.
    """
    weight = None
    if sample_weight is not None:
        weight = th.cast(th.as_tensor_variable(sample_weight), values.dtype)
        weight = losses_module.apply_mask(weight, values_mask, values.dtype, "sum")
        values, weight = losses_module.match_rank(values, weight)
        if values.ndim > weight.ndim:
            values = th.mean(values, axis=_axes_from(weight.ndim, values.ndim))
        weight = weight * th.ones_like(values)
        values = values * weight
        if weight.ndim > 1:
            weight = th.mean(weight, axis=_axes_from(1, weight.ndim))
    if values.ndim > 1:
        values = th.mean(values, axis=_axes_from(1, values.ndim))
    return values, weight


def mean_statistics(values, sample_weight, values_mask=None) -> list:
    """A mean metric's batch statistics: the weighted sum of per-sample values and the weight."""
    values, weight = samplewise_values(values, sample_weight, values_mask)
    count = th.sum(weight) if weight is not None else th.sum(th.ones_like(values))
    return [th.sum(values), count]


class MeanMetricWrapper(Metric):
    """The (weighted) mean over all samples of ``fn(y_true, y_pred, **options)``."""

    def __init__(self, fn: Callable, name: str | None = None, dtype: str | None = None, **options):
        super().__init__(name or getattr(fn, "__name__", "mean"), dtype)
        self.fn, self.options = fn, options

    def batch_statistics(self, y_true, y_pred, sample_weight=None) -> list:
        """As Keras 3's ``update_state``: the mask ``y_pred`` carries (``_keras_mask``) joins the
        sample weights (0/1), so masked entries are left out of the mean."""
        mask = getattr(y_pred, "_keras_mask", None)
        values = self.fn(y_true, y_pred, **self.options)
        values_mask = getattr(values, "_keras_mask", None)
        weight = losses_module.apply_mask(sample_weight, mask, self.dtype, "sum")
        return mean_statistics(th.cast(values, self.dtype), weight, values_mask)

    def result_from(self, totals):
        total, count = totals
        return _divide(total, count)

    def get_config(self) -> dict:
        """Name, dtype and options, and the function by name (``registry.function_reference``)."""
        return {
            **super().get_config(),
            "fn": function_reference(self.fn, "metric function"),
            **self.options,
        }

    @classmethod
    def from_config(cls, config: dict) -> MeanMetricWrapper:
        """The wrapper of the function ``config["fn"]`` names (registered or in custom_objects)."""
        config = dict(config)
        return cls(_function_of(config.pop("fn")), **config)


def _function_of(reference) -> Callable:
    """The metric function a ``function_reference`` names: a user function or a built-in one."""
    name = reference["config"] if is_function_reference(reference) else reference
    return function_by_name(name, "metric function", builtins=_FUNCTIONS)


class _BuiltinMean(MeanMetricWrapper):
    """A mean metric around one built-in function; its config is its constructor's arguments."""

    function: Callable

    def __init__(self, name: str | None = None, dtype: str | None = None, **options):
        function = type(self).function
        losses_module.check_options(function, options, type(self).__name__)
        super().__init__(function, name or function.__name__, dtype, **options)

    def get_config(self) -> dict:
        """The constructor's arguments: name, dtype and options (the function is the class's)."""
        return {**Metric.get_config(self), **self.options}

    @classmethod
    def from_config(cls, config: dict) -> Metric:
        return cls(**config)


class Accuracy(_BuiltinMean):
    """How often predictions equal labels exactly."""

    function = staticmethod(accuracy)


class BinaryAccuracy(_BuiltinMean):
    """How often ``y_pred > threshold`` matches the binary label."""

    function = staticmethod(binary_accuracy)

    def __init__(self, name: str | None = None, dtype: str | None = None, threshold: float = 0.5):
        super().__init__(name, dtype, threshold=float(threshold))


class CategoricalAccuracy(_BuiltinMean):
    """How often the arg-max class matches the one-hot label."""

    function = staticmethod(categorical_accuracy)


class SparseCategoricalAccuracy(_BuiltinMean):
    """How often the arg-max class matches the integer label."""

    function = staticmethod(sparse_categorical_accuracy)


class TopKCategoricalAccuracy(_BuiltinMean):
    """How often the one-hot label is among the ``k`` highest scores."""

    function = staticmethod(top_k_categorical_accuracy)

    def __init__(self, k: int = 5, name: str | None = None, dtype: str | None = None):
        super().__init__(name, dtype, k=int(k))


class SparseTopKCategoricalAccuracy(_BuiltinMean):
    """How often the integer label is among the ``k`` highest scores."""

    function = staticmethod(sparse_top_k_categorical_accuracy)

    def __init__(self, k: int = 5, name: str | None = None, dtype: str | None = None):
        super().__init__(name, dtype, k=int(k))


class MeanSquaredError(_BuiltinMean):
    """Mean of the per-sample mean squared error."""

    function = staticmethod(losses_module.mean_squared_error)


class MeanAbsoluteError(_BuiltinMean):
    """Mean of the per-sample mean absolute error."""

    function = staticmethod(losses_module.mean_absolute_error)


def positive_cosine_similarity(y_true, y_pred, axis: int = -1):
    """``sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``: 1 for aligned vectors.

    Keras' ``metrics.cosine_similarity`` (the loss of that name is its negative); saved by this
    name so that a wrapper of either function loads the right one.
    """
    return -losses_module.cosine_similarity(y_true, y_pred, axis=axis)


cosine_similarity = positive_cosine_similarity


class MeanSquaredLogarithmicError(_BuiltinMean):
    """Mean of the per-sample mean squared logarithmic error."""

    function = staticmethod(losses_module.mean_squared_logarithmic_error)


class MeanAbsolutePercentageError(_BuiltinMean):
    """Mean of the per-sample mean absolute percentage error."""

    function = staticmethod(losses_module.mean_absolute_percentage_error)


class CosineSimilarity(_BuiltinMean):
    """Mean cosine similarity of targets and predictions along ``axis``."""

    function = staticmethod(positive_cosine_similarity)

    def __init__(self, name: str | None = None, dtype: str | None = None, axis: int = -1):
        super().__init__(name or "cosine_similarity", dtype, axis=int(axis))


class LogCoshError(_BuiltinMean):
    """Mean of the per-sample ``log(cosh(error))``; Keras names it "logcosh"."""

    function = staticmethod(losses_module.log_cosh)

    def __init__(self, name: str | None = None, dtype: str | None = None):
        super().__init__(name or "logcosh", dtype)


class BinaryCrossentropy(_BuiltinMean):
    """Mean binary crossentropy (``from_logits``, ``label_smoothing`` as the loss)."""

    function = staticmethod(losses_module.binary_crossentropy)

    def __init__(self, name: str | None = None, dtype: str | None = None, from_logits: bool = False,
                 label_smoothing: float = 0.0):
        super().__init__(name, dtype, from_logits=bool(from_logits), label_smoothing=float(label_smoothing))


class CategoricalCrossentropy(_BuiltinMean):
    """Mean categorical crossentropy of one-hot targets."""

    function = staticmethod(losses_module.categorical_crossentropy)

    def __init__(self, name: str | None = None, dtype: str | None = None, from_logits: bool = False,
                 label_smoothing: float = 0.0, axis: int = -1):
        super().__init__(name, dtype, from_logits=bool(from_logits), label_smoothing=float(label_smoothing),
                         axis=int(axis))


class SparseCategoricalCrossentropy(_BuiltinMean):
    """Mean categorical crossentropy of integer labels; ``ignore_class`` entries are left out when
    the metric is weighted (Keras applies the values' mask with sample weights only)."""

    function = staticmethod(losses_module.sparse_categorical_crossentropy)

    def __init__(self, name: str | None = None, dtype: str | None = None, from_logits: bool = False,
                 ignore_class: int | None = None, axis: int = -1):
        options = {"from_logits": bool(from_logits), "axis": int(axis)}
        if ignore_class is not None:
            options["ignore_class"] = int(ignore_class)
        super().__init__(name, dtype, **options)


class KLDivergence(_BuiltinMean):
    """Mean Kullback-Leibler divergence of the predictions from the targets."""

    function = staticmethod(losses_module.kl_divergence)


class Poisson(_BuiltinMean):
    """Mean Poisson loss."""

    function = staticmethod(losses_module.poisson)


class Hinge(_BuiltinMean):
    """Mean hinge loss (labels -1/1, or 0/1 converted)."""

    function = staticmethod(losses_module.hinge)


class SquaredHinge(_BuiltinMean):
    """Mean squared hinge loss."""

    function = staticmethod(losses_module.squared_hinge)


class CategoricalHinge(_BuiltinMean):
    """Mean categorical hinge loss."""

    function = staticmethod(losses_module.categorical_hinge)


class RootMeanSquaredError(_BuiltinMean):
    """``sqrt`` of the (weighted) mean of the squared errors."""

    function = staticmethod(losses_module.mean_squared_error)

    def __init__(self, name: str | None = None, dtype: str | None = None):
        super().__init__(name or "root_mean_squared_error", dtype)

    def result_from(self, totals):
        return np.sqrt(super().result_from(totals))


@eager
def pearson_correlation(y_true, y_pred, axis: int = -1):
    """The mean along ``axis`` of the product of the standardized targets and predictions
    (Keras 3's ``metrics.pearson_correlation``)."""
    y_true, y_pred = losses_module.prepared_targets(y_true, y_pred)

    def standardized(x):
        centered = x - th.mean(x, axis=axis, keepdims=True)
        return centered / th.std(centered, axis=axis, keepdims=True)

    return th.mean(standardized(y_true) * standardized(y_pred), axis=axis)


@eager
def concordance_correlation(y_true, y_pred, axis: int = -1):
    """Keras 3's ``metrics.concordance_correlation``: the mean along ``axis`` of
    ``2 (y_true - mean(y_pred)) (y_pred - mean(y_pred)) / (var(y_true) + var(y_pred)
    + (mean(y_true) - mean(y_pred))^2 + 1e-7)`` -- Keras centers ``y_true`` on the mean of
    ``y_pred`` in the covariance term, and so does this, so that the values agree."""
    y_true, y_pred = losses_module.prepared_targets(y_true, y_pred)
    true_mean = th.mean(y_true, axis=axis, keepdims=True)
    pred_mean = th.mean(y_pred, axis=axis, keepdims=True)
    norm = (th.var(y_true, axis=axis, keepdims=True) + th.var(y_pred, axis=axis, keepdims=True)
            + th.square(true_mean - pred_mean))
    covariance = (y_true - pred_mean) * (y_pred - pred_mean)
    return th.mean(2.0 * covariance / (norm + _KERAS_EPSILON), axis=axis)


class PearsonCorrelation(_BuiltinMean):
    """The mean over samples of ``pearson_correlation`` along ``axis``."""

    function = staticmethod(pearson_correlation)

    def __init__(self, name: str | None = "pearson_correlation", dtype: str | None = None, axis: int = -1):
        super().__init__(name, dtype, axis=int(axis))


class ConcordanceCorrelation(_BuiltinMean):
    """The mean over samples of ``concordance_correlation`` along ``axis``."""

    function = staticmethod(concordance_correlation)

    def __init__(self, name: str | None = "concordance_correlation", dtype: str | None = None, axis: int = -1):
        super().__init__(name, dtype, axis=int(axis))


class R2Score(Metric):
    """The coefficient of determination ``1 - SS_res / SS_tot`` per output column, over every batch
    seen (Keras 3's arguments): ``class_aggregation`` "uniform_average" (the mean over outputs),
    "variance_weighted_average" (weighted by each output's SS_tot) or None (one per output);
    ``num_regressors`` > 0 gives the adjusted R2, counting every target value as a sample (as
    Keras 3 does)."""

    _AGGREGATIONS = ("uniform_average", "variance_weighted_average", None)

    def __init__(self, class_aggregation: str | None = "uniform_average", num_regressors: int = 0,
                 name: str | None = None, dtype: str | None = None):
        super().__init__(name or "r2_score", dtype)
        if class_aggregation not in self._AGGREGATIONS:
            raise ValueError(f"R2Score class_aggregation must be one of {self._AGGREGATIONS}. "
                             f"Received: class_aggregation={class_aggregation!r}")
        if isinstance(num_regressors, bool) or int(num_regressors) < 0:
            raise ValueError(f"R2Score num_regressors must be an integer >= 0. Received: {num_regressors!r}")
        self.class_aggregation, self.num_regressors = class_aggregation, int(num_regressors)

    def batch_statistics(self, y_true, y_pred, sample_weight=None) -> list:
        y_true, y_pred = th.cast(y_true, self.dtype), th.cast(y_pred, self.dtype)
        if y_true.ndim == 1:
            y_true, y_pred = y_true.dimshuffle(0, "x"), y_pred.dimshuffle(0, "x")
        weight = th.ones_like(y_true) if sample_weight is None else th.cast(sample_weight, self.dtype)
        if weight.ndim == 1:
            weight = weight.dimshuffle(0, "x")
        weight = weight * th.ones_like(y_true)
        return [th.sum(weight, axis=0), th.sum(weight * y_true, axis=0), th.sum(weight * y_true**2, axis=0),
                th.sum(weight * (y_true - y_pred) ** 2, axis=0), th.cast(y_true.size, self.dtype)]

    def result_from(self, totals):
        count, total, squares, residual, samples = (np.asarray(t, "float64") for t in totals)
        mean = total / np.where(count == 0, 1, count)
        variance_sum = squares - count * mean**2
        scores = 1.0 - residual / np.where(variance_sum == 0, np.inf, variance_sum)
        scores = np.where(variance_sum == 0, 0.0, scores)
        if self.class_aggregation == "uniform_average":
            score = scores.mean()
        elif self.class_aggregation == "variance_weighted_average":
            score = (scores * variance_sum).sum() / max(variance_sum.sum(), np.finfo("float64").tiny)
        else:
            score = scores
        n = float(samples)  # as Keras: every target value counts as a sample
        if self.num_regressors and self.num_regressors >= n - 1:
            warnings.warn(f"R2Score: num_regressors={self.num_regressors} leaves no degrees of freedom with "
                          f"{int(n)} values; returning the plain R2 (as Keras does)", stacklevel=2)
        elif self.num_regressors:
            score = 1.0 - (1.0 - score) * (n - 1) / (n - self.num_regressors - 1)
        return np.asarray(score, self.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


class Mean(Metric):
    """The (weighted) mean of the values given to ``update_state(values, sample_weight=None)``.

    A standalone metric, as in Keras: it averages any values, so it does not
    compare targets with predictions and cannot be given to ``compile``.
    """

    compares_targets = False

    def __init__(self, name: str | None = None, dtype: str | None = None):
        super().__init__(name or "mean", dtype)

    def batch_statistics(self, values, sample_weight=None) -> list:
        values_mask = getattr(values, "_keras_mask", None)
        return mean_statistics(th.cast(th.as_tensor_variable(values), self.dtype), sample_weight, values_mask)

    def result_from(self, totals):
        total, count = totals
        return _divide(total, count)

    def update_state(self, values, sample_weight=None) -> None:
        """Add ``values`` (a scalar counts as one sample), weighted by ``sample_weight``."""
        if isinstance(values, th.Variable) or current_call_context() is not None:  # inside a traced step
            super().update_state(th.as_tensor_variable(values), sample_weight)
            return
        weight = None if sample_weight is None else np.atleast_1d(sample_weight)
        super().update_state(np.atleast_1d(values), weight)


class Sum(Metric):
    """The (weighted) sum of every value given to ``update_state(values, sample_weight=None)``,
    as Keras' ``metrics.Sum``; a standalone metric, like ``Mean``."""

    compares_targets = False

    def __init__(self, name: str | None = None, dtype: str | None = None):
        super().__init__(name or "sum", dtype)

    def batch_statistics(self, values, sample_weight=None) -> list:
        values = th.cast(th.as_tensor_variable(values), self.dtype)
        if sample_weight is not None:
            weight = th.cast(th.as_tensor_variable(sample_weight), self.dtype)
            for _ in range(values.ndim - weight.ndim):
                weight = th.expand_dims(weight, -1)
            values = values * weight
        return [th.sum(values)]

    def result_from(self, totals):
        return totals[0]

    def update_state(self, values, sample_weight=None) -> None:
        """Add ``values`` (all of their elements), weighted by ``sample_weight``."""
        if isinstance(values, th.Variable) or current_call_context() is not None:  # inside a traced step
            super().update_state(th.as_tensor_variable(values), sample_weight)
            return
        weight = None if sample_weight is None else np.atleast_1d(sample_weight)
        super().update_state(np.atleast_1d(values), weight)


_AVERAGES = (None, "micro", "macro", "weighted")


class FBetaScore(Metric):
    """F-beta score of one-hot (or multi-label) targets against class scores, as Keras computes it.

    A prediction is positive where ``y_pred > threshold``, or, without a
    threshold, where it is its row's maximum (and not 0).  Counts are summed
    per class (over all classes for ``average="micro"``); the score is
    ``(1 + b^2) p r / (b^2 p + r)`` with Keras' epsilon in each division;
    ``average`` None gives one score per class, "macro" their mean,
    "weighted" their mean weighted by each class's support.
    """

    def __init__(
        self,
        average: str | None = None,
        beta: float = 1.0,
        threshold: float | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ):
        super().__init__(name or "fbeta_score", dtype)
        if average not in _AVERAGES:
            raise ValueError(f"average must be one of {_AVERAGES}. Received: average={average!r}")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
            raise ValueError(f"beta must be a number > 0. Received: beta={beta!r}")
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not 0.0 < threshold <= 1.0
        ):
            raise ValueError(
                f"threshold must be None or a float in (0, 1]. Received: threshold={threshold!r}"
            )
        self.average, self.beta = average, float(beta)
        self.threshold = None if threshold is None else float(threshold)

    def batch_statistics(self, y_true, y_pred, sample_weight=None) -> list:
        y_pred = th.cast(th.as_tensor_variable(y_pred), self.dtype)
        y_true = th.cast(th.as_tensor_variable(y_true), self.dtype)
        if y_pred.ndim != 2 or y_true.ndim != 2 or y_pred.type.shape[-1] is None:
            raise ValueError(
                f"{self.name} expects targets and predictions of shape (batch, classes) with a "
                f"known number of classes. Received: y_true of shape {y_true.type.shape}, "
                f"y_pred of shape {y_pred.type.shape}"
            )
        if self.threshold is None:
            top = th.max(y_pred, axis=-1, keepdims=True)
            positive = th.logical_and(y_pred >= top, th.abs(y_pred) > 1e-9)
        else:
            positive = y_pred > self.threshold
        predicted = th.cast(positive, self.dtype)
        axis = None if self.average == "micro" else 0

        def weighted_sum(value):
            if sample_weight is not None:
                weight = th.cast(th.as_tensor_variable(sample_weight), self.dtype)
                value = value * th.DimShuffle([0, "x"])(weight)
            return th.sum(value, axis=axis)

        return [
            weighted_sum(predicted * y_true),
            weighted_sum(predicted * (1.0 - y_true)),
            weighted_sum((1.0 - predicted) * y_true),
            weighted_sum(y_true),
        ]

    def result_from(self, totals):
        tp, fp, fn, support = totals
        precision = tp / (tp + fp + _KERAS_EPSILON)
        recall = tp / (tp + fn + _KERAS_EPSILON)
        b2 = self.beta**2
        score = (1 + b2) * precision * recall / (b2 * precision + recall + _KERAS_EPSILON)
        if self.average == "weighted":
            return np.sum(score * support / (np.sum(support) + _KERAS_EPSILON))
        if self.average is not None:
            return np.mean(score)
        return score

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "average": self.average,
            "beta": self.beta,
            "threshold": self.threshold,
        }


class F1Score(FBetaScore):
    """The F-beta score with ``beta=1``: the harmonic mean of precision and recall."""

    def __init__(
        self,
        average: str | None = None,
        threshold: float | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ):
        super().__init__(average, 1.0, threshold, name or "f1_score", dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config


# ----------------------------------------------------------------------------- lookup

_CLASSES = (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    MeanSquaredError,
    MeanAbsoluteError,
    Precision,
    Recall,
    AUC,
    TruePositives,
    FalsePositives,
    TrueNegatives,
    FalseNegatives,
    RootMeanSquaredError,
    R2Score,
    Mean,
    Sum,
    FBetaScore,
    F1Score,
    MeanSquaredLogarithmicError,
    MeanAbsolutePercentageError,
    CosineSimilarity,
    LogCoshError,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    KLDivergence,
    Poisson,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    PrecisionAtRecall,
    RecallAtPrecision,
    IoU,
    MeanIoU,
    BinaryIoU,
    OneHotIoU,
    OneHotMeanIoU,
    PearsonCorrelation,
    ConcordanceCorrelation,
)
_ALIASES = {
    "root_mean_squared_error": RootMeanSquaredError,
    "r2_score": R2Score,
    "mean": Mean,
    "f_beta_score": FBetaScore,
    "fbeta_score": FBetaScore,
    "f1_score": F1Score,
    "accuracy": Accuracy,
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "cosine_similarity": CosineSimilarity,
    "log_cosh_error": LogCoshError,
    "logcosh": LogCoshError,
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "poisson": Poisson,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge,
    "precision": Precision,
    "recall": Recall,
    "auc": AUC,
    "pearson_correlation": PearsonCorrelation,
    "concordance_correlation": ConcordanceCorrelation,
    "io_u": IoU,
    "mean_io_u": MeanIoU,
    "binary_io_u": BinaryIoU,
    "one_hot_io_u": OneHotIoU,
    "one_hot_mean_io_u": OneHotMeanIoU,
    "sensitivity_at_specificity": SensitivityAtSpecificity,
    "specificity_at_sensitivity": SpecificityAtSensitivity,
    "precision_at_recall": PrecisionAtRecall,
    "recall_at_precision": RecallAtPrecision,
}
REGISTRY = Registry(
    "metric",
    Metric,
    {**{cls.__name__: cls for cls in _CLASSES}, **_ALIASES, "MeanMetricWrapper": MeanMetricWrapper},
    accepts_none=False,
)
"""Metric classes by class name and by Keras' snake_case name."""

_FUNCTIONS = {
    cls.function.__name__: cls.function for cls in _CLASSES if issubclass(cls, _BuiltinMean)
}

_BINARY_LOSSES = (losses_module.binary_crossentropy,)
_SPARSE_LOSSES = (losses_module.sparse_categorical_crossentropy,)


def _accuracy_for(loss, output_shape) -> type:
    """Keras' resolution of "accuracy": binary for binary crossentropy (or one output unit),
    sparse categorical for sparse categorical crossentropy, else categorical."""
    function = getattr(losses_module.get(loss), "fn", None) if loss is not None else None
    if function in _BINARY_LOSSES:
        return BinaryAccuracy
    if function in _SPARSE_LOSSES:
        return SparseCategoricalAccuracy
    if output_shape is not None and len(output_shape) > 0 and output_shape[-1] == 1:
        return BinaryAccuracy
    return CategoricalAccuracy


def serialize(metric) -> dict:
    """``{"class_name": ..., "config": ...}``; a plain function is saved by its registered name."""
    if not isinstance(metric, Metric):
        return function_reference(metric, "metric function")
    return REGISTRY.serialize(metric)


def deserialize(config: Mapping, custom_objects: Mapping | None = None) -> Metric:
    """A metric from ``serialize``'s dict; user functions and classes are registered ones or come
    from ``custom_objects``."""
    with custom_object_scope(custom_objects):
        if is_function_reference(config):
            return MeanMetricWrapper(_function_of(config))
        found, settings = REGISTRY.resolve(config, custom_objects)
        return found.from_config(settings) if isinstance(found, type) else MeanMetricWrapper(found)


def get(identifier, loss=None, output_shape=None, custom_objects: Mapping | None = None) -> Metric:
    """A ``Metric`` from a name, a dict, an instance (returned as is) or a per-sample function.

    ``"accuracy"``/``"acc"`` resolve with ``loss`` (and the model output's
    static ``output_shape``) as Keras does.  A metric made from a name is
    named by that name (``"acc"`` logs as ``acc``).
    """
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return _accuracy_for(loss, output_shape)(name=identifier)
        found = REGISTRY.lookup(identifier, custom_objects)
        return (
            found(name=identifier)
            if isinstance(found, type)
            else MeanMetricWrapper(found, name=identifier)
        )
    if isinstance(identifier, Mapping):
        return deserialize(identifier, custom_objects)
    metric = REGISTRY.get(identifier, custom_objects)
    return metric if isinstance(metric, Metric) else MeanMetricWrapper(metric)
