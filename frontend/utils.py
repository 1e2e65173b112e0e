"""Keras' ``keras.utils``: ``to_categorical``, ``pad_sequences``, ``PyDataset``, the
serialization registry and ``plot_model``/``model_to_dot`` (``plotting.py``).

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
    "set_random_seed",
    "to_categorical",
    "pad_sequences",
    "PyDataset",
    "register_keras_serializable",
    "custom_object_scope",
    "get_custom_objects",
    "model_to_dot",
    "plot_model",
]

register_keras_serializable = register_serializable
"""Keras' name for ``registry.register_serializable``."""


def set_random_seed(seed: int) -> None:
    """Keras' ``utils.set_random_seed``: seed Python's ``random``, NumPy's global generator and
    theanine's default stream (``th.set_seed``: weight initializers, shuffling, Dropout), so a
    script that builds and trains a model gives the same numbers on every run."""
    import random

    import theanine as th

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"set_random_seed: seed must be an int. Received: {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    th.set_seed(int(seed))


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


def pad_sequences(sequences, maxlen: int | None = None, dtype="int32", padding: str = "pre",
                  truncating: str = "pre", value=0.0) -> np.ndarray:
    """Sequences of different lengths as one ``(samples, maxlen, *item_shape)`` array, as Keras'.

    Longer sequences lose their start (``truncating="pre"``) or end ("post"); shorter ones are
    filled with ``value`` before (``padding="pre"``) or after ("post"); ``maxlen`` defaults to
    the longest length.  Id 0 as padding suits ``Embedding(mask_zero=True)``.
    """
    for option, given in (("padding", padding), ("truncating", truncating)):
        if given not in ("pre", "post"):
            raise ValueError(f"pad_sequences: {option} must be 'pre' or 'post'. Received: {option}={given!r}")
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"pad_sequences: sequences must be a list of sequences. Received: {sequences!r}")
    items = []
    for index, sequence in enumerate(sequences):
        if not hasattr(sequence, "__len__"):
            raise ValueError(f"pad_sequences: sequence {index} is not a sequence. Received: {sequence!r}")
        items.append(np.asarray(sequence, dtype=dtype) if len(sequence) else None)
    item_shape = next((item.shape[1:] for item in items if item is not None), ())
    if maxlen is None:
        maxlen = max((0 if item is None else len(item) for item in items), default=0)
    padded = np.full((len(items), int(maxlen), *item_shape), value, dtype=dtype)
    for index, item in enumerate(items):
        if item is None or maxlen == 0:
            continue
        if item.shape[1:] != item_shape:
            raise ValueError(f"pad_sequences: the items of sequence {index} have shape {item.shape[1:]}, those of "
                             f"the first non-empty sequence {item_shape}")
        kept = item[-maxlen:] if truncating == "pre" else item[:maxlen]
        if padding == "post":
            padded[index, :len(kept)] = kept
        else:
            padded[index, maxlen - len(kept):] = kept
    return padded


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
