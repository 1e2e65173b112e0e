"""What a native library needs besides the segments: the program's description, in LLVM.

``describe(printer, embedded, messages)`` adds to a printed module one
constant global, ``theanine_aot_program``, that the library's C runtime
(``theanine.runtime.aot``'s ``runtime.c``) reads; its layout is
``th_program`` there:

    buffers    rank, itemsize, kind (INPUT, EMBEDDED, ALLOCATED), whether a step
               writes it, and for embedded buffers their data (declared here as
               ``data_symbol(buffer)``, defined by the linker's input) and dims
               (for inputs: the static dims, -1 where any size is accepted)
    inputs     the buffer of each argument
    segments   the entry function and a shapes function for each native segment:
               ``i32 shapes_k(table, 0, 1, 0)`` writes the dims of the buffers segment k
               allocates into their records (0, or 1 + the index of the step whose
               size came out negative)
    outputs    the buffer and its axes (-1: a broadcast axis of length 1)
    output_dims ``void (table, i64** dims)``: every output's dims from the inputs' dims
    messages   one line per step naming its op and the user's line (errors)

Shape expressions are evaluated where they are used (not hoisted), so a
shape that reads the dims of a buffer allocated earlier in the same
segment sees the value just stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from llvmlite import ir

from theanine.codegen.llvm import buffer_table
from theanine.codegen.llvm.ir_types import I8, I8P, I32, I64, convert, load_value, memory_type
from theanine.codegen.llvm.printer import _SEGMENT_SIGNATURE, _shape_call
from theanine.codegen.program.kernel_ir import DimOf, ShapeCall, ValueOf, segments, step_outputs, step_writes

__all__ = ["describe", "data_symbol", "resolved_shape", "INPUT", "EMBEDDED", "ALLOCATED", "PROGRAM_GLOBAL"]

INPUT, EMBEDDED, ALLOCATED = 0, 1, 2
PROGRAM_GLOBAL = "theanine_aot_program"
_I64P = I64.as_pointer()
_BUFFER = ir.LiteralStructType([I64, I64, I64, I64, I8P, _I64P])
_SEGMENT = ir.LiteralStructType([I8P, I8P, I64, _I64P])
_OUTPUT = ir.LiteralStructType([I64, I64, _I64P])
_PROGRAM = ir.LiteralStructType([I64, _BUFFER.as_pointer(), I64, _I64P, I64, _SEGMENT.as_pointer(),
                                 I64, _OUTPUT.as_pointer(), I8P, I64, I8P.as_pointer()])
_OUTPUT_DIMS = ir.FunctionType(ir.VoidType(), [I8P, _I64P.as_pointer()])


def describe(printer, embedded: Mapping[int, np.ndarray], messages: Sequence[str]) -> None:
    """Add ``theanine_aot_program`` for ``printer``'s program; ``embedded``: buffer -> its data
    (constants and baked shared values: dense arrays), whose bytes the module only declares (as
    ``data_symbol(buffer)``); ``messages``: one per step."""
    module, program = printer.module, printer.program
    written = {b for step in program.steps for b in step_writes(step)}
    buffers = [_buffer(module, buffer, embedded.get(buffer.index), buffer.index in program.inputs,
                       buffer.index in written) for buffer in program.buffers]
    entries = iter(printer.entry_names)
    infos = [_segment(printer, k, steps, next(entries)) for k, (kind, steps) in enumerate(segments(program))]
    outputs = [ir.Constant(_OUTPUT, [ir.Constant(I64, a.buffer), ir.Constant(I64, len(a.axes)),
                                     _array(module, f"output_axes_{j}", [-1 if x is None else x for x in a.axes])])
               for j, a in enumerate(program.outputs)]
    values = [
        ir.Constant(I64, len(buffers)), _table(module, "buffers", _BUFFER, buffers),
        ir.Constant(I64, len(program.inputs)), _array(module, "inputs", program.inputs),
        ir.Constant(I64, len(infos)), _table(module, "segments", _SEGMENT, infos),
        ir.Constant(I64, len(outputs)), _table(module, "outputs", _OUTPUT, outputs),
        _output_dims(printer).bitcast(I8P),
        ir.Constant(I64, len(messages)), _table(module, "messages", I8P, [_string(module, m) for m in messages]),
    ]
    description = ir.GlobalVariable(module, _PROGRAM, PROGRAM_GLOBAL)
    description.initializer = ir.Constant(_PROGRAM, values)
    description.global_constant = True


def resolved_shape(program, buffer: int, axis: int):
    """Dim ``axis`` of ``buffer`` as an expression of input and embedded buffers' dims and values:
    the dims of allocated buffers are replaced by their own shape expressions."""
    def resolve(expr):
        if isinstance(expr, DimOf) and program.buffers[expr.buffer].role not in ("input", "constant"):
            return resolve(program.buffers[expr.buffer].shape[expr.axis])
        if isinstance(expr, ShapeCall):
            return ShapeCall(expr.op, tuple(resolve(a) for a in expr.args))
        return expr

    return resolve(program.buffers[buffer].shape[axis])


def _buffer(module, buffer, data: np.ndarray | None, is_input: bool, written: bool) -> ir.Constant:
    """One ``th_buffer`` record."""
    name = f"buffer_{buffer.index}"
    if data is not None:
        kind, pointer, dims = EMBEDDED, _data(module, buffer.index, data), list(data.shape)
    elif is_input:
        kind, pointer, dims = INPUT, ir.Constant(I8P, None), [p if isinstance(p, int) else -1 for p in buffer.shape]
    else:
        kind, pointer, dims = ALLOCATED, ir.Constant(I8P, None), []
    itemsize = np.dtype(buffer.dtype).itemsize
    return ir.Constant(_BUFFER, [ir.Constant(I64, len(buffer.shape)), ir.Constant(I64, itemsize),
                                 ir.Constant(I64, kind), ir.Constant(I64, int(written)), pointer,
                                 _array(module, f"{name}_dims", dims)])


def _segment(printer, k: int, steps: list, entry: str) -> ir.Constant:
    """One ``th_segment``: its entry, its shapes function and the buffers it allocates."""
    allocated = [(printer.program.steps.index(step), b) for step in steps for b in step_outputs(step)]
    shapes = _shapes_function(printer, f"theanine_aot_shapes_{k}", allocated)
    return ir.Constant(_SEGMENT, [printer.module.globals[entry].bitcast(I8P), shapes.bitcast(I8P),
                                  ir.Constant(I64, len(allocated)),
                                  _array(printer.module, f"segment_{k}_allocated", [b for _, b in allocated])])


def _shapes_function(printer, name: str, allocated: list[tuple[int, int]]) -> ir.Function:
    function = ir.Function(printer.module, _SEGMENT_SIGNATURE, name)
    function.linkage = "internal"
    b = ir.IRBuilder(function.append_basic_block("entry"))
    table = _Table(b, function.args[0], printer.program)
    for step, buffer in allocated:
        for axis, part in enumerate(printer.program.buffers[buffer].shape):
            value = table.shape(part)
            with b.if_then(b.icmp_signed("<", value, ir.Constant(I64, 0)), likely=False):
                b.ret(ir.Constant(I32, step + 1))
            b.store(value, b.gep(table.dims(buffer), [ir.Constant(I64, axis)]))
    b.ret(ir.Constant(I32, 0))
    return function


def _output_dims(printer) -> ir.Function:
    """``void theanine_aot_output_dims(table, i64** dims)``: the outputs' dims from the inputs'."""
    program = printer.program
    function = ir.Function(printer.module, _OUTPUT_DIMS, "theanine_aot_output_dims")
    function.linkage = "internal"
    b = ir.IRBuilder(function.append_basic_block("entry"))
    table = _Table(b, function.args[0], program)
    for j, access in enumerate(program.outputs):
        target = b.load(b.gep(function.args[1], [ir.Constant(I64, j)]))
        for i, axis in enumerate(access.axes):
            value = ir.Constant(I64, 1) if axis is None else table.shape(resolved_shape(program, access.buffer, axis))
            b.store(value, b.gep(target, [ir.Constant(I64, i)]))
    b.ret_void()
    return function


class _Table:
    """Reads of a buffer table (see ``buffer_table``) at the builder's position."""

    def __init__(self, builder: ir.IRBuilder, table: ir.Value, program):
        self.b, self.table, self.program = builder, table, program

    def _record_field(self, buffer: int, offset: int, ty: ir.Type) -> ir.Value:
        b = self.b
        items = b.bitcast(b.gep(self.table, [ir.Constant(I64, buffer_table.ITEMS)]), I8P.as_pointer())
        record = b.load(b.gep(items, [ir.Constant(I64, buffer)]))
        return b.load(b.bitcast(b.gep(record, [ir.Constant(I64, offset)]), ty.as_pointer()))

    def dims(self, buffer: int) -> ir.Value:
        return self._record_field(buffer, buffer_table.DIMS, _I64P)

    def shape(self, expr) -> ir.Value:
        """A ShapeExpr as an i64 (iteratively: shape DAGs can be deep)."""
        values: dict = {}
        stack = [(expr, False)]
        while stack:
            e, ready = stack.pop()
            if isinstance(e, int) or e in values:
                continue
            if isinstance(e, DimOf):
                values[e] = self.b.load(self.b.gep(self.dims(e.buffer), [ir.Constant(I64, e.axis)]))
            elif isinstance(e, ValueOf):
                values[e] = self._value(e)
            elif not ready:
                stack.append((e, True))
                stack.extend((a, False) for a in e.args)
            else:
                values[e] = _shape_call(self.b, e.op, [self._get(values, a) for a in e.args])
        return self._get(values, expr)

    @staticmethod
    def _get(values: dict, e) -> ir.Value:
        return ir.Constant(I64, e) if isinstance(e, int) else values[e]

    def _value(self, e: ValueOf) -> ir.Value:
        b = self.b
        dtype = self.program.buffers[e.buffer].dtype
        data = b.bitcast(self._record_field(e.buffer, buffer_table.DATA, I8P), memory_type(dtype).as_pointer())
        if e.item:
            in_bytes = b.load(self._record_field(e.buffer, buffer_table.STRIDES, _I64P))
            step = b.sdiv(in_bytes, ir.Constant(I64, np.dtype(dtype).itemsize))
            data = b.gep(data, [b.mul(ir.Constant(I64, e.item), step)])
        return convert(b, load_value(b, data, dtype), dtype, "int64")


