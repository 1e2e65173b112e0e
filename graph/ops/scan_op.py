"""The ``Scan`` op: a loop whose body (the *step*) is an inner graph.

``th.scan`` (graph/ops/scan.py) builds it; this module holds the op and its
layout.  Each iteration ``t`` runs the step on:

- one slice ``s[t]`` of each *sequence* (a sequence with several taps was
  cut into one sequence per tap by ``th.scan``);
- for each *recurrent output* k, its values at the lags ``taps[k]`` (lag 1
  is the previous step's value; the first steps read the initial buffer,
  whose last row is lag 1 of step 0);
- the current value of each *carried state* (a random generator state, a
  shared variable the step updates): only its final value is an output;
- the *non-sequences*, the same at every step.

The step returns the new value of each recurrent output, the value of each
*mapped output* (not fed back), the new carried states and, for a ``while``
loop, a boolean condition: the loop stops after the first step at which it
is true.

Outer inputs:  ``[n_steps, *sequences, *initial buffers, *carried states, *non_sequences]``
Outer outputs: ``[*recurrent (steps, ...), *mapped (steps, ...), *final carried states, (n_run)]``

A recurrent output k keeps every step's value (shape ``(steps, *state)``)
unless ``keep_last[k]``: then only the last value is kept, shape
``(1, *state)`` (the last initial row when no step ran), in memory for
``len(taps)`` rows.  ``n_run``, the number of steps actually run, is an
output only for a while loop.

``perform`` runs the loop in NumPy through an ``InnerFunction`` (the step's
nodes prepared once per op).  The gradient is a reverse scan and the
forward derivative a scan carrying tangents (graph/ops/scan_grad.py).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from theanine.graph import ops
from theanine.graph.basic import Apply, Variable, apply_nodes, graph_inputs
from theanine.graph.op import Op
from theanine.graph.ops.inner_function import InnerFunction
from theanine.graph.ops.opfromgraph import _structure
from theanine.graph.ops.shape_values import static_int
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType, is_discrete, is_float

__all__ = ["Scan", "ScanSpec"]


@dataclass(frozen=True)
class ScanSpec:
    """The layout of a Scan: how many inputs and outputs of each kind, and the loop's options."""

    n_seqs: int
    taps: tuple[tuple[int, ...], ...]
    n_mapped: int
    n_carried: int
    n_nonseqs: int
    until: bool = False
    keep_last: tuple[bool, ...] = ()
    truncate_gradient: int = -1

    def __post_init__(self):
        if not self.keep_last:
            object.__setattr__(self, "keep_last", (False,) * len(self.taps))
        if len(self.keep_last) != len(self.taps):
            raise ValueError(f"ScanSpec: {len(self.keep_last)} keep_last flags for {len(self.taps)} recurrent outputs")
        for lags in self.taps:
            if not lags or any(lag < 1 for lag in lags):
                raise ValueError(f"ScanSpec: recurrent lags must be >= 1. Received: {lags}")

    @property
    def n_recurrent(self) -> int:
        return len(self.taps)

    def max_lag(self, k: int) -> int:
        return max(self.taps[k])

    # -- the outer inputs ----------------------------------------------------------------

    def outer_sequences(self) -> range:
        return range(1, 1 + self.n_seqs)

    def outer_inits(self) -> range:
        start = 1 + self.n_seqs
        return range(start, start + self.n_recurrent)

    def outer_carried(self) -> range:
        start = 1 + self.n_seqs + self.n_recurrent
        return range(start, start + self.n_carried)

    def outer_nonseqs(self) -> range:
        start = 1 + self.n_seqs + self.n_recurrent + self.n_carried
        return range(start, start + self.n_nonseqs)

    @property
    def n_outer_inputs(self) -> int:
        return 1 + self.n_seqs + self.n_recurrent + self.n_carried + self.n_nonseqs

    # -- the inner inputs ----------------------------------------------------------------

    def inner_taps(self, k: int) -> range:
        """Positions of recurrent output k's tap inputs (in ``taps[k]`` order)."""
        start = self.n_seqs + sum(len(t) for t in self.taps[:k])
        return range(start, start + len(self.taps[k]))

    def inner_carried(self) -> range:
        start = self.n_seqs + sum(len(t) for t in self.taps)
        return range(start, start + self.n_carried)

    def inner_nonseqs(self) -> range:
        start = self.inner_carried().stop
        return range(start, start + self.n_nonseqs)

    @property
    def n_inner_inputs(self) -> int:
        return self.inner_nonseqs().stop

    # -- the outputs (inner and outer share the order; the last differs) -------------------

    def mapped_outputs(self) -> range:
        return range(self.n_recurrent, self.n_recurrent + self.n_mapped)

    def carried_outputs(self) -> range:
        start = self.n_recurrent + self.n_mapped
        return range(start, start + self.n_carried)

    @property
    def n_inner_outputs(self) -> int:
        return self.n_recurrent + self.n_mapped + self.n_carried + int(self.until)

    @property
    def n_outer_outputs(self) -> int:
        return self.n_inner_outputs


