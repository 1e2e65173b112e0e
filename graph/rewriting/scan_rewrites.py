"""Rewrites of loops: optimize the step, move loop-invariant work out, keep only what is read.

Two graph rewriters of the ``stabilize`` phase (so the work they move out
of a loop still meets the outer graph's ``specialize`` and ``fusion``):

``scan_optimize`` handles each ``Scan`` node's step:

1. the step's inner graph goes through ``canonicalize`` and ``stabilize``
   (constant folding, algebraic simplification, stable forms);
2. *push-out*: a node of the step whose inputs are all invariant
   (non-sequences, constants, results of invariant nodes) is computed once
   before the loop and read as a new non-sequence; a node whose inputs are
   sequence slices and invariants, of an op that extends over a leading
   axis (elementwise ops, DimShuffle, a matrix product of a slice by an
   invariant matrix), is computed for all steps at once before the loop and
   read as a new sequence.  So in an RNN ``x_t @ W_ih`` becomes one matrix
   product of the whole input sequence.  Random draws never move, nor
   constant fills (``zeros_like``), which cost nothing to keep.
   Sequences and non-sequences the step no longer reads are dropped;
3. *sums*: an accumulator (``acc + term`` of which only the last value is
   kept, as in a gradient through time) becomes a mapped output summed
   after the loop (``scan_sums``); a mapped output that returns a
   sequence's slice as it is becomes that sequence (``scan_pass_through``);
4. the step goes through ``specialize``, ``fusion`` and ``inplace`` (BLAS
   forms, fused elementwise kernels, results written over dead values),
   after the push-out so fusion cannot bury a movable product inside a
   loop-carried kernel.

What fired inside each step is recorded in the outer report as
``<loop name>/<rewrite>`` (``th.explain(f)`` lists it).  Nested loops are
handled by the same rewriter when the step's own phases run.

Run before it: ``scan_merge_twins`` lets a loop and the recording twin a
gradient made of it run once; ``scan_prune_outputs`` drops mapped outputs nothing reads
(with the work computing them); ``scan_save_memory`` makes a recurrent
output read only as ``out[-1]`` keep just its last value (``keep_last``)
instead of every step's, so that step 3 sees it; ``scan_merge`` makes
loops of the same length one loop (``scan_merge.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace as replace_spec

from theanine.graph.basic import Apply, Constant, Variable, apply_nodes, clone_graph, clone_replace
from theanine.graph.fgraph import OUTPUT, FunctionGraph
from theanine.graph.ops.elemwise import Elemwise
from theanine.graph.ops.join import concatenate
from theanine.graph.ops.linalg import MatMul
from theanine.graph.ops.reshape import reshape
from theanine.graph.ops.scan_op import Scan, ScanSpec
from theanine.graph.ops.shape import DimShuffle
from theanine.graph.ops.shape_values import shape_i, static_int
from theanine.graph.ops.subtensor import Subtensor
from theanine.graph.rewriting.db import register, run_phases
from theanine.graph.rewriting.report import PhaseReport, RewriteReport
from theanine.graph.rewriting.scan_merge import scan_merge
from theanine.graph.rewriting.scan_sums import push_out_sums
from theanine.graph.rewriting.utils import elemwise_op, uniform_constant

__all__ = ["optimize_step", "push_out"]

FIRST_PHASES = ("canonicalize", "stabilize")
INLINED_CONSTANT_SIZE = 16
LAST_PHASES = ("specialize", "fusion", "inplace")


# ------------------------------------------------------------------------------ unread outputs and memory


@register("stabilize")
def scan_merge_twins(fgraph: FunctionGraph, report: PhaseReport) -> None:
    """A loop and its recording twin (built by the gradient: the same step and inputs, every value
    kept, extra mapped outputs) run once: the loop's outputs are taken from the twin."""
    for twin in fgraph.toposort():
        original = getattr(twin.op, "recording_of", None)
        if original is None or twin not in fgraph.apply_nodes:
            continue
        for node in [n for n in fgraph.apply_nodes if n.op == original and n is not twin]:
            if [id(v) for v in node.inputs] == [id(v) for v in twin.inputs]:
                fgraph.replace_all(zip(node.outputs, _from_twin(node, twin.outputs), strict=True),
                                   reason="scan_merge_twins")
                report.record("scan_merge_twins")


