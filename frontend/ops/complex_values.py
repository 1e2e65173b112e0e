"""Keras' complex-valued ops, on arrays only: ``polar``, ``view_as_complex``, ``view_as_real``,
``eig``.

theanine's graph types are real (the FFT ops return ``(real, imaginary)``
pairs), so an op whose result is complex cannot be a graph node: these run
eagerly on NumPy arrays, as Keras' NumPy backend does, and a graph tensor
argument raises a TypeError that says so and names the real-valued way
(``real``/``imag`` pairs, ``eigh`` for symmetric matrices).
"""

from __future__ import annotations

import numpy as np

from theanine.frontend.ops.eager import is_symbolic

__all__ = ["eig", "polar", "view_as_complex", "view_as_real"]


def _host(op: str, instead: str, *args) -> list[np.ndarray]:
    """``args`` as arrays; a graph tensor among them raises (see the module docstring)."""
    if is_symbolic(args):
        raise TypeError(f"ops.{op} returns complex values and theanine's graph tensors are real, so it takes "
                        f"arrays, not graph tensors; inside a graph use {instead}")
    return [np.asarray(a) for a in args]


def _complex_dtype(*arrays: np.ndarray) -> np.dtype:
    """complex64 for float32 (and smaller or integer) parts, complex128 for float64, as Keras."""
    wide = any(a.dtype in (np.float64, np.complex128) for a in arrays)
    return np.dtype("complex128" if wide else "complex64")


def polar(abs_, angle):
    """``abs_ * (cos(angle) + 1j sin(angle))`` (``torch.polar``)."""
    abs_, angle = _host("polar", "the pair (abs_ * cos(angle), abs_ * sin(angle))", abs_, angle)
    return (abs_ * np.cos(angle) + 1j * abs_ * np.sin(angle)).astype(_complex_dtype(abs_, angle))


def view_as_complex(x):
    """A complex array from a real one whose last axis (of size 2) holds real and imaginary parts."""
    (x,) = _host("view_as_complex", "the pair (x[..., 0], x[..., 1])", x)
    if x.ndim == 0 or x.shape[-1] != 2:
        raise ValueError(f"ops.view_as_complex needs a last axis of size 2. Received: shape={x.shape}")
    return (x[..., 0] + 1j * x[..., 1]).astype(_complex_dtype(x))


def view_as_real(x):
    """A real array with a new last axis of size 2: the real and imaginary parts of ``x``."""
    (x,) = _host("view_as_real", "ops.real and ops.imag", x)
    if not np.iscomplexobj(x):
        raise ValueError(f"ops.view_as_real needs a complex array. Received: dtype={x.dtype}")
    return np.stack([x.real, x.imag], axis=-1)


def eig(x):
    """Eigenvalues ``(..., M)`` and right eigenvectors ``(..., M, M)`` of square matrices (complex)."""
    (x,) = _host("eig", "ops.eigh (symmetric matrices, real results)", x)
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"ops.eig needs square matrices (..., M, M). Received: shape={x.shape}")
    values, vectors = np.linalg.eig(x)
    dtype = _complex_dtype(x)
    return values.astype(dtype), vectors.astype(dtype)
