"""The LLVM printer: a kernel Program becomes one LLVM module.

Each maximal run of native steps becomes one entry function

    i32 segment_k(i8* table, i64 thread, i64 threads, i64* barrier)

where item b of the buffer table is buffer b's record: the function reads
data pointers, shapes and strides from it (see ``buffer_table``).  It returns 0, or 1 + the index of the step whose
run-time check failed (a shape mismatch, an index out of bounds), so the
caller can name the node.  A failing step writes nothing out of bounds;
with several threads the failure is voted at the step's barrier, so every
thread leaves together and none waits for one that already returned.

Threads: the caller may run the same segment on ``threads`` threads at
once.  Each kernel splits its outermost loop into equal shares (kernels
under ``SPLIT_MIN_ELEMENTS`` elements, products under ``PARALLEL_MIN_ELEMENTS``
multiply-adds, full reductions and library calls run on thread 0 only), and
all threads meet at a barrier after each step, so a step sees every earlier
step's results.  Gathers, scatters, scans,
arg-reductions, BLAS calls and MPI collectives live in ``indexed``, ``gemm`` and
``collectives``.

Loops are plain scalar loops written so that LLVM's loop vectorizer turns
them into SIMD code for the host CPU: a contiguous fast path walks every
operand with unit stride; the general path uses strides (0 for broadcast).
"""

from __future__ import annotations

import itertools

from llvmlite import ir

from theanine.codegen.llvm import buffer_table, collectives, gemm, indexed, scalar, vmath
from theanine.codegen.llvm.alias import AliasScopes
from theanine.codegen.llvm.guarded import emit_guarded_loop
from theanine.codegen.llvm.ir_types import (
    I1,
    I8P,
    I32,
    I64,
    compute_type,
    convert,
    is_float,
    load_value,
    memory_type,
    store_value,
)
from theanine.codegen.llvm.loops import (
    contiguous_strides as _contiguous_strides,
)
from theanine.codegen.llvm.loops import (
    for_range,
    interleave_axes,
    nested_ranges,
)
from theanine.codegen.llvm.loops import (
    linear_offset as _linear_offset,
)
from theanine.codegen.llvm.loops import (
    minimum as _minimum,
)
from theanine.codegen.llvm.loops import (
    product as _product,
)
from theanine.codegen.program.expressions import element_args
from theanine.codegen.program.kernel_ir import (
    SHAPE_OPS,
    Access,
    Arg,
    ArgReduceKernel,
    BranchStep,
    Call,
    CollectiveCall,
    DimOf,
    ElementwiseKernel,
    Expr,
    FusedRows,
    GemmCall,
    HostCall,
    Index,
    Lit,
    Load,
    LoopStep,
    NonzeroKernel,
    Program,
    ReduceKernel,
    ScanKernel,
    ScatterKernel,
    ShapeCall,
    Size,
    SortKernel,
    ValueOf,
    distinct_nodes,
    flat_steps,
    segments,
    step_outputs,
    step_signature,
    uses_gather,
    uses_indices,
)

PARALLEL_MIN_ELEMENTS = 1 << 16  # also the runtime's bar for waking the worker threads
# Once the threads are awake every step ends at a barrier, so sharing even a small kernel costs
# nothing more: only the cache lines the threads split.  Measured on an LSTM's loop body (32x128
# gates): 4096 elements and more halved the body's elementwise time, 2048 gained a little more.
SPLIT_MIN_ELEMENTS = 1 << 11
# A thread waiting at a barrier checks it this many times before it yields its core: a loop body's
# steps last microseconds, and a yield costs a system call each time round.
BARRIER_SPINS = 1 << 12
# Elements of the innermost axis per float32 partial sum of a float32 sum (see ``_accumulate``).
SUM_BLOCK = 1 << 10
SUM_LANES = 64  # partial sums cover whole multiples of this (four 16-lane vectors); the rest adds in float64
ROW_BLOCK_ELEMENTS = 1 << 14  # a FusedRows block: 64 KiB of float32 per step, in L2 between its steps
_ITEMSIZE = {"bool": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "float16": 2, "int32": 4, "uint32": 4,
             "float32": 4, "int64": 8, "uint64": 8, "float64": 8}


