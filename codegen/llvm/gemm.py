"""GEMM steps of the LLVM printer: BLAS ?gemm bound by address, with a loop fallback.

``C = alpha * A @ B + beta * C`` (row-major) is computed as the
column-major product ``C^T = B^T @ A^T`` so no operand is copied.  A
batched product (operands with leading batch axes) is one call per matrix,
the batch split across threads.  Every
thread checks the shapes (so all leave together on failure and none waits
at a barrier alone).  With a BLAS whose thread count can be set per calling
thread, each thread multiplies its share of A's rows with a single-threaded
BLAS: one threading layer, ours (two layers spinning on two cores slow each
other down many times over).  The count is set around each BLAS call only,
so products the register-blocked kernel computes never touch the BLAS:
OpenBLAS stops its pool at every fork (our compile children), and the call
that restarts it leaves the new threads polling for about 0.1 s, which made
the first steps after a cold compile 2 to 10 times slower.  Otherwise
thread 0 makes the whole call with the BLAS's own threads.  An output that
BLAS cannot write (a destroyed input whose rows are not contiguous) is
computed by plain loops; outputs the runner allocates are always
C-contiguous and need no such check.

float32 blocks whose right operand is row-major and that fit in cache go to
the register-blocked kernel of ``small_gemm`` instead of BLAS, when a
loaded module has it bound.

A call with an epilogue (``GemmCall.epilogue``) runs it on each block of C
right after the BLAS call that wrote the block: a share split by rows goes
in tiles of about ``EPILOGUE_TILE_ELEMENTS`` elements of C (one BLAS call
each, so the tile is still in cache when the epilogue reads it), a share
split by columns in one call and one pass.
"""

from __future__ import annotations

from llvmlite import ir

from theanine.codegen.llvm import small_gemm
from theanine.codegen.llvm.ir_types import I8P, I32, I64, compute_type, load_value, memory_type, store_value
from theanine.codegen.llvm.loops import for_range, linear_offset, nested_ranges, product
from theanine.codegen.program.kernel_ir import Access, GemmCall

EPILOGUE_TILE_ELEMENTS = 1 << 15  # 128 KiB of float32 C; 8K-element tiles were ~5% slower, 128K and untiled alike
MIN_TILE_ROWS = 16
BLAS_GLOBALS = {"float32": "theanine_sgemm", "float64": "theanine_dgemm", "threads_local": "theanine_blas_threads",
                "ilp64": "theanine_blas_ilp64", "small_float32": "theanine_small_sgemm_address"}
"""Function pointers bound when a module loads; ``small_float32`` is the register-blocked kernel of
``small_gemm`` (left null, products go to BLAS)."""


def emit_gemm(frame, call: GemmCall) -> None:
    """Emit one GemmCall (see the module docstring)."""
    b = frame.builder
    frame.fail_unless(b.icmp_signed("==", frame.dim(call.k), frame.dim(call.k_check)))
    m, n = frame.dim(call.m), frame.dim(call.n)
    allocated = frame.printer.program.buffers[call.output].role == "temp"
    if call.epilogue is not None and (len(call.a.axes) > 2 or not allocated):
        raise ValueError("a GEMM epilogue needs one matrix written into a buffer the runner allocates")
    if len(call.a.axes) > 2:
        _batched_product(frame, call, m, n)
        return
    if call.out_view is None and frame.printer.program.buffers[call.output].role != "input":
        _blas_product(frame, call, m, n)  # a buffer the runner allocated: always C-contiguous
        return
    with b.if_else(_blas_writable(frame, call, m, n)) as (blas, loops):
        with blas:
            _blas_product(frame, call, m, n)
        with loops:
            with frame.on_thread_zero():
                _loop_product(frame, call, m, n)


def _output_strides(frame, call: GemmCall) -> list[ir.Value]:
    """Element strides of the (m, n) output; a 0-d or 1-d output (a vector product) uses its one stride.
    An output of more axes (not batched: a convolution's) is the product's rows laid out in C order:
    its last axis is the product's columns.  An output view has its own strides."""
    if call.out_view is not None:
        return frame.access_strides(call.out_view)
    ndim = len(frame.printer.program.buffers[call.output].shape)
    if ndim >= 2:
        return [frame.stride(call.output, ndim - 2), frame.stride(call.output, ndim - 1)]
    single = frame.stride(call.output, 0) if ndim == 1 else ir.Constant(I64, 0)
    return [single, single]


