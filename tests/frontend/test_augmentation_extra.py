"""The Keras 3 image layers of augmentation_color.py and augmentation_mix.py: deterministic layers
and fixed factor ranges against Keras 3 (JAX backend), random draws by the properties Keras'
formulas give them; inference behaviour, configs, models saved and reloaded."""


import numpy as np
import pytest
from keras_jax import keras, needs_keras

from theanine.frontend import layers, models

R = np.random.default_rng(0)
X = (R.random((2, 6, 7, 3)) * 255).astype("float32")
X[1, ..., 2] = 40.0  # a constant channel


def _keras(layer, x):
    return np.asarray(layer(x, training=True))


@needs_keras
@pytest.mark.parametrize("name, args", [
    ("AutoContrast", {}),
    ("RandomColorDegeneration", {"factor": (0.3, 0.3)}),
    ("RandomColorDegeneration", {"factor": (-0.6, -0.6)}),
    ("RandomSaturation", {"factor": (0.3, 0.3)}),
    ("RandomSharpness", {"factor": (0.8, 0.8)}),
    ("RandomPosterization", {"factor": (3, 3)}),
    ("RandomGaussianBlur", {"factor": (1.0, 1.0), "kernel_size": (3, 5), "sigma": (0.7, 0.7)}),
    ("RandomColorJitter", {"brightness_factor": (0.1, 0.1), "saturation_factor": (0.4, 0.4)}),
])
@pytest.mark.parametrize("unit", [False, True])
def test_colour_layers_with_fixed_draws_match_keras(name, args, unit):
    x, extra = (X / 255, {"value_range": (0, 1)}) if unit else (X, {})
    expected = _keras(getattr(keras.layers, name)(**args, **extra), x)
    np.testing.assert_allclose(getattr(layers, name)(**args, **extra)(x, training=True), expected,
                               rtol=1e-5, atol=1e-4 if not unit else 1e-6)


@needs_keras
@pytest.mark.parametrize("bins, unit", [(256, False), (16, False), (256, True)])
def test_equalization_matches_keras_image_by_image(bins, unit):
    x, extra = (X / 255, {"value_range": (0, 1)}) if unit else (X, {})
    out = layers.Equalization(bins=bins, **extra)(x, training=True)
    for i in range(len(x)):
        np.testing.assert_allclose(out[i], _keras(keras.layers.Equalization(bins=bins, **extra), x[i:i + 1])[0],
                                   rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(out[1, ..., 2], x[1, ..., 2])  # one occupied bin: kept
    np.testing.assert_array_equal(layers.Equalization()(x), x)


@needs_keras
def test_hue_shifts_by_half_the_factor_with_a_random_sign():
    out = layers.RandomHue((0.2, 0.2), seed=1)(np.repeat(X[:1], 12, 0), training=True)
    reference = keras.layers.RandomHue(0.2)
    plus, minus = (np.asarray(reference.transform_images(X[:1], {"factor": np.array([f])}))[0] for f in (0.1, -0.1))
    signs = [np.allclose(o, plus, atol=1e-3) for o in out]
    assert all(s or np.allclose(o, minus, atol=1e-3) for s, o in zip(signs, out, strict=True))
    assert 0 < sum(signs) < 12


def _gray(x):
    return x @ np.array([0.2989, 0.5870, 0.1140], "float32")


def test_auto_contrast_stretches_each_channel_to_the_range_in_inference_too():
    out = layers.AutoContrast()(X)
    low, high = X.min(axis=(1, 2), keepdims=True), X.max(axis=(1, 2), keepdims=True)
    expected = np.where(high > low, (X - low) * 255 / np.where(high > low, high - low, 1), X)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-3)
    assert out[0].min() == 0 and out[0].max() == 255
    first = layers.AutoContrast(data_format="channels_first")(np.moveaxis(X, -1, 1))
    np.testing.assert_allclose(first, np.moveaxis(out, -1, 1), rtol=1e-6)
    np.testing.assert_allclose(layers.AutoContrast()(X[0]), out[0], rtol=1e-6)


