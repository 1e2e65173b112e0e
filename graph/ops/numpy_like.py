"""The NumPy / ``keras.ops`` names users reach for, built from the existing ops.

Every function here is a composition: its gradient, shape inference and
every backend come from the ops it is made of.  The one new elementary op
they need is ``sorting.ArgSort``.

- arrays and values: ``convert_to_tensor``, ``convert_to_numpy``, ``ndim``,
  ``copy``, ``absolute``, ``amax``, ``amin``, ``ravel``, ``real``, ``imag``,
  ``conj``/``conjugate`` (real tensors only);
- shapes: ``swapaxes``, ``moveaxis``, ``flip``, ``roll``, ``hstack``,
  ``vstack``, ``append``, ``take_along_axis``, ``meshgrid``;
- matrices: ``einsum``, ``trace``, ``diagonal``, ``diag``, ``tri``, ``tril``,
  ``triu``, ``identity``, ``vdot``, ``cross``, ``norm``;
- sorting and statistics: ``sort``, ``argsort``, ``top_k``, ``median``,
  ``quantile``, ``average``, ``count_nonzero``, ``diff``;
- elementwise: ``isfinite``, ``isclose``, ``nan_to_num``, ``logaddexp``,
  ``divide_no_nan``; ranges: ``linspace``, ``logspace``.

Semantics are NumPy's (``einsum`` without ``->`` sums the repeated letters
and orders the rest alphabetically; ``norm`` is ``np.linalg.norm`` except
the matrix norms that need singular values, ord 2, -2 and "nuc"); where
Keras differs it is said (``top_k`` returns ``(values, indices)`` of the
last axis, ties to the lower index).
"""

from __future__ import annotations

import builtins
import math
import string

import numpy as np

from theanine.graph.basic import Constant, Variable, graph_inputs
from theanine.graph.config import config
from theanine.graph.evaluate import evaluate
from theanine.graph.ops.broadcast import broadcast_to
from theanine.graph.ops.creation import arange, eye
from theanine.graph.ops.dimshuffle import DimShuffle, expand_dims, transpose
from theanine.graph.ops.join import concatenate, stack
from theanine.graph.ops.linalg import matmul
from theanine.graph.ops.math import (
    abs,
    cast,
    eq,
    exp,
    isinf,
    isnan,
    log,
    logical_and,
    logical_not,
    logical_or,
    maximum,
    minimum,
    neq,
    power,
    sqrt,
    where,
)
from theanine.graph.ops.reduce import max, mean, min, normalize_axes, sum
from theanine.graph.ops.reshape import flatten, reshape
from theanine.graph.ops.shape_values import shape
from theanine.graph.ops.sorting import argsort
from theanine.graph.shared import SharedVariable
from theanine.graph.tensor import as_tensor_variable, constant
from theanine.graph.type import is_float

__all__ = [
    "convert_to_tensor", "convert_to_numpy", "ndim", "copy", "absolute", "amax", "amin", "ravel",
    "real", "imag", "conj", "conjugate", "swapaxes", "moveaxis", "flip", "roll", "hstack",
    "vstack", "append", "take_along_axis", "meshgrid", "einsum", "trace", "diagonal", "diag",
    "tri", "tril", "triu", "identity", "vdot", "cross", "norm", "sort", "argsort", "top_k",
    "median", "quantile", "average", "count_nonzero", "diff", "isfinite", "isclose",
    "nan_to_num", "logaddexp", "divide_no_nan", "linspace", "logspace",
]


# ----------------------------------------------------------------------------- values


def convert_to_tensor(x, dtype=None):
    """Keras' ``ops.convert_to_tensor``: variables pass (cast to ``dtype``), values become constants."""
    return as_tensor_variable(x, dtype=None if dtype is None else np.dtype(dtype).name)


