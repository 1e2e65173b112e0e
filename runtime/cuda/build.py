"""Compiling printed CUDA sources: g++ under the emulation header (a shared library) or nvcc (a cubin).

Results are cached on disk under ``config.cache_dir`` (``cuda-emulated/``
and ``cuda-cubin/``), keyed by a SHA-256 of everything that determines
them: the source, the emulation header, the compiler's version and the
flags (for cubins, the GPU's compute capability).  Writers compile into a
temporary file in the cache directory and ``os.replace`` it onto the
entry, so concurrent compiles of one source both succeed; a compiler
failure raises with the compiler's message, the source kept beside it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pathlib
import shutil
import subprocess
import tempfile

from theanine.codegen import cuda as codegen_cuda
from theanine.graph.config import config

HEADER = pathlib.Path(codegen_cuda.__file__).resolve().parent / "emulation.h"

EMULATION_FLAGS = ("-O1", "-std=c++17", "-shared", "-fPIC", "-w", "-fwrapv", "-fno-strict-aliasing",
                   "-U_FORTIFY_SOURCE", "-DTH_EMULATION")
"""-O1: the op table compiles hundreds of small programs, and -O2 buys little for tests."""


class CompileError(RuntimeError):
    """The compiler rejected a printed source (a printer bug): the message has its output."""


@functools.cache
def _version(compiler: str) -> str:
    return subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False).stdout


def _cached(subdir: str, key_parts: list[str], suffix: str, build) -> str:
    key = hashlib.sha256("\x00".join(key_parts).encode()).hexdigest()
    folder = pathlib.Path(config.cache_dir or tempfile.gettempdir()) / subdir
    target = folder / f"{key}{suffix}"
    if config.use_cache and target.exists():
        return str(target)
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(suffix=suffix, dir=folder)
    os.close(handle)
    try:
        build(temporary)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return str(target)


def _run(command: list[str], source: str, what: str) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".cu", delete=False) as f:
        f.write(source)
    result = subprocess.run([*command, f.name], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CompileError(f"{what} failed on the printed source {f.name}:\n{result.stderr[-4000:]}")
    os.unlink(f.name)


def emulated_library(source: str) -> str:
    """Path of the shared library of ``source`` compiled with g++ under the emulation header."""
    compiler = os.environ.get("CXX", "g++")
    header = HEADER.read_text()

    def build(output: str) -> None:
        _run([compiler, *EMULATION_FLAGS, "-include", str(HEADER), "-o", output, "-x", "c++"], source, compiler)

    return _cached("cuda-emulated", [source, header, _version(compiler), *EMULATION_FLAGS], ".so", build)


def nvcc_path() -> str | None:
    """nvcc on PATH or in /usr/local/cuda/bin, else None."""
    return shutil.which("nvcc") or next(
        (p for p in ("/usr/local/cuda/bin/nvcc", "/usr/local/bin/nvcc") if os.path.exists(p)), None)


def cubin(source: str, arch: str) -> str:
    """Path of the cubin of ``source`` for ``arch`` (e.g. "sm_80"), compiled once with nvcc."""
    nvcc = nvcc_path()
    if nvcc is None:
        raise CompileError("nvcc was not found (PATH, /usr/local/cuda/bin)")
    flags = ["-O3", "-std=c++17", f"-arch={arch}", "--cubin", "-w"]

    def build(output: str) -> None:
        _run([nvcc, *flags, "-o", output], source, "nvcc")

    return _cached("cuda-cubin", [source, _version(nvcc), *flags], ".cubin", build)