def test_random_colour_layers_keep_the_range_and_draw_per_image():
    x = np.repeat(X[:1], 8, 0)
    for layer in (layers.RandomColorDegeneration(0.9, seed=1), layers.RandomSharpness(0.9, seed=2),
                  layers.RandomSaturation(0.9, seed=3), layers.RandomGaussianBlur(seed=4),
                  layers.RandomColorJitter(brightness_factor=0.3, contrast_factor=0.3, saturation_factor=0.3,
                                           hue_factor=0.3, seed=5)):
        out = layer(x, training=True)
        assert out.min() >= -1e-3 and out.max() <= 255 + 1e-3, type(layer).__name__
        distinct = 2 if isinstance(layer, layers.RandomGaussianBlur) else 3  # blur: one sigma per batch
        assert len({round(float(o.sum()), 0) for o in out}) >= distinct, type(layer).__name__
    degenerate = layers.RandomColorDegeneration((1.0, 1.0))(X, training=True)
    np.testing.assert_allclose(degenerate, np.repeat(_gray(X)[..., None], 3, -1), rtol=1e-5, atol=1e-3)


def test_posterization_keeps_the_drawn_number_of_bits():
    out = layers.RandomPosterization((2, 5), seed=3)(np.repeat(X[:1], 16, 0), training=True)
    kept = set()
    for image in out:
        step = next(2 ** (8 - b) for b in range(1, 9) if np.all(image % 2 ** (8 - b) == 0))
        np.testing.assert_array_equal(image, np.floor(X[0] / step) * step)
        kept.add(8 - int(np.log2(step)))
    assert kept <= {2, 3, 4} and len(kept) > 1  # [lower, upper) as Keras' randint


def test_gaussian_blur_is_a_normalized_separable_filter():
    x = np.zeros((1, 7, 7, 1), "float32")
    x[0, 3, 3, 0] = 1.0
    out = layers.RandomGaussianBlur((1.0, 1.0), kernel_size=(3, 5), sigma=(0.5, 0.5), value_range=(0, 1))(
        x, training=True)[0, ..., 0]
    taps = lambda n: np.exp(-0.5 * ((np.arange(n) - (n - 1) / 2) / (0.5 + 1e-6)) ** 2)  # noqa: E731
    kernel = np.outer(taps(5) / taps(5).sum(), taps(3) / taps(3).sum())  # 5 rows, 3 columns
    np.testing.assert_allclose(out[1:6, 2:5], kernel, rtol=1e-5)
    assert out.sum() == pytest.approx(1.0, rel=1e-5)
    none = layers.RandomGaussianBlur((0.0, 0.0), seed=1)(X, training=True)
    np.testing.assert_array_equal(none, X)


COLOUR_LAYERS = [
    layers.AutoContrast(value_range=(0, 1)), layers.Equalization(bins=64), layers.RandomColorDegeneration(0.2),
    layers.RandomHue(0.2), layers.RandomSaturation(0.2), layers.RandomSharpness(0.2), layers.RandomPosterization(4),
    layers.RandomColorJitter(brightness_factor=0.1, hue_factor=0.1, seed=3), layers.RandomGaussianBlur(0.5),
    layers.RandomPerspective(0.5, 0.2), layers.RandomElasticTransform(fill_mode="mirror"), layers.MixUp(),
    layers.CutMix(0.5), layers.RandAugment(num_ops=1), layers.AugMix(num_chains=1, chain_depth=1),
]


@pytest.mark.parametrize("layer", COLOUR_LAYERS, ids=lambda layer: type(layer).__name__)
def test_identity_in_inference_and_config_round_trip(layer):
    if not isinstance(layer, (layers.AutoContrast, layers.RandAugment, layers.AugMix)):  # policies: cheaper below
        np.testing.assert_array_equal(layer(X), X)
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert tuple(layer.compute_output_shape((None, 6, 7, 3))) == (None, 6, 7, 3)


@pytest.mark.parametrize("layer", [
    layers.Equalization(bins=32), layers.RandomColorDegeneration((0.3, 0.3)), layers.RandomSaturation((0.6, 0.6)),
    layers.RandomSharpness((0.7, 0.7)), layers.RandomPosterization((3, 3)),
    layers.RandomGaussianBlur((1.0, 1.0), sigma=(0.6, 0.6)),
    layers.ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(2, 2)),
], ids=lambda layer: type(layer).__name__)
def test_one_image_and_channels_first_give_the_batched_result(layer):
    batched = layer(X, training=True)
    np.testing.assert_allclose(layer(X[1], training=True), batched[1], rtol=1e-5, atol=1e-3)
    config = {**layer.get_config(), "data_format": "channels_first", "name": "first"}
    first = type(layer).from_config(config)(np.moveaxis(X, -1, 1), training=True)
    np.testing.assert_allclose(first, np.moveaxis(batched, -1, 1), rtol=1e-5, atol=1e-3)


