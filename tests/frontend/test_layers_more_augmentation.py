"""The Keras 3 image layers of augmentation_more.py against NumPy: crops, affine layers (zoom,
translation, shear) and colour layers, with deterministic factor ranges; random draws checked by the
properties Keras' formulas give them; configs, inference behaviour, models."""

import numpy as np
import pytest

from theanine.frontend import layers, models

R = np.random.default_rng(5)
X = (R.random((2, 7, 9, 3)) * 255).astype("float32")


def _tap(index, size, fill_mode):
    """The pixel an integer tap reads under ``fill_mode`` (None: outside, the fill value)."""
    if fill_mode == "reflect":
        index = index % (2 * size)
        return index if index < size else 2 * size - 1 - index
    if fill_mode == "wrap":
        return index % size
    if fill_mode == "nearest":
        return min(max(index, 0), size - 1)
    return index if 0 <= index < size else None


def _fold(coordinate, size, fill_mode):
    """The continuous coordinate folded into the image first (reflect and wrap), as Keras' JAX backend."""
    if fill_mode == "reflect":
        t = (coordinate + 0.5) % (2 * size)
        return min(max((2 * size - t if t > size else t) - 0.5, 0), size - 1)
    if fill_mode == "wrap":
        return coordinate % size
    return coordinate


def _affine_reference(x, rows, fill_mode="reflect", interpolation="bilinear", fill_value=0.0):
    """Each output pixel (x, y) of each image reads ``(a0 x + a1 y + a2, b0 x + b1 y + b2)``."""
    (a0, a1, a2), (b0, b1, b2) = rows
    n, h, w, c = x.shape
    out = np.zeros(x.shape, "float64")
    for i, j in np.ndindex(h, w):
        sx, sy = _fold(a0 * j + a1 * i + a2, w, fill_mode), _fold(b0 * j + b1 * i + b2, h, fill_mode)
        if interpolation == "nearest":
            sx, sy = np.round(sx), np.round(sy)
        x0, y0 = int(np.floor(sx)), int(np.floor(sy))
        for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
            weight = (1 - abs(sy - y0 - dy)) * (1 - abs(sx - x0 - dx))
            ty, tx = _tap(y0 + dy, h, fill_mode), _tap(x0 + dx, w, fill_mode)
            out[:, i, j] += weight * (fill_value if ty is None or tx is None else x[:, ty, tx])
    return out


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "nearest", "constant"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_zoom_and_translation_match_the_affine_reference(fill_mode, interpolation):
    args = {"fill_mode": fill_mode, "interpolation": interpolation, "fill_value": 7.0}
    zoom = layers.RandomZoom((0.3, 0.3), (-0.2, -0.2), **args)(X, training=True)
    zy, zx = 1.3, 0.8
    rows = ((zx, 0, 4 * (1 - zx)), (0, zy, 3 * (1 - zy)))
    np.testing.assert_allclose(zoom, _affine_reference(X, rows, **args), rtol=1e-4, atol=1e-3)
    shift = layers.RandomTranslation((0.25, 0.25), (-0.15, -0.15), **args)(X, training=True)
    rows = ((1, 0, 0.15 * 9), (0, 1, -0.25 * 7))
    np.testing.assert_allclose(shift, _affine_reference(X, rows, **args), rtol=1e-4, atol=1e-3)


def test_one_image_and_channels_first_give_the_batched_channels_last_result():
    zoom = layers.RandomZoom((0.3, 0.3), fill_mode="constant")
    batched = zoom(X, training=True)
    np.testing.assert_allclose(zoom(X[1], training=True), batched[1], rtol=1e-6)
    first = layers.RandomZoom((0.3, 0.3), fill_mode="constant", data_format="channels_first")
    np.testing.assert_allclose(first(np.moveaxis(X, -1, 1), training=True), np.moveaxis(batched, -1, 1), rtol=1e-6)
    np.testing.assert_array_equal(layers.CenterCrop(3, 3)(X[0]), X[0, 2:5, 3:6])
    assert first.get_config()["data_format"] == "channels_first"


def test_shear_reads_along_the_other_axis_with_a_random_sign():
    x = X[:1].repeat(16, axis=0)
    out = layers.RandomShear(x_factor=(0.3, 0.3), fill_mode="constant", seed=3)(x, training=True)
    plus = _affine_reference(x[:1], ((1, 0.3, 0), (0, 1, 0)), "constant")[0]
    minus = _affine_reference(x[:1], ((1, -0.3, 0), (0, 1, 0)), "constant")[0]
    matches = [np.allclose(o, plus, atol=1e-3) for o in out]
    assert all(m or np.allclose(o, minus, atol=1e-3) for m, o in zip(matches, out, strict=True))
    assert 0 < sum(matches) < 16
    with pytest.raises(ValueError, match=r"`x_factor` argument should be a number .* \[0.0, 1.0\]"):
        layers.RandomShear(x_factor=1.5)