def _blas_writable(frame, call: GemmCall, m: ir.Value, n: ir.Value) -> ir.Value:
    """True when the output's rows are contiguous and consecutive (always for allocated outputs)."""
    b = frame.builder
    one = ir.Constant(I64, 1)
    row_stride, column_stride = _output_strides(frame, call)
    columns_ok = b.or_(b.icmp_signed("<=", n, one), b.icmp_signed("==", column_stride, one))
    rows_ok = b.or_(b.icmp_signed("<=", m, one), b.icmp_signed("==", row_stride, n))
    return b.and_(columns_ok, rows_ok)


def _blas_product(frame, call: GemmCall, m: ir.Value, n: ir.Value) -> None:
    """The larger of C's rows and columns split across threads, each with a single-threaded BLAS
    (or the whole product on thread 0).  Each thread packs the whole of the operand along the other
    side, so splitting the larger side duplicates the packing of the smaller operand."""
    b = frame.builder
    by_rows = b.icmp_signed(">=", m, n)
    work = b.mul(b.mul(m, n), frame.dim(call.k))
    start, stop = _single_threaded_share(frame, b.select(by_rows, m, n), work)
    zero = ir.Constant(I64, 0)
    if call.epilogue is None:
        rows = (b.select(by_rows, start, zero), b.select(by_rows, stop, m))
        columns = (b.select(by_rows, zero, start), b.select(by_rows, n, stop))
        _gemm_block(frame, call, rows, columns)
    else:
        _epilogue_tiles(frame, call, by_rows, (start, stop), m, n)


def _epilogue_tiles(frame, call: GemmCall, by_rows: ir.Value, share: tuple[ir.Value, ir.Value],
                    m: ir.Value, n: ir.Value) -> None:
    """This thread's ``share`` of C's rows (``by_rows``) or columns, each tile computed then passed
    through the epilogue.  Rows go in tiles of ``EPILOGUE_TILE_ELEMENTS // n`` rows (at least
    ``MIN_TILE_ROWS``), columns in one tile.  One loop serves both splits, so the epilogue's
    vectorized code is emitted (and compiled) once per product."""
    b = frame.builder
    zero, one = ir.Constant(I64, 0), ir.Constant(I64, 1)
    start, stop = share
    tile = b.sdiv(ir.Constant(I64, EPILOGUE_TILE_ELEMENTS), b.select(b.icmp_signed(">", n, one), n, one))
    tile = b.select(b.icmp_signed(">", tile, ir.Constant(I64, MIN_TILE_ROWS)), tile, ir.Constant(I64, MIN_TILE_ROWS))
    tile = b.select(by_rows, tile, b.sub(stop, start))
    count = b.sdiv(b.add(b.sub(stop, start), b.sub(tile, one)), b.select(b.icmp_signed(">", tile, one), tile, one))
    with for_range(b, count, "tile") as t:
        first = b.add(start, b.mul(t, tile))
        last = b.add(first, tile)
        last = b.select(b.icmp_signed("<", last, stop), last, stop)
        rows = (b.select(by_rows, first, zero), b.select(by_rows, last, m))
        columns = (b.select(by_rows, zero, first), b.select(by_rows, n, last))
        _gemm_block(frame, call, rows, columns)
        frame.outlined([*rows, *columns], lambda inner, bounds: _epilogue(inner, call, bounds[:2], bounds[2:]))


def _epilogue(frame, call: GemmCall, rows: tuple[ir.Value, ir.Value], columns: tuple[ir.Value, ir.Value]) -> None:
    """The epilogue kernel over block ``rows x columns`` of C: element ``(i, j)`` is position
    ``i * n + j`` of every buffer it reads densely or writes, and ``j`` of a broadcast vector."""
    kernel = call.epilogue
    b = frame.builder
    n = frame.dim(call.n)
    zero, one = ir.Constant(I64, 0), ir.Constant(I64, 1)
    buffers = frame.printer.program.buffers
    inputs = []
    for access in kernel.inputs:
        if all(a is None for a in access.axes[:-1]):
            buffer = buffers[access.buffer]
            unit = len(buffer.shape) == 1 and access.axes[-1] == 0 and (buffer.contiguous or buffer.role == "temp")
            column = one if unit else frame.access_strides(access)[-1]
            inputs.append((frame.pointer(access.buffer), zero, column))
        else:
            inputs.append((frame.pointer(access.buffer), n, one))
    outputs = [frame.pointer(o) for o in kernel.outputs]
    element = frame.printer.element_emitter(frame, kernel)
    with for_range(b, rows[1], "epilogue_row", rows[0]) as i:
        row = b.mul(i, n)
        with for_range(b, columns[1], "epilogue_column", columns[0], interleaved=False) as j:
            dense = b.add(row, j)
            element.emit([(p, b.add(b.mul(i, r), b.mul(j, c))) for p, r, c in inputs],
                         [(p, dense) for p in outputs], None)


