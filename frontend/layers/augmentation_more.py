"""More image layers of Keras 3: crops, affine augmentation (zoom, translation, shear) and colour
augmentation (contrast, brightness, grayscale, invert, solarization, erasing).

Images are ``(batch, height, width, channels)`` or one unbatched image,
``data_format="channels_first"`` puts channels before height.  The random
layers draw from their own seeded stream (``SeededLayer``) and change
images only in training (``fit``, or a call with ``training=True``); in
inference they return the inputs, except the crops, which always crop.
Each image of a batch draws its own transformation (RandomCrop draws one
window for the batch, as Keras).  The draws follow Keras 3.15's
formulas, factor by factor; the docstrings give them.

Affine layers sample the input at ``(x', y') = A (x, y, 1)`` for each
output pixel ``(x, y)`` (Keras' ``affine_transform`` matrices), bilinear or
nearest, outside points by ``fill_mode`` ("reflect", "wrap", "nearest",
"constant" with ``fill_value``), as RandomRotation does.

A crop to a size larger than the input (and RandomCrop in inference)
takes the largest centred window of the target aspect ratio, its corners
rounded down to whole pixels, and resizes it bilinearly (Keras'
``smart_resize``).  Keras 3.15's RandomCrop returns its inputs unchanged
in inference although its documentation and output shape say it crops;
this one crops, so that a model's predict shapes match its training ones.
"""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.frontend.layers.augmentation import FILL_MODES, INTERPOLATIONS, resize, sample
from theanine.frontend.layers.base import Layer, register_layer
from theanine.frontend.layers.conv_arguments import standard_data_format
from theanine.frontend.layers.seeded import SeededLayer
from theanine.graph.basic import Variable

__all__ = [
    "RandomCrop", "CenterCrop", "RandomZoom", "RandomTranslation", "RandomShear", "RandomContrast",
    "RandomBrightness", "RandomGrayscale", "RandomInvert", "Solarization", "RandomErasing",
]


# ----------------------------------------------------------------------------- argument checks


def factor_range(factor, name: str, bounds: tuple[float, float], symmetric: bool = True) -> tuple[float, float]:
    """Keras' factor rule: a pair is sorted; a number ``f`` is ``(-|f|, |f|)`` clipped below at
    ``bounds[0]`` (``symmetric=False``: ``(bounds[0], f)``); every value must lie in ``bounds``."""
    message = (f"The `{name}` argument should be a number (or a list of two numbers) in the range "
               f"[{bounds[0]}, {bounds[1]}]. Received: {name}={factor!r}")
    if isinstance(factor, (list, tuple)):
        if len(factor) != 2 or not all(_is_number(f) and bounds[0] <= f <= bounds[1] for f in factor):
            raise ValueError(message)
        low, high = sorted(float(f) for f in factor)
        return low, high
    if not _is_number(factor) or not bounds[0] <= factor <= bounds[1]:
        raise ValueError(message)
    size = abs(float(factor))
    return (max(-size, bounds[0]), size) if symmetric else (float(bounds[0]), float(factor))


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def value_range_pair(value_range) -> list[float]:
    """``value_range`` as a sorted ``[low, high]`` of floats."""
    if not isinstance(value_range, (list, tuple)) or len(value_range) != 2 \
            or not all(_is_number(v) for v in value_range):
        raise ValueError("The `value_range` argument should be a list of two numbers. "
                         f"Received: value_range={value_range!r}")
    return sorted(float(v) for v in value_range)


def _choice(value, options, name: str, layer: str) -> str:
    if value not in options:
        raise ValueError(f"{layer}: {name} must be one of {list(options)}. Received: {name}={value!r}")
    return value


