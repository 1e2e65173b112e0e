"""The NumPy-like ``keras.ops`` functions theanine's graph library does not name.

Most are compositions of graph functions (so gradients and native code come
with them); the integer, bit-level and special functions are the
``graph/ops/special.py`` rows, ``bincount`` and ``nonzero`` the
``graph/ops/counting.py`` ops (their sizes depend on the values).  Semantics
are NumPy's, with Keras' argument names; where they differ it is said:
``argpartition`` returns a full stable argsort (a valid partition for every
``kth``), ``searchsorted`` and ``isin`` compare every pair (fine for the
sizes they are used with), the ``nan*`` quantiles take a single int axis or
None and ``method="linear"``, and the window functions (``hamming``...)
return ``floatx`` values.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

import theanine as th
from theanine.frontend import config
from theanine.frontend.ops.eager import eager
from theanine.graph.ops import counting, special

__all__ = [
    "allclose", "angle", "argpartition", "array_split", "bartlett", "bincount", "bitwise_invert",
    "bitwise_left_shift", "bitwise_not", "bitwise_right_shift", "blackman", "cbrt", "corrcoef",
    "correlate", "deg2rad", "diagflat", "digitize", "dsplit", "dstack", "empty_like", "fabs", "fliplr",
    "flipud", "fmax", "fmin", "fmod", "gcd", "geomspace", "hamming", "hanning", "heaviside",
    "histogram", "hsplit", "hypot", "i0", "inner", "isin", "isneginf", "isposinf", "isreal", "kaiser",
    "kron", "lcm", "ldexp", "left_shift", "logaddexp2", "nanargmax", "nanargmin", "nancumprod",
    "nancumsum", "nanmax", "nanmean", "nanmedian", "nanmin", "nanpercentile", "nanprod",
    "nanquantile", "nanstd", "nansum", "nanvar", "nextafter", "nonzero", "percentile", "ptp",
    "rad2deg", "right_shift", "rot90", "searchsorted", "select", "signbit", "sinc", "trapezoid",
    "trunc", "unravel_index", "vander", "vsplit", "erfinv",
]


def _t(x):
    return th.as_tensor_variable(x)


def _float(x):
    x = _t(x)
    return x if x.dtype.startswith("float") else th.cast(x, config.floatx())


def _size(x, axis: int):
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
    return special.erfinv(_float(x))


@eager
def i0(x):
    """The modified Bessel function of the first kind, order 0."""
    return special.i0(_float(x))


@eager
def angle(x):
    """The angle of each (real) element: 0 for ``x >= 0``, pi below."""
    x = _float(x)
    return th.arctan2(th.zeros_like(x), x)


@eager
def cbrt(x):
    """The real cube root."""
    x = _float(x)
    return th.sign(x) * th.abs(x) ** (1.0 / 3.0)


@eager
def deg2rad(x):
    return _float(x) * (math.pi / 180.0)


@eager
def rad2deg(x):
    return _float(x) * (180.0 / math.pi)


@eager
def fabs(x):
    """``|x|`` as floats."""
    return th.abs(_float(x))


def _nan_ignoring(pick):
    def op(x1, x2):
        x1, x2 = _t(x1), _t(x2)
        return th.where(th.isnan(x1), x2, th.where(th.isnan(x2), x1, pick(x1, x2)))

    return op


fmax = eager(_nan_ignoring(th.maximum))
fmax.__doc__ = "The elementwise maximum, ignoring NaNs (NumPy's ``fmax``)."
fmin = eager(_nan_ignoring(th.minimum))
fmin.__doc__ = "The elementwise minimum, ignoring NaNs (NumPy's ``fmin``)."


@eager
def heaviside(x1, x2):
    """0 below zero, ``x2`` at zero, 1 above."""
    x1 = _t(x1)
    one = th.ones_like(x1)
    return th.where(th.lt(x1, 0), th.zeros_like(x1), th.where(th.gt(x1, 0), one, x2 * one))


@eager
def hypot(x1, x2):
    """``sqrt(x1^2 + x2^2)``, scaled by the larger leg so that it does not overflow."""
    x1, x2 = th.abs(_float(x1)), th.abs(_float(x2))
    big, small = th.maximum(x1, x2), th.minimum(x1, x2)
    ratio = small / th.where(th.eq(big, 0), th.ones_like(big), big)
    return big * th.sqrt(1 + ratio * ratio)


@eager
def isneginf(x):
    x = _t(x)
    return th.logical_and(th.isinf(x), th.lt(x, 0))


@eager
def isposinf(x):
    x = _t(x)
    return th.logical_and(th.isinf(x), th.gt(x, 0))


@eager
def isreal(x):
    """True everywhere: theanine's tensors are real."""
    return th.ones_like(_t(x), dtype="bool")


