"""theanine's own GEMM, with the Fortran BLAS ``?gemm`` calling convention, for libraries without BLAS.

The JIT binds ``theanine_sgemm``/``theanine_dgemm`` (see ``gemm.BLAS_GLOBALS``)
to SciPy's OpenBLAS at load time.  A native library written ahead of time
(``theanine.runtime.aot``) cannot count on that library being where it is
copied, so ``bind_own_gemm`` points those globals at the column-major
kernels emitted here instead, and the per-thread BLAS thread setting at a
function that accepts any count: every theanine thread then multiplies its
own share of rows or columns, as it does with OpenBLAS.

The kernel is a plain loop nest written for LLVM's loop vectorizer, no
cache blocking: for ``op(A) = A`` each column of C is updated by
unit-stride multiply-adds (``llvm.fmuladd``) with A's columns, several per
pass; for ``op(A) = A^T`` each element of C is a dot product along A's
contiguous columns, summed in any order (``reassoc``) so that it vectorizes.
Four columns of C times four columns of A per pass (2x4, 8x2, 8x4 and 6x4
measured alike or slower): on one core of the 2-core development VM, 60 to
95 GFLOP/s for the digits MLP's first product (128 x 359 x 64 float32) and
30 to 60 for 512^3, where single-threaded OpenBLAS gives 50 to 70 (a
shared, noisy machine).  Without cache blocking, products whose operands
outgrow the caches are faster with OpenBLAS (``blas_library="openblas"``).
"""

from __future__ import annotations

from llvmlite import ir

from theanine.codegen.llvm.gemm import BLAS_GLOBALS
from theanine.codegen.llvm.ir_types import I8, I8P, I32, I64, compute_type
from theanine.codegen.llvm.loops import for_range
from theanine.codegen.llvm.vmath.builder import call_intrinsic

__all__ = ["bind_own_gemm"]

AXPY_GROUP = 4  # columns of A per pass over the columns of C
COLUMN_BLOCK = 4  # columns of C updated together, sharing the loads of A's columns


def bind_own_gemm(module: ir.Module) -> None:
    """Initialize the module's BLAS globals (those the printer created) with the kernels here."""
    for dtype in ("float32", "float64"):
        slot = module.globals.get(BLAS_GLOBALS[dtype])
        if slot is not None:
            slot.initializer = _gemm_function(module, dtype).bitcast(I8P)
    threads = module.globals.get(BLAS_GLOBALS["threads_local"])
    if threads is not None:
        threads.initializer = _threads_function(module).bitcast(I8P)


def _threads_function(module: ir.Module) -> ir.Function:
    """``int set_num_threads_local(int)``: the kernels run on the calling thread only; returns 1."""
    function = ir.Function(module, ir.FunctionType(I32, [I32]), "theanine_own_blas_threads")
    function.linkage = "internal"
    ir.IRBuilder(function.append_basic_block("entry")).ret(ir.Constant(I32, 1))
    return function


def _gemm_function(module: ir.Module, dtype: str) -> ir.Function:
    """``?gemm_(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)``, column-major."""
    t = compute_type(dtype)
    tp, ip = t.as_pointer(), I32.as_pointer()
    signature = ir.FunctionType(ir.VoidType(), [I8P, I8P, ip, ip, ip, tp, tp, ip, tp, ip, tp, tp, ip])
    function = ir.Function(module, signature, f"theanine_own_{dtype}_gemm")
    function.linkage = "internal"
    for position in (6, 8, 11):
        function.args[position].add_attribute("noalias")
    trans_a, trans_b, m_p, n_p, k_p, alpha_p, a, lda_p, b_p, ldb_p, beta_p, c, ldc_p = function.args
    b = ir.IRBuilder(function.append_basic_block("entry"))
    m, n, k, lda, ldb, ldc = (b.sext(b.load(p), I64) for p in (m_p, n_p, k_p, lda_p, ldb_p, ldc_p))
    alpha, beta = b.load(alpha_p), b.load(beta_p)
    a_plain, b_plain = (_is_plain(b, flag) for flag in (trans_a, trans_b))
    # element (p, j) of op(B): b[p + j*ldb] plain, b[j + p*ldb] transposed
    b_row_step = b.select(b_plain, ir.Constant(I64, 1), ldb)
    b_column_step = b.select(b_plain, ldb, ir.Constant(I64, 1))
    total = b.alloca(t)

    def column_of(j):
        """(column j of C, scaled by beta; column j of op(B))."""
        column = b.gep(c, [b.mul(j, ldc)])
        _scale(b, column, m, beta, t)
        return column, b.gep(b_p, [b.mul(j, b_column_step)])

    with b.if_else(a_plain) as (axpy, dot):
        with axpy:
            blocks = b.sdiv(n, ir.Constant(I64, COLUMN_BLOCK))
            with for_range(b, blocks, "jb") as block:
                first = b.mul(block, ir.Constant(I64, COLUMN_BLOCK))
                columns = [column_of(b.add(first, ir.Constant(I64, r))) for r in range(COLUMN_BLOCK)]
                _axpy_columns(b, columns, a, lda, b_row_step, m, k, alpha)
            with for_range(b, n, "j", b.mul(blocks, ir.Constant(I64, COLUMN_BLOCK))) as j:
                _axpy_columns(b, [column_of(j)], a, lda, b_row_step, m, k, alpha)
        with dot:
            with for_range(b, n, "j") as j:
                column, b_column = column_of(j)
                _dot_column(b, total, column, a, lda, b_column, b_row_step, m, k, alpha, t)
    b.ret_void()
    return function


