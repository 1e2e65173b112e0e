"""``th.scan`` and its family (``map``, ``reduce``, ``foldl``, ``foldr``, ``until``): loops as graphs.

Theano's interface and semantics::

    outputs, updates = th.scan(fn, sequences=None, outputs_info=None, non_sequences=None,
                               n_steps=None, go_backwards=False, truncate_gradient=-1, strict=False)

``fn`` is called once, on symbolic placeholders, in this order: one slice per
sequence tap (``dict(input=x, taps=[-2, 0])`` gives ``x[t-2], x[t]``), the
past values of each recurrent output at its taps (``dict(initial=h0,
taps=[-1, -3])``; a plain ``h0`` means ``taps=[-1]``), then the
non-sequences.  It returns its outputs (one per ``outputs_info`` entry; a
``None`` entry marks an output that is not fed back), optionally with a
dict of updates of shared variables and a ``th.until(condition)`` that
stops the loop after the step at which ``condition`` is true.

What becomes part of the loop.  The nodes ``fn`` builds are the step; any
variable that existed before ``fn`` was called and that the step reads is
an input of the loop (an implicit non-sequence, computed once), as are the
shared variables it reads.  A random draw inside ``fn`` makes a new
generator state: the loop carries it from step to step, its final value is
in the returned ``updates`` and is also the state's ``default_update``, so
``th.function`` advances it with or without ``updates=``.

Shapes.  A recurrent output with taps ``[-1]`` has an initial value of the
state's shape; with other taps, the initial value holds the ``max lag``
previous values along a new first axis (the last row is lag 1).  The step
must return each recurrent output in the initial value's dtype and shape:
anything else is a TypeError at build time naming the output and both
types.  ``n_steps`` is the number of steps (the maximum for a while loop);
without it the loop runs over the shortest sequence.  A sequence shorter
than ``n_steps`` is an error naming both numbers (when the graph is built if
both are static, else when it runs); a longer one is read up to n_steps.

Outputs are returned without the initial values, in the order of
``outputs_info``; ``go_backwards`` reads the sequences from the end (the
outputs are in the order the steps ran, as in Theano).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from theanine.graph.basic import Apply, Constant, Variable, clone_graph, clone_replace, topological_order
from theanine.graph.ops.dimshuffle import expand_dims
from theanine.graph.ops.math import cast, minimum, not_equal
from theanine.graph.ops.scan_op import Scan, ScanSpec
from theanine.graph.ops.shape_values import shape_i, static_int
from theanine.graph.shared import SharedVariable
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.test_values import get_test_value, has_test_value, without_test_values
from theanine.graph.type import TensorType, is_discrete

__all__ = ["scan", "until", "map", "reduce", "foldl", "foldr", "Scan", "ScanSpec"]


class until:  # noqa: N801  (Theano's name)
    """Returned by a scan step: stop the loop after this step when ``condition`` is true."""

    def __init__(self, condition):
        condition = as_tensor_variable(condition)
        if condition.ndim != 0:
            raise TypeError(f"until: the condition must be a scalar. Received: {condition.type}")
        self.condition = condition if condition.dtype == "bool" else not_equal(condition, 0)


# ------------------------------------------------------------------------------ argument specs


class _Sequence:
    """One sequence and its taps; ``slices[i]`` is what the loop reads for ``taps[i]``."""

    def __init__(self, index: int, item, go_backwards: bool):
        value, taps = (item.get("input"), item.get("taps", [0])) if isinstance(item, dict) else (item, [0])
        if value is None:
            raise ValueError(f"scan: sequences[{index}] is a dict without 'input'")
        self.var = as_tensor_variable(value)
        if self.var.ndim == 0:
            raise ValueError(f"scan: sequences[{index}] must have at least one dimension. Received: {self.var.type}")
        self.taps = _int_list(taps, f"sequences[{index}] taps")
        if go_backwards:
            self.var = self.var[::-1]
        low, high = min(self.taps), max(self.taps)
        self.slices = [self.var[tap - low: (tap - high) if tap != high else None] for tap in self.taps]
        self.placeholders = [_placeholder(TensorType(self.var.dtype, self.var.type.shape[1:]), s, f"{tap:+d}")
                             for tap, s in zip(self.taps, self.slices, strict=True)]


class _Output:
    """One entry of ``outputs_info``: a recurrent output (with an initial value) or a mapped one."""

    def __init__(self, index: int, item):
        self.index = index
        if isinstance(item, dict):
            initial, taps = item.get("initial"), item.get("taps", [-1])
        else:
            initial, taps = item, [-1]
        self.init = None if initial is None else as_tensor_variable(initial)
        self.taps = _int_list(taps, f"outputs_info[{index}] taps") if self.init is not None else []
        if any(tap >= 0 for tap in self.taps):
            raise ValueError(f"scan: outputs_info[{index}] taps must be negative. Received: {self.taps}")
        if self.init is None:
            return
        self.lags = tuple(-tap for tap in self.taps)
        self.max_lag = max(self.lags)
        self.buffer = self._initial_buffer(index)
        state = TensorType(self.init.dtype, self.buffer.type.shape[1:])
        self.placeholders = [_placeholder(state, self.buffer, f"{tap:+d}", self.max_lag + tap) for tap in self.taps]

    def _initial_buffer(self, index: int) -> Variable:
        if self.taps == [-1]:
            return expand_dims(self.init, 0)
        if self.init.ndim == 0:
            raise ValueError(
                f"scan: outputs_info[{index}] has taps {self.taps}, so its initial value holds {self.max_lag} "
                f"previous values along a first axis. Received a scalar of type {self.init.type}"
            )
        rows = self.init.type.shape[0]
        if rows is not None and rows < self.max_lag:
            raise ValueError(
                f"scan: outputs_info[{index}] has taps {self.taps}, so its initial value needs {self.max_lag} rows. "
                f"Received: {rows} (type {self.init.type})"
            )
        return self.init if rows == self.max_lag else self.init[-self.max_lag:]


def _int_list(values, what: str) -> list[int]:
    items = [values] if isinstance(values, (int, np.integer)) else list(values)
    if not items or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in items):
        raise ValueError(f"scan: {what} must be a non-empty list of ints. Received: {values!r}")
    if len(set(items)) != len(items):
        raise ValueError(f"scan: {what} repeat a tap. Received: {values!r}")
    return [int(v) for v in items]


def _placeholder(type_: TensorType, source: Variable | None, tap: str, row: int = 0) -> Variable:
    """A step argument; it takes row ``row`` of ``source``'s test value when there is one (the
    value the first step reads), so a step is checked as it is built (graph/test_values.py)."""
    var = type_(f"t{tap}")
    if source is not None and has_test_value(source):
        value = get_test_value(source)
        if len(value) > row:
            var.tag.test_value = value[row]
    return var


# ------------------------------------------------------------------------------ the step's result


def _parse_step_result(result) -> tuple[list, dict, Variable | None]:
    """``(outputs, updates, condition)`` from whatever the step returned (Theano's forms)."""
    items = result if isinstance(result, tuple) and _has_extras(result) else (result,)
    if isinstance(result, (dict, until)):
        items = (result,)
    outputs: list = []
    updates: dict = {}
    condition = None
    for item in items:
        if isinstance(item, until):
            condition = item.condition
        elif isinstance(item, dict):
            updates.update(item)
        elif isinstance(item, (list, tuple)):
            outputs.extend(item)
        elif item is not None:
            outputs.append(item)
    return [as_tensor_variable(o) for o in outputs], updates, condition


def _has_extras(result: tuple) -> bool:
    return any(isinstance(item, (dict, until)) for item in result)


def _random_updates(targets: list[Variable], probe: int, known: dict) -> dict:
    """Generator states made by draws inside the step, each with its new value (default_update)."""
    found: dict = {}
    frontier = list(targets)
    while frontier:
        new = {
            var: var.default_update for var in _step_boundary(frontier, probe)
            if isinstance(var, SharedVariable) and var.default_update is not None and var.id > probe
            and var not in known and var not in found
        }
        found.update(new)
        frontier = list(new.values())
    return found


def _is_step_variable(var: Variable, probe: int) -> bool:
    return var.owner is not None and var.id > probe


def _step_boundary(targets: Sequence[Variable], probe: int) -> list[Variable]:
    """The variables the step's nodes read that the step did not compute, in order of first use."""
    nodes = topological_order(
        [v.owner for v in targets if _is_step_variable(v, probe)],
        lambda node: [v.owner for v in node.inputs if _is_step_variable(v, probe)],
    )
    seen: dict[int, Variable] = {}
    for node in nodes:
        for var in node.inputs:
            if not _is_step_variable(var, probe):
                seen.setdefault(id(var), var)
    for var in targets:
        if not _is_step_variable(var, probe):
            seen.setdefault(id(var), var)
    return list(seen.values())


# ------------------------------------------------------------------------------ scan


def scan(fn: Callable, sequences=None, outputs_info=None, non_sequences=None, n_steps=None,
         go_backwards: bool = False, truncate_gradient: int = -1, strict: bool = False, name: str | None = None,
         return_list: bool = False, mode=None, profile: bool = False, allow_gc: bool | None = None):
    """Loop ``fn`` over sequences and recurrent outputs; returns ``(outputs, updates)``.

    See the module docstring for the arguments.  ``outputs`` is one variable
    when there is one output (a list with ``return_list``), else a list in
    the order of ``outputs_info``; ``updates`` maps shared variables
    (generator states included) to their values after the loop.  Theano's
    ``mode``, ``profile`` and ``allow_gc`` are accepted: the loop is compiled
    with the function that contains it, under that function's mode and profile.
    """
    name = name or "scan"
    seqs = [_Sequence(i, s, go_backwards) for i, s in enumerate(_as_list(sequences))]
    infos = _as_list(outputs_info)
    outs = [_Output(i, o) for i, o in enumerate(infos)]
    nonseqs = [v if isinstance(v, Variable) else as_tensor_variable(v) for v in _as_list(non_sequences)]
    if not isinstance(truncate_gradient, (int, np.integer)) or truncate_gradient == 0 or truncate_gradient < -1:
        raise ValueError(f"scan: truncate_gradient must be -1 or a positive int. Received: {truncate_gradient!r}")
    n = _number_of_steps(seqs, n_steps)
    recurrent = [o for o in outs if o.init is not None]
    probe = TensorType("int8", ())("probe").id
    arguments = [p for s in seqs for p in s.placeholders] + [p for o in recurrent for p in o.placeholders]
    result = fn(*arguments, *nonseqs)
    step_outputs, user_updates, condition = _parse_step_result(result)
    if outputs_info is None:
        outs = [_Output(i, None) for i in range(len(step_outputs))]
    elif len(step_outputs) != len(outs):
        raise ValueError(
            f"scan {name}: the step returned {len(step_outputs)} output(s) but outputs_info has {len(outs)} entries"
        )
    _check_step_types(name, outs, step_outputs)
    updates = _checked_updates(name, user_updates)
    loop = _LoopBuilder(name, seqs, outs, step_outputs, updates, condition, probe)
    loop.collect_inputs(nonseqs, strict)
    node = loop.apply(n, truncate_gradient)
    return _results(loop, node, outs, return_list)


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _number_of_steps(seqs: list[_Sequence], n_steps) -> Variable:
    lengths = [shape_i(s, 0) for seq in seqs for s in seq.slices]
    if n_steps is None:
        if not lengths:
            raise ValueError("scan: give sequences or n_steps (the number of steps is unknown)")
        n = lengths[0]
        for length in lengths[1:]:
            n = minimum(n, length)
        return cast(n, "int64")
    n = as_tensor_variable(n_steps)
    if n.ndim != 0 or not is_discrete(n.dtype) or n.dtype == "bool":
        raise TypeError(f"scan: n_steps must be an int or an integer scalar. Received: {n.type}")
    static_n = static_int(n)
    if static_n is not None and static_n < 0:
        raise ValueError(f"scan: n_steps must be >= 0. Received: n_steps={static_n}")
    for i, seq in enumerate(seqs):
        for s in seq.slices:
            length = static_int(shape_i(s, 0))
            if static_n is not None and length is not None and length < static_n:
                raise ValueError(
                    f"scan: n_steps={static_n} but sequences[{i}] has only {length} step(s) "
                    f"(taps {seq.taps}); a sequence must be at least n_steps long"
                )
    return cast(n, "int64")


def _check_step_types(name: str, outs: list[_Output], step_outputs: list[Variable]) -> None:
    for out, value in zip(outs, step_outputs, strict=True):
        if out.init is None:
            continue
        state = out.placeholders[0].type
        if value.dtype != state.dtype or value.ndim != state.ndim or not state.shape_compatible(value.type):
            raise TypeError(
                f"scan {name}: output {out.index} of the step has type {value.type} but its initial value "
                f"(outputs_info[{out.index}]) has type {state}; the step must return the initial value's dtype "
                "and shape (cast the initial value or the step's result)"
            )


def _checked_updates(name: str, updates: dict) -> dict:
    checked = {}
    for shared, value in updates.items():
        if not isinstance(shared, SharedVariable):
            raise TypeError(f"scan {name}: updates must be keyed by shared variables. Received: {shared!r}")
        value = as_tensor_variable(value)
        if value.dtype != shared.dtype:
            value = cast(value, shared.dtype)
        checked[shared] = value
    return checked


class _LoopBuilder:
    """Turns the step's graph into a Scan: its inputs, its private inner graph, the outer node."""

    def __init__(self, name, seqs, outs, step_outputs, updates, condition, probe):
        self.name, self.seqs, self.probe = name, seqs, probe
        self.recurrent = [(o, v) for o, v in zip(outs, step_outputs, strict=True) if o.init is not None]
        self.mapped = [(o, v) for o, v in zip(outs, step_outputs, strict=True) if o.init is None]
        targets = [v for _, v in self.recurrent] + [v for _, v in self.mapped]
        targets += list(updates.values()) + ([condition] if condition is not None else [])
        self.carried = dict(updates)
        self.carried.update(_random_updates(targets, probe, updates))
        self.condition = condition
        self.targets = [v for _, v in self.recurrent] + [v for _, v in self.mapped] + list(self.carried.values())
        self.targets += [condition] if condition is not None else []
        self.random_states = [s for s in self.carried if s not in updates]

    def collect_inputs(self, nonseqs: list[Variable], strict: bool) -> None:
        """Sort what the step reads into carried states and non-sequences (explicit first)."""
        placeholders = {id(p) for s in self.seqs for p in s.placeholders}
        placeholders |= {id(p) for o, _ in self.recurrent for p in o.placeholders}
        explicit = {id(v) for v in nonseqs}
        read = [v for v in _step_boundary(self.targets, self.probe)
                if id(v) not in placeholders and not isinstance(v, Constant) and v not in self.carried]
        for var in read:
            if var.owner is None and not isinstance(var, SharedVariable) and var.id > self.probe:
                raise ValueError(
                    f"scan {self.name}: the step reads {var.label()} of type {var.type} (created at {var.source}), "
                    "a new input variable made inside the step; pass it as a sequence or a non-sequence"
                )
            if strict and id(var) not in explicit:
                raise ValueError(
                    f"scan {self.name}: strict=True and the step reads {var.label()} (created at {var.source}), "
                    "which is not among the non_sequences"
                )
        order = {id(v): i for i, v in enumerate(nonseqs)}
        self.nonseqs = sorted(read, key=lambda v: order.get(id(v), len(order)))

    def apply(self, n: Variable, truncate_gradient: int) -> Apply:
        carried = list(self.carried)
        stand_ins = {v: v.type(v.name) for v in carried + self.nonseqs}
        inner_inputs = [p for s in self.seqs for p in s.placeholders]
        inner_inputs += [p for o, _ in self.recurrent for p in o.placeholders]
        inner_inputs += [stand_ins[v] for v in carried + self.nonseqs]
        with without_test_values():
            rewired = clone_replace(self.targets, stand_ins)
            inner_inputs, inner_outputs = clone_graph(inner_inputs, rewired)
        spec = ScanSpec(
            n_seqs=sum(len(seq.placeholders) for seq in self.seqs),
            taps=tuple(o.lags for o, _ in self.recurrent),
            n_mapped=len(self.mapped),
            n_carried=len(carried),
            n_nonseqs=len(self.nonseqs),
            until=self.condition is not None,
            truncate_gradient=int(truncate_gradient),
        )
        op = Scan(inner_inputs, inner_outputs, spec, self.name)
        outer = [s for seq in self.seqs for s in seq.slices] + [o.buffer for o, _ in self.recurrent]
        return op.apply(n, *outer, *carried, *self.nonseqs)


def _results(loop: _LoopBuilder, node: Apply, outs: list[_Output], return_list: bool):
    by_output: dict[int, Variable] = {}
    for k, (out, _) in enumerate(loop.recurrent):
        by_output[out.index] = node.outputs[k]
    for j, (out, _) in enumerate(loop.mapped):
        by_output[out.index] = node.outputs[len(loop.recurrent) + j]
    results = [by_output[i] for i in range(len(outs))]
    start = len(loop.recurrent) + len(loop.mapped)
    updates = {shared: node.outputs[start + i] for i, shared in enumerate(loop.carried)}
    for state in loop.random_states:
        state.default_update = updates[state]
    if len(results) == 1 and not return_list:
        return results[0], updates
    return results, updates


# ------------------------------------------------------------------------------ the family


def map(fn: Callable, sequences, non_sequences=None, truncate_gradient: int = -1, go_backwards: bool = False,
        name: str | None = None):  # noqa: A001  (Theano's name)
    """``fn`` applied to each step of ``sequences``: ``scan`` with no recurrent output."""
    return scan(fn, sequences=sequences, outputs_info=None, non_sequences=non_sequences,
                truncate_gradient=truncate_gradient, go_backwards=go_backwards, name=name or "map")


def reduce(fn: Callable, sequences, outputs_info, non_sequences=None, go_backwards: bool = False,
           name: str | None = None):  # noqa: A001
    """The last value of each output of ``scan``: ``(results, updates)``."""
    outputs, updates = scan(fn, sequences=sequences, outputs_info=outputs_info, non_sequences=non_sequences,
                            go_backwards=go_backwards, name=name or "reduce", return_list=True)
    last = [o[-1] for o in outputs]
    return (last[0] if len(last) == 1 else last), updates


def foldl(fn: Callable, sequences, outputs_info, non_sequences=None, name: str | None = None):
    """``reduce`` from the first step to the last."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=False, name=name or "foldl")


def foldr(fn: Callable, sequences, outputs_info, non_sequences=None, name: str | None = None):
    """``reduce`` from the last step to the first."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=True, name=name or "foldr")
