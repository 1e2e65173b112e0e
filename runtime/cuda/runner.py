"""Running a printed CUDA program on a device: the part both CUDA runtimes share.

``DeviceRunner`` executes the program's steps in order.  Buffers live on
the device, every one a C-contiguous array on a block of the device's
``Pool``: arguments are copied in, outputs and temporaries allocated (a
temporary is given back after the last step that reads it, outputs after
they are copied out), so a call with the shapes of an earlier call
allocates nothing.  Shared variables stay on the device between calls
(``run_with_state``: each is read from its device copy, ``DeviceValue``,
and its update is returned as one), so a training step's only transfers
are its arguments and outputs.  Each kernel is launched with
``launch.configure`` on its work sizes evaluated from the buffer shapes.
A loop launches its body's kernels once per iteration (its buffers are
allocated once, before it starts).  A host call copies its inputs to the
host, runs the op's NumPy ``perform`` and copies the results back.  After
each run of native steps the status word is read: a failed check names
the node and the user's line, as the LLVM runner does (the node's
``perform`` is rerun on the values it saw, so the error is NumPy's when
NumPy raises one).

A device provides: ``pool``, ``memory`` (its address space: device copies
made there serve it), ``wrap(block, shape, dtype)`` (a device array on a
pool block), ``pointer(array)``, ``copy_in(array, value)``,
``download(array)`` (a new NumPy array), ``copy(target, source)`` (device
to device), ``launch(module, kernel, grid, block, records)`` and
``read_status()`` (which also resets it).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from theanine.codegen.cuda import launch
from theanine.codegen.cuda.printer import CudaPrinter, Kernel
from theanine.codegen.program.kernel_ir import (
    Access,
    BranchStep,
    HostCall,
    LoopStep,
    Program,
    evaluate_shape,
    segments,
    step_inputs,
    step_outputs,
    step_writes,
)
from theanine.graph.evaluate import run_node
from theanine.runtime.failures import raise_step_failure


def record_dtype(rank: int) -> np.dtype:
    """The layout of the prelude's ``struct Buf`` for ``TH_MAXDIM == rank``."""
    return np.dtype([("data", "<u8"), ("dims", "<i8", (rank,)), ("strides", "<i8", (rank,))])


def view(array: np.ndarray, access: Access) -> np.ndarray:
    """The array a variable denotes: ``access`` picks/reorders axes; None is a length-1 axis."""
    if access.axes == tuple(range(array.ndim)) and access.plain:
        return array
    shape = [array.shape[a] if a is not None else 1 for a in access.axes]
    strides = [array.strides[a] if a is not None else 0 for a in access.axes]
    return np.lib.stride_tricks.as_strided(array, shape, strides, writeable=False)


class _Shapes:
    """What ``evaluate_shape`` reads: buffers' shapes, and (for ValueOf) their values on the host.

    ``known`` holds host copies of buffers whose values the runner knows
    without asking the device (an input's value as passed, a loop's counter),
    so a shape that reads them costs no device-to-host copy.
    """

    def __init__(self, runner: DeviceRunner, arrays: list, known: dict[int, np.ndarray]):
        self.runner, self.arrays, self.known = runner, arrays, known

    def __getitem__(self, buffer: int):
        if buffer in self.known:
            return self.known[buffer]
        return _HostValues(self.runner.device, self.arrays[buffer])


class _HostValues:
    """A device array's shape, and its values copied to the host when a shape reads them."""

    def __init__(self, device, array):
        self.device, self.array, self.shape = device, array, array.shape

    def reshape(self, *shape):
        return self.device.download(self.array).reshape(*shape)


class DeviceValue:
    """A shared variable's value in device memory (a device copy, see ``graph/shared.py``): the
    array and the pool block it owns, given back when the variable drops the copy."""

    def __init__(self, device, array, size: int, block):
        self.device, self.array, self.size, self.block = device, array, size, block
        self.memory, self.shape, self.dtype = device.memory, tuple(array.shape), array.dtype

    def to_host(self) -> np.ndarray:
        return self.device.download(self.array)

    def release(self) -> None:
        self.device.pool.release(self.size, self.block)