def convert_to_numpy(x) -> np.ndarray:
    """Keras' ``ops.convert_to_numpy``: the value of ``x`` as an ndarray.

    A shared variable gives a copy of its value; an expression is evaluated
    with the reference interpreter when it depends on no free input (else a
    ValueError names the inputs it needs).
    """
    if isinstance(x, SharedVariable):
        return x.get_value()
    if isinstance(x, Constant):
        return np.array(x.data)
    if not isinstance(x, Variable):
        return np.asarray(x)
    missing = [v for v in graph_inputs([x]) if not isinstance(v, (Constant, SharedVariable))]
    if missing:
        names = [v.label() for v in missing]
        raise ValueError(
            f"convert_to_numpy: {x.label()} depends on the free input(s) {names}; give them "
            "values (th.function or x.eval-style evaluation) first"
        )
    return np.asarray(evaluate([x], {})[0])


def ndim(x) -> int:
    return as_tensor_variable(x).ndim


def copy(x):
    """``x`` itself: graph values are immutable, so a copy is the same value."""
    return as_tensor_variable(x)


def absolute(x):
    return abs(x)


def amax(x, axis=None, keepdims: bool = False):
    return max(x, axis=axis, keepdims=keepdims)


def amin(x, axis=None, keepdims: bool = False):
    return min(x, axis=axis, keepdims=keepdims)


def ravel(x):
    return flatten(as_tensor_variable(x))


def _real_only(x, what: str):
    x = as_tensor_variable(x)
    if x.dtype.startswith("complex"):
        raise TypeError(f"{what}: complex tensors are not supported. Received dtype {x.dtype}")
    return x


def real(x):
    """The real part: ``x`` itself (tensors are real)."""
    return _real_only(x, "real")


def imag(x):
    """The imaginary part of a real tensor: zeros of its shape and dtype."""
    x = _real_only(x, "imag")
    return x * 0


def conj(x):
    return _real_only(x, "conj")


conjugate = conj


# ----------------------------------------------------------------------------- shapes


def _axis(axis: int, rank: int, what: str) -> int:
    return normalize_axes(axis, rank, what)[0]


def swapaxes(x, axis1: int, axis2: int):
    x = as_tensor_variable(x)
    order = list(range(x.ndim))
    a, b = _axis(axis1, x.ndim, "swapaxes"), _axis(axis2, x.ndim, "swapaxes")
    order[a], order[b] = order[b], order[a]
    return transpose(x, tuple(order))


def moveaxis(x, source, destination):
    """NumPy's ``moveaxis`` for one axis or sequences of axes."""
    x = as_tensor_variable(x)
    sources = [source] if isinstance(source, (int, np.integer)) else list(source)
    targets = [destination] if isinstance(destination, (int, np.integer)) else list(destination)
    if len(sources) != len(targets):
        raise ValueError("moveaxis: source and destination must have the same number of axes")
    sources = [_axis(a, x.ndim, "moveaxis") for a in sources]
    targets = [_axis(a, x.ndim, "moveaxis") for a in targets]
    order = [a for a in range(x.ndim) if a not in sources]
    for target, src in sorted(zip(targets, sources, strict=True)):
        order.insert(target, src)
    return transpose(x, tuple(order))


def flip(x, axis=None):
    x = as_tensor_variable(x)
    axes = normalize_axes(axis, x.ndim, "flip")
    return x[tuple(slice(None, None, -1) if a in axes else slice(None) for a in range(x.ndim))]


def roll(x, shift, axis=None):
    """NumPy's ``roll`` with int shifts (``axis=None`` rolls the flattened tensor)."""
    x = as_tensor_variable(x)
    if axis is None:
        return reshape(roll(flatten(x), shift, 0), shape(x))
    shifts = [shift] if isinstance(shift, (int, np.integer)) else list(shift)
    axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    if len(shifts) != len(axes):
        raise ValueError("roll: shift and axis must have the same length")
    for amount, a in zip(shifts, axes, strict=True):
        a = _axis(a, x.ndim, "roll")
        n = shape(x)[a]
        x = x[(slice(None),) * a + ((arange(n) - int(amount)) % maximum(n, 1),)]
    return x


def hstack(xs):
    xs = [as_tensor_variable(x) for x in xs]
    return concatenate(xs, axis=0 if builtins.all(x.ndim == 1 for x in xs) else 1)


def vstack(xs):
    xs = [as_tensor_variable(x) for x in xs]
    return concatenate([x if x.ndim >= 2 else reshape(x, (1, -1)) for x in xs], axis=0)


