"""Keras' ``ops.image``: colour conversions, resizing, padding, cropping and patches.

Images are rank 3 (one image) or 4 (a batch), ``data_format`` as Keras'
(None: ``keras.config.image_data_format()``); the spatial sizes must be
static.  ``resize`` follows Keras' NumPy backend (JAX's
``scale_and_translate``): each spatial axis is multiplied by a constant
weight matrix built from the interpolation kernel (triangle for bilinear,
Keys cubic, Lanczos 3/5; widened by the scale when ``antialias``), or
indexed for "nearest"; integer images are rounded and clipped back.
``crop_to_aspect_ratio`` and ``pad_to_aspect_ratio`` crop or pad the
centred box first, as Keras does.  The other Keras image ops
(affine_transform, map_coordinates, perspective and elastic transforms,
gaussian_blur, sobel_edges, ssim, scale_and_translate, 3-D patches) are
not provided.
"""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.frontend import config
from theanine.frontend.ops.eager import eager

__all__ = ["rgb_to_grayscale", "rgb_to_hsv", "hsv_to_rgb", "resize", "pad_images", "crop_images", "extract_patches"]

INTERPOLATIONS = ("bilinear", "nearest", "lanczos3", "lanczos5", "bicubic")


def _images(what: str, images, data_format):
    """The images as a tensor, the channel axis and the (height, width) axes."""
    x = th.as_tensor_variable(images)
    if x.ndim not in (3, 4):
        raise ValueError(f"ops.image.{what}: expected rank 3 (single image) or rank 4 (batch of images). "
                         f"Received: {x.type}")
    data_format = config.image_data_format() if data_format is None else data_format
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"ops.image.{what}: data_format must be 'channels_last' or 'channels_first'. "
                         f"Received: {data_format!r}")
    channels = x.ndim - 1 if data_format == "channels_last" else x.ndim - 3
    spatial = (x.ndim - 3, x.ndim - 2) if data_format == "channels_last" else (x.ndim - 2, x.ndim - 1)
    return x, channels, spatial


def _planes(x, axis: int):
    return [th.take(x, th.constant(np.int64(i)), axis=axis) for i in range(3)]


@eager
def rgb_to_grayscale(images, data_format=None):
    """Luma ``0.2989 R + 0.5870 G + 0.1140 B`` on a channel axis of size 1 (in the input dtype)."""
    x, channels, _ = _images("rgb_to_grayscale", images, data_format)
    if x.type.shape[channels] not in (1, 3):
        raise ValueError(f"ops.image.rgb_to_grayscale: expected 1 or 3 channels. Received: {x.type}")
    if x.type.shape[channels] == 1:
        return x
    work = x if x.dtype.startswith("float") else th.cast(x, "float64")
    weights = th.constant(np.array([0.2989, 0.5870, 0.1140], work.dtype))
    gray = th.tensordot(work, weights, axes=([channels], [0]))
    return th.cast(th.expand_dims(gray, channels), x.dtype)


def _float_images(what: str, images, data_format):
    x, channels, spatial = _images(what, images, data_format)
    if not x.dtype.startswith("float"):
        raise ValueError(f"ops.image.{what}: expected float images. Received: {x.type}")
    return x, channels


@eager
def rgb_to_hsv(images, data_format=None):
    """Hue, saturation and value in [0, 1] (dm_pix's formulas, as Keras)."""
    x, channels = _float_images("rgb_to_hsv", images, data_format)
    eps = float(np.finfo(x.dtype).eps)
    x = th.where(th.lt(th.abs(x), eps), th.zeros_like(x), x)
    r, g, b = _planes(x, channels)
    value = th.maximum(th.maximum(r, g), b)
    spread = value - th.minimum(th.minimum(r, g), b)
    one = th.ones_like(value)
    saturation = th.where(th.gt(value, 0), spread / th.where(th.gt(value, 0), value, one), th.zeros_like(value))
    norm = 1.0 / (6.0 * th.where(th.gt(spread, 0), spread, one))
    hue = th.where(th.eq(value, g), norm * (b - r) + 2.0 / 6.0, norm * (r - g) + 4.0 / 6.0)
    hue = th.where(th.eq(value, r), norm * (g - b), hue)
    hue = th.where(th.gt(spread, 0), hue, th.zeros_like(hue)) + th.cast(th.lt(hue, 0), x.dtype)
    return th.stack([hue, saturation, value], axis=channels)


