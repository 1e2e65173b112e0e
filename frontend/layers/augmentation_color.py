"""Keras 3's colour and filter image layers: AutoContrast, Equalization, RandomColorDegeneration,
RandomHue, RandomSaturation, RandomSharpness, RandomPosterization, RandomColorJitter and
RandomGaussianBlur.

They share augmentation_more's image handling (rank 3 or 4, ``data_format``,
integer images computed in the layer's float dtype) and follow Keras 3.15's
formulas and factor rules (see each docstring), so a fixed factor range gives
Keras' values.  AutoContrast works in training and inference; the others,
Equalization included, change images in training only (Keras' code returns
its inputs when ``training`` is false).  Where Keras histograms the pixels
of the whole batch at once, Equalization here equalizes each image's
channels on their own (the same values for a batch of one).  Each takes
Keras' dict inputs too (``image_dicts``: the images transformed, labels,
masks and boxes passed on).
"""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.frontend.layers.augmentation_more import (
    RandomBrightness,
    RandomContrast,
    _as_config,
    _ImageLayer,
    _is_number,
    _ValueRangeLayer,
    factor_range,
    value_range_pair,
)
from theanine.frontend.layers.base import register_layer
from theanine.frontend.layers.image_dicts import ImagesDict
from theanine.frontend.ops import image as image_ops

__all__ = [
    "AutoContrast", "Equalization", "RandomColorDegeneration", "RandomHue", "RandomSaturation",
    "RandomSharpness", "RandomPosterization", "RandomColorJitter", "RandomGaussianBlur",
]

_GRAY = np.array([0.2989, 0.5870, 0.1140])


def to_range(images, source, target):
    """Keras' ``_transform_value_range``: values mapped linearly from ``source`` to ``target``."""
    if tuple(source) == tuple(target):
        return images
    dtype = images.dtype
    unit = (images - np.asarray(source[0], dtype)) / np.asarray(source[1] - source[0], dtype)
    return unit * np.asarray(target[1] - target[0], dtype) + np.asarray(target[0], dtype)


def _scale(images, source, target):
    """Equalization's linear map (Keras' ``_scale_values``: ``x * scale + offset``)."""
    scale = (target[1] - target[0]) / (source[1] - source[0])
    offset = target[0] - source[0] * scale
    return images * np.asarray(scale, images.dtype) + np.asarray(offset, images.dtype)


def _rgb(layer, images):
    if images.type.shape[3] != 3:
        raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) expects RGB images (3 channels). "
                         f"Received: images of type {images.type} (channels last)")


def _gray(images):
    return th.sum(images * _GRAY.astype(images.dtype), axis=3, keepdims=True)


def _rgb_to_hsv(images):
    """Channels-last float RGB to hue, saturation, value in [0, 1] (Keras' ``rgb_to_hsv``)."""
    return image_ops.rgb_to_hsv(images, data_format="channels_last")


def _hsv_to_rgb(images):
    return image_ops.hsv_to_rgb(images, data_format="channels_last")


# ----------------------------------------------------------------------------- deterministic


@register_layer
class AutoContrast(ImagesDict, _ImageLayer):
    """Stretch each image's channels to the full ``value_range``: ``(x - min) * (high - low) / (max - min)
    + low`` per image and channel; a constant channel is kept.  Active in training and inference."""

    def __init__(self, value_range=(0, 255), **kwargs):
        super().__init__(**kwargs)
        self.value_range = value_range_pair(value_range)

    def transform(self, images, training: bool):
        scaled = to_range(images, self.value_range, (0, 255))
        low = th.min(scaled, axis=(1, 2), keepdims=True)
        high = th.max(scaled, axis=(1, 2), keepdims=True)
        spread = high - low
        safe = th.where(th.gt(spread, 0), spread, th.ones_like(spread))
        stretched = th.clip((scaled - low) * (np.asarray(255.0, images.dtype) / safe), 0.0, 255.0)
        return th.where(th.gt(spread, 0), to_range(stretched, (0, 255), self.value_range), images)

    def get_config(self) -> dict:
        return {**super().get_config(), "value_range": list(self.value_range)}