class Scan(Op):
    """A loop over an inner graph; see the module docstring for the layout."""

    __props__ = ("spec", "signature")

    def __init__(self, inner_inputs: Sequence[Variable], inner_outputs: Sequence[Variable], spec: ScanSpec,
                 name: str = "scan"):
        self.inner_inputs = list(inner_inputs)
        self.inner_outputs = list(inner_outputs)
        self.spec = spec
        self.name = name
        if len(self.inner_inputs) != spec.n_inner_inputs or len(self.inner_outputs) != spec.n_inner_outputs:
            raise ValueError(
                f"Scan {name}: the layout wants {spec.n_inner_inputs} inner inputs and {spec.n_inner_outputs} "
                f"inner outputs. Received: {len(self.inner_inputs)} and {len(self.inner_outputs)}"
            )
        _check_inner_types(self)
        self.signature = _structure(self.inner_inputs, self.inner_outputs)
        self._hash = hash((type(self), spec, self.signature))

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        flags = "".join([",while" if self.spec.until else "", ",last" if any(self.spec.keep_last) else ""])
        return f"Scan{{{self.name}{flags}}}"

    __repr__ = __str__

    def inner_graphs(self):
        return [(self.inner_inputs, self.inner_outputs)]

    def with_spec(self, **changes) -> Scan:
        """The same step with some options of the layout changed (``keep_last``, ``truncate_gradient``)."""
        return Scan(self.inner_inputs, self.inner_outputs, replace(self.spec, **changes), self.name)

    @functools.cached_property
    def function(self) -> InnerFunction:
        """The step, prepared once (the first run of any node of this op)."""
        return InnerFunction(self.inner_inputs, self.inner_outputs)

    @functools.cached_property
    def deterministic(self) -> bool:
        """False when the step draws random numbers: its values must never be folded or hoisted."""
        return all(getattr(n.op, "deterministic", True) for n in apply_nodes(self.inner_outputs, self.inner_inputs))

    # ----------------------------------------------------------------------- make_node

    def make_node(self, n_steps, *inputs) -> Apply:
        spec = self.spec
        if len(inputs) + 1 != spec.n_outer_inputs:
            raise TypeError(f"{self} takes {spec.n_outer_inputs} inputs. Received: {len(inputs) + 1}")
        n_steps = as_tensor_variable(n_steps)
        if n_steps.ndim != 0 or not is_discrete(n_steps.dtype) or n_steps.dtype == "bool":
            raise TypeError(f"{self}: n_steps must be an integer scalar. Received: {n_steps.type}")
        if n_steps.dtype != "int64":
            n_steps = ops.math.cast(n_steps, "int64")
        outer = [n_steps] + [as_tensor_variable(v) for v in inputs]
        for position in range(1, len(outer)):
            outer[position] = self._check_outer(position, outer[position])
        steps = None if spec.until else static_int(n_steps)
        return Apply(self, outer, self._output_types(outer, steps))

    def _expected_outer_type(self, position: int) -> TensorType:
        """The type an outer input must fit (None where the layout does not fix the size)."""
        spec = self.spec
        if position in spec.outer_sequences():
            inner = self.inner_inputs[position - 1]
            return TensorType(inner.dtype, (None, *inner.type.shape))
        if position in spec.outer_inits():
            k = position - spec.outer_inits().start
            inner = self.inner_inputs[spec.inner_taps(k)[0]]
            return TensorType(inner.dtype, (spec.max_lag(k), *inner.type.shape))
        if position in spec.outer_carried():
            return self.inner_inputs[spec.inner_carried()[position - spec.outer_carried().start]].type
        return self.inner_inputs[spec.inner_nonseqs()[position - spec.outer_nonseqs().start]].type

    def _check_outer(self, position: int, var: Variable) -> Variable:
        expected = self._expected_outer_type(position)
        if var.dtype == expected.dtype and var.ndim == expected.ndim and expected.shape_compatible(var.type):
            return var
        raise TypeError(f"{self}: {self._role(position)} must have type {expected}. Received: {var.type}")

    def _role(self, position: int) -> str:
        spec = self.spec
        for name, positions in (("sequence", spec.outer_sequences()), ("initial buffer", spec.outer_inits()),
                                ("carried state", spec.outer_carried()), ("non-sequence", spec.outer_nonseqs())):
            if position in positions:
                return f"{name} {position - positions.start} (input {position})"
        return f"input {position}"

    def _output_types(self, outer: list[Variable], steps: int | None) -> list[TensorType]:
        spec = self.spec
        types = []
        for k in range(spec.n_recurrent):
            state = self.inner_inputs[spec.inner_taps(k)[0]].type
            init = outer[spec.outer_inits()[k]].type
            shape = tuple(i if i is not None else s for i, s in zip(init.shape[1:], state.shape, strict=True))
            types.append(TensorType(state.dtype, (1 if spec.keep_last[k] else steps, *shape)))
        for j in spec.mapped_outputs():
            inner = self.inner_outputs[j].type
            types.append(TensorType(inner.dtype, (steps, *inner.shape)))
        types += [outer[p].type for p in spec.outer_carried()]
        if spec.until:
            types.append(TensorType("int64", ()))
        return types

    # ----------------------------------------------------------------------- perform

    def perform(self, node, inputs):
        spec = self.spec
        n = int(inputs[0])
        seqs = [inputs[p] for p in spec.outer_sequences()]
        _check_run_lengths(self, n, seqs)
        loop = _Loop(self, node, inputs, n)
        fn = self.function
        n_run = n
        for t in range(n):
            outs = fn(loop.step_arguments(t))
            loop.store(t, outs)
            if spec.until and outs[-1]:
                n_run = t + 1
                break
        return loop.results(n_run)

    # ----------------------------------------------------------------------- shapes

    def infer_shape(self, node, input_shapes):
        spec = self.spec
        if spec.until:
            raise NotImplementedError(f"{self}: the length of a while loop's outputs is known only when it has run")
        n = node.inputs[0]
        shapes: list[tuple] = []
        for k in range(spec.n_recurrent):
            rows = 1 if spec.keep_last[k] else n
            shapes.append((rows, *input_shapes[spec.outer_inits()[k]][1:]))
        mapped = _inner_output_shapes(self, node, input_shapes)
        shapes += [(n, *shape) for shape in mapped]
        shapes += [tuple(input_shapes[p]) for p in spec.outer_carried()]
        return shapes

    # ----------------------------------------------------------------------- derivatives

    def connection_pattern(self, node):
        return [list(row) for row in _connections(self)]

    def L_op(self, inputs, outputs, output_grads):
        return ops.scan_grad.scan_lop(self, inputs, outputs, output_grads)

    def R_op(self, inputs, eval_points):
        return ops.scan_grad.scan_rop(self, inputs, eval_points)


