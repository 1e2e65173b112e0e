"""Derivatives of ``Scan``: backpropagation through time as a reverse scan.

Reverse mode (``scan_lop``).  One step's vector-Jacobian product is built
symbolically on the step's inner graph (``grad`` with the output gradients
as seeds).  A second scan runs it from the last step to the first, over:

- the forward sequences, the values each step read at its taps (the
  initial buffer followed by the recorded outputs), the generator states
  each step saw (when the gradient recomputes a draw), and the output
  gradients, all reversed;
- one *accumulator* per float recurrent output, shape ``(max lag, *state)``:
  row i holds what later steps sent back to the value i steps before the
  current one.  Row 0 plus the output's own gradient is the whole gradient
  of the current value; the step shifts the rows by one and adds what it
  sends to each tap.  After the loop the rows are the gradient of the
  initial buffer (reversed);
- one accumulator per float non-sequence (summed over steps);
- the gradient of each sequence slice, as a mapped output.

The accumulators keep only their last value (``keep_last``).  The reverse
scan is an ordinary Scan, so it has a gradient of its own (second order),
and the rewrites optimize it like any other loop.  ``truncate_gradient=k``
runs only the last k steps backwards: earlier sequence steps and the
initial values then get zero gradient, as in Theano.

The step is recomputed inside the reverse loop from its recorded inputs,
except its matrix products (``PRODUCTS``): the forward loop records their
values, so backpropagation costs no second pass of an RNN's products.  When
the forward op kept only the last value of an output (``keep_last``), the
gradient recomputes a random draw or reads a product, a recording twin of
the forward loop (every value kept; the states each step saw and the
products as extra mapped outputs) supplies what is missing; the rewrite
``scan_merge_twins`` then computes the node's own outputs from the twin,
so the forward loop still runs once.

Forward mode (``scan_rop``) is a scan that carries each value's tangent
along with it: the step's inputs and outputs are doubled with their
directional derivatives (``Rop`` on the inner graph).
"""

from __future__ import annotations

from collections.abc import Sequence

from theanine.graph import ops
from theanine.graph.basic import Variable, ancestors, apply_nodes, clone_replace, graph_inputs
from theanine.graph.gradient import Rop, grad
from theanine.graph.ops.creation import zeros, zeros_like
from theanine.graph.ops.join import concatenate, stack
from theanine.graph.ops.math import eq, minimum, where
from theanine.graph.ops.subtensor import set_subtensor
from theanine.graph.test_values import without_test_values
from theanine.graph.type import is_float

__all__ = ["scan_lop", "scan_rop"]

PRODUCTS = frozenset({"MatMul", "Dot", "Gemm", "Gemv", "Conv", "ConvTranspose"})
"""Op classes whose results the reverse loop reads from the forward loop instead of recomputing."""


# ------------------------------------------------------------------------------ reverse mode


class _StepVJP:
    """One step's vector-Jacobian product on the forward op's inner graph."""

    def __init__(self, op):
        spec = op.spec
        self.op = op
        outs = op.inner_outputs
        self.rec_seeded = [k for k in range(spec.n_recurrent) if is_float(outs[k].dtype)]
        self.map_seeded = [j for j in spec.mapped_outputs() if is_float(outs[j].dtype)]
        taps = [i for k in range(spec.n_recurrent) for i in spec.inner_taps(k)]
        candidates = list(range(spec.n_seqs)) + taps + list(spec.inner_nonseqs())
        self.wrt = [i for i in candidates if is_float(op.inner_inputs[i].dtype)]
        with without_test_values():
            self.seeds = {k: outs[k].type(f"g_out{k}") for k in self.rec_seeded + self.map_seeded}
            known: dict[Variable, Variable] = {}
            for k, seed in self.seeds.items():
                known[outs[k]] = known[outs[k]] + seed if outs[k] in known else seed
            wrt_vars = [op.inner_inputs[i] for i in self.wrt]
            grads = grad(None, wrt_vars, known_grads=known, disconnected_inputs="ignore") if known and wrt_vars else []
        self.grads = dict(zip(self.wrt, grads, strict=True))
        present = list(self.grads.values())
        carried = {id(op.inner_inputs[i]) for i in spec.inner_carried()}
        self.needs_states = any(id(v) in carried for v in graph_inputs(present))
        self.residuals = _products_read_by(op, present)

    def grad_of(self, position: int) -> Variable | None:
        return self.grads.get(position)


