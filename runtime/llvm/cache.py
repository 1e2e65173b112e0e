"""The on-disk cache of compiled object code.

An entry is the object file that ``jit.compile_to_object`` emits for
one LLVM module, or the objects of a module's parts joined by
``jit.join_objects``, stored under ``config.cache_dir`` (a per-user
directory; the ``THEANINE_CACHE_DIR`` environment variable overrides it,
and ``config.use_cache=False`` bypasses the cache entirely).

The key is derived, never maintained by hand: a SHA-256 over the source
text the object is compiled from (for compiled functions, the canonical
form of the lowered kernel program: see ``program_fingerprint``; it has no
ids or salted hashes in it, so it is the same in every process), the target
(triple, CPU, features), the theanine, llvmlite and LLVM versions, and the
source files of the code generator and of the module that optimizes and
emits the code (so a changed printer or pass pipeline misses), and the
number of processes that compile at once (``config.compile_processes``: it
decides how many parts a module is split into).  Keying on
the program rather than the printed IR lets a hit skip printing entirely.

An entry file is ``MAGIC``, a 4-byte little-endian header length, a JSON
header (the key, the payload's length and SHA-256, and the key's parts for
whoever inspects the directory), then the raw object bytes.  Nothing is
unpickled: a file that does not verify in full is treated as a miss, and
the rebuilt object replaces it.  Writers write a temporary file in the same
directory and ``os.replace`` it onto the entry, so concurrent compiles of
the same module both succeed and a reader never sees a partial file.

Events are logged on the ``theanine.runtime.llvm.cache`` logger (DEBUG for
hits, misses and stores, WARNING for corrupt entries and failed writes).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import stat
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm
import numpy as np

from theanine.codegen.llvm import small_gemm
from theanine.codegen.llvm.gemm import BLAS_GLOBALS
from theanine.graph.config import config
from theanine.runtime.llvm import jit

__all__ = ["ObjectCache", "cache_key", "cached_compile_to_object", "key_parts", "load_native", "program_fingerprint",
           "source_stamp"]

log = logging.getLogger(__name__)

MAGIC = b"THNOBJ\x00\x01"
_LENGTH = struct.Struct("<I")
_SUBDIR = "llvm-objects"
_SUFFIX = ".obj"


@functools.cache
def _package_version(name: str) -> str:
    """The installed version of ``name`` ("unknown" when it is not installed as a distribution)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def code_generator_sources() -> list[Path]:
    """Every source file that decides object code: all of ``theanine.codegen`` (recursively: the
    kernel program, the lowering rules, each printer and its math library), the pass pipeline
    (``jit``) and the CPython glue that native code is printed for (``runtime/cpython``)."""
    from theanine import codegen
    from theanine.runtime import cpython

    folders = [Path(codegen.__file__).parent, Path(cpython.__file__).parent]
    return [Path(jit.__file__)] + sorted(path for folder in folders for path in folder.rglob("*.py"))


@functools.cache
def _jit_fingerprint() -> str:
    """SHA-256 of ``code_generator_sources()``, each named by its path inside the package."""
    from theanine import codegen

    package_root = Path(codegen.__file__).parent.parent
    digest = hashlib.sha256()
    try:
        for path in code_generator_sources():
            digest.update(path.relative_to(package_root).as_posix().encode() + b"\0" + path.read_bytes())
    except (OSError, ValueError):
        return "unknown"
    return digest.hexdigest()


@functools.cache
def _environment_parts() -> tuple[tuple[str, str], ...]:
    """Everything besides the IR that decides the object code; computed once per process."""
    return (
        ("target", jit.target_description()),
        ("theanine", _package_version("theanine")),
        ("llvmlite", llvmlite.__version__),
        ("llvm", ".".join(map(str, llvm.llvm_version_info))),
        ("jit", _jit_fingerprint()),
    )


def key_parts(source: str) -> dict[str, str]:
    """The named components of the cache key of ``source`` (stored in each entry's header)."""
    return {"source": hashlib.sha256(source.encode()).hexdigest(), **dict(_environment_parts()),
            "compile processes": str(jit.compile_processes())}  # how many parts a module is split into