@eager
def ldexp(x1, x2):
    """``x1 * 2**x2`` (``x2`` integer)."""
    x1 = _float(x1)
    return x1 * th.exp2(th.cast(x2, x1.dtype))


@eager
def logaddexp2(x1, x2):
    """``log2(2**x1 + 2**x2)`` without overflow."""
    x1, x2 = _float(x1), _float(x2)
    big = th.maximum(x1, x2)
    return big + th.log2(1 + th.exp2(-th.abs(x1 - x2)))


@eager
def sinc(x):
    """``sin(pi x) / (pi x)``, 1 at 0."""
    x = _float(x)
    safe = th.where(th.eq(x, 0), th.ones_like(x), x) * math.pi
    return th.where(th.eq(x, 0), th.ones_like(x), th.sin(safe) / safe)


@eager
def trunc(x):
    """Rounding towards zero; integers are returned unchanged."""
    x = _t(x)
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
    x = _t(x)
    return _sections(x, indices_or_sections, axis % x.ndim, "array_split")


def _even_split(x, indices_or_sections, axis: int, what: str) -> list:
    x = _t(x)
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
    return _even_split(x, indices_or_sections, 1 if _t(x).ndim > 1 else 0, "hsplit")


@eager
def vsplit(x, indices_or_sections) -> list:
    """Split along axis 0, in equal sections."""
    return _even_split(x, indices_or_sections, 0, "vsplit")


@eager
def dsplit(x, indices_or_sections) -> list:
    """Split along axis 2, in equal sections."""
    return _even_split(x, indices_or_sections, 2, "dsplit")


def _atleast_3d(x):
    x = _t(x)
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
    x = _t(x)
    if x.ndim < 2:
        raise ValueError(f"ops.fliplr needs a tensor of rank >= 2. Received: {x.type}")
    return th.flip(x, 1)


@eager
def flipud(x):
    x = _t(x)
    if x.ndim < 1:
        raise ValueError(f"ops.flipud needs a tensor of rank >= 1. Received: {x.type}")
    return th.flip(x, 0)


@eager
def rot90(array, k: int = 1, axes=(0, 1)):
    """Rotate by 90 degrees ``k`` times in the plane ``axes`` (from the first towards the second)."""
    x = _t(array)
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
    x1, x2 = _t(x1), _t(x2)
    if x1.ndim == 0 or x2.ndim == 0:
        return x1 * x2
    return th.tensordot(x1, x2, axes=([x1.ndim - 1], [x2.ndim - 1]))


@eager
def kron(x1, x2):
    """The Kronecker product (ranks padded to the larger with leading 1s)."""
    a, b = _t(x1), _t(x2)
    rank = builtins.max(a.ndim, b.ndim)
    a = th.reshape(a, (1,) * (rank - a.ndim) + tuple(_size(a, i) for i in range(a.ndim)))
    b = th.reshape(b, (1,) * (rank - b.ndim) + tuple(_size(b, i) for i in range(b.ndim)))
    a_wide = th.reshape(a, tuple(d for i in range(rank) for d in (_size(a, i), 1)))
    b_wide = th.reshape(b, tuple(d for i in range(rank) for d in (1, _size(b, i))))
    return th.reshape(a_wide * b_wide, tuple(_size(a, i) * _size(b, i) for i in range(rank)))


