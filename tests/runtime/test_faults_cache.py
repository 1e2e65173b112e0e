"""Malformed object code in the disk cache: refused before LLVM's loader sees it, then rebuilt.

A cache entry whose checksum was rewritten over damaged object bytes (or a
foreign object put in its place) used to kill the process inside LLVM's
runtime linker (SIGSEGV on a truncated object, abort on a TLS section).
"""

import ctypes
import hashlib
import json
import logging
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

import theanine as th
from theanine.runtime.llvm import elf, jit
from theanine.runtime.llvm.cache import MAGIC

_LENGTH = struct.Struct("<I")


@pytest.fixture
def cache_dir(tmp_path):
    with th.config.context(cache_dir=str(tmp_path), use_cache=True):
        yield tmp_path


def _compile(k: float = 3.0):
    x = th.vector("x")
    return th.function([x], th.exp(x) + k)


def _entries(cache_dir):
    return sorted((cache_dir / "llvm-objects").glob("*.obj"))


def _payload(entry) -> tuple[dict, bytes]:
    data = entry.read_bytes()
    (length,) = _LENGTH.unpack_from(data, len(MAGIC))
    start = len(MAGIC) + _LENGTH.size
    return json.loads(data[start : start + length]), data[start + length :]


def _rewrite(entry, payload: bytes) -> None:
    """Store ``payload`` in ``entry`` with a header whose size and checksum match it."""
    header, _ = _payload(entry)
    header.update(size=len(payload), sha256=hashlib.sha256(payload).hexdigest())
    encoded = json.dumps(header, sort_keys=True).encode()
    entry.write_bytes(MAGIC + _LENGTH.pack(len(encoded)) + encoded + payload)


def _an_object(cache_dir) -> bytes:
    _compile()
    objects = [_payload(e)[1] for e in _entries(cache_dir)]
    return max((o for o in objects if o[:4] == b"\x7fELF"), key=len)


def _section_headers(obj: bytes) -> list[int]:
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shnum, = struct.unpack_from("<H", obj, 0x3C)
    return [shoff + 64 * k for k in range(shnum)]


def test_compiled_objects_pass_the_check(cache_dir):
    _compile()
    for entry in _entries(cache_dir):
        for obj in jit.split_objects(_payload(entry)[1]):
            assert elf.object_problem(obj) is None


