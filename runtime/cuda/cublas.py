"""cuBLAS for the GEMM steps on a GPU: the library of the ``nvidia-cublas`` wheel, loaded by address.

Like SciPy's BLAS on the CPU, the library is found in the installed wheel
(``nvidia/cublas/lib``), opened with ctypes and called directly; absent, the
GPU runtime keeps the printed tiled kernel.  A product qualifies when it is
one 2-D matrix product of plain dense operands (possibly transposed) into an
output the runner allocated; everything else runs the tiled kernel.
Row-major ``C = alpha A B + beta C`` is the column-major ``C^T = B^T A^T``,
so no operand is copied.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import os

from theanine.codegen.program.kernel_ir import Access, GemmCall

_OP_N, _OP_T = 0, 1


def find_library() -> str | None:
    """The path of libcublas in the installed ``nvidia-cublas`` wheel, or None."""
    try:
        spec = importlib.util.find_spec("nvidia.cublas")
    except ModuleNotFoundError:
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(glob.glob(os.path.join(folder, "lib", "libcublas.so*")))
        if found:
            return found[0]
    return None


class Cublas:
    """A cuBLAS handle on the current context's default stream."""

    def __init__(self, path: str):
        self.library = ctypes.CDLL(path)
        self.handle = ctypes.c_void_p()
        status = self.library.cublasCreate_v2(ctypes.byref(self.handle))
        if status != 0:
            raise RuntimeError(f"cublasCreate failed with status {status}")

    def gemm(self, dtype: str, op_a: int, op_b: int, m: int, n: int, k: int, alpha: float, a: int, lda: int,
             b: int, ldb: int, beta: float, c: int, ldc: int) -> None:
        """Column-major ``C = alpha op(A) op(B) + beta C`` (pointers are device addresses)."""
        scalar = ctypes.c_float if dtype == "float32" else ctypes.c_double
        function = self.library.cublasSgemm_v2 if dtype == "float32" else self.library.cublasDgemm_v2
        status = function(self.handle, op_a, op_b, m, n, k, ctypes.byref(scalar(alpha)), ctypes.c_void_p(a), lda,
                          ctypes.c_void_p(b), ldb, ctypes.byref(scalar(beta)), ctypes.c_void_p(c), ldc)
        if status != 0:
            raise RuntimeError(f"cublas{'S' if dtype == 'float32' else 'D'}gemm failed with status {status}")


def qualifies(call: GemmCall, output_allocated: bool) -> bool:
    """Whether cuBLAS can compute ``call`` (see the module docstring)."""
    return output_allocated and all(
        len(access.axes) == 2 and None not in access.axes and access.plain for access in (call.a, call.b))


def _operand(access: Access, record) -> tuple[int, int]:
    """(cuBLAS op, leading dimension) of a dense 2-D operand read through ``access``, seen column-major."""
    rows_axis, columns_axis = access.axes
    ld = max(int(record["strides"][0]), int(record["dims"][1]), 1)
    return (_OP_N if rows_axis < columns_axis else _OP_T), ld


def call(cublas: Cublas, gemm: GemmCall, records, positions: dict[int, int]) -> bool:
    """Run ``gemm`` with cuBLAS from its buffers' records; False when a size is 0 (the tiled kernel
    then writes beta * C, as BLAS may leave C untouched)."""
    a, b, c = (records[positions[x]] for x in (gemm.a.buffer, gemm.b.buffer, gemm.output))
    m = int(a["dims"][gemm.a.axes[0]])
    k = int(a["dims"][gemm.a.axes[1]])
    n = int(b["dims"][gemm.b.axes[1]])
    if min(m, n, k) == 0:
        return False
    op_a, lda = _operand(gemm.a, a)
    op_b, ldb = _operand(gemm.b, b)
    cublas.gemm(gemm.dtype, op_b, op_a, n, m, k, gemm.alpha, int(b["data"]), ldb, int(a["data"]), lda, gemm.beta,
                int(c["data"]), max(n, 1))
    return True
