"""Preprocessing layers: ``Normalization`` (Keras semantics, with ``adapt``), ``Rescaling``,
``CategoryEncoding`` and ``Discretization``."""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.frontend.layers.base import Layer, register_layer

__all__ = ["Normalization", "Rescaling", "CategoryEncoding", "Discretization"]


@register_layer
class Normalization(Layer):
    """Standardize features: ``(x - mean) / max(sqrt(variance), 1e-7)``, per index of ``axis``.

    ``adapt(data)`` computes the mean and variance of ``data`` over every
    axis but ``axis`` (as Keras does); they are non-trainable weights, so
    they are saved with the model.  ``mean``/``variance`` may also be given.
    A mask passes through, as in Keras 3.
    """

    supports_masking = True

    _EPSILON = 1e-7

    def __init__(self, axis: int = -1, mean=None, variance=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"Normalization takes one int axis. Received: axis={axis!r}")
        if (mean is None) != (variance is None):
            raise ValueError(
                "Normalization: give both mean and variance, or neither (and call adapt)"
            )
        self.axis = int(axis)
        self._given = None if mean is None else (np.asarray(mean), np.asarray(variance))

    def build(self, input_shape) -> None:
        ndim = len(input_shape)
        if not -ndim <= self.axis < ndim or input_shape[self.axis] is None:
            raise ValueError(
                f"layer {self.name!r} (Normalization) needs a known size on axis {self.axis}. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self._axis = self.axis % ndim
        self._broadcast = tuple(input_shape[a] if a == self._axis else 1 for a in range(ndim))
        size = (int(input_shape[self._axis]),)
        self.mean = self.add_weight(size, "zeros", trainable=False, name="mean")
        self.variance = self.add_weight(size, "ones", trainable=False, name="variance")
        if self._given is not None:
            self._set_statistics(*self._given)

    def adapt(self, data) -> None:
        """Set mean and variance from ``data`` (an array of inputs), building the layer if needed."""
        data = np.asarray(data, dtype="float64")
        if not self.built:
            self.build((None,) + data.shape[1:])
            self.built = True
        axes = tuple(a for a in range(data.ndim) if a != self._axis)
        self._set_statistics(data.mean(axis=axes), data.var(axis=axes))

    def _set_statistics(self, mean, variance) -> None:
        size = self.mean.get_value().shape
        mean, variance = np.broadcast_to(mean, size), np.broadcast_to(variance, size)
        self.mean.set_value(mean.astype(self.mean.dtype))
        self.variance.set_value(variance.astype(self.variance.dtype))

    def call(self, inputs, training=None):
        mean = th.reshape(self.mean, self._broadcast)
        scale = th.maximum(th.sqrt(th.reshape(self.variance, self._broadcast)), self._EPSILON)
        return (inputs - mean) / scale

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


@register_layer
class Rescaling(Layer):
    """``inputs * scale + offset`` (Keras' ``Rescaling``): e.g. ``scale=1 / 255`` maps pixels to [0, 1].

    ``scale`` and ``offset`` are floats or per-channel lists broadcast against
    the trailing axes; integer inputs become the layer's float dtype first.  A mask passes through.
    """

    supports_masking = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = _factor(scale, "scale"), _factor(offset, "offset")

    def call(self, inputs, training=None):
        x = th.cast(inputs, self.dtype)
        return x * np.asarray(self.scale, self.dtype) + np.asarray(self.offset, self.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


def _factor(value, what: str):
    """A float, or a list of floats (per-channel), as given in the config."""
    try:
        array = np.asarray(value, dtype="float64")
    except (TypeError, ValueError):
        array = np.asarray(np.nan)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"Rescaling {what} must be finite numbers. Received: {what}={value!r}")
    return float(array) if array.ndim == 0 else array.tolist()


_ENCODINGS = ("one_hot", "multi_hot", "count")


def _encode(inputs, depth: int, mode: str, dtype: str, weights=None):
    """Keras' categorical encoding of integer ``inputs`` (rank 0 to 2) into ``depth`` slots: one_hot
    encodes each value (a trailing axis of 1 is the value's), multi_hot marks and count counts
    (weighted by ``weights``) the values along the last axis; values outside [0, depth) are ignored."""
    if inputs.ndim == 0:
        inputs = th.expand_dims(inputs, 0)
    if mode == "one_hot" and (inputs.ndim == 1 or inputs.type.shape[-1] != 1):
        inputs = th.expand_dims(inputs, -1)
    if inputs.ndim > 2:
        raise ValueError(f"categorical encoding ({mode}) takes inputs of rank 2 at most (a batch of token lists). "
                         f"Received: rank {inputs.ndim}")
    hits = th.cast(th.eq(th.expand_dims(th.cast(inputs, "int64"), -1), th.arange(depth, dtype="int64")), dtype)
    if mode == "count":
        if weights is not None:
            hits = hits * th.expand_dims(th.cast(weights, dtype), -1)
        return th.sum(hits, axis=-2)
    return th.max(hits, axis=-2)


@register_layer
class CategoryEncoding(Layer):
    """Encode integer category ids: ``one_hot`` (each id), ``multi_hot`` (which ids occur in each
    sample's list) or ``count`` (how often, optionally weighted by ``count_weights``); Keras 3's
    arguments (``"binary"`` is ``"multi_hot"``)."""

    def __init__(self, num_tokens=None, output_mode: str = "multi_hot", sparse: bool = False, **kwargs):
        super().__init__(**kwargs)
        output_mode = "multi_hot" if output_mode == "binary" else output_mode
        if output_mode not in _ENCODINGS:
            raise ValueError(f"CategoryEncoding output_mode must be one of {_ENCODINGS}. Received: {output_mode!r}")
        if num_tokens is None or int(num_tokens) < 1:
            raise ValueError(f"CategoryEncoding needs num_tokens >= 1. Received: num_tokens={num_tokens!r}")
        if sparse:
            raise NotImplementedError("CategoryEncoding(sparse=True): theanine has no sparse tensors")
        self.num_tokens, self.output_mode, self.sparse = int(num_tokens), output_mode, False

    def call(self, inputs, count_weights=None):
        return _encode(inputs, self.num_tokens, self.output_mode, self.dtype, count_weights)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if not shape:
            return (self.num_tokens,)
        if self.output_mode == "one_hot" and (len(shape) == 1 or shape[-1] != 1):
            return (*shape, self.num_tokens)
        return (*shape[:-1], self.num_tokens)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_tokens": self.num_tokens, "output_mode": self.output_mode,
                "sparse": self.sparse}


