"""A register-blocked float32 GEMM for products whose right operand is row-major, called instead of BLAS.

``C = alpha * A @ B + beta * C`` (row-major C, A read as stored or
transposed, B row-major) in blocks of ``ROWS`` rows by ``PANELS`` vectors
of columns: the block's accumulators stay in registers for a chunk of the
inner dimension (``DEPTH_IN_CACHE``), each step one (masked at the right edge) load per vector of B's
row and one broadcast of A per row, then one fused multiply-add per
accumulator.  B is read in place, not packed: a panel of B (a chunk's rows
of ``PANELS`` vectors) is reused from L1/L2 across the row blocks, so the
kernel is used where A is re-read cheaply (see ``fits``).  Rows past the
last whole block go one at a time (``TAIL_ROWS``: blocks of 4 and 2 as well
took a third more time to compile, for rows that batch sizes rarely leave).

Why not BLAS: OpenBLAS packs both operands on every call, which small and
thin products (an LSTM step, an MLP layer, a convolution's 64 output
channels) pay in full.  On one core of the 2-core development VM (AVX-512,
double-pumped: 116 GFLOP/s peak), best of 50 to 2000 calls against
single-threaded OpenBLAS: 32x128x512 97 vs 81 GFLOP/s, 64x784x512 109 vs
98, 6272x288x64 (a convolution's patches) 106 vs 95.  8x2 vectors measured
best; 6x4 and 12x2 spill.  Whole steps, alternating processes: LSTM
(tests/benchmarks/bench_lstm.py) 6.8-7.2 ms against 8.05, MLP 2.17 against
2.37, CNN 11.2-11.6 against 11.7-12.0.
"""

from __future__ import annotations

from llvmlite import ir

from theanine.codegen.llvm.ir_types import F32, I1, I32, I64

ROWS = 8
PANELS = 2
TAIL_ROWS = (1,)
A_ELEMENTS_IN_CACHE = 1 << 18
"""A block of A of at most this many elements (1 MiB of float32, one core's L2 here) is re-read from
cache for every panel of B's columns; larger ones are used only with at most ``NARROW`` columns."""
NARROW = 64
DEPTH_IN_CACHE = 512
"""The inner dimension goes in chunks of this many steps (C is stored and reloaded between them), so
a panel of B (``DEPTH_IN_CACHE`` rows of 32 floats, 64 KiB) and a chunk of A's rows stay in L2 while
the row blocks reuse them.  Unchunked, a convolution's kernel gradient (288x64, k = 12544, A read
transposed) ran at 65 GFLOP/s on one core against OpenBLAS' 72; chunks of 256 to 512 give 73-82
against 70-80 (1024: 64), products of k <= 512 are unchanged."""
NAME = "theanine_small_sgemm"
SIGNATURE = ir.FunctionType(ir.VoidType(), [I64, I64, I64, F32.as_pointer(), I64, I32, F32.as_pointer(), I64,
                                            F32.as_pointer(), I64, F32, F32])
"""``(h, w, k, a, lda, a_transposed (0 or 1), b, ldb, c, ldc, alpha, beta)``."""


def kernel_module(width: int) -> str:
    """The IR of a module holding only the kernel (external), for vectors of ``width`` float32 lanes:
    compiled once per machine and vector width (the disk cache keeps it) and bound by address into
    every module that multiplies (``gemm.BLAS_GLOBALS["small_float32"]``), so programs do not
    compile it each."""
    module = ir.Module(name="theanine_small_sgemm")
    small_sgemm(module, width)
    return str(module)


