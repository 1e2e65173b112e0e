"""Turning an LLVM module into callable native code for the host CPU.

Modules are optimized with llvmlite's new pass manager (the O3 pipeline
with loop and SLP vectorization) for the host CPU's features, emitted as
an object file (the unit the disk cache stores) and loaded into an MCJIT
engine.  BLAS routines, and MPI's for modules that call it, are bound by
address at load time.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import functools
import glob
import os
import tempfile
import threading

import llvmlite.binding as llvm
import numpy as np

from theanine.codegen.llvm.gemm import BLAS_GLOBALS
from theanine.graph.config import config
from theanine.runtime.llvm import mpi

llvm_lock = threading.RLock()  # held by every call into LLVM from this process, and across a fork
ENTRY_SIGNATURE = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p)


def new_target_machine() -> llvm.TargetMachine:
    """A target machine for the host CPU (an MCJIT engine takes ownership of its own)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3,
        reloc="default", codemodel="jitdefault",
    )


@functools.cache
def target_machine() -> llvm.TargetMachine:
    """The target machine that optimizes and emits code (created once)."""
    return new_target_machine()


def target_description() -> str:
    """Triple, CPU and features: part of every cache key."""
    return f"{llvm.get_process_triple()}|{llvm.get_host_cpu_name()}|{llvm.get_host_cpu_features().flatten()}"


def _optimize(module: llvm.ModuleRef) -> None:
    """The O3 pipeline with loop and SLP vectorization.  A pass builder caches
    analyses of the modules it ran on, so each module gets a fresh one."""
    options = llvm.create_pipeline_tuning_options(speed_level=3)
    options.loop_vectorization = True
    options.slp_vectorization = True
    options.loop_unrolling = False
    builder = llvm.create_pass_builder(target_machine(), options)
    builder.getModulePassManager().run(module, builder)


def compile_to_object(llvm_ir: str) -> bytes:
    """Parse, verify, optimize (O3, vectorized) and emit an object file.

    Where the OS can fork, this runs in a short-lived child process:
    llvmlite's pass builder leaks its instrumentation callbacks on every
    optimization (tens of KiB per module, for as long as the process
    lives), so a process that compiles many functions would grow without
    bound; the child takes that memory with it.  A crash inside LLVM then
    also becomes an error here instead of the end of the user's process.
    """
    if not hasattr(os, "fork"):
        return _optimize_and_emit(llvm_ir)
    return _in_child(_optimize_and_emit, llvm_ir)


def _in_child(work, argument: str) -> bytes:
    """``work(argument)`` (bytes) computed in a forked child, read back through a pipe.

    The child's standard error goes to a temporary file: if it dies (an LLVM
    assertion aborts it), the error raised here ends with what it printed.
    """
    read_end, write_end = os.pipe()
    with tempfile.TemporaryFile() as errors:
        with llvm_lock:  # no other thread is inside LLVM (holding its locks) while we fork
            pid = os.fork()
        if pid == 0:
            os.close(read_end)
            faulthandler.disable()  # a Python traceback of the fork says nothing; LLVM's message does
            os.dup2(errors.fileno(), 2)
            status = 0
            try:
                message = b"\0" + work(argument)
            except BaseException as error:
                message, status = b"\1" + f"{type(error).__name__}: {error}".encode(), 1
            with os.fdopen(write_end, "wb") as out:
                out.write(message)
            os._exit(status)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        if not data:
            errors.seek(0)
            printed = errors.read().decode(errors="replace").strip()[-2000:]
            raise RuntimeError(f"the process compiling native code died ({_describe(status)})"
                               + (f": {printed}" if printed else ""))
    if data[:1] != b"\0":
        raise RuntimeError(f"LLVM failed to compile the module: {data[1:].decode(errors='replace')}")
    return data[1:]


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def _optimize_and_emit(llvm_ir: str) -> bytes:
    machine = target_machine()
    module = llvm.parse_assembly(llvm_ir)
    module.triple = llvm.get_process_triple()
    module.data_layout = str(machine.target_data)
    module.verify()
    _optimize(module)
    return machine.emit_object(module)