def _batched_product(frame, call: GemmCall, m: ir.Value, n: ir.Value) -> None:
    """A stack of products: the batch (the output's leading axes, as many as the operands') split
    across threads, each matrix one BLAS call; operands broadcast along a batch axis have stride 0
    there."""
    b = frame.builder
    batch = [frame.dim(e) for e in frame.printer.program.buffers[call.output].shape[:len(call.a.axes) - 2]]
    count = product(b, batch)
    work = b.mul(count, b.mul(b.mul(m, n), frame.dim(call.k)))
    start, stop = _single_threaded_share(frame, count, work)
    a_strides, b_strides = frame.access_strides(call.a), frame.access_strides(call.b)
    out_strides = [frame.stride(call.output, axis) for axis in range(len(batch))]
    with for_range(b, stop, "batch", start) as item:
        indices = _unravel(b, item, batch)
        bases = [b.gep(frame.pointer(buffer), [linear_offset(b, indices, strides[:len(batch)])])
                 for buffer, strides in ((call.a.buffer, a_strides), (call.b.buffer, b_strides),
                                         (call.output, out_strides))]
        _gemm_block(frame, call, (ir.Constant(I64, 0), m), (ir.Constant(I64, 0), n), *bases)


def _unravel(b: ir.IRBuilder, flat: ir.Value, dims: list[ir.Value]) -> list[ir.Value]:
    """C-order indices of position ``flat`` in an array of ``dims``."""
    indices = []
    for dim in reversed(dims):
        indices.append(b.srem(flat, dim))
        flat = b.sdiv(flat, dim)
    return indices[::-1]


def _single_threaded_share(frame, count: ir.Value, work: ir.Value) -> tuple[ir.Value, ir.Value]:
    """This thread's ``[start, stop)`` of ``range(count)``, when the BLAS's thread count can be set
    per calling thread (each BLAS call is then made single-threaded, see ``_block_function``);
    otherwise everything on thread 0 (the BLAS's own threads)."""
    b = frame.builder
    set_threads = b.load(_blas_global(frame.printer, "threads_local"))
    controllable = b.icmp_unsigned("!=", set_threads, ir.Constant(I8P, None))
    share_start, share_stop = frame.share(count, work, product=True)
    first = b.icmp_signed("==", frame.thread, ir.Constant(I64, 0))
    start = b.select(controllable, share_start, ir.Constant(I64, 0))
    stop = b.select(controllable, share_stop, b.select(first, count, ir.Constant(I64, 0)))
    return start, stop


def _gemm_block(frame, call: GemmCall, rows: tuple[ir.Value, ir.Value], columns: tuple[ir.Value, ir.Value],
                a_base=None, b_base=None, out_base=None) -> None:
    """``C[rows, columns] = alpha * A[rows, :] @ B[:, columns] + beta * C[rows, columns]`` (each a
    ``(start, stop)`` range), for one matrix (of a batch: its base pointers): one call of the
    module's block function for the dtype, so each product adds a call, not the block's code."""
    b = frame.builder
    n, k = frame.dim(call.n), frame.dim(call.k)
    t = compute_type(call.dtype)
    op_b, ld_b = _blas_operand(frame, call.b, n)
    op_a, ld_a = _blas_operand(frame, call.a, k)
    b.call(_block_function(frame.printer, call.dtype), [
        *rows, *columns, n, k, ir.Constant(t, call.alpha), ir.Constant(t, call.beta),
        op_a, ld_a, a_base or frame.access_base(call.a), frame.access_strides(call.a)[-2],
        op_b, ld_b, b_base or frame.access_base(call.b), frame.access_strides(call.b)[-1],
        out_base or _output_base(frame, call),
    ])


def _output_base(frame, call: GemmCall) -> ir.Value:
    """Where C's first element goes: the output buffer, or the corner of its view."""
    return frame.pointer(call.output) if call.out_view is None else frame.access_base(call.out_view)