def scan_lop(op, inputs: Sequence[Variable], outputs: Sequence[Variable], output_grads: Sequence[Variable]):
    """The gradient of every outer input of a Scan node (None where there is none)."""
    spec = op.spec
    results: list[Variable | None] = [None] * len(inputs)
    vjp = _vjp_of(op)
    if not vjp.seeds or not vjp.wrt:
        return results
    recorded, traces = _recorded_values(op, vjp, inputs, outputs)
    n = outputs[-1] if spec.until else inputs[0]
    n_back = n if spec.truncate_gradient == -1 else minimum(n, spec.truncate_gradient)
    reverse = _ReverseLoop(op, vjp, inputs, recorded, traces, output_grads, n)
    accumulators, seq_grads = reverse.run(n_back)
    complete = eq(n_back, n)
    for k, acc in zip(vjp.rec_seeded, accumulators[: len(vjp.rec_seeded)], strict=True):
        position = spec.outer_inits()[k]
        results[position] = _initial_gradient(inputs[position], spec.max_lag(k), acc[::-1], complete)
    nonseq_accs = accumulators[len(vjp.rec_seeded):]
    for i, acc in zip(reverse.nonseq_wrt, nonseq_accs, strict=True):
        results[spec.outer_nonseqs()[i - spec.inner_nonseqs().start]] = acc
    for i, g in zip(reverse.seq_wrt, seq_grads, strict=True):
        seq = inputs[1 + i]
        results[1 + i] = set_subtensor(zeros_like(seq)[n - n_back: n], g[::-1])
    return results


def _products_read_by(op, grads: list[Variable]) -> list[Variable]:
    """The step's matrix products whose values the step's gradient reads: recorded by the forward
    loop rather than recomputed by the reverse one (an RNN's pre-activations)."""
    forward = {id(v) for v in ancestors(op.inner_outputs, stop=op.inner_inputs)}
    found = []
    for node in apply_nodes(grads, stop=op.inner_inputs):
        out = node.outputs[0]
        if type(node.op).__name__ in PRODUCTS and id(out) in forward and is_float(out.dtype):
            found.append(out)
    return found


def _vjp_of(op) -> _StepVJP:
    cached = op.__dict__.get("_step_vjp")
    if cached is None:
        cached = op.__dict__["_step_vjp"] = _StepVJP(op)
    return cached


def _initial_gradient(init: Variable, lag: int, rows: Variable, complete: Variable) -> Variable:
    """The gradient of an initial buffer from the accumulator's rows (zero after truncation)."""
    rows = where(complete, rows, zeros_like(rows))
    if init.type.shape[0] == lag:
        return rows
    return set_subtensor(zeros_like(init)[-lag:], rows)


def _recorded_values(op, vjp: _StepVJP, inputs, outputs) -> tuple[list[Variable], list[Variable]]:
    """Every step's value of each recurrent output, then the traces: the carried states each step
    saw (when the gradient recomputes a draw) and the step's products the gradient reads, from the
    node itself when it kept everything, else from a recording twin of it (which the rewrites
    then use in place of the node: ``recording_of``)."""
    spec = op.spec
    if not any(spec.keep_last) and not vjp.needs_states and not vjp.residuals:
        return list(outputs[: spec.n_recurrent]), []
    traced = [op.inner_inputs[i] for i in spec.inner_carried()] if vjp.needs_states else []
    traced += vjp.residuals
    inner_outputs = list(op.inner_outputs)
    at = spec.mapped_outputs().stop
    inner_outputs[at:at] = traced
    twin_spec = ops.scan_op.ScanSpec(
        n_seqs=spec.n_seqs, taps=spec.taps, n_mapped=spec.n_mapped + len(traced), n_carried=spec.n_carried,
        n_nonseqs=spec.n_nonseqs, until=spec.until, truncate_gradient=spec.truncate_gradient,
    )
    twin = ops.scan_op.Scan(op.inner_inputs, inner_outputs, twin_spec, f"{op.name}_record")
    twin.recording_of = op
    twin_outputs = twin.apply(*inputs).outputs
    return list(twin_outputs[: spec.n_recurrent]), list(twin_outputs[at:at + len(traced)])