def _size(value, name: str, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{layer}: {name} must be a positive integer. Received: {name}={value!r}")
    return int(value)


# ----------------------------------------------------------------------------- shared bases


class _ImageLayer(Layer):
    """Rank 3 or 4 images in ``data_format``; ``transform`` sees a float channels-last batch."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standard_data_format(data_format)

    def __call__(self, inputs, *args, **kwargs):
        """An unbatched image given as an array runs as a batch of one, so its height and width are
        static (an eager call leaves the first axis dynamic)."""
        if not isinstance(inputs, Variable) and np.ndim(inputs) == 3:
            return super().__call__(np.asarray(inputs)[None], *args, **kwargs)[0]
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, training=None):
        if inputs.ndim not in (3, 4):
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) expects images (batch, height, width, "
                             f"channels) or one image. Received: input of type {inputs.type}")
        if not self._changes(training):
            return inputs
        images = inputs if inputs.ndim == 4 else th.expand_dims(inputs, 0)
        if self.data_format == "channels_first":
            images = th.transpose(images, (0, 2, 3, 1))
        if not images.dtype.startswith("float"):
            images = th.cast(images, self.dtype)
        out = self.transform(images, bool(training))
        if self.data_format == "channels_first":
            out = th.transpose(out, (0, 3, 1, 2))
        return out if inputs.ndim == 4 else out[0]

    def _changes(self, training) -> bool:
        """Whether the call transforms its images (the random layers: in training only)."""
        return True

    def transform(self, images, training: bool):
        raise NotImplementedError

    def _static_size(self, images) -> tuple[int, int]:
        height, width = images.type.shape[1], images.type.shape[2]
        if height is None or width is None:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) needs a static image height and width. "
                             f"Received: images of type {images.type} (channels last)")
        return height, width

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


class _RandomImageLayer(SeededLayer, _ImageLayer):
    """A seeded ``_ImageLayer`` that changes images in training only."""

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)

    def _changes(self, training) -> bool:
        return bool(training)

    def _per_image(self, images, low: float, high: float):
        """One uniform draw per image, shaped (batch, 1, 1, 1)."""
        draws = self.stream.uniform(size=(images.shape[0],), low=low, high=high, dtype=images.dtype)
        return th.reshape(draws, (-1, 1, 1, 1))


# ----------------------------------------------------------------------------- crops


def smart_resize(images, height: int, width: int):
    """Keras' ``smart_resize``: the largest centred window of the target aspect ratio (whole pixels),
    cut out, then resized bilinearly to ``(height, width)``."""
    in_h, in_w = images.type.shape[1], images.type.shape[2]
    crop_h = max(min(in_h, int(in_w * height / width)), 1)
    crop_w = max(min(in_w, int(in_h * width / height)), 1)
    top, left = int((in_h - crop_h) / 2), int((in_w - crop_w) / 2)
    window = images[:, top:top + crop_h, left:left + crop_w]
    return resize(window, height, width, "bilinear", (0, 0, crop_h, crop_w))


def _window(images, top, left, height: int, width: int):
    """The ``height`` x ``width`` window at (top, left) (ints or int scalars) of each image."""
    rows = th.take(images, top + th.arange(height), axis=1)
    return th.take(rows, left + th.arange(width), axis=2)


class _Crop(_ImageLayer):
    def __init__(self, height: int, width: int, **kwargs):
        super().__init__(**kwargs)
        self.height = _size(height, "height", type(self).__name__)
        self.width = _size(width, "width", type(self).__name__)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        axes = (-2, -1) if self.data_format == "channels_first" else (-3, -2)
        shape[axes[0]], shape[axes[1]] = self.height, self.width
        return tuple(shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "height": self.height, "width": self.width}


@register_layer
class CenterCrop(_Crop):
    """The centred ``height`` x ``width`` window (offsets ``(in - out) // 2``), in training and inference;
    a smaller image is cropped to the target aspect ratio and resized (``smart_resize``)."""

    def transform(self, images, training: bool):
        in_h, in_w = self._static_size(images)
        if in_h < self.height or in_w < self.width:
            return smart_resize(images, self.height, self.width)
        return _window(images, (in_h - self.height) // 2, (in_w - self.width) // 2, self.height, self.width)


@register_layer
class RandomCrop(SeededLayer, _Crop):
    """In training, a ``height`` x ``width`` window at a random offset (one for the batch, uniform over
    the valid offsets) of images larger than it in both axes; otherwise ``smart_resize``."""

    def __init__(self, height: int, width: int, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, height=height, width=width, data_format=data_format, **kwargs)

    def transform(self, images, training: bool):
        in_h, in_w = self._static_size(images)
        if not (training and in_h > self.height and in_w > self.width):
            return smart_resize(images, self.height, self.width)
        top = th.cast(self.stream.uniform(low=0.0, high=float(in_h - self.height + 1), dtype="float32"), "int64")
        left = th.cast(self.stream.uniform(low=0.0, high=float(in_w - self.width + 1), dtype="float32"), "int64")
        return _window(images, top, left, self.height, self.width)


# ----------------------------------------------------------------------------- affine


class _AffineLayer(_RandomImageLayer):
    """Resample each image at ``A (x, y, 1)``; subclasses give the rows of ``A`` per image."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.fill_mode = _choice(fill_mode, FILL_MODES, "fill_mode", type(self).__name__)
        self.interpolation = _choice(interpolation, INTERPOLATIONS, "interpolation", type(self).__name__)
        self.fill_value = float(fill_value)

    def transform(self, images, training: bool):
        height, width = self._static_size(images)
        ys, xs = np.meshgrid(np.arange(height, dtype=images.dtype), np.arange(width, dtype=images.dtype),
                             indexing="ij")
        (a0, a1, a2), (b0, b1, b2) = self.matrix(images, height, width)
        source_x = a0 * xs + a1 * ys + a2
        source_y = b0 * xs + b1 * ys + b2
        return sample(images, source_y, source_x, self.fill_mode, self.interpolation, self.fill_value)

    def matrix(self, images, height: int, width: int):
        """``((a0, a1, a2), (b0, b1, b2))``: numbers or (batch, 1, 1) tensors."""
        raise NotImplementedError

    def _draw(self, images, low: float, high: float):
        return self._per_image(images, low, high)[:, :, :, 0]

    def get_config(self) -> dict:
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


@register_layer
class RandomZoom(_AffineLayer):
    """Zoom each image about its centre: a factor ``z`` drawn in ``1 + height_factor`` samples at
    ``z * (y - c) + c`` (``z > 1`` zooms out, as Keras); ``width_factor=None`` zooms both axes alike."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        self.height_lower, self.height_upper = _zoom_range(height_factor, "height_factor")
        self.width_range = None if width_factor is None else _zoom_range(width_factor, "width_factor")
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = _as_config(height_factor), _as_config(width_factor)

    def matrix(self, images, height: int, width: int):
        zoom_y = 1.0 + self._draw(images, self.height_lower, self.height_upper)
        zoom_x = zoom_y if self.width_range is None else 1.0 + self._draw(images, *self.width_range)
        return ((zoom_x, 0.0, (width - 1) / 2.0 * (1.0 - zoom_x)),
                (0.0, zoom_y, (height - 1) / 2.0 * (1.0 - zoom_y)))

    def get_config(self) -> dict:
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


def _zoom_range(factor, name: str) -> tuple[float, float]:
    low, high = factor_range(factor, name, (-1.0, 1.0))
    if low <= -1.0:
        raise ValueError(f"The `{name}` argument must lie in (-1, 1]. Received: {name}={factor!r}")
    return low, high


def _as_config(value):
    return list(value) if isinstance(value, (list, tuple)) else value


@register_layer
class RandomTranslation(_AffineLayer):
    """Shift each image by a fraction of its size drawn in ``height_factor`` (down for positive) and
    ``width_factor`` (right for positive): it samples at ``(x - dx, y - dy)``."""

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        self.height_lower, self.height_upper = factor_range(height_factor, "height_factor", (-1.0, 1.0))
        self.width_lower, self.width_upper = factor_range(width_factor, "width_factor", (-1.0, 1.0))
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = _as_config(height_factor), _as_config(width_factor)

    def matrix(self, images, height: int, width: int):
        dy = self._draw(images, self.height_lower, self.height_upper) * float(height)
        dx = self._draw(images, self.width_lower, self.width_upper) * float(width)
        return (1.0, 0.0, -dx), (0.0, 1.0, -dy)

    def get_config(self) -> dict:
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


@register_layer
class RandomShear(_AffineLayer):
    """Shear each image: ``sx`` in ``x_factor`` and ``sy`` in ``y_factor`` (both drawn in ``(-f, f)`` for
    a number ``f`` in [0, 1]), with one random sign per image for both; it samples at
    ``(x + sx * y, sy * x + y)``."""

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                 data_format=None, seed=None, **kwargs):
        self.x_range = factor_range(x_factor, "x_factor", (0.0, 1.0))
        self.y_range = factor_range(y_factor, "y_factor", (0.0, 1.0))
        self.x_range, self.y_range = _signed(x_factor, self.x_range), _signed(y_factor, self.y_range)
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.x_factor, self.y_factor = _as_config(x_factor), _as_config(y_factor)

    def matrix(self, images, height: int, width: int):
        sign = th.cast(th.where(th.greater(self._draw(images, 0.0, 1.0), 0.5), -1.0, 1.0), images.dtype)
        shear_y = self._draw(images, *self.y_range) * sign
        shear_x = self._draw(images, *self.x_range) * sign
        return (1.0, shear_x, 0.0), (shear_y, 1.0, 0.0)

    def get_config(self) -> dict:
        return {**super().get_config(), "x_factor": self.x_factor, "y_factor": self.y_factor}


def _signed(factor, checked: tuple[float, float]) -> tuple[float, float]:
    """RandomShear's number ``f`` draws in ``(-f, f)`` (its bounds only check that ``f`` is in [0, 1])."""
    return (-abs(float(factor)), abs(float(factor))) if _is_number(factor) else checked


# ----------------------------------------------------------------------------- colour


class _ValueRangeLayer(_RandomImageLayer):
    """A random layer whose pixels lie in ``value_range``."""

    def __init__(self, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = value_range_pair(value_range)

    def _clip(self, images):
        low, high = (np.asarray(v, images.dtype) for v in self.value_range)
        return th.clip(images, low, high)

    def get_config(self) -> dict:
        return {**super().get_config(), "value_range": list(self.value_range)}


@register_layer
class RandomContrast(_ValueRangeLayer):
    """``(x - mean) * c + mean`` per image and channel (mean over height and width), clipped to
    ``value_range``; ``c`` is drawn in ``[1 - lower, 1 + upper]`` where a number ``f`` in [0, 1] gives
    ``(lower, upper) = (0, f)``, as Keras 3.15 computes it."""

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        self.lower, self.upper = factor_range(factor, "factor", (0.0, 1.0))
        self.factor = _as_config(factor)

    def transform(self, images, training: bool):
        contrast = self._per_image(images, 1.0 - self.lower, 1.0 + self.upper)
        mean = th.mean(images, axis=(1, 2), keepdims=True)
        return self._clip((images - mean) * contrast + mean)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor}


@register_layer
class RandomBrightness(_ValueRangeLayer):
    """Add ``d * (high - low)`` to every pixel of an image, ``d`` drawn in ``factor`` (a number ``f``:
    ``(-f, f)``, within [-1, 1]), then clip to ``value_range = (low, high)``."""

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        self.lower, self.upper = factor_range(factor, "factor", (-1.0, 1.0))
        self.factor = _as_config(factor)

    def transform(self, images, training: bool):
        low, high = self.value_range
        delta = self._per_image(images, self.lower, self.upper) * np.asarray(high - low, images.dtype)
        return self._clip(images + delta)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor}


_GRAY = np.array([0.2989, 0.5870, 0.1140])
"""The weights of Keras' ``rgb_to_grayscale``."""


@register_layer
class RandomGrayscale(_RandomImageLayer):
    """With probability ``factor``, replace an RGB image by its gray level (``0.2989 R + 0.587 G + 0.114 B``)
    in all three channels."""

    def __init__(self, factor=0.5, data_format=None, seed=None, **kwargs):
        if not _is_number(factor) or not 0 <= factor <= 1:
            raise ValueError(f"`factor` should be between 0 and 1. Received: factor={factor!r}")
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = float(factor)

    def transform(self, images, training: bool):
        if images.type.shape[3] != 3:
            raise ValueError(f"layer {self.name!r} (RandomGrayscale) expects RGB images (3 channels). "
                             f"Received: images of type {images.type} (channels last)")
        gray = th.sum(images * _GRAY.astype(images.dtype), axis=3, keepdims=True)
        apply = th.less(self._per_image(images, 0.0, 1.0), self.factor)
        return th.where(apply, gray + th.zeros_like(images), images)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor}