class _Loop:
    """The buffers of one run: recurrent histories, mapped outputs, carried states."""

    def __init__(self, op: Scan, node: Apply, inputs: Sequence, n: int):
        spec = self.spec = op.spec
        self.op, self.node, self.n = op, node, n
        self.seqs = [inputs[p] for p in spec.outer_sequences()]
        self.nonseqs = [inputs[p] for p in spec.outer_nonseqs()]
        self.carried = [inputs[p] for p in spec.outer_carried()]
        self.histories = []
        for k in range(spec.n_recurrent):
            init = np.asarray(inputs[spec.outer_inits()[k]])
            lag = spec.max_lag(k)
            if init.shape[0] < lag:
                raise ValueError(f"{op}: recurrent output {k} needs {lag} initial row(s). Received: {init.shape[0]}")
            rows = lag + (1 if spec.keep_last[k] else n)
            history = np.empty((rows, *init.shape[1:]), dtype=node.outputs[k].dtype)
            history[:lag] = init[init.shape[0] - lag:]
            self.histories.append(history)
        self.mapped: list[np.ndarray | None] = [None] * spec.n_mapped

    def _row(self, k: int, t: int) -> int:
        """Where step t's value of recurrent output k lives (a ring of lag + 1 rows when only the last is kept)."""
        lag = self.spec.max_lag(k)
        return lag + t if not self.spec.keep_last[k] else (lag + t) % (lag + 1)

    def step_arguments(self, t: int) -> list:
        args = [s[t] for s in self.seqs]
        for k, lags in enumerate(self.spec.taps):
            history = self.histories[k]
            args += [history[self._row(k, t - lag)] for lag in lags]
        return args + self.carried + self.nonseqs

    def store(self, t: int, outs: list) -> None:
        spec = self.spec
        for k, history in enumerate(self.histories):
            value = outs[k]
            if np.shape(value) != history.shape[1:]:
                raise ValueError(
                    f"{self.op}: step {t} returned recurrent output {k} of shape {np.shape(value)}, but its "
                    f"initial value has shape {history.shape[1:]}; a step must keep each recurrent shape"
                )
            history[self._row(k, t)] = value
        for j, position in enumerate(spec.mapped_outputs()):
            self._store_mapped(j, t, np.asarray(outs[position]))
        self.carried = [outs[p] for p in spec.carried_outputs()]

    def _store_mapped(self, j: int, t: int, value: np.ndarray) -> None:
        if self.mapped[j] is None:
            self.mapped[j] = np.empty((self.n, *value.shape), dtype=self.node.outputs[self.spec.n_recurrent + j].dtype)
        target = self.mapped[j]
        if value.shape != target.shape[1:]:
            raise ValueError(
                f"{self.op}: step {t} returned mapped output {j} of shape {value.shape}, but step 0 returned "
                f"{target.shape[1:]}; every step must return the same shape"
            )
        target[t] = value

    def results(self, n_run: int) -> list:
        spec = self.spec
        results = []
        for k, history in enumerate(self.histories):
            lag = spec.max_lag(k)
            if spec.keep_last[k]:
                results.append(history[self._row(k, n_run - 1)][None].copy())
            else:
                results.append(history[lag:lag + n_run])
        for j in range(spec.n_mapped):
            results.append(self._mapped_result(j, n_run))
        results += [np.array(c, copy=True) for c in self.carried]
        if spec.until:
            results.append(np.asarray(n_run, dtype="int64"))
        return results

    def _mapped_result(self, j: int, n_run: int) -> np.ndarray:
        out = self.node.outputs[self.spec.n_recurrent + j]
        if self.mapped[j] is None:  # no step ran: sizes from the static shape (0 where unknown)
            inner = self.op.inner_outputs[self.spec.n_recurrent + j].type
            return np.zeros((0, *(d or 0 for d in inner.shape)), dtype=out.dtype)
        return self.mapped[j][:n_run]


