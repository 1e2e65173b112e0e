"""Input standardization: what the user passes to fit/evaluate/predict, as arrays.

``x`` (an array, a list in input order or a dict by input name), ``y`` (an
array, a list or a dict by output name) and ``sample_weight`` become one
``Data`` record: the model inputs cast to the input dtypes, the targets of
the outputs that have a loss and one weight vector per such output;
``with_class_weight`` multiplies ``class_weight`` into the weights of the
training data.  ``ArrayBatches`` cuts a ``Data`` record into the batches
of one epoch; ``DatasetBatches`` and ``GeneratorBatches`` read batches
from a ``PyDataset``-style sequence or a generator, and ``EpochIterator``
deals them out epoch by epoch (``steps_per_epoch``).

Targets keep integer labels as int64 and turn everything else into
``floatX``; ``target_specs`` records the rank and dtype of each target,
which the compiled step functions are traced with.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

import theanine as th
from theanine.frontend.compile_utils import CompiledOutputs
from theanine.frontend.layers.base import describe_shape

__all__ = [
    "Data",
    "ArrayBatches",
    "DatasetBatches",
    "GeneratorBatches",
    "EpochIterator",
    "is_batch_stream",
    "batch_source",
    "unpack_batch",
    "standardize_x",
    "standardize_y",
    "target_specs",
    "sample_weights",
    "with_class_weight",
    "class_weights",
    "common_length",
    "batch_size_of",
    "unpack_validation",
    "placeholder_dtype",
]

DEFAULT_BATCH_SIZE = 32


@dataclass
class Data:
    """Model inputs, targets (of the outputs with a loss) and their sample weights: ``n`` samples each."""

    xs: list[np.ndarray]
    ys: list[np.ndarray]
    sws: list[np.ndarray]
    n: int

    def take(self, index) -> Data:
        """The samples at ``index`` (a slice or an index array) of every array."""
        xs = [a[index] for a in self.xs]
        return Data(
            xs, [a[index] for a in self.ys], [a[index] for a in self.sws], len(xs[0]) if xs else 0
        )

    def arrays(self) -> list[np.ndarray]:
        """The arguments of a compiled train or test function, in order."""
        return [*self.xs, *self.ys, *self.sws]


# ----------------------------------------------------------------------------- batch sources
#
# A batch source has ``num_batches`` (None when unknown), ``epoch()`` (the
# batches of one pass, as ``Data`` records) and ``on_epoch_end()``.


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
        self.source, self.steps_per_epoch = source, steps_per_epoch
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


# ----------------------------------------------------------------------------- inputs


def standardize_x(model, x) -> list[np.ndarray]:
    """Model inputs as a list of arrays in input order, cast to the input dtypes.

    A model that is not built yet is built from the arrays' shapes and dtypes.
    """
    if x is None:
        raise ValueError(f"{model.name}: x is required")
    if isinstance(x, Mapping):
        names = model.input_names if getattr(model, "inputs", None) else sorted(x)
        missing = [n for n in names if n not in x]
        if missing:
            raise ValueError(
                f"{model.name}: x is missing input(s) {missing}; given keys {sorted(x)}"
            )
        arrays = [np.asarray(x[n]) for n in names]
    elif isinstance(x, (list, tuple)):
        arrays = [np.asarray(a) for a in x]
    else:
        arrays = [np.asarray(x)]
    if not model.built:
        model.build_from_specs([((None, *a.shape[1:]), placeholder_dtype(a)) for a in arrays])
    specs = model.input_specs()
    if len(arrays) != len(specs):
        raise ValueError(
            f"{model.name} expects {len(specs)} input array(s), received {len(arrays)}"
        )
    return [
        _cast_input(a, shape, dtype, i, model.name)
        for i, (a, (shape, dtype)) in enumerate(zip(arrays, specs, strict=True))
    ]


def placeholder_dtype(array: np.ndarray) -> str:
    """Integer data (token ids, class labels) stays integer; everything else is ``floatX``."""
    return "int64" if array.dtype.kind in "iu" else th.config.floatX


def _cast_input(
    array: np.ndarray, shape: tuple, dtype: str, index: int, model_name: str
) -> np.ndarray:
    if array.ndim != len(shape) or any(
        s is not None and s != a for s, a in zip(shape[1:], array.shape[1:], strict=True)
    ):
        raise ValueError(
            f"{model_name}: input {index} expected shape {describe_shape(shape)}, received an "
            f"array of shape {array.shape}"
        )
    return np.ascontiguousarray(array, dtype=dtype)


# ----------------------------------------------------------------------------- targets


def standardize_y(compiled: CompiledOutputs, y, model_name: str) -> list[np.ndarray | None]:
    """Targets as a list aligned with the outputs (None for outputs without a loss)."""
    names = [spec.name for spec in compiled.outputs]
    if isinstance(y, Mapping):
        unknown = sorted(set(y) - set(names))
        if unknown:
            raise ValueError(
                f"{model_name}: y has unknown output name(s) {unknown}; outputs are {names}"
            )
        arrays = [None if y.get(n) is None else np.asarray(y[n]) for n in names]
    elif isinstance(y, (list, tuple)) and len(names) > 1:
        arrays = [np.asarray(a) for a in y]
    else:
        arrays = [None if y is None else np.asarray(y)]
    if len(arrays) != len(names):
        raise ValueError(
            f"{model_name} has {len(names)} outputs {names}; received {len(arrays)} target array(s)"
        )
    for i in compiled.with_loss:
        if arrays[i] is None:
            raise ValueError(f"{model_name}: output {names[i]!r} has a loss but no target in y")
    return [a if i in compiled.with_loss else None for i, a in enumerate(arrays)]


def target_specs(ys: list[np.ndarray | None]) -> list[tuple[int, str]]:
    """``(rank, dtype)`` of each target placeholder (a dummy for outputs without a target)."""
    return [(0, "float32") if y is None else (y.ndim, placeholder_dtype(y)) for y in ys]


# ----------------------------------------------------------------------------- weights


def sample_weights(
    compiled: CompiledOutputs, sample_weight, n: int, model_name: str
) -> list[np.ndarray]:
    """One ``(n,)`` weight vector per output with a loss (ones where none is given)."""
    names = [spec.name for spec in compiled.outputs]
    if isinstance(sample_weight, Mapping):
        given = [sample_weight.get(name) for name in names]
    elif isinstance(sample_weight, (list, tuple)) and len(names) > 1:
        given = list(sample_weight)
    else:
        given = [sample_weight] * len(names)
    weights = []
    for i in compiled.with_loss:
        w = (
            np.ones(n, th.config.floatX)
            if given[i] is None
            else np.asarray(given[i], th.config.floatX)
        )
        if w.shape != (n,):
            raise ValueError(
                f"{model_name}: sample_weight for {names[i]!r} must have shape ({n},), got "
                f"{w.shape}"
            )
        weights.append(w)
    return weights


def with_class_weight(data: Data, class_weight: Mapping | None) -> Data:
    """``data`` with each sample weight multiplied by the weight of the sample's class.

    Fit applies it to the training batches only, never to validation data.
    """
    if class_weight is None:
        return data
    sws = [w * class_weights(class_weight, y) for w, y in zip(data.sws, data.ys, strict=True)]
    return Data(data.xs, data.ys, sws, data.n)


def class_weights(class_weight: Mapping, y: np.ndarray) -> np.ndarray:
    """Per-sample weights from a ``{class: weight}`` dict, as Keras 3 computes them.

    Labels are ``(n,)`` or ``(n, 1)`` class indices (rounded to the nearest
    integer) or ``(n, classes)`` one-hot rows (their arg-max); a class the
    dict does not name has weight 1.
    """
    if not isinstance(class_weight, Mapping):
        raise ValueError(
            "class_weight must be a dict mapping class indices to weights. Received: "
            f"class_weight={class_weight!r}"
        )
    table = {_class_index(k): float(v) for k, v in class_weight.items()}
    if y.ndim > 2:
        raise ValueError(
            "class_weight needs targets of shape (n,), (n, 1) or (n, classes); received "
            f"targets of shape {y.shape}"
        )
    labels = y.argmax(axis=-1) if y.ndim == 2 and y.shape[-1] != 1 else y.reshape(len(y))
    labels = np.round(labels).astype("int64")
    return np.asarray([table.get(int(c), 1.0) for c in labels], th.config.floatX)


def _class_index(key) -> int:
    """A class_weight key as a class index: an integer, or text or a float that is one."""
    try:
        index = int(key)
    except (TypeError, ValueError):
        index = None
    if index is None or isinstance(key, (bool, np.bool_)) or float(key) != index:
        raise ValueError(
            f"class_weight keys must be integer class indices. Received the key {key!r}"
        )
    return index


# ----------------------------------------------------------------------------- arguments


def common_length(arrays: list[np.ndarray], model_name: str) -> int:
    """The number of samples every array holds (they must agree)."""
    lengths = sorted({len(a) for a in arrays})
    if len(lengths) != 1:
        raise ValueError(
            f"{model_name}: all input and target arrays need the same number of samples; got "
            f"{lengths}"
        )
    return lengths[0]


def batch_size_of(batch_size) -> int:
    """``batch_size`` checked (a positive integer), Keras' 32 when None."""
    if batch_size is None:
        return DEFAULT_BATCH_SIZE
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size <= 0
    ):
        raise ValueError(f"expected a positive integer. Received: batch_size={batch_size!r}")
    return int(batch_size)


def unpack_validation(data) -> tuple:
    """``(x_val, y_val, sample_weight_val)`` from fit's ``validation_data``."""
    if not isinstance(data, (list, tuple)) or len(data) not in (2, 3):
        raise ValueError(
            "validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight_val)"
        )
    return tuple(data) if len(data) == 3 else (data[0], data[1], None)
