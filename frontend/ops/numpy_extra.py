"""The NumPy-like ``keras.ops`` functions theanine's graph library does not name.

This module holds the elementwise and shape functions; statistics, search,
NaN-ignoring reductions and window functions are in ``numpy_statistics``.
Most are compositions of graph functions (so gradients and native code come
with them); the integer, bit-level and special functions are the
``graph/ops/special.py`` rows.  Semantics are NumPy's, with Keras' argument
names.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

import theanine as th
from theanine.frontend import config
from theanine.frontend.ops.eager import eager
from theanine.graph.ops import special

__all__ = [
    "allclose", "angle", "array_split", "bitwise_invert", "bitwise_left_shift", "bitwise_not",
    "bitwise_right_shift", "cbrt", "deg2rad", "diagflat", "dsplit", "dstack", "empty_like", "fabs", "fliplr",
    "flipud", "fmax", "fmin", "fmod", "gcd", "heaviside", "hsplit", "hypot", "i0", "inner", "isneginf",
    "isposinf", "isreal", "kron", "lcm", "ldexp", "left_shift", "logaddexp2", "nextafter", "rad2deg",
    "right_shift", "rot90", "signbit", "sinc", "trunc", "vander", "vsplit", "erfinv",
]


def as_tensor(x):
    """``x`` as a graph tensor (helpers shared with ``numpy_statistics``)."""
    return th.as_tensor_variable(x)


def as_float(x):
    """``x`` as a float tensor (integers and bools become ``floatx``)."""
    x = as_tensor(x)
    return x if x.dtype.startswith("float") else th.cast(x, config.floatx())


def dim(x, axis: int):
    """The size of ``axis`` of ``x``: an int where static, else a symbolic scalar."""
    return x.type.shape[axis] if x.type.shape[axis] is not None else x.shape[axis]


# ----------------------------------------------------------------------------- elementwise

gcd = eager(special.gcd)
lcm = eager(special.lcm)
left_shift = bitwise_left_shift = eager(special.left_shift)
right_shift = bitwise_right_shift = eager(special.right_shift)
nextafter = eager(special.nextafter)
signbit = eager(special.signbit)
bitwise_invert = bitwise_not = eager(th.invert)


@eager
def fmod(x1, x2):
    """The remainder of truncated division (sign of ``x1``), NumPy's ``fmod``."""
    return special.fmod(x1, x2)


@eager
def erfinv(x):
    """The inverse error function."""
    return special.erfinv(as_float(x))


@eager
def i0(x):
    """The modified Bessel function of the first kind, order 0."""
    return special.i0(as_float(x))


@eager
def angle(x):
    """The angle of each (real) element: 0 for ``x >= 0``, pi below."""
    x = as_float(x)
    return th.arctan2(th.zeros_like(x), x)


@eager
def cbrt(x):
    """The real cube root."""
    x = as_float(x)
    return th.sign(x) * th.abs(x) ** (1.0 / 3.0)


@eager
def deg2rad(x):
    return as_float(x) * (math.pi / 180.0)


@eager
def rad2deg(x):
    return as_float(x) * (180.0 / math.pi)


@eager
def fabs(x):
    """``|x|`` as floats."""
    return th.abs(as_float(x))


def _nan_ignoring(pick):
    def op(x1, x2):
        x1, x2 = as_tensor(x1), as_tensor(x2)
        return th.where(th.isnan(x1), x2, th.where(th.isnan(x2), x1, pick(x1, x2)))

    return op


fmax = eager(_nan_ignoring(th.maximum))
fmax.__doc__ = "The elementwise maximum, ignoring NaNs (NumPy's ``fmax``)."
fmin = eager(_nan_ignoring(th.minimum))
fmin.__doc__ = "The elementwise minimum, ignoring NaNs (NumPy's ``fmin``)."


@eager
def heaviside(x1, x2):
    """0 below zero, ``x2`` at zero, 1 above."""
    x1 = as_tensor(x1)
    one = th.ones_like(x1)
    return th.where(th.lt(x1, 0), th.zeros_like(x1), th.where(th.gt(x1, 0), one, x2 * one))