class _Frame:
    """Per-entry-function state: the builder, and loads of array fields.

    Fields of the buffer arrays are loaded once, in the function's first
    block, which dominates every use.
    """

    def __init__(self, printer: LLVMPrinter, function: ir.Function, slot_of: dict[int, int] | None = None):
        self.printer = printer
        self.slot_of = slot_of
        prologue = function.append_basic_block("prologue")
        entry = function.append_basic_block("entry")
        self._prologue = ir.IRBuilder(prologue)
        self._jump = self._prologue.branch(entry)
        self.builder = ir.IRBuilder(entry)
        table, self.thread, self.threads, self.barrier_state = function.args[:4]
        self.slots = function.args[4] if slot_of is not None else None
        self._position_prologue()
        self.items = self._prologue.bitcast(
            self._prologue.gep(table, [ir.Constant(I64, buffer_table.ITEMS)]), I8P.as_pointer()
        )
        self._fields: dict[tuple, ir.Value] = {}
        self.window: tuple[ir.Value, ir.Value] | None = None  # the block of rows a FusedRows body runs on

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
        """Buffer ``buffer``'s record: item ``slots[slot_of[buffer]]`` of the table."""
        def make(b):
            item = b.load(b.gep(self.slots, [ir.Constant(I64, self.slot_of[buffer])]))
            return b.load(b.gep(self.items, [item]))

        return self._field(("array", buffer), make)

    def _array_field(self, buffer: int, offset: int, ty: ir.Type) -> ir.Value:
        def make(b):
            address = b.gep(self._array(buffer), [ir.Constant(I64, offset)])
            return b.load(b.bitcast(address, ty.as_pointer()))

        return self._field(("field", buffer, offset), make)

    def dim(self, expr) -> ir.Value:
        """A ShapeExpr as an i64.  Values of buffers and arithmetic on them are
        emitted where they are used: an earlier step of the segment may write
        the value."""
        if isinstance(expr, DimOf):
            dims = self._array_field(expr.buffer, buffer_table.DIMS, I64.as_pointer())
            return self._field(("dim", expr.buffer, expr.axis),
                               lambda b: b.load(b.gep(dims, [ir.Constant(I64, expr.axis)])))
        if isinstance(expr, ValueOf):
            dtype = self.printer.program.buffers[expr.buffer].dtype
            pointer = self.pointer(expr.buffer)
            if expr.item:
                offset = self.builder.mul(ir.Constant(I64, expr.item), self.stride(expr.buffer, 0))
                pointer = self.builder.gep(pointer, [offset])
            return convert(self.builder, load_value(self.builder, pointer, dtype), dtype, "int64")
        if isinstance(expr, ShapeCall):
            return _shape_call(self.builder, expr.op, [self.dim(a) for a in expr.args])
        return ir.Constant(I64, int(expr))

    def stride(self, buffer: int, axis: int) -> ir.Value:
        """Stride of ``axis`` in elements (NumPy keeps bytes).  A buffer known to be C-contiguous
        (``LLVMPrinter.contiguous``) has the product of the later axes' sizes: LLVM then sees its
        last axis step by 1, and vectorizes its loops without a version for other strides."""
        if self.printer.contiguous(buffer):
            rank = len(self.printer.program.buffers[buffer].shape)
            later = [self.dim(DimOf(buffer, k)) for k in range(axis + 1, rank)]
            return self._field(("stride", buffer, axis), lambda b: _product(b, later))
        strides = self._array_field(buffer, buffer_table.STRIDES, I64.as_pointer())
        itemsize = _ITEMSIZE[self.printer.program.buffers[buffer].dtype]

        def make(b):
            in_bytes = b.load(b.gep(strides, [ir.Constant(I64, axis)]))
            return b.sdiv(in_bytes, ir.Constant(I64, itemsize), flags=("exact",))

        return self._field(("stride", buffer, axis), make)

    def pointer(self, buffer: int) -> ir.Value:
        dtype = self.printer.program.buffers[buffer].dtype
        raw = self._array_field(buffer, buffer_table.DATA, I8P)
        return self._field(("pointer", buffer), lambda b: b.bitcast(raw, memory_type(dtype).as_pointer()))

    def share(self, count: ir.Value, work: ir.Value, product: bool = False,
              rows: ir.Value | None = None) -> tuple[ir.Value, ir.Value]:
        """This thread's ``[start, stop)`` of ``range(count)``; small ``work`` stays on thread 0 (elements,
        or a product's multiply-adds: a library call pays for splitting from ``PARALLEL_MIN_ELEMENTS``).

        Inside a block of rows (``window``, a FusedRows body) it is the block: ``count`` is the rows
        themselves, or, given ``rows``, a flat range of ``count // rows`` elements per row."""
        b = self.builder
        if self.window is not None:
            first, last = self.window
            if rows is None:
                return first, last
            per_row = b.sdiv(count, b.select(b.icmp_signed(">", rows, ir.Constant(I64, 0)), rows,
                                             ir.Constant(I64, 1)))
            return b.mul(first, per_row), b.mul(last, per_row)
        minimum = PARALLEL_MIN_ELEMENTS if product else SPLIT_MIN_ELEMENTS
        threads = self.threads
        chunk = b.sdiv(b.add(count, b.sub(threads, ir.Constant(I64, 1))), threads)
        start = _minimum(b, b.mul(self.thread, chunk), count)
        stop = _minimum(b, b.add(start, chunk), count)
        small = b.icmp_signed("<", work, ir.Constant(I64, minimum))
        first = b.icmp_signed("==", self.thread, ir.Constant(I64, 0))
        start = b.select(small, b.select(first, ir.Constant(I64, 0), count), start)
        stop = b.select(small, count, stop)
        return start, stop

    def on_thread_zero(self):
        """Emit the ``with`` block on thread 0 only."""
        return self.builder.if_then(self.builder.icmp_signed("==", self.thread, ir.Constant(I64, 0)))

    def access_strides(self, access: Access) -> list[ir.Value]:
        """Element strides of each loop axis of ``access`` (0 when broadcast, times the slice step)."""
        strides = []
        for axis, a in enumerate(access.axes):
            if a is None:
                strides.append(ir.Constant(I64, 0))
            elif access.step(axis) == 1:
                strides.append(self.stride(access.buffer, a))
            else:
                strides.append(self.builder.mul(self.stride(access.buffer, a), self.dim(access.step(axis))))
        return strides

    def access_base(self, access: Access) -> ir.Value:
        """Pointer to the element where ``access`` starts (its slice corner)."""
        pointer = self.pointer(access.buffer)
        if not access.starts:
            return pointer
        offset = _linear_offset(self.builder, [self.dim(s) for s in access.starts],
                                [self.stride(access.buffer, k) for k in range(len(access.starts))])
        return self.builder.gep(pointer, [offset])

    def record_failure(self, condition: ir.Value) -> None:
        """Remember that this step failed when ``condition`` holds (the segment reports the step's
        code at its barrier)."""
        b = self.builder
        with b.if_then(condition, likely=False):
            b.store(ir.Constant(I32, 1), self.failure)

    @property
    def failure(self) -> ir.Value:
        if "failure" not in self._fields:
            slot = self._position_prologue().alloca(I32)
            self._prologue.store(ir.Constant(I32, 0), slot)
            self._fields["failure"] = slot
        return self._fields["failure"]

    def outlined(self, values: list[ir.Value], emit) -> None:
        """``emit(frame, arguments)`` into an internal function of its own, called here with ``values``
        (i64s: ``arguments`` stands for them there).

        Loops go in such functions so that a step whose own code is only glue around them (tiles,
        library calls: ``_GLUE_STEPS``) is compiled without IR passes: LLVM's O3 pipeline cost the
        MLP step's GEMM glue more than its epilogue loops.  The code must not fail (a GEMM epilogue
        cannot: ``epilogues`` takes no kernel that may), since no status comes back."""
        caller = self.builder.function
        signature = ir.FunctionType(ir.VoidType(), [*_STEP_SIGNATURE.args, *[I64] * len(values)])
        function = ir.Function(self.printer.module, signature, f"{caller.name}_loops_{len(self.printer.callees)}")
        function.linkage = "internal"
        function.attributes.add("noinline")
        self.printer.callees.append(function)
        inner = _Frame(self.printer, function, self.slot_of)
        emit(inner, list(function.args[len(_STEP_SIGNATURE.args):]))
        if "failure" in inner._fields:
            raise RuntimeError(f"{function.name}: outlined code recorded a failure that its caller would not see")
        inner.builder.ret_void()
        self.builder.call(function, [*caller.args[:len(_STEP_SIGNATURE.args)], *values])

    def fail_unless(self, condition: ir.Value) -> None:
        """Leave the step function with status 1 (every thread fails alike) unless ``condition`` holds."""
        b = self.builder
        ok = b.function.append_basic_block("ok")
        fail = b.function.append_basic_block("fail")
        b.cbranch(condition, ok, fail)
        b.position_at_end(fail)
        b.ret(ir.Constant(I32, 1))
        b.position_at_end(ok)


