"""Convolution layers: Conv1D/2D/3D, Conv1DTranspose/2DTranspose/3DTranspose, DepthwiseConv1D/2D,
SeparableConv1D/2D, and Keras' aliases (``Convolution2D`` is ``Conv2D``, ...).

Keras 3's arguments, defaults (``data_format=None`` is channels_last) and
weights, in Keras' order and shapes, so ``set_weights`` takes a Keras
model's arrays as they are:

- ConvND: ``kernel (*kernel_size, in_channels // groups, filters)``, ``bias (filters,)``.
- ConvNDTranspose: ``kernel (*kernel_size, filters, in_channels)``, ``bias``.
- DepthwiseConvND: ``depthwise_kernel (*kernel_size, in_channels, depth_multiplier)``,
  ``bias (in_channels * depth_multiplier,)``.
- SeparableConvND: ``depthwise_kernel``, ``pointwise_kernel (*(1,) * N, in_channels
  * depth_multiplier, filters)``, ``bias (filters,)``.

Each computes ``activation(conv(inputs) + bias)`` with the ops of
``th.conv``; Conv1D also takes ``padding="causal"`` (left padding only).
"""

from __future__ import annotations

import theanine as th
from theanine.frontend import activations, constraints, initializers, regularizers
from theanine.frontend.layers.base import Layer, get_custom_objects, register_layer
from theanine.frontend.layers.conv_arguments import (
    channel_axis,
    int_tuple,
    padding_name,
    positive_int,
    standard_data_format,
)

__all__ = [
    "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
    "Convolution1D", "Convolution2D", "Convolution3D", "Convolution1DTranspose", "Convolution2DTranspose",
    "Convolution3DTranspose", "SeparableConvolution1D", "SeparableConvolution2D",
]


def _get(module, identifier):
    return module.get(identifier, get_custom_objects())


class _ConvBase(Layer):
    """What every convolution layer shares: window arguments, bias, activation, activity loss."""

    rank = 2
    paddings: tuple[str, ...] = ("valid", "same")

    def __init__(self, kernel_size, strides, padding, data_format_value, dilation_rate, activation, use_bias,
                 bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = int_tuple(kernel_size, self.rank, "kernel_size")
        self.strides = int_tuple(strides, self.rank, "strides")
        self.padding = padding_name(padding, self.paddings)
        self.data_format = standard_data_format(data_format_value)
        self.dilation_rate = int_tuple(dilation_rate, self.rank, "dilation_rate")
        self.activation = _get(activations, activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = _get(initializers, bias_initializer)
        self.bias_regularizer = _get(regularizers, bias_regularizer)
        self.activity_regularizer = _get(regularizers, activity_regularizer)
        self.bias_constraint = _get(constraints, bias_constraint)

    def _in_channels(self, input_shape) -> int:
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"layer {self.name!r} ({type(self).__name__}) expects inputs of rank {self.rank + 2} "
                f"(batch, {self.rank} spatial axes, channels). Received: input_shape={tuple(input_shape)}"
            )
        channels = input_shape[channel_axis(self.data_format)]
        if channels is None:
            raise ValueError(
                f"layer {self.name!r} ({type(self).__name__}) needs a known channel dimension. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        return int(channels)

    def _build_bias(self, size: int) -> None:
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(shape=(size,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint,
                                        name="bias")

    def _finish(self, outputs):
        """``activation(outputs + bias)``, recording the activity penalty per sample as Dense does."""
        if self.bias is not None:
            axis = channel_axis(self.data_format) % outputs.ndim
            shape = tuple(-1 if a == axis else 1 for a in range(outputs.ndim))
            outputs = outputs + th.reshape(self.bias, shape)
        outputs = self.activation(outputs)
        if self.activity_regularizer is not None:
            batch = th.cast(outputs.shape[0], outputs.dtype)
            self.add_loss(self.activity_regularizer(outputs) / batch)
        return outputs

    def _padding_argument(self):
        return self.padding

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }


class _Conv(_ConvBase):
    """ConvND: ``filters`` kernels of ``kernel_size`` over ``in_channels // groups`` channels each."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        self.filters = positive_int(filters, "filters")
        self.groups = positive_int(groups, "groups")
        if self.filters % self.groups:
            raise ValueError(
                f"The number of filters must be evenly divisible by the number of groups. Received: "
                f"groups={self.groups}, filters={self.filters}."
            )
        self.kernel_initializer = _get(initializers, kernel_initializer)
        self.kernel_regularizer = _get(regularizers, kernel_regularizer)
        self.kernel_constraint = _get(constraints, kernel_constraint)

    def build(self, input_shape) -> None:
        channels = self._in_channels(input_shape)
        if channels % self.groups:
            raise ValueError(
                f"layer {self.name!r}: the number of input channels must be evenly divisible by the number of "
                f"groups. Received groups={self.groups}, but the input has {channels} channels "
                f"(full input shape is {tuple(input_shape)})."
            )
        self.kernel = self.add_weight(shape=(*self.kernel_size, channels // self.groups, self.filters),
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint, name="kernel")
        self._build_bias(self.filters)

    def call(self, inputs, training=None):
        outputs = th.conv(inputs, self.kernel, self.strides, self._padding_argument(), self.dilation_rate,
                          self.groups, self.data_format)
        return self._finish(outputs)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "filters": self.filters,
            "groups": self.groups,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
        }


@register_layer
class Conv1D(_Conv):
    """1D convolution over ``(batch, steps, channels)``; ``padding="causal"`` pads the start only."""

    rank = 1
    paddings = ("valid", "same", "causal")

    def _padding_argument(self):
        if self.padding != "causal":
            return self.padding
        return (((self.kernel_size[0] - 1) * self.dilation_rate[0], 0),)


@register_layer
class Conv2D(_Conv):
    """2D convolution over ``(batch, height, width, channels)`` (or channels first)."""

    rank = 2


@register_layer
class Conv3D(_Conv):
    """3D convolution over ``(batch, depth, height, width, channels)`` (or channels first)."""

    rank = 3


class _ConvTranspose(_ConvBase):
    """ConvNDTranspose: the transpose of a ConvND whose kernel is ``(*kernel_size, filters, in_channels)``."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        self.filters = positive_int(filters, "filters")
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = int_tuple(output_padding, self.rank, "output_padding", allow_zero=True)
            if any(p >= s for p, s in zip(self.output_padding, self.strides, strict=True)):
                raise ValueError(
                    f"`output_padding` must be < `strides`. output_padding={self.output_padding}, "
                    f"strides={self.strides}"
                )
        self.kernel_initializer = _get(initializers, kernel_initializer)
        self.kernel_regularizer = _get(regularizers, kernel_regularizer)
        self.kernel_constraint = _get(constraints, kernel_constraint)

    def build(self, input_shape) -> None:
        channels = self._in_channels(input_shape)
        self.kernel = self.add_weight(shape=(*self.kernel_size, self.filters, channels),
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint, name="kernel")
        self._build_bias(self.filters)

    def call(self, inputs, training=None):
        outputs = th.conv_transpose(inputs, self.kernel, self.strides, self.padding, self.output_padding,
                                    self.dilation_rate, 1, self.data_format)
        return self._finish(outputs)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "filters": self.filters,
            "output_padding": None if self.output_padding is None else list(self.output_padding),
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
        }


@register_layer
class Conv1DTranspose(_ConvTranspose):
    """1D transposed convolution ("deconvolution")."""

    rank = 1


@register_layer
class Conv2DTranspose(_ConvTranspose):
    """2D transposed convolution ("deconvolution")."""

    rank = 2


@register_layer
class Conv3DTranspose(_ConvTranspose):
    """3D transposed convolution ("deconvolution")."""

    rank = 3


class _DepthwiseBase(_ConvBase):
    """The depthwise kernel ``(*kernel_size, in_channels, depth_multiplier)`` and its arguments."""

    def __init__(self, kernel_size, strides, padding, depth_multiplier, data_format_value, dilation_rate,
                 activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                 bias_regularizer, activity_regularizer, depthwise_constraint, bias_constraint, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format_value, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        self.depth_multiplier = positive_int(depth_multiplier, "depth_multiplier")
        self.depthwise_initializer = _get(initializers, depthwise_initializer)
        self.depthwise_regularizer = _get(regularizers, depthwise_regularizer)
        self.depthwise_constraint = _get(constraints, depthwise_constraint)

    def _build_depthwise(self, channels: int) -> None:
        self.depthwise_kernel = self.add_weight(
            shape=(*self.kernel_size, channels, self.depth_multiplier), initializer=self.depthwise_initializer,
            regularizer=self.depthwise_regularizer, constraint=self.depthwise_constraint, name="depthwise_kernel",
        )

    def _depthwise(self, inputs):
        return th.depthwise_conv(inputs, self.depthwise_kernel, self.strides, self.padding, self.dilation_rate,
                                 self.data_format)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
            "depthwise_constraint": constraints.serialize(self.depthwise_constraint),
        }


class _DepthwiseConv(_DepthwiseBase):
    """Each input channel convolved with its own ``depth_multiplier`` kernels."""

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                         use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)

    def build(self, input_shape) -> None:
        channels = self._in_channels(input_shape)
        self._build_depthwise(channels)
        self._build_bias(channels * self.depth_multiplier)

    def call(self, inputs, training=None):
        return self._finish(self._depthwise(inputs))