@eager
def hypot(x1, x2):
    """``sqrt(x1^2 + x2^2)``, scaled by the larger leg so that it does not overflow."""
    x1, x2 = th.abs(as_float(x1)), th.abs(as_float(x2))
    big, small = th.maximum(x1, x2), th.minimum(x1, x2)
    ratio = small / th.where(th.eq(big, 0), th.ones_like(big), big)
    return big * th.sqrt(1 + ratio * ratio)


@eager
def isneginf(x):
    x = as_tensor(x)
    return th.logical_and(th.isinf(x), th.lt(x, 0))


@eager
def isposinf(x):
    x = as_tensor(x)
    return th.logical_and(th.isinf(x), th.gt(x, 0))


@eager
def isreal(x):
    """True everywhere: theanine's tensors are real."""
    return th.ones_like(as_tensor(x), dtype="bool")


@eager
def ldexp(x1, x2):
    """``x1 * 2**x2`` (``x2`` integer)."""
    x1 = as_float(x1)
    return x1 * th.exp2(th.cast(x2, x1.dtype))


@eager
def logaddexp2(x1, x2):
    """``log2(2**x1 + 2**x2)`` without overflow."""
    x1, x2 = as_float(x1), as_float(x2)
    big = th.maximum(x1, x2)
    return big + th.log2(1 + th.exp2(-th.abs(x1 - x2)))


@eager
def sinc(x):
    """``sin(pi x) / (pi x)``, 1 at 0."""
    x = as_float(x)
    safe = th.where(th.eq(x, 0), th.ones_like(x), x) * math.pi
    return th.where(th.eq(x, 0), th.ones_like(x), th.sin(safe) / safe)


@eager
def trunc(x):
    """Rounding towards zero; integers are returned unchanged."""
    x = as_tensor(x)
    if not x.dtype.startswith("float"):
        return x
    return th.where(th.lt(x, 0), th.ceil(x), th.floor(x))


@eager
def allclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """Whether every element is close (``isclose``)."""
    return th.all(th.isclose(x1, x2, rtol, atol, equal_nan))


# ----------------------------------------------------------------------------- shapes


def _sections(x, indices_or_sections, axis: int, what: str) -> list:
    """``x`` split as ``np.array_split``: n sections, the first ``size % n`` one longer."""
    if isinstance(indices_or_sections, (int, np.integer)):
        size = x.type.shape[axis]
        if size is None:
            raise ValueError(f"ops.{what}: axis {axis} of {x.type} needs a static size to split into sections")
        n = int(indices_or_sections)
        if n <= 0:
            raise ValueError(f"ops.{what}: the number of sections must be > 0. Received: {n}")
        lengths = [size // n + (1 if i < size % n else 0) for i in range(n)]
        bounds = np.cumsum([0, *lengths]).tolist()
    else:
        bounds = [0, *[int(i) for i in indices_or_sections], None]
    index = [builtins.slice(None)] * x.ndim
    parts = []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        index[axis] = builtins.slice(start, stop)
        parts.append(x[tuple(index)])
    return parts


@eager
def array_split(x, indices_or_sections, axis: int = 0) -> list:
    """``np.array_split``: sections of unequal length allowed."""
    x = as_tensor(x)
    return _sections(x, indices_or_sections, axis % x.ndim, "array_split")


def _even_split(x, indices_or_sections, axis: int, what: str) -> list:
    x = as_tensor(x)
    if x.ndim <= axis:
        raise ValueError(f"ops.{what} needs a tensor of rank > {axis}. Received: {x.type}")
    if isinstance(indices_or_sections, (int, np.integer)) and x.type.shape[axis] is not None \
            and x.type.shape[axis] % int(indices_or_sections):
        raise ValueError(f"ops.{what}: axis {axis} of size {x.type.shape[axis]} does not split into "
                         f"{indices_or_sections} equal sections")
    return _sections(x, indices_or_sections, axis, what)


@eager
def hsplit(x, indices_or_sections) -> list:
    """Split along axis 1 (axis 0 for a vector), in equal sections."""
    return _even_split(x, indices_or_sections, 1 if as_tensor(x).ndim > 1 else 0, "hsplit")


@eager
def vsplit(x, indices_or_sections) -> list:
    """Split along axis 0, in equal sections."""
    return _even_split(x, indices_or_sections, 0, "vsplit")


@eager
def dsplit(x, indices_or_sections) -> list:
    """Split along axis 2, in equal sections."""
    return _even_split(x, indices_or_sections, 2, "dsplit")


def _atleast_3d(x):
    x = as_tensor(x)
    if x.ndim == 0:
        return th.reshape(x, (1, 1, 1))
    if x.ndim == 1:
        return th.expand_dims(th.expand_dims(x, 0), -1)
    return th.expand_dims(x, -1) if x.ndim == 2 else x


@eager
def dstack(xs):
    """Concatenate along the third axis (after making each at least 3-D as NumPy does)."""
    return th.concatenate([_atleast_3d(x) for x in xs], axis=2)


@eager
def diagflat(x, k: int = 0):
    """A matrix with the flattened ``x`` on its ``k``-th diagonal."""
    return th.diag(th.ravel(x), k)


@eager
def empty_like(x, dtype=None):
    """A tensor of ``x``'s shape (zeros: graph values are always initialized)."""
    return th.zeros_like(x, dtype=dtype)


@eager
def fliplr(x):
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"ops.fliplr needs a tensor of rank >= 2. Received: {x.type}")
    return th.flip(x, 1)