class DeviceRunner:
    """Executes one Program with its printed kernels on ``device`` (calls are serialized)."""

    def __init__(self, program: Program, printer: CudaPrinter, device, module):
        self.program, self.device, self.module = program, device, module
        self.lock = threading.Lock()
        self.rank = max([len(b.shape) for b in program.buffers] + [1])
        self.records = record_dtype(self.rank)
        self.kernels: dict[tuple[int, tuple], list[Kernel]] = {}
        self.controls: dict[tuple[int, tuple], dict[str, Kernel]] = {}
        for kernel in printer.kernels:
            key = (kernel.step, kernel.path)
            if kernel.control is None:
                self.kernels.setdefault(key, []).append(kernel)
            else:
                self.controls.setdefault(key, {})[kernel.control] = kernel
        positions = {id(step): index for index, step in enumerate(program.steps)}
        self.plan: list[tuple[str, list[int]]] = [(kind, [positions[id(s)] for s in steps])
                                                  for kind, steps in segments(program)]
        last_use: dict[int, int] = {}
        for index, step in enumerate(program.steps):
            for access in step_inputs(step):
                last_use[access.buffer] = index
        escaping = {a.buffer for a in program.outputs}
        self.releases: dict[int, list[int]] = {}
        for index, step in enumerate(program.steps):
            if isinstance(step, HostCall):
                continue
            for b in step_outputs(step):
                if b not in escaping:
                    self.releases.setdefault(last_use.get(b, index), []).append(b)
        written = {b for step in program.steps if not isinstance(step, HostCall) for b in step_writes(step)}
        self.overwritten = {b for b in program.inputs if b in written}
        self.constants = {b: np.asarray(v) for b, v in program.constants.items()}
        self.uploaded_constants: dict[int, object] = {}

    def run(self, values: Sequence[np.ndarray]) -> list[np.ndarray]:
        return self.run_with_state(values, (), 0)[0]

    def run_with_state(self, values: Sequence[np.ndarray], shared: Sequence, updates: int) -> tuple[list, list]:
        """Run with ``values`` for the first inputs and ``shared`` variables for the rest, returning
        (outputs, updates): the last ``updates`` outputs are the new values of updated shared
        variables, kept on the device (``DeviceValue``; a host array where one is a strided view).
        Each shared variable is read from its device copy, made from its host value on first use
        and kept, so a training step's only transfers are its arguments and outputs."""
        with self.lock:
            held: list = []
            blocks: dict[int, tuple] = {}
            owned: dict[int, tuple] = {}
            try:
                return self._run(values, shared, updates, held, blocks, owned)
            finally:  # what the call took from the pool, but the updates' blocks (strings took none)
                for taken in [*held, *blocks.values(), *owned.values()]:
                    if taken is not None:
                        self.device.pool.release(*taken)

    def _allocate(self, shape: tuple, dtype: np.dtype) -> tuple[object, tuple]:
        """A device array on a pool block, and (size class, block) to give back."""
        size, block = self.device.pool.acquire(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)
        return self.device.wrap(block, shape, dtype), (size, block)

    def _upload(self, value: np.ndarray) -> tuple[object, tuple | None]:
        """A device copy of ``value`` and its block; strings (Python objects, which only host calls
        read) stay on the host, without a block."""
        if value.dtype.hasobject:
            return value, None
        value = np.ascontiguousarray(value)
        array, owned = self._allocate(value.shape, value.dtype)
        self.device.copy_in(array, value)
        return array, owned

    def _download(self, array) -> np.ndarray:
        return array.copy() if isinstance(array, np.ndarray) and array.dtype.hasobject else self.device.download(array)

    def _resident(self, buffer: int, variable, blocks: dict):
        """The device array of a shared variable: its device copy (made now if it has none).  A
        buffer the program writes in place gets a fresh copy of it, so a call that fails
        halfway leaves the variable's value as it was."""
        copy = variable.device_copy(self.device.memory)
        if copy is None:
            array, (size, block) = self._upload(variable.get_value(borrow=True))
            copy = DeviceValue(self.device, array, size, block)
            variable.keep_device_copy(copy, host_current=True)
        if buffer not in self.overwritten:
            return copy.array
        array, blocks[buffer] = self._allocate(copy.shape, copy.dtype)
        self.device.copy(array, copy.array)
        return array

    def _run(self, values: Sequence[np.ndarray], shared: Sequence, updates: int, held: list, blocks: dict,
             owned: dict) -> tuple[list, list]:
        """One call.  Blocks taken from the pool go to ``held`` (a host call's results), ``blocks``
        (arguments, outputs, fresh copies of shared variables, by buffer) or ``owned``
        (temporaries, given back after their last reader)."""
        program = self.program
        arrays: list = [None] * len(program.buffers)
        known: dict[int, np.ndarray] = {}
        for b, value in self.constants.items():
            if b not in self.uploaded_constants:
                self.uploaded_constants[b] = self._upload(value)[0]
            arrays[b] = self.uploaded_constants[b]
            known[b] = value
        for b, value in zip(program.inputs, values, strict=False):
            value = np.asarray(value)
            arrays[b], blocks[b] = self._upload(value)
            known[b] = value
        for b, variable in zip(program.inputs[len(values):], shared, strict=True):
            arrays[b] = self._resident(b, variable, blocks)
        for b in self.overwritten:
            known.pop(b, None)
        shapes = _Shapes(self, arrays, known)
        outputs = {a.buffer for a in program.outputs}
        for kind, steps in self.plan:
            for index in steps:
                step = program.steps[index]
                if kind == "host":
                    self._host(arrays, step, held)
                    continue
                for b in step_outputs(step):
                    buffer = program.buffers[b]
                    shape = tuple(evaluate_shape(d, shapes) for d in buffer.shape)
                    arrays[b], (blocks if b in outputs else owned)[b] = self._allocate(shape, np.dtype(buffer.dtype))
                self._execute(index, (), step, arrays, shapes)
                for b in self.releases.get(index, ()):
                    if b in owned:
                        self.device.pool.release(*owned.pop(b))
            if kind == "native":
                status = self.device.read_status()
                if status:
                    self._raise(arrays, program.steps[status - 1])
        count = len(program.outputs) - updates
        results = [view(self._download(arrays[a.buffer]), a) for a in program.outputs[:count]]
        return results, [self._kept(a, arrays, blocks) for a in program.outputs[count:]]

    def _kept(self, access: Access, arrays: list, blocks: dict):
        """An update's value as a device copy owning its block: the block the call computed it in,
        or a device-side copy of the array it names (an argument's, a shared variable's, or one
        another update already owns)."""
        array = arrays[access.buffer]
        if not (access.plain and access.axes == tuple(range(array.ndim))):
            return view(self.device.download(array), access)
        if access.buffer in blocks:
            size, block = blocks.pop(access.buffer)
            return DeviceValue(self.device, array, size, block)
        copy, (size, block) = self._allocate(array.shape, array.dtype)
        self.device.copy(copy, array)
        return DeviceValue(self.device, copy, size, block)

    def _execute(self, index: int, path: tuple, step, arrays: list, shapes: _Shapes) -> None:
        """Launch the kernels of ``step`` (program step ``index``, at ``path`` in its loop bodies)."""
        if isinstance(step, LoopStep):
            self._loop(index, path, step, arrays, shapes)
            return
        if isinstance(step, BranchStep):  # one read-back of the condition picks the body to launch
            first = len(step.bodies[0])
            condition = self.device.download(arrays[step.condition]).item()
            for j in range(first) if condition else range(first, len(step.body)):
                self._execute(index, (*path, j), step.body[j], arrays, shapes)
            return
        step_kernels = self.kernels.get((index, path), [])
        scratch = None
        if any(k.scratch for k in step_kernels):
            size, block = self.device.pool.acquire(launch.SCRATCH_BYTES)
            scratch = self.device.wrap(block, (launch.SCRATCH_BYTES,), np.dtype(np.uint8))
        try:
            for kernel in step_kernels:
                self._launch(kernel, shapes, scratch)
        finally:
            if scratch is not None:
                self.device.pool.release(size, block)

    def _loop(self, index: int, path: tuple, loop: LoopStep, arrays: list, shapes: _Shapes) -> None:
        """Run a loop's body once per iteration; the counter lives on the device (the loop's
        ``start`` and ``next`` kernels) and on the host (``shapes.known``, for launch sizes), so
        an iteration copies nothing, except that a while loop reads its stop flag back."""
        controls = self.controls[(index, path)]
        count = int(evaluate_shape(loop.count, shapes))
        self._launch(controls["start"], shapes)
        for t in range(count):
            shapes.known[loop.counter] = np.array(t, np.int64)
            for j, inner in enumerate(loop.body):
                self._execute(index, (*path, j), inner, arrays, shapes)
            self._launch(controls["next"], shapes)
            if loop.stop is not None and self.device.download(arrays[loop.stop]).item():
                break
        shapes.known.pop(loop.counter, None)
        if loop.ran is not None:
            self._launch(controls["ran"], shapes)

    def _launch(self, kernel: Kernel, shapes: _Shapes, scratch=None) -> None:
        sizes = [evaluate_shape(s, shapes) for s in kernel.launch.sizes]
        grid, block = launch.configure(kernel.launch, sizes)
        passed = [shapes.arrays[b] for b in kernel.buffers] + ([scratch] if kernel.scratch else [])
        records = np.zeros(len(passed), self.records)
        for k, array in enumerate(passed):
            itemsize = array.dtype.itemsize
            records[k]["data"] = self.device.pointer(array)
            records[k]["dims"][:array.ndim] = array.shape
            records[k]["strides"][:array.ndim] = [s // itemsize for s in array.strides]
        self.device.launch(self.module, kernel, grid, block, records)

    def _host(self, arrays: list, step: HostCall, held: list) -> None:
        inputs = [view(self._download(arrays[a.buffer]), a) for a in step.inputs]
        for b, value in zip(step.outputs, run_node(step.node, inputs), strict=False):
            arrays[b], owned = self._upload(np.asarray(value))
            held.append(owned)

    def _raise(self, arrays: list, step) -> None:
        """Report a failed run-time check the way the reference semantics word it."""
        host = {}

        def read(access: Access):
            if arrays[access.buffer] is None:
                return None
            if access.buffer not in host:
                host[access.buffer] = self.device.download(arrays[access.buffer])
            return view(host[access.buffer], access)

        raise_step_failure(step, self.program.refs, read)
