"""RandomFlip and RandomRotation (the transfer-learning guide's augmentation), against NumPy."""

import numpy as np
import pytest

from theanine.frontend import layers, models


def _images(n=3, size=5):
    return np.random.default_rng(0).random((n, size, size, 2)).astype("float32")


def test_augmentation_is_the_identity_outside_training():
    x = _images()
    assert np.array_equal(layers.RandomFlip()(x), x) and np.array_equal(layers.RandomRotation(0.3)(x), x)


@pytest.mark.parametrize("turns, k", [(0.25, 1), (0.5, 2), (-0.25, 3)])
def test_rotation_by_quarter_turns_is_rot90(turns, k):
    x = _images()
    out = layers.RandomRotation((turns, turns))(x, training=True)
    np.testing.assert_allclose(out, np.rot90(x, k, axes=(1, 2)), atol=1e-5)


def test_rotation_fill_modes_at_45_degrees():
    ones = np.ones((1, 5, 5, 1), "float32")
    constant = layers.RandomRotation((0.125, 0.125), fill_mode="constant", fill_value=-1.0)(ones, training=True)
    # a corner pixel samples 2.83 pixels from the centre along an axis: 0.83 of a pixel outside
    assert constant[0, 2, 2, 0] == 1.0 and constant[0, 1, 1, 0] == 1.0
    np.testing.assert_allclose(constant[0, 0, 0, 0], 1 - 2 * (np.hypot(2, 2) - 2), atol=1e-5)
    for mode in ("reflect", "wrap", "nearest"):
        out = layers.RandomRotation((0.125, 0.125), fill_mode=mode)(ones, training=True)
        np.testing.assert_allclose(out, ones, atol=1e-6)
    ramp = np.arange(5, dtype="float32").reshape(1, 1, 5, 1) * np.ones((1, 5, 1, 1), "float32")
    nearest = layers.RandomRotation((0.5, 0.5), interpolation="nearest")(ramp, training=True)
    np.testing.assert_allclose(nearest, ramp[:, ::-1, ::-1], atol=1e-6)


def test_random_flip_flips_each_image_or_leaves_it():
    x = _images(n=64, size=4)
    out = layers.RandomFlip("horizontal", seed=3)(x, training=True)
    flipped = [np.array_equal(o, xi[:, ::-1]) for o, xi in zip(out, x, strict=True)]
    kept = [np.array_equal(o, xi) for o, xi in zip(out, x, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True)) and 16 < sum(flipped) < 48
    both = layers.RandomFlip(seed=4)(x, training=True)
    options = [(xi, xi[::-1], xi[:, ::-1], xi[::-1, ::-1]) for xi in x]
    assert all(any(np.array_equal(o, c) for c in cands) for o, cands in zip(both, options, strict=True))


def test_augmentation_in_a_model_trains_and_round_trips_its_config():
    model = models.Sequential([layers.Input((6, 6, 1)), layers.RandomFlip("horizontal", seed=1),
                               layers.RandomRotation(0.1, seed=2), layers.Flatten(), layers.Dense(1)])
    model.compile("sgd", "mse")
    x = _images(8, 6)[..., :1]
    model.fit(x, np.zeros((8, 1)), epochs=1, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), x.reshape(8, -1) @ model.layers[-1].get_weights()[0]
                               + model.layers[-1].get_weights()[1], rtol=1e-5)
    rebuilt = models.Sequential.from_config(model.get_config())
    assert rebuilt.layers[1].factor == 0.1 and rebuilt.layers[0].mode == "horizontal"
    with pytest.raises(ValueError, match="mode must be one of"):
        layers.RandomFlip("diagonal")
    with pytest.raises(ValueError, match="fill_mode must be one of"):
        layers.RandomRotation(0.1, fill_mode="mirror")


def _bilinear_reference(image, out_h, out_w):
    """Half-pixel-centre bilinear resize of one (h, w, c) image, in NumPy."""
    h, w = image.shape[:2]
    ys = np.clip((np.arange(out_h) + 0.5) * h / out_h - 0.5, 0, h - 1)
    xs = np.clip((np.arange(out_w) + 0.5) * w / out_w - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = (1 - wx) * image[y0][:, x0] + wx * image[y0][:, x1]
    bottom = (1 - wx) * image[y1][:, x0] + wx * image[y1][:, x1]
    return (1 - wy) * top + wy * bottom


@pytest.mark.parametrize("size", [(8, 12), (3, 2), (4, 6)])
def test_resizing_matches_half_pixel_bilinear(size):
    x = np.random.default_rng(1).random((2, 4, 6, 3)).astype("float32")
    out = layers.Resizing(*size)(x)
    assert out.shape == (2, *size, 3)
    for image, resized in zip(x, out, strict=True):
        np.testing.assert_allclose(resized, _bilinear_reference(image, *size), atol=1e-6)


def test_resizing_options_and_model_use():
    x = np.arange(2 * 4 * 8, dtype="float32").reshape(2, 4, 8, 1)
    cropped = layers.Resizing(4, 4, crop_to_aspect_ratio=True)(x)
    np.testing.assert_allclose(cropped, x[:, :, 2:6], atol=1e-5)  # the centred 4x4 window
    nearest = layers.Resizing(2, 4, interpolation="nearest")(x)
    assert nearest.shape == (2, 2, 4, 1) and set(np.unique(nearest)) <= set(np.unique(x))
    model = models.Sequential([layers.Input((4, 8, 1)), layers.Resizing(2, 2), layers.Flatten()])
    assert model.output_shape == (None, 4) and model.predict(x, verbose=0).shape == (2, 4)
    assert layers.Resizing.from_config(layers.Resizing(5, 7).get_config()).width == 7
