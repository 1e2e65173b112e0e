"""``theanine.function``: from symbolic inputs and outputs to a callable.

Compilation: substitute ``givens``, collect the shared variables the graph
reads, add their updates (explicit ones, then the ``default_update`` of
random streams), optimize with the rewrite mode, and hand the graph to the
chosen backend.  A call checks its arguments, runs the compiled graph and
only then writes every update at once, so a failing call changes nothing.

Theano's options live beside: ``inputs.py`` (``In`` defaults, casting,
unused inputs), ``modes.py`` (NanGuardMode, DebugMode), ``profiling.py``
(``profile=True``); those modes and the profiler run the graph node by
node (``node_runner.py``).  A function keeps what it was made from, so
``copy`` can make another and pickling stores that recipe: an unpickled
function compiles again (a disk-cache hit for the native code).
"""

from __future__ import annotations

import contextlib
import copy as copy_module
import dataclasses
import gc
import time
from collections.abc import Mapping, Sequence

import numpy as np

from theanine.graph.basic import Constant, Variable, clone_replace, graph_inputs
from theanine.graph.config import config
from theanine.graph.fgraph import FunctionGraph
from theanine.graph.rewriting.report import PhaseReport, RewriteReport
from theanine.graph.shared import SharedVariable
from theanine.graph.tensor import as_tensor_variable
from theanine.runtime.backends import get_compiler
from theanine.runtime.inputs import In, Out, as_in, check_unused_inputs, value_checker
from theanine.runtime.modes import get_mode
from theanine.runtime.node_runner import NodeRunner
from theanine.runtime.profiling import ProfileStats

__all__ = ["function", "Function", "In"]


def _pairs(value, what: str) -> list[tuple]:
    if value is None:
        return []
    items = list(value.items()) if isinstance(value, Mapping) else list(value)
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise TypeError(f"{what} must be a dict or a list of (variable, expression) pairs. Received: {item!r}")
    return [tuple(item) for item in items]


def _check_inputs(inputs: Sequence) -> list[Variable]:
    checked = []
    for i, var in enumerate(inputs):
        if not isinstance(var, Variable):
            raise TypeError(f"function input {i} must be a symbolic variable. Received: {type(var).__name__}")
        if isinstance(var, (Constant, SharedVariable)) or var.owner is not None:
            raise TypeError(
                f"function input {i} ({var.label()}) must be a free input variable, not a constant, "
                "a shared variable or a computed expression (use givens to substitute expressions)"
            )
        if any(var is other for other in checked):
            raise ValueError(f"function input {var.label()} is listed twice")
        checked.append(var)
    return checked


def _check_update(shared: Variable, expression) -> tuple[SharedVariable, Variable]:
    if not isinstance(shared, SharedVariable):
        raise TypeError(f"updates: {getattr(shared, 'label', lambda: shared)()} is not a shared variable")
    expression = as_tensor_variable(expression)
    if expression.dtype != shared.dtype:
        raise TypeError(
            f"updates: the update of {shared.label()} has dtype {expression.dtype} but the shared variable "
            f"is {shared.dtype}; cast the expression with .astype({shared.dtype!r})"
        )
    if not shared.type.shape_compatible(expression.type):
        raise ValueError(
            f"updates: the update of {shared.label()} has type {expression.type}, which does not fit {shared.type}"
        )
    return shared, expression


def _check_given(old, new) -> tuple[Variable, Variable]:
    if not isinstance(old, Variable):
        raise TypeError(f"givens: keys must be symbolic variables. Received: {type(old).__name__}")
    new = as_tensor_variable(new)
    if new.dtype != old.dtype or not old.type.shape_compatible(new.type):
        raise TypeError(f"givens: {old.label()} of type {old.type} cannot be replaced by a value of type {new.type}")
    return old, new


