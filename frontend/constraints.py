"""Weight constraints (``keras.constraints``): projections applied after each optimizer step.

A constraint maps the new value of a weight (a symbolic expression) to its
projected value; the model applies it inside the compiled update, so
``w <- constraint(optimizer_update(w))``.  Norms are taken along ``axis``
(Keras' default 0: for a Dense kernel ``(inputs, units)``, the incoming
weights of each unit), with Keras' ``1e-7`` in the denominators.
"""

from __future__ import annotations

from collections.abc import Mapping

import theanine as th
from theanine.frontend.registry import Configurable, Registry

__all__ = [
    "Constraint",
    "MaxNorm",
    "MinMaxNorm",
    "NonNeg",
    "UnitNorm",
    "max_norm",
    "min_max_norm",
    "non_neg",
    "unit_norm",
    "get",
    "serialize",
    "deserialize",
]

_EPSILON = 1e-7


def _norms(weight, axis):
    """L2 norms along ``axis``, kept as size-1 axes for broadcasting."""
    return th.sqrt(th.sum(th.square(weight), axis=axis, keepdims=True))


def _axis_config(axis):
    """``axis`` as the config stores it: an int, or a list (JSON has no tuples)."""
    return list(axis) if isinstance(axis, (list, tuple)) else axis


class Constraint(Configurable):
    """Base class: ``constraint(weight) -> projected weight`` plus a JSON-able config."""

    def __call__(self, weight):
        return weight


class MaxNorm(Constraint):
    """Shrink slices whose norm ``n`` along ``axis`` exceeds ``m``: ``w clip(n, 0, m) / (eps+n)``.

    ``m`` is ``max_value``; ``eps`` is 1e-7.
    """

    config_names = ("max_value", "axis")

    def __init__(self, max_value: float = 2.0, axis=0):
        self.max_value, self.axis = float(max_value), _axis_config(axis)

    def __call__(self, weight):
        norms = _norms(weight, _axis_tuple(self.axis))
        return weight * (th.clip(norms, 0.0, self.max_value) / (_EPSILON + norms))


class MinMaxNorm(Constraint):
    """Move slice norms toward ``[min_value, max_value]`` at ``rate`` (1 = project exactly)."""

    config_names = ("min_value", "max_value", "rate", "axis")

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis=0):
        self.min_value, self.max_value, self.rate = float(min_value), float(max_value), float(rate)
        self.axis = _axis_config(axis)

    def __call__(self, weight):
        norms = _norms(weight, _axis_tuple(self.axis))
        desired = self.rate * th.clip(norms, self.min_value, self.max_value) + (1.0 - self.rate) * norms
        return weight * (desired / (_EPSILON + norms))


class NonNeg(Constraint):
    """Negative entries become zero."""

    def __call__(self, weight):
        return weight * th.cast(weight >= 0.0, weight.dtype)


class UnitNorm(Constraint):
    """Scale slices along ``axis`` to unit norm: ``w / (eps + ||w||)``."""

    config_names = ("axis",)

    def __init__(self, axis=0):
        self.axis = _axis_config(axis)

    def __call__(self, weight):
        return weight / (_EPSILON + _norms(weight, _axis_tuple(self.axis)))


def _axis_tuple(axis):
    """A stored axis as ``th.sum`` takes it: an int or a tuple."""
    return tuple(axis) if isinstance(axis, list) else axis


max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm
"""Keras' snake_case names of the classes."""

REGISTRY = Registry(
    "constraint",
    Constraint,
    {
        "MaxNorm": MaxNorm,
        "MinMaxNorm": MinMaxNorm,
        "NonNeg": NonNeg,
        "UnitNorm": UnitNorm,
        "max_norm": MaxNorm,
        "min_max_norm": MinMaxNorm,
        "non_neg": NonNeg,
        "unit_norm": UnitNorm,
    },
)
"""Constraint classes by class name and Keras' snake_case name."""


def serialize(constraint: Constraint | None) -> dict | None:
    """``{"class_name": ..., "config": ...}`` (None stays None)."""
    return REGISTRY.serialize(constraint)


def deserialize(config: Mapping, custom_objects: Mapping | None = None) -> Constraint:
    """A constraint from ``serialize``'s dict."""
    return REGISTRY.deserialize(config, custom_objects)


def get(identifier, custom_objects: Mapping | None = None):
    """A constraint from a name, a dict, an instance, a class or a callable; None stays None."""
    return REGISTRY.get(identifier, custom_objects)
