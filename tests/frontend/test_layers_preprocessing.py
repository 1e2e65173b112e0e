"""Preprocessing layers: Normalization (adapt, values, gradients, saving), CategoryEncoding and
Discretization (values Keras 3.15 gives)."""

import numpy as np
import pytest

import theanine as th
from theanine.frontend import layers, models

DATA = np.random.default_rng(3).normal(5.0, 2.0, size=(40, 6)).astype("float32")
DATA[:, 2] = 1.0  # a constant feature: variance 0, divided by the epsilon floor


def _model(normalize):
    return models.Sequential([layers.Input(shape=(6,)), normalize])


def test_adapt_then_call_matches_numpy():
    normalize = layers.Normalization()
    normalize.adapt(DATA)
    assert normalize.trainable_weights == [] and len(normalize.non_trainable_weights) == 2
    got = _model(normalize).predict(DATA, verbose=0)
    expected = (DATA - DATA.mean(0)) / np.maximum(DATA.std(0), 1e-7)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_given_statistics_and_axis():
    normalize = layers.Normalization(axis=1, mean=[1.0, 2.0, 3.0], variance=[4.0, 1.0, 0.25])
    x = layers.Input(shape=(3, 2))
    model = models.Model(x, normalize(x))
    value = np.arange(12, dtype="float32").reshape(2, 3, 2)
    expected = (value - np.array([1, 2, 3])[:, None]) / np.array([2.0, 1.0, 0.5])[:, None]
    np.testing.assert_allclose(model.predict(value, verbose=0), expected, rtol=1e-6)


def test_gradient_through_the_layer():
    normalize = layers.Normalization(
        mean=np.zeros(6) + 0.5, variance=np.full(6, 4.0), dtype="float64"
    )
    normalize.build((None, 6))
    normalize.built = True
    th.verify_grad(lambda x: th.tanh(normalize(x)), [DATA[:3].astype("float64")])


def test_save_and_load_keep_the_statistics(tmp_path):
    normalize = layers.Normalization()
    normalize.adapt(DATA)
    model = _model(normalize)
    path = str(tmp_path / "norm.theanine")
    model.save(path)
    restored = models.load_model(path)
    np.testing.assert_array_equal(restored.predict(DATA, verbose=0), model.predict(DATA, verbose=0))


def test_errors_name_what_was_wrong():
    with pytest.raises(ValueError, match="give both mean and variance"):
        layers.Normalization(mean=[0.0])
    with pytest.raises(ValueError, match="needs a known size on axis 1"):
        layers.Normalization(axis=1)(layers.Input(shape=(None,)))


def test_rescaling_maps_pixels_and_takes_per_channel_factors():
    pixels = np.arange(12, dtype="uint8").reshape(2, 2, 3) * 20
    model = models.Sequential(
        [layers.Input(shape=(2, 3), dtype="int64"), layers.Rescaling(1 / 255)]
    )
    np.testing.assert_allclose(model.predict(pixels, verbose=0), pixels / 255.0, rtol=1e-6)
    channels = layers.Rescaling([1.0, 2.0, 0.5], offset=-1.0)
    x = np.ones((4, 3), "float32")
    out = models.Sequential([layers.Input(shape=(3,)), channels]).predict(x, verbose=0)
    np.testing.assert_allclose(out, np.tile([0.0, 1.0, -0.5], (4, 1)))
    assert channels.get_config()["scale"] == [1.0, 2.0, 0.5]
    assert layers.Rescaling.from_config(channels.get_config()).offset == -1.0
    with pytest.raises(
        ValueError, match=r"Rescaling scale must be finite numbers. Received: scale='a'"
    ):
        layers.Rescaling("a")
    with pytest.raises(ValueError, match=r"Received: offset=inf"):
        layers.Rescaling(1.0, offset=float("inf"))


@pytest.mark.parametrize("mode, expected", [
    ("multi_hot", [[1, 1, 0, 1], [1, 0, 1, 0]]),
    ("count", [[1, 2, 0, 1], [1, 0, 2, 0]]),
])
def test_category_encoding_of_token_lists_ignores_ids_out_of_range(mode, expected):
    ids = np.array([[0, 1, 1, 3], [2, 2, 0, 9]], "int64")  # the values Keras 3.15 gives
    np.testing.assert_array_equal(layers.CategoryEncoding(num_tokens=4, output_mode=mode)(ids), expected)


def test_category_encoding_one_hot_and_weighted_counts():
    np.testing.assert_array_equal(layers.CategoryEncoding(4, output_mode="one_hot")(np.array([1, 3, 0])),
                                  np.eye(4)[[1, 3, 0]])
    ids = th.matrix("ids", dtype="int64")
    weights = th.matrix("w", dtype="float32")
    counts = th.function([ids, weights], layers.CategoryEncoding(3, output_mode="count")(ids, count_weights=weights))
    np.testing.assert_allclose(counts(np.array([[0, 2, 2]]), np.array([[0.5, 1.0, 2.0]], "float32")),
                               [[0.5, 0.0, 3.0]])
    with pytest.raises(ValueError, match="num_tokens >= 1"):
        layers.CategoryEncoding()


def test_discretization_bins_and_adapt():
    layer = layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0])
    values = np.array([[-1.5, 1.0, 0.5, 3.0]])
    np.testing.assert_array_equal(layer(values), np.digitize(values, [0.0, 1.0, 2.0]))
    encoded = layers.Discretization(bin_boundaries=[0.0, 1.0], output_mode="one_hot")(np.array([-1.0, 0.5, 2.0]))
    np.testing.assert_array_equal(encoded, np.eye(3))
    adapted = layers.Discretization(num_bins=4)
    adapted.adapt(np.arange(100.0))
    np.testing.assert_allclose(adapted.bin_boundaries, [24.75, 49.5, 74.25])
    np.testing.assert_array_equal(adapted(np.array([10.0, 30.0, 60.0, 99.0])), [0, 1, 2, 3])
    with pytest.raises(ValueError, match="exactly one of bin_boundaries and num_bins"):
        layers.Discretization()
