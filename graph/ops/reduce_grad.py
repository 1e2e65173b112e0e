"""Gradients of the reductions, kept apart from the forward definitions."""

from __future__ import annotations

from theanine.graph.type import is_discrete


def _broadcast_back(g, x, axes):
    """Re-insert the reduced axes of ``g`` and broadcast it to ``x``'s shape."""
    from theanine.graph.ops.creation import zeros_like
    from theanine.graph.ops.shape import expand_dims

    g = expand_dims(g, axes) if axes else g
    return zeros_like(x, dtype=g.dtype) + g


def reduce_grad(op, inputs, outputs, output_grads):
    (x,), (out,), (gz,) = inputs, outputs, output_grads
    if is_discrete(x.dtype) or op.kind in ("all", "any"):
        return [None]
    if op.kind == "sum":
        return [_broadcast_back(gz, x, op.axes)]
    raise NotImplementedError(f"{op} has no gradient yet")
