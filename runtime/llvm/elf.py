"""A structural check of an ELF relocatable object before LLVM's loader sees it.

LLVM's runtime linker trusts the object it is given: a section table past
the end of the bytes, a symbol naming a section that does not exist or a
relocation outside its section makes it read or write out of bounds, and a
section asking for more memory than there is makes it give up: either
kills the process (SIGSEGV, or ``LLVM ERROR`` and abort).  The disk cache
verifies each entry's checksum, so such bytes come only from a damaged or
tampered entry whose checksum was rewritten, or a foreign file put in its
place; ``object_problem`` turns every one of them into a message instead,
by checking that each table, string, symbol and relocation the loader will
follow lies inside the bytes and points at something that exists, and
that sections ask for sane amounts of memory.  It does
not (and cannot) judge the machine code itself: the stamp check in
``jit.NativeModule`` makes sure the code is the program's own.
"""

from __future__ import annotations

import platform
import struct

import numpy as np

__all__ = ["object_problem"]

_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
_SECTION = struct.Struct("<IIQQQQIIQQ")
_SYMBOLS = np.dtype([("name", "<u4"), ("info", "u1"), ("other", "u1"), ("shndx", "<u2"), ("value", "<u8"),
                     ("size", "<u8")])
_RELAS = np.dtype([("offset", "<u8"), ("info", "<u8"), ("addend", "<i8")])
_RELS = np.dtype([("offset", "<u8"), ("info", "<u8")])

ET_REL = 1
SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_NOBITS, SHT_REL = 2, 3, 4, 8, 9
SHN_SPECIAL = range(0xFF00, 0x10000)  # ABS, COMMON, processor and OS specific indices
# write, alloc, exec, merge, strings, info link, link order, x86-64 large: what LLVM emits here
SECTION_FLAGS = 0x1 | 0x2 | 0x4 | 0x10 | 0x20 | 0x40 | 0x80 | 0x10000000
STT_TLS, STT_GNU_IFUNC = 6, 10
# the loader allocates these for every section: LLVM aborts when it cannot ("Unable to allocate section
# memory"); compiled programs use alignments up to 64 and a few bytes of zeroed globals
MAX_ALIGNMENT = 1 << 16
MAX_ZEROED_BYTES = 1 << 28
MACHINES = {"x86_64": 62, "amd64": 62, "aarch64": 183, "arm64": 183}
# x86-64 relocation types LLVM's RuntimeDyldELF resolves, with the bytes each one patches
X86_64_RELOCATIONS = {0: 0, 1: 8, 2: 4, 3: 4, 4: 4, 9: 4, 10: 4, 11: 4, 24: 8, 25: 8, 26: 4, 41: 4, 42: 4}
_X86_64_WIDTHS = np.zeros(max(X86_64_RELOCATIONS) + 2, np.uint64)
_X86_64_WIDTHS[list(X86_64_RELOCATIONS)] = list(X86_64_RELOCATIONS.values())
_X86_64_KNOWN = np.zeros(len(_X86_64_WIDTHS), bool)  # the last entry stands for every larger type
_X86_64_KNOWN[list(X86_64_RELOCATIONS)] = True


def object_problem(data: bytes) -> str | None:
    """What makes ``data`` unsafe to hand to LLVM's loader, or None when its structure holds."""
    try:
        return _problem(memoryview(data))
    except struct.error as error:
        return f"truncated ELF structure ({error})"


def _problem(data: memoryview) -> str | None:
    if len(data) < _HEADER.size:
        return f"{len(data)} bytes is shorter than an ELF header"
    ident, e_type, machine, _, _, _, shoff, _, ehsize, _, phnum, shentsize, shnum, shstrndx = (
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
        if align & (align - 1) or align > MAX_ALIGNMENT:
            return f"section {index} has alignment {align}, which is not a power of 2 up to {MAX_ALIGNMENT}"
        if kind == SHT_NOBITS and size > MAX_ZEROED_BYTES:
            return f"section {index} asks for {size} bytes of zeroed memory (at most {MAX_ZEROED_BYTES})"
        if link >= shnum:
            return f"section {index} links to section {link} of {shnum}"
    names = sections[shstrndx]
    if names[1] != SHT_STRTAB or not _terminated(data, names):
        return "the section name table is not a string table"
    if any(name >= names[5] for name, *_ in sections):
        return "a section name lies outside the section name table"
    sizes = np.array([s[5] for s in sections], np.uint64)
    for index, section in enumerate(sections):
        problem = _table_problem(data, sections, sizes, index, section, machine)
        if problem:
            return problem
    return None


def _terminated(data: memoryview, section) -> bool:
    """A string table whose last string ends inside it."""
    offset, size = section[4], section[5]
    return size == 0 or data[offset + size - 1] == 0


def _entries(data: memoryview, section, layout: np.dtype) -> np.ndarray:
    offset, size, entsize = section[4], section[5], section[9]
    if entsize != layout.itemsize or size % layout.itemsize:
        raise ValueError(f"entry size {entsize} and table size {size} do not fit entries of {layout.itemsize} bytes")
    return np.frombuffer(data, layout, count=size // layout.itemsize, offset=offset)


def _table_problem(data: memoryview, sections: list, sizes: np.ndarray, index: int, section,
                   machine: int) -> str | None:
    """The problem of a symbol or relocation table (None for other sections); checked a table at a
    time with NumPy (a module's tables hold thousands of entries)."""
    kind, link, info = section[1], section[6], section[7]
    try:
        if kind == SHT_SYMTAB:
            strings = sections[link]
            if strings[1] != SHT_STRTAB or not _terminated(data, strings):
                return f"symbol table {index} does not link to a string table"
            symbols = _entries(data, section, _SYMBOLS)
            types = symbols["info"] & 0xF
            if ((types == STT_TLS) | (types == STT_GNU_IFUNC)).any():
                return f"a symbol of table {index} is thread-local or an indirect function"
            if (symbols["name"] >= max(strings[5], 1)).any():
                return f"a symbol of table {index} has its name outside the string table"
            shndx = symbols["shndx"].astype(np.int64)
            if ((shndx >= len(sections)) & (shndx < SHN_SPECIAL.start)).any():
                return f"a symbol of table {index} lies in a section that does not exist"
            placed = (shndx > 0) & (shndx < len(sections))
            if (symbols["value"][placed] > sizes[shndx[placed]]).any():
                return f"a symbol of table {index} lies past the end of its section"
        elif kind in (SHT_RELA, SHT_REL):
            symbols = sections[link]
            if symbols[1] != SHT_SYMTAB or info >= len(sections):
                return f"relocation table {index} does not link to a symbol table and a section"
            entries = _entries(data, section, _RELAS if kind == SHT_RELA else _RELS)
            symbol, reloc_type = entries["info"] >> np.uint64(32), entries["info"] & np.uint64(0xFFFFFFFF)
            width = np.zeros(len(entries), np.uint64)
            if machine == 62:
                known = _X86_64_KNOWN[np.minimum(reloc_type, len(_X86_64_KNOWN) - 1)]
                if not known.all():
                    return (f"relocation table {index} holds relocation type {reloc_type[~known][0]}, which "
                            "the loader cannot apply")
                width = _X86_64_WIDTHS[reloc_type]
            target, offset = sizes[info], entries["offset"]
            outside = (offset > target) | (target - offset < width)
            if (symbol >= symbols[5] // _SYMBOLS.itemsize).any() or outside.any():
                return f"relocation table {index} refers outside its symbols or section {info}"
    except ValueError as error:
        return f"table {index}: {error}"
    return None
