"""``TextVectorization``: strings to token indices or bag-of-words vectors (Keras 3's layer).

It runs eagerly on NumPy arrays and lists of strings (a batch of
documents: shape ``(batch,)`` or ``(batch, 1)``, or one string), as one
uses it in an input pipeline.  Each document goes through:

1. ``standardize``: "lower_and_strip_punctuation" (the default: lower case,
   then Keras' punctuation class ``[!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~']``
   removed), "lower", "strip_punctuation", None, or a callable on a NumPy
   array of strings;
2. ``split``: "whitespace" (``str.split()``), "character", None (the whole
   string is one token), or a callable on that array returning token lists;
3. ``ngrams``: None, an int ``n`` (1- to n-grams) or a tuple of widths; the
   n-grams of each width follow each other, joined by a space;
4. a ``StringLookup`` with ``mask_token=""``: ``output_mode="int"`` gives
   indices (0 padding, 1 OOV, then the vocabulary), padded with 0 to the
   longest document or padded/truncated to ``output_sequence_length``;
   "multi_hot", "count" and "tf_idf" give one vector per document.

``adapt(data)`` learns the vocabulary (and idf weights) from the
processed documents, as ``StringLookup.adapt``; the vocabulary is saved
in ``get_config``.
"""

from __future__ import annotations

import re

import numpy as np

from theanine.frontend.layers.base import Layer, register_layer
from theanine.frontend.layers.lookup import StringLookup, encode_categorical

__all__ = ["TextVectorization"]

PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
SPLIT = ("whitespace", "character")
MODES = ("int", "multi_hot", "count", "tf_idf")


def _standardized(text: str, mode: str) -> str:
    if mode in ("lower", "lower_and_strip_punctuation"):
        text = text.lower()
    if mode in ("strip_punctuation", "lower_and_strip_punctuation"):
        text = PUNCTUATION.sub("", text)
    return text


def _ngrams(tokens: list, widths) -> list:
    return [" ".join(tokens[i:i + n]) for n in widths for i in range(len(tokens) - n + 1)]


def _checked(value, options, name: str):
    if value is not None and not callable(value) and value not in options:
        raise ValueError(f"TextVectorization: {name} must be one of {list(options)}, None or a callable. "
                         f"Received: {name}={value!r}")
    return value