def _applies(layer: _RandomImageLayer, images, lower: float, upper: float):
    """Keras' per-image coin: a probability drawn in ``[lower, upper]`` beats a uniform threshold."""
    probability = layer._per_image(images, lower, upper)
    return th.less(layer._per_image(images, 0.0, 1.0), probability)


@register_layer
class RandomInvert(_ValueRangeLayer):
    """Replace an image by ``high - x`` (``value_range = (low, high)``) when a uniform threshold falls
    below a probability drawn in ``factor`` (a number ``f`` in [0, 1]: ``(0, f)``)."""

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(value_range=value_range, seed=seed, data_format=data_format, **kwargs)
        self.lower, self.upper = factor_range(factor, "factor", (0.0, 1.0))
        self.factor = _as_config(factor)

    def transform(self, images, training: bool):
        inverted = np.asarray(self.value_range[1], images.dtype) - images
        return th.where(_applies(self, images, self.lower, self.upper), inverted, images)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor}


@register_layer
class Solarization(_ValueRangeLayer):
    """Keras' Solarization: pixels mapped from ``value_range`` to [0, 255], plus an addition ``a``, clipped
    to [0, 255]; those at or above a threshold ``t`` become ``255 - x``; then mapped back.  Per image,
    ``a`` is drawn in ``[lo, hi * 255]`` for ``addition_factor = (lo, hi)`` (a number ``f``: ``(0, f)``),
    ``t`` likewise from ``threshold_factor`` (Keras 3.15's formula, ``lo`` unscaled)."""

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(value_range=value_range, seed=seed, **kwargs)
        self.addition = factor_range(addition_factor, "addition_factor", (0.0, 1.0), symmetric=False)
        self.threshold = factor_range(threshold_factor, "threshold_factor", (0.0, 1.0), symmetric=False)
        self.addition_factor, self.threshold_factor = _as_config(addition_factor), _as_config(threshold_factor)

    def transform(self, images, training: bool):
        low, high = self.value_range
        dtype = images.dtype
        additions = self._per_image(images, self.addition[0], self.addition[1] * 255)
        thresholds = self._per_image(images, self.threshold[0], self.threshold[1] * 255)
        scaled = (images - np.asarray(low, dtype)) * np.asarray(255.0 / (high - low), dtype)
        results = th.clip(scaled + additions, np.asarray(0, dtype), np.asarray(255, dtype))
        results = th.where(th.less(results, thresholds), results, np.asarray(255, dtype) - results)
        return results * np.asarray((high - low) / 255.0, dtype) + np.asarray(low, dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "addition_factor": self.addition_factor,
                "threshold_factor": self.threshold_factor}


