"""Activations with parameters, as layers: ReLU, LeakyReLU, PReLU, ELU, Softmax (Keras 3 defaults).

Each layer applies the function of the same name in ``frontend.activations``
with its parameters stored in the config.  ``LeakyReLU``'s layer default
slope is 0.3 (the ``leaky_relu`` function's is 0.2), as in Keras 3.
"""

from __future__ import annotations

import theanine as th
from theanine.frontend import activations, constraints, initializers, regularizers
from theanine.frontend.layers.base import Layer, get_custom_objects, register_layer

__all__ = ["ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"]


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
class PReLU(_ElementwiseActivation):
    """``x`` if ``x > 0`` else ``alpha * x`` with a learned ``alpha`` per element of a sample
    (``alpha`` has the input's shape without the batch axis; ``shared_axes`` share one value
    along those axes, e.g. ``[1, 2]`` for one slope per channel of an image)."""

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        custom = get_custom_objects()
        self.alpha_initializer = initializers.get(alpha_initializer, custom)
        self.alpha_regularizer = regularizers.get(alpha_regularizer, custom)
        self.alpha_constraint = constraints.get(alpha_constraint, custom)
        shared = [] if shared_axes is None else [shared_axes] if isinstance(shared_axes, int) else shared_axes
        self.shared_axes = [int(a) for a in shared]

    def build(self, input_shape) -> None:
        shape = [int(d) if d is not None else 1 for d in input_shape[1:]]
        for axis in self.shared_axes:
            if not 1 <= axis < len(input_shape):
                raise ValueError(f"PReLU {self.name!r}: shared axis {axis} is not an axis of a sample of "
                                 f"shape {tuple(input_shape[1:])} (axes 1 to {len(input_shape) - 1})")
            shape[axis - 1] = 1
        self.alpha = self.add_weight(shape=tuple(shape), initializer=self.alpha_initializer,
                                     regularizer=self.alpha_regularizer, constraint=self.alpha_constraint,
                                     name="alpha")

    def call(self, inputs, training=None):
        return activations.relu(inputs) - self.alpha * activations.relu(-inputs)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": constraints.serialize(self.alpha_constraint),
            "shared_axes": self.shared_axes or None,
        }


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
