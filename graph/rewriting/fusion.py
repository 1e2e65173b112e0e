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
outputs of both: the shared input is read in one pass instead of two.
"""

from __future__ import annotations

from theanine.graph.basic import Apply, Constant, Variable, clone_replace, inherit_trace, merged_trace
from theanine.graph.fgraph import OUTPUT, FunctionGraph
from theanine.graph.ops.composite import Composite
from theanine.graph.ops.elemwise import Elemwise
from theanine.graph.rewriting.db import register
from theanine.graph.rewriting.report import PhaseReport
from theanine.graph.type import TensorType

__all__ = ["MAX_FUSED_INPUTS", "elemwise_fusion", "sibling_fusion"]

MAX_FUSED_INPUTS = 32
"""A fused node reads at most this many outer inputs (kernels take their arguments in registers)."""


def _fusable(node: Apply) -> bool:
    return isinstance(node.op, Elemwise)


def _same_run_time_shape(a: tuple, b: tuple) -> bool:
    """Static shapes that must be equal at run time: None never broadcasts, so a None facing
    a known size (other than a broadcasting 1) is that size."""
    return len(a) == len(b) and all(
        x == y or (None in (x, y) and 1 not in (x, y)) for x, y in zip(a, b, strict=True)
    )


class _Group:
    """The nodes fused with one root, and the order facts that keep fusion acyclic."""

    def __init__(self, fgraph: FunctionGraph, root: Apply, position: dict[Apply, int]):
        self.fgraph = fgraph
        self.root = root
        self.position = position
        self.shape = root.outputs[0].type.shape
        self.members: set[Apply] = {root}

    def _reader_ok(self, reader) -> bool:
        """An outside reader of a member's output must come after the root (or be a graph output)."""
        if reader == OUTPUT or reader in self.members:
            return True
        return self.position[reader] > self.position[self.root]

    def accepts(self, producer: Apply) -> bool:
        if producer in self.members or not _fusable(producer):
            return False
        if any(not _same_run_time_shape(out.type.shape, self.shape) for out in producer.outputs):
            return False
        readers = [r for out in producer.outputs for r, _ in self.fgraph.clients[out]]
        return all(self._reader_ok(r) for r in readers)

    def grow(self, claimed: set[Apply]) -> list[Apply]:
        frontier = list(self.root.inputs)
        while frontier:
            var = frontier.pop()
            producer = var.owner
            if producer is None or producer in claimed or not self.accepts(producer):
                continue
            self.members.add(producer)
            frontier.extend(producer.inputs)
        return sorted(self.members, key=self.position.__getitem__)


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
        outer = _outer_inputs(members)
        if len(members) < 2 or len(outer) > MAX_FUSED_INPUTS:
            continue
        outputs = _group_outputs(fgraph, members)
        fused = Elemwise(_inner_graph(members, outer, outputs)).make_node(*outer)
        claimed.update(members)
        position[fused] = position[root]
        claimed.add(fused)
        fgraph.replace_all(zip(outputs, fused.outputs, strict=True), reason="elemwise_fusion")
        inherit_trace(fused, merged_trace(members))
        report.record("elemwise_fusion")


def _depends_on(node: Apply, ancestor: Apply, position: dict[Apply, int]) -> bool:
    """Does ``node`` read (transitively) an output of ``ancestor``?  The walk stops at nodes
    placed before ``ancestor`` in topological order: they cannot depend on it."""
    floor = position[ancestor]
    seen: set[Apply] = set()
    pending = [v.owner for v in node.inputs if v.owner is not None]
    while pending:
        current = pending.pop()
        if current is ancestor:
            return True
        if current in seen or position.get(current, -1) < floor:
            continue
        seen.add(current)
        pending.extend(v.owner for v in current.inputs if v.owner is not None)
    return False


def _sibling(fgraph: FunctionGraph, node: Apply, position: dict[Apply, int]) -> Apply | None:
    """An Elemwise node of ``node``'s shape that shares an input with it, independent of it."""
    shape = node.outputs[0].type.shape
    for var in node.inputs:
        if isinstance(var, Constant):
            continue
        for reader, _ in fgraph.clients.get(var, []):
            if (
                reader == OUTPUT
                or reader is node
                or not _fusable(reader)
                or reader.outputs[0].type.shape != shape
                or len(_outer_inputs([node, reader])) > MAX_FUSED_INPUTS
            ):
                continue
            if not _depends_on(reader, node, position) and not _depends_on(node, reader, position):
                return reader
    return None


def _positions(fgraph: FunctionGraph) -> dict[Apply, int]:
    return {node: i for i, node in enumerate(fgraph.toposort())}


@register("fusion")
def sibling_fusion(fgraph: FunctionGraph, report: PhaseReport) -> None:
    """Join independent Elemwise siblings that read a common input (see the module docstring)."""
    position = _positions(fgraph)
    pending = [n for n in position if _fusable(n)]
    while pending:
        node = pending.pop()
        if node not in fgraph.apply_nodes:
            continue
        sibling = _sibling(fgraph, node, position)
        if sibling is None:
            continue
        members = [node, sibling]
        outer = _outer_inputs(members)
        outputs = node.outputs + sibling.outputs
        fused = Elemwise(_inner_graph(members, outer, outputs)).make_node(*outer)
        fgraph.replace_all(zip(outputs, fused.outputs, strict=True), reason="sibling_fusion")
        inherit_trace(fused, merged_trace(members))
        report.record("sibling_fusion")
        position = _positions(fgraph)
        pending.append(fused)
