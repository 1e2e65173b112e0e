"""The fast call path: one native function that checks arguments and runs a segment.

Calling a small compiled function through Python costs microseconds of
argument checks, allocations and ctypes conversions.  This module prints a
single generic CPython ``METH_FASTCALL`` function that does that work in
native code, driven by a descriptor (an int64 array, laid out below) that
the runtime builds for each eligible compiled function:

    fast(descriptor_array, args, nargs) -> result

It checks each argument (exactly an ndarray, the expected dtype object,
rank, alignment, static dims, small enough for one thread), allocates the
outputs with NumPy's ``PyArray_Empty``, builds the buffer tuple, runs the
segment and returns the output (or a list of outputs).  Anything unusual
(a Python list, a wrong dtype, a failed shape check) goes to the fallback:
the ordinary Python call path, which converts, computes or raises the
proper error.  The function is generic, so it is compiled once per process.

Descriptor words (int64):

    [0] nargs            [1] nbuffers        [2] segment entry address
    [3] fallback object  [4] ndarray type    [5] PyArray_Empty address
    [6] outputs: -1 = single output, else the count of a list result
    [7] offset of output buffer indices   [8] offset of argument specs
    [9] number of allocations   [10] offset of allocation specs
    [11] number of constants    [12] offset of constant specs
    [13] largest argument size handled here (elements)
    argument spec (12 words): buffer, dtype object, ndim, required NumPy flags, dims[8] (-1: any)
    allocation spec (12 words): buffer, dtype object, ndim, 0, dims[8]
        (>= 0: that size; < 0: -(1 + 16 * argument buffer + axis))
    constant spec (2 words): buffer, array object
"""

from __future__ import annotations

from llvmlite import ir

from theanine.codegen.llvm.ir_types import I1, I8P, I32, I64
from theanine.codegen.llvm.loops import for_range
from theanine.runtime.cpython import layout

SPEC_WORDS = 12
MAX_DIMS = 8
MAX_BUFFERS = 64
FUNCTION_NAME = "theanine_fast_call"


class _Builder:
    """Small helpers over an IRBuilder for pointer-sized words."""

    def __init__(self, builder: ir.IRBuilder, descriptor: ir.Value):
        self.b = builder
        self.descriptor = descriptor

    def word(self, index) -> ir.Value:
        index = index if isinstance(index, ir.Value) else ir.Constant(I64, index)
        return self.b.load(self.b.gep(self.descriptor, [index]))

    def field(self, obj: ir.Value, offset: int, ty: ir.Type) -> ir.Value:
        address = self.b.gep(obj, [ir.Constant(I64, offset)])
        return self.b.load(self.b.bitcast(address, ty.as_pointer()))

    def as_pointer(self, value: ir.Value) -> ir.Value:
        return self.b.inttoptr(value, I8P)


