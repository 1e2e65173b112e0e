"""A structural check of an ELF relocatable object before LLVM's loader sees it.

LLVM's runtime linker trusts the object it is given: a section table past
the end of the bytes, a symbol naming a section that does not exist or a
relocation outside its section makes it read or write out of bounds and
kills the process (SIGSEGV, or ``LLVM ERROR`` and abort).  The disk cache
verifies each entry's checksum, so such bytes come only from a damaged or
tampered entry whose checksum was rewritten, or a foreign file put in its
place; ``object_problem`` turns every one of them into a message instead,
by checking that each table, string, symbol and relocation the loader will
follow lies inside the bytes and points at something that exists.  It does
not (and cannot) judge the machine code itself: the stamp check in
``jit.NativeModule`` makes sure the code is the program's own.
"""

from __future__ import annotations

import platform
import struct

__all__ = ["object_problem"]

_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
_SECTION = struct.Struct("<IIQQQQIIQQ")
_SYMBOL = struct.Struct("<IBBHQQ")
_RELA = struct.Struct("<QQq")
_REL = struct.Struct("<QQ")

ET_REL = 1
SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_NOBITS, SHT_REL = 2, 3, 4, 8, 9
SHN_SPECIAL = range(0xFF00, 0x10000)  # ABS, COMMON, processor and OS specific indices
# write, alloc, exec, merge, strings, info link, link order, x86-64 large: what LLVM emits here
SECTION_FLAGS = 0x1 | 0x2 | 0x4 | 0x10 | 0x20 | 0x40 | 0x80 | 0x10000000
STT_TLS, STT_GNU_IFUNC = 6, 10
MACHINES = {"x86_64": 62, "amd64": 62, "aarch64": 183, "arm64": 183}
# x86-64 relocation types LLVM's RuntimeDyldELF resolves, with the bytes each one patches
X86_64_RELOCATIONS = {0: 0, 1: 8, 2: 4, 3: 4, 4: 4, 9: 4, 10: 4, 11: 4, 24: 8, 25: 8, 26: 4, 41: 4, 42: 4}


def object_problem(data: bytes) -> str | None:
    """What makes ``data`` unsafe to hand to LLVM's loader, or None when its structure holds."""
    try:
        return _problem(memoryview(data))
    except struct.error as error:
        return f"truncated ELF structure ({error})"


def _problem(data: memoryview) -> str | None:
    if len(data) < _HEADER.size:
        return f"{len(data)} bytes is shorter than an ELF header"
    ident, e_type, machine, _, _, phoff, shoff, _, ehsize, _, phnum, shentsize, shnum, shstrndx = (
        _HEADER.unpack_from(data))
    if ident[:4] != b"\x7fELF" or ident[4] != 2 or ident[5] != 1:
        return "not a 64-bit little-endian ELF object"
    if e_type != ET_REL or phnum != 0:
        return f"not a relocatable object (type {e_type}, {phnum} program headers)"
    expected_machine = MACHINES.get(platform.machine().lower())
    if expected_machine is not None and machine != expected_machine:
        return f"object is for machine {machine}, this host is {platform.machine()}"
    if ehsize != _HEADER.size or shentsize != _SECTION.size or not 0 < shnum or shstrndx >= shnum:
        return f"malformed header (header size {ehsize}, section entry size {shentsize}, {shnum} sections)"
    if shoff + shnum * _SECTION.size > len(data):
        return f"section table ({shnum} entries at {shoff}) runs past the end of the {len(data)} bytes"
    sections = [_SECTION.unpack_from(data, shoff + k * _SECTION.size) for k in range(shnum)]
    for index, (_, kind, flags, _, offset, size, link, _, align, _) in enumerate(sections):
        if flags & ~SECTION_FLAGS:
            return f"section {index} has flags {flags:#x} (thread-local, grouped or compressed data)"
        if kind != SHT_NOBITS and offset + size > len(data):
            return f"section {index} ({size} bytes at {offset}) runs past the end of the {len(data)} bytes"
        if align & (align - 1):
            return f"section {index} has alignment {align}, which is not a power of 2"
        if link >= shnum:
            return f"section {index} links to section {link} of {shnum}"
    names = sections[shstrndx]
    if names[1] != SHT_STRTAB or not _terminated(data, names):
        return "the section name table is not a string table"
    if any(name >= names[5] for name, *_ in sections):
        return "a section name lies outside the section name table"
    for index, section in enumerate(sections):
        problem = _table_problem(data, sections, index, section, machine)
        if problem:
            return problem
    return None


def _terminated(data: memoryview, section) -> bool:
    """A string table whose last string ends inside it."""
    offset, size = section[4], section[5]
    return size == 0 or data[offset + size - 1] == 0


def _entries(data: memoryview, section, layout: struct.Struct):
    offset, size, entsize = section[4], section[5], section[9]
    if entsize != layout.size or size % layout.size:
        raise ValueError(f"entry size {entsize} and table size {size} do not fit entries of {layout.size} bytes")
    return [layout.unpack_from(data, offset + k * layout.size) for k in range(size // layout.size)]


def _table_problem(data: memoryview, sections: list, index: int, section, machine: int) -> str | None:
    """The problem of a symbol or relocation table (None for other sections)."""
    kind, link, info = section[1], section[6], section[7]
    try:
        if kind == SHT_SYMTAB:
            strings = sections[link]
            if strings[1] != SHT_STRTAB or not _terminated(data, strings):
                return f"symbol table {index} does not link to a string table"
            for name, symbol_info, _, shndx, value, _ in _entries(data, section, _SYMBOL):
                if symbol_info & 0xF in (STT_TLS, STT_GNU_IFUNC):
                    return f"a symbol of table {index} is thread-local or an indirect function"
                if name >= max(strings[5], 1):
                    return f"a symbol of table {index} has its name outside the string table"
                if shndx >= len(sections) and shndx not in SHN_SPECIAL:
                    return f"a symbol of table {index} lies in section {shndx} of {len(sections)}"
                if 0 < shndx < len(sections) and value > sections[shndx][5]:
                    return f"a symbol of table {index} lies past the end of section {shndx}"
        elif kind in (SHT_RELA, SHT_REL):
            symbols = sections[link]
            if symbols[1] != SHT_SYMTAB or info >= len(sections):
                return f"relocation table {index} does not link to a symbol table and a section"
            count = symbols[5] // _SYMBOL.size
            target = sections[info][5]
            for offset, packed, *_ in _entries(data, section, _RELA if kind == SHT_RELA else _REL):
                symbol, reloc_type = packed >> 32, packed & 0xFFFFFFFF
                width = X86_64_RELOCATIONS.get(reloc_type) if machine == 62 else 0
                if width is None:
                    return f"relocation table {index} holds relocation type {reloc_type}, which the loader cannot apply"
                if symbol >= count or offset + width > target:
                    return f"relocation table {index} refers outside its symbols or section {info}"
    except ValueError as error:
        return f"table {index}: {error}"
    return None