def _array(module: ir.Module, name: str, values: Sequence[int]) -> ir.Constant:
    """A constant i64 array as an ``i64*`` (null when empty)."""
    if not values:
        return ir.Constant(_I64P, None)
    ty = ir.ArrayType(I64, len(values))
    g = _constant_global(module, f"theanine_aot_{name}", ty, ir.Constant(ty, [int(v) for v in values]))
    return g.bitcast(_I64P)


def _table(module: ir.Module, name: str, item: ir.Type, values: list[ir.Constant]) -> ir.Constant:
    if not values:
        return ir.Constant(item.as_pointer(), None)
    ty = ir.ArrayType(item, len(values))
    return _constant_global(module, f"theanine_aot_{name}", ty, ir.Constant(ty, values)).bitcast(item.as_pointer())


def data_symbol(buffer: int) -> str:
    """The symbol of an embedded buffer's bytes, which the module declares and the linker provides."""
    return f"theanine_aot_data_{buffer}"


def _data(module: ir.Module, buffer: int, data: np.ndarray) -> ir.Constant:
    """A declaration of ``data``'s bytes (C order), defined outside the module: weights of many
    megabytes would be slow to print and parse as IR text (about 1 s per MiB)."""
    ty = ir.ArrayType(I8, max(data.nbytes, 1))
    g = ir.GlobalVariable(module, ty, data_symbol(buffer))
    g.global_constant = True
    return g.bitcast(I8P)


def _string(module: ir.Module, text: str) -> ir.Constant:
    raw = bytearray(text.encode() + b"\0")
    ty = ir.ArrayType(I8, len(raw))
    name = module.get_unique_name("theanine_aot_message")
    return _constant_global(module, name, ty, ir.Constant(ty, raw)).bitcast(I8P)


def _constant_global(module: ir.Module, name: str, ty: ir.Type, value: ir.Constant) -> ir.GlobalVariable:
    g = ir.GlobalVariable(module, ty, name)
    g.initializer = value
    g.global_constant = True
    g.linkage = "internal"
    return g
