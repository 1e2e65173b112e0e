"""Pooling, global pooling, UpSampling, ZeroPadding, Cropping and SpatialDropout layers against NumPy."""

import numpy as np
import pytest

import conv_reference as ref
import theanine as th
from theanine.frontend import layers, models

R = np.random.default_rng(43)


def _run(layer, value, training=None):
    x = th.tensor("x", str(value.dtype), (None, *value.shape[1:]))
    out = layer(x) if training is None else layer(x, training=training)
    return th.function([x], out)(value)


def _round_trip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    return clone


@pytest.mark.parametrize(("cls", "shape"), [
    (layers.MaxPooling1D, (2, 9, 3)), (layers.MaxPooling2D, (2, 7, 6, 3)), (layers.MaxPooling3D, (1, 5, 4, 5, 2)),
    (layers.AveragePooling1D, (2, 9, 3)), (layers.AveragePooling2D, (2, 7, 6, 3)),
    (layers.AveragePooling3D, (1, 5, 4, 5, 2)),
])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling_layers_match_the_reference_with_keras_defaults(cls, shape, padding):
    rank = len(shape) - 2
    layer = cls(padding=padding, dtype="float64")
    assert layer.pool_size == (2,) * rank and layer.strides == (2,) * rank
    x = R.standard_normal(shape)
    pads = [(0, 0)] * rank if padding == "valid" else ref.same_pads(shape[1:-1], (2,) * rank, (2,) * rank,
                                                                  (1,) * rank)
    if cls.__name__.startswith("Max"):
        expected = ref.max_pool(x, (2,) * rank, (2,) * rank, pads, (1,) * rank)
    else:
        expected = ref.average_pool(x, (2,) * rank, (2,) * rank, pads, (1,) * rank, False)
    np.testing.assert_allclose(_run(layer, x), expected, rtol=1e-12)
    assert _round_trip(layer).get_config()["strides"] == [2] * rank


def test_pooling_layers_in_channels_first_with_explicit_strides():
    layer = layers.MaxPooling2D(3, strides=1, data_format="channels_first", dtype="float64")
    x = R.standard_normal((2, 3, 5, 6))
    expected = np.moveaxis(ref.max_pool(np.moveaxis(x, 1, -1), (3, 3), (1, 1), [(0, 0), (0, 0)], (1, 1)), -1, 1)
    np.testing.assert_array_equal(_run(layer, x), expected)
    assert layer.get_config()["pool_size"] == [3, 3] and layer.get_config()["strides"] == [1, 1]


@pytest.mark.parametrize(("cls", "shape", "reduce"), [
    (layers.GlobalMaxPooling1D, (2, 5, 3), np.max), (layers.GlobalMaxPooling2D, (2, 4, 5, 3), np.max),
    (layers.GlobalMaxPooling3D, (2, 3, 4, 2, 3), np.max), (layers.GlobalAveragePooling1D, (2, 5, 3), np.mean),
    (layers.GlobalAveragePooling2D, (2, 4, 5, 3), np.mean), (layers.GlobalAveragePooling3D, (2, 3, 4, 2, 3), np.mean),
])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_reduces_the_spatial_axes(cls, shape, reduce, keepdims):
    x = R.standard_normal(shape)
    axes = tuple(range(1, len(shape) - 1))
    np.testing.assert_allclose(_run(cls(keepdims=keepdims, dtype="float64"), x),
                               reduce(x, axis=axes, keepdims=keepdims), rtol=1e-12)
    first = cls(data_format="channels_first", dtype="float64")
    np.testing.assert_allclose(_run(first, x), reduce(x, axis=tuple(range(2, len(shape)))), rtol=1e-12)
    assert _round_trip(first).data_format == "channels_first"


def test_upsampling_repeats_each_spatial_axis():
    x = R.standard_normal((2, 3, 2, 4))
    np.testing.assert_array_equal(_run(layers.UpSampling2D((2, 3), dtype="float64"), x),
                                  x.repeat(2, axis=1).repeat(3, axis=2))
    np.testing.assert_array_equal(_run(layers.UpSampling2D(2, data_format="channels_first", dtype="float64"), x),
                                  x.repeat(2, axis=2).repeat(2, axis=3))
    x1 = R.standard_normal((2, 3, 4))
    np.testing.assert_array_equal(_run(layers.UpSampling1D(3, dtype="float64"), x1), x1.repeat(3, axis=1))
    x3 = R.standard_normal((1, 2, 3, 2, 2))
    np.testing.assert_array_equal(_run(layers.UpSampling3D(dtype="float64"), x3),
                                  x3.repeat(2, axis=1).repeat(2, axis=2).repeat(2, axis=3))
    assert _round_trip(layers.UpSampling1D(3)).get_config()["size"] == 3
    assert _round_trip(layers.UpSampling2D((1, 2))).get_config()["size"] == [1, 2]
    with pytest.raises(ValueError, match='interpolation="nearest" only'):
        layers.UpSampling2D(interpolation="bilinear")


