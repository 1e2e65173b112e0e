"""Window geometry shared by convolution and pooling: argument checks, padding, output sizes.

Every size here is a Python int where it is known when the graph is built
and an int64 scalar variable otherwise; the same arithmetic serves both
(``n + lo + hi``, ``//``), so static shapes come out as ints and dynamic
ones as small shape graphs.

Conventions (the ops work channels-last, ``(batch, *spatial, channels)``):

- ``span(k, d) = (k - 1) * d + 1``: the extent of a window of ``k`` taps
  ``d`` apart.
- Padding is one ``(lo, hi)`` pair per spatial axis.  ``"valid"`` is no
  padding; ``"same"`` is Keras'/TensorFlow's: ``ceil(n / s)`` outputs, the
  total padding split with the odd unit at the end.  Inside the graph a
  pair may be negative: a crop (gradients use that; users cannot).
- The ops take their padding as an int64 vector input ``(lo_0, hi_0, lo_1,
  hi_1, ...)``, constant when it is static, so that ``"same"`` on inputs
  of unknown size (whose padding depends on that size) and the gradients'
  paddings are graphs like any shape.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from theanine.graph.basic import Variable, user_source_line
from theanine.graph.ops.dimshuffle import transpose
from theanine.graph.ops.math import maximum
from theanine.graph.ops.shape_values import as_shape_vector, axis_size, shape_entries
from theanine.graph.type import format_shape

__all__ = [
    "DATA_FORMATS", "int_tuple", "window_span", "output_length", "same_padding", "resolve_padding",
    "explicit_pairs", "check_windows", "pads_vector", "pad_pairs", "spatial_sizes", "check_data_format",
    "to_channels_last", "from_channels_last", "describe", "where_built",
]

DATA_FORMATS = ("channels_last", "channels_first")


def where_built() -> str:
    """`` (at file:line)``: the user's line that is building the graph, for build-time errors."""
    return f" (at {user_source_line()})"


def int_tuple(value, rank: int, name: str, minimum: int = 1, shapes: str = "") -> tuple[int, ...]:
    """An int or ``rank`` ints, each >= ``minimum``, as a tuple (Keras' ``strides=2`` form).

    ``shapes`` (``" for an input of shape ..."``) goes into the error message.
    """
    items = [value] * rank if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        items = list(items)
    except TypeError:
        items = None
    valid = items is not None and len(items) == rank and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum for v in items
    )
    if not valid:
        raise ValueError(
            f"expected {name} to be an int >= {minimum} or {rank} such ints (one per spatial axis). "
            f"Received: {name}={value!r}{shapes}{where_built()}"
        )
    return tuple(int(v) for v in items)


def window_span(k, d: int):
    """Extent of a window of ``k`` taps spaced ``d`` apart: ``(k - 1) * d + 1``."""
    return (k - 1) * d + 1


def output_length(n, lo, hi, k, s: int, d: int):
    """Windows of ``k`` taps (dilation ``d``, stride ``s``) that fit in ``lo + n + hi``."""
    return (n + lo + hi - window_span(k, d)) // s + 1


def _max0(value):
    return max(value, 0) if isinstance(value, int) else maximum(value, 0)


def same_padding(n, k, s: int, d: int) -> tuple:
    """Keras' "same": ``ceil(n / s)`` outputs, the total padding split with the odd unit at the end."""
    outputs = (n + s - 1) // s
    total = _max0((outputs - 1) * s + window_span(k, d) - n)
    return total // 2, total - total // 2


def resolve_padding(padding, sizes: Sequence, kernel: Sequence, strides: Sequence[int],
                    dilation: Sequence[int]) -> list[tuple]:
    """``"valid"``, ``"same"`` or explicit ``((lo, hi), ...)`` as one pair per spatial axis."""
    rank = len(strides)
    if isinstance(padding, str) and padding.lower() in ("valid", "same"):
        if padding.lower() == "valid":
            return [(0, 0)] * rank
        return [same_padding(n, k, s, d) for n, k, s, d in zip(sizes, kernel, strides, dilation, strict=True)]
    return explicit_pairs(padding, rank)


def explicit_pairs(padding, rank: int) -> list[tuple[int, int]]:
    """``((lo, hi), ...)``, one pair of ints >= 0 per spatial axis, or a ValueError."""
    try:
        pairs = [tuple(pair) for pair in padding]
    except TypeError:
        pairs = []
    valid = len(pairs) == rank and all(
        len(p) == 2 and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in p)
        for p in pairs
    )
    if not valid:
        raise ValueError(
            f'expected padding to be "valid", "same" or {rank} pairs (lo, hi) of ints >= 0, one per '
            f"spatial axis. Received: padding={padding!r}{where_built()}"
        )
    return [(int(lo), int(hi)) for lo, hi in pairs]


def check_windows(what: str, sizes: Sequence, pairs: Sequence[tuple], kernel: Sequence, dilation: Sequence[int],
                  shapes: str) -> None:
    """Each window must fit in its padded input, wherever the sizes are static; ``shapes`` names them."""
    for axis, (n, (lo, hi), k, d) in enumerate(zip(sizes, pairs, kernel, dilation, strict=True)):
        if not all(isinstance(v, int) for v in (n, lo, hi, k)):
            continue
        if n + lo + hi < window_span(k, d):
            raise ValueError(
                f"{what}: on spatial axis {axis} the window spans {window_span(k, d)} positions (size {k}, "
                f"dilation {d}) but the padded input has {n + lo + hi} (size {n}, padding ({lo}, {hi})). "
                f"Received: {shapes}{where_built()}"
            )


def pads_vector(pairs: Sequence[tuple]) -> Variable:
    """The ops' padding input: ``(lo_0, hi_0, lo_1, hi_1, ...)`` as an int64 vector."""
    return as_shape_vector([v for pair in pairs for v in pair], "padding")


def pad_pairs(vector: Variable) -> list[tuple]:
    """The pairs of a padding vector, each entry an int when static, else an int64 scalar."""
    entries = shape_entries(vector)
    return list(zip(entries[0::2], entries[1::2], strict=True))


def spatial_sizes(x: Variable) -> list:
    """Sizes of the spatial axes of a channels-last tensor (ints where static)."""
    return [axis_size(x, axis) for axis in range(1, x.ndim - 1)]


def check_data_format(data_format: str) -> str:
    if data_format not in DATA_FORMATS:
        raise ValueError(
            f'expected data_format to be "channels_last" or "channels_first". '
            f"Received: data_format={data_format!r}{where_built()}"
        )
    return data_format


def to_channels_last(x: Variable, data_format: str) -> Variable:
    """``(N, C, *spatial)`` -> ``(N, *spatial, C)`` for channels_first; otherwise ``x``."""
    if check_data_format(data_format) == "channels_last":
        return x
    return transpose(x, (0, *range(2, x.ndim), 1))


def from_channels_last(y: Variable, data_format: str) -> Variable:
    """The inverse of ``to_channels_last``."""
    if data_format == "channels_last":
        return y
    return transpose(y, (0, y.ndim - 1, *range(1, y.ndim - 1)))


def describe(x: Variable) -> str:
    return format_shape(x.type.shape)
