"""Vocabulary lookup layers: ``StringLookup`` and ``IntegerLookup`` (Keras 3's ``IndexLookup`` rules).

They run eagerly on NumPy arrays and lists, as one uses them in an input
pipeline (theanine has no string tensors); ``IntegerLookup`` also runs on
symbolic integer tensors inside a model, as a comparison with its
vocabulary.

Indices, as Keras: in ``output_mode="int"`` the ``mask_token`` (if any)
is index 0, then ``num_oov_indices`` OOV indices, then the vocabulary.
An out-of-vocabulary input goes to the single OOV index, or with several
to ``x mod n`` (integers) or a hash of the token mod n (strings: BLAKE2b,
``hash_bucket``, where Keras uses TensorFlow's FarmHash); with none it is
an error.  ``invert=True`` maps indices back to tokens (others to
``oov_token``).  The other modes encode the indices (``one_hot``,
``multi_hot``, ``count``, ``tf_idf`` = count * idf) over
``vocabulary_size()`` slots (``max_tokens`` with ``pad_to_max_tokens``).

``adapt(data)`` counts the tokens of ``data`` (an array, a list, or an
iterable of batches) and keeps the most frequent (ties: the larger token
first), up to ``max_tokens``; with ``tf_idf`` each row of ``data`` is one
document and ``idf = log(1 + documents / (1 + documents with the token))``
(the special tokens get the mean).  The vocabulary and idf weights are
part of ``get_config`` (``has_input_vocabulary`` says whether they came
from the constructor), so a saved model restores them without asset files.
"""

from __future__ import annotations

import collections
import hashlib
from collections.abc import Iterable

import numpy as np

import theanine as th
from theanine.frontend.layers.base import Layer, register_layer
from theanine.graph.basic import Variable

__all__ = ["StringLookup", "IntegerLookup", "hash_bucket", "encode_categorical"]

OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


def hash_bucket(tokens: np.ndarray, num_bins: int, salt=None) -> np.ndarray:
    """A stable hash of each token's text (``str(x)``, UTF-8) into ``[0, num_bins)``: the first 8 bytes
    of its BLAKE2b digest (keyed by ``salt``, two ints, if given) as a little-endian uint64, mod
    ``num_bins``.  The same on every platform and Python version (unlike ``hash()``)."""
    key = b"" if salt is None else np.asarray(salt, "<u8").tobytes()
    flat = np.asarray(tokens, dtype=object).ravel()
    unique, inverse = np.unique(flat.astype(str), return_inverse=True)
    buckets = np.array([
        int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8, key=key).digest(), "little") % num_bins
        for t in unique
    ], dtype="int64")
    return buckets[inverse].reshape(np.shape(tokens))


def encode_categorical(indices: np.ndarray, depth: int, mode: str, weights=None) -> np.ndarray:
    """Keras' ``encode_categorical_inputs`` in NumPy: ``one_hot`` encodes each index (a trailing axis of
    1 is the index's), ``multi_hot``/``count`` over the last axis (a rank-1 input is one sample);
    indices outside ``[0, depth)`` are ignored.  float32."""
    indices = np.asarray(indices, "int64")
    if indices.ndim == 0:
        indices = indices[None]
    if mode == "one_hot":
        if indices.ndim > 1 and indices.shape[-1] == 1:
            indices = indices[..., 0]
        return (indices[..., None] == np.arange(depth)).astype("float32")
    if indices.ndim > 2:
        raise ValueError(f"{mode} encoding takes inputs of rank 2 at most (a batch of token lists). "
                         f"Received: rank {indices.ndim}")
    hits = (indices[..., None] == np.arange(depth)).astype("float32")
    if mode == "count":
        return hits.sum(axis=-2) if weights is None else (hits * np.asarray(weights)[..., None]).sum(axis=-2)
    return hits.max(axis=-2)


def _is_symbolic(inputs) -> bool:
    return isinstance(inputs, Variable)


