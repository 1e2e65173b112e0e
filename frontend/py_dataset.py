"""Keras' ``PyDataset``: the base class of indexable batch sources.

``dataset[i]`` is batch ``i`` (``x``, ``(x, y)`` or ``(x, y, sample_weight)``),
``len(dataset)`` the number of batches, and ``on_epoch_end()`` runs after
every epoch (e.g. to reshuffle).  Batches are produced in the calling
thread, one after the other; ``workers``, ``use_multiprocessing`` and
``max_queue_size`` are accepted for Keras compatibility and recorded.
"""

from __future__ import annotations

__all__ = ["PyDataset"]


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
