"""Convolutional LSTM layers: ConvLSTM1D, ConvLSTM2D and ConvLSTM3D, as in Keras 3.

An LSTM whose products are convolutions: inputs are ``(batch, time,
*spatial, channels)`` (``channels_first``: ``(batch, time, channels,
*spatial)``), and each step computes Keras' gates i, f, c, o from

    z = conv(x_t, kernel, strides, padding, dilation_rate) + bias
        + conv(h_{t-1}, recurrent_kernel, strides=1, padding="same")

with ``kernel`` of shape ``(*kernel_size, in_channels, 4 filters)`` and
``recurrent_kernel`` of shape ``(*kernel_size, filters, 4 filters)``, so
Keras' arrays load with ``set_weights``.  The states h and c have the
shape of the input convolution's output, so the spatial sizes must be
static.  Everything else (masks, ``return_sequences``, ``return_state``,
``go_backwards``, ``stateful``, ``unroll``, dropout) is ``RNN``'s.
"""

from __future__ import annotations

import theanine as th
from theanine.frontend.layers.base import register_layer
from theanine.frontend.layers.conv_arguments import (
    channel_axis,
    int_tuple,
    padding_name,
    positive_int,
    standard_data_format,
)
from theanine.frontend.layers.recurrent import _CellLayer
from theanine.frontend.layers.recurrent_cells import LSTMCell

__all__ = ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]


class _ConvLSTMCell(LSTMCell):
    """One step of a convolutional LSTM of spatial rank ``rank`` (see the module docstring)."""

    rank = 2

    def __init__(self, filters: int, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 **kwargs):
        super().__init__(positive_int(filters, "filters"), **kwargs)
        self.kernel_size = int_tuple(kernel_size, self.rank, "kernel_size")
        self.strides = int_tuple(strides, self.rank, "strides")
        self.padding = padding_name(padding)
        self.data_format = standard_data_format(data_format)
        self.dilation_rate = int_tuple(dilation_rate, self.rank, "dilation_rate")
        self.state_shape: tuple | None = None

    @property
    def filters(self) -> int:
        return self.units

    @property
    def state_size(self):
        return [self.state_shape, self.state_shape]

    def build(self, input_shape) -> None:
        axis = channel_axis(self.data_format) % len(input_shape)
        spatial = [d for a, d in enumerate(input_shape[1:], 1) if a != axis]
        if input_shape[axis] is None or any(d is None for d in spatial):
            raise ValueError(
                f"layer {self.name!r} needs static channel and spatial sizes (its states have the shape of the "
                f"convolution's output). Received: step input shape {tuple(input_shape)}"
            )
        width = 4 * self.units
        self.kernel = self._weight("kernel", (*self.kernel_size, int(input_shape[axis]), width), "kernel")
        self.recurrent_kernel = self._weight("recurrent", (*self.kernel_size, self.units, width), "recurrent_kernel")
        self.bias = self._weight("bias", (width,), "bias", self._bias_initializer()) if self.use_bias else None
        probe = th.tensor("step_input", self.kernel.dtype, (None, *input_shape[1:]))
        shape = [int(d) for d in self._input_conv(probe).type.shape[1:]]
        shape[axis - 1] = self.units  # the gates' 4 filters are one state's filters
        self.state_shape = tuple(shape)

    def _input_conv(self, x):
        return th.conv(x, self.kernel, self.strides, self.padding, self.dilation_rate, data_format=self.data_format)

    def _preactivation(self, inputs, h_prev):
        """The gates' inputs: the input convolution plus the recurrent one ("same", stride 1)."""
        z = self._input_conv(inputs) + th.conv(h_prev, self.recurrent_kernel, 1, "same", data_format=self.data_format)
        if self.bias is None:
            return z
        axis = channel_axis(self.data_format) % z.ndim
        return z + th.reshape(self.bias, tuple(-1 if a == axis else 1 for a in range(z.ndim)))

    def _gate_slices(self, z, count: int) -> list:
        """The gates' blocks of filters along the channel axis."""
        axis, u = channel_axis(self.data_format) % z.ndim, self.units
        return [z[(slice(None),) * axis + (slice(k * u, (k + 1) * u),)] for k in range(count)]

    def get_config(self) -> dict:
        config = {k: v for k, v in super().get_config().items() if k != "units"}
        return {"filters": self.units, **config, "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate)}


class _ConvLSTM(_CellLayer):
    """A convolutional LSTM layer: ``RNN`` over a ``_ConvLSTMCell`` of the class's rank."""

    cell_class = _ConvLSTMCell

    def __init__(self, filters: int, kernel_size, **kwargs):
        super().__init__(filters, kernel_size=kernel_size, **kwargs)

    @property
    def input_rank(self) -> int:
        return 3 + self.cell_class.rank

    @classmethod
    def _default_cell_name(cls) -> str:
        return "conv_lstm_cell"


class _ConvLSTM1DCell(_ConvLSTMCell):
    rank = 1


class _ConvLSTM2DCell(_ConvLSTMCell):
    rank = 2


class _ConvLSTM3DCell(_ConvLSTMCell):
    rank = 3


@register_layer
class ConvLSTM1D(_ConvLSTM):
    """Convolutional LSTM over sequences of 1-D feature maps ``(batch, time, width, channels)``."""

    cell_class = _ConvLSTM1DCell


@register_layer
class ConvLSTM2D(_ConvLSTM):
    """Convolutional LSTM over sequences of images ``(batch, time, rows, cols, channels)``."""

    cell_class = _ConvLSTM2DCell


@register_layer
class ConvLSTM3D(_ConvLSTM):
    """Convolutional LSTM over sequences of volumes ``(batch, time, depth, rows, cols, channels)``."""

    cell_class = _ConvLSTM3DCell
