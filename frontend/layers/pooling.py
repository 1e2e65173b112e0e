"""Pooling layers: MaxPooling1D/2D/3D, AveragePooling1D/2D/3D and the global ones, Keras 3's arguments.

Window pooling is ``th.max_pool`` / ``th.average_pool`` (``strides=None``
is the pool size; ``"same"`` padding never enters a maximum or an
average).  Global pooling is a reduction over the spatial axes, with
``keepdims`` as in Keras; GlobalAveragePooling1D averages the unmasked
steps only when its input carries a mask.
"""

from __future__ import annotations

import theanine as th
from theanine.frontend.layers.base import Layer, register_layer
from theanine.frontend.layers.conv_arguments import int_tuple, padding_name, spatial_axes, standard_data_format

__all__ = [
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D",
    "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D",
]


def check_rank(layer: Layer, input_shape) -> None:
    """Inputs of a ``layer.rank``-D spatial layer have rank ``layer.rank + 2``."""
    if len(input_shape) != layer.rank + 2:
        raise ValueError(
            f"layer {layer.name!r} ({type(layer).__name__}) expects inputs of rank {layer.rank + 2} "
            f"(batch, {layer.rank} spatial axes, channels). Received: input_shape={tuple(input_shape)}"
        )


class _Pooling(Layer):
    """Windowed pooling: ``pool_size``, ``strides`` (default: the pool size), ``padding``, ``data_format``."""

    rank = 2

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = int_tuple(pool_size, self.rank, "pool_size")
        self.strides = self.pool_size if strides is None else int_tuple(strides, self.rank, "strides")
        self.padding = padding_name(padding)
        self.data_format = standard_data_format(data_format)

    def build(self, input_shape) -> None:
        check_rank(self, input_shape)

    def call(self, inputs, training=None):
        return self.pool(inputs)

    def pool(self, inputs):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "padding": self.padding,
            "strides": list(self.strides),
            "data_format": self.data_format,
        }


class _MaxPooling(_Pooling):
    def pool(self, inputs):
        return th.max_pool(inputs, self.pool_size, self.strides, self.padding, self.data_format)


class _AveragePooling(_Pooling):
    def pool(self, inputs):
        return th.average_pool(inputs, self.pool_size, self.strides, self.padding, self.data_format)


@register_layer
class MaxPooling1D(_MaxPooling):
    """The maximum over windows of ``pool_size`` steps (default 2)."""

    rank = 1


@register_layer
class MaxPooling2D(_MaxPooling):
    """The maximum over ``pool_size`` windows (default (2, 2))."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


@register_layer
class MaxPooling3D(_MaxPooling):
    """The maximum over ``pool_size`` windows (default (2, 2, 2))."""

    rank = 3

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


@register_layer
class AveragePooling1D(_AveragePooling):
    """The mean over windows of ``pool_size`` steps (default 2)."""

    rank = 1


@register_layer
class AveragePooling2D(_AveragePooling):
    """The mean over ``pool_size`` windows (default (2, 2))."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


@register_layer
class AveragePooling3D(_AveragePooling):
    """The mean over ``pool_size`` windows (default (2, 2, 2))."""

    rank = 3

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class _GlobalPooling(Layer):
    """A reduction over every spatial axis; ``keepdims`` keeps them as size 1."""

    rank = 2
    reduce = staticmethod(th.max)

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standard_data_format(data_format)
        self.keepdims = bool(keepdims)

    def build(self, input_shape) -> None:
        check_rank(self, input_shape)

    def call(self, inputs, training=None):
        return self.reduce(inputs, axis=spatial_axes(self.rank, self.data_format), keepdims=self.keepdims)

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


@register_layer
class GlobalMaxPooling1D(_GlobalPooling):
    """The maximum over the steps of each channel."""

    rank = 1


@register_layer
class GlobalMaxPooling2D(_GlobalPooling):
    """The maximum over the image of each channel."""


@register_layer
class GlobalMaxPooling3D(_GlobalPooling):
    """The maximum over the volume of each channel."""

    rank = 3


@register_layer
class GlobalAveragePooling1D(_GlobalPooling):
    """The mean over the steps of each channel; with a ``(batch, steps)`` mask (``Embedding(mask_zero=True)``,
    ``Masking``), over the unmasked steps only, as in Keras 3 (a row with every step masked gives NaN, as
    there).  The output carries no mask."""

    rank = 1
    reduce = staticmethod(th.mean)

    def call(self, inputs, training=None, mask=None):
        if mask is None:
            return super().call(inputs, training)
        steps = spatial_axes(self.rank, self.data_format)[0]
        keep = th.expand_dims(th.cast(mask, "bool"), 2 if steps == 1 else 1)
        weights = th.cast(keep, inputs.dtype)
        total = th.sum(th.where(keep, inputs, th.zeros_like(inputs)), axis=steps, keepdims=self.keepdims)
        return total / th.sum(weights, axis=steps, keepdims=self.keepdims)


@register_layer
class GlobalAveragePooling2D(_GlobalPooling):
    """The mean over the image of each channel."""

    reduce = staticmethod(th.mean)


@register_layer
class GlobalAveragePooling3D(_GlobalPooling):
    """The mean over the volume of each channel."""

    rank = 3
    reduce = staticmethod(th.mean)


# Keras' short names: the same class objects, so saved files name the long class.
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (
    GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D,
)
