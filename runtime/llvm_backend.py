"""The ``llvm`` backend: lower, print, compile and run a graph natively.

A call fills one table of shapes/strides and one of data pointers, then
runs the program's segments in order: each native segment is one call into
the compiled module; each host step runs an op's NumPy ``perform`` (ops
without a native lowering).  Buffers of native outputs are allocated here,
from shapes evaluated from the input shapes, so one compiled function
serves every batch size.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

import numpy as np

from theanine.codegen import llvm_scalar
from theanine.codegen.kernel_ir import (
    Access, DimOf, GemmCall, HostCall, Program, segments, step_inputs, step_outputs,
)
from theanine.codegen.llvm_printer import LLVMPrinter, meta_layout
from theanine.codegen.lower import lower
from theanine.graph.basic import Variable
from theanine.graph.evaluate import annotate_error, run_node
from theanine.runtime.llvm_jit import NativeModule, compile_to_object


def compile_llvm(inputs: Sequence[Variable], outputs: Sequence[Variable]):
    """Return ``run(values) -> outputs`` executing the graph as native code."""
    program = lower(inputs, outputs, llvm_scalar.supports)
    printer = LLVMPrinter(program)
    native = NativeModule(compile_to_object(str(printer.module)))
    return ProgramRunner(program, native, printer.entry_names).run


def _view(array: np.ndarray, access: Access) -> np.ndarray:
    """The array a variable denotes: ``access`` picks/reorders axes; None is a length-1 axis."""
    if access.axes == tuple(range(array.ndim)):
        return array
    shape = [array.shape[a] if a is not None else 1 for a in access.axes]
    strides = [array.strides[a] if a is not None else 0 for a in access.axes]
    return np.lib.stride_tricks.as_strided(array, shape, strides, writeable=False)


class ProgramRunner:
    """Executes a lowered Program with its compiled segments."""

    def __init__(self, program: Program, native: NativeModule, entry_names: list[str]):
        self.program = program
        self.native = native
        self.offsets = meta_layout(program)
        entries = iter(native.entry(name) for name in entry_names)
        self.plan = [(kind, steps, next(entries) if kind == "native" else None) for kind, steps in segments(program)]
        self.contiguous_needed = {
            access.buffer for step in program.steps if isinstance(step, GemmCall) for access in (step.a, step.b)
        }
        self.meta = np.zeros(max(self.offsets[-1], 1), dtype=np.int64)
        self.pointers = (ctypes.c_void_p * max(len(program.buffers), 1))()

    def _shape(self, arrays: list, buffer: int) -> tuple[int, ...]:
        return tuple(
            arrays[e.buffer].shape[e.axis] if isinstance(e, DimOf) else e for e in self.program.buffers[buffer].shape
        )

    def _store(self, arrays: list, buffer: int, array: np.ndarray) -> None:
        itemsize = array.itemsize
        if buffer in self.contiguous_needed or any(s % itemsize for s in array.strides):
            array = np.ascontiguousarray(array)
        arrays[buffer] = array

    def _fill_tables(self, arrays: list) -> None:
        meta, pointers, offsets = self.meta, self.pointers, self.offsets
        for b, array in enumerate(arrays):
            if array is None:
                continue
            n = array.ndim
            meta[offsets[b]:offsets[b] + n] = array.shape
            meta[offsets[b] + n:offsets[b] + 2 * n] = [s // array.itemsize for s in array.strides]
            pointers[b] = array.ctypes.data

    def run(self, values: Sequence[np.ndarray]) -> list[np.ndarray]:
        arrays: list = [None] * len(self.program.buffers)
        for b, value in zip(self.program.inputs, values):
            self._store(arrays, b, value)
        for b, value in self.program.constants.items():
            self._store(arrays, b, value)
        for kind, steps, entry in self.plan:
            if kind == "host":
                self._host(arrays, steps[0])
                continue
            for step in steps:
                for b in step_outputs(step):
                    arrays[b] = np.empty(self._shape(arrays, b), dtype=self.program.buffers[b].dtype)
            self._fill_tables(arrays)
            status = entry(self.meta.ctypes.data, ctypes.addressof(self.pointers))
            if status:
                self._raise(arrays, self.program.steps[status - 1])
        return [_view(arrays[a.buffer], a) for a in self.program.outputs]

    def _host(self, arrays: list, step: HostCall) -> None:
        views = [_view(arrays[a.buffer], a) for a in step.inputs]
        for b, value in zip(step.outputs, run_node(step.node, views)):
            self._store(arrays, b, np.asarray(value))

    def _raise(self, arrays: list, step) -> None:
        views = [_view(arrays[a.buffer], a) for a in step_inputs(step)]
        message = f"shape mismatch: input shapes {[v.shape for v in views]} do not match"
        raise annotate_error(ValueError(message), step.node, views)
