"""Regularization layers: GaussianNoise, GaussianDropout and AlphaDropout (only in training), and
ActivityRegularization (Keras 3's arguments and defaults).

Each noise layer is the identity outside training and draws from its own
``RandomStream`` (``SeededLayer``, as ``Dropout``).
"""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.frontend import regularizers
from theanine.frontend.layers.base import Layer, register_layer
from theanine.frontend.layers.core import Dropout
from theanine.frontend.layers.seeded import SeededLayer

__all__ = ["GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization"]

_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


class _Noise(SeededLayer):
    """Shared parts: the rate check and the output shape (the stream and seed: ``SeededLayer``)."""

    supports_masking = True

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(seed, **kwargs)

    @staticmethod
    def _fraction(layer: str, name: str, value) -> float:
        if not 0.0 <= float(value) < 1.0:
            raise ValueError(f"{layer}'s {name} must be in [0, 1). Received: {name}={value!r}")
        return float(value)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


@register_layer
class GaussianNoise(_Noise):
    """Add zero-mean Gaussian noise of standard deviation ``stddev`` in training."""

    def __init__(self, stddev: float, seed: int | None = None, **kwargs):
        super().__init__(seed, **kwargs)
        if float(stddev) < 0:
            raise ValueError(f"GaussianNoise's stddev must be >= 0. Received: stddev={stddev!r}")
        self.stddev = float(stddev)

    def call(self, inputs, training=None):
        if not training or self.stddev == 0.0:
            return inputs
        return inputs + self.stream.normal(size=inputs.shape, std=self.stddev, dtype=inputs.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "stddev": self.stddev}


@register_layer
class GaussianDropout(_Noise):
    """Multiply by Gaussian noise of mean 1 and variance ``rate / (1 - rate)`` in training."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(seed, **kwargs)
        self.rate = self._fraction("GaussianDropout", "rate", rate)

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        std = float(np.sqrt(self.rate / (1.0 - self.rate)))
        return inputs * self.stream.normal(size=inputs.shape, mean=1.0, std=std, dtype=inputs.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate}


@register_layer
class AlphaDropout(Dropout):
    """Dropout that keeps a SELU network's mean and variance: dropped units take SELU's negative
    saturation value, then an affine map restores the moments (Keras 3's formula).  Arguments,
    ``noise_shape`` and config are ``Dropout``'s."""

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        a = float((keep + alpha_p**2 * keep * self.rate) ** -0.5)
        b = float(-a * alpha_p * self.rate)
        draws = self.stream.uniform(size=self._mask_shape(inputs), dtype=inputs.dtype)
        kept = th.cast(th.less(draws, keep), inputs.dtype)
        dropped = inputs * kept + np.asarray(alpha_p, inputs.dtype) * (1 - kept)
        return np.asarray(a, inputs.dtype) * dropped + np.asarray(b, inputs.dtype)


@register_layer
class ActivityRegularization(Layer):
    """The identity that adds ``(l1 * sum(|x|) + l2 * sum(x**2)) / batch size`` of its output to the
    model's losses, as Keras 3 (3.15) does for a layer's activity regularizer (and Dense here)."""

    supports_masking = True

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.l1, self.l2 = float(l1), float(l2)
        self.activity_regularizer = regularizers.L1L2(l1=self.l1, l2=self.l2)

    def call(self, inputs, training=None):
        if self.l1 or self.l2:
            batch = th.cast(inputs.shape[0], inputs.dtype) if inputs.ndim else 1.0
            self.add_loss(self.activity_regularizer(inputs) / batch)
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}
