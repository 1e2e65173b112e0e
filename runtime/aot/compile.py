"""``theanine.aot.compile``: a compiled function as a native shared library and its C header.

The function's optimized graph is lowered and printed exactly as the
``llvm`` backend does it (the same segments, threads, vector math), then
emitted as position-independent code with a description of the program
(``codegen.llvm.aot``) and linked by the system C compiler with the
library's C runtime (``runtime.c``) and its embedded data (``embed``) into
``<name>.so``, with ``<name>.h`` beside it.  Nothing of Python is in the
library.

Decisions:

- Shared variables (weights) are baked in: their values when ``compile``
  runs become constant data of the library.  A function that updates
  shared variables (a training step) is refused: its state would have no
  home.  Recompile after training to ship new weights.
- GEMM: by default the library carries theanine's own GEMM kernel
  (``codegen.llvm.own_gemm``), so ``<name>.so`` depends on nothing but the
  C library, libm and pthreads and runs wherever it is copied.
  ``blas="openblas"`` links SciPy's OpenBLAS instead (faster for large
  products) and copies it, with its libgfortran and libquadmath, beside the
  library, found there through an ``$ORIGIN`` rpath: copy the folder.
- Nodes without a native lowering (they run their NumPy ``perform``) cannot
  run without Python: they are refused, naming the op and the user's line.
- Outputs whose shapes depend on the values of data (not only on the input
  shapes) are refused: the caller sizes the output buffers beforehand.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from theanine.codegen.llvm import aot as aot_description
from theanine.codegen.llvm import buffer_table, scalar
from theanine.codegen.llvm.own_gemm import bind_own_gemm
from theanine.codegen.llvm.printer import PARALLEL_MIN_ELEMENTS, LLVMPrinter
from theanine.codegen.program.kernel_ir import HostCall, ReduceKernel, shape_buffers
from theanine.codegen.program.lowering import lower
from theanine.codegen.program.row_fusion import fuse_rows
from theanine.runtime.aot import blas, header
from theanine.runtime.aot.embed import write_embedded
from theanine.runtime.aot.errors import AOTError
from theanine.runtime.function import Function
from theanine.runtime.llvm.jit import compile_to_pic_object

__all__ = ["compile", "AOTError", "Library"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass
class Library:
    """What ``compile`` wrote: the C ``name`` prefix, the ``shared_object`` and ``header`` paths, and
    ``dependencies``: files copied beside the library that it needs (none with the own GEMM)."""

    name: str
    shared_object: str
    header: str
    dependencies: list[str] = field(default_factory=list)


def compile(function: Function, path: str | os.PathLike, *, cpu: str | None = None,
            blas_library: str = "own", cc: str = "cc") -> Library:
    """Write ``<path>.so`` and ``<path>.h`` for ``function`` (a ``theanine.function``).

    ``path``: the library's folder and name, ``"build/digits"`` gives
    ``build/digits.so``, ``build/digits.h`` and C functions ``digits_run``
    etc.; the name must be a C identifier.  ``cpu``: an LLVM CPU name
    (``"x86-64-v3"``) for a library that runs on other machines; None: this
    machine's CPU.  ``blas_library``: ``"own"`` (default) or ``"openblas"``
    (see the module docstring).  ``cc``: the C compiler that links.
    """
    _check_function(function)
    directory, name = _checked_path(path)
    if blas_library not in ("own", "openblas"):
        raise AOTError(f"th.aot.compile: blas_library must be 'own' or 'openblas'. Received: {blas_library!r}")
    if shutil.which(cc) is None:
        raise AOTError(f"th.aot.compile: the C compiler {cc!r} was not found on PATH (it links the library)")
    program = fuse_rows(lower(function.fgraph_inputs, function.optimized_outputs, scalar.supports,
                              shape_arithmetic=True))
    _check_program(program)
    embedded = dict(program.constants)
    user_inputs = len(function.inputs)
    for buffer, shared in zip(program.inputs[user_inputs:], function.shared, strict=True):
        embedded[buffer] = np.asarray(shared.get_value(borrow=True))
    embedded = {b: np.ascontiguousarray(np.asarray(v, dtype=program.buffers[b].dtype)) for b, v in embedded.items()}
    printer = LLVMPrinter(program, name)
    if blas_library == "own":
        bind_own_gemm(printer.module)
    else:
        blas.bind_openblas(printer.module)
    aot_description.describe(printer, embedded, [_message(step) for step in program.steps])
    object_code = compile_to_pic_object(str(printer.module), cpu)
    os.makedirs(directory, exist_ok=True)
    shared_object = os.path.join(directory, f"{name}.so")
    dependencies = blas.copy_openblas(directory) if blas_library == "openblas" else []
    _link(object_code, embedded, shared_object, name, cc, dependencies)
    header_path = os.path.join(directory, f"{name}.h")
    with open(header_path, "w") as out:
        out.write(header.render(name, function, program))
    return Library(name, shared_object, header_path, dependencies)


def _check_function(function) -> None:
    if not isinstance(function, Function):
        raise AOTError(f"th.aot.compile: expected a theanine.function. Received: {type(function).__name__}")
    if function.updated:
        names = ", ".join(s.label() for s in function.updated)
        raise AOTError(f"th.aot.compile: {function.name} updates shared variables ({names}); a native library "
                       "bakes shared values in as constants, so only functions without updates can be compiled")
    if not function.outputs:
        raise AOTError(f"th.aot.compile: {function.name} has no outputs")


def _checked_path(path) -> tuple[str, str]:
    """(folder, name) of ``path``; the name prefixes the C functions."""
    if not isinstance(path, (str, os.PathLike)):
        raise AOTError(f"th.aot.compile: path must be a str or a path. Received: {type(path).__name__}")
    directory, name = os.path.split(os.fspath(path))
    if not _NAME.match(name):
        raise AOTError(f"th.aot.compile: the library name must be a C identifier (letters, digits, _), it prefixes "
                       f"the C functions. Received: {name!r} from path {os.fspath(path)!r}")
    directory = directory or "."
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise AOTError(f"th.aot.compile: {directory!r} exists and is not a folder")
    return directory, name


def _node_of(step):
    return step.checked_node if isinstance(step, ReduceKernel) else step.node


def _message(step) -> str:
    node = _node_of(step)
    if node is None:
        return f"a run-time check failed in a {type(step).__name__}"
    return (f"a run-time check failed in {node.op} (created at {node.source}): shapes that do not match, "
            "an index out of bounds or a negative size")


def _check_program(program) -> None:
    """Refuse what a library without Python cannot run, naming the node."""
    for step in program.steps:
        if isinstance(step, HostCall):
            node = step.node
            raise AOTError(f"th.aot.compile: {node.op} (created at {node.source}) has no native implementation "
                           "(it runs its NumPy perform under the llvm backend), and a native library runs no Python")
    for j, access in enumerate(program.outputs):
        for axis in access.axes:
            if axis is not None and shape_buffers(aot_description.resolved_shape(program, access.buffer, axis),
                                                  values_only=True):
                raise AOTError(f"th.aot.compile: the shape of output {j} depends on the values of data, not only on "
                               "the input shapes; the C caller could not size its buffer beforehand")


def _link(object_code: bytes, embedded: dict, target: str, name: str, cc: str, dependencies: list[str]) -> None:
    """Link the object, the embedded data and the C runtime into ``target``; only ``<name>_*`` is exported."""
    runtime = resources.files("theanine.runtime.aot").joinpath("runtime.c")
    with tempfile.TemporaryDirectory(prefix="theanine-aot-") as work, resources.as_file(runtime) as source:
        obj = os.path.join(work, f"{name}_kernels.o")
        with open(obj, "wb") as out:
            out.write(object_code)
        exports = os.path.join(work, "exports.map")
        with open(exports, "w") as out:
            out.write(f"{{ global: {name}_*; local: *; }};\n")
        defines = {"TH_PREFIX": name, "TH_ITEMS": buffer_table.ITEMS, "TH_DATA": buffer_table.DATA,
                   "TH_DIMS": buffer_table.DIMS, "TH_STRIDES": buffer_table.STRIDES,
                   "TH_PARALLEL_MIN": PARALLEL_MIN_ELEMENTS}
        command = [cc, "-shared", "-fPIC", "-O2", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-fvisibility=hidden",
                   *(f"-D{k}={v}" for k, v in defines.items()), str(source), obj, write_embedded(work, embedded),
                   "-o", target, f"-Wl,--version-script={exports}", f"-Wl,-soname,{name}.so", "-Wl,-z,noexecstack",
                   *blas.link_flags(dependencies), "-lpthread", "-lm"]
        done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise AOTError(f"th.aot.compile: linking {target} failed ({' '.join(command)}):\n{done.stderr[-4000:]}")
