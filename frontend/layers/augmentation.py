"""Image layers: ``RandomFlip`` and ``RandomRotation`` (augmentation) and ``Resizing``, as Keras 3's.

They change images only in training (``fit``, or a call with
``training=True``) and are the identity otherwise, so a model keeps them
in front and predicts on the images as given.  Images are
``(batch, height, width, channels)`` (``data_format="channels_last"``) or
one unbatched ``(height, width, channels)`` image.  Each image of a batch
draws its own flip or angle from the layer's random stream (seeded like
Dropout's: ``seed=`` or ``th.set_seed``).

``RandomRotation`` samples each output pixel at its position rotated about
the image centre, with bilinear (or nearest) interpolation; points outside
the image follow ``fill_mode``: "reflect" (``d c b a | a b c d | d c b a``,
the default), "wrap", "nearest" or "constant" (``fill_value``).  ``factor``
is a fraction of a full turn: ``0.1`` draws angles in ``[-0.2 pi, 0.2 pi]``,
``(lower, upper)`` in ``[lower * 2 pi, upper * 2 pi]``; a positive angle
turns the image counter-clockwise (``(0.25, 0.25)`` is ``np.rot90``).
"""

from __future__ import annotations

import math

import numpy as np

import theanine as th
from theanine.frontend.layers.base import Layer, register_layer
from theanine.frontend.layers.seeded import SeededLayer

__all__ = ["RandomFlip", "RandomRotation", "Resizing"]

FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")
FILL_MODES = ("reflect", "wrap", "nearest", "constant")
INTERPOLATIONS = ("bilinear", "nearest")


class _RandomImageLayer(SeededLayer):
    """What the augmentation layers share: a seeded stream (``SeededLayer``), images of rank 3
    or 4, identity outside training."""

    def call(self, inputs, training=None):
        if inputs.ndim not in (3, 4):
            raise ValueError(
                f"layer {self.name!r} ({type(self).__name__}) expects images (batch, height, width, channels) "
                f"or one image (height, width, channels). Received: input of type {inputs.type}"
            )
        if not training:
            return inputs
        batched = inputs if inputs.ndim == 4 else th.expand_dims(inputs, 0)
        images = th.cast(batched, self.dtype) if not batched.dtype.startswith("float") else batched
        out = self._augment(images)
        out = th.cast(out, inputs.dtype) if out.dtype != inputs.dtype else out
        return out if inputs.ndim == 4 else out[0]

    def _per_image(self, images, low: float, high: float):
        """One uniform draw per image, shaped to broadcast over (height, width, channels)."""
        draws = self.stream.uniform(size=(images.shape[0],), low=low, high=high, dtype=images.dtype)
        return th.reshape(draws, (-1, 1, 1, 1))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


@register_layer
class RandomFlip(_RandomImageLayer):
    """Mirror each image with probability 1/2 along the width ("horizontal"), the height
    ("vertical") or each of the two independently ("horizontal_and_vertical")."""

    def __init__(self, mode: str = "horizontal_and_vertical", seed: int | None = None, **kwargs):
        if mode not in FLIP_MODES:
            raise ValueError(f"RandomFlip: mode must be one of {list(FLIP_MODES)}. Received: mode={mode!r}")
        super().__init__(seed=seed, **kwargs)
        self.mode = mode

    def _augment(self, images):
        axes = {"horizontal": [2], "vertical": [1], "horizontal_and_vertical": [2, 1]}[self.mode]
        for axis in axes:
            flip = th.less(self._per_image(images, 0.0, 1.0), 0.5)
            images = th.where(flip, th.flip(images, axis), images)
        return images

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


@register_layer
class RandomRotation(_RandomImageLayer):
    """Rotate each image by a random angle about its centre (see the module docstring)."""

    def __init__(self, factor, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: int | None = None, fill_value: float = 0.0, **kwargs):
        lower, upper = (-float(factor), float(factor)) if np.ndim(factor) == 0 else map(float, factor)
        if not lower <= upper:
            raise ValueError(f"RandomRotation: factor must be a number or (lower, upper). Received: factor={factor!r}")
        if fill_mode not in FILL_MODES:
            raise ValueError(f"RandomRotation: fill_mode must be one of {list(FILL_MODES)}. Received: {fill_mode!r}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"RandomRotation: interpolation must be one of {list(INTERPOLATIONS)}. Received: {interpolation!r}"
            )
        super().__init__(seed=seed, **kwargs)
        self.factor = factor if np.ndim(factor) == 0 else list(factor)
        self.lower, self.upper = lower, upper
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, float(fill_value)

    def _augment(self, images):
        height, width = images.type.shape[1], images.type.shape[2]
        if height is None or width is None:
            raise ValueError(f"layer {self.name!r} (RandomRotation) needs a static image height and width. "
                             f"Received: input of type {images.type}")
        angle = self._per_image(images, self.lower * 2 * math.pi, self.upper * 2 * math.pi)[:, :, :, 0]
        ys, xs = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
        cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
        dy, dx = (ys - cy).astype(images.dtype), (xs - cx).astype(images.dtype)
        cos, sin = th.cos(angle), th.sin(angle)
        source_x = cos * dx - sin * dy + np.asarray(cx, images.dtype)  # positive: counter-clockwise
        source_y = sin * dx + cos * dy + np.asarray(cy, images.dtype)
        return sample(images, source_y, source_x, self.fill_mode, self.interpolation, self.fill_value)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor, "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "fill_value": self.fill_value}