@eager
def vander(x, N=None, increasing: bool = False):
    """The Vandermonde matrix of the vector ``x``: columns ``x**(N-1) ... x**0`` (or increasing)."""
    x = _t(x)
    if x.ndim != 1:
        raise ValueError(f"ops.vander needs a vector. Received: {x.type}")
    n = _size(x, 0) if N is None else N
    powers = th.arange(n, dtype="int64")
    if not increasing:
        powers = n - 1 - powers
    return th.power(th.expand_dims(x, 1), th.cast(th.expand_dims(powers, 0), x.dtype))


# ----------------------------------------------------------------------------- statistics and search


@eager
def argpartition(x, kth, axis: int = -1):
    """Indices that partition ``x`` around every ``kth``: a stable argsort, which does for any kth."""
    x = _t(x)
    size = x.type.shape[axis]
    if size is not None and builtins.any(not -size <= k < size for k in np.atleast_1d(kth)):
        raise ValueError(f"ops.argpartition: kth={kth} is out of bounds for axis {axis} of size {size}")
    return th.argsort(x, axis=axis)


@eager
def searchsorted(sorted_sequence, values, side: str = "left"):
    """Where each of ``values`` would be inserted into the sorted vector to keep it sorted."""
    if side not in ("left", "right"):
        raise ValueError(f"ops.searchsorted: side must be 'left' or 'right'. Received: side={side!r}")
    sequence, values = _t(sorted_sequence), _t(values)
    if sequence.ndim != 1:
        raise ValueError(f"ops.searchsorted: sorted_sequence must be a vector. Received: {sequence.type}")
    before = th.lt if side == "left" else th.le
    return th.sum(th.cast(before(sequence, th.expand_dims(values, -1)), "int64"), axis=-1)


@eager
def digitize(x, bins):
    """The index of the bin of each ``x`` (increasing ``bins``, right edges open)."""
    return searchsorted(bins, x, side="right")


@eager
def bincount(x, weights=None, minlength: int = 0, sparse: bool = False):
    """Occurrences (or summed ``weights``) of each non-negative integer; row-wise for a matrix."""
    if sparse:
        raise ValueError("ops.bincount: sparse=True is not supported by theanine")
    return counting.bincount(x, weights, minlength)


@eager
def nonzero(x) -> tuple:
    """The indices of the non-zero entries, one int64 vector per axis."""
    return counting.nonzero(x)


@eager
def histogram(x, bins: int = 10, range=None):
    """``(counts, bin_edges)`` of a vector over ``bins`` equal bins of ``range`` (default: min to max)."""
    x = _float(x)
    if x.ndim != 1:
        raise ValueError(f"ops.histogram needs a vector. Received: {x.type}")
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"ops.histogram: bins must be a positive int. Received: bins={bins!r}")
    low, high = (th.min(x), th.max(x)) if range is None else (th.constant(range[0], x.dtype),
                                                              th.constant(range[1], x.dtype))
    edges = low + (high - low) * th.cast(th.arange(bins + 1), x.dtype) / bins
    inside = th.logical_and(th.ge(x, low), th.le(x, high))
    index = th.clip(searchsorted(edges, x, side="right") - 1, 0, bins - 1)
    counts = th.sum(th.where(th.expand_dims(inside, 1), th.one_hot(index, bins, "int64"), 0), axis=0)
    return counts, edges


@eager
def isin(x1, x2, assume_unique: bool = False, invert: bool = False):
    """Whether each element of ``x1`` occurs in ``x2``."""
    found = th.any(th.eq(th.expand_dims(_t(x1), -1), th.ravel(x2)), axis=-1)
    return th.logical_not(found) if invert else found


@eager
def ptp(x, axis=None, keepdims: bool = False):
    """Peak to peak: ``max - min``."""
    return th.max(x, axis, keepdims) - th.min(x, axis, keepdims)