@eager
def hsv_to_rgb(images, data_format=None):
    """The inverse of ``rgb_to_hsv``."""
    x, channels = _float_images("hsv_to_rgb", images, data_format)
    hue, saturation, value = _planes(x, channels)
    dh = th.mod(hue, 1.0) * 6.0
    dr = th.clip(th.abs(dh - 3.0) - 1.0, 0.0, 1.0)
    dg = th.clip(2.0 - th.abs(dh - 2.0), 0.0, 1.0)
    db = th.clip(2.0 - th.abs(dh - 4.0), 0.0, 1.0)
    rest = 1.0 - saturation
    return th.stack([value * (rest + saturation * d) for d in (dr, dg, db)], axis=channels)


def _triangle(x):
    return np.maximum(0, 1 - np.abs(x))


def _keys_cubic(x):
    out = ((1.5 * x - 2.5) * x) * x + 1.0
    out = np.where(x >= 1.0, ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0, out)
    return np.where(x >= 2.0, 0.0, out)


def _lanczos(radius: float):
    def kernel(x):
        y = radius * np.sin(np.pi * x) * np.sin(np.pi * x / radius)
        out = np.where(x > 1e-3, np.divide(y, np.where(x != 0, np.pi**2 * x**2, 1)), 1)
        return np.where(x > radius, 0.0, out)

    return kernel


_KERNELS = {"bilinear": _triangle, "bicubic": _keys_cubic, "lanczos3": _lanczos(3.0), "lanczos5": _lanczos(5.0)}


def _weights(size: int, out: int, kernel, antialias: bool) -> np.ndarray:
    """The (size, out) matrix that resamples an axis of ``size`` to ``out`` points (JAX's rule)."""
    inverse = size / out
    kernel_scale = max(inverse, 1.0) if antialias else 1.0
    samples = (np.arange(out) + 0.5) * inverse - 0.5
    weights = kernel(np.abs(samples[None, :] - np.arange(size)[:, None]) / kernel_scale)
    total = weights.sum(axis=0, keepdims=True)
    weights = np.where(np.abs(total) > 1000.0 * np.finfo(np.float32).eps, weights / np.where(total != 0, total, 1), 0)
    return np.where(((samples >= -0.5) & (samples <= size - 0.5))[None, :], weights, 0)


def _aspect_box(x, spatial, target, crop: bool, fill_value):
    height, width = (x.type.shape[a] for a in spatial)
    target_height, target_width = target
    if crop:
        crop_height = max(min(height, int(float(width * target_height) / target_width)), 1)
        crop_width = max(min(width, int(float(height * target_width) / target_height)), 1)
        top, left = int(float(height - crop_height) / 2), int(float(width - crop_width) / 2)
        index = [slice(None)] * x.ndim
        index[spatial[0]], index[spatial[1]] = slice(top, top + crop_height), slice(left, left + crop_width)
        return x[tuple(index)]
    pad_height = max(height, int(float(width * target_height) / target_width))
    pad_width = max(width, int(float(height * target_width) / target_height))
    top, left = int(float(pad_height - height) / 2), int(float(pad_width - width) / 2)
    pads = [(0, 0)] * x.ndim
    if top > 0:
        pads[spatial[0]] = (top, top)
    elif left > 0:
        pads[spatial[1]] = (left, left)
    return th.pad(x, pads, constant_values=fill_value)


