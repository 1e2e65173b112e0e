"""``ImageDecode``: an encoded image file's bytes (PNG, JPEG, BMP, TIFF, WebP, ...) as a pixel array.

ONNX's ImageDecoder: a 1-D uint8 tensor in, ``(height, width, channels)``
uint8 out, RGB, BGR or grayscale (one channel).  The size is known only once
decoded, so this is a NumPy ``perform`` op (Pillow decodes; it is imported on
first use and named in the error when missing) that compiled backends run as
a host call; no gradient (its input is bytes).
"""

from __future__ import annotations

import io

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType

__all__ = ["ImageDecode", "decode_image"]

FORMATS = ("RGB", "BGR", "Grayscale")


class ImageDecode(Op):
    """Encoded bytes -> ``(height, width, 3)`` (RGB/BGR) or ``(height, width, 1)`` (Grayscale) uint8."""

    __props__ = ("pixel_format",)

    def __init__(self, pixel_format: str = "RGB"):
        if pixel_format not in FORMATS:
            raise ValueError(f"decode_image: pixel_format must be one of {FORMATS}. Received: {pixel_format!r}")
        self.pixel_format = pixel_format

    def make_node(self, encoded) -> Apply:
        encoded = as_tensor_variable(encoded)
        if encoded.ndim != 1 or encoded.dtype != "uint8":
            raise TypeError(f"decode_image: the encoded image must be a 1-D uint8 tensor. Received: {encoded.type}")
        channels = 1 if self.pixel_format == "Grayscale" else 3
        return Apply(self, [encoded], [TensorType("uint8", (None, None, channels))])

    def perform(self, node, inputs):
        try:
            import PIL.Image
        except ImportError as error:
            raise ImportError("decode_image needs Pillow: pip install 'theanine[image]' (or pip install pillow)") \
                from error
        image = PIL.Image.open(io.BytesIO(np.asarray(inputs[0]).tobytes()))
        if self.pixel_format == "Grayscale":
            return [np.asarray(image.convert("L"), dtype="uint8")[:, :, None]]
        pixels = np.asarray(image.convert("RGB"), dtype="uint8")
        return [np.ascontiguousarray(pixels[:, :, ::-1]) if self.pixel_format == "BGR" else pixels]

    def connection_pattern(self, node):
        return [[False]]

    def L_op(self, inputs, outputs, output_grads):
        return [None]


def decode_image(encoded, pixel_format: str = "RGB"):
    """The pixels of an encoded image file given as its bytes (a 1-D uint8 tensor)."""
    return ImageDecode(pixel_format)(encoded)
