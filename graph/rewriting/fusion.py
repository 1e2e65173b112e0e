"""Fusion: DAGs of Elemwise nodes of one shape become one ``Elemwise(Composite)``.

Groups grow from a root (visited outputs first) towards its inputs.  A
producer joins when it is an Elemwise node with the root's run-time output
shape (static shapes may differ only where one side is None) and
either every reader of its outputs is already in the group, or each outside
reader comes after the root in topological order: then the producer's
output becomes an extra output of the composite, and no outside reader can
feed the group back (it is not an ancestor of any member), so no cycle can
form.  Scalar-sized constants are moved into the inner graph.

A fused node's trace is the lines of all its members (inputs first), so a
run-time error in it names every line where the user wrote part of it.

Sibling fusion then joins two Elemwise nodes of one shape that read a common
input and of which neither depends on the other into one composite with the
outputs of both: the shared input is read in one pass instead of two.  It
works in rounds over fixed topological positions (see ``_Round``), and proves
independence within a budget of visited nodes, so it costs linear time.
"""

from __future__ import annotations

import bisect
import heapq
from collections import deque

from theanine.graph.basic import Apply, Constant, Variable, clone_replace, inherit_trace, merged_trace
from theanine.graph.fgraph import OUTPUT, FunctionGraph
from theanine.graph.ops.composite import Composite
from theanine.graph.ops.elemwise import Elemwise
from theanine.graph.rewriting.db import register
from theanine.graph.rewriting.report import PhaseReport
from theanine.graph.type import TensorType, is_string

__all__ = ["MAX_FUSED_INPUTS", "SIBLING_SEARCH_BUDGET", "elemwise_fusion", "sibling_fusion"]

MAX_FUSED_INPUTS = 32
"""A fused node reads at most this many outer inputs (kernels take their arguments in registers)."""

SIBLING_SEARCH_BUDGET = 512
"""How many nodes sibling fusion visits to prove two nodes independent before it gives up."""


def _fusable(node: Apply) -> bool:
    """An elementwise node on numbers: string nodes stay apart (each is a host call)."""
    return isinstance(node.op, Elemwise) and not any(is_string(v.dtype) for v in node.inputs + node.outputs)


def _same_run_time_shape(a: tuple, b: tuple) -> bool:
    """Static shapes that must be equal at run time: None never broadcasts, so a None facing
    a known size (other than a broadcasting 1) is that size."""
    return len(a) == len(b) and all(
        x == y or (None in (x, y) and 1 not in (x, y)) for x, y in zip(a, b, strict=True)
    )


class _Group:
    """The nodes fused with one root, and the order facts that keep fusion acyclic.

    Candidates (producers of the members' inputs) are examined once each, latest in
    topological order first, so every reader of a candidate that could join has been decided
    before the candidate is; a candidate joins only while the group reads at most
    ``MAX_FUSED_INPUTS`` outer inputs.  Growing costs time in the group's size and border,
    not in the graph's.
    """

    def __init__(self, fgraph: FunctionGraph, root: Apply, position: dict[Apply, int]):
        self.fgraph = fgraph
        self.root = root
        self.position = position
        self.shape = root.outputs[0].type.shape
        self.members: set[Apply] = {root}
        self.inside: set[Variable] = set(root.outputs)
        self.outer: set[Variable] = {v for v in root.inputs if not _inlined(v)}

    def _reader_ok(self, reader) -> bool:
        """An outside reader of a member's output must come after the root (or be a graph output)."""
        if reader == OUTPUT or reader in self.members:
            return True
        return self.position[reader] > self.position[self.root]

    def accepts(self, producer: Apply) -> bool:
        if not _fusable(producer):
            return False
        if any(not _same_run_time_shape(out.type.shape, self.shape) for out in producer.outputs):
            return False
        readers = [r for out in producer.outputs for r, _ in self.fgraph.clients[out]]
        return all(self._reader_ok(r) for r in readers) and self._outer_after(producer) <= MAX_FUSED_INPUTS

    def _outer_after(self, producer: Apply) -> int:
        """How many outer inputs the group would read with ``producer`` in it."""
        new = {v for v in producer.inputs if not _inlined(v) and v not in self.inside and v not in self.outer}
        return len(self.outer) - sum(out in self.outer for out in producer.outputs) + len(new)

    def _add(self, producer: Apply) -> None:
        self.members.add(producer)
        self.inside.update(producer.outputs)
        self.outer.difference_update(producer.outputs)
        self.outer.update(v for v in producer.inputs if not _inlined(v) and v not in self.inside)

    def grow(self, claimed: set[Apply]) -> list[Apply]:
        candidates: list[tuple[int, Apply]] = []
        seen: set[Apply] = set()
        self._push_producers(self.root, candidates, seen, claimed)
        while candidates:
            _, producer = heapq.heappop(candidates)
            if self.accepts(producer):
                self._add(producer)
                self._push_producers(producer, candidates, seen, claimed)
        return sorted(self.members, key=self.position.__getitem__)

    def _push_producers(self, node: Apply, candidates: list, seen: set[Apply], claimed: set[Apply]) -> None:
        for var in node.inputs:
            producer = var.owner
            if producer is not None and producer not in seen and producer not in claimed and producer in self.position:
                seen.add(producer)
                heapq.heappush(candidates, (-self.position[producer], producer))


