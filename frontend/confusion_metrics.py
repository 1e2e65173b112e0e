"""The confusion-matrix metrics: ``Precision``, ``Recall`` and ``AUC``, as Keras 3 computes them.

Each batch contributes weighted confusion counts ``tp, fp, tn, fn`` at a
list of thresholds (``confusion_counts``, compiled into the step); the
result is computed from the summed counts on the host.  A label is
positive when non-zero; a prediction is positive when it is greater than
the threshold.  The options follow Keras' ``update_confusion_matrix_variables``,
in its order:

- ``top_k``: only the ``k`` largest predictions of each row (last axis;
  among equal values the first ones, as ``top_k``) stay, the others become
  ``NEG_INF``; without thresholds a kept prediction counts as positive;
- ``class_id``: only that column of the last axis is counted;
- ``thresholds``: one value (the result is a float) or a list (an array of
  one result per threshold); each in [0, 1].

``AUC(multi_label=True)`` counts each label (the last axis) apart and
averages the per-label areas (weighted by ``label_weights`` when given);
without it the labels are flattened, ``label_weights`` weighting each
label's predictions.  ``from_logits=True`` applies the sigmoid first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import theanine as th
from theanine.frontend import losses as losses_module
from theanine.frontend.metric_base import Metric
from theanine.frontend.metric_base import divide_no_nan as _divide

__all__ = ["Precision", "Recall", "AUC", "TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives",
           "SensitivityAtSpecificity", "SpecificityAtSensitivity", "PrecisionAtRecall", "RecallAtPrecision",
           "confusion_counts", "filter_top_k", "auc_thresholds"]

NEG_INF = -1e10
"""Keras' ``metrics_utils.NEG_INF``: the value of predictions outside the top k."""

KERAS_EPSILON = 1e-7


def _expand_to_rank(weight, ndim: int):
    while weight.ndim < ndim:
        weight = th.DimShuffle([*range(weight.ndim), "x"])(weight)
    return weight


def filter_top_k(y_pred, k: int):
    """``y_pred`` with every entry outside the ``k`` largest of its row set to ``NEG_INF``.

    An entry is among the k largest when fewer than k entries beat it: a
    larger one, or an equal one at a lower index (``top_k``'s order).
    """
    ndim = y_pred.ndim
    mine = th.DimShuffle([*range(ndim), "x"])(y_pred)  # [..., i, 1]
    other = th.DimShuffle([*range(ndim - 1), "x", ndim - 1])(y_pred)  # [..., 1, j]
    index = th.arange(th.shape(y_pred)[ndim - 1])
    earlier = th.DimShuffle(["x", 0])(index) < th.DimShuffle([0, "x"])(index)  # [i, j]: j < i
    beats = th.logical_or(other > mine, th.logical_and(th.eq(other, mine), earlier))
    rank = th.sum(th.cast(beats, "int64"), axis=-1)
    return th.where(rank < k, y_pred, th.constant(np.asarray(NEG_INF, y_pred.dtype)))


def confusion_counts(
    y_true,
    y_pred,
    thresholds: Sequence[float],
    sample_weight=None,
    *,
    top_k: int | None = None,
    class_id: int | None = None,
    label_weights: Sequence[float] | None = None,
    per_label: bool = False,
) -> list:
    """Weighted ``[tp, fp, tn, fn]`` at each threshold (the last axis of each count).

    A sample weight of lower rank is given to every prediction of its sample;
    ``label_weights`` weight each column of the last axis.  With
    ``per_label`` the counts keep the label axis: shape ``(labels, thresholds)``.
    """
    y_pred = th.as_tensor_variable(y_pred)
    y_pred = y_pred if y_pred.dtype.startswith("float") else th.cast(y_pred, th.config.floatX)
    y_true, y_pred = losses_module.match_rank(th.as_tensor_variable(y_true), y_pred)
    weight = (
        th.ones_like(y_pred)
        if sample_weight is None
        else th.cast(th.as_tensor_variable(sample_weight), y_pred.dtype)
    )
    weight = _expand_to_rank(losses_module.match_rank(y_pred, weight)[1], y_pred.ndim)
    weight = weight * th.ones_like(y_pred)
    if label_weights is not None:
        weight = weight * th.constant(np.asarray(label_weights, y_pred.dtype))
    if top_k is not None:
        y_pred = filter_top_k(y_pred, top_k)
    if class_id is not None:
        y_true, y_pred, weight = (v[..., class_id] for v in (y_true, y_pred, weight))
    with_axis = [*range(y_pred.ndim), "x"]
    predicted = th.DimShuffle(with_axis)(y_pred) > th.constant(
        np.asarray(thresholds, dtype=y_pred.dtype)
    )
    actual = th.DimShuffle(with_axis)(th.neq(y_true, 0))
    weight = th.DimShuffle(with_axis)(weight)
    axes = tuple(range(y_pred.ndim - 1 if per_label else y_pred.ndim))

    def count(pred, label):
        return th.sum(th.where(th.logical_and(pred, label), weight, 0.0), axis=axes)

    not_predicted, not_actual = th.logical_not(predicted), th.logical_not(actual)
    return [
        count(predicted, actual),
        count(predicted, not_actual),
        count(not_predicted, not_actual),
        count(not_predicted, actual),
    ]