@eager
def select(condlist, choicelist, default=0):
    """The ``choicelist`` entry of the first true condition, else ``default``."""
    if len(condlist) != len(choicelist) or not condlist:
        raise ValueError(f"ops.select: condlist and choicelist must be non-empty and of the same length. "
                         f"Received {len(condlist)} and {len(choicelist)}")
    result = th.as_tensor_variable(default)
    for condition, choice in reversed(list(zip(condlist, choicelist, strict=True))):
        result = th.where(condition, choice, result)
    return result


@eager
def trapezoid(y, x=None, dx=1.0, axis: int = -1):
    """The integral of ``y`` along ``axis`` by the trapezoidal rule (spacing ``x`` or ``dx``)."""
    y = _float(y)
    axis %= y.ndim
    lead, rest = [builtins.slice(None)] * y.ndim, [builtins.slice(None)] * y.ndim
    lead[axis], rest[axis] = builtins.slice(1, None), builtins.slice(None, -1)
    widths = dx if x is None else th.diff(_float(x), axis=-1 if _t(x).ndim == 1 else axis)
    if x is not None and _t(x).ndim == 1 and y.ndim > 1:
        shape = [1] * y.ndim
        shape[axis] = -1
        widths = th.reshape(widths, tuple(shape))
    return th.sum(widths * (y[tuple(lead)] + y[tuple(rest)]) / 2.0, axis=axis)


@eager
def unravel_index(indices, shape) -> tuple:
    """The coordinates in an array of ``shape`` of each flat index."""
    indices = _t(indices)
    coordinates = []
    for dim in reversed(tuple(shape)):
        coordinates.append(indices % dim)
        indices = indices // dim
    return tuple(reversed(coordinates))


@eager
def corrcoef(x):
    """Pearson correlation coefficients of the rows of ``x`` (variables), clipped to [-1, 1]."""
    x = _float(x)
    if x.ndim == 1:
        x = th.expand_dims(x, 0)
    centered = x - th.mean(x, axis=1, keepdims=True)
    covariance = th.matmul(centered, th.transpose(centered))
    scale = th.sqrt(th.diagonal(covariance))
    return th.clip(covariance / th.outer(scale, scale), -1.0, 1.0)


@eager
def correlate(x1, x2, mode: str = "valid"):
    """NumPy's ``correlate`` of two vectors: ``c[k] = sum_n x1[n + k] * x2[n]`` over the lags of
    ``mode`` ("valid", "same" or "full")."""
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"ops.correlate: mode must be 'valid', 'same' or 'full'. Received: mode={mode!r}")
    a, v = _float(x1), _float(x2)
    if a.ndim != 1 or v.ndim != 1 or a.type.shape[0] is None or v.type.shape[0] is None:
        raise ValueError(f"ops.correlate needs two vectors of static length. Received: {a.type} and {v.type}")
    m, n = a.type.shape[0], v.type.shape[0]
    padded = th.pad(a, [(n - 1, n - 1)])
    full = th.conv(th.reshape(padded, (1, m + 2 * n - 2, 1)), th.reshape(v, (n, 1, 1)))
    full = th.reshape(full, (m + n - 1,))
    if mode == "full":
        return full
    length = builtins.max(m, n) if mode == "same" else builtins.max(m, n) - builtins.min(m, n) + 1
    # NumPy centres "same" on the first operand's side: (n - 1) // 2 lags in, or m // 2 when m < n
    same_start = (n - 1) // 2 if m >= n else m // 2
    start = same_start if mode == "same" else builtins.min(m, n) - 1
    return full[start:start + length]


# ----------------------------------------------------------------------------- NaN-ignoring reductions


def _without_nan(x, fill):
    x = _t(x)
    return th.where(th.isnan(x), th.constant(fill, x.dtype), x) if x.dtype.startswith("float") else x


def _valid_count(x, axis, keepdims: bool):
    return th.sum(th.cast(th.logical_not(th.isnan(x)), x.dtype), axis=axis, keepdims=keepdims)


@eager
def nansum(x, axis=None, keepdims: bool = False):
    return th.sum(_without_nan(x, 0), axis=axis, keepdims=keepdims)