def test_zoom_without_width_factor_zooms_both_axes_alike_and_draws_per_image():
    x = X[:1].repeat(8, axis=0)
    out = layers.RandomZoom(0.5, seed=2)(x, training=True)
    assert len({round(float(o.sum()), 1) for o in out}) == 8
    same = layers.RandomZoom((0.5, 0.5))(X, training=True)
    np.testing.assert_allclose(same, _affine_reference(X, ((1.5, 0, -2), (0, 1.5, -1.5))), rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match="must lie in"):
        layers.RandomZoom(-1.0)


def _smart_resize_reference(x, height, width):
    """Crop the centred window of the target aspect ratio, then half-pixel bilinear resize (clamped)."""
    h, w = x.shape[1:3]
    ch, cw = max(min(h, int(w * height / width)), 1), max(min(w, int(h * width / height)), 1)
    top, left = int((h - ch) / 2), int((w - cw) / 2)
    crop = x[:, top:top + ch, left:left + cw].astype("float64")
    ys = np.clip((np.arange(height) + 0.5) * ch / height - 0.5, 0, ch - 1)
    xs = np.clip((np.arange(width) + 0.5) * cw / width - 0.5, 0, cw - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, ch - 1), np.minimum(x0 + 1, cw - 1)
    wy, wx = (ys - y0)[None, :, None, None], (xs - x0)[None, None, :, None]
    top_row = crop[:, y0][:, :, x0] * (1 - wx) + crop[:, y0][:, :, x1] * wx
    bottom_row = crop[:, y1][:, :, x0] * (1 - wx) + crop[:, y1][:, :, x1] * wx
    return top_row * (1 - wy) + bottom_row * wy


def test_center_crop_cuts_the_centre_or_resizes_a_smaller_image():
    np.testing.assert_array_equal(layers.CenterCrop(4, 5)(X), X[:, 1:5, 2:7])
    np.testing.assert_allclose(layers.CenterCrop(9, 6)(X), _smart_resize_reference(X, 9, 6), rtol=1e-5, atol=1e-3)
    first = layers.CenterCrop(4, 5, data_format="channels_first")(np.moveaxis(X, -1, 1))
    np.testing.assert_array_equal(first, np.moveaxis(X[:, 1:5, 2:7], -1, 1))
    assert layers.CenterCrop(4, 5).compute_output_shape((None, 7, 9, 3)) == (None, 4, 5, 3)
    with pytest.raises(ValueError, match="height must be a positive integer"):
        layers.CenterCrop(0, 3)


