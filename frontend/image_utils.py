"""Keras' image file utilities: ``img_to_array``, ``array_to_img``, ``load_img``, ``save_img``.

Arrays are ``(height, width, channels)`` (or channels first, per
``data_format``, default ``keras.config.image_data_format()``).  Reading and
writing image files and building images go through Pillow, an optional
dependency (the ``image`` extra: ``pip install theanine[image]``); without
it those functions raise an ImportError that names the extra, while
``img_to_array`` on arrays needs nothing.
"""

from __future__ import annotations

import numpy as np

from theanine.frontend import config as keras_config

__all__ = ["img_to_array", "array_to_img", "load_img", "save_img"]

_COLOR_MODES = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}


def _pillow():
    """``PIL.Image``, or an ImportError that says how to install it."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("this image utility needs Pillow: pip install 'theanine[image]' (or pip install pillow)") \
            from None
    return Image


def _data_format(data_format) -> str:
    data_format = keras_config.image_data_format() if data_format is None else str(data_format).lower()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first'. Received: {data_format!r}")
    return data_format


def img_to_array(img, data_format=None, dtype=None) -> np.ndarray:
    """An image (a PIL image or any array-like) as a rank-3 array in ``dtype`` (default floatx)."""
    data_format = _data_format(data_format)
    x = np.asarray(img, dtype=dtype or keras_config.floatx())
    if x.ndim == 2:
        x = x[None] if data_format == "channels_first" else x[..., None]
    elif x.ndim == 3:
        x = x.transpose(2, 0, 1) if data_format == "channels_first" else x
    else:
        raise ValueError(f"img_to_array: unsupported image shape {x.shape} (expected rank 2 or 3)")
    return x


def array_to_img(x, data_format=None, scale: bool = True, dtype=None):
    """A PIL image from a rank-3 array (1, 3 or 4 channels); ``scale`` maps its min..max to 0..255."""
    image = _pillow()
    x = np.asarray(x, dtype=dtype or keras_config.floatx())
    if x.ndim != 3:
        raise ValueError(f"array_to_img expects a rank-3 image array. Received: shape={x.shape}")
    if _data_format(data_format) == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        if np.max(x) != 0:
            x = x / np.max(x)
        x = x * 255
    channels = x.shape[2]
    if channels in (3, 4):
        return image.fromarray(x.astype("uint8"), "RGB" if channels == 3 else "RGBA")
    if channels == 1:
        if np.max(x) > 255:  # 32-bit grayscale
            return image.fromarray(x[:, :, 0].astype("int32"), "I")
        return image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"array_to_img: unsupported channel count {channels} (expected 1, 3 or 4)")


def load_img(path, color_mode: str = "rgb", target_size=None, interpolation: str = "nearest",
             keep_aspect_ratio: bool = False):
    """A PIL image read from a local file, converted to ``color_mode`` and resized to ``target_size``
    ``(height, width)``; ``keep_aspect_ratio`` first crops the centre to the target's aspect ratio."""
    image = _pillow()
    if color_mode not in _COLOR_MODES:
        raise ValueError(f"load_img: color_mode must be one of {sorted(_COLOR_MODES)}. Received: {color_mode!r}")
    with image.open(path) as opened:
        img = opened.convert(_COLOR_MODES[color_mode])
    if target_size is None:
        return img
    height, width = target_size
    if (img.size[0], img.size[1]) == (width, height):
        return img
    methods = {"nearest": image.NEAREST, "bilinear": image.BILINEAR, "bicubic": image.BICUBIC,
               "lanczos": image.LANCZOS, "box": image.BOX, "hamming": image.HAMMING}
    if interpolation not in methods:
        raise ValueError(f"load_img: interpolation must be one of {sorted(methods)}. Received: {interpolation!r}")
    if keep_aspect_ratio:
        crop_width = min(img.size[0], int(img.size[1] * width / height))
        crop_height = min(img.size[1], int(img.size[0] * height / width))
        left, top = (img.size[0] - crop_width) // 2, (img.size[1] - crop_height) // 2
        img = img.crop((left, top, left + crop_width, top + crop_height))
    return img.resize((width, height), methods[interpolation])


def save_img(path, x, data_format=None, file_format=None, scale: bool = True, **kwargs) -> None:
    """Write the image array ``x`` to a local file (format from ``file_format`` or the extension)."""
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and (file_format == "jpeg" or str(path).lower().endswith((".jpg", ".jpeg"))):
        img = img.convert("RGB")  # JPEG has no alpha channel
    img.save(path, format=file_format, **kwargs)