def _thresholds(thresholds, default: float) -> list[float]:
    """Keras' ``parse_init_thresholds``: a list of floats in [0, 1] (``default`` when None)."""
    if thresholds is None:
        return [default]
    values = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds]
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not (
            0.0 <= value <= 1.0
        ):
            raise ValueError(
                f"Threshold values must be in [0, 1]. Received: thresholds={thresholds!r}"
            )
    if not values:
        raise ValueError("thresholds must hold at least one value. Received: thresholds=[]")
    return [float(v) for v in values]


def _optional_int(value, what: str, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum} or None. Received: {what}={value!r}")
    return int(value)


class Precision(Metric):
    """``tp / (tp + fp)``: of the predictions counted positive, how many are right.

    ``thresholds`` default to 0.5, or, with ``top_k``, to "every kept
    prediction" (Keras' ``NEG_INF``).  One threshold gives a float, several
    an array.
    """

    counted = ("tp", "fp")

    def __init__(self, thresholds=None, top_k: int | None = None, class_id: int | None = None,
                 name: str | None = None, dtype: str | None = None):
        super().__init__(name or type(self).__name__.lower(), dtype)
        self.init_thresholds = thresholds
        self.top_k = _optional_int(top_k, "top_k", 1)
        self.class_id = _optional_int(class_id, "class_id", 0)
        default = 0.5 if self.top_k is None else NEG_INF
        self.thresholds = (
            [default] if thresholds is None else _thresholds(thresholds, default)
        )

    def batch_statistics(self, y_true, y_pred, sample_weight=None) -> list:
        tp, fp, tn, fn = confusion_counts(y_true, y_pred, self.thresholds, sample_weight,
                                          top_k=self.top_k, class_id=self.class_id)
        counts = {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
        return [counts[name] for name in self.counted]

    def result_from(self, totals):
        tp, other = totals
        result = _divide(tp, tp + other)
        return result[0] if len(self.thresholds) == 1 else result

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Recall(Precision):
    """``tp / (tp + fn)``: of the positive labels, how many are predicted positive."""

    counted = ("tp", "fn")


class _ConfusionCount(Metric):
    """The (weighted) number of ``counted`` outcomes at each threshold (default 0.5): a float for
    one threshold, an array for several (Keras 3's TruePositives and its siblings)."""

    counted = "tp"
    default_name = "true_positives"

    def __init__(self, thresholds=None, name: str | None = None, dtype: str | None = None):
        super().__init__(name or self.default_name, dtype)
        self.init_thresholds = thresholds
        self.thresholds = _thresholds(thresholds, 0.5)

    def batch_statistics(self, y_true, y_pred, sample_weight=None) -> list:
        counts = dict(zip(("tp", "fp", "tn", "fn"), confusion_counts(y_true, y_pred, self.thresholds, sample_weight),
                          strict=True))
        return [counts[self.counted]]

    def result_from(self, totals):
        (total,) = totals
        return total[0] if len(self.thresholds) == 1 else total

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConfusionCount):
    """Predictions above the threshold whose label is positive."""


class FalsePositives(_ConfusionCount):
    """Predictions above the threshold whose label is negative."""

    counted, default_name = "fp", "false_positives"


class TrueNegatives(_ConfusionCount):
    """Predictions at or below the threshold whose label is negative."""

    counted, default_name = "tn", "true_negatives"


class FalseNegatives(_ConfusionCount):
    """Predictions at or below the threshold whose label is positive."""

    counted, default_name = "fn", "false_negatives"


_CURVES = ("ROC", "PR")
_SUMMATIONS = ("interpolation", "minoring", "majoring")


