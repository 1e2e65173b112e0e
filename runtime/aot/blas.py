"""``blas_library="openblas"``: bind a library's GEMM to SciPy's OpenBLAS, linked and copied beside it.

The JIT finds SciPy's OpenBLAS in the running process; a library finds it
next to itself: the OpenBLAS shared object and the libraries it needs from
the same wheel folder (libgfortran, libquadmath: their names carry a hash,
and their own rpath is ``$ORIGIN``) are copied into the library's folder,
and the library is linked with the rpath ``$ORIGIN``.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess

from llvmlite import ir

from theanine.codegen.llvm.gemm import BLAS_GLOBALS
from theanine.codegen.llvm.ir_types import I8P
from theanine.runtime.aot.errors import AOTError

__all__ = ["bind_openblas", "copy_openblas", "link_flags"]

_SYMBOLS = {"float32": "scipy_sgemm_", "float64": "scipy_dgemm_", "threads_local": "openblas_set_num_threads_local"}


def bind_openblas(module: ir.Module) -> None:
    """Initialize the module's BLAS globals with OpenBLAS's symbols (resolved when the library loads)."""
    for key, symbol in _SYMBOLS.items():
        slot = module.globals.get(BLAS_GLOBALS[key])
        if slot is not None:
            declared = ir.Function(module, ir.FunctionType(ir.VoidType(), []), symbol)
            slot.initializer = declared.bitcast(I8P)


def _wheel_folder() -> str:
    import scipy

    return os.path.join(os.path.dirname(os.path.dirname(scipy.__file__)), "scipy.libs")


def copy_openblas(directory: str) -> list[str]:
    """Copy SciPy's OpenBLAS and what it needs from its wheel folder into ``directory``; their new paths."""
    folder = _wheel_folder()
    found = glob.glob(os.path.join(folder, "libscipy_openblas*.so*"))
    if not found:
        raise AOTError(f"th.aot.compile: blas_library='openblas' needs SciPy's OpenBLAS; none in {folder}")
    wanted, copied = [found[0]], []
    while wanted:
        source = wanted.pop()
        target = os.path.join(directory, os.path.basename(source))
        if target in copied:
            continue
        shutil.copy2(source, target)
        copied.append(target)
        wanted += [os.path.join(folder, n) for n in _needed(source) if os.path.exists(os.path.join(folder, n))]
    return copied


def _needed(path: str) -> list[str]:
    """The DT_NEEDED names of a shared object (``readelf -d``)."""
    done = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True)
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", done.stdout)


def link_flags(dependencies: list[str]) -> list[str]:
    """Linker arguments for the copied OpenBLAS (nothing for the own GEMM)."""
    if not dependencies:
        return []
    return [dependencies[0], "-Wl,-rpath,$ORIGIN"]