@register_layer
class Discretization(Layer):
    """Bucket numbers by ``bin_boundaries``: the index of the bin each value falls in (a value equal
    to a boundary goes to the bin above it, as ``np.digitize``), or that index encoded
    (``one_hot``, ``multi_hot``, ``count``).  ``adapt(data)`` with ``num_bins`` takes the
    boundaries at evenly spaced quantiles of ``data`` (NumPy's exact quantiles, where Keras uses
    an approximate quantile summary with error ``epsilon``)."""

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon: float = 0.01, output_mode: str = "int",
                 sparse: bool = False, **kwargs):
        kwargs.setdefault("dtype", "int64" if output_mode == "int" else None)
        super().__init__(**{k: v for k, v in kwargs.items() if v is not None})
        if output_mode not in ("int", *_ENCODINGS):
            raise ValueError(f"Discretization output_mode must be 'int' or one of {_ENCODINGS}. "
                             f"Received: {output_mode!r}")
        if (bin_boundaries is None) == (num_bins is None):
            raise ValueError("Discretization takes exactly one of bin_boundaries and num_bins. "
                             f"Received: bin_boundaries={bin_boundaries!r}, num_bins={num_bins!r}")
        if sparse:
            raise NotImplementedError("Discretization(sparse=True): theanine has no sparse tensors")
        self.bin_boundaries = None if bin_boundaries is None else [float(b) for b in bin_boundaries]
        if self.bin_boundaries is not None and np.any(np.diff(self.bin_boundaries) < 0):
            raise ValueError(f"Discretization bin_boundaries must be sorted. Received: {bin_boundaries!r}")
        self.num_bins = None if num_bins is None else int(num_bins)
        self.epsilon, self.output_mode, self.sparse = float(epsilon), output_mode, False

    def adapt(self, data, batch_size=None, steps=None) -> None:
        if self.num_bins is None:
            raise ValueError("Discretization.adapt needs num_bins (bin_boundaries were given)")
        values = np.asarray(data, dtype="float64").ravel()
        quantiles = np.quantile(values, np.linspace(0, 1, self.num_bins + 1)[1:-1])
        self.bin_boundaries = [float(q) for q in quantiles]

    def call(self, inputs, training=None):
        if self.bin_boundaries is None:
            raise ValueError(f"Discretization {self.name!r} has no bin boundaries yet: call adapt(data) first")
        values = th.cast(inputs, "float64")
        boundaries = np.asarray(self.bin_boundaries, "float64")
        index = th.sum(th.cast(th.ge(th.expand_dims(values, -1), boundaries), "int64"), axis=-1)
        if self.output_mode == "int":
            return index
        return _encode(index, len(self.bin_boundaries) + 1, self.output_mode, self.dtype)

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        depth = len(self.bin_boundaries or ()) + 1
        shape = tuple(input_shape)
        if self.output_mode == "one_hot" and (len(shape) == 1 or shape[-1] != 1):
            return (*shape, depth)
        return (*shape[:-1], depth)

    def get_config(self) -> dict:
        return {**super().get_config(), "bin_boundaries": self.bin_boundaries, "num_bins": self.num_bins,
                "epsilon": self.epsilon, "output_mode": self.output_mode, "sparse": self.sparse}
