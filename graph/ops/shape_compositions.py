"""``repeat``, ``tile``, ``pad`` and ``specify_shape``: compositions of the shape ops, differentiated
through them."""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Variable
from theanine.graph.ops.broadcast import broadcast_to
from theanine.graph.ops.creation import full
from theanine.graph.ops.dimshuffle import DimShuffle, expand_dims, normalize_axis
from theanine.graph.ops.join import Join, concatenate, int_list, split
from theanine.graph.ops.reshape import flatten, reshape
from theanine.graph.ops.shape_values import axis_sizes, size_product, with_axis_size
from theanine.graph.tensor import as_tensor_variable


def repeat(x, repeats, axis: int | None = None):
    """``np.repeat``: ``repeats`` is an int or a constant int array (a count per element).

    ``axis=None`` repeats the elements of the flattened tensor.  An array of
    counts needs the axis's static length and builds one piece per element.
    """
    x = as_tensor_variable(x)
    counts = int_list(repeats, "repeat", "repeats")
    if any(c < 0 for c in counts):
        raise ValueError(f"repeat: repeats must be >= 0. Received: repeats={counts}")
    if axis is None:
        x, axis = flatten(x, 1), 0
    axis = normalize_axis(axis, x.ndim, "repeat")
    if len(counts) == 1:
        return _repeat_each(x, counts[0], axis)
    length = x.type.shape[axis]
    if length is None:
        raise ValueError(
            f"repeat: an array of repeats needs the static length of axis {axis}; "
            f"the tensor has type {x.type}"
        )
    if len(counts) != length:
        raise ValueError(f"repeat: got {len(counts)} repeats for axis {axis} of length {length}")
    pieces = split(x, length, axis)
    blocks = [_repeat_each(piece, c, axis) for piece, c in zip(pieces, counts, strict=True) if c]
    if not blocks:
        return _repeat_each(x, 0, axis)
    return concatenate(blocks, axis) if len(blocks) > 1 else blocks[0]


def _repeat_each(x: Variable, count: int, axis: int) -> Variable:
    """Each element along ``axis`` ``count`` times: broadcast along a new axis, then reshape."""
    dims = axis_sizes(x)
    if dims[axis] == 1:
        return broadcast_to(x, with_axis_size(dims, axis, count))
    expanded = broadcast_to(
        expand_dims(x, axis + 1), dims[: axis + 1] + (count,) + dims[axis + 1 :]
    )
    return reshape(expanded, with_axis_size(dims, axis, size_product([dims[axis], count])))


def tile(x, reps):
    """``np.tile``: ``reps`` is an int or ints; the shorter of x's rank and reps gets leading 1s."""
    x = as_tensor_variable(x)
    reps = int_list(reps, "tile", "reps")
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: reps must be >= 0. Received: reps={reps}")
    ndim = max(x.ndim, len(reps))
    reps = [1] * (ndim - len(reps)) + reps
    if x.ndim < ndim:
        x = DimShuffle(["x"] * (ndim - x.ndim) + list(range(x.ndim)))(x)
    pattern, target, final = [], [], []
    for axis, (r, dim) in enumerate(zip(reps, axis_sizes(x), strict=True)):
        if r != 1 and dim != 1:
            pattern += ["x", axis]
            target += [r, dim]
        else:
            pattern.append(axis)
            target.append(dim if r == 1 else r)
        final.append(size_product([r, dim]))
    if all(r == 1 for r in reps):
        return x
    tiled = broadcast_to(DimShuffle(pattern)(x), tuple(target))
    return reshape(tiled, tuple(final)) if len(target) != ndim else tiled


