"""The initializer contract (``keras.initializers.Initializer``) and its argument checks.

Kept apart from ``initializers`` so that initializers in their own modules
(``stft_initializer``) share the base class without an import cycle.
"""

from __future__ import annotations

import numpy as np

from theanine.frontend.registry import Configurable
from theanine.graph.config import config

__all__ = ["Initializer", "shape_and_dtype"]


class Initializer(Configurable):
    """Base class: ``__call__(shape, dtype=None) -> np.ndarray`` plus a JSON-able config."""

    def __call__(self, shape, dtype=None) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__()")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def shape_and_dtype(shape, dtype) -> tuple[tuple[int, ...], np.dtype]:
    """Validate ``shape`` (non-negative ints) and resolve ``dtype`` (default floatX)."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 for d in shape):
        raise ValueError(
            f"An initializer needs a shape of non-negative ints. Received: shape={shape!r}"
        )
    return tuple(int(d) for d in shape), np.dtype(dtype or config.floatX)