def append(x, values, axis=None):
    if axis is None:
        return concatenate([ravel(x), ravel(values)], axis=0)
    return concatenate([as_tensor_variable(x), as_tensor_variable(values)], axis=axis)


def take_along_axis(x, indices, axis: int = -1):
    """NumPy's ``take_along_axis``: ``indices`` of ``x``'s rank pick entries along ``axis``."""
    x, indices = as_tensor_variable(x), as_tensor_variable(indices)
    if indices.ndim != x.ndim:
        raise ValueError(
            f"take_along_axis: indices must have the rank of x ({x.ndim}). Received rank "
            f"{indices.ndim}"
        )
    axis = _axis(axis, x.ndim, "take_along_axis")
    index = []
    for a in range(x.ndim):
        if a == axis:
            index.append(indices)
        else:
            pattern = ["x"] * x.ndim
            pattern[a] = 0
            index.append(DimShuffle(pattern)(arange(shape(x)[a])))
    return x[tuple(index)]


def meshgrid(*xs, indexing: str = "xy"):
    """NumPy's ``meshgrid`` of 1-D tensors (``indexing`` "xy" or "ij")."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij'. Received: {indexing!r}")
    xs = [as_tensor_variable(x) for x in xs]
    order = list(range(len(xs)))
    if indexing == "xy" and len(xs) > 1:
        order[0], order[1] = 1, 0  # the first tensor varies along the columns
    target = [None] * len(xs)
    for k, x in enumerate(xs):
        target[order[k]] = shape(x)[0]
    grids = []
    for k, x in enumerate(xs):
        pattern = ["x"] * len(xs)
        pattern[order[k]] = 0
        grids.append(broadcast_to(DimShuffle(pattern)(x), target))
    return grids


# ----------------------------------------------------------------------------- einsum


def _parse_einsum(subscripts: str, ranks: list[int]) -> tuple[list[str], str]:
    """Each operand's letters and the output's, with ``...`` spelled out in spare letters."""
    spec = subscripts.replace(" ", "")
    inputs_text, arrow, output = spec.partition("->")
    inputs = inputs_text.split(",")
    if len(inputs) != len(ranks):
        raise ValueError(
            f"einsum: {subscripts!r} names {len(inputs)} operand(s), {len(ranks)} were given"
        )
    used = set(spec) - set(".,->")
    bad = sorted(c for c in used if c not in string.ascii_letters)
    if bad:
        raise ValueError(f"einsum: subscripts must be letters. Received {bad} in {subscripts!r}")
    spare = [c for c in string.ascii_letters if c not in used]
    widths = [rank - (len(term) - 3) if "..." in term else 0 for term, rank in zip(inputs, ranks, strict=True)]
    ellipsis = spare[: builtins.max(widths, default=0)]
    expanded = []
    for term, rank, width in zip(inputs, ranks, widths, strict=True):
        term = term.replace("...", "".join(ellipsis[len(ellipsis) - width:]))
        if len(term) != rank or "." in term:
            raise ValueError(
                f"einsum: operand subscripts {term!r} do not fit a tensor of rank {rank}"
            )
        expanded.append(term)
    if arrow:
        output = output.replace("...", "".join(ellipsis))
        unknown = sorted(set(output) - set("".join(expanded)))
        if unknown or len(set(output)) != len(output):
            raise ValueError(f"einsum: bad output subscripts {output!r} in {subscripts!r}")
    else:
        letters = "".join(expanded)
        output = "".join(ellipsis) + "".join(
            sorted(c for c in set(letters) - set(ellipsis) if letters.count(c) == 1)
        )
    return expanded, output


def _check_einsum_sizes(subscripts: str, terms: list[str], xs: list) -> None:
    """Every letter names axes of one static size (or 1, which broadcasts, as in NumPy); the
    contraction would otherwise fail later inside a reshape or matmul, naming neither einsum nor
    the letter."""
    sizes: dict[str, tuple[int, int]] = {}
    for k, (x, term) in enumerate(zip(xs, terms, strict=True)):
        for letter, size in zip(term, x.type.shape, strict=True):
            if size is None or size == 1:
                continue
            first = sizes.setdefault(letter, (size, k))
            if first[0] != size:
                raise ValueError(
                    f"einsum: subscript {letter!r} of {subscripts!r} has size {first[0]} in operand "
                    f"{first[1]} and size {size} in operand {k}"
                )


def _take_diagonals(x, term: str):
    """Operand ``x`` with each repeated letter of ``term`` reduced to its diagonal."""
    while len(set(term)) != len(term):
        letter = next(c for c in term if term.count(c) > 1)
        first, second = term.index(letter), term.index(letter, term.index(letter) + 1)
        x = diagonal(x, 0, first, second)
        term = "".join(c for k, c in enumerate(term) if k not in (first, second)) + letter
    return x, term


def _sum_out(x, term: str, keep: set):
    """Sum the letters of ``term`` that are not in ``keep``."""
    axes = tuple(k for k, c in enumerate(term) if c not in keep)
    if axes:
        x = sum(x, axis=axes)
        term = "".join(c for c in term if c in keep)
    return x, term


def _contract(a, ta: str, b, tb: str, keep: set):
    """``a`` and ``b`` multiplied and summed over their shared letters not in ``keep``: one
    batched matmul (shared kept letters are the batch)."""
    batch = [c for c in ta if c in tb and c in keep]
    summed = [c for c in ta if c in tb and c not in keep]
    free_a = [c for c in ta if c not in tb]
    free_b = [c for c in tb if c not in ta]
    sa, sb = shape(a), shape(b)
    size = {c: sa[ta.index(c)] for c in ta} | {c: sb[tb.index(c)] for c in tb if c not in ta}
    a = transpose(a, tuple(ta.index(c) for c in batch + free_a + summed))
    b = transpose(b, tuple(tb.index(c) for c in batch + summed + free_b))
    lead = [sa[ta.index(c)] for c in batch]
    a = reshape(a, (*lead, _product(size, free_a), _product(size, summed)))
    b = reshape(b, (*[sb[tb.index(c)] for c in batch], _product(size, summed),
                    _product(size, free_b)))
    product = matmul(a, b)
    lead = [shape(product)[k] for k in range(len(batch))]  # batch sizes after broadcasting
    out = reshape(product, (*lead, *[size[c] for c in free_a + free_b]))
    return out, "".join(batch + free_a + free_b)


def _product(size: dict, letters: list[str]):
    total = 1
    for c in letters:
        total = total * size[c]
    return total


def einsum(subscripts: str, *operands):
    """NumPy's ``einsum`` (``...``, implicit output, repeated letters within an operand).

    Operands are contracted left to right, each pair as one batched matmul.
    """
    xs = [as_tensor_variable(x) for x in operands]
    terms, output = _parse_einsum(subscripts, [x.ndim for x in xs])
    _check_einsum_sizes(subscripts, terms, xs)
    pairs = [_take_diagonals(x, term) for x, term in zip(xs, terms, strict=True)]
    for k, (x, term) in enumerate(pairs):
        later = set(output).union(*[set(t) for _, t in pairs[:k] + pairs[k + 1:]])
        pairs[k] = _sum_out(x, term, later)
    x, term = pairs[0]
    for k in range(1, len(pairs)):
        y, other = pairs[k]
        keep = set(output).union(*[set(t) for _, t in pairs[k + 1:]])
        x, term = _contract(x, term, y, other, keep)
    x, term = _sum_out(x, term, set(output))
    return transpose(x, tuple(term.index(c) for c in output)) if term != output else x


# ----------------------------------------------------------------------------- matrices


def diagonal(x, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """NumPy's ``diagonal``: the diagonal of ``axis1`` x ``axis2`` becomes the last axis."""
    x = as_tensor_variable(x)
    a, b = _axis(axis1, x.ndim, "diagonal"), _axis(axis2, x.ndim, "diagonal")
    if a == b:
        raise ValueError("diagonal: axis1 and axis2 cannot be the same")
    x = moveaxis(x, (a, b), (-2, -1))
    rows, cols = shape(x)[x.ndim - 2], shape(x)[x.ndim - 1]
    offset = int(offset)
    count = maximum(minimum(rows + builtins.min(offset, 0), cols - builtins.max(offset, 0)), 0)
    index = arange(count)
    return x[..., index - builtins.min(offset, 0), index + builtins.max(offset, 0)]


