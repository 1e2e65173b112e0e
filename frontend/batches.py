"""Batch sources: the batches of each epoch, from arrays, a ``PyDataset`` or a generator.

A batch source has ``num_batches`` (None when unknown), ``epoch()`` (the
batches of one pass, as ``data_adapter.Data`` records) and
``on_epoch_end()``:

- ``ArrayBatches`` cuts one ``Data`` record into ``batch_size`` slices,
  reshuffled each epoch when asked;
- ``DatasetBatches`` reads ``dataset[i]`` for ``i < len(dataset)`` (Keras'
  ``PyDataset`` protocol) and calls its epoch hooks;
- ``GeneratorBatches`` reads a generator, which can be read only once.

Raw batches of the last two (``x``, ``(x, y)`` or ``(x, y,
sample_weight)``) become ``Data`` through a ``convert`` function the
trainer gives.  ``EpochIterator`` deals the batches out epoch by epoch,
with Keras' ``steps_per_epoch`` semantics.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from theanine.frontend import keras_settings  # noqa: F401  (the max_steps_per_epoch setting)
from theanine.frontend.data_adapter import Data
from theanine.graph.config import config

__all__ = [
    "ArrayBatches",
    "DatasetBatches",
    "GeneratorBatches",
    "EpochIterator",
    "is_batch_stream",
    "batch_source",
    "unpack_batch",
]


class ArrayBatches:
    """The batches of ``data`` for one epoch: ``batch_size`` samples each, the last one smaller.

    With ``shuffle`` every epoch draws a new order from ``rng``.
    """

    def __init__(self, data: Data, batch_size: int, shuffle: bool = False, rng=None):
        self.data, self.batch_size, self.shuffle, self.rng = data, batch_size, shuffle, rng
        self.num_batches = math.ceil(data.n / batch_size)

    def epoch(self) -> Iterator[Data]:
        """Yield the batches of one pass over the data."""
        order = self.rng.permutation(self.data.n) if self.shuffle else None
        for step in range(self.num_batches):
            part = slice(step * self.batch_size, (step + 1) * self.batch_size)
            yield self.data.take(part if order is None else order[part])

    def on_epoch_end(self) -> None:
        """Arrays need nothing at the end of an epoch."""


class DatasetBatches:
    """The batches of a ``PyDataset``-style sequence: ``dataset[i]`` for ``i < len(dataset)``.

    ``convert`` turns each raw batch into a ``Data`` record; the dataset's
    ``on_epoch_begin``/``on_epoch_end`` run around each pass, as in Keras.
    """

    def __init__(self, dataset, convert: Callable[[Any], Data]):
        self.dataset, self.convert = dataset, convert
        self.num_batches = len(dataset)

    def epoch(self) -> Iterator[Data]:
        begin = getattr(self.dataset, "on_epoch_begin", None)
        if callable(begin):
            begin()
        for index in range(self.num_batches):
            yield self.convert(self.dataset[index])

    def on_epoch_end(self) -> None:
        end = getattr(self.dataset, "on_epoch_end", None)
        if callable(end):
            end()


class GeneratorBatches:
    """The batches a Python generator (any iterator) yields; it can be read only once."""

    def __init__(self, iterator: Iterator, convert: Callable[[Any], Data]):
        self.iterator, self.convert = iterator, convert
        self.num_batches = None

    def epoch(self) -> Iterator[Data]:
        """The batches still to come, until the iterator is exhausted."""
        for batch in self.iterator:
            yield self.convert(batch)

    def on_epoch_end(self) -> None:
        """A generator needs nothing at the end of an epoch."""


def is_batch_stream(x) -> bool:
    """Whether ``x`` yields batches itself: a generator/iterator or an indexable sequence of
    batches (``PyDataset``-style), rather than arrays or a list/dict of arrays."""
    if isinstance(x, (np.ndarray, list, tuple, Mapping, str, bytes)) or hasattr(x, "__array__"):
        return False
    is_sequence = hasattr(x, "__getitem__") and hasattr(x, "__len__")
    return is_sequence or isinstance(x, Iterator)


def batch_source(x, convert: Callable[[Any], Data]):
    """``DatasetBatches`` for a sequence of batches, ``GeneratorBatches`` for an iterator."""
    if hasattr(x, "__getitem__") and hasattr(x, "__len__"):
        return DatasetBatches(x, convert)
    return GeneratorBatches(x, convert)


def unpack_batch(batch) -> tuple:
    """``(x, y, sample_weight)`` of a batch a stream yields: ``x``, ``(x,)``, ``(x, y)`` or
    ``(x, y, sample_weight)`` (Keras' ``unpack_x_y_sample_weight``)."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        return batch, None, None
    if 1 <= len(batch) <= 3:
        return (*batch, *([None] * (3 - len(batch))))
    raise ValueError(
        "a batch must be x, (x,), (x, y) or (x, y, sample_weight). Received a tuple of "
        f"{len(batch)} entries"
    )


class EpochIterator:
    """The batches of each epoch from a source, as Keras' ``EpochIterator`` gives them.

    Without ``steps_per_epoch`` an epoch is one pass over the source (a
    generator's pass lasts until it is exhausted, so it has one epoch).  With
    it, an epoch is the next ``steps_per_epoch`` batches of a running pass,
    and a new pass starts when one ends.  ``ran_out`` tells that an epoch
    got fewer batches than it asked for, or that a generator is exhausted:
    the caller warns and stops.
    """

    def __init__(self, source, steps_per_epoch: int | None = None):
        self.source, self.steps_per_epoch = source, _capped_steps(steps_per_epoch, source.num_batches)
        self.ran_out = False
        self._pass: Iterator[Data] | None = None
        self._seen = 0

    @property
    def steps(self) -> int | None:
        """Batches per epoch, None when unknown (a generator without ``steps_per_epoch``)."""
        return self.steps_per_epoch or self.source.num_batches

    def epoch(self) -> Iterator[Data]:
        """Yield the batches of the next epoch."""
        if self.steps_per_epoch is None:
            yield from self.source.epoch()
            self.ran_out = self.source.num_batches is None
        else:
            yield from self._next_steps()
        self.source.on_epoch_end()

    def _next_steps(self) -> Iterator[Data]:
        if self._pass is None:
            self._pass, self._seen = self.source.epoch(), 0
        for _ in range(self.steps_per_epoch):
            batch = next(self._pass, None)
            if batch is None:
                self._pass, self.ran_out = None, True
                return
            self._seen += 1
            yield batch
        if self.source.num_batches is not None and self._seen >= self.source.num_batches:
            self._pass = None


def _capped_steps(steps: int | None, available: int | None) -> int | None:
    """``steps`` under ``keras.config.max_steps_per_epoch()`` (warning as Keras when it cuts);
    a cap above a sized source's batch count leaves the epoch one pass."""
    cap = config.max_steps_per_epoch
    if cap is None or (steps is not None and steps <= cap) or (steps is None and available is not None
                                                                 and available <= cap):
        return steps
    warnings.warn(f"Limiting steps_per_epoch to {cap} (keras.config.max_steps_per_epoch)", stacklevel=3)
    return cap
