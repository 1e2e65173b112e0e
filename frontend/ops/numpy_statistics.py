"""Keras' NumPy-like statistics, search, NaN-ignoring reductions and window functions.

Compositions of graph functions, except ``bincount`` and ``nonzero``, the
``graph/ops/counting.py`` ops (their sizes depend on the values).
Semantics are NumPy's, with Keras' argument names; where they differ it is
said: ``argpartition`` returns a full stable argsort (a valid partition for
every ``kth``), ``searchsorted`` and ``isin`` compare every pair (fine for
the sizes they are used with), the ``nan*`` quantiles take a single int
axis or None and ``method="linear"``, ``nanargmax``/``nanargmin`` give -1
for an all-NaN slice, and the window functions (``hamming``...) return
``floatx`` values.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

import theanine as th
from theanine.frontend import config
from theanine.frontend.ops.eager import eager
from theanine.frontend.ops.numpy_extra import as_float, as_tensor, dim
from theanine.graph.ops import counting, special

__all__ = [
    "argpartition", "bartlett", "bincount", "blackman", "corrcoef", "correlate", "digitize", "geomspace",
    "hamming", "hanning", "histogram", "isin", "kaiser", "nanargmax", "nanargmin", "nancumprod", "nancumsum",
    "nanmax", "nanmean", "nanmedian", "nanmin", "nanpercentile", "nanprod", "nanquantile", "nanstd",
    "nansum", "nanvar", "nonzero", "percentile", "ptp", "searchsorted", "select", "trapezoid",
    "unravel_index",
]


# ----------------------------------------------------------------------------- statistics and search


@eager
def argpartition(x, kth, axis: int = -1):
    """Indices that partition ``x`` around every ``kth``: a stable argsort, which does for any kth."""
    x = as_tensor(x)
    size = x.type.shape[axis]
    if size is not None and builtins.any(not -size <= k < size for k in np.atleast_1d(kth)):
        raise ValueError(f"ops.argpartition: kth={kth} is out of bounds for axis {axis} of size {size}")
    return th.argsort(x, axis=axis)


@eager
def searchsorted(sorted_sequence, values, side: str = "left"):
    """Where each of ``values`` would be inserted into the sorted vector to keep it sorted."""
    if side not in ("left", "right"):
        raise ValueError(f"ops.searchsorted: side must be 'left' or 'right'. Received: side={side!r}")
    sequence, values = as_tensor(sorted_sequence), as_tensor(values)
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
    x = as_float(x)
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
    found = th.any(th.eq(th.expand_dims(as_tensor(x1), -1), th.ravel(x2)), axis=-1)
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
    y = as_float(y)
    axis %= y.ndim
    lead, rest = [builtins.slice(None)] * y.ndim, [builtins.slice(None)] * y.ndim
    lead[axis], rest[axis] = builtins.slice(1, None), builtins.slice(None, -1)
    widths = dx if x is None else th.diff(as_float(x), axis=-1 if as_tensor(x).ndim == 1 else axis)
    if x is not None and as_tensor(x).ndim == 1 and y.ndim > 1:
        shape = [1] * y.ndim
        shape[axis] = -1
        widths = th.reshape(widths, tuple(shape))
    return th.sum(widths * (y[tuple(lead)] + y[tuple(rest)]) / 2.0, axis=axis)


@eager
def unravel_index(indices, shape) -> tuple:
    """The coordinates in an array of ``shape`` of each flat index."""
    indices = as_tensor(indices)
    coordinates = []
    for size in reversed(tuple(shape)):
        coordinates.append(indices % size)
        indices = indices // size
    return tuple(reversed(coordinates))


@eager
def corrcoef(x):
    """Pearson correlation coefficients of the rows of ``x`` (variables), clipped to [-1, 1]."""
    x = as_float(x)
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
    a, v = as_float(x1), as_float(x2)
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
    x = as_tensor(x)
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
    x = as_float(x)
    return nansum(x, axis, keepdims) / _valid_count(x, axis, keepdims)


@eager
def nanvar(x, axis=None, keepdims: bool = False):
    x = as_float(x)
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
    x = as_tensor(x)
    if not x.dtype.startswith("float"):
        return th.max(x, axis, keepdims)
    best = th.max(_without_nan(x, -np.inf), axis, keepdims)
    return th.where(_all_nan(x, axis, keepdims), th.constant(np.nan, x.dtype), best)


@eager
def nanmin(x, axis=None, keepdims: bool = False):
    """The minimum of the non-NaN elements (NaN where there are none)."""
    x = as_tensor(x)
    if not x.dtype.startswith("float"):
        return th.min(x, axis, keepdims)
    best = th.min(_without_nan(x, np.inf), axis, keepdims)
    return th.where(_all_nan(x, axis, keepdims), th.constant(np.nan, x.dtype), best)


@eager
def nanargmax(x, axis=None, keepdims: bool = False):
    """The index of the maximum non-NaN element (-1 where all are NaN, as Keras' backends)."""
    x = as_tensor(x)
    index = th.argmax(_without_nan(x, -np.inf), axis, keepdims)
    return th.where(_all_nan(x, axis, keepdims), -1, index) if x.dtype.startswith("float") else index


@eager
def nanargmin(x, axis=None, keepdims: bool = False):
    """The index of the minimum non-NaN element (-1 where all are NaN, as Keras' backends)."""
    x = as_tensor(x)
    index = th.argmin(_without_nan(x, np.inf), axis, keepdims)
    return th.where(_all_nan(x, axis, keepdims), -1, index) if x.dtype.startswith("float") else index


def _check_method(what: str, method: str) -> None:
    if method != "linear":
        raise ValueError(f"ops.{what}: only method='linear' is supported. Received: method={method!r}")


@eager
def percentile(x, q, axis=None, method: str = "linear", keepdims: bool = False):
    """The ``q``-th percentiles (``quantile`` of ``q / 100``)."""
    _check_method("percentile", method)
    return th.quantile(x, as_tensor(q) / 100.0, axis, keepdims)


@eager
def nanquantile(x, q, axis=None, method: str = "linear", keepdims: bool = False):
    """Quantiles of the non-NaN elements along an int ``axis`` or all (NaN where there are none)."""
    _check_method("nanquantile", method)
    x = as_float(x)
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
    stacked = th.broadcast_to(ordered[None], (qs.shape[0], *[dim(ordered, i) for i in range(ordered.ndim)]))
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
    return nanquantile(x, as_tensor(q) / 100.0, axis, method, keepdims)


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
