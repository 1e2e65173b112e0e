"""Preprocessing layers: ``Normalization`` (Keras semantics, with ``adapt``) and ``Rescaling``."""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.frontend.layers.base import Layer, register_layer

__all__ = ["Normalization", "Rescaling"]


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