@register_layer
class Equalization(ImagesDict, _ImageLayer):
    """Histogram equalization of each channel of each image (in training), as Keras' formulas: pixels
    in [0, 255] fall in ``bins`` bins (``int(x * (bins - 1) / 255)``), the lookup table is
    ``round((cdf - cdf_min) * 255 / (n - cdf_min))``; a channel with one occupied bin is kept."""

    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
            raise ValueError(f"Equalization: bins must be an integer >= 2. Received: bins={bins!r}")
        self.bins = int(bins)
        self.value_range = value_range_pair(value_range)

    def _changes(self, training) -> bool:
        return bool(training)

    def transform(self, images, training: bool):
        dtype = images.dtype
        height, width = self._static_size(images)
        bins = self.bins
        channel = _scale(images, self.value_range, (0, 255))
        index = th.clip(th.cast(channel * float(bins - 1) / np.asarray(255.0, dtype), "int64"), 0, bins - 1)
        cdf = th.sum(th.cast(th.le(th.expand_dims(index, -1), np.arange(bins)), dtype), axis=(1, 2))
        total = np.asarray(height * width, dtype)  # cdf: (batch, channels, bins)
        cdf_min = th.min(th.where(th.gt(cdf, 0), cdf, total), axis=-1, keepdims=True)
        denominator = total - cdf_min
        denominator = th.where(th.eq(denominator, 0), th.ones_like(denominator), denominator)
        table = th.clip(th.round((cdf - cdf_min) * np.asarray(255.0, dtype) / denominator), 0.0, 255.0)
        counts = th.concatenate([cdf[..., :1], cdf[..., 1:] - cdf[..., :-1]], axis=-1)
        occupied = th.sum(th.cast(th.gt(counts, 0), "int64"), axis=-1)  # (batch, channels)
        lookup = th.cast(th.clip(channel / np.asarray(255.0, dtype) * float(bins - 1), 0.0, float(bins - 1)),
                         "int64")
        channels = images.type.shape[3]
        offsets = th.reshape(th.arange(th.shape(images)[0]) * channels, (-1, 1, 1, 1)) + np.arange(channels)
        equalized = th.reshape(th.take(th.flatten(table), th.flatten(offsets * bins + lookup)), th.shape(images))
        equalized = th.where(th.le(th.reshape(occupied, (-1, 1, 1, channels)), 1), channel, equalized)
        return _scale(equalized, (0, 255), self.value_range)

    def get_config(self) -> dict:
        return {**super().get_config(), "bins": self.bins, "value_range": list(self.value_range)}


# ----------------------------------------------------------------------------- random colour


class _FactorLayer(_ValueRangeLayer):
    """A ``_ValueRangeLayer`` with Keras' ``factor`` checked against ``BOUNDS``."""

    BOUNDS = (-1.0, 1.0)

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(value_range=value_range, seed=seed, data_format=data_format, **kwargs)
        self.lower, self.upper = factor_range(factor, "factor", self.BOUNDS)
        self.factor = _as_config(factor)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor}


@register_layer
class RandomColorDegeneration(ImagesDict, _FactorLayer):
    """Blend each image toward its gray level: ``x + f * (gray - x)``, ``f`` drawn per image in
    ``factor`` (a number ``f``: ``(-f, f)`` as Keras), clipped to ``value_range``."""

    def transform(self, images, training: bool):
        _rgb(self, images)
        factor = self._per_image(images, self.lower, self.upper)
        return self._clip(images + factor * (_gray(images) - images))


