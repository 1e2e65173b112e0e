"""Keras' ``keras.utils``: ``to_categorical``, ``PyDataset``, the serialization registry and
``plot_model``/``model_to_dot`` (``plotting.py``).

``PyDataset`` is the base class of indexable batch sources that fit,
evaluate and predict accept in place of arrays: ``dataset[i]`` is batch
``i`` (``x``, ``(x, y)`` or ``(x, y, sample_weight)``), ``len(dataset)``
the number of batches, and ``on_epoch_end()`` runs after every epoch
(e.g. to reshuffle).  Batches are produced in the calling thread, one
after the other; ``workers``, ``use_multiprocessing`` and
``max_queue_size`` are accepted for Keras compatibility and recorded.
"""

from __future__ import annotations

import numpy as np

from theanine.frontend.plotting import model_to_dot, plot_model
from theanine.frontend.registry import (
    custom_object_scope,
    get_custom_objects,
    register_serializable,
)

__all__ = [
    "to_categorical",
    "PyDataset",
    "register_keras_serializable",
    "custom_object_scope",
    "get_custom_objects",
    "model_to_dot",
    "plot_model",
]

register_keras_serializable = register_serializable
"""Keras' name for ``registry.register_serializable``."""


def to_categorical(x, num_classes: int | None = None) -> np.ndarray:
    """One-hot rows (float64, as Keras' NumPy path) for integer labels; the class axis is last.

    A trailing axis of size 1 is dropped first (labels of shape ``(n, 1)``
    give ``(n, num_classes)``); ``num_classes`` defaults to ``max(x) + 1``.
    """
    labels = np.asarray(x)
    if labels.dtype.kind not in "iub" and not np.array_equal(labels, np.round(labels)):
        raise ValueError(f"to_categorical needs integer class labels. Received: x={x!r}")
    labels = labels.astype("int64")
    shape = labels.shape[:-1] if labels.ndim > 1 and labels.shape[-1] == 1 else labels.shape
    flat = labels.reshape(-1)
    if num_classes is None:
        num_classes = int(flat.max()) + 1 if flat.size else 0
    if flat.size and (flat.min() < 0 or flat.max() >= num_classes):
        raise ValueError(
            f"to_categorical needs labels in [0, {num_classes}). Received labels from "
            f"{flat.min()} to {flat.max()} with num_classes={num_classes}"
        )
    categorical = np.zeros((flat.size, num_classes))
    categorical[np.arange(flat.size), flat] = 1.0
    return categorical.reshape((*shape, num_classes))


class PyDataset:
    """Base class of indexable batch sources: write ``__getitem__`` and ``__len__``."""

    def __init__(
        self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10
    ):
        self.workers = int(workers)
        self.use_multiprocessing = bool(use_multiprocessing)
        self.max_queue_size = int(max_queue_size)

    def __getitem__(self, index: int):
        """Batch ``index``: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__()")

    def __len__(self) -> int:
        """The number of batches in one epoch."""
        raise NotImplementedError(f"{type(self).__name__} must implement __len__()")

    @property
    def num_batches(self) -> int:
        """Batches per epoch (``len(self)``)."""
        return len(self)

    def on_epoch_begin(self) -> None:
        """Called before each epoch's first batch."""

    def on_epoch_end(self) -> None:
        """Called after each epoch's last batch."""
