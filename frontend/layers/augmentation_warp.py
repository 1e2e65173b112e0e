"""Keras 3's non-affine warps: RandomPerspective and RandomElasticTransform.

Both resample the image at a displaced position for each output pixel with
augmentation.py's ``sample`` (bilinear or nearest; points outside by
``fill_mode``), in training only, each image of a batch kept or warped by
Keras' coin (a uniform threshold below a probability drawn in ``factor``).

RandomPerspective moves the image's corners ``(0, 0)``, ``(w-1, 0)``,
``(0, h-1)``, ``(w-1, h-1)`` by ``corner * u``, ``u`` uniform in
``[-scale/2, scale/2]`` per coordinate (so, as in Keras, the corner at the
origin never moves), and samples the input at ``H (x, y, 1)`` where ``H``
maps the moved corners back onto the original ones.  Keras solves an 8x8
system for ``H``; here it is Heckbert's closed form (square to quadrilateral,
inverted by its adjugate), the same matrix up to rounding.

RandomElasticTransform displaces each pixel by ``alpha`` times a Gaussian-
blurred normal field (``alpha = 0.1 f max(h, w)``, ``sigma = 0.05 f min(h,
w)``, ``f`` drawn once per batch in ``scale``).  Keras sizes the blur kernel
``int(6 sigma) | 1`` from the drawn sigma; a graph needs a static size, so the
kernel here has the size for the largest sigma ``scale`` allows (the same
Gaussian, normalized over a few more taps of negligible weight), and the two
fields are independent draws (Keras' JAX code draws both from one key, so
its displacements are diagonal).
"""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.frontend.layers.augmentation import INTERPOLATIONS, sample
from theanine.frontend.layers.augmentation_more import (
    _as_config,
    _choice,
    _is_number,
    _RandomImageLayer,
    factor_range,
    value_range_pair,
)
from theanine.frontend.layers.base import register_layer
from theanine.frontend.layers.image_dicts import ImagesDict

__all__ = ["RandomPerspective", "RandomElasticTransform"]

ELASTIC_FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")


def _coin(layer, images, lower: float, upper: float):
    """Keras' per-image coin, shaped (batch, 1, 1, 1)."""
    probability = layer._per_image(images, lower, upper)
    return th.lt(layer._per_image(images, 0.0, 1.0), probability)


# ----------------------------------------------------------------------------- perspective


def perspective_sources(corners, height: int, width: int):
    """For ``corners`` (batch, 4, 2): where the corners ``(0, 0), (w-1, 0), (0, h-1), (w-1, h-1)`` moved to,
    the input positions ``(source_y, source_x)`` (batch, height, width) that each output pixel reads."""
    (x0, y0), (x1, y1) = (corners[:, 0, 0], corners[:, 0, 1]), (corners[:, 1, 0], corners[:, 1, 1])
    (x3, y3), (x2, y2) = (corners[:, 2, 0], corners[:, 2, 1]), (corners[:, 3, 0], corners[:, 3, 1])
    # Heckbert: the unit square (0,0), (1,0), (1,1), (0,1) onto the quadrilateral p0, p1, p2, p3
    dx1, dx2, dx3 = x1 - x2, x3 - x2, x0 - x1 + x2 - x3
    dy1, dy2, dy3 = y1 - y2, y3 - y2, y0 - y1 + y2 - y3
    den = dx1 * dy2 - dx2 * dy1
    g, h = (dx3 * dy2 - dx2 * dy3) / den, (dx1 * dy3 - dx3 * dy1) / den
    a, b, c = x1 - x0 + g * x1, x3 - x0 + h * x3, x0
    d, e, f = y1 - y0 + g * y1, y3 - y0 + h * y3, y0
    # the inverse (adjugate) maps output pixels to the unit square; then scale to the image
    rows = ((e - f * h, c * h - b, b * f - c * e), (f * g - d, a - c * g, c * d - a * f),
            (d * h - e * g, b * g - a * h, a * e - b * d))
    ys, xs = np.meshgrid(np.arange(height, dtype=corners.dtype), np.arange(width, dtype=corners.dtype),
                         indexing="ij")

    def apply(row):
        return th.reshape(row[0], (-1, 1, 1)) * xs + th.reshape(row[1], (-1, 1, 1)) * ys + th.reshape(row[2],
                                                                                                       (-1, 1, 1))
    u, v, w = (apply(row) for row in rows)
    return v / w * float(height - 1), u / w * float(width - 1)


@register_layer
class RandomPerspective(ImagesDict, _RandomImageLayer):
    """Warp some images by a random perspective (see the module docstring): ``factor`` (a number ``f``
    in [0, 1]: ``(0, f)``) draws each image's probability, ``scale`` in [0, 1] the corners' moves;
    outside points take ``fill_value``."""

    geometric = True  # masks and boxes would have to move with the pixels

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_value=0.0, seed=None,
                 data_format=None, **kwargs):
        if not _is_number(scale) or not 0.0 <= scale <= 1.0:
            raise ValueError(f"The `scale` argument should be a number in the range [0,1]. Received: scale={scale}")
        if interpolation not in INTERPOLATIONS:
            raise NotImplementedError(f"Unknown `interpolation` {interpolation}. Expected of one {INTERPOLATIONS}.")
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.lower, self.upper = factor_range(factor, "factor", (0.0, 1.0))
        self.factor, self.scale = _as_config(factor), float(scale)
        self.interpolation, self.fill_value = interpolation, float(fill_value)

    def transform(self, images, training: bool):
        height, width = self._static_size(images)
        apply = _coin(self, images, self.lower, self.upper)
        moves = self.stream.uniform(size=(th.shape(images)[0], 4, 2), low=-0.5 * self.scale, high=0.5 * self.scale,
                                    dtype=images.dtype)
        start = np.array([[0, 0], [width - 1, 0], [0, height - 1], [width - 1, height - 1]], images.dtype)
        source_y, source_x = perspective_sources(start + start * moves, height, width)
        warped = sample(images, source_y, source_x, "constant", self.interpolation, self.fill_value)
        return th.where(apply, warped, images)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_value": self.fill_value}