def _check_run_lengths(op: Scan, n: int, seqs: Sequence[np.ndarray]) -> None:
    if n < 0:
        raise ValueError(f"{op}: n_steps must be >= 0. Received: n_steps={n}")
    for i, s in enumerate(seqs):
        if len(s) < n:
            raise ValueError(
                f"{op}: n_steps={n} but sequence {i} has only {len(s)} step(s); "
                "a sequence must be at least n_steps long"
            )


def _check_inner_types(op: Scan) -> None:
    """Each recurrent output must keep its state's type (the tap inputs' type)."""
    spec = op.spec
    for k in range(spec.n_recurrent):
        state = op.inner_inputs[spec.inner_taps(k)[0]].type
        out = op.inner_outputs[k].type
        if out.dtype != state.dtype or out.ndim != state.ndim or not state.shape_compatible(out):
            raise TypeError(
                f"Scan {op.name}: recurrent output {k} of the step has type {out} but its initial value has type "
                f"{state}; the step must return the same dtype and shape as the initial value"
            )
    for position, j in zip(spec.inner_carried(), spec.carried_outputs(), strict=True):
        state, out = op.inner_inputs[position].type, op.inner_outputs[j].type
        if out.dtype != state.dtype or not state.shape_compatible(out):
            raise TypeError(f"Scan {op.name}: carried state {j} has type {state} but the step updates it to {out}")
    if spec.until and op.inner_outputs[-1].type.ndim != 0:
        raise TypeError(f"Scan {op.name}: the until condition must be a scalar. Received: {op.inner_outputs[-1].type}")


