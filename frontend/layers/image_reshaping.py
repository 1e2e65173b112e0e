"""Spatial reshaping layers: UpSampling1D/2D/3D, ZeroPadding1D/2D/3D, Cropping1D/2D/3D (Keras 3's arguments).

UpSampling repeats each step/row/column ``size`` times (Keras'
``interpolation="nearest"``, the only one here); ZeroPadding adds zeros
around the spatial axes; Cropping removes entries from their ends.  Amounts
are an int, one int per axis (both ends), or ``(lo, hi)`` per axis.
"""

from __future__ import annotations

import theanine as th
from theanine.frontend.layers.base import Layer, register_layer
from theanine.frontend.layers.conv_arguments import int_tuple, spatial_axes, spatial_pairs, standard_data_format
from theanine.frontend.layers.pooling import check_rank

__all__ = [
    "UpSampling1D", "UpSampling2D", "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
    "Cropping1D", "Cropping2D", "Cropping3D",
]


class _Spatial(Layer):
    """A layer over ``rank`` spatial axes in ``data_format`` (1D layers are always channels_last)."""

    rank = 2

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standard_data_format(data_format)

    def build(self, input_shape) -> None:
        check_rank(self, input_shape)

    def _axes(self) -> tuple[int, ...]:
        return spatial_axes(self.rank, self.data_format)

    def get_config(self) -> dict:
        config = super().get_config()
        return config if self.rank == 1 else {**config, "data_format": self.data_format}


def _pairs_config(pairs, rank: int):
    """Keras' form: one ``(lo, hi)`` for 1D layers, a pair per axis otherwise."""
    return list(pairs[0]) if rank == 1 else [list(p) for p in pairs]


class _UpSampling(_Spatial):
    def __init__(self, size, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.size = int_tuple(size, self.rank, "size")

    def call(self, inputs, training=None):
        for axis, times in zip(self._axes(), self.size, strict=True):
            if times > 1:
                inputs = th.repeat(inputs, times, axis=axis)
        return inputs

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size[0] if self.rank == 1 else list(self.size)}


@register_layer
class UpSampling1D(_UpSampling):
    """Repeat each step ``size`` times: ``(batch, steps, features) -> (batch, steps * size, features)``."""

    rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(size, None, **kwargs)


@register_layer
class UpSampling2D(_UpSampling):
    """Repeat rows and columns ``size`` times (nearest-neighbour interpolation)."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(size, data_format, **kwargs)
        if interpolation != "nearest":
            raise ValueError(
                f'UpSampling2D implements interpolation="nearest" only. Received: interpolation={interpolation!r}'
            )
        self.interpolation = interpolation

    def get_config(self) -> dict:
        return {**super().get_config(), "interpolation": self.interpolation}


@register_layer
class UpSampling3D(_UpSampling):
    """Repeat each of the three spatial axes ``size`` times."""

    rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(size, data_format, **kwargs)


class _ZeroPadding(_Spatial):
    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.padding = spatial_pairs(padding, self.rank, "padding")

    def call(self, inputs, training=None):
        widths = [(0, 0)] * inputs.ndim
        for axis, pair in zip(self._axes(), self.padding, strict=True):
            widths[axis] = pair
        return th.pad(inputs, widths)

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": _pairs_config(self.padding, self.rank)}


@register_layer
class ZeroPadding1D(_ZeroPadding):
    """Zeros at the start and end of the steps axis."""

    rank = 1

    def __init__(self, padding=1, **kwargs):
        super().__init__(padding, None, **kwargs)


@register_layer
class ZeroPadding2D(_ZeroPadding):
    """Zeros around the rows and columns of each image."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


@register_layer
class ZeroPadding3D(_ZeroPadding):
    """Zeros around each of the three spatial axes."""

    rank = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class _Cropping(_Spatial):
    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.cropping = spatial_pairs(cropping, self.rank, "cropping")

    def build(self, input_shape) -> None:
        super().build(input_shape)
        for axis, (lo, hi) in zip(self._axes(), self.cropping, strict=True):
            size = input_shape[axis]
            if size is not None and lo + hi >= size:
                raise ValueError(
                    f"layer {self.name!r} ({type(self).__name__}): cropping={self.cropping} removes {lo + hi} of "
                    f"the {size} entries of axis {axis}; it must leave at least one. Received: "
                    f"input_shape={tuple(input_shape)}"
                )

    def call(self, inputs, training=None):
        index = [slice(None)] * inputs.ndim
        for axis, (lo, hi) in zip(self._axes(), self.cropping, strict=True):
            index[axis] = slice(lo, -hi if hi else None)
        return inputs[tuple(index)]

    def get_config(self) -> dict:
        return {**super().get_config(), "cropping": _pairs_config(self.cropping, self.rank)}


@register_layer
class Cropping1D(_Cropping):
    """Remove ``cropping = (start, end)`` steps."""

    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, None, **kwargs)


@register_layer
class Cropping2D(_Cropping):
    """Remove rows and columns from the borders of each image."""

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


@register_layer
class Cropping3D(_Cropping):
    """Remove entries from the ends of each of the three spatial axes."""

    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)