def test_every_truncation_is_refused_without_crashing(cache_dir):
    obj = _an_object(cache_dir)
    for cut in range(0, len(obj), max(1, len(obj) // 97)):
        with pytest.raises(jit.InvalidObject):
            jit.NativeModule(obj[:cut])


def _with_section_field(obj: bytes, index: int, offset: int, fmt: str, value: int) -> bytes:
    data = bytearray(obj)
    struct.pack_into(fmt, data, _section_headers(obj)[index] + offset, value)
    return bytes(data)


@pytest.mark.parametrize("offset, fmt, value, message", [
    (8, "<Q", 0x400 | 0x6, "thread-local"),        # sh_flags: SHF_TLS (LLVM aborts)
    (48, "<Q", 3, "not a power of 2"),              # sh_addralign (LLVM asserts)
    (24, "<Q", 1 << 40, "runs past the end"),       # sh_offset far away (SIGSEGV)
    (40, "<I", 999, "links to section 999"),        # sh_link to no section
    (48, "<Q", 1 << 40, "not a power of 2 up to"),      # huge alignment (LLVM cannot allocate)
])
def test_damaged_section_header_is_refused(cache_dir, offset, fmt, value, message):
    obj = _an_object(cache_dir)
    damaged = _with_section_field(obj, 2, offset, fmt, value)
    with pytest.raises(jit.InvalidObject, match=message):
        jit.NativeModule(damaged)


def test_a_huge_zeroed_section_is_refused(cache_dir):
    """LLVM aborts ("Unable to allocate section memory") on a NOBITS section of terabytes."""
    obj = _with_section_field(_an_object(cache_dir), 2, 4, "<I", elf.SHT_NOBITS)
    with pytest.raises(jit.InvalidObject, match="bytes of zeroed memory"):
        jit.NativeModule(_with_section_field(obj, 2, 32, "<Q", 1 << 40))


def test_randomly_damaged_objects_never_reach_the_loader_unchecked(cache_dir):
    """Damage as a disk or a careless copy does it (bytes changed, tail cut) over a module's
    objects: each one is refused or loads, and the process lives (before the check, 103 of 150
    such objects killed it)."""
    rng = np.random.default_rng(7)
    _compile()
    objects = [o for e in _entries(cache_dir) for o in jit.split_objects(_payload(e)[1])]
    for trial in range(200):
        damaged = bytearray(objects[trial % len(objects)])
        for _ in range(rng.integers(1, 4)):
            start = 4 if trial % 2 else len(damaged) * 3 // 4  # anywhere, or in the section table
            damaged[rng.integers(start, len(damaged))] = rng.integers(256)
        if trial % 3 == 0:
            damaged = damaged[: rng.integers(4, len(damaged))]
        try:
            jit.NativeModule(bytes(damaged))
        except jit.InvalidObject:
            pass


def test_relocation_outside_its_section_is_refused(cache_dir):
    obj = _an_object(cache_dir)
    sections = [struct.unpack_from("<IIQQQQIIQQ", obj, h) for h in _section_headers(obj)]
    rela = next(s for s in sections if s[1] == elf.SHT_RELA and s[5])
    data = bytearray(obj)
    struct.pack_into("<Q", data, rela[4], 1 << 32)  # r_offset of the first relocation
    with pytest.raises(jit.InvalidObject, match="refers outside"):
        jit.NativeModule(bytes(data))


def test_cache_entry_with_a_truncated_object_is_rebuilt(cache_dir, caplog):
    x = np.arange(5, dtype="float32")
    _compile()(x)
    for entry in _entries(cache_dir):
        header, payload = _payload(entry)
        _rewrite(entry, payload[:200])
    with caplog.at_level(logging.WARNING, logger="theanine.runtime.llvm.cache"):
        result = _compile()(x)
    np.testing.assert_allclose(result, np.exp(x) + 3.0, rtol=1e-6)
    assert "holds other code" in caplog.text
    assert all(len(_payload(e)[1]) > 200 for e in _entries(cache_dir))


@pytest.mark.parametrize("value", ["", None, 5])
def test_a_cache_dir_that_is_no_path_is_refused_and_the_setting_kept(value):
    before = th.config.cache_dir
    with pytest.raises(ValueError, match=r"config.cache_dir must be a non-empty path string"):
        th.config.cache_dir = value
    assert th.config.cache_dir == before


# ----------------------------------------------------------------------------- compiled CUDA sources

needs_gxx = pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None, reason="no C++ compiler")
EMULATED_SOURCE = 'extern "C" int theanine_answer(void) { return 42; }\n'


@needs_gxx
def test_a_truncated_emulated_library_is_rebuilt_not_loaded(cache_dir, caplog):
    """Loading a truncated shared library killed the process (SIGBUS)."""
    from theanine.runtime.cuda import build

    first = Path(build.emulated_library(EMULATED_SOURCE))
    first.write_bytes(first.read_bytes()[:3000])
    with caplog.at_level(logging.WARNING, logger="theanine.runtime.cuda.build"):
        rebuilt = Path(build.emulated_library(EMULATED_SOURCE))
    assert "corrupt cache entry" in caplog.text and not first.exists()
    assert ctypes.CDLL(str(rebuilt)).theanine_answer() == 42
    assert build.emulated_library(EMULATED_SOURCE) == str(rebuilt)  # intact: used as it is


@needs_gxx
def test_a_fifo_in_place_of_an_entry_does_not_block(cache_dir):
    from theanine.runtime.cuda import build

    first = Path(build.emulated_library(EMULATED_SOURCE))
    first.unlink()
    os.mkfifo(first)
    rebuilt = build.emulated_library(EMULATED_SOURCE)
    assert ctypes.CDLL(rebuilt).theanine_answer() == 42


@needs_gxx
def test_an_unusable_cuda_cache_folder_falls_back_to_a_temporary_one(tmp_path, caplog):
    from theanine.runtime.cuda import build

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with th.config.context(cache_dir=str(blocker)), caplog.at_level(logging.WARNING):
        library = build.emulated_library(EMULATED_SOURCE)
    assert "cannot use cache folder" in caplog.text and blocker.read_text() == "not a folder"
    assert ctypes.CDLL(library).theanine_answer() == 42


@pytest.mark.parametrize("replace", ["fifo", "link to /dev/zero"])
def test_an_llvm_entry_that_is_no_regular_file_is_compiled_around(cache_dir, caplog, replace):
    """Reading a FIFO blocked forever; reading /dev/zero never ended."""
    x = np.arange(5, dtype="float32")
    _compile()(x)
    for entry in _entries(cache_dir):
        entry.unlink()
        os.mkfifo(entry) if replace == "fifo" else os.symlink("/dev/zero", entry)
    with caplog.at_level(logging.WARNING, logger="theanine.runtime.llvm.cache"):
        np.testing.assert_allclose(_compile()(x), np.exp(x) + 3.0, rtol=1e-6)
    assert "is not a regular file" in caplog.text
