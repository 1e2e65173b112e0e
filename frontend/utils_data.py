"""Keras' data utilities on NumPy arrays: ``split_dataset``, ``timeseries_dataset_from_array``,
``pack_x_y_sample_weight`` / ``unpack_x_y_sample_weight`` and ``normalize``.

Keras returns ``tf.data`` datasets from the first two; theanine has no
``tf.data``, so ``split_dataset`` returns the two halves in the structure it
was given (an array, a tuple/list or a dict of arrays, split along the
first axis) and ``timeseries_dataset_from_array`` a ``PyDataset`` of
``(windows, targets)`` batches, which ``fit``, ``evaluate`` and
``predict`` take as they are.  Sizes, index arithmetic and error checks
follow Keras' (``dataset_utils.py``, ``timeseries_dataset_utils.py``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

import numpy as np

from theanine.frontend.batches import unpack_batch
from theanine.frontend.py_dataset import PyDataset

__all__ = ["split_dataset", "timeseries_dataset_from_array", "TimeseriesDataset", "pack_x_y_sample_weight",
           "unpack_x_y_sample_weight", "normalize"]


def _leaves(dataset) -> list[np.ndarray]:
    if isinstance(dataset, Mapping):
        return [np.asarray(v) for v in dataset.values()]
    if isinstance(dataset, (tuple, list)):
        return [np.asarray(v) for v in dataset]
    return [np.asarray(dataset)]


def _take(dataset, index: np.ndarray):
    """``dataset`` (same structure) restricted to the samples ``index``."""
    if isinstance(dataset, Mapping):
        return {k: np.asarray(v)[index] for k, v in dataset.items()}
    if isinstance(dataset, (tuple, list)):
        return type(dataset)(np.asarray(v)[index] for v in dataset)
    return np.asarray(dataset)[index]


def _size(value, total: int, side: str) -> int | None:
    """A split size as a count: an int count, a float fraction (rounded), or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"split_dataset: {side}_size must be an int, a float or None. Received: {value!r}")
    if isinstance(value, float):
        if not 0 < value < 1:
            raise ValueError(f"split_dataset: a float {side}_size must be in (0, 1). Received: {value}")
        return round(value * total)
    if not 0 < value < total:
        raise ValueError(f"split_dataset: an int {side}_size must be in (0, {total}). Received: {value}")
    return value


def split_dataset(dataset, left_size=None, right_size=None, shuffle: bool = False, seed=None,
                  preferred_backend=None):
    """``(left, right)``: the first ``left_size`` samples and the last ``right_size`` (counts or
    fractions; a missing one is the rest), each in ``dataset``'s structure."""
    leaves = _leaves(dataset)
    total = len(leaves[0])
    if any(len(leaf) != total for leaf in leaves):
        raise ValueError(f"split_dataset: every array needs the same first dimension. Received lengths "
                         f"{[len(leaf) for leaf in leaves]}")
    if left_size is None and right_size is None:
        raise ValueError("split_dataset: give left_size or right_size (or both). Received neither")
    left, right = _size(left_size, total, "left"), _size(right_size, total, "right")
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total or min(left, right) <= 0:
        raise ValueError(f"split_dataset: left_size={left_size} and right_size={right_size} give splits of "
                         f"{left} and {right} samples from {total}; each must be non-empty and they must fit")
    order = list(range(total))
    if shuffle:
        random.Random(random.randint(0, 10**6) if seed is None else seed).shuffle(order)
    order = np.asarray(order)
    return _take(dataset, order[:left]), _take(dataset, order[total - right:])


class TimeseriesDataset(PyDataset):
    """Batches of windows ``data[start + p : start + p + length * rate : rate]`` with targets
    ``targets[start + p]``, one per start position ``p`` (see ``timeseries_dataset_from_array``)."""

    def __init__(self, data, targets, positions: np.ndarray, offsets: np.ndarray, batch_size: int | None):
        super().__init__()
        self.data, self.targets = data, targets
        self.positions, self.offsets = positions, offsets
        self.batch_size = len(positions) if batch_size is None else batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.positions) / self.batch_size)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"TimeseriesDataset: batch {index} of {len(self)}")
        starts = self.positions[index * self.batch_size:(index + 1) * self.batch_size]
        windows = np.asarray(self.data)[starts[:, None] + self.offsets]
        if self.targets is None:
            return windows
        return windows, np.asarray(self.targets)[starts]


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"timeseries_dataset_from_array: {name} must be a positive int. Received: {name}={value!r}")
    return int(value)


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1, sampling_rate=1,
                                  batch_size=128, shuffle=False, seed=None, start_index=None, end_index=None):
    """Sliding windows over ``data`` (its first axis is time), in batches of ``batch_size``.

    Window ``i`` is ``sequence_length`` steps taken every ``sampling_rate``
    steps from position ``start_index + i * sequence_stride``; its target is
    ``targets`` at that first position.  ``shuffle`` shuffles the windows
    (the same order for the same ``seed``).
    """
    sequence_length, sequence_stride = _positive("sequence_length", sequence_length), \
        _positive("sequence_stride", sequence_stride)
    sampling_rate = _positive("sampling_rate", sampling_rate)
    if batch_size is not None:
        _positive("batch_size", batch_size)
    length = len(data)
    start = 0 if start_index is None else int(start_index)
    end = length if end_index is None else int(end_index)
    if not 0 <= start < length or not start < end <= length:
        raise ValueError(f"timeseries_dataset_from_array: need 0 <= start_index < end_index <= len(data) = "
                         f"{length}. Received: start_index={start_index}, end_index={end_index}")
    count = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        count = min(count, len(targets) - start)
    positions = np.arange(0, max(count, 0), sequence_stride, dtype="int64")
    if shuffle:
        np.random.RandomState(np.random.randint(10**6) if seed is None else seed).shuffle(positions)
    offsets = np.arange(0, sequence_length * sampling_rate, sampling_rate, dtype="int64")
    return TimeseriesDataset(data, targets, positions + start, offsets, batch_size)


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """``x``, ``(x,)`` (for a tuple/list ``x``), ``(x, y)`` or ``(x, y, sample_weight)`` as ``fit`` reads."""
    if y is None:
        return (x,) if isinstance(x, (tuple, list)) else x
    return (x, y) if sample_weight is None else (x, y, sample_weight)


def unpack_x_y_sample_weight(data) -> tuple:
    """``(x, y, sample_weight)`` from ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``."""
    return unpack_batch(data)


def normalize(x, axis=-1, order=2):
    """``x`` divided by its ``order``-norm along ``axis`` (zero norms left as 1), as Keras'.

    (Keras 3.15 re-expands the norms along ``axis or -1``, so ``axis=0`` divides along the wrong
    axis there; here the norms broadcast back along ``axis``.)"""
    if not isinstance(x, np.ndarray):
        from theanine.frontend import ops

        return ops.normalize(x, axis=axis, order=order)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, -1 if axis is None else axis)