class _ReverseLoop:
    """Builds the reverse scan (see the module docstring)."""

    def __init__(self, op, vjp: _StepVJP, inputs, recorded, traces, output_grads, n):
        self.op, self.vjp, self.spec = op, vjp, op.spec
        spec = self.spec
        self.n = n
        self.seq_wrt = [i for i in range(spec.n_seqs) if i in vjp.grads]
        self.nonseq_wrt = [i for i in spec.inner_nonseqs() if i in vjp.grads]
        self.sequences = [inputs[1 + i][:n][::-1] for i in range(spec.n_seqs)]
        for k in range(spec.n_recurrent):
            lag = spec.max_lag(k)
            full = concatenate([inputs[spec.outer_inits()[k]][-lag:], recorded[k]], axis=0)
            self.sequences += [full[lag - tap: lag - tap + n][::-1] for tap in spec.taps[k]]
        self.sequences += [t[:n][::-1] for t in traces]
        self.full_grads = [k for k in vjp.rec_seeded if not spec.keep_last[k]]
        self.sequences += [output_grads[k][:n][::-1] for k in self.full_grads]
        self.sequences += [output_grads[j][::-1] for j in vjp.map_seeded]
        self.initials = [self._accumulator_start(k, inputs, output_grads) for k in vjp.rec_seeded]
        self.initials += [zeros_like(inputs[spec.outer_nonseqs()[i - spec.inner_nonseqs().start]])
                          for i in self.nonseq_wrt]
        self.nonseqs = [inputs[p] for p in spec.outer_nonseqs()]
        self.n_traces = len(traces)

    def _accumulator_start(self, k: int, inputs, output_grads) -> Variable:
        spec = self.spec
        init = inputs[spec.outer_inits()[k]]
        start = zeros((spec.max_lag(k), *[init.shape[a] for a in range(1, init.ndim)]), dtype=init.dtype)
        if spec.keep_last[k]:
            start = set_subtensor(start[0], output_grads[k][0])
        return start

    def run(self, n_back: Variable) -> tuple[list[Variable], list[Variable]]:
        n_acc = len(self.initials)
        outputs_info = [dict(initial=a, taps=[-1]) for a in self.initials] + [None] * len(self.seq_wrt)
        outputs, _ = ops.scan.scan(self._step, sequences=self.sequences, outputs_info=outputs_info,
                                   non_sequences=self.nonseqs, n_steps=n_back, name=f"grad_{self.op.name}",
                                   return_list=True)
        node = outputs[0].owner
        keep = tuple([True] * n_acc)
        last = node.op.with_spec(keep_last=keep).apply(*node.inputs).outputs
        return [o[0] for o in last[:n_acc]], list(last[n_acc:n_acc + len(self.seq_wrt)])

    def _step(self, *args):
        spec, vjp, op = self.spec, self.vjp, self.op
        args = list(args)
        seqs, args = args[: spec.n_seqs], args[spec.n_seqs:]
        n_taps = sum(len(t) for t in spec.taps)
        taps, args = args[:n_taps], args[n_taps:]
        traces, args = args[: self.n_traces], args[self.n_traces:]
        full_g, args = args[: len(self.full_grads)], args[len(self.full_grads):]
        map_g, args = args[: len(vjp.map_seeded)], args[len(vjp.map_seeded):]
        accs, nonseqs = args[: len(self.initials)], args[len(self.initials):]
        replace = dict(zip(op.inner_inputs[: spec.n_seqs], seqs, strict=True))
        tap_inputs = [op.inner_inputs[i] for k in range(spec.n_recurrent) for i in spec.inner_taps(k)]
        replace.update(zip(tap_inputs, taps, strict=True))
        if self.vjp.needs_states:
            states = traces[:spec.n_carried]
            replace.update(zip([op.inner_inputs[i] for i in spec.inner_carried()], states, strict=True))
        replace.update(zip(self.vjp.residuals, traces[len(traces) - len(self.vjp.residuals):], strict=True))
        replace.update(zip([op.inner_inputs[i] for i in spec.inner_nonseqs()], nonseqs, strict=True))
        given = dict(zip(self.full_grads, full_g, strict=True))
        n_rec = len(vjp.rec_seeded)
        for k, acc in zip(vjp.rec_seeded, accs[:n_rec], strict=True):
            replace[vjp.seeds[k]] = acc[0] + given[k] if k in given else acc[0]
        replace.update({vjp.seeds[j]: g for j, g in zip(vjp.map_seeded, map_g, strict=True)})
        wanted = list(vjp.grads)
        rebuilt = dict(zip(wanted, clone_replace([vjp.grads[i] for i in wanted], replace, strict=False), strict=True))
        new_accs = [self._shifted(k, acc, rebuilt) for k, acc in zip(vjp.rec_seeded, accs[:n_rec], strict=True)]
        new_accs += [acc + rebuilt[i] for i, acc in zip(self.nonseq_wrt, accs[n_rec:], strict=True)]
        return new_accs + [rebuilt[i] for i in self.seq_wrt]

    def _shifted(self, k: int, acc: Variable, rebuilt: dict) -> Variable:
        """The accumulator of the previous step: rows moved up one, plus what this step sends to each tap."""
        spec = self.spec
        lag = spec.max_lag(k)
        sent = {tap: rebuilt.get(i) for tap, i in zip(spec.taps[k], spec.inner_taps(k), strict=True)}
        rows = []
        for row in range(lag):
            terms = [acc[row + 1]] if row + 1 < lag else []
            if sent.get(row + 1) is not None:
                terms.append(sent[row + 1])
            total = terms[0] if terms else zeros_like(acc[0])
            for term in terms[1:]:
                total = total + term
            rows.append(total)
        return stack(rows)


