"""Argument checks the convolution, pooling and image-reshaping layers share (Keras 3's rules and messages).

Each returns the normalized value that ``get_config`` stores: tuples of
ints, a lower-case padding name, a data format (``None`` is Keras'
default, ``"channels_last"``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from theanine.frontend.config import image_data_format

DATA_FORMATS = ("channels_last", "channels_first")


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def int_tuple(value, rank: int, name: str, allow_zero: bool = False) -> tuple[int, ...]:
    """An int or ``rank`` ints (>= 1, or >= 0 with ``allow_zero``) as a tuple, as Keras' ``standardize_tuple``."""
    items = (value,) * rank if _is_int(value) else value
    minimum = 0 if allow_zero else 1
    valid = isinstance(items, Sequence) and not isinstance(items, str) and len(items) == rank and all(
        _is_int(v) and v >= minimum for v in items
    )
    if not valid:
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(
            f"The `{name}` argument must be a tuple of {rank} {kind} integers (or one integer). "
            f"Received: {name}={value!r}"
        )
    return tuple(int(v) for v in items)


def padding_name(padding, allowed: Sequence[str] = ("valid", "same")) -> str:
    """``padding`` lower-cased, one of ``allowed``."""
    name = padding.lower() if isinstance(padding, str) else None
    if name not in allowed:
        raise ValueError(
            f"The `padding` argument must be one of {list(allowed)}. Received: padding={padding!r}"
        )
    return name


def standard_data_format(value) -> str:
    """Keras' ``standardize_data_format``: None is ``config.image_data_format()`` (``"channels_last"``
    unless set)."""
    name = image_data_format() if value is None else str(value).lower()
    if name not in DATA_FORMATS:
        raise ValueError(
            "The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
            f"Received: data_format={value!r}"
        )
    return name


def positive_int(value, name: str) -> int:
    if not _is_int(value) or value <= 0:
        raise ValueError(f"Invalid value for argument `{name}`. Expected a strictly positive value. "
                         f"Received {name}={value!r}.")
    return int(value)


def spatial_pairs(value, rank: int, name: str) -> tuple[tuple[int, int], ...]:
    """ZeroPadding/Cropping amounts: an int, ``rank`` ints (symmetric), or ``rank`` pairs.

    For ``rank == 1`` a single pair ``(lo, hi)`` is the one axis's pair.
    """
    if _is_int(value):
        value = ((value, value),) * rank
    elif rank == 1 and isinstance(value, Sequence) and len(value) == 2 and all(_is_int(v) for v in value):
        value = (tuple(value),)
    elif isinstance(value, Sequence) and len(value) == rank and all(_is_int(v) for v in value):
        value = tuple((v, v) for v in value)
    try:
        pairs = tuple((int(lo), int(hi)) for lo, hi in value)
        valid = len(pairs) == rank and all(v >= 0 for pair in pairs for v in pair)
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(
            f"`{name}` must be an int, a tuple of {rank} ints or a tuple of {rank} tuples of 2 non-negative "
            f"ints. Received: {name}={value!r}"
        )
    return pairs


def spatial_axes(rank: int, data_format_name: str) -> tuple[int, ...]:
    """The spatial axes of a batch of ``rank``-D images in ``data_format_name``."""
    first = 2 if data_format_name == "channels_first" else 1
    return tuple(range(first, first + rank))


def channel_axis(data_format_name: str) -> int:
    return 1 if data_format_name == "channels_first" else -1