@register_layer
class RandomHue(ImagesDict, _FactorLayer):
    """Shift each image's hue by ``+-f / 2`` (a random sign, ``f`` drawn in ``factor``; a number ``f`` in
    [0, 1]: ``(0, f)``), wrapping around, in HSV of the images mapped to [0, 1]."""

    BOUNDS = (0.0, 1.0)

    def transform(self, images, training: bool):
        _rgb(self, images)
        sign = th.where(th.gt(self._per_image(images, 0.0, 1.0), 0.5), -1.0, 1.0)
        delta = th.cast(sign, images.dtype) * self._per_image(images, self.lower, self.upper) * 0.5
        hsv = _rgb_to_hsv(to_range(images, self.value_range, (0, 1)))
        hue = hsv[..., :1] + delta
        hue = th.where(th.gt(hue, 1.0), hue - 1.0, hue)
        hue = th.where(th.lt(hue, 0.0), hue + 1.0, hue)
        rgb = th.clip(_hsv_to_rgb(th.concatenate([hue, hsv[..., 1:]], axis=3)), 0.0, 1.0)
        return to_range(rgb, (0, 1), self.value_range)


@register_layer
class RandomSaturation(ImagesDict, _FactorLayer):
    """Scale each image's HSV saturation by ``f / (1 - f + 1e-7)``, ``f`` drawn in ``factor`` (a number:
    ``(-f, f)``, as Keras), clipped to [0, 1].  Keras clips the saturation to ``value_range`` instead, so
    with (0, 255) its saturations above 1 give negative pixels; otherwise the two agree."""

    def transform(self, images, training: bool):
        _rgb(self, images)
        draw = self._per_image(images, self.lower, self.upper)
        scale = draw / (1.0 - draw + np.asarray(1e-7, images.dtype))
        hsv = _rgb_to_hsv(images)
        saturation = th.clip(hsv[..., 1:2] * scale, 0.0, 1.0)
        return _hsv_to_rgb(th.concatenate([hsv[..., :1], saturation, hsv[..., 2:]], axis=3))


_SMOOTH = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]]) / 13.0


@register_layer
class RandomSharpness(ImagesDict, _FactorLayer):
    """Blend each image with its 3x3 smoothing (weights 1/13, centre 5/13, zero padding):
    ``x + (1 - 2 f) * (smooth - x)``, ``f`` drawn per image in ``factor`` (a number: ``(0, f)``),
    clipped to ``value_range``."""

    BOUNDS = (0.0, 1.0)

    def transform(self, images, training: bool):
        channels = images.type.shape[3]
        kernel = np.tile(_SMOOTH.astype(images.dtype)[:, :, None, None], (1, 1, channels, 1))
        smooth = th.depthwise_conv(images, kernel, padding="same")
        sharpness = self._per_image(images, self.lower, self.upper) * 2.0
        return self._clip(images + (1.0 - sharpness) * (smooth - images))