# ----------------------------------------------------------------------------- elastic


def _mirror(coordinate, size: int):
    """A coordinate folded into ``[0, size - 1]`` by whole-sample symmetry (``c b | a b c d | c b``)."""
    if size == 1:
        return th.zeros_like(coordinate)
    period = np.asarray(2 * (size - 1), coordinate.dtype)
    t = th.mod(coordinate, period)
    return th.where(th.gt(t, np.asarray(size - 1, coordinate.dtype)), period - t, t)


def elastic_warp(images, dx, dy, alpha, interpolation: str, fill_mode: str, fill_value: float):
    """``images`` (batch, h, w, channels) read at ``(y + alpha dy, x + alpha dx)``; ``dx``, ``dy``
    (batch, h, w)."""
    height, width = images.type.shape[1], images.type.shape[2]
    ys, xs = np.meshgrid(np.arange(height, dtype=images.dtype), np.arange(width, dtype=images.dtype),
                         indexing="ij")
    source_y, source_x = ys + alpha * dy, xs + alpha * dx
    if fill_mode == "mirror":
        source_y, source_x, fill_mode = _mirror(source_y, height), _mirror(source_x, width), "nearest"
    return sample(images, source_y, source_x, fill_mode, interpolation, fill_value)


def _blur(field, sigma, taps: int):
    """``field`` (batch, h, w) convolved with a ``taps`` x ``taps`` Gaussian of ``sigma`` (zero padding)."""
    offsets = (np.arange(taps) - (taps - 1) / 2.0).astype(field.dtype)
    weights = th.exp(-0.5 * th.sqr(offsets / sigma))
    weights = weights / th.sum(weights)
    kernel = th.reshape(th.outer(weights, weights), (taps, taps, 1, 1))
    return th.depthwise_conv(th.expand_dims(field, -1), kernel, padding="same")[..., 0]


@register_layer
class RandomElasticTransform(ImagesDict, _RandomImageLayer):
    """Displace the pixels of some images by a smooth random field (see the module docstring), clipped
    to ``value_range``; ``factor`` (a number ``f`` in [0, 1]: ``(0, f)``) draws each image's probability,
    ``scale`` (likewise) the distortion, ``fill_mode`` one of constant, nearest, wrap, mirror, reflect."""

    geometric = True  # masks and boxes would have to move with the pixels

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                 value_range=(0, 255), seed=None, data_format=None, **kwargs):
        if interpolation not in INTERPOLATIONS:
            raise NotImplementedError(f"Unknown `interpolation` {interpolation}. Expected of one {INTERPOLATIONS}.")
        if fill_mode not in ELASTIC_FILL_MODES:
            raise NotImplementedError(f"Unknown `fill_mode` {fill_mode}. Expected of one {set(ELASTIC_FILL_MODES)}.")
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.lower, self.upper = factor_range(factor, "factor", (0.0, 1.0))
        self.scale = factor_range(scale, "scale", (0.0, 1.0))
        self.factor = _as_config(factor)
        self.interpolation = _choice(interpolation, INTERPOLATIONS, "interpolation", "RandomElasticTransform")
        self.fill_mode, self.fill_value = fill_mode, float(fill_value)
        self.value_range = value_range_pair(value_range)

    def transform(self, images, training: bool):
        if self.scale[1] == 0 or self.upper == 0:
            return images
        height, width = self._static_size(images)
        dtype, batch = images.dtype, th.shape(images)[0]
        apply = _coin(self, images, self.lower, self.upper)
        distortion = self.stream.uniform(low=self.scale[0], high=self.scale[1], dtype=dtype)
        alpha = distortion * float(max(height, width) * 0.1)
        sigma = distortion * float(min(height, width) * 0.05)
        taps = int(6 * min(height, width) * 0.05 * self.scale[1]) | 1
        safe_sigma = th.maximum(sigma, np.asarray(1e-6, dtype))
        dx = _blur(self.stream.normal(size=(batch, height, width), dtype=dtype) * sigma, safe_sigma, taps)
        dy = _blur(self.stream.normal(size=(batch, height, width), dtype=dtype) * sigma, safe_sigma, taps)
        warped = elastic_warp(images, dx, dy, alpha, self.interpolation, self.fill_mode, self.fill_value)
        low, high = (np.asarray(v, dtype) for v in self.value_range)
        return th.clip(th.where(apply, warped, images), low, high)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor, "scale": list(self.scale),
                "interpolation": self.interpolation, "fill_mode": self.fill_mode, "fill_value": self.fill_value,
                "value_range": list(self.value_range)}
