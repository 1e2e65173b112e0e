"""Activations with parameters, as layers: ReLU, LeakyReLU, ELU, Softmax (Keras 3 defaults).

Each layer applies the function of the same name in ``frontend.activations``
with its parameters stored in the config.  ``LeakyReLU``'s layer default
slope is 0.3 (the ``leaky_relu`` function's is 0.2), as in Keras 3.
"""

from __future__ import annotations

import theanine as th
from theanine.frontend import activations
from theanine.frontend.layers.base import Layer, register_layer

__all__ = ["ReLU", "LeakyReLU", "ELU", "Softmax"]


def _non_negative(layer_name: str, what: str, value) -> float:
    if value is None or float(value) < 0:
        raise ValueError(
            f"{what} of a {layer_name} layer must be a number >= 0. Received: {what}={value!r}"
        )
    return float(value)


class _ElementwiseActivation(Layer):
    """A parameterized activation: same output shape, no weights; a mask passes through (Keras 3)."""

    supports_masking = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


@register_layer
class ReLU(_ElementwiseActivation):
    """``x`` above ``threshold`` (capped at ``max_value``), else ``slope * (x - threshold)``."""

    def __init__(
        self,
        max_value: float | None = None,
        negative_slope: float = 0.0,
        threshold: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.max_value = (
            None if max_value is None else _non_negative("ReLU", "max_value", max_value)
        )
        self.negative_slope = _non_negative("ReLU", "negative_slope", negative_slope)
        self.threshold = _non_negative("ReLU", "threshold", threshold)

    def call(self, inputs, training=None):
        return activations.relu(inputs, self.negative_slope, self.max_value, self.threshold)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


@register_layer
class LeakyReLU(_ElementwiseActivation):
    """``x`` if ``x > 0`` else ``negative_slope * x`` (default slope 0.3)."""

    def __init__(self, negative_slope: float = 0.3, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = _non_negative("LeakyReLU", "negative_slope", negative_slope)

    def call(self, inputs, training=None):
        return activations.leaky_relu(inputs, self.negative_slope)

    def get_config(self) -> dict:
        return {**super().get_config(), "negative_slope": self.negative_slope}


@register_layer
class ELU(_ElementwiseActivation):
    """``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``."""

    def __init__(self, alpha: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, inputs, training=None):
        return activations.elu(inputs, self.alpha)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}


@register_layer
class Softmax(_ElementwiseActivation):
    """The softmax along ``axis`` (default the last)."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, inputs, training=None, mask=None):
        """A mask of the inputs' shape (attention scores) sets the masked entries to -1e9 first, as
        Keras 3 does; a timestep mask of lower rank only passes on."""
        if mask is not None and mask.ndim == inputs.ndim:
            keep = th.cast(mask, "bool") if mask.dtype == "bool" else th.gt(mask, 0.5)
            large = -3e4 if inputs.dtype == "float16" else -1e9
            inputs = th.where(keep, inputs, th.constant(large, dtype=inputs.dtype))
        return activations.softmax(inputs, self.axis)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}