@eager
def nanprod(x, axis=None, keepdims: bool = False):
    return th.prod(_without_nan(x, 1), axis=axis, keepdims=keepdims)


@eager
def nancumsum(x, axis=None, dtype=None):
    x = _without_nan(x, 0)
    return th.cumsum(x if dtype is None else th.cast(x, dtype), axis=axis)


@eager
def nancumprod(x, axis=None, dtype=None):
    x = _without_nan(x, 1)
    return th.cumprod(x if dtype is None else th.cast(x, dtype), axis=axis)


@eager
def nanmean(x, axis=None, keepdims: bool = False):
    """The mean of the non-NaN elements (NaN where there are none)."""
    x = _float(x)
    return nansum(x, axis, keepdims) / _valid_count(x, axis, keepdims)


@eager
def nanvar(x, axis=None, keepdims: bool = False):
    x = _float(x)
    mean = nanmean(x, axis, True)
    return nansum(th.square(x - mean), axis, keepdims) / _valid_count(x, axis, keepdims)


@eager
def nanstd(x, axis=None, keepdims: bool = False):
    return th.sqrt(nanvar(x, axis, keepdims))


def _all_nan(x, axis, keepdims: bool):
    return th.all(th.isnan(x), axis=axis, keepdims=keepdims)


@eager
def nanmax(x, axis=None, keepdims: bool = False):
    """The maximum of the non-NaN elements (NaN where there are none)."""
    x = _t(x)
    if not x.dtype.startswith("float"):
        return th.max(x, axis, keepdims)
    best = th.max(_without_nan(x, -np.inf), axis, keepdims)
    return th.where(_all_nan(x, axis, keepdims), th.constant(np.nan, x.dtype), best)


@eager
def nanmin(x, axis=None, keepdims: bool = False):
    """The minimum of the non-NaN elements (NaN where there are none)."""
    x = _t(x)
    if not x.dtype.startswith("float"):
        return th.min(x, axis, keepdims)
    best = th.min(_without_nan(x, np.inf), axis, keepdims)
    return th.where(_all_nan(x, axis, keepdims), th.constant(np.nan, x.dtype), best)


@eager
def nanargmax(x, axis=None, keepdims: bool = False):
    """The index of the maximum non-NaN element (-1 where all are NaN, as Keras' backends)."""
    x = _t(x)
    index = th.argmax(_without_nan(x, -np.inf), axis, keepdims)
    return th.where(_all_nan(x, axis, keepdims), -1, index) if x.dtype.startswith("float") else index


@eager
def nanargmin(x, axis=None, keepdims: bool = False):
    """The index of the minimum non-NaN element (-1 where all are NaN, as Keras' backends)."""
    x = _t(x)
    index = th.argmin(_without_nan(x, np.inf), axis, keepdims)
    return th.where(_all_nan(x, axis, keepdims), -1, index) if x.dtype.startswith("float") else index


def _check_method(what: str, method: str) -> None:
    if method != "linear":
        raise ValueError(f"ops.{what}: only method='linear' is supported. Received: method={method!r}")


@eager
def percentile(x, q, axis=None, method: str = "linear", keepdims: bool = False):
    """The ``q``-th percentiles (``quantile`` of ``q / 100``)."""
    _check_method("percentile", method)
    return th.quantile(x, _t(q) / 100.0, axis, keepdims)


