"""The gradient helpers ops share: undoing broadcasting, and redoing it.

A gradient arrives with the shape of an op's result.  An operand that was
broadcast to that shape (given fewer dimensions, or a static 1 where the
result is larger; static broadcasting fixes which when the graph is built)
receives it summed over those axes: ``sum_to_shape``, and ``unbroadcast``,
which also gives the sum the operand's dtype.  ``broadcast_like`` goes the
other way, for R_ops whose tangent must have the result's shape.
"""

from __future__ import annotations

from theanine.graph.basic import Variable
from theanine.graph.ops.math import cast, second
from theanine.graph.ops.reduce import sum as reduce_sum
from theanine.graph.type import is_discrete

__all__ = ["sum_to_shape", "unbroadcast", "broadcast_like"]


def sum_to_shape(g: Variable, shape: tuple) -> Variable:
    """``g`` summed over its leading axes beyond ``len(shape)`` and over the axes where
    ``shape`` has a static 1 and ``g`` does not (kept, as static 1s)."""
    leading = g.ndim - len(shape)
    if leading:
        g = reduce_sum(g, axis=tuple(range(leading)))
    broadcast = tuple(a for a, (s, d) in enumerate(zip(shape, g.type.shape, strict=True)) if s == 1 and d != 1)
    return reduce_sum(g, axis=broadcast, keepdims=True) if broadcast else g


def unbroadcast(grad: Variable | None, x: Variable) -> Variable | None:
    """The gradient of the operand ``x``: ``grad`` summed to ``x``'s shape, in ``x``'s dtype
    (None for an integer or bool ``x``, which has no gradient)."""
    if grad is None or is_discrete(x.dtype):
        return None
    grad = sum_to_shape(grad, x.type.shape)
    return grad if grad.dtype == x.dtype else cast(grad, x.dtype)


def broadcast_like(value: Variable, like: Variable) -> Variable:
    """``value`` broadcast to ``like``'s static shape (a no-op when it has it)."""
    if value.type.shape == like.type.shape:
        return value
    return second(like, value)
