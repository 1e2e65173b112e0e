"""``function(..., profile=True)``: time and call counts per op and per node (Theano's profiler).

A profiled function runs its optimized graph node by node
(``node_runner.py``), each node compiled alone by the function's backend,
and records each node's time.  ``f.profile`` is a ``ProfileStats``:
``print(f.profile)`` (or ``f.profile.summary()``) shows the calls and total
time of the function, then the ops and the nodes (Apply) sorted by time,
with their share of the time spent in nodes and their call counts.
Node by node, nothing is fused across nodes: the times are those of each
node alone.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from theanine.graph.basic import Apply

__all__ = ["ProfileStats"]


@dataclass
class _Timing:
    seconds: float = 0.0
    calls: int = 0


@dataclass
class ProfileStats:
    """What a profiled function measured (see the module docstring)."""

    name: str
    calls: int = 0
    call_seconds: float = 0.0
    nodes: dict[int, tuple[Apply, _Timing]] = field(default_factory=dict)

    def record_node(self, node: Apply, seconds: float) -> None:
        _, timing = self.nodes.setdefault(id(node), (node, _Timing()))
        timing.seconds += seconds
        timing.calls += 1

    def record_call(self, seconds: float) -> None:
        self.calls += 1
        self.call_seconds += seconds

    def op_times(self) -> list[tuple[str, float, int, int]]:
        """``(op, seconds, calls, nodes)`` per op, most time first."""
        table: dict[str, list] = {}
        for node, timing in self.nodes.values():
            row = table.setdefault(str(node.op), [0.0, 0, 0])
            row[0] += timing.seconds
            row[1] += timing.calls
            row[2] += 1
        rows = [(op, seconds, calls, count) for op, (seconds, calls, count) in table.items()]
        return sorted(rows, key=lambda row: (-row[1], row[0]))

    def node_times(self) -> list[tuple[Apply, float, int]]:
        """``(node, seconds, calls)`` per node, most time first."""
        rows = [(node, t.seconds, t.calls) for node, t in self.nodes.values()]
        return sorted(rows, key=lambda row: -row[1])

    def summary(self, file=None) -> None:
        """Print the report (to ``file``, default stdout)."""
        print(str(self), file=file or sys.stdout)

    def __str__(self) -> str:
        in_nodes = sum(t.seconds for _, t in self.nodes.values()) or 1e-300
        lines = [
            f"Function profiling: {self.name}",
            f"  {self.calls} call(s), {self.call_seconds:.6f}s in all; "
            f"{sum(t.seconds for _, t in self.nodes.values()):.6f}s in nodes",
            "",
            "Ops (most time first):",
            "  <% time> <seconds> <calls> <nodes> <op>",
        ]
        for op, seconds, calls, count in self.op_times():
            lines.append(f"  {100 * seconds / in_nodes:6.1f}% {seconds:10.6f}s {calls:7d} "
                         f"{count:5d}  {op}")
        lines += ["", "Apply nodes (most time first):", "  <% time> <seconds> <calls> <node>"]
        for node, seconds, calls in self.node_times():
            lines.append(f"  {100 * seconds / in_nodes:6.1f}% {seconds:10.6f}s {calls:7d}  "
                         f"{node!r}  (created at {node.source})")
        return "\n".join(lines)