def auc_thresholds(num_thresholds: int) -> list[float]:
    """Keras' evenly spaced thresholds in [0, 1], with the ends moved just outside it (by 1e-7)."""
    inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return [-KERAS_EPSILON, *inner, 1.0 + KERAS_EPSILON]


class AUC(Metric):
    """Area under the ROC (or PR) curve from confusion counts at ``num_thresholds`` thresholds.

    Riemann sum over consecutive thresholds; ``"interpolation"`` averages
    the heights (trapezoids; for PR, Davis & Goadrich's interpolation, as
    Keras), ``"minoring"``/``"majoring"`` take the lower/upper one.  Given
    ``thresholds`` replace the evenly spaced ones (the two ends just
    outside [0, 1] are added).  See the module docstring for
    ``multi_label``, ``label_weights`` and ``from_logits``.
    """

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str | None = None,
        dtype: str | None = None,
        thresholds=None,
        multi_label: bool = False,
        num_labels: int | None = None,
        label_weights=None,
        from_logits: bool = False,
    ):
        super().__init__(name or "auc", dtype)
        if curve not in _CURVES or summation_method not in _SUMMATIONS:
            raise ValueError(
                f"AUC expects curve in {_CURVES} and summation_method in {_SUMMATIONS}. "
                f"Received: curve={curve!r}, summation_method={summation_method!r}"
            )
        if thresholds is not None:
            inner = sorted(_thresholds(thresholds, 0.5))
            self.thresholds = [-KERAS_EPSILON, *inner, 1.0 + KERAS_EPSILON]
            num_thresholds = len(self.thresholds)
        elif isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) or (
            num_thresholds <= 1
        ):
            raise ValueError(
                f"num_thresholds must be an integer > 1. Received: num_thresholds={num_thresholds!r}"
            )
        else:
            self.thresholds = auc_thresholds(num_thresholds)
        self.num_thresholds, self.curve, self.summation_method = (
            num_thresholds, curve, summation_method,
        )
        self.init_thresholds = None if thresholds is None else list(thresholds)
        self.multi_label, self.from_logits = bool(multi_label), bool(from_logits)
        self.num_labels = _optional_int(num_labels, "num_labels", 1)
        self.label_weights = None if label_weights is None else [float(w) for w in label_weights]
        if self.label_weights is not None and min(self.label_weights, default=0.0) < 0:
            raise ValueError(
                f"All values of label_weights must be non-negative. Received: {label_weights!r}"
            )

    def batch_statistics(self, y_true, y_pred, sample_weight=None) -> list:
        y_pred = th.as_tensor_variable(y_pred)
        if self.from_logits:
            y_pred = th.sigmoid(y_pred)
        if self.multi_label and y_pred.ndim != 2:
            raise ValueError(
                f"{self.name}: multi_label=True expects predictions of shape (batch, labels). "
                f"Received: y_pred of shape {y_pred.type.shape}"
            )
        return confusion_counts(
            y_true, y_pred, self.thresholds, sample_weight, per_label=self.multi_label,
            label_weights=None if self.multi_label else self.label_weights,
        )

    def result_from(self, totals):
        areas = self._areas(*totals)
        if not self.multi_label:
            return float(areas)
        if self.label_weights is None:
            return float(np.mean(areas))
        weights = np.asarray(self.label_weights)
        return float(_divide(np.sum(areas * weights), np.sum(weights)))

    def _areas(self, tp, fp, tn, fn):
        """The area under the curve along the last (threshold) axis."""
        if self.curve == "PR" and self.summation_method == "interpolation":
            return _interpolated_pr_auc(tp, fp, fn)
        recall = _divide(tp, tp + fn)
        x, y = (
            (_divide(fp, fp + tn), recall) if self.curve == "ROC"
            else (recall, _divide(tp, tp + fp))
        )
        low, high = y[..., :-1], y[..., 1:]
        heights = {
            "interpolation": (low + high) / 2.0,
            "minoring": np.minimum(low, high),
            "majoring": np.maximum(low, high),
        }[self.summation_method]
        return np.sum((x[..., :-1] - x[..., 1:]) * heights, axis=-1)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "thresholds": self.init_thresholds,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": self.label_weights,
            "from_logits": self.from_logits,
        }