def _from_twin(node: Apply, twin_outputs: list[Variable]) -> list[Variable]:
    """``node``'s outputs computed from its twin's: a kept-last output is the twin's last row (the
    initial value's last row when no step ran); the extra mapped outputs are skipped."""
    spec = node.op.spec
    extra = len(twin_outputs) - spec.n_outer_outputs
    results = []
    for k in range(spec.n_recurrent):
        history = twin_outputs[k]
        if spec.keep_last[k]:
            steps = static_int(node.inputs[0])
            if steps is None or steps == 0 or spec.until:
                history = concatenate([node.inputs[spec.outer_inits()[k]][-1:], history], axis=0)
            history = DimShuffle(("x", *range(history.ndim - 1)))(history[-1])
        results.append(history)
    mapped_end = spec.mapped_outputs().stop
    return results + twin_outputs[spec.n_recurrent:mapped_end] + twin_outputs[mapped_end + extra:]


@register("stabilize")
def scan_prune_outputs(fgraph: FunctionGraph, report: PhaseReport) -> None:
    """Mapped outputs that nothing reads leave the loop, and the step's work for them with them
    (a gradient through time computes each step's input gradient, read only when asked for)."""
    for node in fgraph.toposort():
        if not isinstance(node.op, Scan) or node not in fgraph.apply_nodes:
            continue
        op, spec = node.op, node.op.spec
        unread = [j for j in spec.mapped_outputs() if not fgraph.clients.get(node.outputs[j])]
        if not unread:
            continue
        outputs = [o for j, o in enumerate(op.inner_outputs) if j not in unread]
        new_spec = replace_spec(spec, n_mapped=spec.n_mapped - len(unread))
        new_op = Scan(*clone_graph(op.inner_inputs, outputs), new_spec, op.name)
        new_outputs = iter(new_op.apply(*node.inputs).outputs)
        pairs = [(old, next(new_outputs)) for j, old in enumerate(node.outputs) if j not in unread]
        fgraph.replace_all(pairs, reason="scan_prune_outputs")
        report.record("scan_prune_outputs", len(unread))



def _reads_last_only(fgraph: FunctionGraph, var: Variable) -> bool:
    clients = list(fgraph.clients[var])
    if not clients:
        return False
    for node, _ in clients:
        if node == OUTPUT or not isinstance(node.op, Subtensor) or len(node.inputs) != 1:
            return False
        if node.op.index != (("int", -1),):
            return False
    return True


@register("stabilize")
def scan_save_memory(fgraph: FunctionGraph, report: PhaseReport) -> None:
    """A recurrent output read only as ``out[-1]`` keeps one value instead of every step's."""
    for node in fgraph.toposort():
        if not isinstance(node.op, Scan) or node not in fgraph.apply_nodes:
            continue
        spec = node.op.spec
        last = [k for k in range(spec.n_recurrent) if not spec.keep_last[k] and
                _reads_last_only(fgraph, node.outputs[k])]
        if not last:
            continue
        keep = tuple(spec.keep_last[k] or k in last for k in range(spec.n_recurrent))
        new_op = node.op.with_spec(keep_last=keep)
        new_op.optimized = getattr(node.op, "optimized", False)
        new_node = new_op.apply(*node.inputs)
        pairs = []
        for j, (old, new) in enumerate(zip(node.outputs, new_node.outputs, strict=True)):
            if j in last:
                pairs += [(client.outputs[0], new[-1]) for client, _ in list(fgraph.clients[old])]
            else:
                pairs.append((old, new))
        fgraph.replace_all(pairs, reason="scan_save_memory")
        report.record("scan_save_memory", len(last))


register("stabilize")(scan_merge)


