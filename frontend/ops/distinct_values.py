"""Keras' ``ops.unique``: the sorted distinct values, with first indices, inverse and counts.

On arrays it is ``np.unique`` (any ``axis``), its outputs cut or padded to
``size`` when given, as Keras documents: values padded with ``fill_value``
(default 0), counts with 0, first indices with the first unique's index
(JAX's choice).  A graph tensor's distinct values have no static count, so
the symbolic form needs the static ``size`` (and ``axis=None``), as
Keras' compiled backends do: it sorts the flattened input, numbers the runs
of equal values, and scatters each run's value, first index and length to
its number; runs numbered ``size`` or more are dropped.  Index outputs are
int32, as Keras returns them.
"""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.frontend.ops.eager import is_symbolic

__all__ = ["unique"]


def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False, axis=None,  # noqa: A002
           size=None, fill_value=None):
    """The unique elements of ``x`` (a tuple with the asked-for extras, in Keras' order)."""
    if size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1):
        raise ValueError(f"ops.unique: size must be a positive int or None. Received: size={size!r}")
    flags = (return_index, return_inverse, return_counts)
    fill = 0 if fill_value is None else fill_value
    if is_symbolic(x):
        outputs = _symbolic(th.as_tensor_variable(x), size, fill, axis)
    else:
        outputs = _eager(np.asarray(x), size, fill, axis)
    chosen = [outputs[0], *(out for out, flag in zip(outputs[1:], flags, strict=True) if flag)]
    return chosen[0] if len(chosen) == 1 else tuple(chosen)


def _eager(x: np.ndarray, size, fill, axis) -> list:
    values, index, inverse, counts = np.unique(x, return_index=True, return_inverse=True, return_counts=True,
                                               axis=axis)
    inverse = inverse.reshape(x.shape) if axis is None else inverse.reshape(-1)
    if size is not None:
        dim = 0 if axis is None else axis % x.ndim
        missing = size - values.shape[dim]
        values = np.take(values, range(min(size, values.shape[dim])), axis=dim)
        index, counts = index[:size], counts[:size]
        if missing > 0:
            widths = [(0, 0)] * values.ndim
            widths[dim] = (0, missing)
            values = np.pad(values, widths, constant_values=fill)
            index = np.pad(index, (0, missing), constant_values=index[0] if index.size else 0)
            counts = np.pad(counts, (0, missing))
    return [values, *(a.astype("int32") for a in (index, inverse, counts))]


def _symbolic(x, size, fill, axis) -> list:
    if size is None or axis is not None:
        raise ValueError("ops.unique on a graph tensor needs a static size and axis=None (the number of "
                         f"distinct values is not known when the graph is built). Received: size={size!r}, "
                         f"axis={axis!r}")
    flat = th.flatten(x)
    order = th.argsort(flat)
    ordered = flat[order]
    first_of_run = th.logical_or(th.eq(th.arange(flat.shape[0]), 0), th.neq(ordered, th.roll(ordered, 1)))
    starts = th.cast(first_of_run, "int32")
    runs = th.cumsum(starts) - 1  # the run number of each sorted element
    slot = th.minimum(runs, size)  # runs past size land in a dropped extra slot
    first = th.eq(starts, 1)
    slots = th.where(first, slot, size)
    values = th.set_subtensor(th.full((size + 1,), fill, dtype=x.dtype)[slots], ordered)[:size]
    index = th.set_subtensor(th.zeros((size + 1,), dtype="int32")[slots], th.cast(order, "int32"))[:size]
    counts = th.inc_subtensor(th.zeros((size + 1,), dtype="int32")[slot], th.ones_like(slot))[:size]
    found = th.minimum(th.sum(starts), size)
    index = th.where(th.lt(th.arange(size), found), index, index[0])
    inverse = th.reshape(th.set_subtensor(th.zeros_like(runs)[order], runs), x.shape).astype("int32")
    return [values, index, inverse, counts]