# ------------------------------------------------------------------------------ forward mode


def scan_rop(op, inputs: Sequence[Variable], eval_points: Sequence[Variable | None]):
    """Directional derivatives of a Scan's outputs: a scan carrying tangents.

    A step that draws random numbers has no forward mode here (NotImplementedError: ``Rop``
    then goes through the reverse mode)."""
    spec = op.spec
    results: list[Variable | None] = [None] * spec.n_outer_outputs
    if spec.n_carried:
        raise NotImplementedError(f"{op}: forward mode through a loop with carried states")
    float_rec = [k for k in range(spec.n_recurrent) if is_float(op.inner_outputs[k].dtype)]
    float_map = [j for j in spec.mapped_outputs() if is_float(op.inner_outputs[j].dtype)]
    if all(p is None for p in eval_points) or not (float_rec or float_map):
        return results
    outputs = _TangentLoop(op, inputs, eval_points, float_rec, float_map).run()
    for k, out in zip(float_rec + float_map, outputs, strict=True):
        results[k] = out
    return results


def _initial_argument(init: Variable, lags: tuple[int, ...]) -> dict:
    """An ``outputs_info`` entry for a recurrent output whose initial buffer is ``init``."""
    if lags == (1,):
        return dict(initial=init[-1], taps=[-1])
    return dict(initial=init, taps=[-lag for lag in lags])


