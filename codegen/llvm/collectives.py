"""Collective steps of the LLVM printer: MPI_Allreduce and MPI_Bcast called by address.

The module declares pointer-sized globals for the two MPI functions, the
communicator (``MPI_COMM_WORLD``), the datatype and reduction handles and
the number of ranks; the runtime stores the values mpi4py's MPI library
holds in this process when it loads the object code (``runtime/llvm/mpi.py``),
as it binds BLAS.  Load time rather than compile time: the object code is
cached on disk and shared by processes whose library sits at other
addresses.  Handles are pointer-sized (Open MPI's ABI; the runtime checks).

Thread 0 makes the call; the other threads wait at the step's barrier.  A
count beyond ``int`` or an MPI error code fails the step (the runtime names
the node).  "mean" is the sum divided by the number of ranks.
"""

from __future__ import annotations

from llvmlite import ir

from theanine.codegen.llvm.ir_types import I8P, I32, I64, compute_type, load_value, store_value
from theanine.codegen.llvm.loops import for_range, product
from theanine.codegen.program.kernel_ir import CollectiveCall

MPI_GLOBALS = {
    "allreduce": "theanine_mpi_allreduce", "bcast": "theanine_mpi_bcast", "comm": "theanine_mpi_comm_world",
    "size": "theanine_mpi_size",
    "float32": "theanine_mpi_float", "float64": "theanine_mpi_double",
    "int32": "theanine_mpi_int32", "int64": "theanine_mpi_int64",
    "sum": "theanine_mpi_sum", "max": "theanine_mpi_max", "min": "theanine_mpi_min",
}
_INT_MAX = 2**31 - 1
_ITEMSIZE = {"float32": 4, "float64": 8, "int32": 4, "int64": 8}
_ALLREDUCE = ir.FunctionType(I32, [I8P, I8P, I32, I8P, I8P, I8P])
_BCAST = ir.FunctionType(I32, [I8P, I32, I8P, I32, I8P])


def emit_collective(frame, call: CollectiveCall) -> None:
    """Emit one CollectiveCall on thread 0 (see the module docstring)."""
    b = frame.builder
    program = frame.printer.program
    (source,), (target,) = call.inputs, call.outputs
    count = product(b, [frame.dim(e) for e in program.buffers[target].shape])
    with frame.on_thread_zero():
        fits = b.icmp_signed("<=", count, ir.Constant(I64, _INT_MAX))
        frame.record_failure(b.not_(fits))
        with b.if_then(fits):
            data_in = b.bitcast(frame.pointer(source.buffer), I8P)
            data_out = b.bitcast(frame.pointer(target), I8P)
            status = _call(frame, call, data_in, data_out, count)
            frame.record_failure(b.icmp_signed("!=", status, ir.Constant(I32, 0)))
            if call.reduction == "mean":
                _divide_by_ranks(frame, call, count)


def _call(frame, call: CollectiveCall, data_in: ir.Value, data_out: ir.Value, count: ir.Value) -> ir.Value:
    """MPI_Allreduce(in, out, ...), or out = in and MPI_Bcast(out, ...); returns MPI's status."""
    b = frame.builder
    n, datatype, comm = b.trunc(count, I32), _handle(frame, call.dtype), _handle(frame, "comm")
    if call.kind == "allreduce":
        reduction = "sum" if call.reduction == "mean" else call.reduction
        function = b.bitcast(_handle(frame, "allreduce"), _ALLREDUCE.as_pointer())
        return b.call(function, [data_in, data_out, n, datatype, _handle(frame, reduction), comm])
    memcpy = frame.printer.module.declare_intrinsic("llvm.memcpy", [I8P, I8P, I64])
    size = b.mul(count, ir.Constant(I64, _ITEMSIZE[call.dtype]))
    b.call(memcpy, [data_out, data_in, size, ir.Constant(ir.IntType(1), 0)])
    function = b.bitcast(_handle(frame, "bcast"), _BCAST.as_pointer())
    return b.call(function, [data_out, n, datatype, ir.Constant(I32, call.root), comm])


def _divide_by_ranks(frame, call: CollectiveCall, count: ir.Value) -> None:
    b = frame.builder
    t = compute_type(call.dtype)
    ranks = b.sitofp(b.ptrtoint(_handle(frame, "size"), I64), t)
    pointer = frame.pointer(call.outputs[0])
    with for_range(b, count, "mean") as i:
        slot = b.gep(pointer, [i])
        store_value(b, b.fdiv(load_value(b, slot, call.dtype), ranks), slot, call.dtype)


def _handle(frame, key: str) -> ir.Value:
    """The value of the module global for ``key`` (bound at load time), loaded here."""
    module = frame.printer.module
    name = MPI_GLOBALS[key]
    if name not in module.globals:
        slot = ir.GlobalVariable(module, I8P, name)
        slot.initializer = ir.Constant(I8P, None)
    return frame.builder.load(module.globals[name])


__all__ = ["MPI_GLOBALS", "emit_collective"]
