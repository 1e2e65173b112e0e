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
import functools
import glob
import os
import struct
from collections.abc import Callable

import llvmlite.binding as llvm
import numpy as np

from theanine.codegen.llvm.gemm import BLAS_GLOBALS
from theanine.graph.config import config
from theanine.runtime.llvm import elf, forked, mpi
from theanine.runtime.llvm.forked import llvm_lock
from theanine.runtime.threads import available_cores, thread_count

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


def host_float_lanes() -> int:
    """float32 lanes of the host's widest vector registers: 16 with AVX-512, else 8."""
    return 16 if llvm.get_host_cpu_features().get("avx512f") else 8


def target_description() -> str:
    """Triple, CPU and features: part of every cache key."""
    return f"{llvm.get_process_triple()}|{llvm.get_host_cpu_name()}|{llvm.get_host_cpu_features().flatten()}"


def _optimize(module: llvm.ModuleRef, machine: llvm.TargetMachine | None = None) -> None:
    """The O3 pipeline with loop and SLP vectorization.  A pass builder caches
    analyses of the modules it ran on, so each module gets a fresh one."""
    _vectorizer_options()
    options = llvm.create_pipeline_tuning_options(speed_level=3)
    options.loop_vectorization = True
    options.slp_vectorization = True
    options.loop_unrolling = False
    builder = llvm.create_pass_builder(machine or target_machine(), options)
    builder.getModulePassManager().run(module, builder)


@functools.cache
def _vectorizer_options() -> None:
    """No epilogue vectorization: a vectorized loop's last few elements run in scalar code
    instead of a second, narrower vector loop.  That loop saves a few nanoseconds per kernel
    call and costs LLVM about a tenth of a cold compile (MLP step: 288 -> 266 ms of LLVM CPU
    time).  The option is LLVM-global; it is set where code is compiled, normally a forked
    child (``forked``)."""
    llvm.set_option("", "-enable-epilogue-vectorization=false")


def compile_to_object(llvm_ir: str) -> bytes:
    """Parse, verify, optimize (O3, vectorized) and emit an object file, in a short-lived child
    process where the OS can fork (see ``forked``)."""
    return compile_to_objects([llvm_ir])[0]


Part = str | Callable[[], str]
"""A module's text, or a function printing it (called where the part compiles: in a child)."""


def part_text(part: Part) -> str:
    return part() if callable(part) else part


def compile_to_objects(parts: list[Part], meanwhile: Callable[[], object] | None = None) -> list[bytes]:
    """``compile_to_object`` of each part's text (the parts of one split module), in children.

    LLVM compiles one module on one core, so the parts go to as many
    children at once as there are idle cores (``idle_cores``); on a machine
    whose cores are all busy one child compiles them in turn, which costs
    about what the whole module would.  A part given as a printer is printed
    by its child.  Meanwhile this process loads the BLAS addresses that
    loading the objects will need, and runs ``meanwhile``.
    """
    if not hasattr(os, "fork"):
        objects = [_optimize_and_emit(part_text(part)) for part in parts]
        if meanwhile is not None:
            meanwhile()
        return objects
    children = max(1, min(len(parts), idle_cores()))
    groups = [parts[k::children] for k in range(children)]

    def prepare() -> None:
        blas_addresses()
        if meanwhile is not None:
            meanwhile()

    answers = forked.in_children(_emit_all, groups, children, meanwhile=prepare)
    objects = [split_objects(answer) for answer in answers]
    return [objects[k % children][k // children] for k in range(len(parts))]


def _emit_all(parts: list[Part]) -> bytes:
    return join_objects([_optimize_and_emit(part_text(part)) for part in parts])


def compile_processes() -> int:
    """How many parts a module is split into: ``config.compile_processes`` (0: the cores this
    process may run on), 1 where the OS cannot fork."""
    return thread_count(config.compile_processes) if hasattr(os, "fork") else 1


def idle_cores() -> int:
    """The cores this process may run on while the 1-minute load average is below their number,
    else 1 (as ``make --load-average``): on a busy machine, parts compiled side by side only
    compete with the other processes and with each other."""
    cores = available_cores()
    try:
        load = os.getloadavg()[0]
    except OSError:
        return cores
    return cores if load < cores else 1


def emit_without_passes(llvm_ir: str) -> bytes:
    """An object file of IR that needs no IR optimization (written as the machine code should be,
    like ``small_gemm``'s kernel): code generation only, in this process, in a fifth of the time."""
    machine = target_machine()
    with llvm_lock:
        module = llvm.parse_assembly(llvm_ir)
        module.triple = llvm.get_process_triple()
        module.data_layout = str(machine.target_data)
        module.verify()
        return machine.emit_object(module)


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


PARTS_MAGIC = b"THNPARTS"  # a payload of several objects; one object is stored as it is
_COUNT = struct.Struct("<I")
_SIZE = struct.Struct("<Q")


def join_objects(objects: list[bytes]) -> bytes:
    """One payload holding ``objects``: a single object as it is, several behind a table of sizes."""
    if len(objects) == 1:
        return objects[0]
    sizes = b"".join(_SIZE.pack(len(o)) for o in objects)
    return PARTS_MAGIC + _COUNT.pack(len(objects)) + sizes + b"".join(objects)


def split_objects(payload: bytes) -> list[bytes]:
    """The objects that ``join_objects`` put in ``payload``; ``InvalidObject`` if it does not add up."""
    if not payload.startswith(PARTS_MAGIC):
        return [payload]
    start = len(PARTS_MAGIC) + _COUNT.size
    if len(payload) < start:
        raise InvalidObject("truncated table of object sizes")
    (count,) = _COUNT.unpack_from(payload, len(PARTS_MAGIC))
    end = start + count * _SIZE.size
    if len(payload) < end:
        raise InvalidObject(f"truncated table of {count} object sizes")
    sizes = [_SIZE.unpack_from(payload, start + k * _SIZE.size)[0] for k in range(count)]
    if end + sum(sizes) != len(payload):
        raise InvalidObject(f"the objects' sizes add up to {sum(sizes)} bytes, the payload holds {len(payload) - end}")
    offsets = [end + sum(sizes[:k]) for k in range(count + 1)]
    return [payload[offsets[k]:offsets[k + 1]] for k in range(count)]


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

    ``object_code`` is one object or several joined by ``join_objects`` (the
    parts of one split module): they are loaded into one engine, which links
    the symbols each part declares to the part that defines them.  With
    ``stamp``, the code must hold that stamp (``stamped``): code compiled from
    another program is refused with ``InvalidObject`` before any of it runs.
    """

    def __init__(self, object_code: bytes, stamp: bytes | None = None):
        objects = split_objects(object_code)
        for o in objects:
            problem = elf.object_problem(o)
            if problem:
                raise InvalidObject(problem)
        with llvm_lock:
            self._engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), new_target_machine())
            self._objects = [llvm.ObjectFileRef.from_data(o) for o in objects]
            for o in self._objects:
                self._engine.add_object_file(o)
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

    def has_global(self, name: str) -> bool:
        return bool(self._engine.get_global_value_address(name))

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
    return forked.in_children(work, [llvm_ir], 1)[0] if hasattr(os, "fork") else work(llvm_ir)


def _optimize_and_emit_pic(llvm_ir: str, cpu: str | None) -> bytes:
    machine = pic_target_machine(cpu)
    module = llvm.parse_assembly(llvm_ir)
    module.triple = llvm.get_process_triple()
    module.data_layout = str(machine.target_data)
    module.verify()
    _optimize(module, machine)
    return machine.emit_object(module)
