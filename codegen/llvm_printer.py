"""The LLVM printer: a kernel Program becomes one LLVM module.

Each maximal run of native steps becomes one entry function

    i32 segment_k(PyTupleObject* buffers, i64 thread, i64 threads, i64* barrier)

where item b of the tuple is buffer b's ndarray: the function reads data
pointers, shapes and strides from the arrays themselves (see
``pyobject_layout``).  It returns 0, or 1 + the index of the step whose
run-time shape check failed, so the caller can name the node.

Threads: the caller may run the same segment on ``threads`` threads at
once.  Each kernel splits its outermost loop into equal shares (kernels
under ``PARALLEL_MIN_ELEMENTS`` elements, full reductions and library calls
run on thread 0 only), and all threads meet at a barrier after each step,
so a step sees every earlier step's results.

Loops are plain scalar loops written so that LLVM's loop vectorizer turns
them into SIMD code for the host CPU: a contiguous fast path walks every
operand with unit stride; the general path uses strides (0 for broadcast).
"""

from __future__ import annotations

from llvmlite import ir

from theanine.codegen import llvm_scalar, pyobject_layout
from theanine.codegen.kernel_ir import (
    Access, Arg, Call, DimOf, ElementwiseKernel, Expr, GemmCall, Index, Lit, Program, ReduceKernel, Size, segments,
    uses_indices,
)
from theanine.codegen.llvm_loops import for_range, nested_ranges
from theanine.codegen.llvm_types import (
    I1, I8P, I32, I64, compute_type, convert, load_value, memory_type, store_value,
)

BLAS_GLOBALS = {"float32": "theanine_sgemm", "float64": "theanine_dgemm", "threads_local": "theanine_blas_threads"}
PARALLEL_MIN_ELEMENTS = 1 << 15
_ITEMSIZE = {"bool": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "float16": 2, "int32": 4, "uint32": 4,
             "float32": 4, "int64": 8, "uint64": 8, "float64": 8}