def _block_function(printer, dtype: str) -> ir.Function:
    """The module's ``gemm_block_<dtype>``: the BLAS call for rows ``[r0, r1)`` and columns
    ``[c0, c1)`` of C (as the column-major product ``C^T = B^T @ A^T``); when ``k`` is 0, C is
    zeroed or scaled by beta here (BLAS may then leave it untouched).  The library takes 32-bit
    integers unless the ``ilp64`` global is set (bound at load time: NumPy's OpenBLAS).  Glue
    around one call: not optimized."""
    name = f"theanine_gemm_block_{dtype}"
    if name in printer.module.globals:
        return printer.module.globals[name]
    t, pointer = compute_type(dtype), memory_type(dtype).as_pointer()
    signature = ir.FunctionType(ir.VoidType(), [I64] * 6 + [t, t] + [I8P, I64, pointer, I64] * 2 + [pointer])
    function = ir.Function(printer.module, signature, name)
    function.linkage = "internal"
    function.attributes.add("noinline")
    function.attributes.add("optnone")
    printer.callees.append(function)
    (row_start, row_stop, column_start, column_stop, n, k, alpha, beta,
     op_a, ld_a, a_base, a_row_step, op_b, ld_b, b_base, b_column_step, out_base) = function.args
    b = ir.IRBuilder(function.append_basic_block("entry"))
    wide = b.icmp_unsigned("!=", b.load(_blas_global(printer, "ilp64")), ir.Constant(I8P, None))
    address = b.load(_blas_global(printer, dtype))

    def slot(value, ty):
        memory = b.alloca(ty)
        b.store(value, memory)
        return memory

    def call_gemm(integer: ir.IntType, arguments: list) -> None:
        """The Fortran ``?gemm`` with integers of ``integer``'s width (``arguments``: int64 values
        where the call takes integers)."""
        fn_type = ir.FunctionType(ir.VoidType(), [I8P, I8P] + [integer.as_pointer()] * 3 + [
            t.as_pointer(), t.as_pointer(), integer.as_pointer(), t.as_pointer(), integer.as_pointer(),
            t.as_pointer(), t.as_pointer(), integer.as_pointer()])
        passed = [slot(a if integer is I64 else b.trunc(a, I32), integer) if a.type == I64 else a
                  for a in arguments]
        b.call(b.bitcast(address, fn_type.as_pointer()), passed)

    height, width = b.sub(row_stop, row_start), b.sub(column_stop, column_start)
    ldc = b.select(b.icmp_signed(">", n, ir.Constant(I64, 1)), n, ir.Constant(I64, 1))
    output = b.gep(out_base, [b.add(b.mul(row_start, ldc), column_start)])
    a_rows = b.gep(a_base, [b.mul(row_start, a_row_step)])
    b_columns = b.gep(b_base, [b.mul(column_start, b_column_step)])
    arguments = [op_b, op_a, width, height, k, slot(alpha, t), b_columns, ld_b, a_rows, ld_a, slot(beta, t),
                 output, ldc]
    nonempty = b.and_(b.icmp_signed(">", height, ir.Constant(I64, 0)), b.icmp_signed(">", width, ir.Constant(I64, 0)))
    own, kernel = ir.Constant(ir.IntType(1), 0), None
    if dtype == "float32":  # B row-major: the register-blocked kernel, which reads B without packing it
        kernel = b.load(_blas_global(printer, "small_float32"))
        row_major_b = b.icmp_unsigned("==", b.load(op_b), ir.Constant(ir.IntType(8), ord("N")))
        bound = b.icmp_unsigned("!=", kernel, ir.Constant(I8P, None))
        own = b.and_(b.and_(bound, row_major_b), small_gemm.fits(b, height, width, k))
    with b.if_then(nonempty):
        with b.if_else(b.icmp_signed("==", k, ir.Constant(I64, 0))) as (empty_sum, product):
            with empty_sum:
                loops, (i, j) = nested_ranges(b, [height, width], "zero")
                with loops:
                    target = b.gep(output, [b.add(b.mul(i, ldc), j)])
                    zero = ir.Constant(t, 0.0)
                    scaled = b.fmul(load_value(b, target, dtype), beta)  # beta 0: 0 without reading, as BLAS
                    store_value(b, b.select(b.fcmp_ordered("==", beta, zero), zero, scaled), target, dtype)
            with product, b.if_else(own) as (register_blocked, blas):
                with register_blocked:
                    if kernel is not None:
                        a_transposed = b.zext(b.icmp_unsigned("==", b.load(op_a), ir.Constant(ir.IntType(8),
                                                                                               ord("T"))), I32)
                        b.call(b.bitcast(kernel, small_gemm.SIGNATURE.as_pointer()),
                               [height, width, k, a_rows, ld_a, a_transposed, b_columns, ld_b, output, ldc, alpha,
                                beta])
                with blas:
                    set_threads = b.load(_blas_global(printer, "threads_local"))
                    controllable = b.icmp_unsigned("!=", set_threads, ir.Constant(I8P, None))
                    setter = b.bitcast(set_threads, ir.FunctionType(I32, [I32]).as_pointer())
                    previous = b.alloca(I32)
                    with b.if_then(controllable):
                        b.store(b.call(setter, [ir.Constant(I32, 1)]), previous)
                    with b.if_else(wide) as (ilp64, lp64):
                        with ilp64:
                            call_gemm(I64, arguments)
                        with lp64:
                            call_gemm(I32, arguments)
                    with b.if_then(controllable):
                        b.call(setter, [b.load(previous)])
    b.ret_void()
    return function