@register_layer
class Resizing(Layer):
    """Resize images to ``(height, width)`` (Keras' ``Resizing``), in training and inference.

    Bilinear (or "nearest") interpolation with half-pixel centres, as Keras'
    ``ops.image.resize`` without antialiasing: output pixel ``i`` reads the input at
    ``(i + 0.5) * in / out - 0.5``, clamped to the image.  ``crop_to_aspect_ratio``
    first crops the largest centred window of the target aspect ratio.  Integer
    images become the layer's float dtype.
    """

    def __init__(self, height: int, width: int, interpolation: str = "bilinear",
                 crop_to_aspect_ratio: bool = False, **kwargs):
        super().__init__(**kwargs)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"Resizing: interpolation must be one of {list(INTERPOLATIONS)}. Received: {interpolation!r}"
            )
        self.height, self.width = int(height), int(width)
        self.interpolation, self.crop_to_aspect_ratio = interpolation, bool(crop_to_aspect_ratio)

    def call(self, inputs):
        if inputs.ndim not in (3, 4) or None in inputs.type.shape[-3:-1]:
            raise ValueError(f"layer {self.name!r} (Resizing) expects images with a static height and width. "
                             f"Received: input of type {inputs.type}")
        images = inputs if inputs.ndim == 4 else th.expand_dims(inputs, 0)
        images = th.cast(images, self.dtype) if images.dtype != self.dtype else images
        height, width = images.type.shape[1], images.type.shape[2]
        box = (0.0, 0.0, height, width)
        if self.crop_to_aspect_ratio:
            scale = min(height / self.height, width / self.width)
            crop_h, crop_w = self.height * scale, self.width * scale
            box = ((height - crop_h) / 2, (width - crop_w) / 2, crop_h, crop_w)
        out = resize(images, self.height, self.width, self.interpolation, box)
        return out if inputs.ndim == 4 else out[0]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-3], self.height, self.width, input_shape[-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio}


def resize(images, height: int, width: int, interpolation: str, box: tuple):
    """``images`` (batch, h, w, channels) resampled to ``(height, width)`` from the window ``box`` =
    ``(top, left, box_height, box_width)`` (in pixels), with half-pixel centres, clamped to the image."""
    top, left, box_h, box_w = box
    ys = top + (np.arange(height) + 0.5) * box_h / height - 0.5
    xs = left + (np.arange(width) + 0.5) * box_w / width - 0.5
    grid_y, grid_x = np.meshgrid(ys, xs, indexing="ij")
    return sample(images, th.constant(grid_y.astype(images.dtype)), th.constant(grid_x.astype(images.dtype)),
                  "nearest", interpolation, 0.0)


def _fold(coordinate, size: int, fill_mode: str):
    """A continuous coordinate folded into ``[0, size - 1]`` by ``fill_mode`` (constant: unchanged)."""
    dtype = coordinate.dtype
    if fill_mode == "reflect":
        period = np.asarray(2 * size, dtype)
        t = th.mod(coordinate + np.asarray(0.5, dtype), period)
        t = th.where(th.greater(t, np.asarray(size, dtype)), period - t, t) - np.asarray(0.5, dtype)
        return th.clip(t, np.asarray(0, dtype), np.asarray(size - 1, dtype))
    if fill_mode == "wrap":
        return th.mod(coordinate, np.asarray(size, dtype))
    if fill_mode == "nearest":
        return th.clip(coordinate, np.asarray(0, dtype), np.asarray(size - 1, dtype))
    return coordinate


def sample(images, source_y, source_x, fill_mode: str, interpolation: str, fill_value: float):
    """``images`` (batch, height, width, channels) read at the positions ``source_y``,
    ``source_x`` (batch, out_height, out_width; or out_height, out_width for every image):
    bilinear or nearest, outside points by ``fill_mode``."""
    height, width = images.type.shape[1], images.type.shape[2]
    dtype = images.dtype
    if source_y.ndim == 2:
        per_image = th.zeros((images.shape[0], 1, 1), dtype)
        source_y, source_x = source_y + per_image, source_x + per_image
    out_height, out_width = source_y.type.shape[1], source_y.type.shape[2]
    y, x = _fold(source_y, height, fill_mode), _fold(source_x, width, fill_mode)
    if interpolation == "nearest":
        y, x = th.round(y), th.round(x)
    y0, x0 = th.floor(y), th.floor(x)
    flat = th.reshape(images, (images.shape[0], height * width, images.shape[3]))
    batch = th.reshape(th.arange(images.shape[0]), (-1, 1))
    total = missing = None
    for oy, ox in ((0, 0), (0, 1), (1, 0), (1, 1)):
        cy, cx = y0 + np.asarray(oy, dtype), x0 + np.asarray(ox, dtype)
        weight = (1 - th.abs(y - cy)) * (1 - th.abs(x - cx))
        if fill_mode == "wrap":
            cy, cx = th.mod(cy, np.asarray(height, dtype)), th.mod(cx, np.asarray(width, dtype))
        inside = th.logical_and(
            th.logical_and(th.greater_equal(cy, 0), th.less_equal(cy, height - 1)),
            th.logical_and(th.greater_equal(cx, 0), th.less_equal(cx, width - 1)),
        )
        iy = th.cast(th.clip(cy, np.asarray(0, dtype), np.asarray(height - 1, dtype)), "int64")
        ix = th.cast(th.clip(cx, np.asarray(0, dtype), np.asarray(width - 1, dtype)), "int64")
        index = th.reshape(iy * width + ix, (images.shape[0], out_height * out_width))
        values = th.reshape(flat[batch, index], (images.shape[0], out_height, out_width, images.shape[3]))
        term = values * th.expand_dims(th.where(inside, weight, th.zeros_like(weight)), -1)
        outside = th.where(inside, th.zeros_like(weight), weight)
        total = term if total is None else total + term
        missing = outside if missing is None else missing + outside
    if fill_mode == "constant":  # the weight of corners outside the image goes to fill_value
        total = total + th.expand_dims(missing, -1) * np.asarray(fill_value, dtype)
    return total