def build_fast_call(module: ir.Module) -> ir.Function:
    """Add the generic fast-call function to ``module`` and return it."""
    signature = ir.FunctionType(I8P, [I8P, I8P.as_pointer(), I64])
    function = ir.Function(module, signature, FUNCTION_NAME)
    self_object, args, nargs = function.args
    entry = function.append_basic_block("entry")
    slow = function.append_basic_block("slow")
    b = ir.IRBuilder(entry)
    items = b.alloca(ir.ArrayType(I8P, MAX_BUFFERS))
    dims = b.alloca(ir.ArrayType(I64, MAX_DIMS))
    data_field = b.gep(self_object, [ir.Constant(I64, layout.ARRAY_DATA)])
    data = b.load(b.bitcast(data_field, I64.as_pointer().as_pointer()))
    w = _Builder(b, data)
    api = _api(module)

    def fail_if(condition: ir.Value) -> None:
        ok = function.append_basic_block("ok")
        b.cbranch(condition, slow, ok)
        b.position_at_end(ok)

    def item(index: ir.Value) -> ir.Value:
        return b.gep(items, [ir.Constant(I64, 0), index])

    fail_if(b.icmp_signed("!=", nargs, w.word(0)))
    nbuffers = w.word(1)
    with for_range(b, nbuffers, "clear") as k:
        b.store(ir.Constant(I8P, None), item(k))
    _check_arguments(b, w, args, nargs, item, fail_if, b.alloca(I64))
    with for_range(b, w.word(11), "const") as k:
        spec = b.add(w.word(12), b.mul(k, ir.Constant(I64, 2)))
        b.store(w.as_pointer(w.word(b.add(spec, ir.Constant(I64, 1)))), item(w.word(spec)))
    failed_allocation = _allocate(b, w, api, dims, item)
    with b.if_then(failed_allocation, likely=False):
        _release_allocations(b, w, api, item)
        b.ret(ir.Constant(I8P, None))
    tuple_object = b.call(api["PyTuple_New"], [nbuffers])
    none = b.load(api["none"])
    with for_range(b, nbuffers, "pack") as k:
        value = b.load(item(k))
        value = b.select(b.icmp_unsigned("==", value, ir.Constant(I8P, None)), none, value)
        b.call(api["Py_IncRef"], [value])
        offset = b.add(ir.Constant(I64, layout.TUPLE_ITEMS), b.mul(k, ir.Constant(I64, 8)))
        slot = b.gep(tuple_object, [offset])
        b.store(value, b.bitcast(slot, I8P.as_pointer()))
    segment = b.inttoptr(w.word(2), ir.FunctionType(I32, [I8P, I64, I64, I64.as_pointer()]).as_pointer())
    one_thread = [ir.Constant(I64, 0), ir.Constant(I64, 1), ir.Constant(I64.as_pointer(), None)]
    status = b.call(segment, [tuple_object] + one_thread)
    result = _result(b, w, api, item)
    b.call(api["Py_DecRef"], [tuple_object])
    _release_allocations(b, w, api, item)
    with b.if_then(b.icmp_signed("!=", status, ir.Constant(I32, 0)), likely=False):
        b.call(api["Py_DecRef"], [result])
        b.branch(slow)
    b.ret(result)
    b.position_at_end(slow)
    fallback = w.as_pointer(w.word(3))
    b.ret(b.call(api["PyObject_Vectorcall"], [fallback, args, nargs, ir.Constant(I8P, None)]))
    return function


def _api(module: ir.Module) -> dict:
    """Declarations of the CPython functions the fast path calls (resolved in-process)."""
    def declare(name, ret, params):
        return ir.Function(module, ir.FunctionType(ret, params), name)

    none = ir.GlobalVariable(module, I8P, "theanine_py_none")
    none.initializer = ir.Constant(I8P, None)
    return {
        "PyTuple_New": declare("PyTuple_New", I8P, [I64]),
        "PyList_New": declare("PyList_New", I8P, [I64]),
        "Py_IncRef": declare("Py_IncRef", ir.VoidType(), [I8P]),
        "Py_DecRef": declare("Py_DecRef", ir.VoidType(), [I8P]),
        "PyObject_Vectorcall": declare("PyObject_Vectorcall", I8P, [I8P, I8P.as_pointer(), I64, I8P]),
        "none": none,
    }


def _check_arguments(b, w, args, nargs, item, fail_if, size) -> None:
    with for_range(b, nargs, "arg") as i:
        spec = b.add(w.word(8), b.mul(i, ir.Constant(I64, SPEC_WORDS)))
        value = b.load(b.gep(args, [i]))
        fail_if(b.icmp_unsigned("!=", w.field(value, layout.OBJECT_TYPE, I64), w.word(4)))
        descr = w.field(value, layout.ARRAY_DESCR, I64)
        fail_if(b.icmp_unsigned("!=", descr, w.word(b.add(spec, ir.Constant(I64, 1)))))
        ndim = b.sext(w.field(value, layout.ARRAY_NDIM, I32), I64)
        fail_if(b.icmp_signed("!=", ndim, w.word(b.add(spec, ir.Constant(I64, 2)))))
        flags = b.zext(w.field(value, layout.ARRAY_FLAGS, I32), I64)
        required = w.word(b.add(spec, ir.Constant(I64, 3)))
        fail_if(b.icmp_unsigned("!=", b.and_(flags, required), required))
        shape = w.field(value, layout.ARRAY_DIMENSIONS, I64.as_pointer())
        b.store(ir.Constant(I64, 1), size)
        with for_range(b, ndim, "axis") as k:
            actual = b.load(b.gep(shape, [k]))
            wanted = w.word(b.add(spec, b.add(ir.Constant(I64, 4), k)))
            mismatch = b.and_(b.icmp_signed(">=", wanted, ir.Constant(I64, 0)), b.icmp_signed("!=", actual, wanted))
            fail_if(mismatch)
            b.store(b.mul(b.load(size), actual), size)
        fail_if(b.icmp_signed(">", b.load(size), w.word(13)))
        b.store(value, item(w.word(spec)))