def _loop_product(frame, call: GemmCall, m: ir.Value, n: ir.Value) -> None:
    """The same product by plain loops, writing through the output's own strides."""
    b = frame.builder
    k = frame.dim(call.k)
    t = compute_type(call.dtype)
    a_strides, b_strides = frame.access_strides(call.a), frame.access_strides(call.b)
    out_strides = _output_strides(frame, call)
    acc = frame.alloca(t)
    loops, (i, j) = nested_ranges(b, [m, n], "g")
    with loops:
        b.store(ir.Constant(t, 0.0), acc)
        with for_range(b, k, "gk") as p:
            x = load_value(b, b.gep(frame.access_base(call.a), [_offset(b, (i, p), a_strides)]), call.dtype)
            y = load_value(b, b.gep(frame.access_base(call.b), [_offset(b, (p, j), b_strides)]), call.dtype)
            b.store(b.fadd(b.load(acc), b.fmul(x, y)), acc)
        target = b.gep(_output_base(frame, call), [_offset(b, (i, j), out_strides)])
        value = b.fmul(b.load(acc), ir.Constant(t, call.alpha))
        if call.beta != 0.0:
            value = b.fadd(value, b.fmul(load_value(b, target, call.dtype), ir.Constant(t, call.beta)))
        store_value(b, value, target, call.dtype)


def _offset(b: ir.IRBuilder, indices, strides) -> ir.Value:
    return b.add(b.mul(indices[0], strides[0]), b.mul(indices[1], strides[1]))


def _blas_operand(frame, access: Access, rows_col_major: ir.Value):
    """Transpose flag and leading dimension for an operand read through ``access`` (its last two axes).

    The operand's buffer is C-contiguous (the runner makes it so): matrix
    axes in decreasing order, e.g. (1, 0), read it transposed; a vector read
    as a row or column (one axis None) is a row-major matrix with one row or
    column.
    """
    b = frame.builder
    strides = frame.access_strides(access)[-2:]
    rows_axis, columns_axis = access.axes[-2:]
    row_major = rows_axis is None or columns_axis is None or rows_axis < columns_axis
    flag = _flag(frame.printer.module, "N" if row_major else "T")
    ld = strides[0] if row_major else strides[1]
    bound = rows_col_major if row_major else ir.Constant(I64, 1)
    ld = b.select(b.icmp_signed(">", ld, bound), ld, bound)
    ld = b.select(b.icmp_signed(">", ld, ir.Constant(I64, 1)), ld, ir.Constant(I64, 1))
    return b.bitcast(flag, I8P), ld


def _flag(module: ir.Module, letter: str) -> ir.GlobalVariable:
    name = f"blas_flag_{letter}"
    if name not in module.globals:
        flag = ir.GlobalVariable(module, ir.IntType(8), name)
        flag.initializer = ir.Constant(ir.IntType(8), ord(letter))
        flag.global_constant = True
    return module.globals[name]


def _blas_global(printer, dtype: str) -> ir.GlobalVariable:
    name = BLAS_GLOBALS[dtype]
    if name not in printer.module.globals:
        g = ir.GlobalVariable(printer.module, I8P, name)
        g.initializer = ir.Constant(I8P, None)
    printer.blas_used.add(name)
    return printer.module.globals[name]


__all__ = ["BLAS_GLOBALS", "emit_gemm"]
