"""Binding the native fast call path to compiled functions.

For a compiled program that is one native segment over its arguments (no
host calls, no shared variables), ``bind_fast_call`` returns a builtin
function that checks the arguments, allocates the outputs and runs the
segment without leaving native code, and calls ``fallback`` (the ordinary
Python path) for anything it does not handle.  See
``theanine.runtime.cpython.fast_call_ir`` for the descriptor it reads.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

import numpy as np
from llvmlite import ir

from theanine.codegen.program.kernel_ir import (
    Access,
    CollectiveCall,
    DimOf,
    HostCall,
    Program,
    dense_buffers,
    segments,
    step_outputs,
    step_writes,
)
from theanine.runtime.cpython import fast_call_ir, layout
from theanine.runtime.llvm.cache import load_native
from theanine.runtime.llvm.jit import NativeModule

_METH_FASTCALL = 0x80


class _MethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p), ("ml_flags", ctypes.c_int),
                ("ml_doc", ctypes.c_char_p)]


@functools.cache
def _fast_call_module() -> tuple[NativeModule, int]:
    """The generic fast-call function, compiled once per process (and cached on disk)."""
    module = ir.Module(name="theanine_fast_call")
    fast_call_ir.build_fast_call(module)
    text = str(module)
    native = load_native(text, lambda source: source)
    native.set_global("theanine_py_none", id(None))
    return native, native.function_address(fast_call_ir.FUNCTION_NAME)


def _eligible(program: Program) -> bool:
    parts = segments(program)
    if len(parts) != 1 or parts[0][0] != "native" or any(isinstance(s, HostCall) for s in program.steps):
        return False
    if any(isinstance(s, CollectiveCall) for s in program.steps):
        return False  # the Python path (ctypes) releases the GIL while MPI waits: watchdogs can run
    if len(program.buffers) > fast_call_ir.MAX_BUFFERS or not program.outputs:
        return False
    if any(len(b.shape) > fast_call_ir.MAX_DIMS for b in program.buffers):
        return False
    arguments = set(program.inputs)
    if any(b in arguments for s in program.steps for b in step_writes(s)):
        return False  # an input written in place may need a copy first: the Python path decides
    allocated = [b for s in program.steps for b in step_outputs(s)]
    outputs = [a.buffer for a in program.outputs]
    if len(set(outputs)) != len(outputs) or any(b not in allocated for b in outputs):
        return False
    if any(not _plain(a, program) for a in program.outputs):
        return False
    return all(
        isinstance(d, int) or (isinstance(d, DimOf) and d.buffer in arguments)
        for b in allocated for d in program.buffers[b].shape
    )


def _plain(access, program: Program) -> bool:
    """The access reads its whole buffer as it is (no reordering, start or step)."""
    return access == Access(access.buffer, tuple(range(len(program.buffers[access.buffer].shape))))


def _spec(buffer: int, dtype: np.dtype, dims: list[int], flags: int = 0) -> list[int]:
    padded = dims + [0] * (fast_call_ir.MAX_DIMS - len(dims))
    return [buffer, id(dtype), len(dims), flags] + padded


def _dim_code(d) -> int:
    return -(1 + 16 * d.buffer + d.axis) if isinstance(d, DimOf) else int(d)


def bind_fast_call(program: Program, native: NativeModule, entry_name: str, max_elements: int,
                   fallback: Callable, single: bool) -> _FastCall | None:
    """The fast builtin for ``program``, or None when the program is not one plain native segment.

    ``single``: return the one output itself rather than a list of outputs.
    """
    if not (layout.tuple_is_buffer_table() and _eligible(program)):
        return None
    keep: list = [fallback]
    dense = dense_buffers(program)
    arguments = []
    for b in program.inputs:
        buffer = program.buffers[b]
        dtype = np.dtype(buffer.dtype)
        keep.append(dtype)
        flags = layout.ARRAY_ALIGNED_FLAG | (layout.ARRAY_C_CONTIGUOUS_FLAG if b in dense else 0)
        arguments += _spec(b, dtype, [d if isinstance(d, int) else -1 for d in buffer.shape], flags)
    allocations = []
    for b in (b for s in program.steps for b in step_outputs(s)):
        dtype = np.dtype(program.buffers[b].dtype)
        keep.append(dtype)
        allocations += _spec(b, dtype, [_dim_code(d) for d in program.buffers[b].shape])
    constants = []
    for b, value in program.constants.items():
        array = np.ascontiguousarray(value)
        keep.append(array)
        constants += [b, id(array)]
    outputs = [a.buffer for a in program.outputs]
    header_size = 14
    offsets = [header_size, header_size + len(outputs), header_size + len(outputs) + len(arguments)]
    offsets.append(offsets[2] + len(allocations))
    header = [len(program.inputs), len(program.buffers), native.function_address(entry_name), id(fallback),
              id(np.ndarray), layout.array_empty_address(), -1 if single else len(outputs), offsets[0],
              offsets[1], len(allocations) // fast_call_ir.SPEC_WORDS, offsets[2], len(constants) // 2, offsets[3],
              max_elements]
    descriptor = np.array(header + outputs + arguments + allocations + constants, dtype=np.int64)
    module, address = _fast_call_module()
    method = _MethodDef(b"theanine_fast_call", address, _METH_FASTCALL, None)
    new_function = ctypes.pythonapi.PyCFunction_NewEx
    new_function.restype = ctypes.py_object
    new_function.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]
    fast = new_function(ctypes.addressof(method), descriptor, None)
    return _FastCall(fast, (method, descriptor, keep, module, native))


class _FastCall:
    """Holds the builtin and everything its descriptor points to."""

    __slots__ = ("call", "_keep")

    def __init__(self, call: Callable, keep: tuple):
        self.call = call
        self._keep = keep