def _allocate(b, w, api, dims, item) -> ir.Value:
    """Allocate every output/temporary; returns true when NumPy failed (error set)."""
    failed = b.alloca(I1)
    b.store(ir.Constant(I1, 0), failed)
    empty = b.inttoptr(w.word(5), ir.FunctionType(I8P, [I32, I64.as_pointer(), I8P, I32]).as_pointer())
    with for_range(b, w.word(9), "alloc") as j:
        spec = b.add(w.word(10), b.mul(j, ir.Constant(I64, SPEC_WORDS)))
        ndim = w.word(b.add(spec, ir.Constant(I64, 2)))
        with for_range(b, ndim, "dim") as k:
            source = w.word(b.add(spec, b.add(ir.Constant(I64, 4), k)))
            with b.if_else(b.icmp_signed(">=", source, ir.Constant(I64, 0))) as (literal, derived):
                with literal:
                    b.store(source, b.gep(dims, [ir.Constant(I64, 0), k]))
                with derived:
                    code = b.sub(ir.Constant(I64, -1), source)
                    owner = b.load(item(b.ashr(code, ir.Constant(I64, 4))))
                    axis = b.and_(code, ir.Constant(I64, 15))
                    shape = w.field(owner, layout.ARRAY_DIMENSIONS, I64.as_pointer())
                    b.store(b.load(b.gep(shape, [axis])), b.gep(dims, [ir.Constant(I64, 0), k]))
        descr = w.as_pointer(w.word(b.add(spec, ir.Constant(I64, 1))))
        b.call(api["Py_IncRef"], [descr])
        array = b.call(empty, [b.trunc(ndim, I32), b.gep(dims, [ir.Constant(I64, 0), ir.Constant(I64, 0)]), descr,
                               ir.Constant(I32, 0)])
        b.store(array, item(w.word(spec)))
        b.store(b.or_(b.load(failed), b.icmp_unsigned("==", array, ir.Constant(I8P, None))), failed)
    return b.load(failed)


def _release_allocations(b, w, api, item) -> None:
    with for_range(b, w.word(9), "release") as j:
        slot = item(w.word(b.add(w.word(10), b.mul(j, ir.Constant(I64, SPEC_WORDS)))))
        array = b.load(slot)
        with b.if_then(b.icmp_unsigned("!=", array, ir.Constant(I8P, None))):
            b.call(api["Py_DecRef"], [array])
        b.store(ir.Constant(I8P, None), slot)


def _result(b, w, api, item) -> ir.Value:
    """The single output (a new reference) or a new list of the outputs."""
    count = w.word(6)
    first = b.load(item(w.word(w.word(7))))
    single = b.icmp_signed("<", count, ir.Constant(I64, 0))
    result = b.alloca(I8P)
    with b.if_else(single) as (one, many):
        with one:
            b.call(api["Py_IncRef"], [first])
            b.store(first, result)
        with many:
            listing = b.call(api["PyList_New"], [count])
            elements = w.field(listing, layout.TUPLE_ITEMS, I8P.as_pointer())
            with for_range(b, count, "out") as k:
                value = b.load(item(w.word(b.add(w.word(7), k))))
                b.call(api["Py_IncRef"], [value])
                b.store(value, b.gep(elements, [k]))
            b.store(listing, result)
    return b.load(result)
