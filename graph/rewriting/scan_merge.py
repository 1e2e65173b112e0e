"""Loops of the same length merge into one loop.

Two ``Scan`` nodes that run the same number of steps (the same ``n_steps``
variable), neither of them a ``while`` loop nor reading the other's
results, become one ``Scan`` whose step computes both steps: one loop
instead of two (a bidirectional RNN's two directions; the forward loop of
one network and of another that reads the same sequence).  A sequence
both loops read is read once.  Run before ``scan_optimize`` so the merged
step is optimized as one (its elementwise work fuses across the two).
"""

from __future__ import annotations

from collections.abc import Callable

from theanine.graph.basic import Apply, Variable, ancestors, clone_graph, clone_replace
from theanine.graph.fgraph import FunctionGraph
from theanine.graph.ops.scan_op import Scan, ScanSpec
from theanine.graph.ops.shape_values import ShapeI
from theanine.graph.ops.subtensor import Subtensor
from theanine.graph.rewriting.report import PhaseReport

__all__ = ["merge_two", "scan_merge"]


def scan_merge(fgraph: FunctionGraph, report: PhaseReport) -> None:
    """Merge every pair of mergeable loops (module docstring), repeatedly."""
    merged = True
    while merged:
        merged = False
        loops = [n for n in fgraph.toposort() if isinstance(n.op, Scan) and not n.op.spec.until]
        for i, first in enumerate(loops):
            partner = next((second for second in loops[i + 1:] if _mergeable(first, second)), None)
            if partner is None:
                continue
            new_op, inputs, split = merge_two(first, partner)
            outputs = new_op.apply(*inputs).outputs
            pairs = list(zip(first.outputs + partner.outputs, split(outputs), strict=True))
            fgraph.replace_all(pairs, reason="scan_merge")
            report.record("scan_merge")
            merged = True
            break


def _mergeable(a: Apply, b: Apply) -> bool:
    if _length(a.inputs[0]) != _length(b.inputs[0]) or a.op.spec.truncate_gradient != b.op.spec.truncate_gradient:
        return False
    before_b = {id(v) for v in ancestors(b.inputs)}
    before_a = {id(v) for v in ancestors(a.inputs)}
    return not any(id(o) in before_b for o in a.outputs) and not any(id(o) in before_a for o in b.outputs)


def _length(n_steps: Variable) -> tuple:
    """A key equal for step counts known to be equal: the variable itself, or the length of the
    tensor that a chain of whole-axis slices (``x[0:]``, ``x[::-1]``) of the first axis starts from."""
    owner = n_steps.owner
    if owner is None or not isinstance(owner.op, ShapeI) or owner.op.i != 0:
        return ("variable", id(n_steps))
    base = owner.inputs[0]
    while base.owner is not None and isinstance(base.owner.op, Subtensor) and len(base.owner.inputs) == 1 \
            and _whole_axis(base.owner.op.index[0]):
        base = base.owner.inputs[0]
    return ("length", id(base))


def _whole_axis(entry: tuple) -> bool:
    """``[:]``, ``[0:]`` or ``[::-1]``: a slice keeping every element of its axis."""
    if entry[0] != "slice" or entry[2] is not None:
        return False
    _, start, _, step = entry
    return (step in (None, 1) and start in (None, 0)) or (step == -1 and start is None)


def merge_two(a: Apply, b: Apply) -> tuple[Scan, list[Variable], Callable]:
    """The merged op, its outer inputs, and ``split``: the merged node's outputs -> ``a``'s then ``b``'s."""
    sa, sb = a.op.spec, b.op.spec
    seq_outer = [a.inputs[p] for p in sa.outer_sequences()]
    shared = {}
    b_seq_inner = []
    for i, p in enumerate(sb.outer_sequences()):
        outer = b.inputs[p]
        match = next((k for k, v in enumerate(seq_outer) if v is outer), None)
        if match is not None and match < sa.n_seqs:
            shared[b.op.inner_inputs[i]] = a.op.inner_inputs[match]
        else:
            b_seq_inner.append(b.op.inner_inputs[i])
            seq_outer.append(outer)
    b_outputs = clone_replace(b.op.inner_outputs, shared, strict=False) if shared else list(b.op.inner_outputs)

    def tap_inputs(node: Apply) -> list[Variable]:
        spec = node.op.spec
        return [node.op.inner_inputs[i] for k in range(spec.n_recurrent) for i in spec.inner_taps(k)]

    def inputs_in(node: Apply, positions: range) -> list[Variable]:
        return [node.op.inner_inputs[i] for i in positions]

    inner_inputs = list(a.op.inner_inputs[:sa.n_seqs]) + b_seq_inner + tap_inputs(a) + tap_inputs(b)
    inner_inputs += inputs_in(a, sa.inner_carried()) + inputs_in(b, sb.inner_carried())
    inner_inputs += inputs_in(a, sa.inner_nonseqs()) + inputs_in(b, sb.inner_nonseqs())
    a_out, b_out = list(a.op.inner_outputs), b_outputs
    outputs = a_out[:sa.n_recurrent] + b_out[:sb.n_recurrent]
    outputs += [a_out[j] for j in sa.mapped_outputs()] + [b_out[j] for j in sb.mapped_outputs()]
    outputs += [a_out[c] for c in sa.carried_outputs()] + [b_out[c] for c in sb.carried_outputs()]
    spec = ScanSpec(
        n_seqs=len(seq_outer), taps=sa.taps + sb.taps, n_mapped=sa.n_mapped + sb.n_mapped,
        n_carried=sa.n_carried + sb.n_carried, n_nonseqs=sa.n_nonseqs + sb.n_nonseqs,
        keep_last=sa.keep_last + sb.keep_last, truncate_gradient=sa.truncate_gradient,
    )
    op = Scan(*clone_graph(inner_inputs, outputs), spec, f"{a.op.name}+{b.op.name}")
    outer = [a.inputs[0], *seq_outer]
    for ranges in ("outer_inits", "outer_carried", "outer_nonseqs"):
        outer += [a.inputs[p] for p in getattr(sa, ranges)()] + [b.inputs[p] for p in getattr(sb, ranges)()]

    def split(merged: list[Variable]) -> list[Variable]:
        groups = []
        for count_a, count_b in ((sa.n_recurrent, sb.n_recurrent), (sa.n_mapped, sb.n_mapped),
                                 (sa.n_carried, sb.n_carried)):
            groups.append((merged[:count_a], merged[count_a:count_a + count_b]))
            merged = merged[count_a + count_b:]
        return [v for g in groups for v in g[0]] + [v for g in groups for v in g[1]]

    return op, outer, split
