"""Inplace: ops that write their result into an input's storage, and the proof that they may.

An op declares what it does to storage with two class or instance attributes:

- ``view_map = {output: [input]}``: the output is a view of the input (its
  memory); DimShuffle, Reshape, Split and Subtensor declare one.
- ``destroy_map = {output: [input]}``: the op overwrites the input's storage
  and returns it as that output (the inplace variants below).

The ``DestroyHandler`` (a FunctionGraph feature) proves that an input ``X``
of a node ``D`` may be destroyed.  The rules it enforces:

1. ``X`` is not a constant and not a graph input (a function argument or a
   shared variable's value), with one exception, rule 5.
2. ``D`` is the only reader of ``X`` (no other node, run before or after, and
   no graph output reads it).  The backends schedule nodes themselves (the
   LLVM backend even moves elementwise work into later reductions), so
   "every other reader runs earlier" is only promised where rule 5 asks for
   it, through ``execution_order``.
3. ``X`` is not an alias of anything else that is read: following
   ``view_map`` and ``destroy_map`` back from ``X``, every variable on the
   chain has the aliasing node as its only reader and none is a constant or
   a graph input.
4. ``D``'s result does not leave the graph as an output, directly or through
   views: a backend may keep the storage ``X`` lived in for its next call
   (the LLVM backend reuses its temporaries), so an output aliasing it
   could change after being returned.  A graph whose outputs are copied at
   once (``FunctionGraph.outputs_copied``: a loop's step) is exempt.
5. Updates of shared variables: when the caller marks graph output ``k`` as
   the new value of input ``i`` (``FunctionGraph(..., updates={k: i})``,
   ``optimize(..., updates=...)``), the node computing output ``k`` may
   destroy input ``i`` itself (not a view of it), so that the storage is
   reused for the new value.  Other nodes may read the input (a weight is
   read by the forward and backward passes before its update), provided
   none of them depends on ``D``'s result, ``D`` reads the input's storage
   through no other of its inputs, and neither the input nor a view of it
   is a graph output.  Backends run nodes in ``execution_order``, which
   puts ``D`` after every other reader of the storage.  The old value is
   overwritten during the call: a backend that cannot prove no later step
   of the call fails works on a copy (see the runtime backends).

Rewrites (the ``inplace`` phase, last): an ``Elemwise`` node writes into an
input of its output's type (``ElemwiseInplace``, whose ``perform`` uses
NumPy's ``out=``; backends that do not know the variant lower it as an
ordinary ``Elemwise`` with a fresh buffer, which is also right);
``inc_subtensor``/``set_subtensor`` update their tensor in place
(``IncSubtensorInplace``); ``Gemm`` accumulates into ``C``.  Every inplace
``perform`` copies an input it finds read-only (a constant's data or a
backend's read-only view) instead of writing into it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from theanine.graph.basic import Apply, Constant, Variable, apply_nodes, topological_order
from theanine.graph.fgraph import OUTPUT, FunctionGraph, InconsistencyError
from theanine.graph.ops.blas import Gemm, Gemv
from theanine.graph.ops.elemwise import Elemwise, ScalarOp, check_runtime_broadcast
from theanine.graph.ops.subtensor import (
    IncSubtensor,
)
from theanine.graph.rewriting.db import register
from theanine.graph.rewriting.report import PhaseReport

__all__ = [
    "DestroyHandler",
    "ElemwiseInplace",
    "IncSubtensorInplace",
    "aliased_input",
    "destroyed_inputs",
    "execution_order",
    "inplace",
]


def aliased_input(node: Apply, output_index: int) -> int | None:
    """The input whose storage output ``output_index`` of ``node`` shares (view or destroy)."""
    for declared in (getattr(node.op, "destroy_map", {}), getattr(node.op, "view_map", {})):
        inputs = declared.get(output_index)
        if inputs:
            return inputs[0]
    return None


def _all_aliased_inputs(node: Apply, output_index: int) -> list[int]:
    found = []
    for declared in (getattr(node.op, "destroy_map", {}), getattr(node.op, "view_map", {})):
        found += [i for i in declared.get(output_index, []) if i not in found]
    return found


def destroyed_inputs(node: Apply) -> list[int]:
    """Positions of the inputs ``node`` overwrites (its ``destroy_map``)."""
    return [i for inputs in getattr(node.op, "destroy_map", {}).values() for i in inputs]


def storage_of(var: Variable, readers_of: Callable[[Variable], list], destroyer: Apply) -> tuple[list[Variable], list]:
    """(variables sharing ``var``'s storage, their readers) as ``destroyer`` finds it: ``var`` and,
    following ``view_map`` and ``destroy_map`` forward, every result that aliases it (not
    ``destroyer``'s own results: they are the new value).  ``readers_of(v)`` lists the nodes
    reading ``v`` (and ``OUTPUT`` where a graph output is ``v``)."""
    variables, readers, pending = [var], [], [var]
    while pending:
        current = pending.pop()
        for reader in readers_of(current):
            if reader not in readers:
                readers.append(reader)
            if reader == OUTPUT or reader is destroyer:
                continue
            for out_index, out in enumerate(reader.outputs):
                aliased = [reader.inputs[i] for i in _all_aliased_inputs(reader, out_index)]
                if any(a is current for a in aliased) and out not in variables:
                    variables.append(out)
                    pending.append(out)
    return variables, readers


def execution_order(outputs: Sequence[Variable], stop: Sequence[Variable] = ()) -> list[Apply]:
    """The nodes computing ``outputs``, in a topological order that runs each node overwriting an
    input after every other reader of that input's storage (rule 5); backends run this order."""
    nodes = apply_nodes(outputs, stop)
    clients: dict[int, list[Apply]] = {}
    for node in nodes:
        for var in node.inputs:
            clients.setdefault(id(var), []).append(node)
    stop_ids = {id(v) for v in stop}
    readers_first: dict[int, list[Apply]] = {}
    for node in nodes:
        for index in destroyed_inputs(node):
            _, readers = storage_of(node.inputs[index], lambda v: clients.get(id(v), []), node)
            readers_first.setdefault(id(node), []).extend(r for r in readers if r is not node)

    def before(node: Apply) -> list[Apply]:
        owners = [v.owner for v in node.inputs if v.owner is not None and id(v) not in stop_ids]
        return owners + readers_first.get(id(node), [])

    roots = [v.owner for v in outputs if v.owner is not None and id(v) not in stop_ids]
    return topological_order(roots, before)


class DestroyHandler:
    """FunctionGraph feature proving which inputs a node may overwrite (module docstring).

    What rules 1 and 3 find along the chain of variables a storage belongs to is
    remembered per variable (``chains``), and forgotten for a variable and everything
    aliasing it when its readers change, so a chain of n inplace nodes costs O(n), not O(n^2).
    """

    def __init__(self):
        self.fgraph: FunctionGraph | None = None
        self.chains: dict[Variable, str | None] = {}

    def on_attach(self, fgraph: FunctionGraph) -> None:
        self.fgraph = fgraph
        self.chains = {}

    def on_detach(self, fgraph: FunctionGraph) -> None:
        self.fgraph = None
        self.chains = {}

    def on_import(self, fgraph: FunctionGraph, node: Apply, reason: str) -> None:
        for var in node.inputs:
            self._forget(var)

    def on_prune(self, fgraph: FunctionGraph, node: Apply, reason: str) -> None:
        for var in node.inputs:
            self._forget(var)

    def on_change(self, fgraph: FunctionGraph, node, index: int, old: Variable, new: Variable, reason: str) -> None:
        self._forget(old)
        self._forget(new)
        if node != OUTPUT:
            for out in node.outputs:
                self._forget(out)

    def _forget(self, var: Variable) -> None:
        """Drop what is remembered of ``var`` and of the variables aliasing it.  A variable is
        remembered only after every variable its chain runs through, so the walk stops at one
        that is not remembered."""
        pending = [var]
        while pending:
            current = pending.pop()
            if current not in self.chains:
                continue
            del self.chains[current]
            for reader, _ in self.fgraph.clients.get(current, []):
                if reader == OUTPUT:
                    continue
                for out_index, out in enumerate(reader.outputs):
                    if any(reader.inputs[i] is current for i in _all_aliased_inputs(reader, out_index)):
                        pending.append(out)

    def why_not(self, node: Apply, index: int, output_index: int = 0) -> str | None:
        """Why ``node`` may not overwrite its input ``index`` (returning it as output
        ``output_index``), or None when the rules prove it may."""
        var = node.inputs[index]
        if self._is_update_of(var, node.outputs[output_index]):
            return self._update_problem(node, index)
        if not self._only_reader(var, node):
            return f"{var.label()} has other readers"
        problem = self._alias_chain_problem(var)
        if problem:
            return problem
        if not self.fgraph.outputs_copied and self._escapes(node.outputs[output_index]):
            return f"the result of {node.op} is a graph output"
        return None

    def _readers(self, var: Variable) -> list:
        return [reader for reader, _ in self.fgraph.clients.get(var, [])]

    def _update_problem(self, node: Apply, index: int) -> str | None:
        """Rule 5: why ``node`` may not compute the update of input ``node.inputs[index]`` in its storage."""
        var = node.inputs[index]
        variables, readers = storage_of(var, self._readers, node)
        if OUTPUT in readers:
            return f"{var.label()} (or a view of it) is a graph output"
        if [j for j, v in enumerate(node.inputs) if any(v is w for w in variables)] != [index]:
            return f"{node.op} also reads {var.label()} through another input"
        later = self._descendants(node)
        if any(id(r) in later for r in readers if r is not node):
            return f"a reader of {var.label()} depends on the result of {node.op}"
        return None

    def _descendants(self, node: Apply) -> set[int]:
        """ids of the nodes that depend on ``node``'s results."""
        found: set[int] = set()
        pending = list(node.outputs)
        while pending:
            for reader in self._readers(pending.pop()):
                if reader != OUTPUT and id(reader) not in found:
                    found.add(id(reader))
                    pending.extend(reader.outputs)
        return found

    def _only_reader(self, var: Variable, node: Apply) -> bool:
        readers = self.fgraph.clients.get(var, ())
        return len(readers) == 1 and readers.first()[0] is node

    def _is_update_of(self, var: Variable, result: Variable) -> bool:
        """Rule 5: ``result`` is the graph output marked as the new value of input ``var``."""
        position = self.fgraph.input_index(var)
        if position is None:
            return False
        return any(
            self.fgraph.updates.get(index) == position
            for reader, index in self.fgraph.clients.get(result, [])
            if reader == OUTPUT
        )

    def _alias_chain_problem(self, var: Variable) -> str | None:
        """Rules 1 and 3 along the chain of variables ``var``'s storage belongs to."""
        if var not in self.chains:
            for current in topological_order([var], self._unknown_sources):
                self.chains[current] = self._link_problem(current)
        problem = self.chains[var]
        return None if problem is None else f"{var.label()} {problem}"

    def _sources(self, var: Variable) -> list[Variable]:
        """The variables whose storage ``var`` shares through its owner (view or destroy)."""
        if var.owner is None:
            return []
        return [var.owner.inputs[i] for i in _all_aliased_inputs(var.owner, var.index)]

    def _unknown_sources(self, var: Variable) -> list[Variable]:
        return [source for source in self._sources(var) if source not in self.chains]

    def _link_problem(self, var: Variable) -> str | None:
        """The chain problem of ``var``, given those of its sources (already in ``chains``)."""
        if isinstance(var, Constant):
            return "is (a view of) a constant"
        if var.owner is None:
            return f"is (a view of) the graph input {var.label()}"
        for source in self._sources(var):
            if not self._only_reader(source, var.owner):
                return f"aliases {source.label()}, which has other readers"
            if self.chains[source] is not None:
                return self.chains[source]
        return None

    def _escapes(self, var: Variable) -> bool:
        """Rule 4: does ``var`` reach the graph outputs directly or through views?"""
        pending = [var]
        while pending:
            current = pending.pop()
            for reader, _ in self.fgraph.clients.get(current, []):
                if reader == OUTPUT:
                    return True
                for out_index, out in enumerate(reader.outputs):
                    if any(reader.inputs[i] is current for i in _all_aliased_inputs(reader, out_index)):
                        pending.append(out)
        return False

    def validate(self) -> None:
        """Raise InconsistencyError when a node overwrites an input the rules do not let it."""
        for node in self.fgraph.apply_nodes:
            for out_index, inputs in getattr(node.op, "destroy_map", {}).items():
                for index in inputs:
                    var = node.inputs[index]
                    if self._is_update_of(var, node.outputs[out_index]):
                        problem = self._update_problem(node, index)
                    else:
                        problem = None if self._only_reader(var, node) else "other nodes read it"
                    if problem:
                        raise InconsistencyError(f"{node} overwrites {var.label()}: {problem}")


# ---------------------------------------------------------------------------- inplace ops


def _writable_target(array: np.ndarray, out: Variable) -> bool:
    return (
        isinstance(array, np.ndarray)
        and array.flags.writeable
        and array.dtype == out.dtype
        and out.type.check_value_shape(array.shape) is None
    )


class ElemwiseInplace(Elemwise):
    """``Elemwise`` that writes its result into input ``destroyed`` (of the output's type)."""

    __props__ = ("scalar_op", "destroyed")

    def __init__(self, scalar_op: ScalarOp, destroyed: int):
        super().__init__(scalar_op)
        self.destroyed = int(destroyed)
        self.destroy_map = {0: [self.destroyed]}

    def __str__(self) -> str:
        return f"Elemwise{{{self.scalar_op}, inplace={self.destroyed}}}"

    def perform(self, node, inputs):
        target = inputs[self.destroyed]
        out = node.outputs[0]
        if not _writable_target(target, out) or target.shape != np.broadcast_shapes(*(a.shape for a in inputs)):
            return super().perform(node, inputs)
        check_runtime_broadcast(node, inputs)
        impl = self.scalar_op.impl
        with np.errstate(all="ignore"):
            if isinstance(impl, np.ufunc):
                impl(*inputs, out=target)
            else:
                np.copyto(target, impl(*inputs))
        return [target]


class IncSubtensorInplace(IncSubtensor):
    """``inc_subtensor``/``set_subtensor`` that updates its tensor ``x`` in place."""

    destroy_map = {0: [0]}

    def __str__(self) -> str:
        return f"{super().__str__()}{{inplace}}"

    def perform(self, node, inputs):
        x, v, *values = inputs
        if not _writable_target(x, node.outputs[0]):
            return super().perform(node, inputs)
        return [self.write_into(node, x, v, values)]


# ---------------------------------------------------------------------------- the rewrites


def _elemwise_inplace(node: Apply, handler: DestroyHandler) -> Apply | None:
    """An Elemwise writing into its first input that has the output's type and may be destroyed."""
    if type(node.op) is not Elemwise or len(node.outputs) != 1:
        return None
    out = node.outputs[0]
    for index, var in enumerate(node.inputs):
        if var.type == out.type and handler.why_not(node, index) is None:
            return ElemwiseInplace(node.op.scalar_op, index).make_node(*node.inputs)
    return None


def _inc_subtensor_inplace(node: Apply, handler: DestroyHandler) -> Apply | None:
    if type(node.op) is not IncSubtensor or handler.why_not(node, 0) is not None:
        return None
    return IncSubtensorInplace(node.op.index, node.op.set_instead_of_inc).make_node(*node.inputs)


def _gemm_inplace(node: Apply, handler: DestroyHandler) -> Apply | None:
    if node.op.inplace or node.inputs[0].type != node.outputs[0].type:
        return None
    if handler.why_not(node, 0) is not None:
        return None
    op = type(node.op)(node.op.alpha, node.op.beta, inplace=True)
    return op.make_node(*node.inputs)


INPLACE_RULES: dict[type, tuple[str, Callable]] = {
    Elemwise: ("elemwise_inplace", _elemwise_inplace),
    IncSubtensor: ("inc_subtensor_inplace", _inc_subtensor_inplace),
    Gemm: ("gemm_inplace", _gemm_inplace),
    Gemv: ("gemv_inplace", _gemm_inplace),
}
"""The inplace variant builder of each op class, with the name the report shows."""


def _keep_names(old: Apply, new: Apply) -> None:
    """The inplace node keeps the user's names (its trace comes with ``replace``)."""
    for before, after in zip(old.outputs, new.outputs, strict=True):
        after.name = before.name


@register("inplace")
def inplace(fgraph: FunctionGraph, report: PhaseReport) -> None:
    """Replace every node that may overwrite an input by its inplace variant (inputs first)."""
    handler = DestroyHandler()
    fgraph.attach_feature(handler)
    try:
        for node in fgraph.toposort():
            rule = INPLACE_RULES.get(type(node.op))
            new = None if rule is None else rule[1](node, handler)
            if new is None:
                continue
            _keep_names(node, new)
            fgraph.replace_all(zip(node.outputs, new.outputs, strict=True), reason=rule[0])
            report.record(rule[0])
        handler.validate()
    finally:
        fgraph.remove_feature(handler)