def trace(x, offset: int = 0, axis1: int = 0, axis2: int = 1):
    return sum(diagonal(x, offset, axis1, axis2), axis=-1)


def tri(n, m=None, k: int = 0, dtype=None):
    """NumPy's ``tri``: ones at and below the ``k``-th diagonal (dtype: floatX)."""
    m = n if m is None else m
    below = DimShuffle(["x", 0])(arange(m)) <= DimShuffle([0, "x"])(arange(n)) + int(k)
    return cast(below, dtype or config.floatX)


def tril(x, k: int = 0):
    x = as_tensor_variable(x)
    rows, cols = shape(x)[x.ndim - 2], shape(x)[x.ndim - 1]
    return where(tri(rows, cols, k, "bool"), x, cast(0, x.dtype))


def triu(x, k: int = 0):
    x = as_tensor_variable(x)
    rows, cols = shape(x)[x.ndim - 2], shape(x)[x.ndim - 1]
    return where(tri(rows, cols, int(k) - 1, "bool"), cast(0, x.dtype), x)


def diag(x, k: int = 0):
    """NumPy's ``diag``: a vector's diagonal matrix, or a matrix's ``k``-th diagonal."""
    x = as_tensor_variable(x)
    if x.ndim == 2:
        return diagonal(x, k)
    if x.ndim != 1:
        raise ValueError(f"diag expects a vector or a matrix. Received rank {x.ndim}")
    k = int(k)
    n = shape(x)[0] + builtins.abs(k)
    row, col = DimShuffle([0, "x"])(arange(n)), DimShuffle(["x", 0])(arange(n))
    # entry (i, i + k) holds x[i] above the diagonal, (j - k, j) holds x[j] below it
    values = x[minimum(row if k >= 0 else col, maximum(shape(x)[0] - 1, 0))]
    return where(eq(col - row, k), values, cast(0, x.dtype))


