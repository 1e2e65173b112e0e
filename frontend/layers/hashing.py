"""Hashing layers: ``Hashing`` (values to hash bins) and ``HashedCrossing`` (crossed features to bins).

They run eagerly on NumPy arrays and lists, as one uses them in an input
pipeline.  Keras hashes with TensorFlow's FarmHash64 (SipHash with a
``salt``); theanine uses ``lookup.hash_bucket``, a documented stable hash
(the first 8 bytes of the BLAKE2b digest of the value's text, keyed by
the salt), so bins are stable across runs and platforms but differ from
Keras' numbers.  The value's text is as Keras': floats are truncated to
integers first, integers are written in decimal, strings (or UTF-8
bytes) as they are.
"""

from __future__ import annotations

import numpy as np

from theanine.frontend.layers.base import Layer, register_layer
from theanine.frontend.layers.lookup import encode_categorical, hash_bucket
from theanine.graph.basic import Variable

__all__ = ["Hashing", "HashedCrossing"]


def _texts(values) -> np.ndarray:
    """An object array of the text of each value (see the module docstring)."""
    array = np.asarray(values)
    if np.issubdtype(array.dtype, np.floating):
        array = array.astype("int64")
    if array.dtype.kind == "S" or array.dtype == object:
        decode = np.vectorize(lambda v: v.decode("utf-8") if isinstance(v, bytes) else str(v), otypes=[object])
        return decode(array) if array.size else array.astype(object)
    return array.astype(str).astype(object)


class _EagerLayer(Layer):
    """A preprocessing layer that runs on arrays only; a symbolic call is an error naming the layer."""

    def __call__(self, inputs, *args, **kwargs):
        parts = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if any(isinstance(p, Variable) for p in parts):
            raise TypeError(f"layer {self.name!r} ({type(self).__name__}) runs on NumPy arrays and lists in an "
                            "input pipeline, not on symbolic tensors inside a model")
        return self.compute(inputs)

    def compute(self, inputs):
        raise NotImplementedError


def _num_bins(value, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"The `num_bins` for `{layer}` cannot be `None` or non-positive values. "
                         f"Received: num_bins={value!r}.")
    return int(value)


@register_layer
class Hashing(_EagerLayer):
    """Each value to ``hash(value) mod num_bins``; with ``mask_value``, that value is bin 0 and the others
    ``1 + hash mod (num_bins - 1)``.  ``output_mode`` "int" (int64) or an encoding of the bins
    ("one_hot", "multi_hot", "count"; float32); ``salt`` (an int or two) keys the hash."""

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False, **kwargs):
        kwargs.pop("dtype", None)
        super().__init__(**kwargs)
        self.num_bins = _num_bins(num_bins, "Hashing")
        if output_mode not in ("int", "one_hot", "multi_hot", "count"):
            raise ValueError("Invalid value for argument `output_mode`. Expected one of ('int', 'one_hot', "
                             f"'multi_hot', 'count'). Received: output_mode={output_mode!r}")
        if sparse:
            raise NotImplementedError("Hashing(sparse=True): theanine has no sparse tensors")
        if salt is not None and not (isinstance(salt, int) or (isinstance(salt, (list, tuple)) and len(salt) == 2
                                                                and all(isinstance(s, int) for s in salt))):
            raise ValueError("The `salt` argument for `Hashing` can only be a tuple of size 2 integers, or a "
                             f"single integer. Received: salt={salt!r}.")
        self.salt = None if salt is None else ([salt, salt] if isinstance(salt, int) else list(salt))
        self.mask_value, self.output_mode, self.sparse = mask_value, output_mode, False

    def compute(self, inputs):
        values = np.asarray(inputs)
        if self.output_mode == "one_hot" and values.ndim > 0 and values.shape[-1] == 1:
            values = values[..., 0]
        bins = self.num_bins
        masked = None
        if self.mask_value is not None and bins > 1:
            bins -= 1
            masked = values == self.mask_value
        indices = hash_bucket(_texts(values), bins, self.salt)
        if masked is not None:
            indices = np.where(masked, 0, indices + 1)
        if self.output_mode == "int":
            return indices
        return encode_categorical(indices, self.num_bins, self.output_mode)

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        return (*tuple(input_shape)[:-1], self.num_bins) if len(input_shape) else (self.num_bins,)

    def get_config(self) -> dict:
        config = {**super().get_config(), "num_bins": self.num_bins, "salt": self.salt,
                  "mask_value": self.mask_value, "output_mode": self.output_mode, "sparse": self.sparse}
        config.pop("dtype", None)
        return config


@register_layer
class HashedCrossing(_EagerLayer):
    """Cross two or more features elementwise: the texts of the values joined by ``"_X_"`` (TensorFlow's
    ``sparse.cross`` separator), hashed into ``num_bins`` (``lookup.hash_bucket``).  Inputs: a list of
    arrays of equal shape ``()``, ``(batch,)`` or ``(batch, 1)``; output "int" (int64, that shape) or
    "one_hot" (float32)."""

    def __init__(self, num_bins, output_mode="int", sparse=False, **kwargs):
        kwargs.pop("dtype", None)
        super().__init__(**kwargs)
        self.num_bins = _num_bins(num_bins, "HashedCrossing")
        if output_mode not in ("int", "one_hot"):
            raise ValueError("Invalid value for argument `output_mode`. Expected one of ('int', 'one_hot'). "
                             f"Received: output_mode={output_mode!r}")
        if sparse:
            raise NotImplementedError("HashedCrossing(sparse=True): theanine has no sparse tensors")
        self.output_mode, self.sparse = output_mode, False

    def compute(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError("`HashedCrossing` should be called on a list or tuple of at least two inputs. "
                             f"Received: inputs={inputs!r}")
        arrays = [np.asarray(x) for x in inputs]
        shape = arrays[0].shape
        if len(shape) > 2 or (len(shape) == 2 and shape[-1] != 1):
            raise ValueError("All `HashedCrossing` inputs should have shape `()`, `(batch_size)` or "
                             f"`(batch_size, 1)`. Received: shapes {[a.shape for a in arrays]}")
        if any(a.shape != shape for a in arrays[1:]):
            raise ValueError(f"All `HashedCrossing` inputs should have equal shape. Received: shapes "
                             f"{[a.shape for a in arrays]}")
        texts = [_texts(a) for a in arrays]
        crossed = np.empty(shape, dtype=object)
        for index in np.ndindex(*shape):
            crossed[index] = "_X_".join(t[index] for t in texts)
        bins = hash_bucket(crossed, self.num_bins)
        return bins if self.output_mode == "int" else encode_categorical(bins, self.num_bins, "one_hot")

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape[0])
        if self.output_mode == "int":
            return shape
        return (*shape, self.num_bins) if not shape or shape[-1] != 1 else (*shape[:-1], self.num_bins)

    def get_config(self) -> dict:
        config = {**super().get_config(), "num_bins": self.num_bins, "output_mode": self.output_mode,
                  "sparse": self.sparse}
        config.pop("dtype", None)
        return config