def pad(x, pad_width, mode: str = "constant", constant_values=0):
    """``np.pad`` in ``mode="constant"``: ``pad_width`` and ``constant_values`` as NumPy takes them.

    Values are cast to x's dtype as NumPy's assignment casts them (1.7 pads
    an int tensor with 1).  Other modes raise NotImplementedError.
    """
    if mode != "constant":
        raise NotImplementedError(
            f"pad: only mode='constant' is implemented. Received: mode={mode!r} "
            "(build other modes from concatenate and indexing)"
        )
    x = as_tensor_variable(x)
    widths = _as_pairs(pad_width, x.ndim, "pad_width")
    values = _value_pairs(constant_values, x.ndim)
    for axis in range(x.ndim):
        x = _pad_axis(x, axis, widths[axis], values[axis])
    return x


def _pad_axis(x: Variable, axis: int, widths: tuple[int, int], values: tuple) -> Variable:
    pieces = [x]
    dims = axis_sizes(x)
    if widths[0]:
        pieces.insert(0, full(with_axis_size(dims, axis, widths[0]), values[0], dtype=x.dtype))
    if widths[1]:
        pieces.append(full(with_axis_size(dims, axis, widths[1]), values[1], dtype=x.dtype))
    return Join(axis)(*pieces) if len(pieces) > 1 else x


def _as_pairs(value, ndim: int, what: str) -> list[tuple[int, int]]:
    """NumPy's ``pad_width`` forms: n, (n,), (before, after), ((before, after),), pairs per axis."""
    array = np.asarray(value)
    if array.size and array.dtype.kind not in "iu":
        raise TypeError(f"pad: `{what}` must hold ints. Received: {value!r}")
    try:
        pairs = np.broadcast_to(array.astype("int64"), (ndim, 2))
    except ValueError:
        raise ValueError(
            f"pad: `{what}` does not fit a tensor of rank {ndim}. Received: {value!r}"
        ) from None
    if np.any(pairs < 0):
        raise ValueError(f"pad: `{what}` must be >= 0. Received: {value!r}")
    return [(int(a), int(b)) for a, b in pairs]


def _value_pairs(value, ndim: int) -> list[tuple]:
    """``constant_values`` as (before, after) per axis: a number, a scalar variable or pairs."""
    if isinstance(value, Variable):
        if value.ndim != 0:
            raise ValueError(
                f"pad: a symbolic constant_values must be a scalar. Received: {value.type}"
            )
        return [(value, value)] * ndim
    array = np.asarray(value)
    try:
        pairs = np.broadcast_to(array, (ndim, 2))
    except ValueError:
        raise ValueError(
            f"pad: `constant_values` does not fit a tensor of rank {ndim}. Received: {value!r}"
        ) from None
    return [(a, b) for a, b in pairs]


def specify_shape(x, shape):
    """``x`` with the static shape ``shape`` (PyTensor's ``specify_shape``; None keeps a dimension as
    it is).  A static dimension that disagrees raises ValueError now; one known only at run time is
    checked when the function runs (``broadcast_to``, which broadcasts only static size-1 axes, so a
    run-time size other than the one given is an error, never a broadcast)."""
    x = as_tensor_variable(x)
    shape = tuple(shape)
    if len(shape) != x.ndim:
        raise ValueError(f"specify_shape: {len(shape)} dimensions given for an input of {x.ndim} "
                         f"(type {x.type})")
    for axis, (known, wanted) in enumerate(zip(x.type.shape, shape, strict=True)):
        if wanted is not None and (not isinstance(wanted, (int, np.integer)) or wanted < 0):
            raise TypeError(f"specify_shape: dimension {axis} must be a non-negative int or None. "
                            f"Received: {wanted!r}")
        if wanted is not None and known is not None and known != wanted:
            raise ValueError(f"specify_shape: dimension {axis} of the input has static size {known}, "
                             f"expected {wanted} (input type {x.type})")
    if all(wanted is None or known == wanted for known, wanted in zip(x.type.shape, shape, strict=True)):
        return x
    sizes = axis_sizes(x)
    return broadcast_to(x, [sizes[axis] if wanted is None else int(wanted) for axis, wanted in enumerate(shape)])