def test_seeded_layers_reproduce_their_draws():
    for make in (lambda: layers.RandomHue(0.4, seed=7), lambda: layers.RandomGaussianBlur(seed=7),
                 lambda: layers.RandomPosterization((1, 8), seed=7)):
        np.testing.assert_array_equal(make()(X, training=True), make()(X, training=True))


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="`factor` argument should be a number"):
        layers.RandomHue(1.5)
    with pytest.raises(ValueError, match="`factor` argument should be a number"):
        layers.RandomPosterization(9)
    with pytest.raises(ValueError, match="kernel_size must be an odd number"):
        layers.RandomGaussianBlur(kernel_size=4)
    with pytest.raises(ValueError, match="value_range"):
        layers.AutoContrast(value_range=5)
    with pytest.raises(ValueError, match="bins must be"):
        layers.Equalization(bins=1)
    with pytest.raises(ValueError, match="expects RGB images"):
        layers.RandomSaturation(0.5)(X[..., :2], training=True)


# ----------------------------------------------------------------------------- mixing and policies

B = (R.random((8, 5, 6, 3)) * 255).astype("float32")
LABELS = np.eye(8, dtype="float32")


def _partner(labels_row, own):
    """The other image a mixed label row points at (its own index when unmixed)."""
    others = [j for j in np.nonzero(labels_row > 1e-6)[0] if j != own]
    return others[0] if others else own


def test_mix_up_is_a_convex_combination_of_images_and_labels_with_the_same_weight():
    masks = (R.random((8, 5, 6, 1)) > 0.5).astype("float32")
    out = layers.MixUp(alpha=0.5, seed=3)({"images": B, "labels": LABELS, "segmentation_masks": masks},
                                          training=True)
    np.testing.assert_allclose(out["labels"].sum(axis=1), 1.0, rtol=1e-6)
    weights = np.diag(out["labels"])
    partners = [_partner(row, i) for i, row in enumerate(out["labels"])]
    assert sorted(set(partners) | set(range(8))) == list(range(8)) and len(set(np.round(weights, 4))) > 4
    for i, (w, p) in enumerate(zip(weights, partners, strict=True)):
        w = w if p != i else 1.0
        np.testing.assert_allclose(out["images"][i], w * B[i] + (1 - w) * B[p], rtol=1e-4, atol=1e-2)
        np.testing.assert_allclose(out["segmentation_masks"][i], w * masks[i] + (1 - w) * masks[p], atol=1e-5)
    same = layers.MixUp(seed=3)({"images": B, "labels": LABELS}, training=True)
    np.testing.assert_array_equal(same["labels"], layers.MixUp(seed=3)({"images": B, "labels": LABELS},
                                                                      training=True)["labels"])
    np.testing.assert_array_equal(layers.MixUp()(B), B)


def test_mix_up_weights_follow_beta_alpha_alpha():
    x = np.zeros((400, 2, 2, 1), "float32")
    out = layers.MixUp(alpha=2.0, seed=1)({"images": x, "labels": np.eye(400, dtype="float32")}, training=True)
    weights = np.diag(out["labels"])
    assert abs(weights.mean() - 0.5) < 0.04 and abs(weights.var() - 1 / 20) < 0.015  # Beta(2, 2): var 1/20


def test_cut_mix_pastes_one_box_and_mixes_labels_by_its_area():
    x = np.repeat(np.arange(8, dtype="float32")[:, None, None, None], 10, 1).repeat(12, 2).repeat(3, 3)
    out = layers.CutMix(seed=4)({"images": x, "labels": LABELS}, training=True)
    pasted_any = False
    for i, (image, labels) in enumerate(zip(out["images"], out["labels"], strict=True)):
        p = _partner(labels, i)
        pasted = image[..., 0] != i
        if p == i or not pasted.any():
            continue
        pasted_any = True
        ys, xs = np.nonzero(pasted)
        assert np.all(pasted[ys.min():ys.max() + 1, xs.min():xs.max() + 1]) and np.all(image[pasted] == p)
        box = pasted.sum() / 120
        h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert abs(labels[p] - box) <= (h + w + 1) / 120  # the continuous box vs. its whole pixels
        np.testing.assert_allclose(labels[i] + labels[p], 1.0, rtol=1e-6)
    assert pasted_any
    np.testing.assert_array_equal(layers.CutMix(seed=1)(x[0], training=True), x[0])  # one image: unchanged