def small_sgemm(module: ir.Module, width: int) -> ir.Function:
    """Emit ``void theanine_small_sgemm(...)`` (see ``SIGNATURE``) into ``module``."""
    if NAME in module.globals:
        return module.globals[NAME]
    vector = ir.VectorType(F32, width)
    mask_type = ir.VectorType(I1, width)
    function = ir.Function(module, SIGNATURE, NAME)
    h, w, k, a, lda, a_transposed, b_ptr, ldb, c, ldc, alpha, beta = function.args
    for pointer in (a, b_ptr, c):
        pointer.add_attribute("noalias")
    suffix = f"v{width}f32"
    fma = _intrinsic(module, f"llvm.fma.{suffix}", vector, [vector] * 3)
    load = _intrinsic(module, f"llvm.masked.load.{suffix}.p0", vector, [vector.as_pointer(), I32, mask_type, vector])
    store = _intrinsic(module, f"llvm.masked.store.{suffix}.p0", ir.VoidType(),
                       [vector, vector.as_pointer(), I32, mask_type])
    builder = ir.IRBuilder(function.append_basic_block("entry"))
    kernel = _Kernel(builder, vector, fma, load, store, function.args)
    panel = ir.Constant(I64, PANELS * width)

    def columns(p0, j0):
        done = kernel.row_blocks(ir.Constant(I64, 0), ROWS, p0, j0)
        for rows in TAIL_ROWS:
            done = kernel.row_blocks(done, rows, p0, j0)

    def chunk(p0):
        kernel.loop(ir.Constant(I64, 0), w, panel, "panel", lambda j0: columns(p0, j0))

    one = ir.Constant(I64, 1)
    chunks_end = builder.select(builder.icmp_signed(">", k, one), k, one)  # k = 0: one empty chunk scales C
    kernel.loop(ir.Constant(I64, 0), chunks_end, ir.Constant(I64, DEPTH_IN_CACHE), "chunk", chunk)
    builder.ret_void()
    return function


def _intrinsic(module: ir.Module, name: str, result, arguments) -> ir.Function:
    if name in module.globals:
        return module.globals[name]
    return ir.Function(module, ir.FunctionType(result, arguments), name)