class _Frame:
    """Per-entry-function state: the builder, and loads of array fields.

    Fields of the buffer arrays are loaded once, in the function's first
    block, which dominates every use.
    """

    def __init__(self, printer: LLVMPrinter, function: ir.Function):
        self.printer = printer
        prologue = function.append_basic_block("prologue")
        entry = function.append_basic_block("entry")
        self._prologue = ir.IRBuilder(prologue)
        self._jump = self._prologue.branch(entry)
        self.builder = ir.IRBuilder(entry)
        tuple_object, self.thread, self.threads, self.barrier_state = function.args
        self._position_prologue()
        self.items = self._prologue.bitcast(
            self._prologue.gep(tuple_object, [ir.Constant(I64, pyobject_layout.TUPLE_ITEMS)]), I8P.as_pointer()
        )
        self._fields: dict[tuple, ir.Value] = {}

    def _position_prologue(self) -> ir.IRBuilder:
        self._prologue.position_before(self._jump)
        return self._prologue

    def alloca(self, ty: ir.Type) -> ir.Value:
        """A stack slot in the first block (never inside a loop, where it would grow the stack)."""
        return self._position_prologue().alloca(ty)

    def _field(self, key: tuple, make) -> ir.Value:
        if key not in self._fields:
            self._fields[key] = make(self._position_prologue())
        return self._fields[key]

    def _array(self, buffer: int) -> ir.Value:
        return self._field(("array", buffer), lambda b: b.load(b.gep(self.items, [ir.Constant(I64, buffer)])))

    def _array_field(self, buffer: int, offset: int, ty: ir.Type) -> ir.Value:
        def make(b):
            address = b.gep(self._array(buffer), [ir.Constant(I64, offset)])
            return b.load(b.bitcast(address, ty.as_pointer()))

        return self._field(("field", buffer, offset), make)

    def dim(self, expr) -> ir.Value:
        if not isinstance(expr, DimOf):
            return ir.Constant(I64, int(expr))
        dims = self._array_field(expr.buffer, pyobject_layout.ARRAY_DIMENSIONS, I64.as_pointer())
        return self._field(("dim", expr.buffer, expr.axis),
                           lambda b: b.load(b.gep(dims, [ir.Constant(I64, expr.axis)])))

    def stride(self, buffer: int, axis: int) -> ir.Value:
        """Stride of ``axis`` in elements (NumPy keeps bytes)."""
        strides = self._array_field(buffer, pyobject_layout.ARRAY_STRIDES, I64.as_pointer())
        itemsize = _ITEMSIZE[self.printer.program.buffers[buffer].dtype]

        def make(b):
            in_bytes = b.load(b.gep(strides, [ir.Constant(I64, axis)]))
            return b.sdiv(in_bytes, ir.Constant(I64, itemsize), flags=("exact",))

        return self._field(("stride", buffer, axis), make)

    def pointer(self, buffer: int) -> ir.Value:
        dtype = self.printer.program.buffers[buffer].dtype
        raw = self._array_field(buffer, pyobject_layout.ARRAY_DATA, I8P)
        return self._field(("pointer", buffer), lambda b: b.bitcast(raw, memory_type(dtype).as_pointer()))

    def share(self, count: ir.Value, work: ir.Value) -> tuple[ir.Value, ir.Value]:
        """This thread's ``[start, stop)`` of ``range(count)``; small ``work`` stays on thread 0."""
        b = self.builder
        threads = self.threads
        chunk = b.sdiv(b.add(count, b.sub(threads, ir.Constant(I64, 1))), threads)
        start = _minimum(b, b.mul(self.thread, chunk), count)
        stop = _minimum(b, b.add(start, chunk), count)
        small = b.icmp_signed("<", work, ir.Constant(I64, PARALLEL_MIN_ELEMENTS))
        first = b.icmp_signed("==", self.thread, ir.Constant(I64, 0))
        start = b.select(small, b.select(first, ir.Constant(I64, 0), count), start)
        stop = b.select(small, count, stop)
        return start, stop

    def on_thread_zero(self):
        """Emit the ``with`` block on thread 0 only."""
        return self.builder.if_then(self.builder.icmp_signed("==", self.thread, ir.Constant(I64, 0)))

    def access_strides(self, access: Access) -> list[ir.Value]:
        return [ir.Constant(I64, 0) if a is None else self.stride(access.buffer, a) for a in access.axes]

    def fail_unless(self, condition: ir.Value, step_index: int) -> None:
        """Return ``step_index + 1`` from the entry function unless ``condition`` holds."""
        b = self.builder
        ok = b.function.append_basic_block("ok")
        fail = b.function.append_basic_block("fail")
        b.cbranch(condition, ok, fail)
        b.position_at_end(fail)
        b.ret(ir.Constant(I32, step_index + 1))
        b.position_at_end(ok)


def _product(builder: ir.IRBuilder, values: list[ir.Value]) -> ir.Value:
    total = ir.Constant(I64, 1)
    for v in values:
        total = builder.mul(total, v)
    return total


def _contiguous_strides(builder: ir.IRBuilder, dims: list[ir.Value]) -> list[ir.Value]:
    strides = [ir.Constant(I64, 1)] * len(dims)
    for a in range(len(dims) - 2, -1, -1):
        strides[a] = builder.mul(strides[a + 1], dims[a + 1])
    return strides


def _linear_offset(builder: ir.IRBuilder, indices: list[ir.Value], strides: list[ir.Value]) -> ir.Value:
    offset = ir.Constant(I64, 0)
    for i, s in zip(indices, strides):
        offset = builder.add(offset, builder.mul(i, s))
    return offset