def test_mixing_layers_in_a_functional_model_with_a_dict_input():
    images, labels = layers.Input((5, 6, 3)), layers.Input((8,))
    mixed = layers.CutMix(seed=2)({"images": images, "labels": labels}, training=True)
    model = models.Model([images, labels], [mixed["images"], mixed["labels"]])
    got_images, got_labels = model.predict([B, LABELS], verbose=0)
    assert got_images.shape == B.shape and not np.array_equal(got_labels, LABELS)
    np.testing.assert_allclose(got_labels.sum(axis=1), 1.0, rtol=1e-6)


def test_rand_augment_applies_one_of_its_layers_per_op_and_keeps_the_range():
    x = B[:2] / 255
    out = layers.RandAugment(value_range=(0, 1), num_ops=1, factor=0.3, seed=5)
    results = [out(x, training=True) for _ in range(6)]
    assert all(r.shape == x.shape and r.min() >= -1e-6 and r.max() <= 1 + 1e-6 for r in results)
    assert len({round(float(r.sum()), 3) for r in results}) > 2
    np.testing.assert_array_equal(out(x), x)
    np.testing.assert_array_equal(layers.RandAugment(num_ops=0)(B, training=True), B)


def test_aug_mix_blends_augmented_chains_within_the_range():
    layer = layers.AugMix(value_range=(0, 1), num_chains=2, chain_depth=1, all_ops=False, seed=6)
    x = B[:2] / 255
    out = layer(x, training=True)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1 and not np.allclose(out, x)
    np.testing.assert_array_equal(layer(x), x)
    assert layers.AugMix.from_config(layer.get_config()).get_config() == layer.get_config()


def test_max_num_bounding_boxes_pads_and_truncates():
    boxes = R.random((2, 3, 4)).astype("float32")
    data = {"images": B[:2], "bounding_boxes": {"boxes": boxes, "labels": np.array([[1, 2, 3], [4, 5, 6]])}}
    padded = layers.MaxNumBoundingBoxes(5, fill_value=-2)(data)
    np.testing.assert_array_equal(padded["bounding_boxes"]["labels"], [[1, 2, 3, -2, -2], [4, 5, 6, -2, -2]])
    np.testing.assert_array_equal(padded["bounding_boxes"]["boxes"][:, :3], boxes)
    assert np.all(padded["bounding_boxes"]["boxes"][:, 3:] == -2)
    np.testing.assert_array_equal(padded["images"], B[:2])
    cut = layers.MaxNumBoundingBoxes(2)(data)
    np.testing.assert_array_equal(cut["bounding_boxes"]["boxes"], boxes[:, :2])
    with pytest.raises(ValueError, match="'boxes' and 'labels'"):
        layers.MaxNumBoundingBoxes(2)({"images": B, "bounding_boxes": {"boxes": boxes}})


def test_pipeline_applies_its_layers_in_order_and_round_trips():
    pipeline = layers.Pipeline([layers.AutoContrast(), layers.RandomPosterization((1, 1), seed=1)])
    stretched = layers.AutoContrast()(B)
    np.testing.assert_array_equal(pipeline(B), stretched)
    np.testing.assert_array_equal(pipeline(B, training=True), np.where(np.floor(stretched) >= 128, 128, 0))
    clone = layers.Pipeline.from_config(pipeline.get_config())
    assert [type(layer) for layer in clone.layers] == [layers.AutoContrast, layers.RandomPosterization]
    with pytest.raises(ValueError, match="list of serialized layers"):
        layers.Pipeline.from_config({"layers": None})


