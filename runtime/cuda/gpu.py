"""The ``cuda`` backend: the printed kernels on an NVIDIA GPU through pycuda (``pip install theanine[gpu]``).

Thin glue around ``runner.DeviceRunner``: a device context, pool blocks
from ``cuda.mem_alloc``, copies, and kernel calls.  Kernels are compiled
once per source and compute capability with nvcc (disk-cached cubins:
``build.cubin``).  GEMM steps call cuBLAS (the ``nvidia-cublas`` wheel,
loaded by address: ``cublas``) where the product qualifies, else the
printed tiled kernel.  Without
pycuda, a driver or a device, compiling raises ``CudaUnavailableError``
naming what is missing.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from theanine.codegen.cuda import scalar
from theanine.codegen.cuda.printer import STEP_KINDS, CudaPrinter
from theanine.codegen.program.kernel_ir import HostCall
from theanine.codegen.program.lowering import lower
from theanine.graph.basic import Variable
from theanine.runtime.backends import Compiled
from theanine.runtime.cuda import build, cublas
from theanine.runtime.cuda.pool import Pool
from theanine.runtime.cuda.runner import DeviceRunner


class CudaUnavailableError(RuntimeError):
    """``backend="cuda"`` cannot run here: the message says what is missing (pycuda, driver, device)."""


def _driver():
    """pycuda.driver, initialized, with a device present, else CudaUnavailableError."""
    try:
        import pycuda.driver as cuda
    except ImportError as error:
        raise CudaUnavailableError(
            "backend='cuda' needs pycuda, which is not installed (pip install 'theanine[gpu]'); "
            f"use backend='cuda-emulated' to run the CUDA kernels on the CPU. ({error})") from None
    try:
        cuda.init()
        count = cuda.Device.count()
    except Exception as error:  # pycuda raises its own error types when the driver is absent
        raise CudaUnavailableError(f"backend='cuda': the NVIDIA driver could not be initialized ({error})") from None
    if count == 0:
        raise CudaUnavailableError("backend='cuda': the NVIDIA driver found no CUDA device")
    return cuda


@functools.cache
def _context():
    """One context on device 0 for the process, kept for its lifetime, with its memory pool (one
    for every compiled function, so the device copies of shared variables that one function's
    updates replace go back where the next call of any function finds them)."""
    cuda = _driver()
    device = cuda.Device(0)
    context = device.retain_primary_context()
    context.push()
    major, minor = device.compute_capability()
    return cuda, f"sm_{major}{minor}", context, Pool(cuda.mem_alloc)


class _DeviceArray:
    """A pool block seen as an array: shape, dtype, C-contiguous strides, pointer."""

    def __init__(self, block, shape: tuple, dtype: np.dtype):
        self.block, self.shape, self.dtype = block, tuple(shape), dtype
        self.ndim = len(shape)
        strides, running = [], dtype.itemsize
        for d in reversed(self.shape):
            strides.append(running)
            running *= max(d, 1)
        self.strides = tuple(reversed(strides))


class GpuDevice:
    """Device 0 through pycuda: ``memory`` (its context) names the address space that shared
    variables' device copies live in."""

    def __init__(self):
        self.cuda, self.arch, self.memory, self.pool = _context()
        self.status = self.cuda.mem_alloc(4)
        self.cuda.memset_d32(self.status, 0, 1)
        path = cublas.find_library()
        self.cublas = cublas.Cublas(path) if path else None
        self.allocated: set[int] = set()

    def wrap(self, block, shape: tuple, dtype: np.dtype) -> _DeviceArray:
        return _DeviceArray(block, shape, dtype)

    def pointer(self, array: _DeviceArray) -> int:
        return int(array.block)

    def copy_in(self, array: _DeviceArray, value: np.ndarray) -> None:
        if value.nbytes:
            self.cuda.memcpy_htod(array.block, np.ascontiguousarray(value))

    def copy(self, target: _DeviceArray, source: _DeviceArray) -> None:
        nbytes = int(np.prod(source.shape, dtype=np.int64)) * source.dtype.itemsize
        if nbytes:
            self.cuda.memcpy_dtod(target.block, source.block, nbytes)

    def download(self, array: _DeviceArray) -> np.ndarray:
        host = np.empty(array.shape, array.dtype)
        if host.nbytes:
            self.cuda.memcpy_dtoh(host, array.block)
        return host

    def launch(self, module, kernel, grid: tuple, block: tuple, records: np.ndarray) -> None:
        gemm = kernel.gemm
        if gemm is not None and self.cublas is not None and cublas.qualifies(gemm, gemm.output in self.allocated):
            positions = {b: k for k, b in enumerate(kernel.buffers)}
            if cublas.call(self.cublas, gemm, records, positions):
                return
        function = module.get_function(kernel.name)
        function(self.status, *records, grid=grid, block=block)

    def read_status(self) -> int:
        host = np.zeros(1, np.int32)
        self.cuda.memcpy_dtoh(host, self.status)
        if host[0]:
            self.cuda.memset_d32(self.status, 0, 1)
        return int(host[0])


def compile_cuda(inputs: Sequence[Variable], outputs: Sequence[Variable]) -> Compiled:
    """The graph as CUDA kernels on the GPU (raises CudaUnavailableError without one)."""
    device = GpuDevice()
    program = lower(inputs, outputs, scalar.supports, shape_arithmetic=True, step_kinds=STEP_KINDS)
    printer = CudaPrinter(program)
    module = device.cuda.module_from_file(build.cubin(printer.source, device.arch))
    device.allocated = {b.index for b in program.buffers if b.role != "input"}
    runner = DeviceRunner(program, printer, device, module)
    return Compiled(runner.run, [step.node for step in program.steps if isinstance(step, HostCall)],
                    run_with_state=runner.run_with_state)
