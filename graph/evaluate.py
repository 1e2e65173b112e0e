"""The reference interpreter: run a graph node by node with each op's ``perform``.

This is the executable specification of theanine: the ``numpy`` backend is
this interpreter, and every other backend is tested against it.  A failing
node is reported with its op, input shapes/dtypes and the user's line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from theanine.graph.basic import Apply, Constant, Variable, apply_nodes
from theanine.graph.shared import SharedVariable

__all__ = ["evaluate", "run_node", "NodeError"]


class NodeError(Exception):
    """Marks an exception already annotated with the failing node."""


def run_node(node: Apply, values: Sequence) -> list:
    """Run one node, turning any failure into an error that names the node."""
    try:
        outputs = node.op.perform(node, values)
    except Exception as exc:
        raise annotate_error(exc, node, values) from exc
    if len(outputs) != len(node.outputs):
        raise TypeError(
            f"{node.op}.perform returned {len(outputs)} value(s); expected one per output "
            f"({len(node.outputs)}); created at {node.source}"
        )
    for var, value in zip(node.outputs, outputs, strict=True):
        problem = var.type.check_value_shape(np.shape(value))
        if problem or np.asarray(value).dtype != var.dtype:
            raise TypeError(
                f"{node.op}.perform returned {np.asarray(value).dtype}{np.shape(value)} for an output "
                f"of type {var.type} ({problem or 'wrong dtype'}); created at {node.source}"
            )
    return outputs


def annotate_error(exc: Exception, node: Apply, values: Sequence) -> Exception:
    """Same exception type when possible, message prefixed with the node's story.

    A type that cannot be made from a message alone (NumPy's
    ``_ArrayMemoryError`` takes a shape and a dtype) gives way to its nearest
    base class that can (``MemoryError``), so ``except MemoryError`` still
    catches it."""
    if isinstance(exc, NodeError) or getattr(exc, "theanine_node", None) is not None:
        return exc
    message = f"{exc} [while computing {node.describe_failure(values)}]"
    new = RuntimeError(message)
    for kind in type(exc).__mro__:
        if not issubclass(kind, Exception):
            break
        try:
            new = kind(message)
            break
        except Exception:
            continue
    new.theanine_node = node
    return new


def evaluate(outputs: Sequence[Variable], inputs: Mapping[Variable, object]) -> list[np.ndarray]:
    """Values of ``outputs`` given values for (some) graph inputs.

    Constants and shared variables supply their own values; any other
    ownerless variable must appear in ``inputs``.
    """
    values: dict[int, object] = {id(k): v for k, v in inputs.items()}
    for node in apply_nodes(outputs, stop=inputs.keys()):
        args = [_value_of(v, values, node) for v in node.inputs]
        for var, value in zip(node.outputs, run_node(node, args), strict=True):
            values[id(var)] = value
    return [_value_of(v, values, None) for v in outputs]


def _value_of(var: Variable, values: dict[int, object], node: Apply | None):
    if id(var) in values:
        return values[id(var)]
    if isinstance(var, Constant):
        return var.data
    if isinstance(var, SharedVariable):
        return var.get_value(borrow=True)
    where = f" (needed by {node.op}, created at {node.source})" if node else ""
    raise ValueError(f"missing value for input variable {var.label()} of type {var.type}{where}")