def _outer_inputs(members: list[Apply]) -> list[Variable]:
    """Inputs read by the group from outside it, each once, in order of first use."""
    inside = {out for node in members for out in node.outputs}
    seen: dict[Variable, None] = {}
    for node in members:
        for var in node.inputs:
            if var not in inside and not _inlined(var):
                seen.setdefault(var, None)
    return list(seen)


def _inlined(var: Variable) -> bool:
    """Constants of one element live inside the composite as rank-0 constants."""
    return isinstance(var, Constant) and var.data.size == 1


def _group_outputs(fgraph: FunctionGraph, members: list[Apply]) -> list[Variable]:
    member_set = set(members)
    return [
        out
        for node in members
        for out in node.outputs
        if any(reader == OUTPUT or reader not in member_set for reader, _ in fgraph.clients[out])
    ]


def _inner_graph(members: list[Apply], outer: list[Variable], outputs: list[Variable]) -> Composite:
    """Rebuild the group on rank-0 stand-ins; nested composites are inlined."""
    stand_ins = {var: TensorType(var.dtype, ())() for var in outer}
    inner: dict[Variable, Variable] = dict(stand_ins)
    for node in members:
        args = [inner[v] if v in inner else Constant(v.data.reshape(())) for v in node.inputs]
        scalar_op = node.op.scalar_op
        if isinstance(scalar_op, Composite):
            results = clone_replace(
                scalar_op.outputs, dict(zip(scalar_op.inputs, args, strict=True)), strict=False
            )
        else:
            new_node = Elemwise(scalar_op).make_node(*args)
            inherit_trace(new_node, node.trace)
            results = new_node.outputs
        inner.update(zip(node.outputs, results, strict=True))
    return Composite([stand_ins[v] for v in outer], [inner[v] for v in outputs])


@register("fusion")
def elemwise_fusion(fgraph: FunctionGraph, report: PhaseReport) -> None:
    """Fuse every group of two or more Elemwise nodes (see the module docstring)."""
    order = fgraph.toposort()
    position = {node: i for i, node in enumerate(order)}
    claimed: set[Apply] = set()
    for root in reversed(order):
        if root in claimed or root not in fgraph.apply_nodes or not _fusable(root):
            continue
        members = _Group(fgraph, root, position).grow(claimed)
        if len(members) < 2:
            continue
        outer = _outer_inputs(members)
        outputs = _group_outputs(fgraph, members)
        fused = Elemwise(_inner_graph(members, outer, outputs)).make_node(*outer)
        claimed.update(members)
        position[fused] = position[root]
        claimed.add(fused)
        fgraph.replace_all(zip(outputs, fused.outputs, strict=True), reason="elemwise_fusion")
        inherit_trace(fused, merged_trace(members))
        report.record("elemwise_fusion")


