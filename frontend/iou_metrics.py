"""Intersection-over-union metrics (``keras.metrics.IoU`` and its family), as Keras 3 computes them.

Each batch contributes a weighted confusion matrix ``cm[true, predicted]``
of shape ``(num_classes, num_classes)`` (``confusion_matrix``, compiled into
the step); the result comes from the summed matrix on the host.  Labels and
predictions are class ids (``sparse_y_true``/``sparse_y_pred``), or scores
whose arg-max along ``axis`` is the id.  Entries whose label or prediction
lies outside ``[0, num_classes)``, and entries labelled ``ignore_class``,
are left out (Keras' bounds mask).  A class's IoU is ``tp / (tp + fp + fn
+ 1e-7)``; the result is the mean over the ``target_class_ids`` whose
denominator is not 0 (absent classes count neither way).

One difference from Keras: Keras keeps the matrix in its ``dtype``
(default "int", so float sample weights are truncated, with a warning);
here the counts are float64 and weights are used as given.
"""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.frontend.metric_base import Metric

__all__ = ["IoU", "MeanIoU", "BinaryIoU", "OneHotIoU", "OneHotMeanIoU", "confusion_matrix"]

KERAS_EPSILON = 1e-7


def confusion_matrix(labels, predictions, num_classes: int, weights=None, ignore_class: int | None = None):
    """The weighted ``(num_classes, num_classes)`` matrix: rows true class ids, columns predicted.

    ``labels`` and ``predictions`` are integer tensors of one shape; ``weights``
    (optional) broadcasts to it after trailing axes are added.  Out-of-range ids
    and ``ignore_class`` labels weigh 0.  Computed as ``onehot(labels)^T @
    (weights * onehot(predictions))``: memory linear in the number of entries.
    """
    labels, predictions = th.flatten(labels), th.flatten(predictions)
    inside = th.logical_and(
        th.logical_and(labels >= 0, labels < num_classes),
        th.logical_and(predictions >= 0, predictions < num_classes),
    )
    if ignore_class is not None:
        inside = th.logical_and(inside, th.neq(labels, ignore_class))
    weight = th.cast(inside, "float64")
    if weights is not None:
        weight = weight * th.flatten(th.cast(weights, "float64"))
    labels = th.where(inside, labels, th.zeros_like(labels))
    predictions = th.where(inside, predictions, th.zeros_like(predictions))
    rows = th.one_hot(labels, num_classes, "float64") * th.DimShuffle([0, "x"])(weight)
    return th.dot(th.DimShuffle([1, 0])(rows), th.one_hot(predictions, num_classes, "float64"))


def _class_ids(values, sparse: bool, axis: int):
    values = th.as_tensor_variable(values)
    if not sparse:
        values = th.argmax(values, axis=axis)
    return values if values.dtype.startswith(("int", "uint")) else th.cast(values, "int64")


def _broadcast_weight(sample_weight, like):
    """The sample weights with trailing axes added and broadcast to ``like``'s shape."""
    weight = th.cast(th.as_tensor_variable(sample_weight), "float64")
    while weight.ndim < like.ndim:
        weight = th.DimShuffle([*range(weight.ndim), "x"])(weight)
    return weight * th.ones_like(like, dtype="float64")


def _check_class_count(num_classes, owner: str) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"{owner} expects num_classes to be an integer >= 1. Received: num_classes={num_classes!r}")
    return int(num_classes)


class IoU(Metric):
    """The mean IoU over ``target_class_ids`` (Keras 3's ``IoU``; see the module docstring)."""

    def __init__(self, num_classes: int, target_class_ids, name: str | None = None, dtype: str | None = None,
                 ignore_class: int | None = None, sparse_y_true: bool = True, sparse_y_pred: bool = True,
                 axis: int = -1):
        super().__init__(name, dtype)
        self.num_classes = _check_class_count(num_classes, type(self).__name__)
        ids = [int(i) for i in target_class_ids]
        if not ids or max(ids) >= self.num_classes or min(ids) < 0:
            raise ValueError(
                f"Target class ids must be in [0, {self.num_classes}). Received: target_class_ids={list(ids)!r}"
            )
        self.target_class_ids = ids
        self.ignore_class = None if ignore_class is None else int(ignore_class)
        self.sparse_y_true, self.sparse_y_pred = bool(sparse_y_true), bool(sparse_y_pred)
        self.axis = int(axis)

    def class_ids(self, y_true, y_pred) -> tuple:
        """Integer labels and predictions (arg-max of scores where not sparse)."""
        return (_class_ids(y_true, self.sparse_y_true, self.axis),
                _class_ids(y_pred, self.sparse_y_pred, self.axis))

    def batch_statistics(self, y_true, y_pred, sample_weight=None) -> list:
        labels, predictions = self.class_ids(y_true, y_pred)
        if labels.ndim != predictions.ndim:
            labels, predictions = th.flatten(labels), th.flatten(predictions)
        weight = None if sample_weight is None else _broadcast_weight(sample_weight, labels)
        return [confusion_matrix(labels, predictions, self.num_classes, weight, self.ignore_class)]

    def result_from(self, totals):
        (matrix,) = totals
        tp = np.diag(matrix)
        denominator = (matrix.sum(axis=0) + matrix.sum(axis=1) - tp)[self.target_class_ids]
        valid = denominator > 1e-9
        iou = np.where(valid, tp[self.target_class_ids] / (denominator + KERAS_EPSILON), 0.0)
        return float(iou.sum() / (valid.sum() + KERAS_EPSILON))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes,
                "target_class_ids": self.target_class_ids, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class MeanIoU(IoU):
    """The IoU averaged over every class (``target_class_ids = range(num_classes)``)."""

    def __init__(self, num_classes: int, name: str | None = None, dtype: str | None = None,
                 ignore_class: int | None = None, sparse_y_true: bool = True, sparse_y_pred: bool = True,
                 axis: int = -1):
        count = _check_class_count(num_classes, type(self).__name__)
        super().__init__(count, range(count), name, dtype, ignore_class, sparse_y_true, sparse_y_pred, axis)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["target_class_ids"]
        return config


class BinaryIoU(IoU):
    """IoU of two classes: a prediction ``>= threshold`` is class 1, else class 0."""

    def __init__(self, target_class_ids=(0, 1), threshold: float = 0.5, name: str | None = None,
                 dtype: str | None = None):
        super().__init__(2, target_class_ids, name, dtype)
        self.threshold = float(threshold)

    def class_ids(self, y_true, y_pred) -> tuple:
        predictions = th.cast(th.as_tensor_variable(y_pred) >= self.threshold, "int64")
        return th.cast(th.as_tensor_variable(y_true), "int64"), predictions

    def get_config(self) -> dict:
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold, "name": self.name,
                "dtype": self.dtype}


class OneHotIoU(IoU):
    """``IoU`` of one-hot labels (their arg-max along ``axis`` is the class id)."""

    def __init__(self, num_classes: int, target_class_ids, name: str | None = None, dtype: str | None = None,
                 ignore_class: int | None = None, sparse_y_pred: bool = False, axis: int = -1):
        super().__init__(num_classes, target_class_ids, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """``MeanIoU`` of one-hot labels (their arg-max along ``axis`` is the class id)."""

    def __init__(self, num_classes: int, name: str | None = None, dtype: str | None = None,
                 ignore_class: int | None = None, sparse_y_pred: bool = False, axis: int = -1):
        super().__init__(num_classes, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["sparse_y_true"]
        return config