class _ElementEmitter:
    """Emits one element of an elementwise kernel: inputs are loaded when an
    expression first reads them (a gathered input is never read at the loop
    position), then each output is converted and stored."""

    def __init__(self, printer: LLVMPrinter, frame: _Frame, kernel: ElementwiseKernel):
        self.printer, self.frame, self.kernel = printer, frame, kernel
        self.dtypes = [printer.program.buffers[a.buffer].dtype for a in kernel.inputs]
        self.out_dtypes = [printer.program.buffers[o].dtype for o in kernel.outputs]
        touched = [a.buffer for a in kernel.inputs] + list(kernel.outputs)
        self.in_tags = [printer.alias.metadata(a.buffer, touched) for a in kernel.inputs]
        self.out_tags = [printer.alias.metadata(o, touched) for o in kernel.outputs]
        self.read_positions = [a.position for a in element_args(kernel.exprs)]
        self.sources = None
        if uses_gather(kernel.exprs):
            self.sources = [
                (frame.access_base(a), frame.access_strides(a), d, tags)
                for a, d, tags in zip(kernel.inputs, self.dtypes, self.in_tags, strict=True)
            ]

    def emit(self, inputs, outputs, indices, guards: list | None = None) -> None:
        """``inputs``/``outputs``: (pointer, element offset) of this element; ``indices``: loop indices.

        With a ``guards`` list, math that has a fast kernel uses it and appends its "outside" flag.
        """
        b = self.frame.builder
        loaded: dict[int, ir.Value] = {}

        def arg(position):
            if position not in loaded:
                pointer, offset = inputs[position]
                loaded[position] = load_value(b, b.gep(pointer, [offset]), self.dtypes[position],
                                              self.in_tags[position])
            return loaded[position]

        for position in self.read_positions:  # all of an element's reads precede its first store
            arg(position)
        cache: dict = {}
        for expr, (pointer, offset), dtype, tags in zip(self.kernel.exprs, outputs, self.out_dtypes, self.out_tags,
                                                        strict=False):
            value = self.printer.expr(self.frame, expr, arg, cache, indices, self.sources, guards)
            store_value(b, convert(b, value, expr.dtype, dtype), b.gep(pointer, [offset]), dtype, tags)