def _interpolated_pr_auc(tp, fp, fn):
    """PR-AUC with precision interpolated between thresholds (Davis & Goadrich 2006), as Keras;
    along the last axis."""
    dtp = tp[..., :-1] - tp[..., 1:]
    predicted = tp + fp
    dp = predicted[..., :-1] - predicted[..., 1:]
    slope = _divide(dtp, np.maximum(dp, 0))
    intercept = tp[..., 1:] - slope * predicted[..., 1:]
    both_positive = (predicted[..., :-1] > 0) & (predicted[..., 1:] > 0)
    ratio = np.where(
        both_positive, _divide(predicted[..., :-1], np.maximum(predicted[..., 1:], 0)), 1.0
    )
    increments = _divide(
        slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[..., 1:] + fn[..., 1:], 0)
    )
    return np.sum(increments, axis=-1)


def _rates(tp, fp, tn, fn) -> dict:
    """The four rates of the summed counts, by name (0 where a denominator is 0)."""
    return {"sensitivity": _divide(tp, tp + fn), "specificity": _divide(tn, tn + fp),
            "recall": _divide(tp, tp + fn), "precision": _divide(tp, tp + fp)}


class _RateAtRate(Metric):
    """The best ``dependent`` rate over the thresholds where the ``constrained`` rate is >= ``value``
    (0 when none is), as Keras 3's ``SensitivitySpecificityBase``.

    ``num_thresholds`` evenly spaced thresholds ``[0, ..., 1]`` (predictions
    clipped to [0, 1] first, as Keras' bucketed counting does), or ``[0.5]``
    for one; ``class_id`` counts one column of the last axis.
    """

    constrained = "specificity"
    dependent = "sensitivity"

    def __init__(self, value, num_thresholds: int = 200, class_id: int | None = None, name: str | None = None,
                 dtype: str | None = None):
        super().__init__(name, dtype)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not 0 <= value <= 1:
            raise ValueError(f"Argument `{self.constrained}` must be in the range [0, 1]. "
                             f"Received: {self.constrained}={value!r}")
        if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, (int, np.integer)) or (
            num_thresholds <= 0
        ):
            raise ValueError(f"Argument `num_thresholds` must be an integer > 0. "
                             f"Received: num_thresholds={num_thresholds!r}")
        self.value, self.num_thresholds = float(value), int(num_thresholds)
        self.class_id = _optional_int(class_id, "class_id", 0)
        self.evenly = self.num_thresholds > 1
        self.thresholds = [0.0, *auc_thresholds(self.num_thresholds)[1:-1], 1.0] if self.evenly else [0.5]

    def batch_statistics(self, y_true, y_pred, sample_weight=None) -> list:
        y_pred = th.as_tensor_variable(y_pred)
        if self.evenly:
            y_pred = th.clip(y_pred, 0.0, 1.0)
        return confusion_counts(y_true, y_pred, self.thresholds, sample_weight, class_id=self.class_id)

    def result_from(self, totals):
        rates = _rates(*totals)
        feasible = rates[self.constrained] >= self.value
        return float(np.max(np.where(feasible, rates[self.dependent], 0.0), initial=0.0))

    def get_config(self) -> dict:
        return {**super().get_config(), "class_id": self.class_id, "num_thresholds": self.num_thresholds,
                self.constrained: self.value}


class SensitivityAtSpecificity(_RateAtRate):
    """The best sensitivity ``tp / (tp + fn)`` where the specificity ``tn / (tn + fp)`` >= ``specificity``."""

    def __init__(self, specificity, num_thresholds: int = 200, class_id: int | None = None,
                 name: str | None = None, dtype: str | None = None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)


class SpecificityAtSensitivity(_RateAtRate):
    """The best specificity where the sensitivity >= ``sensitivity``."""

    constrained, dependent = "sensitivity", "specificity"

    def __init__(self, sensitivity, num_thresholds: int = 200, class_id: int | None = None,
                 name: str | None = None, dtype: str | None = None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)


class PrecisionAtRecall(_RateAtRate):
    """The best precision ``tp / (tp + fp)`` where the recall ``tp / (tp + fn)`` >= ``recall``."""

    constrained, dependent = "recall", "precision"

    def __init__(self, recall, num_thresholds: int = 200, class_id: int | None = None,
                 name: str | None = None, dtype: str | None = None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)


class RecallAtPrecision(_RateAtRate):
    """The best recall where the precision >= ``precision`` (0 when no threshold reaches it)."""

    constrained, dependent = "precision", "recall"

    def __init__(self, precision, num_thresholds: int = 200, class_id: int | None = None,
                 name: str | None = None, dtype: str | None = None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)