def program_fingerprint(program) -> str:
    """A canonical text of a lowered program: every field that decides the code.

    One line per distinct composite value (dataclass, tuple, list), children
    first, each naming its children by line number, so a shared
    subexpression is written once and the text grows linearly with the
    program.  Dataclass fields marked ``compare=False`` (the graph nodes kept
    for error messages) are left out; constants enter by dtype, shape and a
    hash of their bytes.  Built without recursion, so deep expression DAGs
    are fine.
    """
    root = (program.buffers, program.steps, program.inputs, program.outputs, sorted(program.constants.items()))
    lines: list[str] = []
    numbers: dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        value, expanded = stack.pop()
        if id(value) in numbers:
            continue
        children = _children(value)
        if not expanded:
            stack.append((value, True))
            stack.extend((child, False) for child in reversed(children) if _children(child) is not None)
            continue
        refs = ",".join(f"#{numbers[id(c)]}" if _children(c) is not None else repr(_leaf(c)) for c in children)
        head = f"{type(value).__name__}{_field_names(value)}" if _is_dataclass(value) else type(value).__name__
        numbers[id(value)] = len(lines)
        lines.append(f"{head}({refs})")
    return "\n".join(lines)


def _is_dataclass(value) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _field_names(value) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(value) if f.compare)


def _children(value) -> list | None:
    """The parts of a composite value, or None for a leaf."""
    if _is_dataclass(value):
        return [getattr(value, name) for name in _field_names(value)]
    if isinstance(value, (list, tuple)):
        return list(value)
    return None


def _leaf(value):
    if isinstance(value, np.ndarray):
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return ("array", value.dtype.str, value.shape, digest)
    return value


def cache_key(parts: dict[str, str]) -> str:
    """The hex SHA-256 of ``parts`` in a canonical JSON form."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _encode(key: str, parts: dict[str, str], payload: bytes) -> bytes:
    """An entry file's bytes: magic, header length, JSON header, payload."""
    header = {
        "key": key,
        "size": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "parts": parts,
    }
    encoded = json.dumps(header, sort_keys=True).encode()
    return MAGIC + _LENGTH.pack(len(encoded)) + encoded + payload


def _decode(key: str, data: bytes) -> bytes:
    """The payload of an entry file; ValueError naming the defect when it does not verify."""
    if not data.startswith(MAGIC):
        raise ValueError(f"bad magic: expected {MAGIC!r}. Received: {data[: len(MAGIC)]!r}")
    start = len(MAGIC) + _LENGTH.size
    if len(data) < start:
        raise ValueError(f"truncated header: {len(data)} bytes")
    (header_length,) = _LENGTH.unpack_from(data, len(MAGIC))
    try:
        header = json.loads(data[start : start + header_length])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"unreadable header ({error})") from None
    if not isinstance(header, dict) or header.get("key") != key:
        raise ValueError(f"header is not for key {key}")
    payload = data[start + header_length :]
    if len(payload) != header.get("size"):
        raise ValueError(f"payload is {len(payload)} bytes, header says {header.get('size')}")
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise ValueError("payload checksum does not match its header")
    return payload


def _read_regular_file(path: Path) -> bytes:
    """The bytes of ``path``; OSError when it is not a regular file (a FIFO would block the read
    forever, a link to ``/dev/zero`` would never end it)."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(f"{path} is not a regular file")
        return file.read()


class ObjectCache:
    """Verified, atomically written object files in ``directory``, one per key."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory) / _SUBDIR

    def path(self, key: str) -> Path:
        """Where the entry of ``key`` lives."""
        return self.directory / f"{key}{_SUFFIX}"

    def load(self, key: str) -> bytes | None:
        """The object bytes stored under ``key``; None on a miss or a corrupt entry."""
        path = self.path(key)
        try:
            data = _read_regular_file(path)
        except FileNotFoundError:
            log.debug("miss %s", key)
            return None
        except OSError as error:
            log.warning("cannot read cache entry %s (%s); compiling", path, error)
            return None
        try:
            payload = _decode(key, data)
        except ValueError as error:
            log.warning("corrupt cache entry %s (%s); rebuilding it", path, error)
            return None
        log.debug("hit %s", key)
        return payload

    def store(self, key: str, parts: dict[str, str], payload: bytes) -> None:
        """Write the entry of ``key`` atomically; a failure is logged, never raised."""
        try:
            self._make_private_directory()
            self._replace(self.path(key), _encode(key, parts, payload))
        except OSError as error:
            log.warning("cannot write cache entry for %s in %s (%s)", key, self.directory, error)
            return
        log.debug("stored %s (%d bytes)", key, len(payload))

    def _make_private_directory(self) -> None:
        """Create the entry folder readable and writable by this user alone (the cache holds code
        that is run as it is); folders that existed are left as the user set them."""
        missing = [folder for folder in (self.directory, *self.directory.parents) if not folder.exists()]
        for folder in reversed(missing):
            folder.mkdir(mode=0o700, exist_ok=True)

    def _replace(self, path: Path, data: bytes) -> None:
        """Write ``data`` to a temporary file beside ``path``, then rename it onto ``path``."""
        descriptor, temporary = tempfile.mkstemp(
            dir=self.directory, prefix=f".{path.stem}.", suffix=".tmp"
        )
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def cached_compile_to_object(source: str, compiler: Callable[[str], bytes] | None = None) -> bytes:
    """``compiler(source)`` (default: ``source`` is LLVM IR for ``jit.compile_to_object``),
    through the disk cache unless ``config.use_cache`` is off.  On a hit the
    compiler is not called at all."""
    compiler = compiler or jit.compile_to_object
    if not config.use_cache:
        return compiler(source)
    parts = key_parts(source)
    key = cache_key(parts)
    cache = ObjectCache(config.cache_dir)
    payload = cache.load(key)
    if payload is None:
        payload = compiler(source)
        cache.store(key, parts, payload)
    return payload