@register_layer
class TextVectorization(Layer):
    """Standardize, split, n-gram and look up documents; see the module docstring."""

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace", ngrams=None,
                 output_mode="int", output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", has_input_vocabulary=None,
                 **kwargs):
        for keras_only in ("dtype", "vocabulary_size"):  # in Keras' configs; the vocabulary fixes them here
            kwargs.pop(keras_only, None)
        super().__init__(**kwargs)
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        self.standardize = _checked(standardize, STANDARDIZE, "standardize")
        self.split = _checked(split, SPLIT, "split")
        if output_mode not in MODES:
            raise ValueError(f"TextVectorization: output_mode must be one of {list(MODES)}. "
                             f"Received: output_mode={output_mode!r}")
        if not (ngrams is None or (isinstance(ngrams, int) and ngrams >= 1)
                or (isinstance(ngrams, (tuple, list)) and all(isinstance(n, int) and n >= 1 for n in ngrams))):
            raise ValueError("`ngrams` must be None, an integer, or a tuple of integers. "
                             f"Received: ngrams={ngrams!r}")
        if output_sequence_length is not None and (isinstance(output_sequence_length, bool) or not isinstance(
                output_sequence_length, int) or output_sequence_length < 1):
            raise ValueError("`output_sequence_length` must be either None or a positive integer. "
                             f"Received: output_sequence_length={output_sequence_length!r}")
        if output_mode != "int" and output_sequence_length is not None:
            raise ValueError("`output_sequence_length` must not be set if `output_mode` is not 'int'. "
                             f"Received output_sequence_length={output_sequence_length}.")
        if ragged:
            raise NotImplementedError("TextVectorization(ragged=True): theanine has no ragged tensors")
        self.ngrams = list(ngrams) if isinstance(ngrams, (tuple, list)) else ngrams
        self._widths = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self.output_mode, self.output_sequence_length = output_mode, output_sequence_length
        self.encoding, self.ragged = str(encoding), False
        self._lookup_layer = StringLookup(max_tokens=max_tokens, vocabulary=vocabulary, idf_weights=idf_weights,
                                          pad_to_max_tokens=pad_to_max_tokens, mask_token="",
                                          output_mode=output_mode, sparse=sparse, encoding=encoding,
                                          has_input_vocabulary=has_input_vocabulary)

    # -- vocabulary -----------------------------------------------------------------------------

    def adapt(self, data, batch_size=None, steps=None) -> None:
        """Learn the vocabulary from ``data`` (an array or list of documents, or an iterable of batches)."""
        if isinstance(data, (str, bytes, list, tuple, np.ndarray)):
            batches = [data]
        else:
            batches = (b for i, b in enumerate(data) if steps is None or i < steps)
        self._lookup_layer.learn_documents(doc for batch in batches for doc in self.documents(batch))

    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights)

    def get_vocabulary(self, include_special_tokens: bool = True) -> list:
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self) -> int:
        return self._lookup_layer.vocabulary_size()

    # -- calling --------------------------------------------------------------------------------

    def documents(self, inputs) -> list[list[str]]:
        """The token lists of a batch of documents (steps 1 to 3)."""
        strings = self._lookup_layer._as_tokens(inputs)
        if strings.ndim == 2 and strings.shape[-1] == 1:
            strings = strings[:, 0]
        if strings.ndim > 1:
            raise ValueError("When using `TextVectorization` to tokenize strings, the input rank must be 1 or the "
                             f"last shape dimension must be 1. Received: inputs.shape={strings.shape}")
        strings = strings.reshape(-1)
        if callable(self.standardize):
            strings = np.asarray(self.standardize(strings.astype(str)), dtype=object)
        elif self.standardize is not None:
            strings = np.array([_standardized(s, self.standardize) for s in strings], dtype=object)
        documents = self._split_all(strings)
        return [_ngrams(d, self._widths) for d in documents] if self._widths else documents

    def _split_all(self, strings: np.ndarray) -> list[list[str]]:
        if callable(self.split):
            return [[str(t) for t in tokens] for tokens in self.split(strings.astype(str))]
        if self.split == "whitespace":
            return [str(s).split() for s in strings]
        if self.split == "character":
            return [list(str(s)) for s in strings]
        return [[str(s)] for s in strings]

    def __call__(self, inputs, *args, **kwargs):
        if not isinstance(inputs, (str, bytes, list, tuple, np.ndarray)):
            raise TypeError(f"layer {self.name!r} (TextVectorization) runs on NumPy arrays or lists of strings "
                            f"(theanine has no string tensors). Received: {type(inputs).__name__}")
        single = np.ndim(inputs) == 0
        outputs = self._vectorize(self.documents(inputs))
        return outputs[0] if single else outputs

    def _vectorize(self, documents: list[list[str]]) -> np.ndarray:
        lookup = self._lookup_layer
        lookup._ensure_vocabulary()
        if self.output_mode == "int":
            rows = [lookup._indices(np.array(d, dtype=object)) for d in documents]
            length = self.output_sequence_length or max((len(r) for r in rows), default=0)
            out = np.zeros((len(rows), length), "int64")
            for i, row in enumerate(rows):
                out[i, :min(len(row), length)] = row[:length]
            return out
        depth = lookup._depth()
        mode = "count" if self.output_mode == "tf_idf" else self.output_mode
        out = np.zeros((len(documents), depth), "float32")
        for i, d in enumerate(documents):
            if d:
                out[i] = encode_categorical(lookup._indices(np.array(d, dtype=object)), depth, mode)
        return out * lookup.idf_weights if self.output_mode == "tf_idf" else out

    def call(self, inputs, training=None):
        raise TypeError(f"layer {self.name!r} (TextVectorization) runs on NumPy arrays or lists of strings "
                        f"(theanine has no string tensors). Received: a symbolic tensor of type {inputs.type}")

    def compute_output_shape(self, input_shape):
        batch = tuple(input_shape)[:1]
        if self.output_mode == "int":
            return (*batch, self.output_sequence_length)
        return (*batch, self._lookup_layer._depth())

    def get_config(self) -> dict:
        for name in ("standardize", "split"):
            if callable(getattr(self, name)):
                raise ValueError(f"TextVectorization {self.name!r}: a callable {name} cannot be saved in a config "
                                 f"(theanine loads no code from files). Received: {name}={getattr(self, name)!r}")
        lookup = self._lookup_layer.get_config()
        config = {**super().get_config(), "max_tokens": lookup["max_tokens"], "standardize": self.standardize,
                  "split": self.split, "ngrams": self.ngrams, "output_mode": self.output_mode,
                  "output_sequence_length": self.output_sequence_length,
                  "pad_to_max_tokens": lookup["pad_to_max_tokens"], "sparse": False, "ragged": False,
                  "vocabulary": lookup["vocabulary"], "idf_weights": lookup["idf_weights"],
                  "encoding": self.encoding, "vocabulary_size": self.vocabulary_size(),
                  "has_input_vocabulary": lookup["has_input_vocabulary"]}
        config.pop("dtype", None)
        return config