class _Kernel:
    """The loops of ``small_sgemm``: column panels, row blocks, and the inner dimension."""

    def __init__(self, builder: ir.IRBuilder, vector, fma, load, store, args):
        self.b, self.vector, self.fma, self.load, self.store = builder, vector, fma, load, store
        (self.h, self.w, self.k, self.a, self.lda, self.a_transposed, self.b_ptr, self.ldb, self.c, self.ldc,
         self.alpha, self.beta) = args
        self.width = vector.count

    def loop(self, start, stop, step, name, body) -> ir.Value:
        """``for i in range(start, stop, step): body(i)`` (while ``i + step <= stop`` when ``step`` is a
        row block, see ``row_blocks``); returns the first index not run."""
        b = self.b
        before = b.block
        head, inside, done = (b.append_basic_block(f"{name}.{part}") for part in ("head", "body", "done"))
        b.branch(head)
        b.position_at_end(head)
        i = b.phi(I64)
        i.add_incoming(start, before)
        b.cbranch(b.icmp_signed("<", i, stop), inside, done)
        b.position_at_end(inside)
        body(i)
        following = b.add(i, step)
        i.add_incoming(following, b.block)
        b.branch(head)
        b.position_at_end(done)
        return i

    def row_blocks(self, start, rows: int, p0, j0) -> ir.Value:
        """Blocks of ``rows`` rows from ``start`` while a whole block fits; returns where they stopped."""
        b = self.b
        stop = b.sub(self.h, ir.Constant(I64, rows - 1))
        return self.loop(start, stop, ir.Constant(I64, rows), f"rows{rows}",
                         lambda i0: self.block(i0, rows, p0, j0))

    def splat(self, value, ty=None):
        b = self.b
        ty = ty or self.vector
        one = b.insert_element(ir.Constant(ty, None), value, ir.Constant(I32, 0))
        return b.shuffle_vector(one, one, ir.Constant(ir.VectorType(I32, self.width), [0] * self.width))

    def block(self, i0, rows: int, p0, j0) -> None:
        """C[i0 : i0 + rows, j0 : j0 + PANELS * width] (columns past ``w`` masked off) plus the products
        over the chunk of the inner dimension from ``p0``: C is scaled by beta with the first chunk
        only."""
        b, width = self.b, self.width
        lane = ir.Constant(ir.VectorType(I64, width), list(range(width)))
        masks = [b.icmp_signed("<", lane, self.splat(b.sub(self.w, b.add(j0, ir.Constant(I64, q * width))),
                                                     ir.VectorType(I64, width))) for q in range(PANELS)]
        zero = ir.Constant(self.vector, [0.0] * width)
        transposed = b.icmp_signed("!=", self.a_transposed, ir.Constant(I32, 0))
        a_row_step = b.select(transposed, ir.Constant(I64, 1), self.lda)
        a_k_step = b.select(transposed, self.lda, ir.Constant(I64, 1))
        a_rows = [b.gep(self.a, [b.mul(b.add(i0, ir.Constant(I64, r)), a_row_step)]) for r in range(rows)]
        b_panel = b.gep(self.b_ptr, [j0])
        chunk_end = b.add(p0, ir.Constant(I64, DEPTH_IN_CACHE))
        chunk_end = b.select(b.icmp_signed("<", chunk_end, self.k), chunk_end, self.k)
        before = b.block
        head, inside, done = (b.append_basic_block(f"k{rows}.{part}") for part in ("head", "body", "done"))
        b.branch(head)
        b.position_at_end(head)
        p = b.phi(I64)
        p.add_incoming(p0, before)
        sums = [[b.phi(self.vector) for _ in range(PANELS)] for _ in range(rows)]
        for row in sums:
            for acc in row:
                acc.add_incoming(zero, before)
        b.cbranch(b.icmp_signed("<", p, chunk_end), inside, done)
        b.position_at_end(inside)
        b_row = b.gep(b_panel, [b.mul(p, self.ldb)])
        b_vectors = [self._masked_load(b.gep(b_row, [ir.Constant(I64, q * width)]), masks[q], zero)
                     for q in range(PANELS)]
        a_offset = b.mul(p, a_k_step)
        updated = []
        for r in range(rows):
            x = self.splat(b.load(b.gep(a_rows[r], [a_offset])))
            updated.append([b.call(self.fma, [x, b_vectors[q], sums[r][q]]) for q in range(PANELS)])
        following = b.add(p, ir.Constant(I64, 1))
        p.add_incoming(following, b.block)
        for r in range(rows):
            for q in range(PANELS):
                sums[r][q].add_incoming(updated[r][q], b.block)
        b.branch(head)
        b.position_at_end(done)
        first_chunk = b.icmp_signed("==", p0, ir.Constant(I64, 0))
        scale = b.select(first_chunk, self.beta, ir.Constant(F32, 1.0))
        alpha, beta = self.splat(self.alpha), self.splat(scale)
        keep_c = self.splat(b.fcmp_ordered("!=", scale, ir.Constant(F32, 0.0)), ir.VectorType(I1, width))
        for r in range(rows):  # beta 0: C is not read (a masked-off load touches no memory), as BLAS
            c_row = b.gep(self.c, [b.add(b.mul(b.add(i0, ir.Constant(I64, r)), self.ldc), j0)])
            for q in range(PANELS):
                target = b.gep(c_row, [ir.Constant(I64, q * width)])
                old = self._masked_load(target, b.and_(masks[q], keep_c), zero)
                result = b.call(self.fma, [old, beta, b.fmul(sums[r][q], alpha)])
                self._masked_store(result, target, masks[q])

    def _masked_load(self, pointer, mask, passthrough):
        b = self.b
        return b.call(self.load, [b.bitcast(pointer, self.vector.as_pointer()), ir.Constant(I32, 4), mask,
                                  passthrough])

    def _masked_store(self, value, pointer, mask) -> None:
        b = self.b
        b.call(self.store, [value, b.bitcast(pointer, self.vector.as_pointer()), ir.Constant(I32, 4), mask])


def fits(b: ir.IRBuilder, height: ir.Value, width: ir.Value, k: ir.Value) -> ir.Value:
    """Whether a block is for this kernel: A's rows (a chunk of ``DEPTH_IN_CACHE`` columns of them)
    stay in cache across B's column panels, or there are few panels (``NARROW`` columns)."""
    depth = b.select(b.icmp_signed("<", k, ir.Constant(I64, DEPTH_IN_CACHE)), k, ir.Constant(I64, DEPTH_IN_CACHE))
    small_a = b.icmp_signed("<=", b.mul(height, depth), ir.Constant(I64, A_ELEMENTS_IN_CACHE))
    return b.or_(small_a, b.icmp_signed("<=", width, ir.Constant(I64, NARROW)))


__all__ = ["small_sgemm", "kernel_module", "fits", "NAME", "SIGNATURE"]