def _axpy_columns(b: ir.IRBuilder, columns, a, lda, b_row_step, m, k, alpha) -> None:
    """``C[:, j] += alpha * A @ op(B)[:, j]`` for each (C column, op(B) column) of ``columns``, as
    unit-stride multiply-adds with ``AXPY_GROUP`` columns of A at a time: each pass loads those
    columns of A once for every column of C, and each C element once for the group."""
    groups = b.sdiv(k, ir.Constant(I64, AXPY_GROUP))
    with for_range(b, groups, "q") as q:
        first = b.mul(q, ir.Constant(I64, AXPY_GROUP))
        _axpy_pass(b, columns, a, lda, b_row_step, m, alpha, [b.add(first, ir.Constant(I64, r))
                                                              for r in range(AXPY_GROUP)])
    with for_range(b, k, "p", b.mul(groups, ir.Constant(I64, AXPY_GROUP))) as p:
        _axpy_pass(b, columns, a, lda, b_row_step, m, alpha, [p])


def _axpy_pass(b: ir.IRBuilder, columns, a, lda, b_row_step, m, alpha, ps) -> None:
    """One pass over rows ``[0, m)`` adding the terms of A's columns ``ps`` to every column of C."""
    a_columns = [b.gep(a, [b.mul(p, lda)]) for p in ps]
    factors = [[b.fmul(alpha, b.load(b.gep(b_column, [b.mul(p, b_row_step)]))) for p in ps]
               for _, b_column in columns]
    with for_range(b, m, "i") as i:
        a_values = [b.load(b.gep(a_column, [i])) for a_column in a_columns]
        for (column, _), column_factors in zip(columns, factors, strict=True):
            target = b.gep(column, [i])
            value = b.load(target)
            for factor, a_value in zip(column_factors, a_values, strict=True):
                value = call_intrinsic(b, "llvm.fmuladd", factor, a_value, value)
            b.store(value, target)


def _is_plain(b: ir.IRBuilder, flag: ir.Value) -> ir.Value:
    letter = b.load(flag)
    return b.or_(b.icmp_unsigned("==", letter, ir.Constant(I8, ord("N"))),
                 b.icmp_unsigned("==", letter, ir.Constant(I8, ord("n"))))


def _scale(b: ir.IRBuilder, column: ir.Value, m: ir.Value, beta: ir.Value, t: ir.Type) -> None:
    """``column[:m] *= beta``; beta 0 writes zeros without reading (as BLAS: C may hold NaN)."""
    zero = ir.Constant(t, 0.0)
    with b.if_else(b.fcmp_ordered("==", beta, zero)) as (clear, scale):
        with clear:
            with for_range(b, m, "z") as i:
                b.store(zero, b.gep(column, [i]))
        with scale:
            with b.if_then(b.fcmp_unordered("!=", beta, ir.Constant(t, 1.0))):
                with for_range(b, m, "s") as i:
                    target = b.gep(column, [i])
                    b.store(b.fmul(b.load(target), beta), target)


def _dot_column(b: ir.IRBuilder, total, column, a, lda, b_column, b_row_step, m, k, alpha, t) -> None:
    """``column[i] += alpha * sum_p a[p + i*lda] * op(B)[p, j]`` (A transposed: contiguous along p),
    summed in the stack slot ``total``."""
    with for_range(b, m, "di") as i:
        b.store(ir.Constant(t, 0.0), total)
        a_row = b.gep(a, [b.mul(i, lda)])
        with for_range(b, k, "dp") as p:
            term = b.fmul(b.load(b.gep(a_row, [p])), b.load(b.gep(b_column, [b.mul(p, b_row_step)])),
                          flags=("contract",))
            b.store(b.fadd(b.load(total), term, flags=("reassoc", "contract")), total)
        target = b.gep(column, [i])
        b.store(b.fadd(b.load(target), b.fmul(alpha, b.load(total))), target)
