"""Small helpers shared by the rewrite modules: constants, op lookups, type guards."""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant, Variable
from theanine.graph.ops.elemwise import Elemwise
from theanine.graph.ops.math import ELEMWISE_OPS
from theanine.graph.ops.shape import DimShuffle

__all__ = [
    "elemwise_op", "uniform_constant", "is_elemwise", "same_type", "typed_constant", "sole_reader",
]


def elemwise_op(name: str) -> Elemwise:
    """The Elemwise op of the table row ``name`` (e.g. ``"log"``)."""
    return ELEMWISE_OPS[name]


def uniform_constant(var: Variable):
    """The value every element of ``var`` holds when it is a constant (seen through
    DimShuffles) whose elements are all equal; None otherwise."""
    while var.owner is not None and isinstance(var.owner.op, DimShuffle):
        var = var.owner.inputs[0]
    if not isinstance(var, Constant) or var.data.size == 0:
        return None
    first = var.data.flat[0]
    if var.data.size > 1 and not np.all(var.data == first):
        return None
    return first


def is_elemwise(var: Variable, name: str) -> bool:
    """Is ``var`` computed by the Elemwise table row ``name``?"""
    return var.owner is not None and var.owner.op == ELEMWISE_OPS[name]


def same_type(a: Variable, b: Variable) -> bool:
    """Can ``b`` replace ``a`` without any change of type (dtype and static shape equal)?"""
    return a.type == b.type


def typed_constant(value, dtype: str) -> Constant:
    """A rank-0 constant of ``dtype``."""
    return Constant(np.asarray(value, dtype=dtype))


def sole_reader(fgraph, var: Variable, node) -> bool:
    """Is ``node`` the only reader of ``var`` in ``fgraph`` (it may read it at several inputs)?"""
    readers = fgraph.clients.get(var, [])
    return bool(readers) and all(reader is node for reader, _ in readers)