class LLVMPrinter:
    """Prints one Program as one module; ``entry_names`` lists its segment functions."""

    def __init__(self, program: Program, name: str = "theanine"):
        self.program = program
        self.module = ir.Module(name=name)
        self.entry_names: list[str] = []
        self.blas_used: set[str] = set()
        for k, (kind, steps) in enumerate(segments(program)):
            if kind == "native":
                self.entry_names.append(self._segment(f"segment_{k}", steps))

    def _segment(self, name: str, steps: list) -> str:
        signature = ir.FunctionType(I32, [I8P, I64, I64, I64.as_pointer()])
        function = ir.Function(self.module, signature, name)
        frame = _Frame(self, function)
        emit = {ElementwiseKernel: self._elementwise, ReduceKernel: self._reduce, GemmCall: self._gemm}
        for step in steps:
            emit[type(step)](frame, step, self.program.steps.index(step))
            self._barrier(frame)
        frame.builder.ret(ir.Constant(I32, 0))
        return name

    def _barrier(self, frame: _Frame) -> None:
        """All threads wait here until every one has arrived (nothing to do when alone)."""
        b = frame.builder
        with b.if_then(b.icmp_signed(">", frame.threads, ir.Constant(I64, 1))):
            b.call(self._barrier_function(), [frame.barrier_state, frame.threads])

    def _barrier_function(self) -> ir.Function:
        """A sense-counting barrier over ``state = [arrived, generation]``, yielding while it waits."""
        name = "theanine_barrier"
        if name in self.module.globals:
            return self.module.globals[name]
        function = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [I64.as_pointer(), I64]), name)
        function.linkage = "internal"
        state, threads = function.args
        b = ir.IRBuilder(function.append_basic_block("entry"))
        arrived = b.gep(state, [ir.Constant(I64, 0)])
        generation = b.gep(state, [ir.Constant(I64, 1)])
        seen = b.load_atomic(generation, "acquire", 8)
        before = b.atomic_rmw("add", arrived, ir.Constant(I64, 1), "acq_rel")
        last = b.icmp_signed("==", before, b.sub(threads, ir.Constant(I64, 1)))
        with b.if_else(last) as (release, wait):
            with release:
                b.store_atomic(ir.Constant(I64, 0), arrived, "monotonic", 8)
                b.atomic_rmw("add", generation, ir.Constant(I64, 1), "release")
            with wait:
                loop = function.append_basic_block("wait")
                done = function.append_basic_block("done")
                b.branch(loop)
                b.position_at_end(loop)
                yield_fn = self.module.globals.get("sched_yield") or ir.Function(
                    self.module, ir.FunctionType(I32, []), "sched_yield")
                b.call(yield_fn, [])
                now = b.load_atomic(generation, "acquire", 8)
                b.cbranch(b.icmp_signed("==", now, seen), loop, done)
                b.position_at_end(done)
        b.ret_void()
        return function

    # elementwise ---------------------------------------------------------------
    def _elementwise(self, frame: _Frame, kernel: ElementwiseKernel, index: int) -> None:
        b = frame.builder
        dims = [frame.dim(e) for e in kernel.shape]
        for left, right in kernel.checks:
            frame.fail_unless(b.icmp_signed("==", frame.dim(left), frame.dim(right)), index)
        inputs = [(frame.pointer(a.buffer), frame.access_strides(a)) for a in kernel.inputs]
        outputs = [frame.pointer(o) for o in kernel.outputs]
        dense = _contiguous_strides(b, dims)
        contiguous = ir.Constant(I1, 1)
        for _, strides in inputs:
            for d, s, c in zip(dims, strides, dense):
                fits = b.or_(b.icmp_signed("==", d, ir.Constant(I64, 1)), b.icmp_signed("==", s, c))
                contiguous = b.and_(contiguous, fits)
        total = _product(b, dims)

        def strided():
            if not dims:
                with frame.on_thread_zero():
                    self._element(frame, kernel, [(p, ir.Constant(I64, 0)) for p, _ in inputs], outputs,
                                  ir.Constant(I64, 0), [])
                return
            stack, indices = nested_ranges(b, dims, "e", frame.share(dims[0], total))
            with stack:
                offsets = [(p, _linear_offset(b, indices, s)) for p, s in inputs]
                self._element(frame, kernel, offsets, outputs, _linear_offset(b, indices, dense), indices)

        if uses_indices(kernel.exprs):
            strided()
            return
        with b.if_else(contiguous) as (then, otherwise):
            with then:
                start, stop = frame.share(total, total)
                with for_range(b, stop, "flat", start) as j:
                    self._element(frame, kernel, [(p, j) for p, _ in inputs], outputs, j, None)
            with otherwise:
                strided()

    def _element(self, frame: _Frame, kernel: ElementwiseKernel, inputs, outputs, out_offset, indices) -> None:
        b = frame.builder
        buffers = self.program.buffers
        args = [load_value(b, b.gep(p, [o]), buffers[a.buffer].dtype) for (p, o), a in zip(inputs, kernel.inputs)]
        cache: dict = {}
        for expr, pointer, index in zip(kernel.exprs, outputs, kernel.outputs):
            dtype = buffers[index].dtype
            value = convert(b, self._expr(frame, expr, args, cache, indices), expr.dtype, dtype)
            store_value(b, value, b.gep(pointer, [out_offset]), dtype)

    def _expr(self, frame: _Frame, expr: Expr, args: list, cache: dict, indices) -> ir.Value:
        """Emit a scalar expression DAG bottom-up (iteratively), sharing equal subexpressions."""
        b = frame.builder
        stack = [(expr, False)]
        while stack:
            e, ready = stack.pop()
            if e in cache:
                continue
            if isinstance(e, Arg):
                cache[e] = args[e.position]
            elif isinstance(e, Lit):
                cache[e] = ir.Constant(compute_type(e.dtype), e.value)
            elif isinstance(e, Index):
                cache[e] = indices[e.axis]
            elif isinstance(e, Size):
                cache[e] = frame.dim(e.dim)
            elif not ready:
                stack.append((e, True))
                stack.extend((a, False) for a in e.args if a not in cache)
            else:
                values = [cache[a] for a in e.args]
                cache[e] = llvm_scalar.emit(b, e.op, values, [a.dtype for a in e.args], e.dtype)
        return cache[expr]

    # reductions ---------------------------------------------------------------------
    def _reduce(self, frame: _Frame, kernel: ReduceKernel, index: int) -> None:
        """Combine ``kernel.expr`` over the reduced axes.

        When the innermost axis is reduced, each output element accumulates
        in a register (float32 sums in float64); otherwise the output is
        initialized with the identity and updated in input order, so the
        inner loop stays unit-stride either way.
        """
        b = frame.builder
        acc_dtype = _accumulator_dtype(kernel.combine, kernel.dtype)
        dims = [frame.dim(e) for e in kernel.shape]
        for left, right in kernel.checks:
            frame.fail_unless(b.icmp_signed("==", frame.dim(left), frame.dim(right)), index)
        inputs = [(frame.pointer(a.buffer), frame.access_strides(a)) for a in kernel.inputs]
        target = frame.pointer(kernel.output)
        kept = [a for a in range(len(dims)) if a not in kernel.axes]
        out_strides = dict(zip(kept, _contiguous_strides(b, [dims[a] for a in kept])))
        identity = llvm_scalar.reduce_identity(kernel.combine, acc_dtype)
        in_dtypes = [self.program.buffers[a.buffer].dtype for a in kernel.inputs]

        def element(indices):
            args = [load_value(b, b.gep(p, [_linear_offset(b, indices, s)]), d)
                    for (p, s), d in zip(inputs, in_dtypes)]
            return convert(b, self._expr(frame, kernel.expr, args, {}, indices), kernel.expr.dtype, acc_dtype)

        work = _product(b, dims)
        if dims and (len(dims) - 1) in kernel.axes and kept:
            outer, outer_idx = nested_ranges(b, [dims[a] for a in kept], "o", frame.share(dims[kept[0]], work))
            with outer:
                acc = frame.alloca(compute_type(acc_dtype))
                b.store(identity, acc)
                inner, inner_idx = nested_ranges(b, [dims[a] for a in kernel.axes], "r")
                with inner:
                    indices = _merge(kept, outer_idx, kernel.axes, inner_idx)
                    value = llvm_scalar.reduce_combine(b, kernel.combine, b.load(acc), element(indices), acc_dtype)
                    b.store(value, acc)
                out_offset = _linear_offset(b, outer_idx, [out_strides[a] for a in kept])
                result = convert(b, b.load(acc), acc_dtype, kernel.dtype)
                store_value(b, result, b.gep(target, [out_offset]), kernel.dtype)
            return
        with frame.on_thread_zero():
            self._serial_reduce(frame, kernel, dims, kept, out_strides, identity, acc_dtype, element, target)

    def _serial_reduce(self, frame, kernel, dims, kept, out_strides, identity, acc_dtype, element, target) -> None:
        """Reductions that keep the innermost axis, or reduce everything: one thread, input order."""
        b = frame.builder
        if dims and (len(dims) - 1) in kernel.axes:
            acc = frame.alloca(compute_type(acc_dtype))
            b.store(identity, acc)
            loops, indices = nested_ranges(b, dims, "r")
            with loops:
                b.store(llvm_scalar.reduce_combine(b, kernel.combine, b.load(acc), element(indices), acc_dtype), acc)
            store_value(b, convert(b, b.load(acc), acc_dtype, kernel.dtype), target, kernel.dtype)
            return
        total = _product(b, [dims[a] for a in kept])
        with for_range(b, total, "init") as j:
            store_value(b, convert(b, identity, acc_dtype, kernel.dtype), b.gep(target, [j]), kernel.dtype)
        loops, indices = nested_ranges(b, dims, "a")
        with loops:
            out_offset = _linear_offset(b, [indices[a] for a in kept], [out_strides[a] for a in kept])
            slot = b.gep(target, [out_offset])
            current = convert(b, load_value(b, slot, kernel.dtype), kernel.dtype, acc_dtype)
            value = llvm_scalar.reduce_combine(b, kernel.combine, current, element(indices), acc_dtype)
            store_value(b, convert(b, value, acc_dtype, kernel.dtype), slot, kernel.dtype)

    # GEMM ------------------------------------------------------------------------------
    def _gemm(self, frame: _Frame, call: GemmCall, index: int) -> None:
        """C = A @ B through the Fortran BLAS ?gemm bound at load time (row-major trick).

        Every thread checks the shapes (so all leave together on failure and
        none waits at a barrier alone).  With a BLAS whose thread count can be
        set per calling thread, each thread multiplies its share of A's rows
        with a single-threaded BLAS: one threading layer, ours (two layers
        spinning on two cores slow each other down many times over).
        Otherwise thread 0 makes the whole call with the BLAS's own threads.
        """
        b = frame.builder
        frame.fail_unless(b.icmp_signed("==", frame.dim(call.k), frame.dim(call.k_check)), index)
        m, n, k = frame.dim(call.m), frame.dim(call.n), frame.dim(call.k)
        set_threads = b.load(self._blas_global("threads_local"))
        controllable = b.icmp_unsigned("!=", set_threads, ir.Constant(I8P, None))
        with b.if_else(controllable) as (shared, alone):
            with shared:
                start, stop = frame.share(m, b.mul(b.mul(m, n), k))
                setter = b.bitcast(set_threads, ir.FunctionType(I32, [I32]).as_pointer())
                previous = b.call(setter, [ir.Constant(I32, 1)])
                self._gemm_rows(frame, call, start, stop)
                b.call(setter, [previous])
            with alone:
                with frame.on_thread_zero():
                    self._gemm_rows(frame, call, ir.Constant(I64, 0), m)

    def _gemm_rows(self, frame: _Frame, call: GemmCall, start: ir.Value, stop: ir.Value) -> None:
        """Rows ``[start, stop)`` of C = A @ B."""
        b = frame.builder
        rows = b.sub(stop, start)
        n, k = frame.dim(call.n), frame.dim(call.k)
        t = compute_type(call.dtype)
        # column-major view: C^T (n x m) = B^T (n x k) @ A^T (k x m)
        op_b, ld_b = self._blas_operand(frame, call.b, n)
        op_a, ld_a = self._blas_operand(frame, call.a, k)
        fn_type = ir.FunctionType(ir.VoidType(), [I8P, I8P] + [I32.as_pointer()] * 3 + [t.as_pointer(), t.as_pointer(),
                                  I32.as_pointer(), t.as_pointer(), I32.as_pointer(), t.as_pointer(), t.as_pointer(),
                                  I32.as_pointer()])
        gemm = b.bitcast(b.load(self._blas_global(call.dtype)), fn_type.as_pointer())

        def slot(value, ty):
            memory = frame.alloca(ty)
            b.store(value, memory)
            return memory

        def i32(value):
            return slot(b.trunc(value, I32), I32)

        ldc = b.select(b.icmp_signed(">", n, ir.Constant(I64, 1)), n, ir.Constant(I64, 1))
        output = b.gep(frame.pointer(call.output), [b.mul(start, n)])
        a_rows = b.gep(frame.pointer(call.a.buffer), [b.mul(start, frame.access_strides(call.a)[0])])
        with b.if_then(b.icmp_signed(">", rows, ir.Constant(I64, 0))):
            with b.if_else(b.icmp_signed("==", k, ir.Constant(I64, 0))) as (empty_sum, product):
                with empty_sum:  # BLAS may leave C untouched when k = 0; the product is zeros
                    with for_range(b, b.mul(rows, n), "zero") as j:
                        b.store(ir.Constant(memory_type(call.dtype), 0.0), b.gep(output, [j]))
                with product:
                    b.call(gemm, [op_b, op_a, i32(n), i32(rows), i32(k), slot(ir.Constant(t, 1.0), t),
                                  frame.pointer(call.b.buffer), i32(ld_b), a_rows, i32(ld_a),
                                  slot(ir.Constant(t, 0.0), t), output, i32(ldc)])

    def _blas_operand(self, frame: _Frame, access: Access, rows_col_major: ir.Value):
        """Transpose flag and leading dimension for an operand read through ``access``."""
        b = frame.builder
        strides = frame.access_strides(access)
        row_major = access.axes == (0, 1)
        flag = self._flag("N" if row_major else "T")
        ld = strides[0] if row_major else strides[1]
        bound = rows_col_major if row_major else ir.Constant(I64, 1)
        ld = b.select(b.icmp_signed(">", ld, bound), ld, bound)
        ld = b.select(b.icmp_signed(">", ld, ir.Constant(I64, 1)), ld, ir.Constant(I64, 1))
        return b.bitcast(flag, I8P), ld

    def _flag(self, letter: str) -> ir.GlobalVariable:
        name = f"blas_flag_{letter}"
        if name not in self.module.globals:
            flag = ir.GlobalVariable(self.module, ir.IntType(8), name)
            flag.initializer = ir.Constant(ir.IntType(8), ord(letter))
            flag.global_constant = True
        return self.module.globals[name]

    def _blas_global(self, dtype: str) -> ir.GlobalVariable:
        name = BLAS_GLOBALS[dtype]
        if name not in self.module.globals:
            g = ir.GlobalVariable(self.module, I8P, name)
            g.initializer = ir.Constant(I8P, None)
        self.blas_used.add(name)
        return self.module.globals[name]


def _minimum(builder: ir.IRBuilder, a: ir.Value, b: ir.Value) -> ir.Value:
    return builder.select(builder.icmp_signed("<", a, b), a, b)


def _merge(kept, kept_idx, reduced, reduced_idx):
    indices = [None] * (len(kept) + len(reduced))
    for a, i in zip(kept, kept_idx):
        indices[a] = i
    for a, i in zip(reduced, reduced_idx):
        indices[a] = i
    return indices


def _accumulator_dtype(combine: str, dtype: str) -> str:
    """float16/float32 sums and products accumulate in float64 (at least as accurate as NumPy)."""
    if combine in ("add", "mul") and dtype in ("float16", "float32"):
        return "float64"
    return dtype


