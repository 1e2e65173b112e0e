"""Malformed object code in the disk cache: refused before LLVM's loader sees it, then rebuilt.

A cache entry whose checksum was rewritten over damaged object bytes (or a
foreign object put in its place) used to kill the process inside LLVM's
runtime linker (SIGSEGV on a truncated object, abort on a TLS section).
"""

import hashlib
import json
import logging
import struct

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
])
def test_damaged_section_header_is_refused(cache_dir, offset, fmt, value, message):
    obj = _an_object(cache_dir)
    damaged = _with_section_field(obj, 2, offset, fmt, value)
    with pytest.raises(jit.InvalidObject, match=message):
        jit.NativeModule(damaged)


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
