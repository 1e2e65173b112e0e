"""Lookup and text preprocessing layers (StringLookup, IntegerLookup, Hashing, HashedCrossing,
TextVectorization) against NumPy/Python restatements of Keras' rules; configs, saving, errors."""

import hashlib
import re

import numpy as np
import pytest

from theanine.frontend import layers, models


def _bucket(text, bins, key=b""):
    """BLAKE2b-64 of the text, little endian, mod bins: the documented hash."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8, key=key).digest(), "little") % bins


def _round_trip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    return clone


def test_string_lookup_indices_oov_and_mask():
    lookup = layers.StringLookup(vocabulary=["a", "b", "c"])
    np.testing.assert_array_equal(lookup([["a", "z"], ["c", "b"]]), [[1, 0], [3, 2]])
    assert lookup.get_vocabulary() == ["[UNK]", "a", "b", "c"] and lookup.vocabulary_size() == 4
    masked = layers.StringLookup(vocabulary=["a", "b"], mask_token="", num_oov_indices=3)
    tokens = np.array(["", "a", "q", "w", b"b"], dtype=object)
    expected = [0, 4, 1 + _bucket("q", 3), 1 + _bucket("w", 3), 5]
    np.testing.assert_array_equal(masked(tokens), expected)
    assert masked.get_vocabulary() == ["", "[UNK]", "[UNK]", "[UNK]", "a", "b"]
    same = layers.StringLookup(vocabulary=["", "[UNK]", "[UNK]", "[UNK]", "a", "b"], mask_token="", num_oov_indices=3)
    assert same.get_vocabulary(include_special_tokens=False) == ["a", "b"]
    with pytest.raises(ValueError, match="all inputs should be in vocabulary, found OOV values \\['z'\\]"):
        layers.StringLookup(vocabulary=["a"], num_oov_indices=0)(["a", "z"])


def test_string_lookup_adapt_orders_by_count_then_token_and_caps_max_tokens():
    lookup = layers.StringLookup(max_tokens=4)
    lookup.adapt([["x", "y", "x"], ["y", "z", "w"], ["[UNK]", "z", "v"]])
    assert lookup.get_vocabulary() == ["[UNK]", "z", "y", "x"]  # three tokens seen twice: z > y > x
    inverse = layers.StringLookup(vocabulary=lookup.get_vocabulary(), invert=True)
    np.testing.assert_array_equal(inverse([[1, 0, 3, 9]]), [["z", "[UNK]", "x", "[UNK]"]])
    with pytest.raises(ValueError, match="Cannot adapt layer"):
        inverse.adapt(["a"])


@pytest.mark.parametrize(("mode", "expected"), [
    ("one_hot", [[[0, 1, 0, 0], [1, 0, 0, 0]]]),
    ("multi_hot", [[1, 1, 0, 0]]),
    ("count", [[1, 1, 0, 0]]),
])
def test_string_lookup_encodings(mode, expected):
    lookup = layers.StringLookup(vocabulary=["a", "b", "c"], output_mode=mode)
    np.testing.assert_array_equal(lookup([["a", "z"]]), expected)
    assert lookup([["a", "z"]]).dtype == np.float32
    padded = layers.StringLookup(vocabulary=["a"], output_mode="count", max_tokens=5, pad_to_max_tokens=True)
    np.testing.assert_array_equal(padded(["a", "a", "q"]), [1, 2, 0, 0, 0])


def test_string_lookup_tf_idf_adapt_and_config():
    lookup = layers.StringLookup(output_mode="tf_idf")
    lookup.adapt([["a", "b"], ["a", "c"], ["a", "a"]])
    assert lookup.get_vocabulary() == ["[UNK]", "a", "c", "b"]
    idf = np.log(1 + 3 / (1 + np.array([3, 1, 1])))
    np.testing.assert_allclose(lookup.idf_weights, [idf.mean(), *idf], rtol=1e-6)
    np.testing.assert_allclose(lookup([["a", "a", "b", "q"]]), [[idf.mean(), 2 * idf[0], 0, idf[2]]], rtol=1e-6)
    clone = _round_trip(lookup)
    np.testing.assert_allclose(clone([["a", "c"]]), lookup([["a", "c"]]))
    given = layers.StringLookup(vocabulary=["a", "b"], idf_weights=[0.5, 0.25], output_mode="tf_idf")
    np.testing.assert_allclose(given(["a", "b", "b"]), [0.0, 0.5, 0.5])  # one document: counts times idf
    assert given.idf_weights[0] == 0.375  # the OOV index gets the mean weight
    with pytest.raises(ValueError, match="`idf_weights` must also be provided|idf_weights` must be set"):
        layers.StringLookup(vocabulary=["a"], output_mode="tf_idf")


def test_integer_lookup_on_arrays_and_in_a_saved_model(tmp_path):
    lookup = layers.IntegerLookup(vocabulary=[10, 20, 30], num_oov_indices=2, mask_token=0)
    x = np.array([[10, 0, 7], [30, 20, 8]])
    expected = np.array([[3, 0, 2], [5, 4, 1]])  # OOV: 1 + x mod 2
    np.testing.assert_array_equal(lookup(x), expected)
    model = models.Sequential([layers.Input((3,), dtype="int64"), lookup,
                               layers.Embedding(6, 2), layers.GlobalAveragePooling1D()])
    table = model.layers[1].get_weights()[0]
    np.testing.assert_allclose(model.predict(x, verbose=0), table[expected].mean(axis=1), rtol=1e-6)
    path = str(tmp_path / "lookup.theanine")
    model.save(path)
    restored = models.load_model(path)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    adapted = layers.IntegerLookup(output_mode="multi_hot")
    adapted.adapt(np.array([4, 4, 9, 4, 9, 2]))
    assert adapted.get_vocabulary() == [-1, 4, 9, 2]
    encoder = models.Sequential([layers.Input((2,), dtype="int64"), adapted])
    np.testing.assert_array_equal(encoder.predict(np.array([[9, 5]]), verbose=0), [[1, 0, 1, 0]])
    np.testing.assert_array_equal(adapted(np.array([[9, 5]])), [[1, 0, 1, 0]])
    assert _round_trip(adapted).get_vocabulary() == [-1, 4, 9, 2]
    inverse = layers.IntegerLookup(vocabulary=[10, 20], invert=True)
    np.testing.assert_array_equal(inverse(np.array([1, 2, 0])), [10, 20, -1])
    with pytest.raises(ValueError, match="takes integers"):
        lookup(np.array([1.5]))


def test_output_shapes():
    assert layers.StringLookup(vocabulary=["a", "b"]).compute_output_shape((None, 3)) == (None, 3)
    assert layers.StringLookup(vocabulary=["a", "b"], output_mode="multi_hot").compute_output_shape((None, 3)) \
        == (None, 3)
    assert layers.IntegerLookup(vocabulary=[1], output_mode="one_hot").compute_output_shape((None, 1)) == (None, 2)
    assert layers.Hashing(8, output_mode="count").compute_output_shape((None, 4)) == (None, 8)
    assert layers.TextVectorization(output_sequence_length=5).compute_output_shape((None,)) == (None, 5)
    assert layers.TextVectorization(vocabulary=["a"], output_mode="count").compute_output_shape((None,)) == (None, 2)


@pytest.mark.parametrize(("mode", "shape"), [("one_hot", (2,)), ("one_hot", (1,)), ("multi_hot", (2,)),
                                             ("count", (3,))])
def test_integer_lookup_encodings_compiled_equal_the_eager_ones(mode, shape):
    lookup = layers.IntegerLookup(vocabulary=[3, 5], output_mode=mode, mask_token=0)
    x = np.random.default_rng(1).choice([0, 3, 5, 9], size=(4, *shape))
    model = models.Sequential([layers.Input(shape, dtype="int64"), lookup])
    np.testing.assert_array_equal(model.predict(x, verbose=0), lookup(x))
    assert model.output_shape[1:] == lookup.compute_output_shape((None, *shape))[1:]


def test_lookup_argument_errors_name_the_argument():
    with pytest.raises(ValueError, match="`max_tokens` must be greater than 1"):
        layers.StringLookup(max_tokens=1)
    with pytest.raises(ValueError, match="`num_oov_indices` must be greater than or equal to 0"):
        layers.IntegerLookup(num_oov_indices=-1)
    with pytest.raises(ValueError, match="output_mode must be one of"):
        layers.StringLookup(output_mode="bag")
    with pytest.raises(ValueError, match="`output_mode` must be `'int'` when `invert` is true"):
        layers.StringLookup(invert=True, output_mode="count")
    with pytest.raises(ValueError, match="repeated term"):
        layers.StringLookup(vocabulary=["a", "a"])
    with pytest.raises(ValueError, match="larger than the maximum vocab size"):
        layers.StringLookup(vocabulary=["a", "b", "c"], max_tokens=3)
    with pytest.raises(RuntimeError, match="must set the layer's vocabulary"):
        layers.StringLookup(output_mode="count")(["a"])
    with pytest.raises(TypeError, match="theanine has no string tensors"):
        layers.StringLookup(vocabulary=["a"])(layers.Input((2,)))


def test_hashing_bins_mask_salt_and_encodings():
    values = np.array([["A", "B"], ["C", "A"]])
    expected = [[_bucket(v, 3) for v in row] for row in values]
    np.testing.assert_array_equal(layers.Hashing(3)(values), expected)
    np.testing.assert_array_equal(layers.Hashing(4)(np.array([1.7, 12])), [_bucket("1", 4), _bucket("12", 4)])
    key = np.array([7, 7], "<u8").tobytes()
    masked = layers.Hashing(5, mask_value="", salt=7)(["", "a", b"b"])
    np.testing.assert_array_equal(masked, [0, 1 + _bucket("a", 4, key), 1 + _bucket("b", 4, key)])
    multi = layers.Hashing(4, output_mode="multi_hot")([["a", "b"]])
    assert multi.shape == (1, 4) and multi.sum() == len({_bucket("a", 4), _bucket("b", 4)})
    one_hot = layers.Hashing(4, output_mode="one_hot")(np.array([["a"], ["b"]]))
    np.testing.assert_array_equal(one_hot.argmax(-1), [_bucket("a", 4), _bucket("b", 4)])
    assert _round_trip(layers.Hashing(4, salt=[1, 2])).salt == [1, 2]
    with pytest.raises(ValueError, match="`num_bins` for `Hashing` cannot be"):
        layers.Hashing(0)
    with pytest.raises(ValueError, match="`salt` argument for `Hashing`"):
        layers.Hashing(3, salt="x")


def test_hashed_crossing_hashes_the_joined_values():
    crossed = layers.HashedCrossing(7)([np.array([1, 2, 1]), np.array(["x", "y", "x"])])
    np.testing.assert_array_equal(crossed, [_bucket("1_X_x", 7), _bucket("2_X_y", 7), _bucket("1_X_x", 7)])
    column = layers.HashedCrossing(5, output_mode="one_hot")([np.array([[1], [2]]), np.array([[3], [3]])])
    np.testing.assert_array_equal(column.argmax(-1), [_bucket("1_X_3", 5), _bucket("2_X_3", 5)])
    assert layers.HashedCrossing(5, output_mode="one_hot").compute_output_shape([(None, 1), (None, 1)]) == (None, 5)
    with pytest.raises(ValueError, match="at least two inputs"):
        layers.HashedCrossing(3)([np.array([1])])
    with pytest.raises(ValueError, match="equal shape"):
        layers.HashedCrossing(3)([np.array([1, 2]), np.array([1])])
    with pytest.raises(TypeError, match="not on symbolic tensors inside a model"):
        layers.Hashing(3)(layers.Input((2,)))


STRIP = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')


def test_text_vectorization_int_mode_pads_and_truncates():
    text = layers.TextVectorization(max_tokens=10, output_sequence_length=6)
    corpus = ["The cat sat.", "The dog, the CAT!", "a bird"]
    text.adapt(corpus)
    words = [w for doc in corpus for w in STRIP.sub("", doc.lower()).split()]
    counts = {w: words.count(w) for w in words}
    assert text.get_vocabulary()[2:] == sorted(counts, key=lambda w: (counts[w], w), reverse=True)
    index = {w: i for i, w in enumerate(text.get_vocabulary())}
    out = text(["the cat", "dog sat on a mat today here"])
    np.testing.assert_array_equal(out[0], [index["the"], index["cat"], 0, 0, 0, 0])
    np.testing.assert_array_equal(out[1], [index["dog"], index["sat"], 1, index["a"], 1, 1])
    ragged = layers.TextVectorization(vocabulary=["x", "y"])
    np.testing.assert_array_equal(ragged(np.array([["x y y"], ["y"]])), [[2, 3, 3], [3, 0, 0]])
    np.testing.assert_array_equal(ragged("y x"), [3, 2])


def test_text_vectorization_ngrams_tf_idf_and_config():
    text = layers.TextVectorization(output_mode="tf_idf", ngrams=2, standardize=None)
    text.adapt(["a b a", "b c"])
    assert text.get_vocabulary() == ["[UNK]", "b", "a", "c", "b c", "b a", "a b"]
    idf = np.log(1 + 2 / (1 + np.array([2, 1, 1, 1, 1, 1])))
    np.testing.assert_allclose(text(["a b"]), [[0, idf[0], idf[1], 0, 0, 0, idf[5]]], rtol=1e-6)
    clone = _round_trip(text)
    np.testing.assert_allclose(clone(["b c c"]), text(["b c c"]))
    chars = layers.TextVectorization(split="character", output_mode="count", vocabulary=["a", "b"])
    np.testing.assert_array_equal(chars(["abba", "cab"]), [[0, 2, 2], [1, 1, 1]])
    whole = layers.TextVectorization(split=None, standardize="lower", vocabulary=["hello world"])
    np.testing.assert_array_equal(whole(["Hello World", "other"]), [[2], [1]])
    custom = layers.TextVectorization(standardize=lambda s: np.char.upper(s), vocabulary=["A"])
    np.testing.assert_array_equal(custom(["a b"]), [[2, 1]])
    with pytest.raises(ValueError, match="a callable standardize cannot be saved"):
        custom.get_config()


def test_text_vectorization_errors():
    with pytest.raises(ValueError, match="output_sequence_length` must not be set"):
        layers.TextVectorization(output_mode="count", output_sequence_length=3)
    with pytest.raises(ValueError, match="split must be one of"):
        layers.TextVectorization(split="comma")
    with pytest.raises(ValueError, match="`ngrams` must be None, an integer, or a tuple"):
        layers.TextVectorization(ngrams="2")
    with pytest.raises(ValueError, match="input rank must be 1"):
        layers.TextVectorization(vocabulary=["a"])(np.array([["a", "b"]]))
    with pytest.raises(TypeError, match="no string tensors"):
        layers.TextVectorization(vocabulary=["a"])(layers.Input((1,)))