@eager
def resize(images, size, interpolation: str = "bilinear", antialias: bool = False, crop_to_aspect_ratio: bool = False,
           pad_to_aspect_ratio: bool = False, fill_mode: str = "constant", fill_value: float = 0.0, data_format=None):
    """Images resized to ``size = (height, width)`` (see the module docstring)."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"ops.image.resize: interpolation must be one of {INTERPOLATIONS}. "
                         f"Received: interpolation={interpolation!r}")
    if fill_mode != "constant":
        raise ValueError(f"ops.image.resize: only fill_mode='constant' is supported. Received: {fill_mode!r}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("ops.image.resize: only one of pad_to_aspect_ratio and crop_to_aspect_ratio can be True")
    if len(size) != 2:
        raise ValueError(f"ops.image.resize: size must be (height, width). Received: size={size!r}")
    x, _, spatial = _images("resize", images, data_format)
    if None in (x.type.shape[a] for a in spatial):
        raise ValueError(f"ops.image.resize: the images need a static height and width. Received: {x.type}")
    if crop_to_aspect_ratio or pad_to_aspect_ratio:
        x = _aspect_box(x, spatial, size, crop_to_aspect_ratio, fill_value)
    original = x.dtype
    work = x if original.startswith("float") else th.cast(x, "float32")
    for axis, out in zip(spatial, size, strict=True):
        length = work.type.shape[axis]
        if length == out:
            continue
        if interpolation == "nearest":
            offsets = np.floor((np.arange(out, dtype=np.float32) + 0.5) * length / out).astype("int64")
            work = th.take(work, th.constant(offsets), axis=axis)
            continue
        matrix = th.constant(_weights(length, out, _KERNELS[interpolation], antialias).astype(work.dtype))
        work = th.moveaxis(th.tensordot(work, matrix, axes=([axis], [0])), -1, axis)
    if original == work.dtype:
        return work
    return th.cast(th.clip(th.round(work), th.cast(th.min(x), work.dtype), th.cast(th.max(x), work.dtype)), original)


def _sides(what: str, first, second, target):
    """The two amounts of an axis (``first`` before, ``second`` after), inferring one from ``target``."""
    given = [v is not None for v in (first, second, target)]
    if sum(given) != 2:
        raise ValueError(f"ops.image.{what}: give exactly two of the two sides and the target size of each axis. "
                         f"Received: {first}, {second} and target {target}")
    return first, second


@eager
def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None, right_padding=None,
               target_height=None, target_width=None, data_format=None):
    """Images padded with zeros (two of each axis' two paddings and target size given)."""
    x, _, (h_axis, w_axis) = _images("pad_images", images, data_format)
    height, width = x.type.shape[h_axis], x.type.shape[w_axis]
    top, bottom = _sides("pad_images", top_padding, bottom_padding, target_height)
    left, right = _sides("pad_images", left_padding, right_padding, target_width)
    top = target_height - bottom - height if top is None else top
    bottom = target_height - top - height if bottom is None else bottom
    left = target_width - right - width if left is None else left
    right = target_width - left - width if right is None else right
    for name, value in (("top_padding", top), ("bottom_padding", bottom), ("left_padding", left),
                        ("right_padding", right)):
        if value < 0:
            raise ValueError(f"ops.image.pad_images: {name} must be >= 0. Received: {name}={value}")
    pads = [(0, 0)] * x.ndim
    pads[h_axis], pads[w_axis] = (top, bottom), (left, right)
    return th.pad(x, pads)


@eager
def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None, right_cropping=None,
                target_height=None, target_width=None, data_format=None):
    """Images cropped (two of each axis' two croppings and target size given)."""
    x, _, (h_axis, w_axis) = _images("crop_images", images, data_format)
    height, width = x.type.shape[h_axis], x.type.shape[w_axis]
    top, bottom = _sides("crop_images", top_cropping, bottom_cropping, target_height)
    left, right = _sides("crop_images", left_cropping, right_cropping, target_width)
    target_height = height - top - bottom if target_height is None else target_height
    target_width = width - left - right if target_width is None else target_width
    top = height - bottom - target_height if top is None else top
    left = width - right - target_width if left is None else left
    checks = (("top_cropping", top, top >= 0), ("left_cropping", left, left >= 0),
              ("target_height", target_height, 0 < target_height <= height - top),
              ("target_width", target_width, 0 < target_width <= width - left))
    for name, value, valid in checks:
        if not valid:
            raise ValueError(f"ops.image.crop_images: {name} is out of range for images of {x.type}. "
                             f"Received: {name}={value}")
    index = [slice(None)] * x.ndim
    index[h_axis], index[w_axis] = slice(top, top + target_height), slice(left, left + target_width)
    return x[tuple(index)]


@eager
def extract_patches(images, size, strides=None, dilation_rate=1, padding: str = "valid", data_format=None):
    """2-D patches of ``size`` as channels ``(patch_row, patch_col, channel)``, as Keras' identity-kernel
    convolution gives them."""
    x, channels_axis, _ = _images("extract_patches", images, data_format)
    size = (size, size) if isinstance(size, int) else tuple(size)
    if len(size) != 2:
        raise ValueError(f"ops.image.extract_patches: size must be 2 ints (3-D patches are not provided). "
                         f"Received: size={size!r}")
    channels = x.type.shape[channels_axis]
    if channels is None:
        raise ValueError(f"ops.image.extract_patches: the channel axis needs a static size. Received: {x.type}")
    depth = size[0] * size[1] * channels
    kernel = th.constant(np.eye(depth, dtype=x.dtype).reshape(size[0], size[1], channels, depth))
    batch = x if x.ndim == 4 else th.expand_dims(x, 0)
    data_format = "channels_last" if channels_axis == x.ndim - 1 else "channels_first"
    patches = th.conv(batch, kernel, size if strides is None else strides, padding, dilation_rate, 1, data_format)
    return patches if x.ndim == 4 else patches[0]