def identity(n, dtype=None):
    return eye(n, dtype=dtype)


def vdot(a, b):
    """The dot product of the flattened tensors."""
    return sum(ravel(a) * ravel(b))


def cross(a, b, axis: int = -1):
    """NumPy's ``cross`` of 3-vectors along ``axis`` (of size 3; 2-vectors are not supported)."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    a, b = moveaxis(a, axis, -1), moveaxis(b, axis, -1)
    if any(t.type.shape[-1] not in (None, 3) for t in (a, b)):
        raise ValueError(
            "cross: the vectors along axis must have size 3. Received shapes "
            f"{a.type.shape} and {b.type.shape}"
        )
    parts = [a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
             a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
             a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]]
    return moveaxis(stack(parts, axis=-1), -1, axis)


def norm(x, ord=None, axis=None, keepdims: bool = False):
    """``np.linalg.norm``: vector norms over one axis, matrix norms over two.

    Without ``axis`` a vector gets its vector norm, a matrix its matrix
    norm, and a tensor of higher rank the 2-norm of all its entries (with
    ``ord`` None).  Matrix norms ord 2, -2 and "nuc" need singular values
    and are not provided.
    """
    x = as_tensor_variable(x)
    x = x if is_float(x.dtype) else cast(x, "float64")
    if axis is None:
        if ord is None:
            result = sqrt(sum(x * x))
            return reshape(result, (1,) * x.ndim) if keepdims else result
        if x.ndim not in (1, 2):
            raise ValueError(f"norm: ord={ord!r} needs a vector or a matrix, or an axis")
        axis = tuple(range(x.ndim))
    axes = tuple(_axis(a, x.ndim, "norm") for a in axis) if isinstance(axis, (tuple, list)) else (
        _axis(axis, x.ndim, "norm"),
    )
    if len(axes) == 1:
        result = _vector_norm(x, ord, axes[0])
    elif len(axes) == 2:
        result = _matrix_norm(x, ord, axes)
    else:
        raise ValueError(f"norm: axis must name one or two axes. Received: axis={axis!r}")
    if keepdims:
        for a in sorted(axes):
            result = expand_dims(result, a)
    return result


def _vector_norm(x, ord, axis: int):
    magnitude = abs(x)
    if ord is None or ord == 2:
        return sqrt(sum(x * x, axis=axis))
    if ord == math.inf:
        return max(magnitude, axis=axis)
    if ord == -math.inf:
        return min(magnitude, axis=axis)
    if ord == 0:
        return sum(cast(neq(x, 0), x.dtype), axis=axis)
    if ord == 1:
        return sum(magnitude, axis=axis)
    if isinstance(ord, str):
        raise ValueError(f"norm: invalid norm order {ord!r} for vectors")
    return power(sum(power(magnitude, float(ord)), axis=axis), 1.0 / float(ord))


def _matrix_norm(x, ord, axes: tuple[int, int]):
    rows, cols = axes
    if ord in (None, "fro"):
        return sqrt(sum(x * x, axis=axes))
    if ord in (2, -2, "nuc"):
        raise ValueError(
            f"norm: the matrix norm ord={ord!r} needs singular values, which are not provided"
        )
    magnitude = abs(x)
    if ord in (1, -1):  # column sums
        sums = sum(magnitude, axis=rows)
        return (max if ord == 1 else min)(sums, axis=cols - (cols > rows))
    if ord in (math.inf, -math.inf):  # row sums
        sums = sum(magnitude, axis=cols)
        return (max if ord == math.inf else min)(sums, axis=rows - (rows > cols))
    raise ValueError(f"norm: invalid norm order {ord!r} for matrices")


# ----------------------------------------------------------------------------- sorting


def sort(x, axis: int = -1):
    """The values of ``x`` sorted along ``axis`` (ascending; gradients flow to ``x``)."""
    x = as_tensor_variable(x)
    if axis is None:
        x, axis = ravel(x), 0
    return take_along_axis(x, argsort(x, axis), axis)


def top_k(x, k: int, sorted: bool = True):
    """Keras' ``ops.top_k``: the ``k`` largest values of the last axis and their indices.

    Values come largest first; equal values in index order (``sorted`` is
    accepted: the result is always sorted).
    """
    x = as_tensor_variable(x)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"top_k: k must be a positive integer. Received: k={k!r}")
    static = x.type.shape[-1] if x.ndim else None
    if x.ndim == 0 or (static is not None and k > static):
        raise ValueError(f"top_k: k={k} exceeds the last axis of a tensor of shape {x.type.shape}")
    indices = argsort(x, -1, descending=True)[..., : int(k)]
    return take_along_axis(x, indices, -1), indices


def _sorted_last(x, axis, keepdims: bool):
    """``x`` sorted along ``axis`` moved last (flattened when None), and how to restore kept dims."""
    x = as_tensor_variable(x)
    x = x if is_float(x.dtype) else cast(x, "float64")
    if axis is None:
        return sort(ravel(x), -1), (tuple(range(x.ndim)) if keepdims else ())
    a = _axis(axis, x.ndim, "median")
    return sort(moveaxis(x, a, -1), -1), ((a,) if keepdims else ())


def _restore(result, kept: tuple[int, ...]):
    for a in kept:
        result = expand_dims(result, a)
    return result


def quantile(x, q, axis=None, keepdims: bool = False):
    """NumPy's ``quantile`` (method "linear"); ``q`` a number or a vector (its axis first)."""
    s, kept = _sorted_last(x, axis, keepdims)
    q = q if isinstance(q, Variable) else constant(np.asarray(q, "float64"))
    if q.ndim > 1:
        raise ValueError(f"quantile: q must be a number or a vector. Received rank {q.ndim}")
    n = shape(s)[s.ndim - 1]
    position = cast(q, s.dtype) * cast(n - 1, s.dtype)
    low = cast(position // 1, "int64")
    high = minimum(low + 1, n - 1)
    weight = position - cast(low, s.dtype)
    result = s[..., low] * (1 - weight) + s[..., high] * weight
    if q.ndim == 0:
        return _restore(result, kept)
    return moveaxis(_restore(result, kept), -1, 0)  # NumPy puts the axis of q first


def median(x, axis=None, keepdims: bool = False):
    """NumPy's ``median``: the mean of the middle two of an even count."""
    s, kept = _sorted_last(x, axis, keepdims)
    n = shape(s)[s.ndim - 1]
    return _restore((s[..., (n - 1) // 2] + s[..., n // 2]) / 2, kept)


# ----------------------------------------------------------------------------- statistics


def average(x, axis=None, weights=None):
    """NumPy's ``average``: weights along ``axis`` (or of ``x``'s shape), normalized by their sum."""
    x = as_tensor_variable(x)
    if weights is None:
        return mean(x, axis=axis)
    weights = as_tensor_variable(weights)
    if weights.ndim == 1 and x.ndim > 1:
        if axis is None:
            raise ValueError("average: 1-D weights need an axis")
        pattern = ["x"] * x.ndim
        pattern[_axis(axis, x.ndim, "average")] = 0
        weights = DimShuffle(pattern)(weights)
    return sum(x * weights, axis=axis) / sum(weights * (x * 0 + 1), axis=axis)


def count_nonzero(x, axis=None):
    return sum(cast(neq(x, 0), "int64"), axis=axis)


def diff(x, n: int = 1, axis: int = -1):
    """NumPy's ``diff``: the ``n``-th discrete difference along ``axis``."""
    x = as_tensor_variable(x)
    a = _axis(axis, x.ndim, "diff")
    before = (slice(None),) * a
    for _ in range(int(n)):
        x = x[before + (slice(1, None),)] - x[before + (slice(None, -1),)]
    return x


# ----------------------------------------------------------------------------- elementwise


def isfinite(x):
    x = as_tensor_variable(x)
    return logical_not(logical_or(isnan(x), isinf(x)))


def isclose(a, b, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False):
    """NumPy's ``isclose``: ``|a - b| <= atol + rtol * |b|`` (infinities equal only to themselves)."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    finite = logical_and(isfinite(a), isfinite(b))
    close = logical_and(finite, abs(a - b) <= atol + rtol * abs(b))
    close = logical_or(close, logical_and(logical_not(finite), eq(a, b)))
    if equal_nan:
        close = logical_or(close, logical_and(isnan(a), isnan(b)))
    return close


def nan_to_num(x, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None):
    """NumPy's ``nan_to_num``: NaN -> ``nan``, infinities -> the dtype's extremes (or given)."""
    x = as_tensor_variable(x)
    if not is_float(x.dtype):
        return x
    info = np.finfo(x.dtype)
    high = info.max if posinf is None else posinf
    low = info.min if neginf is None else neginf
    x = where(isnan(x), constant(nan, x.dtype), x)
    return where(isinf(x), where(x > 0, constant(high, x.dtype), constant(low, x.dtype)), x)


def logaddexp(a, b):
    """``log(exp(a) + exp(b))`` without overflow."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    top = maximum(a, b)
    safe_top = where(isinf(top), cast(0, top.dtype), top)
    return safe_top + log(exp(a - safe_top) + exp(b - safe_top))


def divide_no_nan(a, b):
    """Keras' ``divide_no_nan``: ``a / b``, 0 where ``b`` is 0."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    zero = eq(b, 0)
    return where(zero, 0.0, a / where(zero, cast(1, b.dtype), b))


# ----------------------------------------------------------------------------- ranges


def linspace(start, stop, num: int = 50, endpoint: bool = True, dtype=None):
    """NumPy's ``linspace`` of scalar bounds (float64 unless ``dtype``)."""
    num = int(num)
    if num < 0:
        raise ValueError(f"linspace: num must be >= 0. Received: num={num}")
    steps = builtins.max(num - 1 if endpoint else num, 1)
    start, stop = cast(as_tensor_variable(start), "float64"), cast(as_tensor_variable(stop), "float64")
    values = start + cast(arange(num), "float64") * ((stop - start) / steps)
    if endpoint and num > 1:
        values = concatenate([values[:-1], reshape(stop, (1,))], axis=0)
    return cast(values, dtype or "float64")


def logspace(start, stop, num: int = 50, endpoint: bool = True, base: float = 10.0, dtype=None):
    return cast(power(float(base), linspace(start, stop, num, endpoint)), dtype or "float64")