@register_layer
class RandomErasing(_ValueRangeLayer):
    """Erase a random box of some images (Keras 3.15's draws): per image, ``sqrt`` of two draws in
    ``scale`` give the box's width and height as fractions of the image's, its corner is uniform over the
    positions that fit; pixels with ``x0 <= x < x1`` and ``y0 <= y < y1`` take ``fill_value`` (None: a
    normal draw times ``high``), clipped to ``value_range``, when a uniform threshold falls below a
    probability drawn in ``factor`` (a number ``f`` in [0, 1]: ``(0, f)``)."""

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255), seed=None,
                 data_format=None, **kwargs):
        super().__init__(value_range=value_range, seed=seed, data_format=data_format, **kwargs)
        self.lower, self.upper = factor_range(factor, "factor", (0.0, 1.0))
        self.scale = factor_range(scale, "scale", (0.0, 1.0))
        if fill_value is not None and not _is_number(fill_value) and not (
                isinstance(fill_value, (list, tuple)) and len(fill_value) == 3 and all(map(_is_number, fill_value))):
            raise ValueError("The `fill_value` argument should be a number (or a list of three numbers). "
                             f"Received: fill_value={fill_value!r}")
        self.factor, self.fill_value = _as_config(factor), _as_config(fill_value)

    def _bounds(self, images, length: int, ratio):
        crop = ratio * float(length)
        start = self._per_image(images, 0.0, 1.0)[:, :, :, 0] * (float(length) - crop)
        return start, start + crop

    def transform(self, images, training: bool):
        height, width = self._static_size(images)
        ratio_x = th.sqrt(self._per_image(images, *self.scale)[:, :, :, 0])
        ratio_y = th.sqrt(self._per_image(images, *self.scale)[:, :, :, 0])
        x0, x1 = self._bounds(images, width, ratio_x)
        y0, y1 = self._bounds(images, height, ratio_y)
        ys, xs = np.meshgrid(np.arange(height, dtype=images.dtype), np.arange(width, dtype=images.dtype),
                             indexing="ij")
        inside = th.logical_and(th.logical_and(th.greater_equal(xs, x0), th.less(xs, x1)),
                                th.logical_and(th.greater_equal(ys, y0), th.less(ys, y1)))
        erase = th.logical_and(th.expand_dims(inside, -1), _applies(self, images, self.lower, self.upper))
        return th.where(erase, self._clip(self._fill(images)), images)

    def _fill(self, images):
        if self.fill_value is None:
            return self.stream.normal(size=images.shape, dtype=images.dtype) * np.asarray(self.value_range[1],
                                                                                           images.dtype)
        return th.zeros_like(images) + np.asarray(self.fill_value, images.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor, "scale": list(self.scale),
                "fill_value": self.fill_value}