class _SeparableConv(_DepthwiseBase):
    """A depthwise convolution (no bias) followed by a pointwise (size 1) one to ``filters`` channels."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                         use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)
        self.filters = positive_int(filters, "filters")
        self.pointwise_initializer = _get(initializers, pointwise_initializer)
        self.pointwise_regularizer = _get(regularizers, pointwise_regularizer)
        self.pointwise_constraint = _get(constraints, pointwise_constraint)

    def build(self, input_shape) -> None:
        channels = self._in_channels(input_shape)
        self._build_depthwise(channels)
        self.pointwise_kernel = self.add_weight(
            shape=(*(1,) * self.rank, channels * self.depth_multiplier, self.filters),
            initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint, name="pointwise_kernel",
        )
        self._build_bias(self.filters)

    def call(self, inputs, training=None):
        outputs = th.conv(self._depthwise(inputs), self.pointwise_kernel, data_format=self.data_format)
        return self._finish(outputs)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "filters": self.filters,
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
            "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer),
            "pointwise_constraint": constraints.serialize(self.pointwise_constraint),
        }


@register_layer
class DepthwiseConv1D(_DepthwiseConv):
    """Depthwise convolution over ``(batch, steps, channels)``."""

    rank = 1


@register_layer
class DepthwiseConv2D(_DepthwiseConv):
    """Depthwise convolution over ``(batch, height, width, channels)``."""


@register_layer
class SeparableConv1D(_SeparableConv):
    """Separable convolution over ``(batch, steps, channels)``."""

    rank = 1


@register_layer
class SeparableConv2D(_SeparableConv):
    """Separable convolution over ``(batch, height, width, channels)``."""


# Keras' long names: the same class objects, so saved files name the short class.
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Convolution1DTranspose, Convolution2DTranspose, Convolution3DTranspose = (
    Conv1DTranspose, Conv2DTranspose, Conv3DTranspose,
)
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
