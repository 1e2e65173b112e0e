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

__all__ = [
    "Constraint",
    "MaxNorm",
    "MinMaxNorm",
    "NonNeg",
    "UnitNorm",
    "get",
    "serialize",
    "deserialize",
]

_EPSILON = 1e-7


def _norms(weight, axis):
    """L2 norms along ``axis``, kept as size-1 axes for broadcasting."""
    return th.sqrt(th.sum(th.square(weight), axis=axis, keepdims=True))


def _axis_config(axis):
    return list(axis) if isinstance(axis, (list, tuple)) else axis


class Constraint:
    """Base class: ``constraint(weight) -> projected weight`` plus a JSON-able config."""

    def __call__(self, weight):
        return weight

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Constraint:
        return cls(**config)


class MaxNorm(Constraint):
    """Shrink slices whose norm ``n`` along ``axis`` exceeds ``m``: ``w clip(n, 0, m) / (eps+n)``.

    ``m`` is ``max_value``; ``eps`` is 1e-7.
    """

    def __init__(self, max_value: float = 2.0, axis=0):
        self.max_value, self.axis = float(max_value), _axis_config(axis)

    def __call__(self, weight):
        norms = _norms(weight, _axis_tuple(self.axis))
        return weight * (th.clip(norms, 0.0, self.max_value) / (_EPSILON + norms))

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Move slice norms toward ``[min_value, max_value]`` at ``rate`` (1 = project exactly)."""

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis=0):
        self.min_value, self.max_value, self.rate = float(min_value), float(max_value), float(rate)
        self.axis = _axis_config(axis)

    def __call__(self, weight):
        norms = _norms(weight, _axis_tuple(self.axis))
        desired = (
            self.rate * th.clip(norms, self.min_value, self.max_value) + (1.0 - self.rate) * norms
        )
        return weight * (desired / (_EPSILON + norms))

    def get_config(self) -> dict:
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


class NonNeg(Constraint):
    """Negative entries become zero."""

    def __call__(self, weight):
        return weight * th.cast(weight >= 0.0, weight.dtype)


class UnitNorm(Constraint):
    """Scale slices along ``axis`` to unit norm: ``w / (eps + ||w||)``."""

    def __init__(self, axis=0):
        self.axis = _axis_config(axis)

    def __call__(self, weight):
        return weight / (_EPSILON + _norms(weight, _axis_tuple(self.axis)))

    def get_config(self) -> dict:
        return {"axis": self.axis}


def _axis_tuple(axis):
    return tuple(axis) if isinstance(axis, list) else axis


REGISTRY: Mapping[str, type] = {
    "MaxNorm": MaxNorm,
    "MinMaxNorm": MinMaxNorm,
    "NonNeg": NonNeg,
    "UnitNorm": UnitNorm,
    "max_norm": MaxNorm,
    "min_max_norm": MinMaxNorm,
    "non_neg": NonNeg,
    "unit_norm": UnitNorm,
}
"""Constraint classes by class name and Keras' snake_case name."""


def serialize(constraint: Constraint | None) -> dict | None:
    """``{"class_name": ..., "config": ...}`` (None stays None)."""
    if constraint is None:
        return None
    return {"class_name": type(constraint).__name__, "config": constraint.get_config()}


def deserialize(config: Mapping, custom_objects: Mapping | None = None) -> Constraint:
    """A constraint from ``serialize``'s dict."""
    return _lookup(config.get("class_name"), custom_objects).from_config(
        dict(config.get("config") or {})
    )


def _lookup(name, custom_objects) -> type:
    known = {**REGISTRY, **(custom_objects or {})}
    if name not in known:
        raise ValueError(
            f"Unknown constraint {name!r}. "
            f"Expected one of {sorted(REGISTRY)} or a custom_objects name"
        )
    return known[name]


def get(identifier, custom_objects: Mapping | None = None):
    """A constraint from a name, a dict, an instance or a callable; None stays None."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str):
        return _lookup(identifier, custom_objects)()
    if isinstance(identifier, Mapping):
        return deserialize(identifier, custom_objects)
    if callable(identifier):
        return identifier
    raise TypeError(
        f"Cannot interpret {identifier!r} as a constraint (a name, dict, Constraint or callable)"
    )
