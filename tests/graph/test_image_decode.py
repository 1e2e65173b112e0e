"""``ImageDecode`` (graph/ops/image_decode.py): encoded bytes fed at run time, under every backend."""

from __future__ import annotations

import io

import numpy as np
import pytest

PIL_Image = pytest.importorskip("PIL.Image")

import theanine as th  # noqa: E402
from theanine.graph.ops.image_decode import decode_image  # noqa: E402


def _png(pixels: np.ndarray) -> np.ndarray:
    buffer = io.BytesIO()
    PIL_Image.fromarray(pixels).save(buffer, format="PNG")
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8)


@pytest.mark.parametrize("pixel_format", ["RGB", "BGR", "Grayscale"])
def test_decode_png(pixel_format, backend):
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    encoded = th.tensor("encoded", "uint8", (None,))
    got = th.function([encoded], decode_image(encoded, pixel_format), backend=backend)(_png(pixels))
    if pixel_format == "Grayscale":
        expected = np.asarray(PIL_Image.fromarray(pixels).convert("L"))[:, :, None]
    else:
        expected = pixels[:, :, ::-1] if pixel_format == "BGR" else pixels
    np.testing.assert_array_equal(got, expected)


def test_decode_checks_its_input():
    with pytest.raises(TypeError, match="a 1-D uint8 tensor"):
        decode_image(th.tensor("x", "float32", (None,)))
    with pytest.raises(ValueError, match="pixel_format must be one of"):
        decode_image(th.tensor("x", "uint8", (None,)), "CMYK")
