"""Normalization layers: BatchNormalization and LayerNormalization (Keras 3 semantics).

Both compute ``x * inv + (beta - mean * inv)`` with ``inv = gamma /
sqrt(variance + epsilon)``, as Keras' ``ops.batch_normalization`` does;
they differ in which statistics they use:

- BatchNormalization: in training, the mean and (biased) variance of the
  batch over every axis but ``axis``; it also records the state updates
  ``moving = moving * momentum + batch * (1 - momentum)`` of its moving
  statistics, which ``fit`` applies after each step.  Otherwise (evaluate,
  predict, or a layer set ``trainable = False``, as in Keras 3 fine-tuning)
  it normalizes with the moving statistics.
- LayerNormalization: always the statistics of each sample over ``axis``.

RMSNormalization (Keras 3.10+) divides by the root mean square over
``axis`` instead: ``x / sqrt(mean(x**2) + epsilon) * scale``.

Both pass a mask on, as in Keras 3; BatchNormalization's batch statistics
in training then count the unmasked entries only (Keras' masked moments).
"""

from __future__ import annotations

from collections.abc import Sequence

import theanine as th
from theanine.frontend import constraints, initializers, regularizers
from theanine.frontend.layers.base import Layer, get_custom_objects, register_layer

__all__ = ["BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization", "RMSNormalization"]


def _normalized_axes(layer: Layer, axis, input_shape) -> tuple[int, ...]:
    """``axis`` (an int or a list) as sorted non-negative axes with known sizes."""
    ndim = len(input_shape)
    axes = [axis] if isinstance(axis, int) else list(axis)
    if not axes or any(not -ndim <= a < ndim for a in axes):
        raise ValueError(
            f"layer {layer.name!r} ({type(layer).__name__}) got axis={axis} for inputs of rank "
            f"{ndim}. Received: input_shape={tuple(input_shape)}"
        )
    normalized = tuple(sorted({a % ndim for a in axes}))
    if any(input_shape[a] is None for a in normalized):
        raise ValueError(
            f"layer {layer.name!r} ({type(layer).__name__}) needs known sizes on axis={axis}. "
            f"Received: input_shape={tuple(input_shape)}"
        )
    return normalized


def _normalize(inputs, mean, variance, gamma, beta, epsilon: float):
    """``(inputs - mean) / sqrt(variance + epsilon) * gamma + beta``, all broadcastable."""
    inv = 1.0 / th.sqrt(variance + epsilon)
    if gamma is not None:
        inv = inv * gamma
    offset = -mean * inv
    if beta is not None:
        offset = offset + beta
    return inputs * inv + offset


class _Normalization(Layer):
    """Shared parts: the axes, the ``gamma``/``beta`` weights and their config.

    The defaults are Keras' for both layers; BatchNormalization passes its
    regularizers and constraints through ``kwargs``.
    """

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.axis = axis if isinstance(axis, int) else [int(a) for a in axis]
        if float(epsilon) <= 0:
            raise ValueError(f"epsilon must be positive. Received: epsilon={epsilon!r}")
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        custom = get_custom_objects()
        self.beta_initializer = initializers.get(beta_initializer, custom)
        self.gamma_initializer = initializers.get(gamma_initializer, custom)
        self.beta_regularizer = regularizers.get(beta_regularizer, custom)
        self.gamma_regularizer = regularizers.get(gamma_regularizer, custom)
        self.beta_constraint = constraints.get(beta_constraint, custom)
        self.gamma_constraint = constraints.get(gamma_constraint, custom)

    def _build_axes(self, input_shape) -> tuple[int, ...]:
        """Record the normalized axes and the shape that broadcasts per-axis values."""
        self._axes = _normalized_axes(self, self.axis, input_shape)
        self._param_shape = tuple(int(input_shape[a]) for a in self._axes)
        self._broadcast_shape = tuple(
            int(input_shape[i]) if i in self._axes else 1 for i in range(len(input_shape))
        )
        return self._axes

    def _build_affine(self) -> None:
        """The scale ``gamma`` and offset ``beta`` (None when ``scale``/``center`` is off)."""
        shape = self._param_shape
        self.gamma = None
        if self.scale:
            self.gamma = self.add_weight(
                shape=shape,
                initializer=self.gamma_initializer,
                regularizer=self.gamma_regularizer,
                constraint=self.gamma_constraint,
                name="gamma",
            )
        self.beta = None
        if self.center:
            self.beta = self.add_weight(
                shape=shape,
                initializer=self.beta_initializer,
                regularizer=self.beta_regularizer,
                constraint=self.beta_constraint,
                name="beta",
            )

    def _broadcastable(self, value):
        """A per-axis value reshaped to broadcast against the inputs (None stays None)."""
        if value is None or value.ndim == len(self._broadcast_shape):
            return value
        return th.reshape(value, self._broadcast_shape)

    def _normalize(self, inputs, mean, variance):
        """``inputs`` normalized with broadcastable statistics, then scaled and offset."""
        gamma, beta = self._broadcastable(self.gamma), self._broadcastable(self.beta)
        return _normalize(inputs, mean, variance, gamma, beta, self.epsilon)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }


@register_layer
class BatchNormalization(_Normalization):
    """Normalize with batch statistics in training and moving statistics otherwise.

    Weights, in Keras order: ``gamma``, ``beta`` (trainable), ``moving_mean``,
    ``moving_variance`` (non-trainable).
    """

    supports_masking = True

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        **kwargs,
    ):
        """``kwargs`` holds the Layer arguments and ``beta_regularizer``, ``gamma_regularizer``,
        ``beta_constraint`` and ``gamma_constraint`` (see ``_Normalization``)."""
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise TypeError(f"BatchNormalization axis must be an int. Received: axis={axis!r}")
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs)
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"momentum must be in [0, 1]. Received: momentum={momentum!r}")
        self.momentum = float(momentum)
        custom = get_custom_objects()
        self.moving_mean_initializer = initializers.get(moving_mean_initializer, custom)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer, custom)

    def build(self, input_shape) -> None:
        axes = self._build_axes(input_shape)
        self._reduction_axes = tuple(i for i in range(len(input_shape)) if i not in axes)
        self._build_affine()
        self.moving_mean = self.add_weight(
            shape=self._param_shape,
            initializer=self.moving_mean_initializer,
            trainable=False,
            name="moving_mean",
        )
        self.moving_variance = self.add_weight(
            shape=self._param_shape,
            initializer=self.moving_variance_initializer,
            trainable=False,
            name="moving_variance",
        )

    def call(self, inputs, training=None, mask=None):
        if mask is not None and mask.ndim != inputs.ndim - 1:
            raise ValueError(
                f"layer {self.name!r} (BatchNormalization): the mask must have one axis less than the inputs. "
                f"Received: mask shape {mask.type.shape}, inputs shape {inputs.type.shape}"
            )
        if training and self.trainable:
            mean, variance = self._moments(inputs, mask)
            self.add_update((self.moving_mean, self._moving_average(self.moving_mean, mean)))
            self.add_update(
                (self.moving_variance, self._moving_average(self.moving_variance, variance))
            )
        else:
            mean, variance = self.moving_mean, self.moving_variance
        return self._normalize(inputs, self._broadcastable(mean), self._broadcastable(variance))

    def _moments(self, inputs, mask):
        """The batch mean and biased variance over the reduction axes; with a mask, over the
        unmasked entries only (Keras' ``_moments``, its epsilon in the divisions)."""
        if mask is None:
            return th.mean(inputs, axis=self._reduction_axes), th.var(inputs, axis=self._reduction_axes)
        keep = th.logical_or(th.expand_dims(th.cast(mask, "bool"), -1), th.zeros_like(inputs, dtype="bool"))
        zeros = th.zeros_like(inputs)
        count = th.sum(th.cast(keep, inputs.dtype), axis=self._reduction_axes, keepdims=True) + 1e-7
        mean = th.sum(th.where(keep, inputs, zeros), axis=self._reduction_axes, keepdims=True) / count
        variance = th.sum(th.square(th.where(keep, inputs - mean, zeros)), axis=self._reduction_axes,
                          keepdims=True) / count
        return th.reshape(mean, self._param_shape), th.reshape(variance, self._param_shape)

    def _moving_average(self, moving, batch_value):
        """Keras' update ``moving * momentum + batch_value * (1 - momentum)``."""
        batch_value = th.cast(batch_value, moving.dtype)
        return moving * self.momentum + batch_value * (1.0 - self.momentum)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "momentum": self.momentum,
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
        }


@register_layer
class LayerNormalization(_Normalization):
    """Normalize each sample over ``axis`` (an int or a list of axes) with its own statistics.

    Arguments (Keras'): ``axis=-1``, ``epsilon=1e-3``, ``center``, ``scale``, and the
    initializers, regularizers and constraints of ``beta`` and ``gamma`` (see ``_Normalization``).
    """

    supports_masking = True

    def build(self, input_shape) -> None:
        self._build_axes(input_shape)
        self._build_affine()

    def call(self, inputs, training=None):
        mean = th.mean(inputs, axis=self._axes, keepdims=True)
        variance = th.var(inputs, axis=self._axes, keepdims=True)
        return self._normalize(inputs, mean, variance)


