"""theanine.frontend: the Keras-like layer.

``import theanine.frontend as fe`` gives Keras' vocabulary as attributes:
``fe.models.Sequential``/``fe.models.Model``, ``fe.layers``, ``compile``/
``fit``/``evaluate``/``predict``, ``fe.callbacks``, ``model.save`` and
``fe.models.load_model``, as ``keras.layers`` and friends do, and Keras 3's
top-level names ``fe.Sequential``, ``fe.Model``, ``fe.Input``, ``fe.Layer``
and ``fe.Variable``.  Each submodule is imported the first time it is used
(module ``__getattr__``, PEP 562), so importing ``theanine`` or
``theanine.frontend`` stays cheap.
"""

from __future__ import annotations

import importlib
from types import ModuleType

SUBMODULES = (
    "activations",
    "backend",
    "callbacks",
    "config",
    "constraints",
    "datasets",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "ops",
    "optimizers",
    "random",
    "regularizers",
    "saving",
    "utils",
)
"""The public submodules, reachable as attributes of this package."""

TOP_LEVEL = {
    "Sequential": "models",
    "Model": "models",
    "Input": "layers",
    "Layer": "layers",
    "Variable": "variables",
}
"""Keras 3's top-level names (``keras.Sequential``) and the submodule each comes from."""

__all__ = [*SUBMODULES, *TOP_LEVEL]


def __getattr__(name: str):
    """Import a public submodule (``fe.layers``) or a top-level name's module on first access."""
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in TOP_LEVEL:
        return getattr(importlib.import_module(f"{__name__}.{TOP_LEVEL[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, submodules included (for completion)."""
    return sorted(["SUBMODULES", "TOP_LEVEL", *SUBMODULES, *TOP_LEVEL])