def test_zero_padding_and_cropping_match_numpy():
    x = R.standard_normal((2, 5, 6, 3))
    padded = _run(layers.ZeroPadding2D(((1, 2), (0, 3)), dtype="float64"), x)
    np.testing.assert_array_equal(padded, np.pad(x, [(0, 0), (1, 2), (0, 3), (0, 0)]))
    np.testing.assert_array_equal(_run(layers.ZeroPadding2D(dtype="float64"), x),
                                  np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)]))
    np.testing.assert_array_equal(_run(layers.Cropping2D(((1, 2), (0, 3)), dtype="float64"), x), x[:, 1:-2, 0:-3])
    nchw = R.standard_normal((2, 3, 6, 7))
    np.testing.assert_array_equal(
        _run(layers.Cropping2D((1, 2), data_format="channels_first", dtype="float64"), nchw), nchw[:, :, 1:-1, 2:-2]
    )
    x1 = R.standard_normal((2, 6, 2))
    np.testing.assert_array_equal(_run(layers.ZeroPadding1D((2, 1), dtype="float64"), x1),
                                  np.pad(x1, [(0, 0), (2, 1), (0, 0)]))
    np.testing.assert_array_equal(_run(layers.Cropping1D(dtype="float64"), x1), x1[:, 1:-1])
    x3 = R.standard_normal((1, 4, 4, 4, 2))
    np.testing.assert_array_equal(_run(layers.Cropping3D(dtype="float64"), x3), x3[:, 1:-1, 1:-1, 1:-1])
    np.testing.assert_array_equal(_run(layers.ZeroPadding3D((1, 0, 2), dtype="float64"), x3),
                                  np.pad(x3, [(0, 0), (1, 1), (0, 0), (2, 2), (0, 0)]))
    assert _round_trip(layers.ZeroPadding1D(2)).get_config()["padding"] == [2, 2]
    assert _round_trip(layers.Cropping2D(((1, 2), (3, 4)))).get_config()["cropping"] == [[1, 2], [3, 4]]


def test_zero_padding_and_cropping_reject_bad_amounts():
    with pytest.raises(ValueError, match=r"`padding` must be an int, a tuple of 2 ints"):
        layers.ZeroPadding2D(((1, 2, 3), (0, 0)))
    with pytest.raises(ValueError, match=r"`cropping` must be"):
        layers.Cropping2D(-1)
    with pytest.raises(ValueError, match=r"must leave at least one"):
        layers.Cropping2D(2)(layers.Input(shape=(4, 8, 1)))


@pytest.mark.parametrize(("cls", "shape"), [
    (layers.SpatialDropout1D, (4, 6, 5)), (layers.SpatialDropout2D, (4, 3, 3, 5)),
    (layers.SpatialDropout3D, (4, 2, 3, 2, 5)),
])
def test_spatial_dropout_drops_whole_channels(cls, shape):
    x = np.ones(shape)
    layer = cls(0.5, seed=7, dtype="float64")
    out = _run(layer, x, training=True)
    spatial = tuple(range(1, len(shape) - 1))
    assert np.all(out.min(axis=spatial) == out.max(axis=spatial))
    assert set(np.unique(out)) <= {0.0, 2.0} and 0 < (out == 0).mean() < 1
    np.testing.assert_array_equal(_run(cls(0.5, seed=7, dtype="float64"), x), x)
    assert _round_trip(layer).rate == 0.5


def test_spatial_dropout_2d_channels_first_shares_the_draw_over_height_and_width():
    out = _run(layers.SpatialDropout2D(0.5, data_format="channels_first", seed=1, dtype="float64"),
               np.ones((3, 6, 4, 4)), training=True)
    assert np.all(out.min(axis=(2, 3)) == out.max(axis=(2, 3)))


def test_image_layers_save_and_load(tmp_path):
    model = models.Sequential([
        layers.Input(shape=(6, 6, 2)),
        layers.ZeroPadding2D(1),
        layers.Conv2D(3, 3, activation="relu"),
        layers.SpatialDropout2D(0.2),
        layers.AveragePooling2D(padding="same"),
        layers.UpSampling2D(),
        layers.Cropping2D(1),
        layers.GlobalMaxPooling2D(),
    ])
    path = tmp_path / "image.theanine"
    model.save(path)
    restored = models.load_model(path)
    x = R.standard_normal((2, 6, 6, 2)).astype("float32")
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_global_average_pooling_1d_averages_the_unmasked_steps():
    """Embedding(mask_zero=True) -> GlobalAveragePooling1D: the mean of the real tokens' vectors,
    as Keras 3 computes it; no mask goes on."""
    ids = np.array([[1, 2, 0, 0, 0], [3, 0, 4, 5, 0]])
    inputs = layers.Input((5,), dtype="int64")
    embedding = layers.Embedding(10, 4, mask_zero=True)
    pooled = layers.GlobalAveragePooling1D()(embedding(inputs))
    assert getattr(pooled, "_keras_mask", None) is None
    table = embedding.get_weights()[0]
    expected = [table[[1, 2]].mean(0), table[[3, 4, 5]].mean(0)]
    np.testing.assert_allclose(models.Model(inputs, pooled).predict(ids, verbose=0), expected, rtol=1e-6)
