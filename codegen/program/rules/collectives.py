"""Lowering rules for the MPI collectives (``graph/ops/distributed.py``): ``CollectiveCall`` steps.

The compiled code calls the MPI library itself at that point of the
schedule (no Python between the step that produced the tensor and the
reduction).  The input is read as one dense buffer: a view (a transpose,
a slice, a broadcast) is first copied into a buffer of its own.  The
reduction to the root (broadcast's gradient) stays a host call.
"""

from __future__ import annotations

from theanine.codegen.program.kernel_ir import Access, CollectiveCall
from theanine.codegen.program.lowering import Lowerer, lowering
from theanine.graph.basic import Apply
from theanine.graph.ops.distributed import Allreduce, Broadcast


def _dense_input(lowerer: Lowerer, node: Apply) -> Access:
    """The input as a whole buffer in C order (copied first when it is a view of another)."""
    (x,) = node.inputs
    access = lowerer.plain_ref(x)
    buffer = lowerer.buffers[access.buffer]
    whole = access.plain and access.axes == tuple(range(x.ndim)) and len(buffer.shape) == x.ndim
    if not whole:
        lowerer.copy(x)
        access = lowerer.ref(x)
    return access


def _collective(lowerer: Lowerer, node: Apply, kind: str, **params) -> bool:
    access = _dense_input(lowerer, node)
    (out,) = node.outputs
    index = lowerer.bind_new(out, lowerer.shape(node.inputs[0]))
    lowerer.steps.append(CollectiveCall((access,), (index,), kind, out.dtype, node, **params))
    return True


@lowering(Allreduce)
def _lower_allreduce(lowerer: Lowerer, node: Apply) -> bool:
    return _collective(lowerer, node, "allreduce", reduction=node.op.op)


@lowering(Broadcast)
def _lower_broadcast(lowerer: Lowerer, node: Apply) -> bool:
    return _collective(lowerer, node, "broadcast", root=node.op.root)
