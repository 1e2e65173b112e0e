"""Binding compiled MPI collectives to the MPI library mpi4py loaded in this process.

A module that calls MPI (``codegen/llvm/collectives.py``) holds globals for
the functions ``MPI_Allreduce`` and ``MPI_Bcast``, the handles of
``MPI_COMM_WORLD``, the datatypes and reductions, and the number of ranks;
``mpi_addresses`` gives their values here: the functions' addresses in the
``libmpi`` that mpi4py mapped (found in ``/proc/self/maps``, else by the
linker's name) and the handles as mpi4py holds them.  Importing mpi4py
initializes MPI, so this runs only for modules that use it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

from theanine.codegen.llvm.collectives import MPI_GLOBALS

__all__ = ["mpi_addresses", "uses_mpi"]


def uses_mpi(global_address) -> bool:
    """Whether a loaded module holds the communicator global (``global_address(name)`` is 0 if not)."""
    return bool(global_address(MPI_GLOBALS["comm"]))


@functools.cache
def mpi_addresses() -> dict[str, int]:
    """The value of each MPI global of a compiled module, in this process."""
    from theanine.graph.ops.distributed import world

    comm = world()
    from mpi4py import MPI

    if MPI._sizeof(MPI.Comm) != ctypes.sizeof(ctypes.c_void_p):
        raise RuntimeError(
            f"compiled MPI calls need pointer-sized MPI handles (Open MPI's ABI); this MPI library "
            f"({MPI.Get_library_version().splitlines()[0]}) has {MPI._sizeof(MPI.Comm)}-byte handles: "
            "use backend='numpy' for functions with th.distributed ops"
        )
    library = ctypes.CDLL(_library_path(), mode=ctypes.RTLD_GLOBAL)
    handles = {
        "comm": comm, "size": comm.Get_size(),
        "float32": MPI.FLOAT, "float64": MPI.DOUBLE, "int32": MPI.INT32_T, "int64": MPI.INT64_T,
        "sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN,
    }
    values = {MPI_GLOBALS[k]: v if isinstance(v, int) else MPI._handleof(v) for k, v in handles.items()}
    for key, symbol in (("allreduce", "MPI_Allreduce"), ("bcast", "MPI_Bcast")):
        values[MPI_GLOBALS[key]] = ctypes.cast(getattr(library, symbol), ctypes.c_void_p).value
    return values


def _library_path() -> str:
    """The path of the ``libmpi`` mapped into this process (mpi4py's), else the linker's."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "/libmpi.so" in path:
                return path
    found = ctypes.util.find_library("mpi")
    if found is None:
        raise RuntimeError("compiled MPI calls: no libmpi is loaded in this process or installed")
    return found
