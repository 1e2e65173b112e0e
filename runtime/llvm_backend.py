"""The ``llvm`` backend: lower, print, compile and run a graph natively.

A call runs the program's segments in order: each native segment is one
call into the compiled module, which receives the tuple of buffer arrays
and reads their pointers, shapes and strides itself; each host step runs
an op's NumPy ``perform`` (ops without a native lowering).  Output and
temporary buffers are allocated here from shapes evaluated from the input
shapes, so one compiled function serves every batch size.  Temporaries
are kept between calls and reused while their shape stays the same, so a
training loop does not pay for fresh pages on every step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from theanine.codegen import llvm_scalar
from theanine.codegen.kernel_ir import (
    Access, DimOf, GemmCall, HostCall, Program, ReduceKernel, segments, step_inputs, step_outputs,
)
from theanine.codegen.llvm_printer import LLVMPrinter
from theanine.codegen.lower import lower
from theanine.graph.basic import Variable
from theanine.graph.evaluate import annotate_error, run_node
from theanine.runtime.llvm_cache import cached_compile_to_object
from theanine.runtime.llvm_jit import NativeModule


def compile_llvm(inputs: Sequence[Variable], outputs: Sequence[Variable]):
    """Return ``run(values) -> outputs`` executing the graph as native code."""
    program = lower(inputs, outputs, llvm_scalar.supports)
    printer = LLVMPrinter(program)
    native = NativeModule(cached_compile_to_object(str(printer.module)))
    return ProgramRunner(program, native, printer.entry_names).run


def _view(array: np.ndarray, access: Access) -> np.ndarray:
    """The array a variable denotes: ``access`` picks/reorders axes; None is a length-1 axis."""
    if access.axes == tuple(range(array.ndim)):
        return array
    shape = [array.shape[a] if a is not None else 1 for a in access.axes]
    strides = [array.strides[a] if a is not None else 0 for a in access.axes]
    return np.lib.stride_tricks.as_strided(array, shape, strides, writeable=False)


def _shape_function(program: Program, buffer: int):
    """``arrays -> shape`` of ``buffer`` from the shapes of buffers computed before it."""
    parts = program.buffers[buffer].shape
    if all(not isinstance(p, DimOf) for p in parts):
        fixed = tuple(parts)
        return lambda arrays: fixed
    return lambda arrays: tuple(arrays[p.buffer].shape[p.axis] if isinstance(p, DimOf) else p for p in parts)


class ProgramRunner:
    """Executes a lowered Program with its compiled segments."""

    def __init__(self, program: Program, native: NativeModule, entry_names: list[str]):
        self.program = program
        self.native = native
        escaping = {a.buffer for a in program.outputs}
        entries = iter(native.entry(name) for name in entry_names)
        self.plan = []
        for kind, steps in segments(program):
            if kind == "host":
                self.plan.append((kind, steps[0], None))
                continue
            allocations = [
                (b, _shape_function(program, b), np.dtype(program.buffers[b].dtype), b not in escaping)
                for step in steps for b in step_outputs(step)
            ]
            self.plan.append((kind, allocations, next(entries)))
        self.contiguous_needed = {
            access.buffer for step in program.steps if isinstance(step, GemmCall) for access in (step.a, step.b)
        }
        self.template = [None] * len(program.buffers)
        for b, value in program.constants.items():
            self.template[b] = self._usable(b, np.asarray(value))
        self.temporaries: dict[int, np.ndarray] = {}

    def _usable(self, buffer: int, array: np.ndarray) -> np.ndarray:
        """``array`` in a form native code can read: element-aligned strides, contiguous for BLAS."""
        if buffer in self.contiguous_needed or not array.flags.aligned:
            return np.ascontiguousarray(array)
        return array

    def _allocate(self, buffer: int, shape: tuple, dtype: np.dtype, reusable: bool) -> np.ndarray:
        if reusable:
            kept = self.temporaries.get(buffer)
            if kept is not None and kept.shape == shape:
                return kept
            kept = self.temporaries[buffer] = np.empty(shape, dtype)
            return kept
        return np.empty(shape, dtype)

    def run(self, values: Sequence[np.ndarray]) -> list[np.ndarray]:
        arrays = list(self.template)
        for b, value in zip(self.program.inputs, values):
            arrays[b] = self._usable(b, value)
        for kind, work, entry in self.plan:
            if kind == "host":
                self._host(arrays, work)
                continue
            for b, shape_of, dtype, reusable in work:
                arrays[b] = self._allocate(b, shape_of(arrays), dtype, reusable)
            status = entry(tuple(arrays))
            if status:
                self._raise(arrays, self.program.steps[status - 1])
        return [_view(arrays[a.buffer], a) for a in self.program.outputs]

    def _host(self, arrays: list, step: HostCall) -> None:
        views = [_view(arrays[a.buffer], a) for a in step.inputs]
        for b, value in zip(step.outputs, run_node(step.node, views)):
            arrays[b] = self._usable(b, np.asarray(value))

    def _raise(self, arrays: list, step) -> None:
        """Report a failed run-time check the way the reference semantics word it.

        The node's ``perform`` is run on the values it saw, so the error is
        NumPy's (annotated with the node); if the reference accepts them,
        the kernel's own shape check is reported.
        """
        node = step.checked_node if isinstance(step, ReduceKernel) else step.node
        refs = self.program.refs
        if all(id(v) in refs for v in node.inputs):
            run_node(node, [_view(arrays[refs[id(v)].buffer], refs[id(v)]) for v in node.inputs])
        views = [_view(arrays[a.buffer], a) for a in step_inputs(step)]
        message = f"shape mismatch: input shapes {[v.shape for v in views]} do not match"
        raise annotate_error(ValueError(message), node, views)