@register_layer
class RandomPosterization(ImagesDict, _ValueRangeLayer):
    """Keep ``b`` bits of each pixel mapped to [0, 255] (``floor(x / 2^(8-b)) * 2^(8-b)`` of its integer
    part), ``b`` an integer drawn per image in ``[lower, upper)`` of ``factor`` in [1, 8] (a number ``f``:
    ``(1, f)``; equal bounds: that number)."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(value_range=value_range, seed=seed, data_format=data_format, **kwargs)
        self.lower, self.upper = (int(v) for v in factor_range(factor, "factor", (1, 8)))
        self.factor = _as_config(factor)

    def transform(self, images, training: bool):
        dtype = images.dtype
        if self.lower == self.upper:
            bits = th.constant(np.full((1, 1, 1, 1), self.lower, dtype))
        else:
            draws = self.stream.integers(self.lower, self.upper, size=(th.shape(images)[0],))
            bits = th.reshape(th.cast(draws, dtype), (-1, 1, 1, 1))
        step = th.pow(np.asarray(2.0, dtype), 8.0 - bits)
        pixels = th.floor(th.clip(to_range(images, self.value_range, (0, 255)), 0.0, 255.0))
        return to_range(th.floor(pixels / step) * step, (0, 255), self.value_range)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor}


@register_layer
class RandomColorJitter(ImagesDict, _ValueRangeLayer):
    """Keras' RandomColorJitter: RandomBrightness, RandomContrast, RandomSaturation and RandomHue, in
    that order, each present when its factor is given, sharing ``value_range``."""

    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None, saturation_factor=None,
                 hue_factor=None, seed=None, data_format=None, **kwargs):
        super().__init__(value_range=value_range, seed=seed, data_format=data_format, **kwargs)
        self.brightness_factor, self.contrast_factor = _as_config(brightness_factor), _as_config(contrast_factor)
        self.saturation_factor, self.hue_factor = _as_config(saturation_factor), _as_config(hue_factor)
        steps = ((RandomBrightness, brightness_factor), (RandomContrast, contrast_factor),
                 (RandomSaturation, saturation_factor), (RandomHue, hue_factor))
        self.steps = [cls(factor, value_range=value_range, seed=self.seed + i, dtype=self.dtype)
                      for i, (cls, factor) in enumerate(steps) if factor is not None]

    def transform(self, images, training: bool):
        for step in self.steps:
            images = step.transform(images, training)
        return images

    def get_config(self) -> dict:
        return {**super().get_config(), "brightness_factor": self.brightness_factor,
                "contrast_factor": self.contrast_factor, "saturation_factor": self.saturation_factor,
                "hue_factor": self.hue_factor}


def _kernel_size(value) -> tuple[int, int]:
    """Keras' rule: an odd number, or two odd numbers (kernel width, kernel height)."""
    pair = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    if len(pair) != 2 or not all(_is_number(v) and v == int(v) and int(v) % 2 == 1 for v in pair):
        raise ValueError(f"kernel_size must be an odd number (or a list of two odd numbers). "
                         f"Received: kernel_size={value!r}")
    return int(pair[0]), int(pair[1])


def _gaussian(size: int, sigma):
    """The normalized 1-D Gaussian of ``size`` taps, ``sigma`` a scalar tensor."""
    taps = (np.arange(size) - (size - 1) / 2.0).astype(sigma.dtype)
    weights = th.exp(-0.5 * th.sqr(taps / sigma))
    return weights / th.sum(weights)


@register_layer
class RandomGaussianBlur(ImagesDict, _ValueRangeLayer):
    """Blur some images with a Gaussian kernel (``kernel_size`` taps, zero padding): each image is blurred
    when a uniform threshold falls below a probability drawn in ``factor`` (a number: ``(0, f)``); the two
    standard deviations (width, height) are drawn once per batch in ``sigma`` (a number: ``(0, s)``,
    within [0, 1] as Keras), plus 1e-6; the result is clipped to ``value_range``."""

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255), data_format=None, seed=None,
                 **kwargs):
        super().__init__(value_range=value_range, seed=seed, data_format=data_format, **kwargs)
        self.lower, self.upper = factor_range(factor, "factor", (0.0, 1.0))
        self.kernel_size = _kernel_size(kernel_size)
        self.sigma = factor_range(sigma, "sigma", (0.0, 1.0))
        self.factor = _as_config(factor)

    def transform(self, images, training: bool):
        probability = self._per_image(images, self.lower, self.upper)
        apply = th.lt(self._per_image(images, 0.0, 1.0), probability)
        sigmas = self.stream.uniform(size=(2,), low=self.sigma[0], high=self.sigma[1], dtype=images.dtype) + 1e-6
        across = _gaussian(self.kernel_size[0], sigmas[0])
        down = _gaussian(self.kernel_size[1], sigmas[1])
        kernel = th.outer(down, across)  # (height taps, width taps)
        channels = images.type.shape[3]
        kernel = th.tile(th.reshape(kernel, (self.kernel_size[1], self.kernel_size[0], 1, 1)), (1, 1, channels, 1))
        blurred = th.depthwise_conv(images, kernel, padding="same")
        return self._clip(th.where(apply, blurred, images))

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor, "kernel_size": list(self.kernel_size),
                "sigma": list(self.sigma)}
