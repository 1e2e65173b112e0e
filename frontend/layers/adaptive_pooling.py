"""Adaptive pooling: AdaptiveAverage/MaxPooling1D/2D/3D (Keras 3.12+), pooled to a fixed ``output_size``.

Output index ``i`` of a spatial axis of size ``L`` pools the input window
``[floor(i * L / out), ceil((i + 1) * L / out))``, as PyTorch's and Keras'
adaptive pools.  Windows are rectangles, so the pool is taken one axis at
a time: the windows of an axis are gathered as an (out, longest window)
index table (a shorter window repeats its last index, with weight 0 for
the average), then reduced.  The spatial sizes must be static.
"""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.frontend.layers.base import Layer, register_layer
from theanine.frontend.layers.conv_arguments import int_tuple, spatial_axes, standard_data_format
from theanine.frontend.layers.pooling import check_rank

__all__ = [
    "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
    "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D",
]


def windows(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """``(index, weight)`` tables (out, longest window) of the adaptive windows of an axis."""
    starts = (np.arange(out) * size) // out
    ends = -((-(np.arange(out) + 1) * size) // out)
    longest = int((ends - starts).max())
    offsets = np.arange(longest)
    index = np.minimum(starts[:, None] + offsets, ends[:, None] - 1)
    weight = (starts[:, None] + offsets < ends[:, None]) / (ends - starts)[:, None]
    return index, weight


class _AdaptivePooling(Layer):
    """Pool each spatial axis to ``output_size`` (an int or one per axis); ``data_format`` as Keras."""

    rank = 2

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(output_size, (int, np.integer, list, tuple)) or isinstance(output_size, bool):
            raise TypeError(f"`output_size` must be an integer or a tuple of {self.rank} integers. "
                            f"Received: {output_size!r} of type {type(output_size)}")
        self.output_size = int_tuple(output_size, self.rank, "output_size")
        self.data_format = standard_data_format(data_format)

    def build(self, input_shape) -> None:
        check_rank(self, input_shape)
        for axis in spatial_axes(self.rank, self.data_format):
            if input_shape[axis] is None:
                raise ValueError(f"layer {self.name!r} ({type(self).__name__}) needs static spatial sizes. "
                                 f"Received: input_shape={tuple(input_shape)}")

    def call(self, inputs, training=None):
        out = inputs
        for axis, size in zip(spatial_axes(self.rank, self.data_format), self.output_size, strict=True):
            index, weight = windows(out.type.shape[axis], size)
            gathered = th.take(out, index, axis=axis)  # the window axis follows ``axis``
            out = self.reduce(gathered, weight.astype(out.dtype), axis)
        return out

    def reduce(self, gathered, weight, axis: int):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, size in zip(spatial_axes(self.rank, self.data_format), self.output_size, strict=True):
            shape[axis] = size
        return tuple(shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "output_size": list(self.output_size), "data_format": self.data_format}


def _weight_shape(weight: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    """``weight`` (out, window) shaped to broadcast against a gathered tensor of rank ``ndim``."""
    return weight.reshape(weight.shape + (1,) * (ndim - axis - 2))


class _AdaptiveAverage(_AdaptivePooling):
    def reduce(self, gathered, weight, axis: int):
        return th.sum(gathered * _weight_shape(weight, axis, gathered.ndim), axis=axis + 1)


class _AdaptiveMax(_AdaptivePooling):
    def reduce(self, gathered, weight, axis: int):
        return th.max(gathered, axis=axis + 1)


@register_layer
class AdaptiveAveragePooling1D(_AdaptiveAverage):
    """The mean over ``output_size`` adaptive windows of the steps."""

    rank = 1


@register_layer
class AdaptiveAveragePooling2D(_AdaptiveAverage):
    """The mean over ``output_size`` (height, width) adaptive windows."""


@register_layer
class AdaptiveAveragePooling3D(_AdaptiveAverage):
    """The mean over ``output_size`` (depth, height, width) adaptive windows."""

    rank = 3


@register_layer
class AdaptiveMaxPooling1D(_AdaptiveMax):
    """The maximum over ``output_size`` adaptive windows of the steps."""

    rank = 1


@register_layer
class AdaptiveMaxPooling2D(_AdaptiveMax):
    """The maximum over ``output_size`` (height, width) adaptive windows."""


@register_layer
class AdaptiveMaxPooling3D(_AdaptiveMax):
    """The maximum over ``output_size`` (depth, height, width) adaptive windows."""

    rank = 3