class IndexLookup(Layer):
    """What StringLookup and IntegerLookup share; see the module docstring."""

    vocabulary_dtype = "string"

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=None, vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 has_input_vocabulary=None, **kwargs):
        for keras_only in ("dtype", "vocabulary_dtype", "vocabulary_size"):  # in Keras' configs; fixed here
            kwargs.pop(keras_only, None)
        super().__init__(**kwargs)
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        self._check_arguments(max_tokens, num_oov_indices, invert, output_mode, pad_to_max_tokens, sparse,
                              idf_weights)
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.num_oov_indices, self.mask_token, self.oov_token = int(num_oov_indices), mask_token, oov_token
        self.invert, self.output_mode = bool(invert), output_mode
        self.pad_to_max_tokens, self.sparse = bool(pad_to_max_tokens), False
        self._tokens: list | None = None
        self.idf_weights: np.ndarray | None = None
        self._has_input_vocabulary = vocabulary is not None if has_input_vocabulary is None \
            else bool(has_input_vocabulary)
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        elif output_mode == "tf_idf" and self._has_input_vocabulary:
            raise ValueError("When specifying the `vocabulary` argument, in TF-IDF output mode, the "
                             "`idf_weights` argument must also be provided.")

    def _check_arguments(self, max_tokens, num_oov_indices, invert, output_mode, pad_to_max_tokens, sparse,
                         idf_weights) -> None:
        name = type(self).__name__
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
                                       or max_tokens <= 1):
            raise ValueError(f"If set, `max_tokens` must be greater than 1. Received: max_tokens={max_tokens!r}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"If pad_to_max_tokens is True, must set `max_tokens`. Received: max_tokens={max_tokens}")
        if isinstance(num_oov_indices, bool) or not isinstance(num_oov_indices, int) or num_oov_indices < 0:
            raise ValueError("`num_oov_indices` must be greater than or equal to 0. "
                             f"Received: num_oov_indices={num_oov_indices!r}")
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"{name}: output_mode must be one of {list(OUTPUT_MODES)}. "
                             f"Received: output_mode={output_mode!r}")
        if invert and output_mode != "int":
            raise ValueError(f"`output_mode` must be `'int'` when `invert` is true. "
                             f"Received: output_mode={output_mode}")
        if sparse:
            raise NotImplementedError(f"{name}(sparse=True): theanine has no sparse tensors")
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError("`idf_weights` should only be set if `output_mode` is `'tf_idf'`. "
                             f"Received: output_mode={output_mode}")

    # -- vocabulary -----------------------------------------------------------------------------

    def _oov_start_index(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start_index(self) -> int:
        return self._oov_start_index() + self.num_oov_indices

    def _special_tokens(self) -> list:
        return [self.mask_token] * self._oov_start_index() + [self.oov_token] * self.num_oov_indices

    def vocabulary_size(self) -> int:
        """The number of indices: special ones and the vocabulary."""
        return self._token_start_index() + len(self._tokens or [])

    def get_vocabulary(self, include_special_tokens: bool = True) -> list:
        """The token of each index (mask, OOV tokens, then the vocabulary)."""
        tokens = list(self._tokens or [])
        return self._special_tokens() + tokens if include_special_tokens else tokens

    def _as_tokens(self, values) -> np.ndarray:
        """Inputs or vocabulary entries as an array of this layer's token type."""
        raise NotImplementedError

    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        """Set the vocabulary (without or with the special tokens first, in order) and idf weights."""
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError("`idf_weights` must be set if output_mode is 'tf_idf'.")
        if idf_weights is not None and self.output_mode != "tf_idf":
            raise ValueError("`idf_weights` should only be set if output_mode is `'tf_idf'`. "
                             f"Received: output_mode={self.output_mode} and idf_weights={idf_weights}")
        if isinstance(vocabulary, str):
            raise ValueError(f"{type(self).__name__}: a vocabulary file is not supported; pass the tokens as a "
                             f"list. Received: vocabulary={vocabulary!r}")
        given = list(self._as_tokens(vocabulary).tolist())
        if not given:
            raise ValueError(f"Cannot set an empty vocabulary. Received: vocabulary={vocabulary!r}")
        special = self._special_tokens()
        found_special = given[:len(special)] == special
        tokens = given[len(special):] if found_special else given
        repeated = [t for t, n in collections.Counter(tokens).items() if n > 1]
        if repeated:
            raise ValueError("The passed vocabulary has at least one repeated term. Please uniquify your dataset. "
                             f"The repeated terms are: {repeated}")
        if self.mask_token is not None and self.mask_token in tokens:
            raise ValueError(f"Found reserved mask token at unexpected location in `vocabulary`. Either remove "
                             f"all mask and OOV tokens, or include them only at the start in precisely this order: "
                             f"{special}. Received: mask_token={self.mask_token!r}")
        if self.invert and self.oov_token is not None and self.oov_token in tokens:
            raise ValueError(f"Found reserved OOV token at unexpected location in `vocabulary`. Received: "
                             f"oov_token={self.oov_token!r}")
        size = self._token_start_index() + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ValueError("Attempted to set a vocabulary larger than the maximum vocab size. Received "
                             f"vocabulary size is {size}; `max_tokens` is {self.max_tokens}.")
        self._tokens = tokens
        self.idf_weights = None if idf_weights is None else self._padded_idf(
            np.asarray(idf_weights, "float64"), len(given), found_special)

    def _padded_idf(self, weights: np.ndarray, given: int, found_special: bool) -> np.ndarray:
        if weights.ndim != 1 or len(weights) != given:
            raise ValueError(f"`idf_weights` must be the same length as vocabulary. len(idf_weights) is "
                             f"{len(weights)}; len(vocabulary) is {given}")
        front = 0 if found_special else self._token_start_index()
        back = self.max_tokens - front - len(weights) if self.pad_to_max_tokens else 0
        padded = np.pad(weights, (front, max(back, 0)), constant_values=(weights.mean(), 0.0))
        return padded.astype("float32")

    def adapt(self, data, steps=None) -> None:
        """Learn the vocabulary (and idf weights) from ``data``; see the module docstring."""
        def documents():
            for batch in self._batches(data, steps):
                rows = self._as_tokens(batch)
                yield from (rows.reshape(-1, 1) if rows.ndim <= 1 else rows.reshape(rows.shape[0], -1)).tolist()

        self.learn_documents(documents())

    def learn_documents(self, documents: Iterable[list]) -> None:
        """``adapt`` on documents given as lists of tokens (TextVectorization's, after splitting)."""
        if self._has_input_vocabulary:
            raise ValueError(f"Cannot adapt layer '{self.name}' after setting a static vocabulary via "
                             "`vocabulary` argument or `set_vocabulary()` method.")
        counts: collections.Counter = collections.Counter()
        frequencies: collections.Counter = collections.Counter()
        total = 0
        for document in documents:
            counts.update(document)
            frequencies.update(set(document))
            total += 1
        for special in (self.mask_token, self.oov_token):
            counts.pop(special, None)
        ranked = sorted(counts.items(), key=lambda item: (item[1], item[0]), reverse=True)
        if self.max_tokens:
            ranked = ranked[:self.max_tokens - self._token_start_index()]
        self._tokens = [token for token, _ in ranked]
        if self.output_mode == "tf_idf":
            idf = np.log(1 + total / (1 + np.array([frequencies[t] for t in self._tokens], "float64")))
            self.idf_weights = self._padded_idf(idf, len(idf), False) if len(idf) else None

    @staticmethod
    def _batches(data, steps) -> Iterable:
        if isinstance(data, (list, tuple, np.ndarray, str, int, np.integer)):
            return [data]
        batches = iter(data)
        return batches if steps is None else (b for _, b in zip(range(steps), batches, strict=False))

    # -- calling --------------------------------------------------------------------------------

    def __call__(self, inputs, *args, **kwargs):
        if _is_symbolic(inputs) or (isinstance(inputs, (list, tuple)) and any(map(_is_symbolic, inputs))):
            return super().__call__(inputs, *args, **kwargs)
        return self.lookup(inputs)

    def _depth(self) -> int:
        return self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()

    def _ensure_vocabulary(self) -> None:
        if self._tokens is None and (self.output_mode != "int" or self.invert) and not self.pad_to_max_tokens:
            raise RuntimeError(f"When using `output_mode={self.output_mode}` and `pad_to_max_tokens=False`, you "
                               "must set the layer's vocabulary before calling it. Either pass a `vocabulary` "
                               "argument to the layer, or call `adapt` with some sample data.")

    def lookup(self, inputs) -> np.ndarray:
        """The layer on arrays: indices (int64), tokens (``invert``) or an encoding (float32)."""
        self._ensure_vocabulary()
        if self.invert:
            return self._invert(np.asarray(inputs, "int64"))
        tokens = self._as_tokens(inputs)
        indices = self._indices(tokens)
        if self.output_mode == "int":
            return indices
        encoded = encode_categorical(indices, self._depth(), "count" if self.output_mode == "tf_idf"
                                     else self.output_mode)
        return encoded * self.idf_weights if self.output_mode == "tf_idf" else encoded

    def _indices(self, tokens: np.ndarray) -> np.ndarray:
        table = {t: i for i, t in enumerate(self._tokens or [], start=self._token_start_index())}
        flat = tokens.ravel()
        unique, inverse = np.unique(flat, return_inverse=True)
        found = np.array([table.get(t, -1) for t in unique.tolist()], "int64")[inverse]
        if self.num_oov_indices == 0 and np.any(found < 0):
            raise ValueError("When `num_oov_indices=0` all inputs should be in vocabulary, found OOV values "
                             f"{sorted(set(flat[found < 0].tolist()))}, consider setting `num_oov_indices=1`.")
        oov = self._oov_buckets(flat) + self._oov_start_index()
        indices = np.where(found < 0, oov, found)
        if self.mask_token is not None:
            masked = flat == self.mask_token
            indices = np.where(masked, 0 if self.output_mode == "int" else np.iinfo("int64").max, indices)
        return indices.reshape(tokens.shape)

    def _oov_buckets(self, flat: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _invert(self, indices: np.ndarray) -> np.ndarray:
        vocabulary = np.asarray(self._special_tokens() + list(self._tokens or []), dtype=object)
        inside = (indices >= self._token_start_index()) & (indices < len(vocabulary))
        tokens = np.where(inside, vocabulary[np.clip(indices, 0, max(len(vocabulary) - 1, 0))], self.oov_token)
        if self.mask_token is not None:
            tokens = np.where(indices == 0, self.mask_token, tokens)
        return self._as_tokens(np.array(tokens.tolist()))

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if self.output_mode == "int":
            return shape
        depth = self._depth()
        if self.output_mode == "one_hot":
            return (*shape[:-1], depth) if len(shape) > 1 and shape[-1] == 1 else (*shape, depth)
        return (*shape[:-1], depth)

    def get_config(self) -> dict:
        config = {**super().get_config(), "invert": self.invert, "max_tokens": self.max_tokens,
                  "num_oov_indices": self.num_oov_indices, "oov_token": self.oov_token,
                  "mask_token": self.mask_token, "output_mode": self.output_mode, "sparse": self.sparse,
                  "pad_to_max_tokens": self.pad_to_max_tokens, "vocabulary_dtype": self.vocabulary_dtype,
                  "vocabulary": None if self._tokens is None else list(self._tokens),
                  "idf_weights": None, "has_input_vocabulary": self._has_input_vocabulary}
        config.pop("dtype", None)
        if self.idf_weights is not None:  # the full padded weights, whose length says what they cover
            config["vocabulary"] = self.get_vocabulary()
            config["idf_weights"] = self.idf_weights[:self.vocabulary_size()].tolist()
        return config


@register_layer
class StringLookup(IndexLookup):
    """Strings to indices (or encodings), or indices back to strings with ``invert=True``; Keras 3's
    arguments (``oov_token="[UNK]"``).  Runs on NumPy arrays and lists of ``str`` (``bytes`` are
    decoded with ``encoding``)."""

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]", vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 encoding="utf-8", **kwargs):
        self.encoding = str(encoding)
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                         output_mode, pad_to_max_tokens, sparse, **kwargs)

    def _as_tokens(self, values) -> np.ndarray:
        array = np.asarray(values, dtype=object)
        decode = np.vectorize(lambda v: v.decode(self.encoding) if isinstance(v, bytes) else str(v), otypes=[object])
        return decode(array) if array.size else array

    def _oov_buckets(self, flat: np.ndarray) -> np.ndarray:
        return hash_bucket(flat, self.num_oov_indices) if self.num_oov_indices > 1 else np.zeros(len(flat), "int64")

    def call(self, inputs, training=None):
        raise TypeError(f"layer {self.name!r} (StringLookup) runs on NumPy arrays or lists of strings "
                        f"(theanine has no string tensors). Received: a symbolic tensor of type {inputs.type}")

    def get_config(self) -> dict:
        return {**super().get_config(), "encoding": self.encoding}


