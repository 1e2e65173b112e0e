"""SpatialDropout1D/2D/3D: Dropout of whole feature maps (Keras 3's arguments).

One draw per sample and channel is shared along every spatial axis, so a
channel is either kept (and scaled by ``1 / (1 - rate)``) or zeroed
everywhere, as Keras does for adjacent, strongly correlated features.
"""

from __future__ import annotations

from theanine.frontend.layers.base import register_layer
from theanine.frontend.layers.conv_arguments import channel_axis, standard_data_format
from theanine.frontend.layers.core import Dropout
from theanine.frontend.layers.pooling import check_rank

__all__ = ["SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D"]


class _SpatialDropout(Dropout):
    rank = 2

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = standard_data_format(data_format)

    def build(self, input_shape) -> None:
        check_rank(self, input_shape)

    def _mask_shape(self, inputs):
        axis = channel_axis(self.data_format) % inputs.ndim
        return tuple(inputs.shape[a] if a in (0, axis) else 1 for a in range(inputs.ndim))

    def get_config(self) -> dict:
        config = super().get_config()
        return config if self.rank == 1 else {**config, "data_format": self.data_format}


@register_layer
class SpatialDropout1D(_SpatialDropout):
    """Drop whole channels of ``(batch, steps, channels)`` inputs."""

    rank = 1

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, None, seed, **kwargs)


@register_layer
class SpatialDropout2D(_SpatialDropout):
    """Drop whole channels of images."""


@register_layer
class SpatialDropout3D(_SpatialDropout):
    """Drop whole channels of volumes."""

    rank = 3