def test_a_model_with_the_new_layers_trains_saves_and_reloads(tmp_path):
    model = models.Sequential([
        layers.Input((5, 6, 3)), layers.AutoContrast(value_range=(0, 1), name="contrast"),
        layers.Pipeline([layers.RandomHue(0.1, value_range=(0, 1), seed=1), layers.RandomSharpness(0.2, seed=2)]),
        layers.Equalization(value_range=(0, 1)), layers.RandomGaussianBlur(seed=3, value_range=(0, 1)),
        layers.RandomColorJitter(value_range=(0, 1), brightness_factor=0.1, saturation_factor=0.2, seed=5),
        layers.RandomPerspective(scale=0.3, seed=6), layers.RandomElasticTransform(value_range=(0, 1), seed=7),
        layers.CutMix(seed=8), layers.MixUp(seed=4), layers.GlobalAveragePooling2D(), layers.Dense(1),
    ])
    model.compile("sgd", "mse")
    x = B / 255
    model.fit(x, np.zeros((8, 1), "float32"), epochs=1, verbose=0)
    kernel, bias = model.layers[-1].get_weights()
    stretched = layers.AutoContrast(value_range=(0, 1))(x)
    np.testing.assert_allclose(model.predict(x, verbose=0), stretched.mean(axis=(1, 2)) @ kernel + bias, rtol=1e-4)
    path = str(tmp_path / "colour.theanine")
    model.save(path)
    restored = models.load_model(path)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert [type(layer).__name__ for layer in restored.layers[1].layers] == ["RandomHue", "RandomSharpness"]


# ----------------------------------------------------------------------------- warps

W = (R.random((2, 7, 9, 3)) * 255).astype("float32")


def _symbolic(function, *shapes):
    """``function`` of float32 placeholders of ``shapes``, compiled."""
    import theanine as th

    inputs = [th.tensor(f"x{i}", dtype="float32", shape=shape) for i, shape in enumerate(shapes)]
    return th.function(inputs, function(*inputs))


@needs_keras
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_perspective_sampling_matches_keras_perspective_transform(interpolation):
    from theanine.frontend.layers.augmentation import sample
    from theanine.frontend.layers.augmentation_warp import perspective_sources

    start = np.array([[0, 0], [8, 0], [0, 6], [8, 6]], "float32")
    ends = (start + start * R.uniform(-0.3, 0.3, (2, 4, 2)) + R.uniform(-1, 1, (2, 4, 2))).astype("float32")
    warp = _symbolic(lambda images, corners: sample(images, *perspective_sources(corners, 7, 9), "constant",
                                                    interpolation, 3.0), (None, 7, 9, 3), (None, 4, 2))
    expected = keras.ops.image.perspective_transform(W, np.repeat(start[None], 2, 0), ends,
                                                     interpolation=interpolation, fill_value=3.0)
    np.testing.assert_allclose(warp(W, ends), np.asarray(expected), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("fill_mode, scipy_mode", [("reflect", "reflect"), ("mirror", "mirror"),
                                                   ("nearest", "nearest"), ("constant", "grid-constant"),
                                                   ("wrap", "grid-wrap")])
def test_elastic_warp_matches_scipy_map_coordinates(fill_mode, scipy_mode):
    from scipy import ndimage

    from theanine.frontend.layers.augmentation_warp import elastic_warp

    dx, dy = R.standard_normal((2, 2, 7, 9)).astype("float32")
    warp = _symbolic(lambda images, a, b: elastic_warp(images, a, b, np.float32(1.5), "bilinear", fill_mode, 2.0),
                     (None, 7, 9, 3), (None, 7, 9), (None, 7, 9))
    ys, xs = np.meshgrid(np.arange(7), np.arange(9), indexing="ij")
    expected = np.stack([np.stack([ndimage.map_coordinates(W[i, ..., c], [ys + 1.5 * dy[i], xs + 1.5 * dx[i]],
                                                           order=1, mode=scipy_mode, cval=2.0) for c in range(3)], -1)
                         for i in range(2)])
    np.testing.assert_allclose(warp(W, dx, dy), expected, rtol=1e-4, atol=1e-3)


def test_perspective_keeps_the_origin_corner_and_varies_per_image():
    x = np.repeat(W[:1], 6, 0)
    out = layers.RandomPerspective(factor=(1.0, 1.0), scale=0.5, seed=2)(x, training=True)
    np.testing.assert_allclose(out[:, 0, 0], x[:, 0, 0], rtol=1e-4)  # Keras moves corners by corner * u
    assert len({round(float(o.sum()), 0) for o in out}) == 6
    np.testing.assert_allclose(layers.RandomPerspective(scale=0.0, seed=1)(W, training=True), W, rtol=1e-4,
                               atol=1e-3)
    np.testing.assert_array_equal(layers.RandomPerspective(factor=(0.0, 0.0))(W, training=True), W)
    np.testing.assert_array_equal(layers.RandomPerspective()(W), W)


def test_elastic_transform_displaces_smoothly_within_the_range():
    layer = layers.RandomElasticTransform(factor=(1.0, 1.0), scale=(1.0, 1.0), seed=3)
    x = np.repeat(W[:1], 4, 0)
    out = layer(x, training=True)
    assert out.min() >= 0 and out.max() <= 255 and not np.allclose(out, x)
    assert len({round(float(o.sum()), 0) for o in out}) == 4
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layers.RandomElasticTransform(scale=0.0)(W, training=True), W)
    again = layers.RandomElasticTransform(factor=(1.0, 1.0), scale=(1.0, 1.0), seed=3)(x, training=True)
    np.testing.assert_array_equal(again, out)
    with pytest.raises(NotImplementedError, match="fill_mode"):
        layers.RandomElasticTransform(fill_mode="mirrored")
    with pytest.raises(ValueError, match="scale"):
        layers.RandomPerspective(scale=2.0)