@eager
def flipud(x):
    x = as_tensor(x)
    if x.ndim < 1:
        raise ValueError(f"ops.flipud needs a tensor of rank >= 1. Received: {x.type}")
    return th.flip(x, 0)


@eager
def rot90(array, k: int = 1, axes=(0, 1)):
    """Rotate by 90 degrees ``k`` times in the plane ``axes`` (from the first towards the second)."""
    x = as_tensor(array)
    if len(axes) != 2 or x.ndim < 2:
        raise ValueError(f"ops.rot90 needs two axes of a tensor of rank >= 2. Received axes={axes}, {x.type}")
    a, b = axes[0] % x.ndim, axes[1] % x.ndim
    if a == b:
        raise ValueError(f"ops.rot90: the axes must differ. Received: axes={axes}")
    k %= 4
    if k == 0:
        return x
    if k == 2:
        return th.flip(th.flip(x, a), b)
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    return th.transpose(th.flip(x, b), order) if k == 1 else th.flip(th.transpose(x, order), b)


@eager
def inner(x1, x2):
    """The sum product over the last axes (a product for a scalar)."""
    x1, x2 = as_tensor(x1), as_tensor(x2)
    if x1.ndim == 0 or x2.ndim == 0:
        return x1 * x2
    return th.tensordot(x1, x2, axes=([x1.ndim - 1], [x2.ndim - 1]))


@eager
def kron(x1, x2):
    """The Kronecker product (ranks padded to the larger with leading 1s)."""
    a, b = as_tensor(x1), as_tensor(x2)
    rank = builtins.max(a.ndim, b.ndim)
    a = th.reshape(a, (1,) * (rank - a.ndim) + tuple(dim(a, i) for i in range(a.ndim)))
    b = th.reshape(b, (1,) * (rank - b.ndim) + tuple(dim(b, i) for i in range(b.ndim)))
    a_wide = th.reshape(a, tuple(d for i in range(rank) for d in (dim(a, i), 1)))
    b_wide = th.reshape(b, tuple(d for i in range(rank) for d in (1, dim(b, i))))
    return th.reshape(a_wide * b_wide, tuple(dim(a, i) * dim(b, i) for i in range(rank)))


@eager
def vander(x, N=None, increasing: bool = False):
    """The Vandermonde matrix of the vector ``x``: columns ``x**(N-1) ... x**0`` (or increasing)."""
    x = as_tensor(x)
    if x.ndim != 1:
        raise ValueError(f"ops.vander needs a vector. Received: {x.type}")
    n = dim(x, 0) if N is None else N
    powers = th.arange(n, dtype="int64")
    if not increasing:
        powers = n - 1 - powers
    return th.power(th.expand_dims(x, 1), th.cast(th.expand_dims(powers, 0), x.dtype))