@register_layer
class GroupNormalization(_Normalization):
    """Normalize each sample over groups of channels: the ``axis`` channels split into ``groups``
    of equal size, each normalized with its own mean and variance over the other non-batch axes
    (Keras 3's arguments; ``groups=-1`` is instance normalization, 1 layer normalization)."""

    supports_masking = True

    def __init__(self, groups: int = 32, axis: int = -1, epsilon: float = 1e-3, **kwargs):
        super().__init__(axis=axis, epsilon=epsilon, **kwargs)
        if not isinstance(axis, int):
            raise TypeError(f"GroupNormalization's axis must be an int. Received: axis={axis!r}")
        self.groups = int(groups)

    def build(self, input_shape) -> None:
        (channel_axis,) = self._build_axes(input_shape)
        channels = int(input_shape[channel_axis])
        groups = channels if self.groups == -1 else self.groups
        if groups <= 0 or channels % groups:
            raise ValueError(
                f"GroupNormalization {self.name!r}: the {channels} channels of axis {self.axis} do not split "
                f"into groups={self.groups} groups of equal size")
        self._groups = groups
        self._build_affine()

    def call(self, inputs, training=None):
        (axis,) = self._axes
        channels = self._param_shape[0]
        moved = th.moveaxis(inputs, axis, -1)
        grouped = th.reshape(moved, (*[moved.shape[i] for i in range(moved.ndim - 1)],
                                     self._groups, channels // self._groups))
        reduced = tuple(range(1, grouped.ndim - 2)) + (grouped.ndim - 1,)
        mean = th.mean(grouped, axis=reduced, keepdims=True)
        variance = th.var(grouped, axis=reduced, keepdims=True)
        normalized = th.reshape((grouped - mean) / th.sqrt(variance + self.epsilon), moved.shape)
        if self.gamma is not None:
            normalized = normalized * self.gamma
        if self.beta is not None:
            normalized = normalized + self.beta
        return th.moveaxis(normalized, -1, axis)

    def get_config(self) -> dict:
        return {**super().get_config(), "groups": self.groups}


@register_layer
class UnitNormalization(Layer):
    """Scale each sample to unit L2 norm over ``axis`` (an int or a list):
    ``x / sqrt(max(sum(x**2), 1e-12))``, as Keras 3."""

    supports_masking = True

    def __init__(self, axis: int | Sequence[int] = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis if isinstance(axis, int) else [int(a) for a in axis]

    def call(self, inputs, training=None):
        axes = (self.axis,) if isinstance(self.axis, int) else tuple(self.axis)
        squares = th.sum(inputs * inputs, axis=axes, keepdims=True)
        return inputs / th.sqrt(th.maximum(squares, th.constant(1e-12, dtype=inputs.dtype)))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


@register_layer
class RMSNormalization(Layer):
    """``inputs * rsqrt(mean(inputs**2, axis) + epsilon) * scale`` (Keras 3's layer); ``scale`` is one
    trainable weight (initialized to ones) shaped by the sizes of ``axis`` (an int or a list)."""

    def __init__(self, axis: int | Sequence[int] = -1, epsilon: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, int) and not (isinstance(axis, Sequence) and all(isinstance(a, int) for a in axis)):
            raise ValueError(f"RMSNormalization: axis must be an int or a list of ints. Received: axis={axis!r}")
        if not float(epsilon) >= 0:
            raise ValueError(f"RMSNormalization: epsilon must be >= 0. Received: epsilon={epsilon!r}")
        self.axis = axis if isinstance(axis, int) else [int(a) for a in axis]
        self.epsilon = float(epsilon)

    def build(self, input_shape) -> None:
        self._axes = _normalized_axes(self, self.axis, input_shape)
        self._broadcast = tuple(input_shape[a] if a in self._axes else 1 for a in range(len(input_shape)))
        self.scale = self.add_weight(shape=tuple(input_shape[a] for a in self._axes), initializer="ones",
                                     name="scale")

    def call(self, inputs, training=None):
        mean_square = th.mean(inputs * inputs, axis=self._axes, keepdims=True)
        return inputs / th.sqrt(mean_square + self.epsilon) * th.reshape(self.scale, self._broadcast)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}
