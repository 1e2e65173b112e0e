"""theanine.frontend: the Keras-like layer.

``import theanine.frontend as fe`` gives Keras' vocabulary as attributes:
``fe.models.Sequential``/``fe.models.Model``, ``fe.layers``, ``compile``/
``fit``/``evaluate``/``predict``, ``fe.callbacks``, ``model.save`` and
``fe.models.load_model``, as ``keras.layers`` and friends do.  Each
submodule is imported the first time it is used (module ``__getattr__``,
PEP 562), so importing ``theanine`` or ``theanine.frontend`` stays cheap.
"""

from __future__ import annotations

import importlib
from types import ModuleType

SUBMODULES = (
    "activations",
    "callbacks",
    "constraints",
    "datasets",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "regularizers",
    "saving",
    "utils",
)
"""The public submodules, reachable as attributes of this package."""

__all__ = list(SUBMODULES)


def __getattr__(name: str) -> ModuleType:
    """Import a public submodule on first access (``fe.layers``)."""
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, submodules included (for completion)."""
    return sorted(["SUBMODULES", *SUBMODULES])