def _inner_output_shapes(op: Scan, node: Apply, input_shapes) -> list[tuple]:
    """Shapes of one step's mapped outputs, from the inner ops' shape rules on the outer shapes."""
    spec = op.spec
    shapes: dict[int, tuple] = {}
    for position, var in enumerate(op.inner_inputs):
        shapes[id(var)] = tuple(_outer_shape_of_inner(spec, position, input_shapes))
    for inner_node in apply_nodes(op.inner_outputs, stop=op.inner_inputs):
        in_shapes = [shapes[id(v)] if id(v) in shapes else tuple(v.data.shape) for v in inner_node.inputs]
        for out, shape in zip(inner_node.outputs, inner_node.op.infer_shape(inner_node, in_shapes), strict=True):
            shapes[id(out)] = tuple(shape)
    inner_vars = {id(v) for n in apply_nodes(op.inner_outputs, stop=op.inner_inputs) for v in n.outputs}
    inner_vars |= {id(v) for v in op.inner_inputs}
    results = []
    for j in spec.mapped_outputs():
        out = op.inner_outputs[j]
        shape = shapes[id(out)] if id(out) in shapes else tuple(out.data.shape)
        symbolic = [d for d in shape if isinstance(d, Variable)]
        if any(id(v) in inner_vars for v in graph_inputs(symbolic)):
            raise NotImplementedError(f"{op}: mapped output {j}'s shape depends on values inside the step")
        results.append(shape)
    return results


def _outer_shape_of_inner(spec: ScanSpec, position: int, input_shapes) -> tuple:
    if position < spec.n_seqs:
        return input_shapes[1 + position][1:]
    for k in range(spec.n_recurrent):
        if position in spec.inner_taps(k):
            return input_shapes[spec.outer_inits()[k]][1:]
    if position in spec.inner_carried():
        return input_shapes[spec.outer_carried()[position - spec.inner_carried().start]]
    return input_shapes[spec.outer_nonseqs()[position - spec.inner_nonseqs().start]]


def inner_dependence(op: Scan) -> list[list[bool]]:
    """``[i][j]``: does inner output j depend differentiably on inner input i (one step)."""
    nodes = apply_nodes(op.inner_outputs, stop=op.inner_inputs)
    rows = []
    for x in op.inner_inputs:
        reached = set() if is_discrete(x.dtype) else {id(x)}
        for node in nodes:
            pattern = node.op.connection_pattern(node)
            for j, out in enumerate(node.outputs):
                if any(id(v) in reached and pattern[i][j] for i, v in enumerate(node.inputs)):
                    reached.add(id(out))
        rows.append([id(o) in reached and is_float(o.dtype) for o in op.inner_outputs])
    return rows


def _connections(op: Scan) -> list[list[bool]]:
    """Outer ``[input][output]`` dependence, following the recurrence to a fixed point."""
    spec = op.spec
    direct = inner_dependence(op)
    n_out = spec.n_outer_outputs
    differentiable_outputs = set(range(spec.n_recurrent + spec.n_mapped))

    def closure(inner_positions: Sequence[int]) -> list[bool]:
        reached = {j for i in inner_positions for j, hit in enumerate(direct[i]) if hit}
        reached &= differentiable_outputs
        changed = True
        while changed:
            changed = False
            for k in range(spec.n_recurrent):
                if k in reached:
                    new = {j for i in spec.inner_taps(k) for j, hit in enumerate(direct[i]) if hit}
                    new &= differentiable_outputs
                    if not new <= reached:
                        reached |= new
                        changed = True
        return [j in reached for j in range(n_out)]

    rows = [[False] * n_out]
    rows += [closure([i]) for i in range(spec.n_seqs)]
    for k in range(spec.n_recurrent):
        row = closure(list(spec.inner_taps(k)))
        rows.append([hit or (j == k and is_float(op.inner_outputs[k].dtype)) for j, hit in enumerate(row)])
    rows += [[False] * n_out for _ in range(spec.n_carried)]
    rows += [closure([i]) for i in spec.inner_nonseqs()]
    return rows
