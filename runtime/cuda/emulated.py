"""The ``cuda-emulated`` backend: the CUDA printer's source, compiled by g++, run on the CPU.

The printed source is compiled once per program (disk-cached: ``build``)
under ``codegen/cuda/emulation.h`` and loaded with ctypes; each kernel is
called through its ``launch_k<step>`` with the grid and block that
``launch.configure`` gives (what the GPU runtime uses).  Device memory is
host memory kept apart as a GPU's is: the pool's blocks are NumPy byte
arrays that values are copied into and out of explicitly (``uploads`` and
``downloads`` count those copies), so the runner's planning, pool,
launches, transfers and device-resident shared variables are the very
ones the GPU runtime uses.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

import numpy as np

from theanine.codegen.cuda import scalar
from theanine.codegen.cuda.printer import STEP_KINDS, CudaPrinter
from theanine.codegen.program.kernel_ir import HostCall
from theanine.codegen.program.lowering import lower
from theanine.graph.basic import Variable
from theanine.runtime.backends import Compiled
from theanine.runtime.cuda import build
from theanine.runtime.cuda.pool import Pool
from theanine.runtime.cuda.runner import DeviceRunner


class EmulatedDevice:
    """Host memory posing as device memory, and kernels called through ctypes.

    ``memory``: every emulated device reads the others' blocks (one address
    space), so a shared variable's device copy serves them all.
    """

    memory = "cuda-emulated"

    def __init__(self):
        self.pool = Pool(lambda nbytes: np.empty(nbytes, dtype=np.uint8))
        self.status = np.zeros(1, dtype=np.int32)
        self.uploads = self.downloads = 0

    def wrap(self, block: np.ndarray, shape: tuple, dtype: np.dtype) -> np.ndarray:
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        return block[:size].view(dtype).reshape(shape)

    def pointer(self, array: np.ndarray) -> int:
        return array.ctypes.data

    def copy_in(self, array: np.ndarray, value: np.ndarray) -> None:
        self.uploads += 1
        np.copyto(array, value)

    def download(self, array: np.ndarray) -> np.ndarray:
        self.downloads += 1
        return array.copy()

    def copy(self, target: np.ndarray, source: np.ndarray) -> None:
        """A device-to-device copy (no transfer)."""
        np.copyto(target, source)

    def launch(self, module, kernel, grid: tuple, block: tuple, records: np.ndarray) -> None:
        config = (ctypes.c_uint * 6)(*grid, *block)
        function = getattr(module, f"launch_{kernel.name}")
        function(config, ctypes.c_void_p(self.status.ctypes.data), ctypes.c_void_p(records.ctypes.data))

    def read_status(self) -> int:
        status = int(self.status[0])
        self.status[0] = 0
        return status


def load_library(source: str) -> ctypes.CDLL:
    return ctypes.CDLL(build.emulated_library(source))


def compile_cuda_emulated(inputs: Sequence[Variable], outputs: Sequence[Variable]) -> Compiled:
    """The graph printed as CUDA C and run under the CPU emulation (see the module docstring)."""
    program = lower(inputs, outputs, scalar.supports, shape_arithmetic=True, step_kinds=STEP_KINDS)
    printer = CudaPrinter(program)
    module = load_library(printer.source)
    for kernel in printer.kernels:
        getattr(module, f"launch_{kernel.name}").restype = None
    runner = DeviceRunner(program, printer, EmulatedDevice(), module)
    fallbacks = [step.node for step in program.steps if isinstance(step, HostCall)]
    return Compiled(runner.run, fallbacks, run_with_state=runner.run_with_state)