def _independent(earlier: Apply, later: Apply, position: dict[Apply, int]) -> bool:
    """Is ``later`` provably not reading (transitively) an output of ``earlier``?

    The walk goes back from ``later`` and stops at nodes placed before ``earlier`` (they
    cannot depend on it); after ``SIBLING_SEARCH_BUDGET`` nodes it gives up and answers no.
    (``earlier`` cannot depend on ``later``: it comes first in topological order.)"""
    floor = position[earlier]
    seen: set[Apply] = set()
    pending = deque(v.owner for v in later.inputs if v.owner is not None)
    while pending:
        current = pending.popleft()
        if current is earlier or len(seen) >= SIBLING_SEARCH_BUDGET:
            return False
        if current in seen or position[current] < floor:
            continue
        seen.add(current)
        pending.extend(v.owner for v in current.inputs if v.owner is not None)
    return True


class _Round:
    """One pass of sibling fusion over fixed topological positions.

    Fusing a pair can only reorder the nodes placed between its two members, so the
    positions stay valid outside the ranges of the pairs fused in this round: a pair whose
    range overlaps one of them waits for the next round (``free``)."""

    def __init__(self, fgraph: FunctionGraph):
        self.fgraph = fgraph
        self.position = {node: i for i, node in enumerate(fgraph.toposort())}
        self.starts: list[int] = []
        self.ends: list[int] = []

    def free(self, a: Apply, b: Apply) -> bool:
        low, high = sorted((self.position[a], self.position[b]))
        k = bisect.bisect_right(self.starts, high)
        return k == 0 or self.ends[k - 1] < low

    def take(self, a: Apply, b: Apply) -> None:
        low, high = sorted((self.position[a], self.position[b]))
        k = bisect.bisect_right(self.starts, low)
        self.starts.insert(k, low)
        self.ends.insert(k, high)

    def sibling(self, node: Apply) -> Apply | None:
        """An Elemwise node of ``node``'s shape that shares an input with it, independent of it.

        The shared input must fix the run-time size of every axis whose size is not static (it
        does not broadcast there): two products by one broadcast scalar may have any shapes."""
        shape = node.outputs[0].type.shape
        for var in node.inputs:
            if isinstance(var, Constant) or any(s is None and var.type.shape[a] == 1 for a, s in enumerate(shape)):
                continue
            for reader, _ in self.fgraph.clients.get(var, []):
                if (
                    reader == OUTPUT
                    or reader is node
                    or reader not in self.position
                    or not _fusable(reader)
                    or reader.outputs[0].type.shape != shape
                    or not self.free(node, reader)
                    or len(_outer_inputs([node, reader])) > MAX_FUSED_INPUTS
                ):
                    continue
                earlier, later = sorted((node, reader), key=self.position.__getitem__)
                if _independent(earlier, later, self.position):
                    return reader
        return None

    def run(self, report: PhaseReport) -> bool:
        """Fuse what this round can; did anything fuse?"""
        fired = False
        for node in reversed(list(self.position)):
            if node not in self.fgraph.apply_nodes or not _fusable(node) or not self.free(node, node):
                continue
            sibling = self.sibling(node)
            if sibling is None:
                continue
            members = sorted([node, sibling], key=self.position.__getitem__)
            outputs = members[0].outputs + members[1].outputs
            fused = Elemwise(_inner_graph(members, _outer_inputs(members), outputs)).make_node(
                *_outer_inputs(members)
            )
            self.fgraph.replace_all(zip(outputs, fused.outputs, strict=True), reason="sibling_fusion")
            inherit_trace(fused, merged_trace(members))
            report.record("sibling_fusion")
            self.take(node, sibling)
            fired = True
        return fired


@register("fusion")
def sibling_fusion(fgraph: FunctionGraph, report: PhaseReport) -> None:
    """Join independent Elemwise siblings that read a common input (see the module docstring),
    in rounds until one fuses nothing."""
    while _Round(fgraph).run(report):
        pass
