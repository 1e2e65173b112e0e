"""ContrastLimitedAdaptiveHistogramEqualization (CLAHE), Keras 3's formulation, in training and
inference.

Pixels mapped from ``value_range`` to [0, 255] are padded symmetrically (``c b a | a b c``) at the
bottom and right to a whole ``tile_grid_size`` grid of tiles; each tile and channel gets a 256-bin
histogram of its integer pixels, clipped at ``clip_limit * tile_pixels / 256`` with the excess spread
evenly over the bins, and the normalized cdf ``(cdf - cdf_min) * 255 / (n - cdf_min)``.  A pixel's
value is the bilinear blend of the cdfs of the four tiles around it (the border tiles' cdfs repeated
outside the grid), taken at its integer level; the result is mapped back to ``value_range``.
"""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.frontend.layers.augmentation_color import to_range
from theanine.frontend.layers.augmentation_more import _ImageLayer, _is_number, value_range_pair
from theanine.frontend.layers.base import register_layer
from theanine.frontend.layers.image_dicts import ImagesDict

__all__ = ["ContrastLimitedAdaptiveHistogramEqualization"]

LEVELS = 256


def _pad_symmetric(images, pad: int, axis: int):
    """``pad`` mirrored rows (``axis`` 1) or columns (``axis`` 2) appended, edge included."""
    if pad == 0:
        return images
    size = images.type.shape[axis]
    tail = images[:, size - pad:] if axis == 1 else images[:, :, size - pad:]
    return th.concatenate([images, th.flip(tail, axis)], axis=axis)


def _repeat_edges(table, axis: int):
    first = th.take(table, np.array([0]), axis=axis)
    last = th.take(table, np.array([table.type.shape[axis] - 1]), axis=axis)
    return th.concatenate([first, table, last], axis=axis)


def _corners(size: int, tile: int, grid: int):
    """For each padded position along an axis: the lower and upper tile (in the edge-padded grid)
    and the weight of the upper one (Keras' ``(i - tile / 2) / tile + 1``)."""
    position = (np.arange(size * 1.0, dtype="float32") - np.float32(tile / 2.0)) / np.float32(tile) + 1.0
    low = np.floor(position)
    weight = position - low
    return (np.clip(low, 0, grid + 1).astype("int64"), np.clip(low + 1, 0, grid + 1).astype("int64"),
            weight.astype("float32"))


@register_layer
class ContrastLimitedAdaptiveHistogramEqualization(ImagesDict, _ImageLayer):
    """CLAHE (see the module docstring): ``value_range``, ``clip_limit`` (0: no clipping) and
    ``tile_grid_size`` = (rows, columns) of tiles, as Keras."""

    def __init__(self, value_range=(0, 255), clip_limit=4.0, tile_grid_size=(8, 8), data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        if not _is_number(clip_limit) or clip_limit < 0:
            raise ValueError(f"ContrastLimitedAdaptiveHistogramEqualization: clip_limit must be a non-negative "
                             f"number. Received: clip_limit={clip_limit!r}")
        if not isinstance(tile_grid_size, (list, tuple)) or len(tile_grid_size) != 2 or not all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in tile_grid_size):
            raise ValueError(f"ContrastLimitedAdaptiveHistogramEqualization: tile_grid_size must be two positive "
                             f"integers. Received: tile_grid_size={tile_grid_size!r}")
        self.value_range = value_range_pair(value_range)
        self.clip_limit = float(clip_limit)
        self.tile_grid_size = tuple(int(v) for v in tile_grid_size)

    def transform(self, images, training: bool):
        height, width = self._static_size(images)
        channels = images.type.shape[3]
        grid_h, grid_w = self.tile_grid_size
        tile_h, tile_w = -(-height // grid_h), -(-width // grid_w)
        scaled = to_range(th.cast(images, "float32"), self.value_range, (0, 255))
        padded = _pad_symmetric(_pad_symmetric(scaled, tile_h * grid_h - height, 1), tile_w * grid_w - width, 2)
        levels = th.clip(th.cast(padded, "int64"), 0, LEVELS - 1)  # (batch, H, W, channels)
        batch = th.shape(images)[0]
        tiles = th.reshape(levels, (batch, grid_h, tile_h, grid_w, tile_w, channels))
        tiles = th.reshape(th.transpose(tiles, (0, 1, 3, 5, 2, 4)), (batch, grid_h, grid_w, channels, tile_h * tile_w))
        hist = th.sum(th.cast(th.eq(th.expand_dims(tiles, -1), np.arange(LEVELS)), "float32"), axis=-2)
        pixels = float(tile_h * tile_w)
        if self.clip_limit > 0:
            clipped = th.clip(hist, 0.0, np.float32(self.clip_limit * pixels / LEVELS))
            hist = clipped + th.sum(hist - clipped, axis=-1, keepdims=True) / np.float32(LEVELS)
        cdf = th.cumsum(hist, axis=-1)
        cdf_min = th.min(cdf, axis=-1, keepdims=True)
        denominator = np.float32(pixels) - cdf_min
        denominator = th.where(th.eq(denominator, 0), th.ones_like(denominator), denominator)
        table = th.clip((cdf - cdf_min) * np.float32(255.0) / denominator, 0.0, 255.0)
        table = _repeat_edges(_repeat_edges(table, 1), 2)  # (batch, grid_h + 2, grid_w + 2, channels, 256)
        flat = th.flatten(table)
        y0, y1, wy = _corners(tile_h * grid_h, tile_h, grid_h)
        x0, x1, wx = _corners(tile_w * grid_w, tile_w, grid_w)
        stride_x = LEVELS * channels
        stride_y = stride_x * (grid_w + 2)
        stride_b = stride_y * (grid_h + 2)
        base = (th.reshape(th.arange(batch) * stride_b, (-1, 1, 1, 1)) + (np.arange(channels) * LEVELS)
                + levels)

        def at(ys, xs):
            offsets = (ys * stride_y)[:, None, None] + (xs * stride_x)[None, :, None]
            return th.reshape(th.take(flat, th.flatten(base + offsets)), th.shape(levels))

        wx, wy = wx[None, None, :, None], wy[None, :, None, None]
        top = at(y0, x0) * (1.0 - wx) + at(y0, x1) * wx
        bottom = at(y1, x0) * (1.0 - wx) + at(y1, x1) * wx
        result = (top * (1.0 - wy) + bottom * wy)[:, :height, :width, :]
        return th.cast(to_range(result, (0, 255), self.value_range), images.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "value_range": list(self.value_range), "clip_limit": self.clip_limit,
                "tile_grid_size": list(self.tile_grid_size)}
