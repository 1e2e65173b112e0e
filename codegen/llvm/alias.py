"""Alias scopes: the printer tells LLVM that a kernel's buffers do not overlap one another.

Within one step, two different buffers of a program never share memory:
the memory plan frees a temporary only after the last step that reads it,
outputs are allocated by the runner, and a step that writes a buffer in
place names it as both input and output (one buffer, one scope).  Views of
one buffer (a history row, a column block) keep that buffer's scope, so
LLVM still reasons about them itself.

Each load and store of a kernel's buffer carries ``!alias.scope`` (its
buffer) and ``!noalias`` (every other buffer the kernel touches).  Without
them the loop vectorizer must compare every written range with every other
range at run time before it may use vector code; a fused LSTM gate kernel
with eight outputs and nine inputs carried a hundred such comparisons, and
optimizing them was a large part of its compile time.

A step function may serve several steps with the same key
(``kernel_ir.step_signature``); the key numbers buffers by first mention,
so steps that share a function also share which of their slots are the
same buffer, and the scopes (named after the printed step's buffers) hold
for each of them.
"""

from __future__ import annotations

from collections.abc import Iterable

from llvmlite import ir


class AliasScopes:
    """The module's alias scope nodes: one domain, one scope per buffer, cached scope lists."""

    def __init__(self, module: ir.Module):
        self.module = module
        self._domain = self._self_referencing([ir.MetaDataString(module, "theanine buffers")])
        self._scopes: dict[int, ir.MDValue] = {}
        self._lists: dict[tuple[int, ...], ir.MDValue] = {}

    def metadata(self, buffer: int, kernel_buffers: Iterable[int]) -> dict[str, ir.MDValue]:
        """The metadata of a load or store of ``buffer`` in a kernel that touches ``kernel_buffers``."""
        others = tuple(sorted(set(kernel_buffers) - {buffer}))
        tags = {"alias.scope": self._list((buffer,))}
        if others:
            tags["noalias"] = self._list(others)
        return tags

    def _list(self, buffers: tuple[int, ...]) -> ir.MDValue:
        """The node listing the scopes of ``buffers``, one per tuple.  Built directly: llvmlite's
        ``add_metadata`` hashes operands, which recurses forever through a self-referencing scope."""
        if buffers not in self._lists:
            self._lists[buffers] = self._node([self._scope(b) for b in buffers])
        return self._lists[buffers]

    def _scope(self, buffer: int) -> ir.MDValue:
        if buffer not in self._scopes:
            name = ir.MetaDataString(self.module, f"buffer {buffer}")
            self._scopes[buffer] = self._self_referencing([self._domain, name])
        return self._scopes[buffer]

    def _node(self, operands: list) -> ir.MDValue:
        return ir.values.MDValue(self.module, operands, name=str(len(self.module.metadata)))

    def _self_referencing(self, operands: list) -> ir.MDValue:
        """A node whose first operand is itself, as LLVM wants of scopes and domains (which makes it
        distinct from every other node)."""
        node = self._node(operands)
        node.operands = (node, *operands)
        return node


__all__ = ["AliasScopes"]
