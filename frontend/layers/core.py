"""Core layers: Dense, Activation, Dropout, Flatten."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import theanine as th
from theanine.frontend import activations, constraints, initializers, regularizers
from theanine.frontend.layers.base import Layer, get_custom_objects, register_layer
from theanine.frontend.layers.seeded import SeededLayer

__all__ = ["Dense", "Activation", "Dropout", "Flatten", "Identity"]


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"expected a positive integer. Received: {what}={value!r}")
    return int(value)


def _last_dim(layer: Layer, input_shape) -> int:
    """The static size of the last input axis, which weights are shaped by."""
    if not input_shape or input_shape[-1] is None:
        raise ValueError(
            f"layer {layer.name!r} ({type(layer).__name__}) needs a known last input dimension. "
            f"Received: input_shape={tuple(input_shape)}"
        )
    return int(input_shape[-1])


@register_layer
class Dense(Layer):
    """``activation(inputs @ kernel + bias)`` over the last axis of the inputs."""

    supports_masking = True

    def __init__(
        self,
        units: int,
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = _positive_int(units, "units")
        self.activation = activations.get(activation, get_custom_objects())
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer, get_custom_objects())
        self.bias_initializer = initializers.get(bias_initializer, get_custom_objects())
        self.kernel_regularizer = regularizers.get(kernel_regularizer, get_custom_objects())
        self.bias_regularizer = regularizers.get(bias_regularizer, get_custom_objects())
        self.activity_regularizer = regularizers.get(activity_regularizer, get_custom_objects())
        self.kernel_constraint = constraints.get(kernel_constraint, get_custom_objects())
        self.bias_constraint = constraints.get(bias_constraint, get_custom_objects())

    def build(self, input_shape) -> None:
        in_features = _last_dim(self, input_shape)
        self.kernel = self.add_weight(
            shape=(in_features, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        self.bias = (
            self.add_weight(
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                name="bias",
            )
            if self.use_bias
            else None
        )

    def call(self, inputs, training=None):
        outputs = th.matmul(inputs, self.kernel)
        if self.bias is not None:
            outputs = outputs + self.bias
        outputs = self.activation(outputs)
        if self.activity_regularizer is not None:
            batch = th.cast(outputs.shape[0], outputs.dtype)
            self.add_loss(self.activity_regularizer(outputs) / batch)
        return outputs

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.units)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }


@register_layer
class Activation(Layer):
    """Apply an activation function by name (``"relu"``) or as a callable."""

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation, get_custom_objects())

    def call(self, inputs, training=None):
        return self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


@register_layer
class Dropout(SeededLayer):
    """Zero a fraction ``rate`` of the inputs during training and scale the rest by 1/(1-rate).

    Identity when not training.  ``noise_shape`` (with None for "same as the
    input") shares one mask along axes of size 1; ``seed`` fixes the mask
    sequence (``SeededLayer``).
    """

    supports_masking = True

    def __init__(
        self,
        rate: float,
        noise_shape: Sequence[int | None] | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(seed, **kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"{type(self).__name__} rate must be in [0, 1). Received: rate={rate!r}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)

    def _mask_shape(self, inputs):
        if self.noise_shape is None:
            return inputs.shape
        return tuple(inputs.shape[i] if d is None else d for i, d in enumerate(self.noise_shape))

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        draws = self.stream.uniform(size=self._mask_shape(inputs), dtype=inputs.dtype)
        mask = th.cast(th.less(draws, keep), inputs.dtype)
        return inputs * mask / np.asarray(keep, dtype=inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = {**super().get_config(), "rate": self.rate}
        if self.noise_shape is not None:
            config["noise_shape"] = list(self.noise_shape)
        return config


@register_layer
class Flatten(Layer):
    """Collapse every axis but the first (batch) one: ``(n, 8, 8) -> (n, 64)``."""

    def call(self, inputs, training=None):
        if inputs.ndim == 1:
            return th.expand_dims(inputs, 1)
        if inputs.ndim == 2:
            return inputs
        features = _static_product(inputs.type.shape[1:])
        rest = -1 if features is None else features
        return th.reshape(inputs, (inputs.shape[0], rest))

    def compute_output_shape(self, input_shape):
        return (
            input_shape[0],
            _static_product(tuple(input_shape)[1:]) if len(input_shape) > 1 else 1,
        )


def _static_product(dims) -> int | None:
    return None if any(d is None for d in dims) else int(np.prod(dims, dtype=np.int64))


@register_layer
class Identity(Layer):
    """Returns its inputs unchanged (a placeholder, as Keras 3's); a mask passes through."""

    supports_masking = True

    def call(self, inputs, training=None):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape
