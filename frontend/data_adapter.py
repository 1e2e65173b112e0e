"""Input standardization: what the user passes to fit/evaluate/predict, as arrays.

``x`` (an array, a list in input order or a dict by input name), ``y`` (an
array, a list or a dict by output name) and ``sample_weight`` become one
``Data`` record: the model inputs cast to the input dtypes, the targets of
the outputs that have a loss and one weight vector per such output;
``with_class_weight`` multiplies ``class_weight`` into the weights of the
training data.  ``batches`` cuts such records into the batches of each
epoch.

Targets keep integer labels as int64 and turn everything else into
``floatX``; ``target_specs`` records the rank and dtype of each target,
which the compiled step functions are traced with.

Inputs, targets and sample weights must hold numbers (bool, integer or
float): strings, objects and complex values are refused with a TypeError
naming the argument, instead of being parsed (``"0.5"``) or turned into NaN
(``None``).  Labels of an output trained with sparse categorical
crossentropy must lie in ``[0, classes)`` (or be the loss's
``ignore_class``), as Keras' TensorFlow backend requires: the graph op gives
an out-of-range label a loss of 0, which would train on it silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

import theanine as th
from theanine.frontend import losses as losses_module
from theanine.frontend.compile_utils import CompiledOutputs
from theanine.frontend.layers.base import describe_shape

__all__ = [
    "Data",
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
    "check_numbers",
    "check_sparse_labels",
]

DEFAULT_BATCH_SIZE = 32


@dataclass
class Data:
    """Model inputs, targets (of the outputs with a loss) and their sample weights: ``n`` samples each.

    ``y_structure`` is for a custom ``train_step`` (``custom_steps.py``): how
    the user gave ``y`` -- None (no targets), "single", "list" or the keys
    of a dict.
    """

    xs: list[np.ndarray]
    ys: list[np.ndarray]
    sws: list[np.ndarray]
    n: int
    y_structure: Any = None

    def take(self, index) -> Data:
        """The samples at ``index`` (a slice or an index array) of every array."""
        xs = [a[index] for a in self.xs]
        return Data(
            xs,
            [a[index] for a in self.ys],
            [a[index] for a in self.sws],
            len(xs[0]) if xs else 0,
            self.y_structure,
        )

    def arrays(self) -> list[np.ndarray]:
        """The arguments of a compiled train or test function, in order."""
        return [*self.xs, *self.ys, *self.sws]


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
    for i, a in enumerate(arrays):
        check_numbers(a, f"{model.name}: input {i}")
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
        check_numbers(arrays[i], f"{model_name}: the target of output {names[i]!r}")
    return [a if i in compiled.with_loss else None for i, a in enumerate(arrays)]


def check_numbers(array: np.ndarray, what: str) -> None:
    """TypeError unless ``array`` holds bools, integers or floats (``what`` names it)."""
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{what} has dtype {array.dtype}; expected numbers (bool, integer or float): "
            "convert the data first"
        )


def check_sparse_labels(compiled: CompiledOutputs, ys: list, output_shapes: list, model_name: str) -> None:
    """ValueError naming the output when a label for sparse categorical crossentropy is out of range."""
    for spec, y, shape in zip(compiled.outputs, ys, output_shapes, strict=True):
        loss = spec.loss
        if y is None or shape is None or getattr(loss, "fn", None) is not losses_module.sparse_categorical_crossentropy:
            continue
        classes = shape[loss.options.get("axis", -1)]
        if classes is None:
            continue
        labels = y[..., 0] if y.ndim == len(shape) and y.ndim > 0 else y
        if labels.dtype.kind == "f":
            labels = np.trunc(labels)  # the loss casts float labels to integers
        ignore = loss.options.get("ignore_class")
        valid = ((labels >= 0) & (labels < classes)) | (labels == ignore if ignore is not None else False)
        if not np.all(valid):
            bad = labels[~valid].flat[0]
            skip = "" if ignore is None else f" or ignore_class={ignore}"
            raise ValueError(
                f"{model_name}: output {spec.name!r} has {classes} classes, so its labels for "
                f"sparse categorical crossentropy must lie in [0, {classes}){skip}. Received a label "
                f"value of {bad}"
            )


def target_specs(ys: list[np.ndarray | None]) -> list[tuple[int, str]]:
    """``(rank, dtype)`` of each target placeholder (a dummy for outputs without a target)."""
    return [(0, "float32") if y is None else (y.ndim, placeholder_dtype(y)) for y in ys]


# ----------------------------------------------------------------------------- weights


def sample_weights(
    compiled: CompiledOutputs, sample_weight, n: int, model_name: str
) -> list[np.ndarray]:
    """One weight array per output with a loss (ones where none is given): ``(n,)`` per sample,
    or ``(n, steps)`` per time step of temporal targets, as Keras 3 takes them."""
    names = [spec.name for spec in compiled.outputs]
    if isinstance(sample_weight, Mapping):
        given = [sample_weight.get(name) for name in names]
    elif isinstance(sample_weight, (list, tuple)) and len(names) > 1:
        given = list(sample_weight)
    else:
        given = [sample_weight] * len(names)
    weights = []
    for i in compiled.with_loss:
        if given[i] is not None:
            check_numbers(np.asarray(given[i]), f"{model_name}: sample_weight for {names[i]!r}")
        w = (
            np.ones(n, th.config.floatX)
            if given[i] is None
            else np.asarray(given[i], th.config.floatX)
        )
        if w.ndim not in (1, 2) or w.shape[0] != n:
            raise ValueError(
                f"{model_name}: sample_weight for {names[i]!r} must have shape ({n},), or "
                f"({n}, steps) for temporal targets, got {w.shape}"
            )
        weights.append(w)
    return weights


def with_class_weight(data: Data, class_weight: Mapping | None) -> Data:
    """``data`` with each sample weight multiplied by the weight of the sample's class.

    Fit applies it to the training batches only, never to validation data.
    """
    if class_weight is None:
        return data
    sws = [w * class_weights(class_weight, y).reshape((-1,) + (1,) * (w.ndim - 1))
           for w, y in zip(data.sws, data.ys, strict=True)]
    return Data(data.xs, data.ys, sws, data.n, data.y_structure)


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