class LLVMPrinter:
    """Prints one Program as one module; ``entry_names`` lists its segment functions."""

    def __init__(self, program: Program, name: str = "theanine"):
        self.program = program
        self.module = ir.Module(name=name)
        self.alias = AliasScopes(self.module)
        self.entry_names: list[str] = []
        self.blas_used: set[str] = set()
        self.host_written = {b for step in program.steps if isinstance(step, HostCall) for b in step.outputs}
        self._step_functions: dict[tuple, ir.Function] = {}
        # Functions the step functions call, each compiled once in whichever part holds it: outlined
        # loops (``_Frame.outlined``) and the library glue of ``gemm``.
        self.callees: list[ir.Function] = []
        self._tables = itertools.count()
        for k, (kind, steps) in enumerate(segments(program)):
            if kind == "native":
                self.entry_names.append(self._segment(f"segment_{k}", steps))

    @property
    def step_function_names(self) -> list[str]:
        """The step functions, which the entry functions reach only through their step tables, and
        the functions they call (``callees``): ``split.split_module`` may spread them over parts
        compiled apart."""
        return [function.name for function in [*self._step_functions.values(), *self.callees]]

    def _segment(self, name: str, steps: list) -> str:
        """The entry function: a loop over a table of the steps, each a function of its own, with a
        barrier after each.  Separate functions keep every function the optimizer sees small, and
        the loop keeps the entry's size fixed, so compile time grows linearly with the program
        (one function holding a deep network's hundreds of loops took LLVM minutes; an entry with
        thousands of inline calls made its control-flow simplification give up).  Steps that
        print alike (``step_signature``) share one function, called with their own buffer slots."""
        function = ir.Function(self.module, _SEGMENT_SIGNATURE, name)
        frame = _Frame(self, function)
        positions = {id(step): k for k, step in enumerate(self.program.steps)}
        codes = [positions[id(step)] + 1 for step in steps]
        self._drive(frame, name, steps, codes, list(function.args), frame.builder.ret)
        frame.builder.ret(ir.Constant(I32, 0))
        return name

    def _drive(self, frame: _Frame, name: str, steps: list, codes: list[int], arguments: list, leave) -> None:
        """Emit the calls of ``steps`` in order, each through a table of step functions and buffer
        slots, with a barrier after each when ``arguments`` (table, thread, threads, barrier) run
        several threads.  On a failure, ``leave(code)`` is emitted with ``codes[k]`` of the step
        that failed (or the largest vote), an i32."""
        pointers, slot_arrays = [], []
        for step in steps:
            key, slots = step_signature(step, self.program.buffers)
            key = (key, tuple(b in self.host_written for b in slots))
            if isinstance(step, (LoopStep, BranchStep)):  # its body's tables name absolute buffers: never shared
                key = (key, id(step))
            if key not in self._step_functions:
                self._step_functions[key] = self._step_function(
                    f"{name}_step_{len(self._step_functions)}", step, {b: j for j, b in enumerate(slots)})
            pointers.append(self._step_functions[key])
            slot_arrays.append(self._constant_array(f"{name}_slots_{len(slot_arrays)}", I64, slots))
        table = self._constant_array(f"{name}_steps", _STEP_SIGNATURE.as_pointer(), pointers)
        slot_table = self._constant_array(f"{name}_slot_tables", I64.as_pointer(),
                                          [a.gep([ir.Constant(I64, 0), ir.Constant(I64, 0)]) for a in slot_arrays])
        code_table = self._constant_array(f"{name}_codes", I32, codes)
        b = frame.builder
        zero = ir.Constant(I32, 0)
        barrier, threads = arguments[3], arguments[2]
        with for_range(b, ir.Constant(I64, len(pointers)), "step") as k:
            step_function = b.load(b.gep(table, [ir.Constant(I64, 0), k]))
            slots = b.load(b.gep(slot_table, [ir.Constant(I64, 0), k]))
            code = b.load(b.gep(code_table, [ir.Constant(I64, 0), k]))
            status = b.call(step_function, arguments + [slots])
            with b.if_then(b.icmp_signed(">", status, zero), likely=False):
                leave(code)
            local = b.select(b.icmp_signed("<", status, zero), code, zero)
            before = b.block
            with b.if_then(b.icmp_signed(">", threads, ir.Constant(I64, 1))):
                voted = b.call(self._barrier_function(), [barrier, threads, local])
                voting = b.block
            verdict = b.phi(I32)
            verdict.add_incoming(local, before)
            verdict.add_incoming(voted, voting)
            with b.if_then(b.icmp_signed("!=", verdict, zero), likely=False):
                leave(verdict)

    def _loop(self, frame: _Frame, loop: LoopStep) -> None:
        """A LoopStep: the iterations run its body through a step table of their own.

        A body too small to split (its largest buffer and its largest product, m * n * k, under
        ``PARALLEL_MIN_ELEMENTS``: the sizes at which its steps would split) runs on thread 0
        alone, with no barrier per body step, while the other threads return at once and wait
        at the segment's barrier after the loop; a failure is then voted there (-1).
        A larger body runs on every thread, barriers included, and fails on all alike (1).
        """
        b = frame.builder
        work = ir.Constant(I64, 0)
        sizes = [_product(b, [frame.dim(DimOf(buffer, a)) for a in range(len(self.program.buffers[buffer].shape))])
                 for buffer in dict.fromkeys(x for inner in loop.body for x in step_outputs(inner))]
        sizes += [_product(b, [frame.dim(g.m), frame.dim(g.n), frame.dim(g.k)])
                  for g in flat_steps(loop.body) if isinstance(g, GemmCall)]
        for size in sizes:
            work = b.select(b.icmp_signed(">", size, work), size, work)
        one = ir.Constant(I64, 1)
        parallel = b.and_(b.icmp_signed(">", frame.threads, one),
                          b.icmp_signed(">=", work, ir.Constant(I64, PARALLEL_MIN_ELEMENTS)))
        with b.if_then(b.and_(b.not_(parallel), b.icmp_signed("!=", frame.thread, ir.Constant(I64, 0)))):
            b.ret(ir.Constant(I32, 0))
        threads = b.select(parallel, frame.threads, one)
        failed = b.select(parallel, ir.Constant(I32, 1), ir.Constant(I32, -1))
        arguments = [b.function.args[0], frame.thread, threads, frame.barrier_state]
        count = frame.dim(loop.count)
        counter = frame.pointer(loop.counter)
        ran = frame.alloca(I64)
        b.store(count, ran)
        before = b.block
        header, body, latch, end = (b.function.append_basic_block(f"iteration.{part}")
                                    for part in ("header", "body", "latch", "end"))
        b.branch(header)
        b.position_at_end(header)
        t = b.phi(I64, name="t")
        t.add_incoming(ir.Constant(I64, 0), before)
        b.cbranch(b.icmp_signed("<", t, count), body, end)
        b.position_at_end(body)
        b.store(t, counter)
        self._drive(frame, f"body_{next(self._tables)}", list(loop.body), [1] * len(loop.body), arguments,
                    lambda _: b.ret(failed))
        if loop.stop is not None:
            dtype = self.program.buffers[loop.stop].dtype
            stop = convert(b, load_value(b, frame.pointer(loop.stop), dtype), dtype, "int64")
            with b.if_then(b.icmp_signed(">", threads, one)):  # every thread reads it before any writes it again
                b.call(self._barrier_function(), [frame.barrier_state, threads, ir.Constant(I32, 0)])
            stopping = b.function.append_basic_block("iteration.stop")
            b.cbranch(b.icmp_signed("!=", stop, ir.Constant(I64, 0)), stopping, latch)
            b.position_at_end(stopping)
            b.store(b.add(t, one), ran)
            b.branch(end)
        else:
            b.branch(latch)
        b.position_at_end(latch)
        t.add_incoming(b.add(t, one), latch)
        b.branch(header)
        b.position_at_end(end)
        if loop.ran is not None:
            b.store(b.load(ran), frame.pointer(loop.ran))

    def _branch(self, frame: _Frame, branch: BranchStep) -> None:
        """A BranchStep: every thread reads the condition (written before the step's barrier) and
        runs the same body, with the segment's threads; a failure in it fails on all alike (1)."""
        b = frame.builder
        dtype = self.program.buffers[branch.condition].dtype
        value = convert(b, load_value(b, frame.pointer(branch.condition), dtype), dtype, "int64")
        arguments = list(b.function.args[:4])
        with b.if_else(b.icmp_signed("!=", value, ir.Constant(I64, 0))) as (then, otherwise):
            for block, body in zip((then, otherwise), branch.bodies, strict=True):
                with block:
                    self._drive(frame, f"body_{next(self._tables)}", list(body), [1] * len(body), arguments,
                                lambda _: b.ret(ir.Constant(I32, 1)))

    def _fused_rows(self, frame: _Frame, fused: FusedRows) -> None:
        """A FusedRows step: this thread's share of the rows, in blocks of about ``ROW_BLOCK_ELEMENTS``
        elements of the body's largest step; each body step runs on a block (``frame.window``) before
        the next step does."""
        b = frame.builder
        rows = frame.dim(fused.rows)
        one = ir.Constant(I64, 1)
        per_row = one
        for step in fused.body:
            size = _product(b, [frame.dim(e) for e in step.shape[1:]])
            per_row = b.select(b.icmp_signed(">", size, per_row), size, per_row)
        first, last = frame.share(rows, b.mul(rows, per_row))
        block = b.sdiv(ir.Constant(I64, ROW_BLOCK_ELEMENTS), per_row)
        block = b.select(b.icmp_signed(">", block, one), block, one)
        count = b.sdiv(b.add(b.sub(last, first), b.sub(block, one)), block)
        with for_range(b, count, "block") as k:
            start = b.add(first, b.mul(k, block))
            stop = b.add(start, block)
            frame.window = (start, b.select(b.icmp_signed("<", stop, last), stop, last))
            for step in fused.body:
                _EMITTERS[type(step)](self, frame, step)
            frame.window = None

    def _constant_array(self, name: str, element: ir.Type, values: list) -> ir.GlobalVariable:
        array_type = ir.ArrayType(element, len(values))
        array = ir.GlobalVariable(self.module, array_type, name)
        array.initializer = ir.Constant(array_type, [v if isinstance(v, ir.Value) else ir.Constant(element, v)
                                                     for v in values])
        array.global_constant = True
        array.linkage = "internal"
        return array

    def _step_function(self, name: str, step, slot_of: dict[int, int]) -> ir.Function:
        """One step as an internal function of the buffer table and the step's slots (buffer
        ``slots[slot_of[b]]`` stands for ``b``), returning 0, 1 (leave now: every thread fails
        alike) or -1 (a failure recorded by this thread, voted at the barrier)."""
        function = ir.Function(self.module, _STEP_SIGNATURE, name)
        function.linkage = "internal"
        function.attributes.add("noinline")
        if isinstance(step, _GLUE_STEPS):
            function.attributes.add("optnone")  # glue: optimizing it buys nothing
        frame = _Frame(self, function, slot_of)
        _EMITTERS[type(step)](self, frame, step)
        b = frame.builder
        b.ret(b.neg(b.load(frame.failure)) if "failure" in frame._fields else ir.Constant(I32, 0))
        return function

    def _barrier_function(self) -> ir.Function:
        """A sense-counting barrier over ``state = [arrived, generation]``: a waiting thread spins a
        while (``BARRIER_SPINS`` checks), then yields its core between checks.

        It also takes each thread's vote (0 or a failure code) and returns
        the largest: votes for generation g go to slot ``g & 1`` of a module
        global; the thread releasing generation g clears slot ``(g + 1) & 1``
        for generation g + 1 (every thread read that slot, as generation
        g - 1's, before arriving at g).
        """
        name = "theanine_barrier"
        if name in self.module.globals:
            return self.module.globals[name]
        function = ir.Function(self.module, ir.FunctionType(I32, [I64.as_pointer(), I64, I32]), name)
        function.linkage = "internal"
        votes = ir.GlobalVariable(self.module, ir.ArrayType(I32, 2), "theanine_votes")
        votes.initializer = ir.Constant(ir.ArrayType(I32, 2), [0, 0])
        votes.linkage = "internal"
        state, threads, vote = function.args
        b = ir.IRBuilder(function.append_basic_block("entry"))
        arrived = b.gep(state, [ir.Constant(I64, 0)])
        generation = b.gep(state, [ir.Constant(I64, 1)])
        seen = b.load_atomic(generation, "acquire", 8)
        slot = b.gep(votes, [ir.Constant(I64, 0), b.and_(seen, ir.Constant(I64, 1))])
        b.atomic_rmw("max", slot, vote, "acq_rel")
        before = b.atomic_rmw("add", arrived, ir.Constant(I64, 1), "acq_rel")
        last = b.icmp_signed("==", before, b.sub(threads, ir.Constant(I64, 1)))
        with b.if_else(last) as (release, wait):
            with release:
                b.store_atomic(ir.Constant(I64, 0), arrived, "monotonic", 8)
                following = b.gep(votes, [ir.Constant(I64, 0), b.and_(b.add(seen, ir.Constant(I64, 1)),
                                                                        ir.Constant(I64, 1))])
                b.store_atomic(ir.Constant(I32, 0), following, "monotonic", 4)
                b.atomic_rmw("add", generation, ir.Constant(I64, 1), "release")
            with wait:
                spin, again, loop, done = (function.append_basic_block(n) for n in ("spin", "again", "wait", "done"))
                before = b.block
                b.branch(spin)
                b.position_at_end(spin)
                rounds = b.phi(I64)
                rounds.add_incoming(ir.Constant(I64, 0), before)
                now = b.load_atomic(generation, "acquire", 8)
                b.cbranch(b.icmp_signed("==", now, seen), again, done)
                b.position_at_end(again)
                rounds.add_incoming(b.add(rounds, ir.Constant(I64, 1)), again)
                b.cbranch(b.icmp_signed("<", rounds, ir.Constant(I64, BARRIER_SPINS)), spin, loop)
                b.position_at_end(loop)
                yield_fn = self.module.globals.get("sched_yield") or ir.Function(
                    self.module, ir.FunctionType(I32, []), "sched_yield")
                b.call(yield_fn, [])
                now = b.load_atomic(generation, "acquire", 8)
                b.cbranch(b.icmp_signed("==", now, seen), loop, done)
                b.position_at_end(done)
        b.ret(b.load_atomic(slot, "acquire", 4))
        return function

    # elementwise ---------------------------------------------------------------
    def element_emitter(self, frame: _Frame, kernel: ElementwiseKernel) -> _ElementEmitter:
        """What emits one element of ``kernel`` (for steps that run a kernel inside their own loops:
        a GEMM's epilogue)."""
        return _ElementEmitter(self, frame, kernel)

    def _elementwise(self, frame: _Frame, kernel: ElementwiseKernel) -> None:
        b = frame.builder
        dims = [frame.dim(e) for e in kernel.shape]
        for left, right in kernel.checks:
            frame.fail_unless(b.icmp_signed("==", frame.dim(left), frame.dim(right)))
        dense = _contiguous_strides(b, dims)
        views = [kernel.output_view(j) for j in range(len(kernel.outputs))]
        outputs = [(frame.pointer(o), dense) if view is None else (frame.access_base(view), frame.access_strides(view))
                   for o, view in zip(kernel.outputs, views, strict=True)]
        written = self._written_where(kernel, views, outputs)
        inputs = [written.get(_normalized(a)) or (frame.access_base(a), frame.access_strides(a))
                  for a in kernel.inputs]
        total = _product(b, dims)
        element = _ElementEmitter(self, frame, kernel)

        def strided():
            if not dims:
                with frame.on_thread_zero():
                    element.emit([(p, ir.Constant(I64, 0)) for p, _ in inputs],
                                 [(p, ir.Constant(I64, 0)) for p, _ in outputs], [])
                return
            stack, indices = nested_ranges(b, dims, "e", frame.share(dims[0], total), interleaved=False)
            with stack:
                element.emit([(p, _linear_offset(b, indices, s)) for p, s in inputs],
                             [(p, _linear_offset(b, indices, s)) for p, s in outputs], indices)

        def flat():
            start, stop = frame.share(total, total, rows=dims[0] if dims else None)
            if _has_guarded_math(kernel.exprs):
                emit_guarded_loop(frame, element, [p for p, _ in inputs], [p for p, _ in outputs],
                                  element.out_dtypes, start, stop)
            else:
                with for_range(b, stop, "flat", start, interleaved=False) as j:
                    element.emit([(p, j) for p, _ in inputs], [(p, j) for p, _ in outputs], None)

        if uses_indices(kernel.exprs) or kernel.out_views or _always_broadcast(kernel):
            strided()
        elif all(self._dense(a, kernel.shape) for a in kernel.inputs):
            flat()
        else:
            contiguous = ir.Constant(I1, 1)
            for _, strides in inputs:
                for d, s, c in zip(dims, strides, dense, strict=False):
                    fits = b.or_(b.icmp_signed("==", d, ir.Constant(I64, 1)), b.icmp_signed("==", s, c))
                    contiguous = b.and_(contiguous, fits)
            with b.if_else(contiguous) as (then, otherwise):
                with then:
                    flat()
                with otherwise:
                    strided()

    def _written_where(self, kernel: ElementwiseKernel, views: list, outputs: list) -> dict:
        """(pointer, strides) of each output keyed by the access that reads it at the element it is
        written (an in-place update): such an input is addressed exactly as its output is, so the
        loop vectorizer sees one address, not two pointers that might overlap (which it could
        only check at run time, find overlapping, and leave to scalar code)."""
        written = {}
        for o, view, place in zip(kernel.outputs, views, outputs, strict=True):
            if view is not None:
                written[_normalized(view)] = place
            elif tuple(self.program.buffers[o].shape) == tuple(kernel.shape):
                written[Access(o, tuple(range(len(kernel.shape))))] = place
        return written

    def contiguous(self, index: int) -> bool:
        """Whether buffer ``index`` is C-contiguous: the runner allocates it (a temporary no host call
        writes), or passes it so (``Buffer.contiguous``)."""
        buffer = self.program.buffers[index]
        return buffer.contiguous or (buffer.role == "temp" and index not in self.host_written)

    def _dense(self, access: Access, shape: tuple) -> bool:
        """Whether ``access`` reads, in C order, a whole C-contiguous buffer of ``shape``: then the
        kernel needs no strided variant for it."""
        buffer = self.program.buffers[access.buffer]
        return (access.plain and access.axes == tuple(range(len(shape))) and buffer.shape == tuple(shape)
                and self.contiguous(access.buffer))

    def expr(self, frame: _Frame, expr: Expr, arg, cache: dict, indices, inputs=None,
             guards: list | None = None) -> ir.Value:
        """Emit a scalar expression DAG bottom-up (iteratively), sharing equal subexpressions.

        ``arg(position)`` loads kernel input ``position`` at the current
        element; ``inputs`` (base pointer, strides, dtype) serve ``Load``;
        ``guards``: see ``_ElementEmitter.emit``.
        """
        b = frame.builder
        stack = [(expr, False)]
        while stack:
            e, ready = stack.pop()
            if e in cache:
                continue
            if isinstance(e, Arg):
                cache[e] = arg(e.position)
            elif isinstance(e, Lit):
                cache[e] = ir.Constant(compute_type(e.dtype), e.value)
            elif isinstance(e, Index):
                cache[e] = indices[e.axis]
            elif isinstance(e, Size):
                cache[e] = frame.dim(e.dim)
            elif not ready:
                stack.append((e, True))
                stack.extend((a, False) for a in (e.coords if isinstance(e, Load) else e.args) if a not in cache)
            elif isinstance(e, Load):
                coords = [cache[c] for c in e.coords]
                cache[e] = self._gather(frame, e, coords, inputs[e.position])
            elif guards is not None and vmath.has_guarded_form(e.op, e.dtype):
                values = [convert(b, cache[a], a.dtype, e.dtype) for a in e.args]
                cache[e], outside = vmath.emit_guarded(b, e.op, values)
                guards.append(outside)
            else:
                values = [cache[a] for a in e.args]
                cache[e], failed = scalar.emit_checked(b, e.op, values, [a.dtype for a in e.args], e.dtype)
                if failed is not None:
                    frame.record_failure(failed)
        return cache[expr]

    def checked_offset(self, frame: _Frame, coords, sizes, checked, strides):
        """(in bounds, element offset) of user coordinates: negatives wrap once, then 0 <= c < size."""
        b = frame.builder
        ok = ir.Constant(I1, 1)
        wrapped = []
        for c, size, check in zip(coords, sizes, checked, strict=False):
            c = convert(b, c, "int64", "int64")
            if check:
                size = frame.dim(size)
                c = b.select(b.icmp_signed("<", c, ir.Constant(I64, 0)), b.add(c, size), c)
                inside = b.and_(b.icmp_signed(">=", c, ir.Constant(I64, 0)), b.icmp_signed("<", c, size))
                ok = b.and_(ok, inside)
            wrapped.append(c)
        frame.record_failure(b.not_(ok))
        return ok, _linear_offset(b, wrapped, strides)

    def _gather(self, frame: _Frame, load: Load, coords, source) -> ir.Value:
        """The element at ``coords`` of a kernel input, or 0 (and a recorded failure) when out of bounds."""
        b = frame.builder
        pointer, strides, dtype, tags = source
        ok, offset = self.checked_offset(frame, coords, load.sizes, load.checked, strides)
        before = b.block
        with b.if_then(ok):
            value = load_value(b, b.gep(pointer, [offset]), dtype, tags)
            loaded = b.block
        result = b.phi(value.type)
        result.add_incoming(value, loaded)
        result.add_incoming(ir.Constant(value.type, None), before)
        return convert(b, result, dtype, load.dtype)

    # reductions ---------------------------------------------------------------------
    def _reduce(self, frame: _Frame, kernel: ReduceKernel) -> None:
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
            frame.fail_unless(b.icmp_signed("==", frame.dim(left), frame.dim(right)))
        inputs = [(frame.access_base(a), frame.access_strides(a)) for a in kernel.inputs]
        target = frame.pointer(kernel.output)
        kept = [a for a in range(len(dims)) if a not in kernel.axes]
        out_strides = dict(zip(kept, _contiguous_strides(b, [dims[a] for a in kept]), strict=False))
        identity = scalar.reduce_identity(kernel.combine, acc_dtype)
        in_dtypes = [self.program.buffers[a.buffer].dtype for a in kernel.inputs]
        touched = [a.buffer for a in kernel.inputs] + [kernel.output]
        in_tags = [self.alias.metadata(a.buffer, touched) for a in kernel.inputs]
        out_tags = self.alias.metadata(kernel.output, touched)

        def element(indices, dtype: str = acc_dtype):
            def arg(position):
                pointer, strides = inputs[position]
                return load_value(b, b.gep(pointer, [_linear_offset(b, indices, strides)]), in_dtypes[position],
                                  in_tags[position])

            sources = [(p, s, d, t) for (p, s), d, t in zip(inputs, in_dtypes, in_tags, strict=False)]
            value = self.expr(frame, kernel.expr, arg, {}, indices, sources)
            return convert(b, value, kernel.expr.dtype, dtype)

        work = _product(b, dims)
        if dims and (len(dims) - 1) in kernel.axes and kept:
            outer, outer_idx = nested_ranges(b, [dims[a] for a in kept], "o", frame.share(dims[kept[0]], work))
            with outer:
                total = self._accumulate(frame, kernel, [dims[a] for a in kernel.axes], acc_dtype,
                                         lambda inner_idx, dtype: element(
                                             interleave_axes(kept, outer_idx, kernel.axes, inner_idx), dtype))
                out_offset = _linear_offset(b, outer_idx, [out_strides[a] for a in kept])
                result = convert(b, total, acc_dtype, kernel.dtype)
                store_value(b, result, b.gep(target, [out_offset]), kernel.dtype, out_tags)
            return
        with frame.on_thread_zero():
            self._serial_reduce(frame, kernel, dims, kept, out_strides, identity, acc_dtype, element, target,
                                out_tags)

    def _accumulate(self, frame: _Frame, kernel: ReduceKernel, counts: list[ir.Value], acc_dtype: str,
                    element) -> ir.Value:
        """``kernel.combine`` of ``element(indices, dtype)`` over the nested ranges ``counts`` (the
        reduced axes, the innermost last), as a value of ``acc_dtype``; float32 sums and float
        maxima and minima take the faster forms below, with the same results."""
        b = frame.builder
        acc = frame.alloca(compute_type(acc_dtype))
        b.store(scalar.reduce_identity(kernel.combine, acc_dtype), acc)
        if kernel.combine in ("max", "min") and is_float(acc_dtype):
            return self._float_extreme(frame, kernel.combine, counts, acc_dtype, element, acc)
        blocked = kernel.combine == "add" and kernel.expr.dtype == "float32" and acc_dtype == "float64"
        loops, indices = nested_ranges(b, counts[:-1], "r")
        with loops:
            if blocked:
                self._blocked_sum(frame, counts[-1], lambda j, dtype: element([*indices, j], dtype), acc)
            else:
                with for_range(b, counts[-1], "r_inner") as j:
                    value = element([*indices, j], acc_dtype)
                    b.store(scalar.reduce_combine(b, kernel.combine, b.load(acc), value, acc_dtype), acc)
        return b.load(acc)

    @staticmethod
    def _blocked_sum(frame: _Frame, count: ir.Value, element, acc: ir.Value) -> None:
        """Add ``element(j, dtype)`` for j in ``range(count)`` (float32 values) to the float64 ``acc``.

        The sum goes through float32 partial sums of ``SUM_BLOCK`` elements:
        the vectorized loop then does one float32 add per element instead of
        a conversion and a float64 add at half the width (a third less time
        for a row sum in cache).  Each partial sum spreads over the vector's
        lanes (16 or fewer elements per lane); the last few elements of a
        block, which LLVM would add one by one onto the partial sum, are
        added in float64 instead, so the result stays as accurate as NumPy's
        pairwise sum.
        """
        b = frame.builder
        part = frame.alloca(compute_type("float32"))
        block = ir.Constant(I64, SUM_BLOCK)
        blocks = b.sdiv(b.add(count, ir.Constant(I64, SUM_BLOCK - 1)), block)
        with for_range(b, blocks, "block") as k:
            start = b.mul(k, block)
            stop = _minimum(b, b.add(start, block), count)
            whole = b.add(start, b.and_(b.sub(stop, start), ir.Constant(I64, -SUM_LANES)))
            b.store(scalar.reduce_identity("add", "float32"), part)
            with for_range(b, whole, "r_inner", start) as j:
                b.store(scalar.reduce_combine(b, "add", b.load(part), element(j, "float32"), "float32"), part)
            partial = convert(b, b.load(part), "float32", "float64")
            b.store(scalar.reduce_combine(b, "add", b.load(acc), partial, "float64"), acc)
            with for_range(b, stop, "r_tail", whole) as j:
                b.store(scalar.reduce_combine(b, "add", b.load(acc), element(j, "float64"), "float64"), acc)

    @staticmethod
    def _float_extreme(frame: _Frame, combine: str, counts: list[ir.Value], dtype: str, element,
                       acc: ir.Value) -> ir.Value:
        """The float maximum or minimum of ``element`` over ``counts``, NaN if any element is NaN.

        NaN-propagating ``llvm.maximum`` costs about six vector instructions
        per vector on x86; instead the extreme is taken with ``maxnum`` under
        ``nnan nsz`` (one ``vmaxps``), while a separate or-reduction notes
        whether any element was NaN, which then decides the result.  A zero's
        sign is unspecified, as with NumPy's ``max`` (which keeps the first
        of equal values).
        """
        b = frame.builder
        seen = frame.alloca(I1)
        b.store(ir.Constant(I1, 0), seen)
        name = "llvm.maxnum" if combine == "max" else "llvm.minnum"
        loops, indices = nested_ranges(b, counts, "r")
        with loops:
            value = element(indices, dtype)
            function = b.module.declare_intrinsic(name, [value.type], ir.FunctionType(value.type, [value.type] * 2))
            b.store(b.call(function, [b.load(acc), value], fastmath=("nnan", "nsz")), acc)
            b.store(b.or_(b.load(seen), b.fcmp_unordered("uno", value, value)), seen)
        nan = ir.Constant(compute_type(dtype), float("nan"))
        return b.select(b.load(seen), nan, b.load(acc))

    def _serial_reduce(self, frame, kernel, dims, kept, out_strides, identity, acc_dtype, element, target,
                       out_tags) -> None:
        """Reductions that keep the innermost axis, or reduce everything: one thread, input order."""
        b = frame.builder
        if dims and (len(dims) - 1) in kernel.axes:
            total = self._accumulate(frame, kernel, dims, acc_dtype, element)
            store_value(b, convert(b, total, acc_dtype, kernel.dtype), target, kernel.dtype, out_tags)
            return
        total = _product(b, [dims[a] for a in kept])
        with for_range(b, total, "init") as j:
            store_value(b, convert(b, identity, acc_dtype, kernel.dtype), b.gep(target, [j]), kernel.dtype, out_tags)
        loops, indices = nested_ranges(b, dims, "a")
        with loops:
            out_offset = _linear_offset(b, [indices[a] for a in kept], [out_strides[a] for a in kept])
            slot = b.gep(target, [out_offset])
            current = convert(b, load_value(b, slot, kernel.dtype, out_tags), kernel.dtype, acc_dtype)
            value = scalar.reduce_combine(b, kernel.combine, current, element(indices), acc_dtype)
            store_value(b, convert(b, value, acc_dtype, kernel.dtype), slot, kernel.dtype, out_tags)

