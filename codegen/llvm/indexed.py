"""Steps of the LLVM printer that walk an index space in a fixed order:
arg-reductions, scans (cumulative sums/products), mask compactions, scatters,
argsorts and sorted searches.

Each is a function ``emit_*(frame, step)`` called by
``LLVMPrinter`` with the segment's frame.  Scans and arg-reductions split
their outer loops across threads like the other kernels; compactions and
scatters run on thread 0 in C order, so repeated coordinates accumulate in the order NumPy
applies them, and report an out-of-bounds coordinate as the step's failure
(the other threads learn of it at the barrier).  Argsorts run on thread 0
too (a merge sort); sorted searches split their queries across threads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from llvmlite import ir

from theanine.codegen.llvm import scalar
from theanine.codegen.llvm.ir_types import (
    F32,
    I64,
    compute_type,
    convert,
    is_float,
    is_unsigned,
    load_value,
    memory_type,
    store_value,
)
from theanine.codegen.llvm.loops import (
    contiguous_strides,
    for_range,
    interleave_axes,
    linear_offset,
    minimum,
    nested_ranges,
    product,
)
from theanine.codegen.program.kernel_ir import (
    ArgReduceKernel,
    DimOf,
    NonzeroKernel,
    ScanKernel,
    ScatterKernel,
    SortKernel,
)


def _source(frame, access, dtype):
    """(base pointer, strides, dtype, alias metadata: none, as a scatter's target may alias its inputs)."""
    return frame.access_base(access), frame.access_strides(access), dtype, None


def _read(frame, source, indices) -> ir.Value:
    pointer, strides, dtype, _ = source
    b = frame.builder
    return load_value(b, b.gep(pointer, [linear_offset(b, indices, strides)]), dtype)


def _kept_loops(frame, dims, kept, work):
    """Loops over the kept axes, split across threads (thread 0 alone when nothing is kept)."""
    if kept:
        return nested_ranges(frame.builder, [dims[a] for a in kept], "k", frame.share(dims[kept[0]], work))
    first = frame.builder.icmp_signed("==", frame.thread, ir.Constant(I64, 0))
    one = frame.builder.select(first, ir.Constant(I64, 1), ir.Constant(I64, 0))
    stack, _ = nested_ranges(frame.builder, [one], "k")
    return stack, []



# arg-reductions -------------------------------------------------------------------


def emit_arg_reduce(frame, kernel: ArgReduceKernel) -> None:
    """First position of the max/min over ``axes`` (a NaN is the extreme; an empty block fails)."""
    b = frame.builder
    dtype = frame.printer.program.buffers[kernel.input.buffer].dtype
    dims = [frame.dim(e) for e in kernel.shape]
    kept = [a for a in range(len(dims)) if a not in kernel.axes]
    block = product(b, [dims[a] for a in kernel.axes])
    kept_total = product(b, [dims[a] for a in kept])
    empty = b.and_(b.icmp_signed("==", block, ir.Constant(I64, 0)), b.icmp_signed(">", kept_total, ir.Constant(I64, 0)))
    frame.fail_unless(b.not_(empty))
    source = _source(frame, kernel.input, dtype)
    out = frame.pointer(kernel.output)
    out_strides = contiguous_strides(b, [dims[a] for a in kept])
    block_strides = contiguous_strides(b, [dims[a] for a in kernel.axes])
    best = frame.alloca(compute_type(dtype))
    position = frame.alloca(I64)
    outer, outer_idx = _kept_loops(frame, dims, kept, product(b, dims))
    with outer:
        b.store(ir.Constant(I64, 0), position)
        inner, inner_idx = nested_ranges(b, [dims[a] for a in kernel.axes], "a")
        with inner:
            j = linear_offset(b, inner_idx, block_strides)
            value = _read(frame, source, interleave_axes(kept, outer_idx, kernel.axes, inner_idx))
            first = b.icmp_signed("==", j, ir.Constant(I64, 0))
            take = b.or_(first, _better(b, kernel.kind, value, b.load(best), dtype))
            b.store(b.select(take, value, b.load(best)), best)
            b.store(b.select(take, j, b.load(position)), position)
        b.store(b.load(position), b.gep(out, [linear_offset(b, outer_idx, out_strides)]))


def _better(b: ir.IRBuilder, kind: str, value: ir.Value, best: ir.Value, dtype: str) -> ir.Value:
    """Whether ``value`` replaces ``best``: strictly more extreme, or the first NaN."""
    op = ">" if kind == "argmax" else "<"
    if is_float(dtype):
        best_is_nan = b.fcmp_unordered("uno", best, best)
        value_is_nan = b.fcmp_unordered("uno", value, value)
        return b.and_(b.not_(best_is_nan), b.or_(b.fcmp_ordered(op, value, best), value_is_nan))
    if dtype == "bool" or is_unsigned(dtype):
        return b.icmp_unsigned(op, value, best)
    return b.icmp_signed(op, value, best)


# scans -------------------------------------------------------------------------------


def emit_scan(frame, kernel: ScanKernel) -> None:
    """Running sum/product along ``axis``, each step rounded to the output dtype (as NumPy's loop)."""
    b = frame.builder
    in_dtype = frame.printer.program.buffers[kernel.input.buffer].dtype
    dims = [frame.dim(e) for e in kernel.shape]
    others = [a for a in range(len(dims)) if a != kernel.axis]
    source = _source(frame, kernel.input, in_dtype)
    out = frame.pointer(kernel.output)
    out_strides = contiguous_strides(b, dims)
    acc = frame.alloca(compute_type(kernel.dtype))
    length = dims[kernel.axis]
    outer, outer_idx = _kept_loops(frame, dims, others, product(b, dims))
    with outer:
        b.store(scalar.reduce_identity(kernel.combine, kernel.dtype), acc)
        with for_range(b, length, "s") as t:
            position = b.sub(b.sub(length, ir.Constant(I64, 1)), t) if kernel.reverse else t
            indices = interleave_axes(others, outer_idx, [kernel.axis], [position])
            value = convert(b, _read(frame, source, indices), in_dtype, kernel.dtype)
            total = _combine(b, kernel.combine, b.load(acc), value, kernel.dtype)
            b.store(total, acc)
            store_value(b, total, b.gep(out, [linear_offset(b, indices, out_strides)]), kernel.dtype)


def _combine(b: ir.IRBuilder, combine: str, acc: ir.Value, x: ir.Value, dtype: str) -> ir.Value:
    """``acc + x`` or ``acc * x`` in order (no reassociation), rounded to float16 when that is the dtype."""
    if dtype == "bool":
        return b.or_(acc, x) if combine == "add" else b.and_(acc, x)
    if not is_float(dtype):
        return b.add(acc, x) if combine == "add" else b.mul(acc, x)
    result = b.fadd(acc, x) if combine == "add" else b.fmul(acc, x)
    if dtype == "float16":
        result = b.fpext(b.fptrunc(result, memory_type(dtype)), F32)
    return result


# mask compactions ------------------------------------------------------------------


def emit_nonzero(frame, kernel: NonzeroKernel) -> None:
    """One row of coordinates per nonzero element, in C order, on thread 0 (a running row counter)."""
    b = frame.builder
    dtype = frame.printer.program.buffers[kernel.input.buffer].dtype
    dims = [frame.dim(e) for e in kernel.shape]
    source = _source(frame, kernel.input, dtype)
    out = frame.pointer(kernel.output)
    rows = frame.dim(DimOf(kernel.output, 0))
    row_stride, column_stride = frame.stride(kernel.output, 0), frame.stride(kernel.output, 1)
    row = frame.alloca(I64)
    with frame.on_thread_zero():
        b.store(ir.Constant(I64, 0), row)
        loops, indices = nested_ranges(b, dims, "nz")
        with loops:
            current = b.load(row)
            taken = b.and_(convert(b, _read(frame, source, indices), dtype, "bool"),
                           b.icmp_signed("<", current, rows))
            with b.if_then(taken):
                corner = b.mul(current, row_stride)
                for axis, i in enumerate(indices):
                    column = b.mul(ir.Constant(I64, axis), column_stride)
                    b.store(i, b.gep(out, [b.add(corner, column)]))
                b.store(b.add(current, ir.Constant(I64, 1)), row)


# scatters ----------------------------------------------------------------------------


def emit_scatter(frame, kernel: ScatterKernel) -> None:
    """``target[coords(e)] = / += value(e)`` for every ``e`` in C order, on thread 0."""
    b = frame.builder
    printer = frame.printer
    buffers = printer.program.buffers
    dims = [frame.dim(e) for e in kernel.shape]
    for left, right in kernel.checks:
        frame.fail_unless(b.icmp_signed("==", frame.dim(left), frame.dim(right)))
    sources = [_source(frame, a, buffers[a.buffer].dtype) for a in kernel.inputs]
    target_dtype = buffers[kernel.target].dtype
    target = frame.pointer(kernel.target)
    target_strides = [frame.stride(kernel.target, k) for k in range(len(kernel.coords))]
    with frame.on_thread_zero():
        loops, indices = nested_ranges(b, dims, "sc")
        with loops:
            cache: dict = {}

            def arg(position):
                return _read(frame, sources[position], indices)

            coords = [printer.expr(frame, c, arg, cache, indices, sources) for c in kernel.coords]
            ok, offset = printer.checked_offset(frame, coords, kernel.sizes, kernel.checked, target_strides)
            with b.if_then(ok):
                value = printer.expr(frame, kernel.value, arg, cache, indices, sources)
                value = convert(b, value, kernel.value.dtype, target_dtype)
                slot = b.gep(target, [offset])
                if kernel.mode == "add":
                    current = load_value(b, slot, target_dtype)
                    value = scalar.emit(b, "add", [current, value], [target_dtype, target_dtype], target_dtype)
                store_value(b, value, slot, target_dtype)


# argsorts and sorted searches ----------------------------------------------------------


@contextlib.contextmanager
def _while(b: ir.IRBuilder, condition: Callable[[], ir.Value], name: str) -> Iterator[None]:
    """``while (condition()) { body }``: the condition is emitted in the loop header, the body by the block."""
    header = b.function.append_basic_block(f"{name}.header")
    body = b.function.append_basic_block(f"{name}.body")
    end = b.function.append_basic_block(f"{name}.end")
    b.branch(header)
    b.position_at_end(header)
    b.cbranch(condition(), body, end)
    b.position_at_end(body)
    yield
    b.branch(header)
    b.position_at_end(end)


def _less(b: ir.IRBuilder, x: ir.Value, y: ir.Value, dtype: str) -> ir.Value:
    """``x < y`` as numbers of ``dtype`` (NumPy's ``less``: false when either is NaN)."""
    return scalar.emit(b, "less", [x, y], [dtype, dtype], "bool")


def emit_sort(frame, kernel: SortKernel) -> None:
    """An argsort (merge sort on thread 0) or sorted searches (split across threads)."""
    if kernel.kind == "argsort":
        _emit_argsort(frame, kernel)
    else:
        _emit_search(frame, kernel)


def _emit_argsort(frame, kernel: SortKernel) -> None:
    """Bottom-up merge sort of positions by key: runs of ``width`` merge into runs of ``2 width``,
    alternately from ``output`` into ``scratch`` and back; a last copy when it ends in ``scratch``."""
    b = frame.builder
    keys = _source(frame, kernel.keys, frame.printer.program.buffers[kernel.keys.buffer].dtype)
    n = frame.dim(kernel.length)
    out, scratch = frame.pointer(kernel.output), frame.pointer(kernel.scratch)
    width, source, target = frame.alloca(I64), frame.alloca(out.type), frame.alloca(out.type)
    with frame.on_thread_zero():
        with for_range(b, n, "sort.init") as k:
            b.store(k, b.gep(out, [k]))
        b.store(ir.Constant(I64, 1), width)
        b.store(out, source)
        b.store(scratch, target)
        with _while(b, lambda: b.icmp_signed("<", b.load(width), n), "sort.pass"):
            runs_from, runs_to = b.load(source), b.load(target)
            _merge_pass(frame, keys, runs_from, runs_to, n, b.load(width))
            b.store(runs_to, source)
            b.store(runs_from, target)
            b.store(b.shl(b.load(width), ir.Constant(I64, 1)), width)
        in_scratch = b.icmp_unsigned("!=", b.ptrtoint(b.load(source), I64), b.ptrtoint(out, I64))
        with b.if_then(in_scratch), for_range(b, n, "sort.copy") as k:
            b.store(b.load(b.gep(scratch, [k])), b.gep(out, [k]))


def _merge_pass(frame, keys, runs_from: ir.Value, runs_to: ir.Value, n: ir.Value, width: ir.Value) -> None:
    """Merge each pair of adjacent sorted runs of ``width`` positions (stable: on equal keys the
    left run's position goes first), branch-free: reads past a run are clamped and ignored."""
    b = frame.builder
    dtype = keys[2]
    left, right = frame.alloca(I64), frame.alloca(I64)
    span = b.shl(width, ir.Constant(I64, 1))
    runs = b.sdiv(b.add(n, b.sub(span, ir.Constant(I64, 1))), span)
    last = b.sub(n, ir.Constant(I64, 1))
    with for_range(b, runs, "sort.run") as r:
        low = b.mul(r, span)
        middle = minimum(b, b.add(low, width), n)
        high = minimum(b, b.add(low, span), n)
        b.store(low, left)
        b.store(middle, right)
        with for_range(b, high, "sort.merge", low) as k:
            i, j = b.load(left), b.load(right)
            from_left = b.load(b.gep(runs_from, [minimum(b, i, last)]))
            from_right = b.load(b.gep(runs_from, [minimum(b, j, last)]))
            right_smaller = _less(b, _read(frame, keys, [from_right]), _read(frame, keys, [from_left]), dtype)
            left_done = b.icmp_signed(">=", i, middle)
            take_right = b.and_(b.icmp_signed("<", j, high), b.or_(left_done, right_smaller))
            b.store(b.select(take_right, from_right, from_left), b.gep(runs_to, [k]))
            b.store(b.add(i, b.zext(b.not_(take_right), I64)), left)
            b.store(b.add(j, b.zext(take_right, I64)), right)


def _emit_search(frame, kernel: SortKernel) -> None:
    """For each query, NumPy's right-side binary search: move right past ``key`` unless
    ``query < key`` or ``key`` is NaN (and the query is not)."""
    b = frame.builder
    buffers = frame.printer.program.buffers
    dtype = buffers[kernel.keys.buffer].dtype
    keys = _source(frame, kernel.keys, dtype)
    queries = _source(frame, kernel.queries, buffers[kernel.queries.buffer].dtype)
    n, count = frame.dim(kernel.length), frame.dim(kernel.count)
    out = frame.pointer(kernel.output)
    low, high = frame.alloca(I64), frame.alloca(I64)
    start, stop = frame.share(count, count)
    with for_range(b, stop, "search", start) as q:
        query = convert(b, _read(frame, queries, [q]), queries[2], dtype)
        b.store(ir.Constant(I64, 0), low)
        b.store(n, high)
        with _while(b, lambda: b.icmp_signed("<", b.load(low), b.load(high)), "search.step"):
            lo, hi = b.load(low), b.load(high)
            middle = b.add(lo, b.ashr(b.sub(hi, lo), ir.Constant(I64, 1)))
            key = _read(frame, keys, [middle])
            stays_left = _less(b, query, key, dtype)
            if is_float(dtype):
                key_is_nan = b.and_(b.fcmp_unordered("uno", key, key), b.fcmp_ordered("ord", query, query))
                stays_left = b.or_(stays_left, key_is_nan)
            b.store(b.select(stays_left, lo, b.add(middle, ir.Constant(I64, 1))), low)
            b.store(b.select(stays_left, middle, hi), high)
        b.store(b.load(low), b.gep(out, [q]))


__all__ = ["emit_arg_reduce", "emit_scan", "emit_nonzero", "emit_scatter", "emit_sort"]