# ----------------------------------------------------------------------------- CLAHE

CLAHE = layers.ContrastLimitedAdaptiveHistogramEqualization
C = (R.random((2, 13, 10, 3)) * 255).astype("float32")


@needs_keras
@pytest.mark.parametrize("args", [{"tile_grid_size": (2, 3)}, {"tile_grid_size": (4, 2), "clip_limit": 0.0},
                                  {"tile_grid_size": (3, 3), "clip_limit": 2.0, "value_range": (0, 1)},
                                  {"tile_grid_size": (2, 2), "data_format": "channels_first"}])
def test_clahe_matches_keras(args):
    x = C / 255 if "value_range" in args else C
    x = np.moveaxis(x, -1, 1) if args.get("data_format") == "channels_first" else x
    expected = np.asarray(keras.layers.ContrastLimitedAdaptiveHistogramEqualization(**args)(x))
    np.testing.assert_allclose(CLAHE(**args)(x), expected, rtol=1e-5, atol=1e-4 * np.abs(expected).max())


def test_clahe_with_one_tile_and_no_clipping_is_a_global_equalization():
    out = CLAHE(tile_grid_size=(1, 1), clip_limit=0.0)(C)
    for image, result in zip(C, out, strict=True):
        for c in range(3):
            levels = image[..., c].astype(int)
            cdf = np.cumsum(np.bincount(levels.ravel(), minlength=256))
            table = np.clip((cdf - cdf[0]) * 255.0 / (levels.size - cdf[0]), 0, 255)
            np.testing.assert_allclose(result[..., c], table[levels], rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(CLAHE(tile_grid_size=(2, 2))(C[0]), CLAHE(tile_grid_size=(2, 2))(C)[0], rtol=1e-6)
    assert CLAHE.from_config(CLAHE().get_config()).get_config() == CLAHE().get_config()
    with pytest.raises(ValueError, match="tile_grid_size"):
        CLAHE(tile_grid_size=(0, 2))


def test_dict_inputs_transform_the_images_and_pass_the_labels():
    data = {"images": B, "labels": LABELS}
    contrast = layers.AutoContrast()(data)
    np.testing.assert_array_equal(contrast["images"], layers.AutoContrast()(B))
    np.testing.assert_array_equal(contrast["labels"], LABELS)
    masks = np.ones((8, 5, 6, 1), "float32")
    sharp = layers.RandomSharpness((0.9, 0.9))({**data, "segmentation_masks": masks}, training=True)
    np.testing.assert_array_equal(sharp["segmentation_masks"], masks)  # colour layers leave masks as Keras
    pipeline = layers.Pipeline([layers.AutoContrast(), layers.RandomPosterization((4, 4), seed=1),
                                layers.MixUp(seed=2)])
    out = pipeline(data, training=True)
    np.testing.assert_allclose(out["labels"].sum(axis=1), 1.0, rtol=1e-6)
    assert not np.array_equal(out["labels"], LABELS)
    with pytest.raises(NotImplementedError, match="segmentation_masks"):
        layers.RandomPerspective()({**data, "segmentation_masks": masks}, training=True)
    with pytest.raises(ValueError, match="Received keys"):
        layers.AutoContrast()({"pixels": B})