@register_layer
class IntegerLookup(IndexLookup):
    """Integers to indices (or encodings), or back with ``invert=True``; Keras 3's arguments
    (``oov_token=-1``; several OOV indices take ``x mod num_oov_indices``).  Runs on arrays, and on
    symbolic integer tensors in a model (``output_mode`` "int", "one_hot", "multi_hot" or "count",
    not ``invert``), comparing each input with the vocabulary as it is when the model is built."""

    vocabulary_dtype = "int64"

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1, vocabulary=None,
                 vocabulary_dtype="int64", idf_weights=None, invert=False, output_mode="int", sparse=False,
                 pad_to_max_tokens=False, **kwargs):
        if vocabulary_dtype not in ("int32", "int64"):
            raise ValueError(f"IntegerLookup: vocabulary_dtype must be 'int32' or 'int64'. "
                             f"Received: vocabulary_dtype={vocabulary_dtype!r}")
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                         output_mode, pad_to_max_tokens, sparse, **kwargs)

    def _as_tokens(self, values) -> np.ndarray:
        array = np.asarray(values)
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"layer {self.name!r} (IntegerLookup) takes integers. Received: an array of "
                             f"dtype {array.dtype}")
        return array.astype("int64")

    def _oov_buckets(self, flat: np.ndarray) -> np.ndarray:
        return np.mod(flat, max(self.num_oov_indices, 1))

    def call(self, inputs, training=None):
        if self.invert or self.output_mode == "tf_idf" or self._tokens is None:
            raise ValueError(f"layer {self.name!r} (IntegerLookup) in a model needs a vocabulary (given or adapted "
                             "before the model is built) and output_mode 'int', 'one_hot', 'multi_hot' or 'count' "
                             f"without invert. Received: output_mode={self.output_mode!r}, invert={self.invert}")
        x = th.cast(inputs, "int64")
        keys = np.asarray(self._tokens, "int64")
        hits = th.eq(th.expand_dims(x, -1), keys)
        index = th.argmax(th.cast(hits, "int64"), axis=-1) + self._token_start_index()
        if self.num_oov_indices > 1:
            default = th.mod(x, self.num_oov_indices) + self._oov_start_index()
        else:
            default = th.full_like(x, self._oov_start_index() if self.num_oov_indices else -1)
        out = th.where(th.any(hits, axis=-1), index, default)
        if self.mask_token is not None:
            mask_value = 0 if self.output_mode == "int" else self._depth()
            out = th.where(th.eq(x, int(self.mask_token)), th.full_like(out, mask_value), out)
        if self.output_mode == "int":
            return out
        return _encode_symbolic(out, self._depth(), self.output_mode, self.dtype)


def _encode_symbolic(indices, depth: int, mode: str, dtype: str):
    """``encode_categorical`` on a symbolic int64 tensor."""
    if indices.ndim == 0:
        indices = th.expand_dims(indices, 0)
    if mode == "one_hot" and indices.ndim > 1 and indices.type.shape[-1] == 1:
        indices = indices[..., 0]
    if mode != "one_hot" and indices.ndim > 2:
        raise ValueError(f"{mode} encoding takes inputs of rank 2 at most (a batch of token lists). "
                         f"Received: rank {indices.ndim}")
    hits = th.cast(th.eq(th.expand_dims(indices, -1), th.arange(depth, dtype="int64")), dtype)
    if mode == "one_hot":
        return hits
    return th.sum(hits, axis=-2) if mode == "count" else th.max(hits, axis=-2)
