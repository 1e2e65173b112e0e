"""Graph rewriters: the equilibrium driver, the merge pass and dead-code removal.

A graph rewriter is a function ``(fgraph, phase_report) -> None`` that
changes the FunctionGraph through ``replace`` and records what fired in the
phase report.  The equilibrium driver is the one that runs node rewriters.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence

from theanine.graph.basic import Apply, Constant, inherit_trace, merged_trace
from theanine.graph.fgraph import OUTPUT, FunctionGraph
from theanine.graph.rewriting.report import PhaseReport
from theanine.graph.rewriting.rewriters import NodeRewriter, RewriterIndex

__all__ = ["RewriteCycleError", "EquilibriumRewriter", "merge", "remove_dead_code"]


class RewriteCycleError(RuntimeError):
    """The equilibrium driver did not settle: some rewrites keep undoing each other."""


class _WorkList:
    """FunctionGraph feature: a FIFO of nodes to (re)visit, fed by imports and input changes."""

    def __init__(self, nodes: Sequence[Apply]):
        self.queue: deque[Apply] = deque(nodes)
        self.queued: set[Apply] = set(nodes)

    def push(self, node) -> None:
        if node != OUTPUT and node not in self.queued:
            self.queued.add(node)
            self.queue.append(node)

    def pop(self) -> Apply:
        node = self.queue.popleft()
        self.queued.discard(node)
        return node

    def on_import(self, fgraph, node, reason) -> None:
        self.push(node)

    def on_change(self, fgraph, node, index, old, new, reason) -> None:
        self.push(node)


class EquilibriumRewriter:
    """Apply node rewriters until none fires.

    Nodes are visited inputs first; a node that is imported or whose input
    changes is visited again; then the whole graph is swept again until a
    sweep fires nothing.  More than ``max_rewrites`` applications (by
    default 1000 plus 20 per node) means rewrites are undoing each other: a
    RewriteCycleError names the ones that fired most recently.
    """

    def __init__(self, rewriters: Sequence[NodeRewriter], max_rewrites: int | None = None):
        self.index = RewriterIndex(rewriters)
        self.max_rewrites = max_rewrites

    def __call__(self, fgraph: FunctionGraph, report: PhaseReport) -> None:
        cap = self.max_rewrites or 1000 + 20 * len(fgraph)
        recent: deque[str] = deque(maxlen=50)
        while self._sweep(fgraph, report, recent, cap):
            pass

    def _sweep(self, fgraph: FunctionGraph, report: PhaseReport, recent: deque, cap: int) -> bool:
        """Visit every node (and what changes meanwhile) once; did any rewrite fire?

        A rewrite deep inside a pattern (``log(softmax)`` under ``sum(t * log(...))``) does not
        requeue the pattern's root, so the driver sweeps again until a sweep changes nothing.
        """
        work = _WorkList(fgraph.toposort())
        fired = False
        fgraph.attach_feature(work)
        try:
            while work.queue:
                node = work.pop()
                if node in fgraph.apply_nodes and self._rewrite_node(fgraph, node, report, recent):
                    fired = True
                    if len(recent) == recent.maxlen and sum(report.fired.values()) > cap:
                        raise _cycle_error(recent, cap)
        finally:
            fgraph.remove_feature(work)
        return fired

    def _rewrite_node(
        self, fgraph: FunctionGraph, node: Apply, report: PhaseReport, recent: deque
    ) -> bool:
        """Try each rewriter tracking the node's op; apply the first that fires."""
        for rewriter in self.index.for_op(node.op):
            replacements = rewriter.transform(node, fgraph)
            if replacements is None:
                continue
            pairs = [
                (old, new)
                for old, new in zip(node.outputs, replacements, strict=True)
                if new is not None and new is not old
            ]
            if not pairs:
                continue
            fgraph.replace_all(pairs, reason=rewriter.name)
            report.record(rewriter.name)
            recent.append(rewriter.name)
            return True
        return False


def _cycle_error(recent: deque, cap: int) -> RewriteCycleError:
    counts = Counter(recent).most_common()
    listed = ", ".join(f"{name} (x{count})" for name, count in counts)
    return RewriteCycleError(
        f"rewriting did not reach a fixed point after {cap} rewrites; the last {len(recent)} were: {listed}. "
        "These rewrites probably undo each other"
    )


def merge(fgraph: FunctionGraph, report: PhaseReport) -> None:
    """Common subexpression elimination.

    Equal constants (same type and bytes) become one constant; two nodes
    with equal ops (``==``) reading the same inputs become one node, whose
    trace holds the lines of both.  Ops
    with ``deterministic = False`` (random draws) are never merged.
    """
    _merge_constants(fgraph, report)
    seen: dict[tuple, Apply] = {}
    for node in fgraph.toposort():
        if node not in fgraph.apply_nodes or not getattr(node.op, "deterministic", True):
            continue
        key = (node.op, tuple(id(v) for v in node.inputs))
        twin = seen.setdefault(key, node)
        if twin is not node:
            fgraph.replace_all(zip(node.outputs, twin.outputs, strict=True), reason="merge")
            inherit_trace(twin, merged_trace([twin, node]))
            report.record("merge")


def _merge_constants(fgraph: FunctionGraph, report: PhaseReport) -> None:
    first: dict[tuple, Constant] = {}
    for var in [v for v in fgraph.clients if isinstance(v, Constant)]:
        twin = first.setdefault(var.signature(), var)
        if twin is not var and var in fgraph.clients:
            fgraph.replace(var, twin, reason="merge_constants")
            report.record("merge_constants")


def remove_dead_code(fgraph: FunctionGraph, report: PhaseReport) -> None:
    """Drop nodes no output depends on (``replace`` already prunes; this catches the rest)."""
    live = set(fgraph.toposort())
    dead = [node for node in fgraph.apply_nodes if node not in live]
    for node in dead:
        if node in fgraph.apply_nodes:
            fgraph.prune(node, reason="remove_dead_code")
            report.record("remove_dead_code")