class _TangentLoop:
    """The loop over values and their tangents: recurrent values, recurrent tangents, mapped values,
    mapped tangents."""

    def __init__(self, op, inputs, eval_points, float_rec, float_map):
        self.op, self.spec, self.inputs = op, op.spec, inputs
        spec = self.spec
        self.float_rec, self.float_map = float_rec, float_map

        def point(p: int) -> Variable:
            return eval_points[p] if eval_points[p] is not None else zeros_like(inputs[p])

        self.float_seqs = [i for i in range(spec.n_seqs) if is_float(inputs[1 + i].dtype)]
        self.seq_points = [point(1 + i) for i in self.float_seqs]
        self.init_points = [point(spec.outer_inits()[k]) for k in float_rec]
        self.float_nonseqs = [i for i in spec.inner_nonseqs() if is_float(op.inner_inputs[i].dtype)]
        self.nonseq_points = [point(spec.outer_nonseqs()[i - spec.inner_nonseqs().start]) for i in self.float_nonseqs]

    def run(self) -> list[Variable]:
        spec, inputs = self.spec, self.inputs
        sequences = [inputs[p] for p in spec.outer_sequences()] + self.seq_points
        outputs_info = [_initial_argument(inputs[spec.outer_inits()[k]], spec.taps[k]) for k in range(spec.n_recurrent)]
        outputs_info += [_initial_argument(p, spec.taps[k]) for k, p in zip(self.float_rec, self.init_points,
                                                                              strict=True)]
        outputs_info += [None] * (spec.n_mapped + len(self.float_map))
        nonseqs = [inputs[p] for p in spec.outer_nonseqs()] + self.nonseq_points
        outputs, _ = ops.scan.scan(self._step, sequences=sequences, outputs_info=outputs_info, non_sequences=nonseqs,
                                   n_steps=inputs[0], name=f"rop_{self.op.name}", return_list=True)
        n_rec, n_dots = spec.n_recurrent, len(self.float_rec)
        rec_tangents = outputs[n_rec: n_rec + n_dots]
        map_tangents = outputs[n_rec + n_dots + spec.n_mapped:]
        return [t[-1:] if spec.keep_last[k] else t for k, t in zip(self.float_rec, rec_tangents, strict=True)] + \
            map_tangents

    def _step(self, *args):
        spec, op = self.spec, self.op
        inner = op.inner_inputs
        args = list(args)
        n_taps = sum(len(t) for t in spec.taps)
        n_tap_dots = sum(len(spec.taps[k]) for k in self.float_rec)
        sizes = [spec.n_seqs, len(self.float_seqs), n_taps, n_tap_dots, spec.n_nonseqs, len(self.float_nonseqs)]
        seqs, seq_dots, taps, tap_dots, nonseqs, nonseq_dots = _split(args, sizes)
        replace = dict(zip(inner[: spec.n_seqs], seqs, strict=True))
        replace.update(zip([inner[i] for k in range(spec.n_recurrent) for i in spec.inner_taps(k)], taps, strict=True))
        replace.update(zip([inner[i] for i in spec.inner_nonseqs()], nonseqs, strict=True))
        wrt = [inner[i] for i in self.float_seqs] + [inner[i] for k in self.float_rec for i in spec.inner_taps(k)]
        wrt += [inner[i] for i in self.float_nonseqs]
        points = seq_dots + tap_dots + nonseq_dots
        outs = op.inner_outputs
        with without_test_values():
            dots = [w.type(f"dot{i}") for i, w in enumerate(wrt)]
            tangents = Rop([outs[k] for k in self.float_rec + self.float_map], wrt, dots)
        replace.update(zip(dots, points, strict=True))
        values = [outs[k] for k in range(spec.n_recurrent)] + [outs[j] for j in spec.mapped_outputs()]
        rebuilt = clone_replace(values + list(tangents), replace, strict=False)
        n_rec, n_dots = spec.n_recurrent, len(self.float_rec)
        rec_values, map_values = rebuilt[:n_rec], rebuilt[n_rec: n_rec + spec.n_mapped]
        dots_out = rebuilt[n_rec + spec.n_mapped:]
        return rec_values + dots_out[:n_dots] + map_values + dots_out[n_dots:]


def _split(items: list, sizes: Sequence[int]) -> list[list]:
    parts, start = [], 0
    for size in sizes:
        parts.append(items[start:start + size])
        start += size
    return parts