@contextlib.contextmanager
def _collector_paused():
    """Python's cycle collector off while a function compiles, then back as it was.

    Rewriting, lowering and printing allocate some hundred thousand objects
    that live until the compile ends; the collector would sweep them, and
    the whole heap once in a while, many times over for nothing (20-60 ms
    of a 0.3 s cold compile).  What the compile leaves behind is collected
    by the collector's next run.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Function:
    """A compiled function. Call it with one value per input (positionally or by name).

    ``f["name"]`` reads and ``f["name"] = value`` sets the default value of an
    input (``In(x, value=...)``); ``f.profile`` holds the timings when compiled
    with ``profile=True``.
    """

    def __init__(self, inputs, outputs, updates=None, givens=None, backend: str | None = None,
                 mode=None, name: str | None = None, on_unused_input: str | None = None,
                 allow_input_downcast: bool | None = None, profile: bool = False,
                 no_default_updates=False):
        self.name = name or "function"
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(
                f"{self.name}: the inputs must be given in a list, even when there is a single input "
                f"([x], not x). Received: {getattr(inputs, 'type', type(inputs).__name__)}"
            )
        specs = [as_in(spec) for spec in inputs]
        self.inputs = _check_inputs([spec.variable for spec in specs])
        self.output_keys = None
        if isinstance(outputs, Mapping):  # Theano's dict outputs: computed in key order, returned by key
            self.output_keys = sorted(outputs)
            if not all(isinstance(key, str) for key in self.output_keys):
                raise TypeError(f"{self.name}: the keys of a dict of outputs must be strings. "
                                f"Received: {list(outputs)}")
            outputs = [outputs[key] for key in self.output_keys]
        if isinstance(outputs, (list, tuple)):
            outputs = [o.variable if isinstance(o, Out) else o for o in outputs]
        elif isinstance(outputs, Out):
            outputs = outputs.variable
        self.unpack_single = not isinstance(outputs, (list, tuple))
        self.outputs = [] if outputs is None else [
            _output(o, k, self.name) for k, o in enumerate(outputs if isinstance(outputs, (list, tuple)) else [outputs])
        ]
        self.backend = backend or config.backend
        self._compile = get_compiler(self.backend)
        self.mode_object = get_mode(mode or config.mode)
        self.mode = self.mode_object.optimizer
        self.profile = ProfileStats(self.name) if profile else None
        update_pairs = [_check_update(s, e) for s, e in _pairs(updates, "updates")]
        _reject_duplicate_updates(update_pairs)
        given_pairs = [_check_given(o, n) for o, n in _pairs(givens, "givens")]
        skipped = _skipped_default_updates(no_default_updates)
        recipe_outputs = outputs if outputs is None else (list(self.outputs) if not self.unpack_single
                                                          else self.outputs[0])
        if self.output_keys is not None:
            recipe_outputs = dict(zip(self.output_keys, self.outputs, strict=True))
        self._recipe = {
            "outputs": recipe_outputs,
            "updates": update_pairs, "givens": given_pairs, "backend": self.backend,
            "mode": self.mode_object, "name": self.name, "on_unused_input": on_unused_input,
            "allow_input_downcast": allow_input_downcast, "profile": bool(profile),
            "no_default_updates": no_default_updates,
        }
        self._specs = specs
        with _collector_paused():
            self._build(update_pairs, given_pairs, on_unused_input or config.on_unused_input, skipped)
        self._set_checkers(specs, allow_input_downcast)

    def _build(self, update_pairs, given_pairs, on_unused_input: str, skipped) -> None:
        targets = self.outputs + [e for _, e in update_pairs]
        if given_pairs:
            targets = clone_replace(targets, dict(given_pairs), strict=False)
        check_unused_inputs(self.inputs, targets, on_unused_input, self.name)
        update_pairs = [(s, e) for (s, _), e in zip(update_pairs, targets[len(self.outputs):], strict=False)]
        if skipped is not True:
            update_pairs += _default_updates(targets, {id(s) for s, _ in update_pairs} | skipped)
        targets = targets[: len(self.outputs)] + [e for _, e in update_pairs]
        self.shared = [v for v in graph_inputs(targets, stop=self.inputs) if isinstance(v, SharedVariable)]
        # taken in one global order (by id) by every function, so two calls never wait on each other
        self._shared_locks = [s.lock for s in sorted(self.shared, key=id)]
        for s, _ in update_pairs:
            if not any(s is v for v in self.shared):
                self.shared.append(s)
        self.updated = [s for s, _ in update_pairs]
        self._check_missing_inputs(targets)
        from theanine.graph.rewriting import optimize

        self.fgraph_inputs = self.inputs + self.shared
        positions = {id(v): k for k, v in enumerate(self.fgraph_inputs)}
        in_place = {len(self.outputs) + j: positions[id(s)] for j, s in enumerate(self.updated)}
        node_by_node = self.mode_object.watches or self.profile is not None
        if node_by_node:  # no input storage is reused: every node's inputs stay readable
            in_place = None
        self.optimized_outputs, self.rewrite_report = optimize(self.fgraph_inputs, targets, self.mode, in_place)
        self._fast = self._run_with_state = None
        if node_by_node:
            self._node_runner = NodeRunner(self.fgraph_inputs, self.optimized_outputs, self.backend)
            self._run = self._run_node_by_node
            self.python_fallbacks, self.fused = [], []
        else:
            compiled = self._compile(self.fgraph_inputs, self.optimized_outputs)
            self._run, self._run_with_state = compiled.run, compiled.run_with_state
            self.python_fallbacks = compiled.python_fallbacks
            self.fused = compiled.fused
            if self.fused:
                self.rewrite_report = _with_lowering_phase(self.rewrite_report, self.backend, len(self.fused))
            if compiled.bind_fast is not None and not self.updated and self.outputs and self.output_keys is None:
                self._fast = self._bind_fast(compiled.bind_fast)
        self._updated_slots = [next(k for k, v in enumerate(self.shared) if v is s) for s in self.updated]
        self._update_checkers = [value_checker(s.type, f"update of {s.label()} in {self.name}") for s in self.updated]

    def _bind_fast(self, bind_fast):
        """The native fast call, or None.  A function that reads shared variables (and updates
        none) gets their current values appended to its arguments, under their locks."""
        if not self.shared:
            return bind_fast(self._call_python, self.unpack_single)
        count = len(self.inputs)
        fast = bind_fast(lambda *values: self._call_python(*values[:count]), self.unpack_single)
        return None if fast is None else _FastWithState(fast, self.shared, self._shared_locks)

    def _set_checkers(self, specs: list[In], allow_input_downcast) -> None:
        """Keyword names, value checkers and default values of the inputs."""
        self._names = {spec.name: i for i, spec in enumerate(specs) if spec.name}
        self._checkers = [
            value_checker(
                spec.variable.type, f"input {i} ({spec.variable.label()}) of {self.name}", spec.strict,
                allow_input_downcast if spec.allow_downcast is None else spec.allow_downcast,
            )
            for i, spec in enumerate(specs)
        ]
        self._defaults = {i: self._checkers[i](spec.value) for i, spec in enumerate(specs) if spec.has_default}
        if self._defaults:
            self._fast = None  # the native fast path takes every argument; defaults fill the gaps here

    def _run_node_by_node(self, values: list) -> list:
        """The watched modes and the profiler: the graph node by node (``node_runner.py``)."""
        mode, profile = self.mode_object, self.profile

        def observe(node, inputs, outputs, seconds):
            if profile is not None:
                profile.record_node(node, seconds)
            mode.observe(node, inputs, outputs, seconds)

        start = time.perf_counter()
        outputs = self._node_runner.run(values, observe, protect_inputs=mode.watches)
        if profile is not None:
            profile.record_call(time.perf_counter() - start)
        return outputs

    def _index_of(self, key) -> int:
        if isinstance(key, Variable):
            for i, var in enumerate(self.inputs):
                if var is key:
                    return i
        elif key in self._names:
            return self._names[key]
        raise KeyError(f"{self.name} has no input {key!r}; inputs: {sorted(self._names)}")

    def __getitem__(self, key):
        """The default value of the input named ``key`` (a name or the variable)."""
        index = self._index_of(key)
        if index not in self._defaults:
            raise KeyError(f"input {key!r} of {self.name} has no default value")
        return self._defaults[index]

    def __setitem__(self, key, value) -> None:
        """Set the default value of an input (checked and converted like an argument)."""
        index = self._index_of(key)
        self._defaults[index] = self._checkers[index](value)
        self._specs[index].value = self._defaults[index]
        self._fast = None

    def copy(self, share_memory: bool = False, swap: Mapping | None = None,
             delete_updates: bool = False, name: str | None = None) -> Function:
        """Another function computing the same thing, as Theano's ``Function.copy``.

        ``swap`` maps shared variables of this function to other shared
        variables of the same type, which the copy reads and updates instead.
        ``share_memory=True`` shares the compiled program (and its buffers)
        with this function; otherwise the copy is compiled anew (from the disk
        cache).  ``delete_updates`` drops the updates.  Default values are
        copied, so changing the copy's does not change this function's.
        """
        swap = _checked_swap(self, swap or {})
        if share_memory and not delete_updates:
            twin = object.__new__(Function)  # not copy.copy: that would pickle, so recompile
            twin.__dict__.update(self.__dict__)
            twin.name = name or self.name
            twin._defaults = dict(self._defaults)
            twin._specs = [copy_module.copy(spec) for spec in self._specs]
            twin.shared = [swap.get(v, v) for v in self.shared]
            twin.updated = [swap.get(v, v) for v in self.updated]
            twin._shared_locks = [s.lock for s in sorted(twin.shared, key=id)]
            if twin.shared:  # this function's fast call reads this function's shared variables
                twin._fast = None
            twin._recipe = dict(self._recipe, name=twin.name)
            if swap:
                twin._recipe = _swapped(twin._recipe, swap)
            return twin
        recipe = dict(self._recipe, name=name or self.name)
        if swap:
            recipe = _swapped(recipe, swap)
        if delete_updates:
            recipe["updates"] = []
        return Function([copy_module.copy(spec) for spec in self._specs], **recipe)

    def __getstate__(self) -> dict:
        """What pickling stores: the recipe (graphs, shared variables with their values, options)."""
        return {"specs": self._specs, **self._recipe}

    def __setstate__(self, state: dict) -> None:
        """Compile again from the recipe (the native code comes from the disk cache)."""
        state = dict(state)
        self.__init__(state.pop("specs"), **state)

    def _check_missing_inputs(self, targets) -> None:
        known = {id(v) for v in self.inputs}
        for var in graph_inputs(targets, stop=self.inputs):
            if id(var) in known or isinstance(var, (Constant, SharedVariable)):
                continue
            raise ValueError(
                f"{self.name}: the outputs depend on {var.label()} of type {var.type} (created at {var.source}), "
                "which is not among the inputs; add it to the inputs or give it a value with givens"
            )

    def _arguments(self, args, kwargs) -> list[np.ndarray]:
        if len(args) > len(self.inputs):
            raise TypeError(f"{self.name} takes {len(self.inputs)} argument(s), got {len(args)}")
        values = list(args) + [None] * (len(self.inputs) - len(args))
        given = [True] * len(args) + [False] * (len(self.inputs) - len(args))
        defaulted = []
        for key, value in kwargs.items():
            if key not in self._names:
                raise TypeError(
                    f"{self.name} got an unexpected keyword argument {key!r}; inputs: {sorted(self._names)}"
                )
            index = self._names[key]
            if given[index]:
                raise TypeError(f"{self.name} got input {key!r} twice")
            values[index], given[index] = value, True
        for i, g in enumerate(given):
            if not g and i in self._defaults:
                values[i], given[i] = self._defaults[i], True
                defaulted.append(i)
        missing = [self.inputs[i].label() for i, g in enumerate(given) if not g]
        if missing:
            raise TypeError(f"{self.name} is missing input(s) {missing}")
        return [value if i in defaulted else check(value)
                for i, (check, value) in enumerate(zip(self._checkers, values, strict=False))]

    def __call__(self, *args, **kwargs):
        if self._fast is not None and not kwargs:
            return self._fast.call(*args)
        if self.output_keys is not None:
            return dict(zip(self.output_keys, self._call_python(*args, **kwargs), strict=True))
        return self._call_python(*args, **kwargs)

    def _call_python(self, *args, **kwargs):
        """Check and convert the arguments, run the backend, apply the updates."""
        if kwargs or len(args) != len(self._checkers):
            values = self._arguments(args, kwargs)
        else:
            values = [check(value) for check, value in zip(self._checkers, args, strict=False)]
        if not self.shared:
            outputs = _distinct_outputs(self._run(values), values)
            if self.unpack_single:
                return outputs[0] if outputs else None
            return outputs
        with contextlib.ExitStack() as held:
            for lock in self._shared_locks:
                held.enter_context(lock)
            return self._call_with_state(values)

    def _call_with_state(self, values: list):
        """Read the shared values, run, write the updates (the caller holds their locks)."""
        if self._run_with_state is not None:
            return self._call_with_device_state(values)
        current = [s.get_value(borrow=True) for s in self.shared]
        state = _private_updated_state(list(current), values, self._updated_slots)
        results = self._run(values + state)
        n = len(self.outputs)
        outputs = _distinct_outputs(results[:n], values + state)
        new_state = []
        for slot, value in zip(self._updated_slots, results[n:], strict=False):
            if value is state[slot]:  # computed in place: the shared variable already holds it
                new_state.append(value)
                continue
            others = [p for k, p in enumerate(state) if k != slot] + values + outputs + new_state
            new_state.append(_unaliased(value, others))
        checked = [check(v) for check, v in zip(self._update_checkers, new_state, strict=False)]
        for shared, slot, value in zip(self.updated, self._updated_slots, checked, strict=False):
            if value is not current[slot]:  # else it was computed in the shared variable's storage
                shared.set_value(value, borrow=True)
        if self.unpack_single:
            return outputs[0] if outputs else None
        return outputs

    def _call_with_device_state(self, values: list):
        """``_call_with_state`` for a backend that keeps shared values in device memory: it reads
        them there and returns the updates there (device copies), installed here once every
        update has passed its shape check, so a failing call changes nothing."""
        outputs, new_values = self._run_with_state(values, self.shared, len(self.updated))
        checked = []
        try:
            for shared, check, value in zip(self.updated, self._update_checkers, new_values, strict=True):
                if isinstance(value, np.ndarray):
                    checked.append(check(value))
                    continue
                problem = shared.type.check_value_shape(value.shape)
                if problem is not None:
                    raise ValueError(f"update of {shared.label()} in {self.name}: {problem}")
                checked.append(value)
        except Exception:
            for value in new_values:
                if not isinstance(value, np.ndarray):
                    value.release()
            raise
        for shared, value in zip(self.updated, checked, strict=True):
            if isinstance(value, np.ndarray):
                shared.set_value(value, borrow=True)
            else:
                shared.keep_device_copy(value, host_current=False)
        if self.unpack_single:
            return outputs[0] if outputs else None
        return outputs

    @property
    def maker(self) -> FunctionMaker:
        """Theano's ``f.maker``: ``f.maker.fgraph`` is the optimized graph, so the tutorials'
        ``pp(f.maker.fgraph.outputs[0])`` and ``f.maker.fgraph.toposort()`` work."""
        fgraph = FunctionGraph(self.fgraph_inputs, self.optimized_outputs, clone=False)
        return FunctionMaker(fgraph, list(self._specs), self.mode_object)

    def explain(self) -> str:
        """Which rewrites fired, how often, node counts per phase, and the nodes that
        the backend runs through their NumPy ``perform`` (Python fallbacks)."""
        lines = [str(self.rewrite_report).rstrip(), "", f"backend {self.backend}: "
                 f"{len(self.python_fallbacks)} Python fallback(s)"]
        lines += [f"  {node.op} (created at {node.source})" for node in self.python_fallbacks]
        if self.fused:
            lines.append(f"gemm_epilogue x{len(self.fused)} (run on each block of the product, in cache):")
            lines += [f"  {node.op} into {into.op}" if node is not into else f"  the addend copy of {into.op}"
                      for node, into in self.fused]
        return "\n".join(lines) + "\n"


def _with_lowering_phase(report: RewriteReport, backend: str, epilogues: int) -> RewriteReport:
    """``report`` (a copy) with a last phase saying how many elementwise steps the backend ran as GEMM
    epilogues (``codegen/program/epilogues.py``): no graph node changes, the schedule does."""
    nodes = report.phases[-1].nodes_after if report.phases else 0
    phase = PhaseReport(f"lowering ({backend})", nodes, nodes)
    phase.record("gemm_epilogue", epilogues)
    return dataclasses.replace(report, phases=[*report.phases, phase])


def _private_updated_state(state: list, values: list, updated_slots: list[int]) -> list:
    """``state``, with a copy of each updated shared value that shares memory with another
    argument: the backend may compute the update in that storage (in place) while other nodes
    still read the argument that aliases it."""
    arrays = values + state
    if all(a.base is None for a in arrays) and len({id(a) for a in arrays}) == len(arrays):
        return state  # arrays that own their memory overlap only when they are the same array
    for slot in updated_slots:
        others = values + [v for k, v in enumerate(state) if k != slot]
        if any(np.may_share_memory(state[slot], other) for other in others):
            state[slot] = state[slot].copy()
    return state


def _unaliased(value, protected: Sequence[np.ndarray]) -> np.ndarray:
    """``value``, copied if it shares memory with an input, a shared value or another output."""
    if type(value) is not np.ndarray:
        value = np.asarray(value)
    if value.base is None and not any(value is p for p in protected):
        return value
    if any(np.may_share_memory(value, p) for p in protected if isinstance(p, np.ndarray)):
        return value.copy()
    return value


@dataclasses.dataclass(frozen=True)
class FunctionMaker:
    """What ``Function.maker`` shows, as Theano's FunctionMaker: the optimized ``fgraph`` (its
    inputs are the function's inputs then the shared variables it reads), the ``In`` specs and
    the mode."""

    fgraph: FunctionGraph
    inputs: list
    mode: object


class _FastWithState:
    """The fast call of a function that reads shared variables: ``call(*args)`` passes their
    current values after the arguments, holding their locks (so no update runs meanwhile)."""

    __slots__ = ("_fast", "_shared", "_locks")

    def __init__(self, fast, shared: list, locks: list):
        self._fast, self._shared, self._locks = fast, shared, locks

    def call(self, *args):
        for lock in self._locks:
            lock.acquire()
        try:
            return self._fast.call(*args, *[s.get_value(borrow=True) for s in self._shared])
        finally:
            for lock in reversed(self._locks):
                lock.release()


def _distinct_outputs(results: Sequence, protected: list) -> list[np.ndarray]:
    """The outputs, each copied where it shares memory with an input, a shared value or an earlier
    output: two outputs of one expression (merged into one variable) come back as two arrays."""
    outputs: list[np.ndarray] = []
    for result in results:
        outputs.append(_unaliased(result, protected + outputs))
    return outputs


def _reject_duplicate_updates(pairs) -> None:
    seen = set()
    for shared, _ in pairs:
        if id(shared) in seen:
            raise ValueError(f"updates: {shared.label()} is updated twice")
        seen.add(id(shared))


def _skipped_default_updates(no_default_updates) -> bool | set[int]:
    """Theano's ``no_default_updates``: True skips every default update, False none, and a list
    of shared variables skips theirs (as ids)."""
    if isinstance(no_default_updates, bool):
        return True if no_default_updates else set()
    if not isinstance(no_default_updates, (list, tuple, set)):
        raise TypeError("no_default_updates must be a bool or a list of shared variables. "
                        f"Received: {type(no_default_updates).__name__}")
    for v in no_default_updates:
        if not isinstance(v, SharedVariable):
            raise TypeError(f"no_default_updates: {v!r} is not a shared variable")
    return {id(v) for v in no_default_updates}


def _default_updates(targets, explicit: set[int]) -> list[tuple[SharedVariable, Variable]]:
    """The ``default_update`` of every shared variable the graph reads (random streams)."""
    pairs = []
    pending = list(targets)
    seen = set(explicit)
    while pending:
        found = [
            v for v in graph_inputs(pending)
            if isinstance(v, SharedVariable) and v.default_update is not None and id(v) not in seen
        ]
        pending = []
        for shared in found:
            seen.add(id(shared))
            pairs.append((shared, shared.default_update))
            pending.append(shared.default_update)
    return pairs


def function(inputs, outputs=None, updates=None, givens=None, backend: str | None = None,
             mode=None, name: str | None = None, on_unused_input: str | None = None,
             allow_input_downcast: bool | None = None, profile: bool = False,
             no_default_updates=False) -> Function:
    """Compile ``outputs`` as a function of ``inputs`` (variables or ``In`` specs).

    ``updates``: (shared, expression) pairs written after each call, all at
    once (an update reading another updated variable sees the old value).
    ``givens``: (variable, replacement) pairs substituted before compiling.
    ``outputs`` may be a dict of named outputs (Theano's): a call returns a dict.
    ``backend``: a registered backend, "llvm" or "numpy" (default ``config.backend``);
    ``mode``: rewrite set "fast_run" / "FAST_RUN", "fast_compile" / "FAST_COMPILE"
    or "none", "NanGuardMode", "DebugMode", or a ``Mode`` object (``modes.py``);
    ``on_unused_input``: "raise", "warn" or "ignore" (default ``config.on_unused_input``);
    ``allow_input_downcast``: how values are cast to the inputs' dtypes (``inputs.py``);
    ``profile``: time every node (``f.profile``, ``profiling.py``);
    ``no_default_updates``: True leaves every shared variable's ``default_update`` (random
    streams) unapplied, a list leaves those of its shared variables unapplied.
    """
    return Function(inputs, outputs, updates, givens, backend, mode, name, on_unused_input,
                    allow_input_downcast, profile, no_default_updates)


def _output(value, index: int, name: str) -> Variable:
    """Output ``index`` as a graph variable (a number or an array becomes a constant)."""
    try:
        return as_tensor_variable(value)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{name}: output {index} is not an expression or a numeric value: {error}") from error


def _checked_swap(function: Function, swap: Mapping) -> dict:
    """``swap`` checked: shared variables of ``function`` to shared variables of the same type."""
    checked = {}
    for old, new in swap.items():
        if not any(old is v for v in function.shared):
            raise ValueError(f"copy(swap=...): {old!r} is not a shared variable of {function.name}")
        if not isinstance(new, SharedVariable) or new.type != old.type:
            raise TypeError(
                f"copy(swap=...): {old.label()} of type {old.type} can only be swapped for a shared "
                f"variable of the same type. Received: {getattr(new, 'type', type(new).__name__)}"
            )
        checked[old] = new
    return checked


def _swapped(recipe: dict, swap: dict) -> dict:
    """The recipe with every shared variable of ``swap`` replaced in outputs, updates and givens."""
    outputs = recipe["outputs"]
    keys = list(outputs) if isinstance(outputs, Mapping) else None
    outputs = [outputs[k] for k in keys] if keys is not None else outputs
    single = outputs is not None and not isinstance(outputs, list)
    flat = [] if outputs is None else ([outputs] if single else list(outputs))
    updates, givens = recipe["updates"], recipe["givens"]
    expressions = flat + [e for _, e in updates] + [n for _, n in givens]
    replaced = clone_replace(expressions, swap, strict=False) if expressions else []
    n_out, n_up = len(flat), len(updates)
    new_outputs = replaced[:n_out]
    return dict(
        recipe,
        outputs=None if outputs is None else (dict(zip(keys, new_outputs, strict=True)) if keys is not None
                                              else new_outputs[0] if single else new_outputs),
        updates=[(swap.get(s, s), e) for (s, _), e in zip(updates, replaced[n_out:n_out + n_up], strict=True)],
        givens=[(o, n) for (o, _), n in zip(givens, replaced[n_out + n_up:], strict=True)],
    )
