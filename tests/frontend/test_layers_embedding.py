"""Embedding: table lookups against NumPy indexing, gradients, integer models, saving."""

import numpy as np
import pytest

import theanine as th
from theanine.frontend import initializers, layers, models, optimizers
from theanine.graph.basic import clone_replace


def _built_embedding(rng, input_dim=7, output_dim=3, dtype="float64"):
    layer = layers.Embedding(input_dim, output_dim, dtype=dtype)
    layer(th.tensor("ids", "int64", (None, 2)))
    table = rng.normal(size=(input_dim, output_dim))
    layer.set_weights([table])
    return layer, table


@pytest.mark.parametrize("ids_dtype", ["int64", "int32"])
def test_embedding_looks_up_rows_like_numpy_indexing(rng, ids_dtype):
    layer, table = _built_embedding(rng)
    ids = rng.integers(0, 7, size=(4, 5)).astype(ids_dtype)
    x = th.tensor("ids", ids_dtype, (None, 5))
    out = layer(x)
    assert out.type.shape == (None, 5, 3) and out.dtype == "float64"
    np.testing.assert_array_equal(th.function([x], out)(ids), table[ids])
    assert layer.compute_output_shape((None, 5)) == (None, 5, 3)


def test_embedding_casts_float_ids_to_integers(rng):
    layer, table = _built_embedding(rng)
    ids = np.array([[0.0, 6.0], [2.0, 3.0]], "float32")
    x = th.tensor("ids", "float32", (None, 2))
    np.testing.assert_array_equal(th.function([x], layer(x))(ids), table[ids.astype(int)])


def test_embedding_defaults_follow_keras():
    layer = layers.Embedding(100, 8)
    assert isinstance(layer.embeddings_initializer, initializers.RandomUniform)
    assert layer.embeddings_initializer.get_config()["minval"] == -0.05
    layer(layers.Input(shape=(4,), dtype="int64"))
    table = layer.get_weights()[0]
    assert table.shape == (100, 8) and table.dtype == np.float32
    assert np.abs(table).max() <= 0.05
    assert [w.name for w in layer.trainable_weights] == ["embedding/embeddings"]


def test_embedding_gradient_accumulates_into_the_looked_up_rows(rng):
    layer, table = _built_embedding(rng)
    ids = th.constant(np.array([[1, 1], [4, 0]], "int64"))
    th.verify_grad(lambda t: clone_replace([layer(ids)], {layer.embeddings: t})[0], [table])
    x = th.tensor("ids", "int64", (None, 2))
    grad = th.grad(layer(x).sum(), layer.embeddings)
    counts = th.function([x], grad)(np.array([[1, 1], [4, 0]], "int64"))
    expected = np.zeros((7, 3))
    expected[[0, 4]] = 1.0
    expected[1] = 2.0
    np.testing.assert_array_equal(counts, expected)


def test_embedding_rejects_ids_beyond_the_table(rng):
    layer, _ = _built_embedding(rng)
    x = th.tensor("ids", "int64", (None, 2))
    with pytest.raises(IndexError, match=r"index 9 is out of bounds for axis 0 with size 7"):
        th.function([x], layer(x))(np.array([[0, 9]], "int64"))


def test_embedding_rejects_bad_sizes_and_round_trips_its_config():
    with pytest.raises(ValueError, match=r"positive integer. Received: input_dim=0"):
        layers.Embedding(0, 4)
    with pytest.raises(ValueError, match=r"positive integer. Received: output_dim=-2"):
        layers.Embedding(4, -2)
    layer = layers.Embedding(10, 4, embeddings_regularizer="l2", name="tokens")
    clone = layers.Embedding.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert (clone.input_dim, clone.output_dim, clone.name) == (10, 4, "tokens")


def test_integer_model_with_embedding_trains_and_saves_bit_identically(rng, tmp_path):
    th.set_seed(2)
    model = models.Sequential(
        [
            layers.Input(shape=(3,), dtype="int64"),
            layers.Embedding(6, 4),
            layers.Flatten(),
            layers.Dense(2, activation="softmax"),
        ]
    )
    ids = rng.integers(0, 6, size=(32, 3))
    labels = (ids[:, 0] >= 3).astype("int64")
    model.compile(optimizers.Adam(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.layers[0].get_weights()[0]
    history = model.fit(ids, labels, batch_size=8, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert not np.array_equal(model.layers[0].get_weights()[0], before)
    path = tmp_path / "embedding.theanine"
    model.save(path)
    restored = models.load_model(path)
    np.testing.assert_array_equal(restored.predict(ids, verbose=0), model.predict(ids, verbose=0))


def test_pretrained_vectors_load_as_keras_3_takes_them():
    """``weights=``, ``Constant(matrix)`` and ``build`` + ``set_weights`` (keras.io's pretrained
    word embeddings example) give the same table; ``input_length`` only warns."""
    matrix = np.arange(12.0).reshape(4, 3)
    ids = np.array([[3, 0, 1]])
    from_weights = layers.Embedding(4, 3, weights=[matrix], trainable=False)
    from_constant = layers.Embedding(4, 3, embeddings_initializer=initializers.Constant(matrix))
    built = layers.Embedding(4, 3)
    built.build((1,))
    built.set_weights([matrix])
    for layer in (from_weights, from_constant, built):
        np.testing.assert_array_equal(layer(ids), matrix[ids])
    assert initializers.Constant.from_config(initializers.Constant(matrix).get_config())((4, 3)).tolist() == \
        matrix.tolist()
    with pytest.raises(ValueError, match=r"does not broadcast to the shape \(2, 2\)"):
        initializers.Constant(matrix)((2, 2))
    with pytest.warns(UserWarning, match="input_length` is deprecated"):
        layers.Embedding(4, 3, input_length=10)