def _cython_blas():
    """SciPy's ``cython_blas`` extension, without running all of ``scipy.linalg``'s imports.

    The extension only exports function pointers; loading it by itself takes
    a fraction of the 0.3 s that ``import scipy.linalg`` takes.
    """
    import importlib.machinery
    import importlib.util
    import sys

    name = "scipy.linalg.cython_blas"
    if name in sys.modules:
        return sys.modules[name]
    import scipy

    folder = os.path.join(os.path.dirname(scipy.__file__), "linalg")
    with _idle_blas_pool():
        for path in glob.glob(os.path.join(folder, "cython_blas*.so")):
            loader = importlib.machinery.ExtensionFileLoader(name, path)
            module = importlib.util.module_from_spec(importlib.util.spec_from_file_location(name, path, loader=loader))
            loader.exec_module(module)
            sys.modules[name] = module
            return module
        from scipy.linalg import cython_blas

    return cython_blas


@contextlib.contextmanager
def _idle_blas_pool():
    """Load SciPy's OpenBLAS (if this loads it) with pool threads that sleep instead of spinning.

    OpenBLAS starts its pool threads polling for work with ``sched_yield``
    for about 0.1 s (``OPENBLAS_THREAD_TIMEOUT`` 28: 2**28 cycles), and again
    after each multithreaded call.  theanine calls it only with one thread
    per caller, so on a 2-core machine those pollers just steal time from
    theanine's threads: the first MLP steps after loading took 25 to 65 ms
    instead of 2.5.  The shortest timeout (4) makes them wait on a condition
    variable at once; SciPy's own calls still use the pool.  A value the
    user set is kept.
    """
    variable = "OPENBLAS_THREAD_TIMEOUT"
    if variable in os.environ:
        yield
        return
    os.environ[variable] = "4"
    try:
        yield
    finally:
        del os.environ[variable]


@functools.cache
def blas_addresses(library: str = "numpy") -> dict[str, int]:
    """Addresses of the Fortran BLAS sgemm/dgemm the compiled code calls, and of its per-thread
    thread-count setter: NumPy's own OpenBLAS when ``library`` is "numpy" (``config.jit_blas``)
    and NumPy has the scipy-openblas64 build (64-bit integers, the ``ilp64`` global says so),
    else SciPy's.

    NumPy's is the newer of the two wheels' builds (0.3.31 against SciPy 1.17's 0.3.30 here) and
    multiplies with a transposed left operand, as every weight and kernel gradient does, 1.3 to
    1.5 times faster on one core (``cols^T @ g`` of a 3x3, 32 -> 64 channel convolution on batch
    64, 14x14: 34.6 against 25.4 GFLOP/s, best of 15) and other products alike or faster.
    """
    own = _numpy_openblas() if library == "numpy" else None
    if own is not None:
        return own
    cython_blas = _cython_blas()

    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype = ctypes.c_char_p
    get_name.argtypes = [ctypes.py_object]
    addresses = {}
    for dtype, symbol in (("float32", "sgemm"), ("float64", "dgemm")):
        capsule = cython_blas.__pyx_capi__[symbol]
        addresses[BLAS_GLOBALS[dtype]] = get_pointer(capsule, get_name(capsule))
    addresses[BLAS_GLOBALS["threads_local"]] = _openblas_thread_control()
    addresses[BLAS_GLOBALS["ilp64"]] = 0
    return addresses


NUMPY_OPENBLAS_SYMBOLS = {"float32": "scipy_sgemm_64_", "float64": "scipy_dgemm_64_",
                          "threads_local": "openblas_set_num_threads_local"}


def _numpy_openblas() -> dict[str, int] | None:
    """The addresses ``blas_addresses`` needs in NumPy's scipy-openblas64 (loaded with NumPy), or
    None when NumPy links another BLAS or lacks one of the symbols."""
    folder = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in glob.glob(os.path.join(folder, "libscipy_openblas64_*.so*")):
        try:
            library = ctypes.CDLL(path)
            addresses = {BLAS_GLOBALS[key]: ctypes.cast(getattr(library, symbol), ctypes.c_void_p).value
                         for key, symbol in NUMPY_OPENBLAS_SYMBOLS.items()}
        except (OSError, AttributeError):
            continue
        if all(addresses.values()):
            return {**addresses, BLAS_GLOBALS["ilp64"]: 1}
    return None


def _openblas_thread_control() -> int:
    """Address of ``openblas_set_num_threads_local`` in SciPy's OpenBLAS, or 0.

    With it, theanine's threads can each run a single-threaded share of a
    product; without it (another BLAS), products run on one theanine thread
    and the BLAS library's own threads.
    """
    import scipy

    folder = os.path.join(os.path.dirname(os.path.dirname(scipy.__file__)), "scipy.libs")
    for path in glob.glob(os.path.join(folder, "*openblas*.so*")):
        try:
            library = ctypes.CDLL(path)
            return ctypes.cast(library.openblas_set_num_threads_local, ctypes.c_void_p).value or 0
        except (OSError, AttributeError):
            continue
    return 0