def _normalized(access: Access) -> Access:
    """``access`` with all-zero starts and all-one steps spelled as empty (one spelling per view)."""
    starts = () if all(s == 0 for s in access.starts) else access.starts
    steps = () if all(s == 1 for s in access.steps) else access.steps
    return Access(access.buffer, access.axes, starts, steps)


def _has_guarded_math(exprs) -> bool:
    """True when some call in ``exprs`` has a fast kernel (see llvm_guarded)."""
    return any(isinstance(e, Call) and vmath.has_guarded_form(e.op, e.dtype)
               for e in distinct_nodes(exprs, into_gathers=False))


def _always_broadcast(kernel: ElementwiseKernel) -> bool:
    """True when an input is broadcast along an axis whose size is not the constant 1: the
    contiguous path could then only run for degenerate sizes, so it is not emitted (less code)."""
    return any(a is None and kernel.shape[i] != 1 for access in kernel.inputs for i, a in enumerate(access.axes))


def _shape_call(builder: ir.IRBuilder, op: str, args: list[ir.Value]) -> ir.Value:
    """Native ``SHAPE_OPS[op]`` on i64 values (floor division; a zero divisor gives 0)."""
    zero = ir.Constant(I64, 0)
    if op == "add":
        return builder.add(*args)
    if op == "sub":
        return builder.sub(*args)
    if op == "mul":
        return builder.mul(*args)
    if op in ("max", "min"):
        return builder.select(builder.icmp_signed(">" if op == "max" else "<", *args), *args)
    if op == "lt":
        return builder.zext(builder.icmp_signed("<", *args), I64)
    if op == "where":
        return builder.select(builder.icmp_signed("!=", args[0], zero), args[1], args[2])
    if op == "floordiv":
        a, d = args
        safe = builder.select(builder.icmp_signed("==", d, zero), ir.Constant(I64, 1), d)
        q = builder.sdiv(a, safe)
        inexact = builder.icmp_signed("!=", builder.mul(q, safe), a)
        negative = builder.icmp_signed("!=", builder.icmp_signed("<", a, zero), builder.icmp_signed("<", safe, zero))
        q = builder.select(builder.and_(inexact, negative), builder.sub(q, ir.Constant(I64, 1)), q)
        return builder.select(builder.icmp_signed("==", d, zero), zero, q)
    raise ValueError(f"unknown shape op {op!r}; expected one of {sorted(SHAPE_OPS)}")