@eager
def nanquantile(x, q, axis=None, method: str = "linear", keepdims: bool = False):
    """Quantiles of the non-NaN elements along an int ``axis`` or all (NaN where there are none)."""
    _check_method("nanquantile", method)
    x = _float(x)
    if axis is not None and not isinstance(axis, (int, np.integer)):
        raise ValueError(f"ops.nanquantile: axis must be an int or None. Received: axis={axis!r}")
    moved = th.ravel(x) if axis is None else th.moveaxis(x, int(axis), -1)
    ordered = th.sort(_without_nan(moved, np.inf), axis=-1)
    count = th.sum(th.cast(th.logical_not(th.isnan(moved)), "int64"), axis=-1, keepdims=True)
    q = th.cast(q, x.dtype)
    qs = th.reshape(q, (-1,) + (1,) * ordered.ndim)  # the quantiles on a new first axis
    last = th.maximum(count - 1, 0)[None]
    positions = qs * th.cast(last, x.dtype)
    low = th.cast(th.floor(positions), "int64")
    high = th.minimum(low + 1, last)
    weight = positions - th.cast(low, x.dtype)
    stacked = th.broadcast_to(ordered[None], (qs.shape[0], *[_size(ordered, i) for i in range(ordered.ndim)]))
    value = th.take_along_axis(stacked, low, -1) * (1 - weight) + th.take_along_axis(stacked, high, -1) * weight
    value = th.where(th.eq(count[None], 0), th.constant(np.nan, x.dtype), value)[..., 0]
    if keepdims:
        value = th.expand_dims(value, -1) if axis is None else th.expand_dims(value, int(axis) % x.ndim + 1)
        if axis is None:
            value = th.reshape(value, (-1,) + (1,) * x.ndim)
    return value if q.ndim else value[0]


@eager
def nanpercentile(x, q, axis=None, method: str = "linear", keepdims: bool = False):
    """``nanquantile`` of ``q / 100``."""
    return nanquantile(x, _t(q) / 100.0, axis, method, keepdims)


@eager
def nanmedian(x, axis=None, keepdims: bool = False):
    """The median of the non-NaN elements."""
    return nanquantile(x, 0.5, axis, "linear", keepdims)


# ----------------------------------------------------------------------------- windows and ranges


def _window_positions(x):
    n = th.cast(x, "int64")
    return n, th.cast(th.arange(n), "float64"), th.cast(th.maximum(n - 1, 1), "float64")


def _window(values, n):
    """The window as floatx; a window of one sample is [1], as in NumPy."""
    return th.cast(th.where(th.eq(n, 1), th.ones_like(values), values), config.floatx())


@eager
def bartlett(x):
    """The Bartlett (triangular) window of ``x`` samples."""
    n, k, m = _window_positions(x)
    return _window(1 - th.abs(2 * k / m - 1), n)


@eager
def hanning(x):
    n, k, m = _window_positions(x)
    return _window(0.5 - 0.5 * th.cos(2 * math.pi * k / m), n)


@eager
def hamming(x):
    n, k, m = _window_positions(x)
    return _window(0.54 - 0.46 * th.cos(2 * math.pi * k / m), n)


@eager
def blackman(x):
    n, k, m = _window_positions(x)
    angle_ = 2 * math.pi * k / m
    return _window(0.42 - 0.5 * th.cos(angle_) + 0.08 * th.cos(2 * angle_), n)


@eager
def kaiser(x, beta):
    """The Kaiser window: ``i0(beta sqrt(1 - (2k/(n-1) - 1)^2)) / i0(beta)``."""
    n, k, m = _window_positions(x)
    ratio = 2 * k / m - 1
    beta = th.cast(beta, "float64")
    return _window(special.i0(beta * th.sqrt(th.maximum(1 - ratio * ratio, 0))) / special.i0(beta), n)


@eager
def geomspace(start, stop, num: int = 50, endpoint: bool = True, dtype=None, axis: int = 0):
    """Numbers spaced evenly on a log scale from ``start`` to ``stop`` (same signs, non-zero)."""
    start, stop = th.cast(start, "float64"), th.cast(stop, "float64")
    sign = th.sign(start)
    logs = th.linspace(th.log10(th.abs(start)), th.log10(th.abs(stop)), num, endpoint=endpoint, dtype="float64")
    values = sign * th.power(10.0, logs)
    if num > 0:
        values = th.set_subtensor(values[0], start)
        if endpoint and num > 1:
            values = th.set_subtensor(values[-1], stop)
    if values.ndim > 1 and axis != 0:
        values = th.moveaxis(values, 0, axis)
    return th.cast(values, dtype or config.floatx())