@register("stabilize")
def scan_optimize(fgraph: FunctionGraph, report: PhaseReport) -> None:
    """Optimize every loop's step and move its invariant work and its sums out (module docstring)."""
    for node in fgraph.toposort():
        if not isinstance(node.op, Scan) or getattr(node.op, "optimized", False) or node not in fgraph.apply_nodes:
            continue
        replacements = optimize_step(node, report)
        fgraph.replace_all(zip(node.outputs, replacements, strict=True), reason="scan_optimize")
        report.record("scan_optimize")


def optimize_step(node: Apply, report: PhaseReport | None = None) -> list[Variable]:
    """A replacement for each output of ``node``: the outputs of a loop with an optimized step,
    or sums computed from them after the loop."""
    op, inputs = inline_constants(node.op, list(node.inputs))
    inner = _run_inner(op.inner_inputs, op.inner_outputs, FIRST_PHASES, op.name, report)
    op = Scan(*inner, op.spec, op.name)
    op, inputs, moved = push_out(op, inputs)
    op, inputs, finish, summed = push_out_sums(op, inputs)
    op, inputs, finish_through, passed = pass_through(op, inputs)
    if report is not None:
        for rewrite, count in (("scan_push_out", moved), ("scan_push_out_sums", summed),
                               ("scan_pass_through", passed)):
            if count:
                report.record(rewrite, count)
    inner = _run_inner(op.inner_inputs, op.inner_outputs, LAST_PHASES, op.name, report)
    optimized = Scan(*inner, op.spec, op.name)
    optimized.optimized = True
    return finish(finish_through(optimized.apply(*inputs).outputs))


def inline_constants(op: Scan, outer: list[Variable]) -> tuple[Scan, list[Variable]]:
    """Non-sequences that are small constants (a gradient's zeros, a literal scale) become
    constants of the step, so its rewrites see their values."""
    spec = op.spec
    inlined = {i: outer[p] for i, p in zip(spec.inner_nonseqs(), spec.outer_nonseqs(), strict=True)
               if isinstance(outer[p], Constant) and outer[p].data.size <= INLINED_CONSTANT_SIZE}
    if not inlined:
        return op, outer
    replace = {op.inner_inputs[i]: value for i, value in inlined.items()}
    outputs = clone_replace(op.inner_outputs, replace, strict=False)
    inputs = [v for i, v in enumerate(op.inner_inputs) if i not in inlined]
    offset = spec.outer_nonseqs().start - spec.inner_nonseqs().start
    new_outer = [v for p, v in enumerate(outer) if p - offset not in inlined or p < spec.outer_nonseqs().start]
    new_spec = replace_spec(spec, n_nonseqs=spec.n_nonseqs - len(inlined))
    return Scan(*clone_graph(inputs, outputs), new_spec, op.name), new_outer


def _run_inner(inputs, outputs, phases, name: str, report: PhaseReport | None):
    fgraph = FunctionGraph(inputs, outputs, outputs_copied=True)
    inner_report = RewriteReport("scan step")
    run_phases(fgraph, phases, inner_report)
    if report is not None:
        for rewrite, count in inner_report.fired.items():
            report.record(f"{name}/{rewrite}", count)
    return fgraph.inputs, fgraph.outputs


# ------------------------------------------------------------------------------ push-out


INVARIANT, SEQUENCE = "invariant", "sequence"
SECOND = elemwise_op("second")