def _accumulator_dtype(combine: str, dtype: str) -> str:
    """float16/float32 sums and products accumulate in float64 (at least as accurate as NumPy)."""
    if combine in ("add", "mul") and dtype in ("float16", "float32"):
        return "float64"
    return dtype




_SEGMENT_SIGNATURE = ir.FunctionType(I32, [I8P, I64, I64, I64.as_pointer()])
_STEP_SIGNATURE = ir.FunctionType(I32, [I8P, I64, I64, I64.as_pointer(), I64.as_pointer()])
_GLUE_STEPS = (CollectiveCall, GemmCall)  # library calls, their loops outlined: the step functions are glue
_EMITTERS = {
    ElementwiseKernel: LLVMPrinter._elementwise, ReduceKernel: LLVMPrinter._reduce,
    GemmCall: lambda printer, frame, step: gemm.emit_gemm(frame, step),
    CollectiveCall: lambda printer, frame, step: collectives.emit_collective(frame, step),
    ArgReduceKernel: lambda printer, frame, step: indexed.emit_arg_reduce(frame, step),
    ScanKernel: lambda printer, frame, step: indexed.emit_scan(frame, step),
    ScatterKernel: lambda printer, frame, step: indexed.emit_scatter(frame, step),
    NonzeroKernel: lambda printer, frame, step: indexed.emit_nonzero(frame, step),
    SortKernel: lambda printer, frame, step: indexed.emit_sort(frame, step),
    LoopStep: LLVMPrinter._loop,
    FusedRows: LLVMPrinter._fused_rows,
    BranchStep: LLVMPrinter._branch,
}
