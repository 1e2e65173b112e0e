"""Compiling printed CUDA sources: g++ under the emulation header (a shared library) or nvcc (a cubin).

Results are cached on disk under ``config.cache_dir`` (``cuda-emulated/``
and ``cuda-cubin/``), keyed by a SHA-256 of everything that determines
them: the source, the emulation header, the compiler's version and the
flags (for cubins, the GPU's compute capability).  Writers compile into a
temporary file in the cache directory and ``os.replace`` it onto the
entry, so concurrent compiles of one source both succeed; a compiler
failure raises with the compiler's message, the source kept beside it.

An entry is named ``<key>.<SHA-256 of its bytes><suffix>`` and is used only
when its bytes still hash to its name and it is a regular file: a
truncated shared library would otherwise kill the process when loaded
(SIGBUS), a FIFO would block the load forever.  A damaged entry is logged,
removed and rebuilt.  A cache folder that cannot be created (the cache
directory is a file, or unwritable) is logged once and replaced by a
private temporary folder, so compiling still works.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import pathlib
import shutil
import stat
import subprocess
import tempfile

from theanine.codegen import cuda as codegen_cuda
from theanine.graph.config import config

log = logging.getLogger(__name__)

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
    folder = _folder(subdir)
    if config.use_cache:
        for entry in sorted(folder.glob(f"{key}.*{suffix}")):
            if _intact(entry, suffix):
                return str(entry)
            log.warning("corrupt cache entry %s; rebuilding it", entry)
            with contextlib.suppress(OSError):
                entry.unlink()
    handle, temporary = tempfile.mkstemp(suffix=suffix, dir=folder)
    os.close(handle)
    try:
        build(temporary)
        target = folder / f"{key}.{_digest(temporary)}{suffix}"
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return str(target)


def _folder(subdir: str) -> pathlib.Path:
    """``config.cache_dir/subdir``, created; a private temporary folder when it cannot be."""
    folder = pathlib.Path(config.cache_dir or tempfile.gettempdir()) / subdir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK | os.X_OK):
            return folder
        problem = "it is not writable"
    except OSError as error:
        problem = str(error)
    return _fallback_folder(str(folder), problem)


@functools.cache
def _fallback_folder(wanted: str, problem: str) -> pathlib.Path:
    fallback = pathlib.Path(tempfile.mkdtemp(prefix="theanine-cuda-"))
    log.warning("cannot use cache folder %s (%s); compiling into %s", wanted, problem, fallback)
    return fallback


def _digest(path) -> str:
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


def _intact(entry: pathlib.Path, suffix: str) -> bool:
    """A regular file whose bytes hash to the digest in its name."""
    named = entry.name[: -len(suffix)].rpartition(".")[2]
    try:
        descriptor = os.open(entry, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return False
        return hashlib.sha256(file.read()).hexdigest() == named


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