def source_stamp(source: str) -> bytes:
    """The stamp an object compiled from ``source`` carries (``jit.stamped``): SHA-256 of the source."""
    return hashlib.sha256(source.encode()).digest()


def load_native(source: str, print_ir: Callable[[str], str | list[jit.Part]], optimize: bool = True,
                meanwhile: Callable[[], object] | None = None) -> jit.NativeModule:
    """The loaded object code of the module ``print_ir(source)`` prints, through the disk cache.

    ``print_ir`` may print the module as several parts (``codegen.llvm.split``):
    they compile side by side and are stored as one entry (``jit.join_objects``);
    ``meanwhile()`` runs here while they compile (``jit.compile_to_objects``).
    The code is stamped with ``source_stamp(source)`` and checked on load:
    an entry that decodes but holds other code (another program's object,
    bytes that are no object) is reported, replaced and compiled afresh
    instead of being run.  ``optimize=False``: IR written as the machine code
    should be (``jit.emit_without_passes``), emitted in this process.
    """
    stamp = source_stamp(source)

    def compile_stamped(text: str) -> bytes:
        printed = print_ir(text)
        parts = [printed] if isinstance(printed, str) else list(printed)
        first = parts[0]
        parts[0] = lambda: jit.stamped(jit.part_text(first), stamp)
        if not optimize:
            return jit.join_objects([jit.emit_without_passes(jit.part_text(part)) for part in parts])
        return jit.join_objects(jit.compile_to_objects(parts, meanwhile))

    payload = cached_compile_to_object(source, compile_stamped)
    try:
        return _with_kernels(jit.NativeModule(payload, stamp))
    except jit.InvalidObject as error:
        log.warning("cache entry for this program holds other code (%s); compiling it afresh", error)
    payload = compile_stamped(source)
    if config.use_cache:
        parts = key_parts(source)
        ObjectCache(config.cache_dir).store(cache_key(parts), parts, payload)
    return _with_kernels(jit.NativeModule(payload, stamp))


def _with_kernels(module: jit.NativeModule) -> jit.NativeModule:
    """``module`` with the shared kernels it calls through a global bound (the register-blocked GEMM)."""
    name = BLAS_GLOBALS["small_float32"]
    if module.has_global(name):
        module.set_global(name, small_gemm_kernel()[1])
    return module


@functools.cache
def small_gemm_kernel() -> tuple[jit.NativeModule, int]:
    """The register-blocked float32 GEMM for this host's vector width, compiled once per process (and
    kept in the disk cache like a program; its IR needs no optimization passes, so emitting it takes
    about 20 ms): its module, kept alive, and the kernel's address."""
    lanes = jit.host_float_lanes()
    # the cache key's other parts cover the code generator; the IR is printed only on a miss (~20 ms)
    native = load_native(f"{small_gemm.NAME}, {lanes} lanes", lambda _: small_gemm.kernel_module(lanes),
                         optimize=False)
    return native, native.function_address(small_gemm.NAME)
