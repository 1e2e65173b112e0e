"""BroadcastTo: ``np.broadcast_to`` under static broadcasting.

Static broadcasting (see ``elemwise.py``): ``broadcast_to`` only expands
dimensions whose static size is 1, so its gradient (a sum over those
dimensions) is fixed when the graph is built; a dimension of unknown size
must equal its target at run time.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.graph.ops.gradient_helpers import sum_to_shape
from theanine.graph.ops.shape_values import as_shape_vector, checked_shape_vector, shape_entries, static_entries
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType, format_shape, is_discrete


class BroadcastTo(Op):
    """``np.broadcast_to(x, shape)`` as a new array; only static-1 and new leading dims expand."""

    takes_strings = True  # moves or selects elements

    def make_node(self, x, shape_vector) -> Apply:
        x = as_tensor_variable(x)
        shape_vector = checked_shape_vector(shape_vector, "broadcast_to")
        target = static_entries(shape_vector)
        return Apply(
            self, [x, shape_vector], [TensorType(x.dtype, _static_broadcast(x.type.shape, target))]
        )

    def perform(self, node, inputs):
        x, target = inputs
        target = tuple(int(d) for d in target)
        lead = len(target) - x.ndim
        for axis, static in enumerate(node.inputs[0].type.shape):
            if static != 1 and x.shape[axis] != target[lead + axis]:
                raise ValueError(
                    f"broadcast_to: cannot broadcast an array of shape {x.shape} to {target}: "
                    f"axis {axis} has "
                    f"size {x.shape[axis]}, and only axes of static size 1 broadcast"
                )
        return [np.array(np.broadcast_to(x, target))]

    def infer_shape(self, node, input_shapes):
        entries = shape_entries(node.inputs[1])
        return [
            tuple(
                s if s is not None else e
                for s, e in zip(node.outputs[0].type.shape, entries, strict=True)
            )
        ]

    def connection_pattern(self, node):
        return [[True], [False]]

    def L_op(self, inputs, outputs, output_grads):
        x, _ = inputs
        if is_discrete(x.dtype):
            return [None, None]
        return [sum_to_shape(output_grads[0], x.type.shape), None]

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else self(eval_points[0], inputs[1])]


def _static_broadcast(dims: tuple, target: tuple) -> tuple[int | None, ...]:
    """The static result of broadcasting ``dims`` to ``target``, or a ValueError naming both."""
    if len(dims) > len(target) or any(t is not None and t < 0 for t in target):
        raise ValueError(
            f"broadcast_to: cannot broadcast a tensor of shape {format_shape(dims)} to shape "
            f"{format_shape(target)} (the target needs at least as many dimensions and "
            f"sizes >= 0)"
        )
    lead = len(target) - len(dims)
    out = list(target[:lead])
    for axis, (d, t) in enumerate(zip(dims, target[lead:], strict=True)):
        if d is not None and d != 1 and t is not None and t != d:
            raise ValueError(
                f"broadcast_to: cannot broadcast a tensor of shape {format_shape(dims)} to shape "
                f"{format_shape(target)}: axis {axis} has size {d}, "
                f"and only axes of size 1 broadcast"
            )
        out.append(t if t is not None or d == 1 else d)
    return tuple(out)


def broadcast_to(x, shape):
    """``np.broadcast_to`` as a new array; only axes of static size 1 expand (module docstring)."""
    return BroadcastTo()(x, as_shape_vector(shape, "broadcast_to"))
