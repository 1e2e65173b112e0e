"""Shape folding (canonicalize): sizes known statically become constants, shapes of
elementwise results are read from their inputs, and reshapes that change nothing go.

``x.shape[i]`` is ``Subtensor{[i]}(Shape(x))``; it becomes ``ShapeI(i)(x)``,
which is a constant when dimension i is static.  The shape of an Elemwise
result is the shape of any input that does not broadcast (no static 1
where the result has none), so the computation the shape came from is no
longer needed for it.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.ops.elemwise import Elemwise
from theanine.graph.ops.shape import Reshape, Shape, ShapeI
from theanine.graph.ops.subtensor import Subtensor
from theanine.graph.rewriting.db import register
from theanine.graph.rewriting.rewriters import node_rewriter
from theanine.graph.rewriting.utils import same_type

__all__: list[str] = []


def _non_broadcasting_input(out: Variable, axes) -> Variable | None:
    """An input of ``out``'s Elemwise node with ``out``'s run-time size along every axis in ``axes``."""
    for var in out.owner.inputs:
        if all(var.type.shape[a] != 1 or out.type.shape[a] == 1 for a in axes):
            return var
    return None


@register("canonicalize", "fast_compile")
@node_rewriter([ShapeI])
def static_shape_i(node: Apply):
    """``ShapeI(i)(x)`` -> a constant when dim i is static; else read from a non-broadcasting
    input when x is an Elemwise result."""
    (x,) = node.inputs
    i = node.op.i
    if x.type.shape[i] is not None:
        return [Constant(np.asarray(x.type.shape[i], dtype="int64"))]
    if x.owner is not None and isinstance(x.owner.op, Elemwise):
        source = _non_broadcasting_input(x, [i])
        if source is not None:
            return [ShapeI(i)(source)]
    return None


def _input_shape(var: Variable) -> tuple:
    """``var``'s shape as ints (static dims) and ``ShapeI`` variables (the others)."""
    return tuple(d if d is not None else ShapeI(axis)(var) for axis, d in enumerate(var.type.shape))


@register("canonicalize", "fast_compile")
@node_rewriter([ShapeI])
def shape_i_from_inputs(node: Apply):
    """``ShapeI(i)(op(x, ...))`` -> ``ShapeI(j)(x)`` (or a constant) when the op's ``infer_shape``
    says dimension i of its result is dimension j of an input: the size no longer waits for
    the op's values (``ShapeI(0)(A @ B)`` is ``ShapeI(0)(A)``).  Only that simple answer is
    taken; shape expressions (e.g. a reshape's) stay where they are."""
    (x,) = node.inputs
    producer = x.owner
    if producer is None or isinstance(producer.op, Elemwise) or x.type.shape[node.op.i] is not None:
        return None
    candidates = [_input_shape(v) for v in producer.inputs]
    try:
        shapes = producer.op.infer_shape(producer, candidates)
    except Exception:  # an op without (or failing) a shape rule: its size stays a ShapeI
        return None
    size = shapes[x.index][node.op.i]
    if isinstance(size, (int, np.integer)):
        return [Constant(np.asarray(size, dtype="int64"))]
    known = {id(v) for shape in candidates for v in shape if isinstance(v, Variable)}
    return [size] if id(size) in known else None


@register("canonicalize", "fast_compile")
@node_rewriter([Shape])
def static_shape(node: Apply):
    """``Shape(x)`` -> a constant when x's shape is static; else the shape of a
    non-broadcasting input when x is an Elemwise result."""
    (x,) = node.inputs
    if None not in x.type.shape:
        return [Constant(np.asarray(x.type.shape, dtype="int64").reshape(-1))]
    if x.owner is not None and isinstance(x.owner.op, Elemwise):
        source = _non_broadcasting_input(x, range(x.ndim))
        if source is not None:
            return [Shape()(source)]
    return None


@register("canonicalize", "fast_compile")
@node_rewriter([Subtensor])
def shape_entry(node: Apply):
    """``Shape(x)[i]`` with a constant int i -> ``ShapeI(i)(x)``."""
    vector = node.inputs[0]
    if len(node.inputs) != 1 or vector.owner is None or not isinstance(vector.owner.op, Shape):
        return None
    if (
        len(node.op.index) != 1
        or node.op.index[0][0] != "int"
        or not isinstance(node.op.index[0][1], int)
    ):
        return None
    (x,) = vector.owner.inputs
    i = node.op.index[0][1] % x.ndim
    return [ShapeI(i)(x)]


@register("canonicalize", "fast_compile")
@node_rewriter([Reshape])
def useless_reshape(node: Apply):
    """``reshape(x, x.shape)`` -> x, and a reshape between equal fully static shapes -> x."""
    x, target = node.inputs
    out = node.outputs[0]
    if not same_type(out, x):
        return None
    from_own_shape = (
        target.owner is not None
        and isinstance(target.owner.op, Shape)
        and target.owner.inputs[0] is x
    )
    if from_own_shape or None not in x.type.shape:
        return [x]
    return None
