"""ONNX ScatterElements / ScatterND with ``reduction`` mul, max or min, exactly, in rounds of distinct writes.

ONNX applies the updates one after another, so repeated indices combine
(``np.multiply.at``); theanine's scatters set or add.  The updates are
sorted by the flat index they go to (stably), each one ranked among those
going to the same place (0 for the first); round ``r`` (a ``th.scan`` over
``max(rank) + 1`` rounds, one when the indices are distinct) scatters the
rank-``r`` updates, at most one per place, into a tensor of the reduction's
identity and combines it with the running result.  Updates of other ranks
go to one spare slot past the end.  Every backend then computes the same
values, in ONNX's order, with no reliance on the order of writes.
"""

from __future__ import annotations

import numpy as np

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.reader import Unsupported

COMBINE = {"mul": th.multiply, "max": th.maximum, "min": th.minimum}


def _identity(reduction: str, dtype: str):
    if reduction == "mul":
        return 1
    if np.dtype(dtype).kind == "f":
        return -np.inf if reduction == "max" else np.inf
    info = np.iinfo(dtype) if dtype != "bool" else None
    if info is None:
        raise Unsupported(f"reduction={reduction!r} of bool data")
    return info.min if reduction == "max" else info.max


def _flat_targets(data, where: tuple, updates):
    """The flat index in ``data`` each element of ``updates`` goes to (``data[where] = updates``; the
    index arrays of ``where`` cover ``data``'s leading axes, in front of ``updates``' other axes)."""
    lead = max(w.ndim for w in where)
    sizes = th.shape(data)
    flat = th.zeros((), dtype="int64")
    for axis in range(data.ndim):
        if axis < len(where):
            coord = where[axis]
            for _ in range(updates.ndim - coord.ndim):
                coord = th.expand_dims(coord, -1)
        else:
            position = lead + axis - len(where)
            coord = th.reshape(th.arange(sizes[axis], dtype="int64"),
                               [1] * position + [-1] + [1] * (updates.ndim - position - 1))
        flat = flat * sizes[axis] + coord
    return th.flatten(flat + th.zeros_like(updates, dtype="int64"))


def scatter_reduce(data, where: tuple, updates, reduction: str):
    """``data`` with ``updates`` combined in at ``where`` by ``reduction`` ("mul", "max" or "min")."""
    combine, identity = COMBINE[reduction], _identity(reduction, data.dtype)
    targets = _flat_targets(data, where, th.cast(updates, data.dtype))
    values = th.flatten(th.cast(updates, data.dtype))
    order = th.argsort(targets)
    targets, values = targets[order], values[order]
    count = th.shape(targets)[0]
    starts_group = th.concatenate([th.ones((1,), dtype="bool"), th.not_equal(targets[1:], targets[:-1])])
    starts = th.nonzero(starts_group)[0]
    rank = th.arange(count, dtype="int64") - starts[th.cumsum(th.cast(starts_group, "int64")) - 1]
    size = th.prod(th.shape(data))
    spare = th.full((size + 1,), identity, dtype=data.dtype)

    def one_round(r, result):
        mine = th.equal(rank, r)
        written = th.set_subtensor(spare[th.where(mine, targets, size)], th.where(mine, values, identity))
        return combine(result, written[:size])

    rounds = th.where(th.greater(count, 0), th.max(th.concatenate([rank, th.zeros((1,), "int64")])) + 1, 0)
    results, _ = th.scan(one_round, sequences=[th.arange(rounds, dtype="int64")], outputs_info=[th.flatten(data)])
    final = th.ifelse(th.greater(rounds, 0), results[-1], th.flatten(data))
    return th.reshape(final, th.shape(data))