class _PushOut:
    """Classifies the step's nodes and builds their outer counterparts."""

    def __init__(self, op: Scan, outer_inputs: list[Variable]):
        self.op, self.spec, self.outer_inputs = op, op.spec, outer_inputs
        spec = op.spec
        n = outer_inputs[0]
        self.kind: dict[int, str] = {}
        self.outer: dict[int, Variable] = {}
        for i in range(spec.n_seqs):
            self._mark(op.inner_inputs[i], SEQUENCE, outer_inputs[1 + i][:n])
        for i, p in zip(spec.inner_nonseqs(), spec.outer_nonseqs(), strict=True):
            self._mark(op.inner_inputs[i], INVARIANT, outer_inputs[p])
        self.nodes = apply_nodes(op.inner_outputs, stop=op.inner_inputs)
        for inner_node in self.nodes:
            self._classify(inner_node)

    def _mark(self, var: Variable, kind: str, outer: Variable) -> None:
        self.kind[id(var)] = kind
        self.outer[id(var)] = outer

    def _kind_of(self, var: Variable) -> str | None:
        return INVARIANT if isinstance(var, Constant) else self.kind.get(id(var))

    def _outer_of(self, var: Variable) -> Variable:
        return var if isinstance(var, Constant) else self.outer[id(var)]

    def _classify(self, node: Apply) -> None:
        if not getattr(node.op, "deterministic", True) or _constant_fill(node):
            return
        kinds = [self._kind_of(v) for v in node.inputs]
        if any(k is None for k in kinds):
            return
        args = [self._outer_of(v) for v in node.inputs]
        invariant = all(k == INVARIANT for k in kinds)
        try:
            outer = node.clone_with_new_inputs(args).outputs if invariant else _over_steps(node, kinds, args)
        except (TypeError, ValueError):  # the outer values' static types do not fit the op: it stays
            return
        if outer is None:
            return
        if invariant:
            for out, value in zip(node.outputs, outer, strict=True):
                self._mark(out, INVARIANT, value)
        else:
            for out, value in zip(node.outputs, outer, strict=True):
                self._mark(out, SEQUENCE, value)

    def frontier(self) -> list[Variable]:
        """Moved variables read by a node that stays in the loop, or returned by the step."""
        moved_nodes = {id(n) for n in self.nodes if self._kind_of(n.outputs[0]) is not None}
        found: dict[int, Variable] = {}
        for node in self.nodes:
            if id(node) in moved_nodes:
                continue
            for var in node.inputs:
                if var.owner is not None and self._kind_of(var) is not None:
                    found.setdefault(id(var), var)
        for var in self.op.inner_outputs:
            if var.owner is not None and self._kind_of(var) is not None:
                found.setdefault(id(var), var)
        return list(found.values())


def _constant_fill(node: Apply) -> bool:
    """``second(x, c)`` of a constant ``c`` (``zeros_like``): it stays in the step, where it costs one
    fill and lets the step's rewrites see the zeros (an increment of zeros becomes in place)."""
    return node.op == SECOND and uniform_constant(node.inputs[1]) is not None


def _over_steps(node: Apply, kinds: Sequence[str], args: Sequence[Variable]) -> list[Variable] | None:
    """The node's op applied to whole sequences (a new leading axis), or None when it does not extend."""
    op = node.op
    if isinstance(op, Elemwise):
        return node.clone_with_new_inputs(list(args)).outputs
    if isinstance(op, DimShuffle):
        pattern = (0, *[p if p == "x" else p + 1 for p in op.pattern])
        return [DimShuffle(pattern)(args[0])]
    if isinstance(op, MatMul) and kinds[0] == SEQUENCE and kinds[1] == INVARIANT and node.inputs[1].ndim == 2:
        return [_steps_times_matrix(node, args[0], args[1])]
    return None


def _steps_times_matrix(node: Apply, steps: Variable, matrix: Variable) -> Variable:
    """``steps[t] @ matrix`` for every t as one product: the leading axes are flattened into rows."""
    if steps.ndim == 2:
        return MatMul()(steps, matrix)
    inner = steps.type.shape[-1]
    rows = reshape(steps, (-1, inner if inner is not None else shape_i(steps, steps.ndim - 1)))
    lead = [shape_i(steps, a) if steps.type.shape[a] is None else steps.type.shape[a] for a in range(steps.ndim - 1)]
    cols = matrix.type.shape[1] if matrix.type.shape[1] is not None else shape_i(matrix, 1)
    return reshape(MatMul()(rows, matrix), (*lead, cols))


