"""Splitting a printed module into parts that compile to separate objects, side by side.

LLVM optimizes and emits a module on one core.  The step functions of a
program are independent of one another (an entry function reaches them only
through its step table), so they can be spread over several modules that
separate processes compile at once; the loader puts the objects into one
engine, which links the references between them.

Every part is a complete module text:

* part 0 holds everything except the spread functions given to other parts:
  the entry functions, every mutable global (the barrier's vote array, the
  BLAS and MPI pointers that the loader fills in: each must exist once),
  the constants and helpers;
* each other part holds its spread functions, private copies of the helper
  functions and constants they use, and declarations of the mutable globals
  and of other parts' spread functions that they name.

Spread functions get external linkage, so that another part can name them;
they are only called through tables, so no optimization relied on their
being internal.  A mutable global that was internal becomes external for
the same reason.  The split depends only on the module and ``parts``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

from llvmlite import ir

_REFERENCE = re.compile(r'@"(?:[^"\\]|\\.)*"')  # llvmlite quotes every global's name
_LOCAL = ("internal", "private")
MIN_PART_INSTRUCTIONS = 400  # about 30 ms of LLVM work at O3; a compiling child costs a few ms
# LLVM's work per instruction of a function it does not optimize (fast instruction selection, no
# passes) against one it does: the MLP step's GEMM glue took 1-2 ms for 180 instructions, its
# epilogue loops about 10 ms for 150.
UNOPTIMIZED_SHARE = 0.1


def split_module(module: ir.Module, spread: Sequence[str], parts: int) -> list[Callable[[], str]]:
    """At most ``parts`` printers, each returning the text of one module; together the modules
    define what ``module`` does.

    ``spread`` names the functions that may go to any part (defined functions
    whose only users are tables and calls); the others stay in part 0.  Each
    part gets at least ``MIN_PART_INSTRUCTIONS`` of spread code; with one part
    the printer returns ``str(module)``.  The linkage of spread functions and
    mutable globals in ``module`` is made external here: the module is the
    split's to change.  Which part holds what is decided here; the text is
    printed when a printer is called, so a compiling child prints its own
    part (llvmlite prints in Python: about a tenth of a cold compile).
    """
    defined = [name for name in spread if not _is_declaration(module.globals[name])]
    sizes = {name: _instructions(module.globals[name]) for name in defined}
    parts = min(parts, sum(sizes.values()) // MIN_PART_INSTRUCTIONS)
    if parts <= 1:
        return [lambda: str(module)]
    for value in module.globals.values():
        if (value.name in sizes or _is_mutable(value)) and value.linkage in _LOCAL:
            value.linkage = ""
    owner = _assign(sizes, _instructions_besides(module, sizes), parts)
    texts = _Texts(module)
    return [functools.partial(_part, module, k, owner, texts) for k in range(parts)]


class _Texts:
    """Each global's text and the globals it names, printed when a part first needs them."""

    def __init__(self, module: ir.Module):
        self.module = module
        self._by_reference = {value.get_reference(): name for name, value in module.globals.items()}
        self._texts: dict[str, str] = {}
        self._uses: dict[str, set[str]] = {}

    def text(self, name: str) -> str:
        if name not in self._texts:
            self._texts[name] = _text(self.module.globals[name])
        return self._texts[name]

    def uses(self, name: str) -> set[str]:
        if name not in self._uses:
            references = _REFERENCE.findall(self.text(name))
            self._uses[name] = {self._by_reference[r] for r in references if r in self._by_reference} - {name}
        return self._uses[name]


def _instructions(value: ir.GlobalValue) -> int:
    """How many instructions ``value`` defines (0 for a global variable or a declaration), as a
    measure of the work of compiling it: an ``optnone`` function's count by ``UNOPTIMIZED_SHARE``."""
    if not isinstance(value, ir.Function):
        return 0
    count = sum(len(block.instructions) for block in value.blocks)
    return int(count * UNOPTIMIZED_SHARE) if "optnone" in value.attributes else count


