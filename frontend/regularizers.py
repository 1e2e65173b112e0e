"""Weight regularizers (``keras.regularizers``): penalties added to the training loss.

A regularizer maps a weight to a scalar penalty of the weight's dtype.
Defaults follow Keras 3: ``L1(0.01)``, ``L2(0.01)`` and ``L1L2(l1=0.0,
l2=0.0)`` (also reachable as ``"l1_l2"``).
"""

from __future__ import annotations

from collections.abc import Mapping

import theanine as th
from theanine.frontend.registry import Configurable, Registry

__all__ = [
    "Regularizer",
    "L1",
    "L2",
    "L1L2",
    "OrthogonalRegularizer",
    "l1",
    "l2",
    "l1_l2",
    "orthogonal_regularizer",
    "get",
    "serialize",
    "deserialize",
]


def _check_factor(name: str, value) -> float:
    """A penalty factor as a float, or a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name} must be a non-negative float. Received: {name}={value!r}")
    return float(value)


class Regularizer(Configurable):
    """Base class: ``regularizer(weight) -> scalar`` plus a JSON-able config."""

    def __call__(self, weight):
        raise NotImplementedError(f"{type(self).__name__} must implement __call__()")


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w^2)``; a zero factor adds no term."""

    config_names = ("l1", "l2")

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1, self.l2 = _check_factor("l1", l1), _check_factor("l2", l2)

    def __call__(self, weight):
        penalty = th.zeros_like(th.sum(weight))
        if self.l1:
            penalty = penalty + self.l1 * th.sum(th.abs(weight))
        if self.l2:
            penalty = penalty + self.l2 * th.sum(th.square(weight))
        return penalty


class L1(L1L2):
    """``l1 * sum(|w|)``."""

    config_names = ("l1",)

    def __init__(self, l1: float = 0.01):
        super().__init__(l1=l1)


class L2(L1L2):
    """``l2 * sum(w^2)``."""

    config_names = ("l2",)

    def __init__(self, l2: float = 0.01):
        super().__init__(l2=l2)


class OrthogonalRegularizer(Regularizer):
    """``factor / 2`` times the mean absolute cosine similarity between distinct rows (``mode``
    "rows") or columns ("columns") of a 2-d weight, each scaled to unit norm (norms below 1e-7
    count as 1e-7): it pushes the rows or columns toward orthogonality (Keras 3's definition)."""

    config_names = ("factor", "mode")

    def __init__(self, factor: float = 0.01, mode: str = "rows"):
        self.factor = _check_factor("factor", factor)
        if mode not in ("rows", "columns"):
            raise ValueError(f"OrthogonalRegularizer mode must be 'rows' or 'columns'. Received: mode={mode!r}")
        self.mode = mode

    def __call__(self, weight):
        if weight.ndim != 2:
            raise ValueError(f"OrthogonalRegularizer needs a 2-d weight. Received: a weight of rank {weight.ndim}")
        vectors = weight if self.mode == "rows" else weight.T
        norms = th.sqrt(th.sum(th.square(vectors), axis=1, keepdims=True))
        unit = vectors / th.maximum(norms, th.constant(1e-7, dtype=weight.dtype))
        product = th.dot(unit, unit.T)
        size = th.cast(vectors.shape[0], weight.dtype)
        off_diagonal = th.sum(th.abs(product)) - th.sum(th.abs(th.diagonal(product)))
        return self.factor * 0.5 * off_diagonal / (size * (size - 1.0) / 2.0)


l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer

REGISTRY = Registry("regularizer", Regularizer, {"L1": L1, "L2": L2, "L1L2": L1L2, "l1": L1, "l2": L2, "l1_l2": L1L2,
                                                   "OrthogonalRegularizer": OrthogonalRegularizer,
                                                   "orthogonal_regularizer": OrthogonalRegularizer})
"""Regularizer classes by class name and Keras' snake_case name."""


def serialize(regularizer: Regularizer | None) -> dict | None:
    """``{"class_name": ..., "config": ...}`` (None stays None)."""
    return REGISTRY.serialize(regularizer)


def deserialize(config: Mapping, custom_objects: Mapping | None = None) -> Regularizer:
    """A regularizer from ``serialize``'s dict."""
    return REGISTRY.deserialize(config, custom_objects)


def get(identifier, custom_objects: Mapping | None = None):
    """A regularizer from a name, a dict, an instance, a class or a callable; None stays None."""
    return REGISTRY.get(identifier, custom_objects)
