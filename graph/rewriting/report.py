"""The rewrite report: what the optimizer did, phase by phase.

``str(report)`` (and ``th.explain(f)``) lists each phase with the node
counts before and after it, its time, and each rewrite that fired in the
order it first fired, with how many times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PhaseReport", "RewriteReport"]


@dataclass
class PhaseReport:
    """One phase: node counts around it, seconds spent and rewrites fired (first-fired order)."""

    name: str
    nodes_before: int
    nodes_after: int = 0
    seconds: float = 0.0
    fired: dict[str, int] = field(default_factory=dict)

    def record(self, rewrite: str, times: int = 1) -> None:
        self.fired[rewrite] = self.fired.get(rewrite, 0) + times

    def lines(self) -> list[str]:
        head = (
            f"{self.name}: {self.nodes_before} -> {self.nodes_after} nodes "
            f"({self.seconds * 1000:.1f} ms)"
        )
        width = max((len(name) for name in self.fired), default=0)
        return [head] + [f"    {name:<{width}}  x{count}" for name, count in self.fired.items()]


@dataclass
class RewriteReport:
    """Every phase the mode ran, in order; ``fired`` sums the counts over phases."""

    mode: str
    phases: list[PhaseReport] = field(default_factory=list)

    @property
    def fired(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for phase in self.phases:
            for name, count in phase.fired.items():
                total[name] = total.get(name, 0) + count
        return total

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.phases)

    def phase(self, name: str) -> PhaseReport:
        for phase in self.phases:
            if phase.name == name:
                return phase
        raise KeyError(f"no phase {name!r} in this report; phases: {[p.name for p in self.phases]}")

    def __str__(self) -> str:
        if not self.phases:
            return f"Rewrites (mode={self.mode!r}): none run"
        first, last = self.phases[0].nodes_before, self.phases[-1].nodes_after
        lines = [
            f"Rewrites (mode={self.mode!r}): {first} -> {last} nodes in {self.seconds * 1000:.1f} ms"
        ]
        for phase in self.phases:
            lines.extend("  " + line for line in phase.lines())
        return "\n".join(lines)

    __repr__ = __str__