def _instructions_besides(module: ir.Module, spread: dict[str, int]) -> int:
    return sum(_instructions(value) for name, value in module.globals.items() if name not in spread)


def _is_mutable(value: ir.GlobalValue) -> bool:
    return isinstance(value, ir.GlobalVariable) and not value.global_constant and value.initializer is not None


def _is_declaration(value: ir.GlobalValue) -> bool:
    return value.is_declaration if isinstance(value, ir.Function) else value.initializer is None


def _assign(sizes: dict[str, int], fixed: int, parts: int) -> dict[str, int]:
    """Part of each spread function: largest first (ties in ``sizes``' order), each to the part
    with the fewest instructions so far; part 0 starts with the ``fixed`` ones that stay there."""
    loads = [fixed] + [0] * (parts - 1)
    owner = {}
    for name in sorted(sizes, key=lambda n: -sizes[n]):
        k = min(range(parts), key=lambda j: loads[j])
        owner[name] = k
        loads[k] += sizes[name]
    return owner


def _part(module: ir.Module, k: int, owner: dict[str, int], texts: _Texts) -> str:
    """Part ``k``'s text: its definitions in ``module``'s order, declarations for the rest it names."""
    if k == 0:
        defined = [name for name in module.globals if owner.get(name, 0) == 0]
    else:
        defined = _reached([name for name, part in owner.items() if part == k], owner, texts, module)
    declared = {used for name in defined for used in texts.uses(name)} - set(defined)
    header = ir.Module(name=f"{module.name}.part{k}", context=module.context)
    for name in module.globals:
        if name in declared:
            _declare(header, module.globals[name])
    body = [texts.text(name) if k == 0 or _keeps_text(module.globals[name], owner) else _private(module.globals[name])
            for name in module.globals if name in defined]
    return "\n".join([str(header), *body, *_metadata_lines(module)])


def _reached(roots: list[str], owner: dict[str, int], texts: _Texts, module: ir.Module) -> set[str]:
    """``roots`` and what they use, transitively, that a secondary part defines itself: helper
    functions and constants (copied), not other parts' functions or mutable globals (declared)."""
    reached, stack = set(roots), list(roots)
    while stack:
        for used in texts.uses(stack.pop()):
            value = module.globals[used]
            if used in reached or used in owner or _is_mutable(value) or _is_declaration(value):
                continue
            reached.add(used)
            stack.append(used)
    return reached


def _keeps_text(value: ir.GlobalValue, owner: dict[str, int]) -> bool:
    """Whether a secondary part defines ``value`` as printed: its own spread functions and local copies."""
    return value.name in owner or value.linkage in _LOCAL


def _private(value: ir.GlobalValue) -> str:
    """``value`` printed with internal linkage (a copy that the other objects do not see)."""
    linkage = value.linkage
    value.linkage = "internal"
    try:
        return _text(value)
    finally:
        value.linkage = linkage


def _text(value: ir.GlobalValue) -> str:
    """``str(value)`` as its fields are now (llvmlite caches a global variable's text once printed)."""
    if isinstance(value, ir.Function):
        return str(value)
    buffer = [f"{value.get_reference()} = "]
    value.descr(buffer)
    return "".join(buffer).rstrip()


def _declare(header: ir.Module, value: ir.GlobalValue) -> None:
    """A declaration of ``value`` in ``header``: an external function or global of the same type."""
    if isinstance(value, ir.Function):
        ir.Function(header, value.function_type, value.name)
    else:
        declaration = ir.GlobalVariable(header, value.value_type, value.name)
        declaration.global_constant = value.global_constant


def _metadata_lines(module: ir.Module) -> list[str]:
    """The module's metadata (branch weights and the like), which every part repeats."""
    named = [f"!{name} = !{{ {', '.join(op.get_reference() for op in node.operands)} }}"
             for name, node in module.namedmetadata.items()]
    return named + [str(node) for node in module.metadata]
