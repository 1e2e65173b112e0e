"""The ``llvm`` backend: lower, print, compile and run a graph natively.

A call runs the program's segments in order: each native segment is one
call into the compiled module, which receives the tuple of buffer arrays
and reads their pointers, shapes and strides itself; each host step runs
an op's NumPy ``perform`` (ops without a native lowering).  Output and
temporary buffers are allocated here from shapes evaluated from the input
shapes, so one compiled function serves every batch size.  Temporaries
share storage after their last use and keep it between calls (see
``memory.py``), so a training loop does not pay for fresh pages on every
step.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Sequence

import numpy as np

from theanine.codegen.llvm import buffer_table, scalar
from theanine.codegen.llvm.printer import PARALLEL_MIN_ELEMENTS, LLVMPrinter
from theanine.codegen.llvm.split import split_module
from theanine.codegen.program.epilogues import absorb_epilogues
from theanine.codegen.program.fallible import inputs_to_copy
from theanine.codegen.program.kernel_fusion import absorb_consumers
from theanine.codegen.program.kernel_ir import (
    Access,
    GemmCall,
    HostCall,
    Program,
    dense_buffers,
    flat_steps,
    segments,
    shape_buffers,
    shape_function,
    step_inputs,
    step_outputs,
    step_writes,
)
from theanine.codegen.program.lowering import lower
from theanine.codegen.program.relu_masks import read_relu_outputs
from theanine.codegen.program.row_fusion import fuse_rows
from theanine.graph.basic import Variable
from theanine.graph.config import config
from theanine.graph.evaluate import run_node
from theanine.runtime.backends import Compiled
from theanine.runtime.cpython import layout
from theanine.runtime.cpython.fast_call import bind_fast_call
from theanine.runtime.failures import allocation_failure, raise_step_failure
from theanine.runtime.llvm.cache import load_native, program_fingerprint, small_gemm_kernel
from theanine.runtime.llvm.jit import NativeModule, compile_processes
from theanine.runtime.memory import MemoryPlan
from theanine.runtime.threads import thread_count, worker_pool

STORAGE_SHAPES_KEPT = 4
RECYCLED_OUTPUTS = 2  # arrays kept per output buffer for reuse once the caller drops them


def compile_llvm(inputs: Sequence[Variable], outputs: Sequence[Variable]) -> Compiled:
    """The graph as native code; nodes without a native lowering run their ``perform``.

    The disk cache is keyed on the lowered program, so a hit neither prints
    nor optimizes LLVM IR.
    """
    program, fused = read_relu_outputs(lower(inputs, outputs, scalar.supports, shape_arithmetic=True)), []
    if config.gemm_epilogues:
        program, fused = absorb_epilogues(program)
        program = absorb_consumers(program)
    program = fuse_rows(program)
    entry_names = [f"segment_{k}" for k, (kind, _) in enumerate(segments(program)) if kind == "native"]

    def print_program(_: str) -> list[str]:
        printer = LLVMPrinter(program)
        if printer.entry_names != entry_names:
            raise RuntimeError(f"the printer named its entry points {printer.entry_names}, expected {entry_names}")
        return split_module(printer.module, printer.step_function_names, compile_processes())

    float32_products = any(isinstance(step, GemmCall) and step.dtype == "float32" for step in flat_steps(program.steps))
    native = load_native(program_fingerprint(program), print_program,  # the kernel their glue binds, built meanwhile
                         meanwhile=small_gemm_kernel if float32_products else None)
    runner = ProgramRunner(program, native, entry_names, thread_count(config.num_threads))
    fallbacks = [step.node for step in program.steps if isinstance(step, HostCall)]

    def bind_fast(fallback, single: bool):
        if len(entry_names) != 1:
            return None
        return bind_fast_call(program, native, entry_names[0], PARALLEL_MIN_ELEMENTS, fallback, single)

    return Compiled(runner.run, fallbacks, bind_fast, fused=fused)


def _reader(arrays: list):
    """The array an access shows in ``arrays``, or None while its buffer does not exist."""
    return lambda a: None if arrays[a.buffer] is None else _view(arrays[a.buffer], a)


def _view(array: np.ndarray, access: Access) -> np.ndarray:
    """The array a variable denotes: ``access`` picks/reorders axes; None is a length-1 axis."""
    if access.axes == tuple(range(array.ndim)):
        return array
    shape = [array.shape[a] if a is not None else 1 for a in access.axes]
    strides = [array.strides[a] if a is not None else 0 for a in access.axes]
    return np.lib.stride_tricks.as_strided(array, shape, strides, writeable=False)


class ProgramRunner:
    """Executes a lowered Program with its compiled segments.

    Calls are serialized by a lock: the kept temporaries and the barrier
    belong to the function, so two threads must not run it at once.  An
    input that a step overwrites (a shared variable updated in place) is
    copied first when a failure could still follow the write
    (``codegen.fallible``), when the caller's array is read-only, or when
    it is not C-contiguous (kernels write their outputs densely).
    """

    def __init__(self, program: Program, native: NativeModule, entry_names: list[str], threads: int = 1):
        self.program = program
        self.native = native
        self.threads = threads
        self.lock = threading.Lock()
        self.barrier = np.zeros(2, dtype=np.int64)
        self.barrier_address = self.barrier.ctypes.data
        # Buffers kept between calls must never reach the user: not the outputs, and not what a
        # host call reads (its perform may return a view of it, which may be an output).
        escaping = {a.buffer for a in program.outputs}
        escaping |= {a.buffer for step in program.steps if isinstance(step, HostCall) for a in step.inputs}
        entries = iter(native.entry(name) for name in entry_names)
        position = {id(step): k for k, step in enumerate(program.steps)}
        self.plan = []
        for kind, steps in segments(program):
            if kind == "host":
                self.plan.append((kind, steps[0], None))
                continue
            allocations = [
                (position[id(step)], b, shape_function(program.buffers[b].shape),
                 np.dtype(program.buffers[b].dtype), b not in escaping)
                for step in steps for b in step_outputs(step)
            ]
            touched = sorted({a.buffer for step in steps for a in step_inputs(step)} | {a[1] for a in allocations})
            self.plan.append((kind, (allocations, touched), next(entries)))
        self.memory = MemoryPlan(program)
        self.contiguous_needed = dense_buffers(program)
        self.template = [None] * len(program.buffers)
        for b, value in program.constants.items():
            self.template[b] = self._usable(b, np.asarray(value))
        self.temporaries: dict[int, np.ndarray] = {}
        self.returned: dict[int, list[np.ndarray]] = {}
        # When every allocated shape follows from the input shapes alone, a call replays the
        # temporaries an earlier call with the same input shapes got (no planning per call).
        self.storage: dict[tuple, dict[int, np.ndarray]] = {}
        allocated = {b for _, work, _ in self.plan if work is not None and not isinstance(work, HostCall)
                     for _, b, _, _, _ in work[0]}
        self.sized_by_input_shapes = all(
            shape_buffers(d) <= set(program.inputs) and not shape_buffers(d, values_only=True)
            for b in allocated for d in program.buffers[b].shape
        )
        written = {b for step in program.steps for b in step_writes(step)}
        self.overwritten = [b in written for b in program.inputs]
        self.copied = set(inputs_to_copy(program))

    def _usable(self, buffer: int, array: np.ndarray) -> np.ndarray:
        """``array`` in a form native code can read: element-aligned strides, contiguous for BLAS."""
        if buffer in self.contiguous_needed or not array.flags.aligned:
            return np.ascontiguousarray(array)
        return array

    def _allocate(self, step: int, buffer: int, shape: tuple, dtype: np.dtype, reusable: bool) -> np.ndarray:
        """Storage for a step's output: pooled, kept from the last call, or fresh (outputs)."""
        if buffer in self.memory.pooled:
            self.memory.release_before(step)
            return self.memory.array(buffer, shape, dtype)
        if reusable:
            kept = self.temporaries.get(buffer)
            if kept is not None and kept.shape == shape:
                return kept
            kept = self.temporaries[buffer] = np.empty(shape, dtype)
            return kept
        return self._output(buffer, shape, dtype)

    def _storage(self, arrays: list, step: int, buffer: int, shape: tuple, dtype: np.dtype,
                 reusable: bool) -> np.ndarray:
        """``_allocate``, with a failure (negative or huge sizes) reported against the step's node."""
        try:
            if min(shape, default=0) < 0:
                raise ValueError("negative dimensions are not allowed")
            if math.prod(shape) * dtype.itemsize >= 1 << 63:
                raise MemoryError("the size does not fit in 64 bits")
            return self._allocate(step, buffer, shape, dtype, reusable)
        except (ValueError, MemoryError) as error:
            raise allocation_failure(self.program.steps[step], error, shape, dtype, self.program.refs,
                                     _reader(arrays)) from None

    def _output(self, buffer: int, shape: tuple, dtype: np.dtype) -> np.ndarray:
        """A new output array, or one this buffer returned before that nobody holds any more.

        A fresh large array costs its page faults again (a 64 MB output: about
        6 ms of a 4096x4096 softmax's 12), and a caller that keeps the last
        result while asking for the next (``out = f(x)`` in a loop) still
        holds one, so the runner keeps the last ``RECYCLED_OUTPUTS`` arrays of
        each output buffer and reuses an idle one.
        """
        ring = self.returned.setdefault(buffer, [])
        for previous in ring:
            # references to ``previous``: the list, the loop name and getrefcount's argument
            if previous.shape == shape and previous.dtype == dtype and sys.getrefcount(previous) == 3:
                return previous
        array = np.empty(shape, dtype)
        ring.append(array)
        del ring[:-RECYCLED_OUTPUTS]
        return array

    def run(self, values: Sequence[np.ndarray]) -> list[np.ndarray]:
        with self.lock:
            return self._run(values)

    def _run(self, values: Sequence[np.ndarray]) -> list[np.ndarray]:
        arrays = list(self.template)
        for k, (b, value) in enumerate(zip(self.program.inputs, values, strict=False)):
            if self.overwritten[k] and (k in self.copied or not value.flags.writeable or not value.flags.c_contiguous):
                value = value.copy()
            arrays[b] = self._usable(b, value)
        key = tuple(arrays[b].shape for b in self.program.inputs) if self.sized_by_input_shapes else None
        replay = self.storage.get(key)
        record = {} if replay is None and key is not None else None
        if replay is None:
            self.memory.start()
        for kind, work, entry in self.plan:
            if kind == "host":
                self._host(arrays, work)
                continue
            allocations, touched = work
            for step, b, shape_of, dtype, reusable in allocations:
                if replay is not None and b in replay:
                    arrays[b] = replay[b]
                    continue
                arrays[b] = self._storage(arrays, step, b, shape_of(arrays), dtype, reusable)
                if record is not None and reusable:
                    record[b] = arrays[b]
            status = self._call(entry, tuple(arrays), touched)
            if status:
                self._raise(arrays, self.program.steps[status - 1])
        if record is not None:
            self._remember(key, record)
        return [_view(arrays[a.buffer], a) for a in self.program.outputs]

    def _remember(self, key: tuple, storage: dict[int, np.ndarray]) -> None:
        """Keep a call's temporaries for later calls with the same input shapes (a few shapes at most)."""
        if len(self.storage) >= STORAGE_SHAPES_KEPT:
            del self.storage[next(iter(self.storage))]
        self.storage[key] = storage

    def _call(self, entry, arrays: tuple, touched: list[int]) -> int:
        """Run a segment, on every thread when its arrays are large enough to pay for it."""
        barrier = self.barrier_address
        if layout.tuple_is_buffer_table():
            table = id(arrays)
        else:
            table, keep = buffer_table.pack(arrays)
        if self.threads == 1 or max([arrays[b].size for b in touched]) < PARALLEL_MIN_ELEMENTS:
            return entry(table, 0, 1, barrier)
        n = self.threads
        calls = [lambda t=t: entry(table, t, n, barrier) for t in range(n)]
        return max(worker_pool(n - 1).run(calls))

    def _host(self, arrays: list, step: HostCall) -> None:
        views = [_view(arrays[a.buffer], a) for a in step.inputs]
        for b, value in zip(step.outputs, run_node(step.node, views), strict=False):
            arrays[b] = self._usable(b, np.asarray(value))

    def _raise(self, arrays: list, step) -> None:
        raise_step_failure(step, self.program.refs, _reader(arrays))
