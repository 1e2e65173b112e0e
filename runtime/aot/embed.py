"""The bytes of a library's embedded buffers (constants, baked weights), as an assembly file.

The LLVM module only declares each buffer's symbol (``codegen.llvm.aot.
data_symbol``); this writes the bytes to files and an assembly source that
defines the symbols with ``.incbin``, so weights of any size cost a file
copy at link time, not IR text.  Each buffer is 64-byte aligned, read-only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from theanine.codegen.llvm.aot import data_symbol

__all__ = ["write_embedded"]


def write_embedded(folder: str, embedded: Mapping[int, np.ndarray]) -> str:
    """Write the buffers' bytes and ``embedded.s`` into ``folder``; returns the assembly file's path."""
    lines = ['\t.section .rodata, "a"']
    for buffer, data in sorted(embedded.items()):
        path = os.path.join(folder, f"buffer_{buffer}.bin")
        with open(path, "wb") as out:
            out.write(np.ascontiguousarray(data).tobytes() or b"\0")
        quoted = path.replace("\\", "\\\\").replace('"', '\\"')
        symbol = data_symbol(buffer)
        lines += ["\t.balign 64", f"\t.globl {symbol}", f"\t.type {symbol}, @object", f"{symbol}:",
                  f'\t.incbin "{quoted}"']
    lines.append('\t.section .note.GNU-stack, "", @progbits')
    source = os.path.join(folder, "embedded.s")
    with open(source, "w") as out:
        out.write("\n".join(lines) + "\n")
    return source