STAMP_GLOBAL = "theanine_stamp"
STAMP_BYTES = 32


def stamped(llvm_ir: str, stamp: bytes) -> str:
    """``llvm_ir`` with a constant global holding ``stamp``: the object code then says what it was
    compiled from, and ``NativeModule`` checks that before anything in it runs."""
    text = "".join(f"\\{byte:02X}" for byte in stamp)
    return f'{llvm_ir}\n@{STAMP_GLOBAL} = constant [{len(stamp)} x i8] c"{text}"\n'


class InvalidObject(ValueError):
    """Object code that is not what it should be (not ELF, or compiled from another source)."""


class NativeModule:
    """Loaded object code; ``entry(name)`` returns a ctypes callable.

    With ``stamp``, the object must hold that stamp (``stamped``): an object
    compiled from another program is refused with ``InvalidObject`` before
    any of its code runs.
    """

    def __init__(self, object_code: bytes, stamp: bytes | None = None):
        if object_code[:4] != b"\x7fELF":
            raise InvalidObject("not an ELF object file")
        with llvm_lock:
            self._engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), new_target_machine())
            self._object = llvm.ObjectFileRef.from_data(object_code)
            self._engine.add_object_file(self._object)
            self._engine.finalize_object()
        if stamp is not None and self._stamp() != stamp:
            raise InvalidObject("the object was compiled from another program (its stamp differs)")
        for name, address in blas_addresses(config.jit_blas).items():
            self.set_global(name, address, required=False)
        if mpi.uses_mpi(self._engine.get_global_value_address):
            for name, address in mpi.mpi_addresses().items():
                self.set_global(name, address, required=False)

    def _stamp(self) -> bytes | None:
        address = self._engine.get_global_value_address(STAMP_GLOBAL)
        return ctypes.string_at(address, STAMP_BYTES) if address else None

    def set_global(self, name: str, value: int, required: bool = True) -> None:
        """Store a pointer-sized ``value`` in the module's global ``name`` (bound at load time)."""
        slot = self._engine.get_global_value_address(name)
        if slot:
            ctypes.c_void_p.from_address(slot).value = value
        elif required:
            raise RuntimeError(f"compiled module has no global {name!r}")

    def function_address(self, name: str) -> int:
        address = self._engine.get_function_address(name)
        if not address:
            raise RuntimeError(f"compiled module has no entry point {name!r}")
        return address

    def entry(self, name: str):
        """The segment function ``name`` as a ctypes callable."""
        return ENTRY_SIGNATURE(self.function_address(name))


def pic_target_machine(cpu: str | None = None) -> llvm.TargetMachine:
    """A target machine emitting position-independent code, for a shared library.

    ``cpu`` None: the host CPU and its features (as the JIT); otherwise an
    LLVM CPU name (``"x86-64-v3"``) with that CPU's default features, for a
    library that must run on other machines than this one.
    """
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_triple(llvm.get_process_triple())
    if cpu is None:
        return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                            features=llvm.get_host_cpu_features().flatten(), opt=3, reloc="pic")
    return target.create_target_machine(cpu=cpu, opt=3, reloc="pic")


def compile_to_pic_object(llvm_ir: str, cpu: str | None = None) -> bytes:
    """``compile_to_object`` for a shared library: the same O3 pipeline, position-independent code
    for ``cpu`` (see ``pic_target_machine``)."""
    work = functools.partial(_optimize_and_emit_pic, cpu=cpu)
    return _in_child(work, llvm_ir) if hasattr(os, "fork") else work(llvm_ir)


def _optimize_and_emit_pic(llvm_ir: str, cpu: str | None) -> bytes:
    machine = pic_target_machine(cpu)
    module = llvm.parse_assembly(llvm_ir)
    module.triple = llvm.get_process_triple()
    module.data_layout = str(machine.target_data)
    module.verify()
    options = llvm.create_pipeline_tuning_options(speed_level=3)
    options.loop_vectorization = True
    options.slp_vectorization = True
    options.loop_unrolling = False
    builder = llvm.create_pass_builder(machine, options)
    builder.getModulePassManager().run(module, builder)
    return machine.emit_object(module)
