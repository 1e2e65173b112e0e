"""Keras 3 on its JAX backend as a reference for layer tests, when it is importable.

Keras is not a test dependency: where it cannot be imported, ``keras`` is
None and the tests marked ``needs_keras`` skip (the NumPy comparisons run).
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
try:
    import keras
except Exception:  # noqa: BLE001 - any failure to import Keras only skips the comparisons
    keras = None

needs_keras = pytest.mark.skipif(keras is None, reason="keras (JAX backend) is not importable")
