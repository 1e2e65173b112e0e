"""keras.ops.image: colour conversions, resize, pad, crop and patches, eager and compiled, against NumPy."""

import colorsys

import numpy as np
import pytest
from keras_ops_check import check

import theanine as th
from theanine.frontend import ops

RNG = np.random.default_rng(5)
IMAGES = RNG.uniform(size=(2, 5, 6, 3)).astype("float32")


def _bilinear(image, out_h, out_w):
    """Half-pixel-centre bilinear resampling with clamped edges, one output pixel at a time."""
    h, w = image.shape[:2]
    out = np.zeros((out_h, out_w, image.shape[2]))
    for i in range(out_h):
        for j in range(out_w):
            y = min(max((i + 0.5) * h / out_h - 0.5, 0), h - 1)
            x = min(max((j + 0.5) * w / out_w - 0.5, 0), w - 1)
            y0, x0 = int(np.floor(y)), int(np.floor(x))
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            dy, dx = y - y0, x - x0
            out[i, j] = ((1 - dy) * (1 - dx) * image[y0, x0] + (1 - dy) * dx * image[y0, x1]
                         + dy * (1 - dx) * image[y1, x0] + dy * dx * image[y1, x1])
    return out.astype(image.dtype)


def _area_average(image, factor):
    """Antialiased downsampling by an integer factor: the triangle kernel widened by it (JAX's rule)."""
    h = image.shape[0]
    out_h = h // factor
    weights = np.zeros((h, out_h))
    for o in range(out_h):
        centre = (o + 0.5) * factor - 0.5
        weights[:, o] = np.maximum(0, 1 - np.abs(centre - np.arange(h)) / factor)
    weights /= weights.sum(0, keepdims=True)
    return np.einsum("hwc,ho->owc", image, weights).astype(image.dtype)


def _patches(image, size, stride):
    h, w, c = image.shape
    rows = []
    for i in range(0, h - size + 1, stride):
        rows.append([image[i:i + size, j:j + size].reshape(-1) for j in range(0, w - size + 1, stride)])
    return np.array(rows)


HSV = np.array([[colorsys.rgb_to_hsv(*pixel) for pixel in row] for row in IMAGES[0]], "float32")

CASES = {
    "rgb_to_grayscale": (ops.image.rgb_to_grayscale, [IMAGES], (IMAGES @ np.array([0.2989, 0.587, 0.114],
                                                                                 "float32"))[..., None]),
    "rgb_to_hsv": (ops.image.rgb_to_hsv, [IMAGES[0]], HSV),
    "hsv_to_rgb": (ops.image.hsv_to_rgb, [HSV], IMAGES[0]),
    "resize_bilinear_up": (lambda x: ops.image.resize(x, (8, 9)), [IMAGES],
                           np.stack([_bilinear(im, 8, 9) for im in IMAGES])),
    "resize_bilinear_down": (lambda x: ops.image.resize(x, (3, 4)), [IMAGES[0]], _bilinear(IMAGES[0], 3, 4)),
    "resize_antialias": (lambda x: ops.image.resize(x, (3, 6), antialias=True), [IMAGES[0, :, :, :]
                                                                                  .repeat(2, axis=0)[:6]],
                         _area_average(IMAGES[0].repeat(2, axis=0)[:6], 2)),
    "resize_nearest_channels_first": (
        lambda x: ops.image.resize(x, (10, 3), interpolation="nearest", data_format="channels_first"),
        [IMAGES.transpose(0, 3, 1, 2)],
        IMAGES[:, np.floor((np.arange(10) + 0.5) / 2).astype(int)][:, :, [1, 3, 5]].transpose(0, 3, 1, 2)),
    "resize_crop_to_aspect_ratio": (lambda x: ops.image.resize(x, (5, 5), crop_to_aspect_ratio=True), [IMAGES],
                                    IMAGES[:, :, :5]),
    "resize_pad_to_aspect_ratio": (lambda x: ops.image.resize(x, (8, 6), pad_to_aspect_ratio=True, fill_value=0.5),
                                   [IMAGES[:, :4]], np.pad(IMAGES[:, :4], [(0, 0), (2, 2), (0, 0), (0, 0)],
                                                           constant_values=0.5)),
    "pad_images": (lambda x: ops.image.pad_images(x, 1, 2, target_height=8, target_width=9), [IMAGES],
                   np.pad(IMAGES, [(0, 0), (1, 2), (2, 1), (0, 0)])),
    "crop_images": (lambda x: ops.image.crop_images(x, bottom_cropping=1, right_cropping=2, target_height=3,
                                                    target_width=3), [IMAGES], IMAGES[:, 1:4, 1:4]),
    "extract_patches": (lambda x: ops.image.extract_patches(x, 2, strides=1), [IMAGES[0]], _patches(IMAGES[0], 2, 1)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_image_op_matches_numpy(name):
    op, args, expected = CASES[name]
    check(op, args, expected, rtol=1e-5, atol=1e-5)


def test_resize_of_integer_images_rounds_and_clips():
    images = (IMAGES * 255).astype("uint8")
    resized = ops.image.resize(images, (10, 12))
    assert resized.dtype == np.uint8
    np.testing.assert_array_equal(resized, np.clip(np.round(ops.image.resize(images.astype("float32"), (10, 12))),
                                                   images.min(), images.max()))


def test_resize_gradient_by_finite_differences():
    th.verify_grad(lambda x: ops.sum(ops.sin(ops.image.resize(x, (4, 7), interpolation="bicubic"))),
                   [IMAGES[:1].astype("float64")], rng=RNG)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: ops.image.resize(IMAGES, (4, 4), interpolation="area"), ValueError, "interpolation must be one of"),
        (lambda: ops.image.resize(IMAGES[0, 0], (4, 4)), ValueError, "expected rank 3"),
        (lambda: ops.image.resize(IMAGES, (4, 4), crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), ValueError,
         "only one of"),
        (lambda: ops.image.rgb_to_hsv(IMAGES.astype("int32")), ValueError, "expected float images"),
        (lambda: ops.image.pad_images(IMAGES, 1), ValueError, "exactly two"),
        (lambda: ops.image.pad_images(IMAGES, 1, 1, target_height=3, target_width=9), ValueError,
         "bottom_padding must be >= 0"),
        (lambda: ops.image.crop_images(IMAGES, 0, 0, target_height=9, target_width=2), ValueError, "out of range"),
    ],
)
def test_image_ops_reject_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()