def test_random_crop_takes_one_window_per_batch_in_training_and_resizes_otherwise():
    crop = layers.RandomCrop(4, 5, seed=7)
    windows = set()
    for _ in range(12):
        out = crop(X, training=True)
        hits = [(t, l) for t in range(4) for l in range(5) if np.array_equal(out, X[:, t:t + 4, l:l + 5])]
        assert len(hits) == 1
        windows.add(hits[0])
    assert len(windows) > 3
    np.testing.assert_allclose(crop(X), _smart_resize_reference(X, 4, 5), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(layers.RandomCrop(9, 12)(X, training=True), _smart_resize_reference(X, 9, 12),
                               rtol=1e-5, atol=1e-3)


def test_colour_layers_with_fixed_draws_match_numpy():
    np.testing.assert_allclose(layers.RandomBrightness((0.1, 0.1))(X, training=True),
                               np.clip(X + 25.5, 0, 255), rtol=1e-6)
    np.testing.assert_allclose(layers.RandomBrightness((-0.5, -0.5), value_range=(0, 1))(X / 255, training=True),
                               np.clip(X / 255 - 0.5, 0, 1), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(layers.RandomInvert((1.0, 1.0))(X, training=True), 255 - X, rtol=1e-6)
    gray = X @ np.array([0.2989, 0.5870, 0.1140], "float32")
    np.testing.assert_allclose(layers.RandomGrayscale(1.0)(X, training=True), np.repeat(gray[..., None], 3, -1),
                               rtol=1e-5)
    np.testing.assert_array_equal(layers.RandomGrayscale(0.0)(X, training=True), X)
    np.testing.assert_allclose(layers.Solarization(0.0, (0.0, 0.0))(X, training=True), 255 - X, rtol=1e-6)
    unit = layers.Solarization(0.0, (0.0, 0.0), value_range=(0, 1))(X / 255, training=True)
    np.testing.assert_allclose(unit, 1 - X / 255, rtol=1e-5, atol=1e-6)


def test_contrast_scales_each_image_about_its_channel_means():
    out = layers.RandomContrast(0.5, seed=4)(X, training=True)
    mean = X.mean(axis=(1, 2), keepdims=True)
    for o, x, m in zip(out, X, mean, strict=True):
        interior = (o > 0) & (o < 255)
        factors = ((o - m) / (x - m))[interior]
        assert np.allclose(factors, factors[0], rtol=1e-3) and 1.0 <= factors[0] <= 1.5
        np.testing.assert_allclose(o, np.clip((x - m) * factors[0] + m, 0, 255), rtol=1e-4, atol=1e-3)


def test_random_erasing_fills_one_box_per_erased_image():
    x = np.ones((32, 10, 10, 3), "float32")
    out = layers.RandomErasing(factor=(1.0, 1.0), scale=(0.25, 0.25), fill_value=0.0, seed=1)(x, training=True)
    for image in out:
        ys, xs = np.nonzero(image[..., 0] == 0)
        assert (ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) in {(5, 5), (6, 5), (5, 6), (6, 6)}
        assert np.all(image[ys.min():ys.max() + 1, xs.min():xs.max() + 1] == 0)
        assert image.sum() == 300 - 3 * len(ys)
    half = layers.RandomErasing(scale=(0.25, 0.25), fill_value=(0.0, 0.0, 0.0), seed=2)(x, training=True)
    erased = (half == 0).any(axis=(1, 2, 3)).sum()
    assert 4 < erased < 28  # factor 1.0 draws a probability in (0, 1): about half the images


@pytest.mark.parametrize("layer", [
    layers.RandomZoom(0.2), layers.RandomTranslation(0.1, 0.1), layers.RandomShear(0.2, 0.2),
    layers.RandomContrast(0.2), layers.RandomBrightness(0.2), layers.RandomGrayscale(), layers.RandomInvert(),
    layers.Solarization(0.5, 0.5), layers.RandomErasing(),
])
def test_random_layers_are_the_identity_in_inference_and_round_trip(layer):
    np.testing.assert_array_equal(layer(X), X)
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert tuple(layer.compute_output_shape((None, 7, 9, 3))) == (None, 7, 9, 3)


def test_every_random_layer_trains_in_a_compiled_model():
    model = models.Sequential([
        layers.Input((7, 9, 3)), layers.RandomTranslation(0.1, 0.1, seed=1), layers.RandomShear(0.1, 0.1, seed=2),
        layers.RandomGrayscale(seed=3), layers.RandomInvert(value_range=(0, 1), seed=4),
        layers.Solarization(0.1, 0.5, value_range=(0, 1), seed=5), layers.GlobalAveragePooling2D(), layers.Dense(1),
    ])
    model.compile("sgd", "mse")
    x = X / 255
    history = model.fit(x, np.zeros((2, 1), "float32"), epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    kernel, bias = model.layers[-1].get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), x.mean(axis=(1, 2)) @ kernel + bias, rtol=1e-4)


def test_augmentation_in_a_model_trains_and_predicts_and_reloads(tmp_path):
    model = models.Sequential([
        layers.Input((7, 9, 3)), layers.RandomCrop(6, 8, seed=1), layers.RandomZoom(0.1, seed=2),
        layers.RandomContrast(0.2, seed=3), layers.RandomBrightness(0.1, seed=4), layers.RandomErasing(seed=5),
        layers.CenterCrop(4, 4), layers.Flatten(), layers.Dense(1),
    ])
    model.compile("sgd", "mse")
    x = X / 255
    model.fit(x, np.zeros((2, 1), "float32"), epochs=1, verbose=0)
    kernel, bias = model.layers[-1].get_weights()
    cropped = _smart_resize_reference(x, 6, 8)[:, 1:5, 2:6].reshape(2, -1)
    np.testing.assert_allclose(model.predict(x, verbose=0), cropped @ kernel + bias, rtol=1e-4, atol=1e-5)
    path = str(tmp_path / "augment.theanine")
    model.save(path)
    restored = models.load_model(path)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert restored.layers[0].seed == 1 and restored.layers[4].scale == (0.02, 0.33)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="`factor` argument should be a number"):
        layers.RandomContrast(1.5)
    with pytest.raises(ValueError, match="value_range"):
        layers.RandomBrightness(0.1, value_range=(0, 1, 2))
    with pytest.raises(ValueError, match="fill_mode must be one of"):
        layers.RandomTranslation(0.1, 0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="`factor` should be between 0 and 1"):
        layers.RandomGrayscale(2.0)
    with pytest.raises(ValueError, match="fill_value"):
        layers.RandomErasing(fill_value="red")
    with pytest.raises(ValueError, match="expects RGB images"):
        layers.RandomGrayscale(1.0)(X[..., :2], training=True)
    with pytest.raises(ValueError, match="expects images"):
        layers.RandomInvert()(X[0, 0], training=True)