def push_out(op: Scan, outer_inputs: list[Variable]) -> tuple[Scan, list[Variable], int]:
    """Move the step's invariant and per-step-vectorizable work out of the loop.

    Returns the new op, its outer inputs and how many variables were moved out.
    """
    spec = op.spec
    analysis = _PushOut(op, outer_inputs)
    frontier = analysis.frontier()
    new_seqs = [v for v in frontier if analysis.kind[id(v)] == SEQUENCE]
    new_nonseqs = [v for v in frontier if analysis.kind[id(v)] == INVARIANT]
    stand_ins = {v: v.type(v.name) for v in new_seqs + new_nonseqs}
    outputs = clone_replace(op.inner_outputs, stand_ins, strict=False) if stand_ins else list(op.inner_outputs)
    used = {id(v) for v in _read_inputs(outputs, list(op.inner_inputs) + list(stand_ins.values()))}
    seq_keep = [i for i in range(spec.n_seqs) if id(op.inner_inputs[i]) in used]
    nonseq_keep = [i for i in spec.inner_nonseqs() if id(op.inner_inputs[i]) in used]
    dropped = spec.n_seqs - len(seq_keep) + spec.n_nonseqs - len(nonseq_keep)
    if not stand_ins and not dropped:
        return op, outer_inputs, 0
    taps = [op.inner_inputs[i] for k in range(spec.n_recurrent) for i in spec.inner_taps(k)]
    inner_inputs = [op.inner_inputs[i] for i in seq_keep] + [stand_ins[v] for v in new_seqs] + taps
    inner_inputs += [op.inner_inputs[i] for i in spec.inner_carried()]
    inner_inputs += [op.inner_inputs[i] for i in nonseq_keep] + [stand_ins[v] for v in new_nonseqs]
    n = outer_inputs[0]
    new_outer = [n] + [outer_inputs[1 + i] for i in seq_keep] + [analysis.outer[id(v)] for v in new_seqs]
    new_outer += [outer_inputs[p] for p in spec.outer_inits()] + [outer_inputs[p] for p in spec.outer_carried()]
    offset = spec.outer_nonseqs().start - spec.inner_nonseqs().start
    new_outer += [outer_inputs[i + offset] for i in nonseq_keep] + [analysis.outer[id(v)] for v in new_nonseqs]
    new_spec = ScanSpec(
        n_seqs=len(seq_keep) + len(new_seqs), taps=spec.taps, n_mapped=spec.n_mapped, n_carried=spec.n_carried,
        n_nonseqs=len(nonseq_keep) + len(new_nonseqs), until=spec.until, keep_last=spec.keep_last,
        truncate_gradient=spec.truncate_gradient,
    )
    inner_inputs, outputs = clone_graph(inner_inputs, outputs)
    return Scan(inner_inputs, outputs, new_spec, op.name), new_outer, len(frontier)


def pass_through(op: Scan, outer: list[Variable]):
    """Mapped outputs that return a sequence's slice as it is (a product the push-out moved before
    the loop, recorded for a gradient) are that sequence: the loop stops copying it.  Not when no
    other output would be left: the loop then stays, to check that the sequences are long enough.
    Returns the op, its outer inputs, ``finish`` (new node's outputs -> the old node's) and the
    count."""
    spec = op.spec
    sequence_of = {id(op.inner_inputs[i]): i for i in range(spec.n_seqs)}
    through = {j: sequence_of[id(op.inner_outputs[j])] for j in spec.mapped_outputs()
               if id(op.inner_outputs[j]) in sequence_of}
    if not through or spec.until or len(through) == spec.n_outer_outputs:  # the loop stays to check lengths
        return op, outer, lambda outputs: outputs, 0
    outputs = [v for j, v in enumerate(op.inner_outputs) if j not in through]
    new_op = Scan(*clone_graph(op.inner_inputs, outputs), replace_spec(spec, n_mapped=spec.n_mapped - len(through)),
                  op.name)

    def finish(new_outputs: list[Variable]) -> list[Variable]:
        rest = iter(new_outputs)
        return [outer[1 + through[j]][:outer[0]] if j in through else next(rest) for j in range(len(op.inner_outputs))]

    return new_op, outer, finish, len(through)


def _read_inputs(outputs: Sequence[Variable], inputs: Sequence[Variable]) -> list[Variable]:
    ids = {id(v) for v in inputs}
    read = [v for v in outputs if id(v) in ids]
    for node in apply_nodes(outputs, stop=inputs):
        read += [v for v in node.inputs if id(v) in ids]
    return read
