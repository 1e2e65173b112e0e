"""``FunctionGraph``: the mutable container the rewriter works on.

A FunctionGraph owns a private copy of the graph between its inputs and
outputs (``clone_graph``: Apply nodes and free inputs are copied, constants
and shared variables are kept as they are, since they are values).  It keeps,
for every variable, its *clients*: the ``(node, input_index)`` pairs that read
it, where the pseudo-node ``"output"`` marks a position in ``outputs``.

``updates`` maps an output position to the input position whose new value
it is (a shared variable's update): the destroy handler may then let that
output be computed in the input's own storage (graph/rewriting/inplace.py).

Every structural change goes through ``replace`` (or ``change_input``), which
keeps client lists right, imports the new nodes (which inherit the trace, the
user's source lines, of the variable they replace: errors in a node a rewrite
made name the line where the user wrote what it computes), prunes the nodes
nobody reads any more (dead-code removal is incremental) and tells the attached features
(``on_attach``, ``on_import``, ``on_prune``, ``on_change``, ``on_detach``;
each optional).  Features are how shape inference, the rewrite drivers'
work lists and the destroy handler follow the graph without rescanning it.

``check_integrity`` is the verifier: tests run it after every pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from theanine.graph.basic import Apply, Constant, Variable, apply_nodes, clone_graph, inherit_trace
from theanine.graph.shared import SharedVariable
from theanine.graph.type import TensorType

__all__ = ["FunctionGraph", "InconsistencyError", "replacement_type_problem"]

OUTPUT = "output"
"""The pseudo-client that marks a variable as the fgraph's output number ``index``."""


class Readers:
    """The readers of one variable: ``(node, input_index)`` pairs in the order they came.

    Adding and removing one costs O(1) (a list's ``remove`` is O(n), and a constant that the
    merge pass shares between all the layers of a model has thousands of readers)."""

    __slots__ = ("_pairs",)

    def __init__(self, pairs=()):
        self._pairs: dict[tuple, None] = dict.fromkeys(pairs)

    def append(self, pair: tuple) -> None:
        self._pairs[pair] = None

    def remove(self, pair: tuple) -> None:
        del self._pairs[pair]

    def pop(self) -> tuple:
        return self._pairs.popitem()[0]

    def first(self) -> tuple:
        return next(iter(self._pairs))

    def __contains__(self, pair) -> bool:
        return pair in self._pairs

    def __iter__(self):
        return iter(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)

    def __repr__(self) -> str:
        return repr(list(self._pairs))


class InconsistencyError(Exception):
    """The graph broke one of its invariants (found by ``check_integrity``)."""


def replacement_type_problem(old: TensorType, new: TensorType) -> str | None:
    """Why ``new`` may not stand in for ``old``, or None when it may.

    Same dtype and rank; static sizes must agree where both are known, and a
    static 1 must stay a static 1 (broadcasting is decided by static 1s, so
    losing one would change what downstream Elemwise nodes mean).
    """
    if old.dtype != new.dtype:
        return f"dtype changes from {old.dtype} to {new.dtype}"
    if old.ndim != new.ndim:
        return f"rank changes from {old.ndim} to {new.ndim}"
    if not old.shape_compatible(new):
        return f"static shape {new} does not fit {old}"
    lost = [axis for axis, (o, n) in enumerate(zip(old.shape, new.shape, strict=True)) if o == 1 and n != 1]
    if lost:
        return f"broadcastable dimension(s) {lost} of {old} are not static 1 in {new}"
    return None


class FunctionGraph:
    """A graph from ``inputs`` to ``outputs`` with client lists and features.

    ``outputs_copied``: whoever runs the graph copies each output before
    anything can overwrite its storage (a loop's step, whose results are
    stored into history rows at once), so an inplace result may be an output.
    """

    def __init__(
        self,
        inputs: Sequence[Variable],
        outputs: Sequence[Variable],
        features: Iterable = (),
        clone: bool = True,
        updates: Mapping[int, int] | None = None,
        outputs_copied: bool = False,
    ):
        self.outputs_copied = outputs_copied
        if clone:
            inputs, outputs = clone_graph(list(inputs), list(outputs))
        self.inputs: list[Variable] = list(inputs)
        self._input_positions = {var: i for i, var in enumerate(self.inputs)}
        self.outputs: list[Variable] = list(outputs)
        self.updates: dict[int, int] = dict(updates or {})
        self.clients: dict[Variable, Readers] = {}
        self.apply_nodes: dict[Apply, None] = {}
        self.features: list = []
        for var in self.inputs:
            self.clients.setdefault(var, Readers())
        self._import_outputs_of(self.outputs, reason="init")
        for index, var in enumerate(self.outputs):
            self.clients[var].append((OUTPUT, index))
        for feature in features:
            self.attach_feature(feature)

    # ------------------------------------------------------------------ features

    def attach_feature(self, feature) -> None:
        """Add ``feature`` and call its ``on_attach(fgraph)``."""
        self.features.append(feature)
        self._notify_one(feature, "on_attach", self)

    def remove_feature(self, feature) -> None:
        self.features.remove(feature)
        self._notify_one(feature, "on_detach", self)

    @staticmethod
    def _notify_one(feature, event: str, *args) -> None:
        method = getattr(feature, event, None)
        if method is not None:
            method(*args)

    def _notify(self, event: str, *args) -> None:
        for feature in self.features:
            self._notify_one(feature, event, self, *args)

    # ------------------------------------------------------------------ import / prune

    def _check_free_input(self, var: Variable, reason: str) -> None:
        if var.owner is None and var not in self.clients:
            if isinstance(var, (Constant, SharedVariable)):
                self.clients[var] = Readers()
                return
            raise InconsistencyError(
                f"{reason}: the new graph reads {var.label()} of type {var.type} (created at {var.source}), "
                "which is not an input of this FunctionGraph"
            )

    def _import_outputs_of(self, variables: Iterable[Variable], reason: str) -> list[Apply]:
        """Import every node computing ``variables`` that is not in the graph yet."""
        variables = list(variables)
        new_nodes = self._unknown_nodes(variables)
        for var in variables:
            self._check_free_input(var, reason)
        for node in new_nodes:
            for var in node.inputs:
                self._check_free_input(var, reason)
            self.apply_nodes[node] = None
            for index, var in enumerate(node.inputs):
                self.clients[var].append((node, index))
            for var in node.outputs:
                self.clients.setdefault(var, Readers())
            self._notify("on_import", node, reason)
        return new_nodes

    def _unknown_nodes(self, variables: list[Variable]) -> list[Apply]:
        """Nodes computing ``variables`` not yet in the graph, inputs first (stops at known variables)."""
        order: list[Apply] = []
        done: set[Apply] = set()
        stack = [
            (v.owner, False)
            for v in reversed(variables)
            if v.owner is not None and v not in self.clients
        ]
        while stack:
            node, expanded = stack.pop()
            if node in done:
                continue
            if expanded:
                done.add(node)
                order.append(node)
                continue
            stack.append((node, True))
            for inp in reversed(node.inputs):
                if inp.owner is not None and inp not in self.clients and inp.owner not in done:
                    stack.append((inp.owner, False))
        return order

    def _prune_if_unused(self, var: Variable, reason: str) -> None:
        """Remove ``var``'s owner (and then its unused inputs' owners) when nothing reads it."""
        pending = [var]
        while pending:
            var = pending.pop()
            node = var.owner
            if node is None or node not in self.apply_nodes:
                if var.owner is None and not self.clients.get(var) and not self._is_input(var):
                    self.clients.pop(var, None)
                continue
            if any(self.clients.get(out) for out in node.outputs):
                continue
            del self.apply_nodes[node]
            for out in node.outputs:
                self.clients.pop(out, None)
            for index, inp in enumerate(node.inputs):
                self.clients[inp].remove((node, index))
                pending.append(inp)
            self._notify("on_prune", node, reason)

    def prune(self, node: Apply, reason: str) -> None:
        """Remove ``node`` although other (dead) nodes may still read it; for dead-code removal."""
        if node not in self.apply_nodes:
            return
        del self.apply_nodes[node]
        for out in node.outputs:
            self.clients.pop(out, None)
        for index, inp in enumerate(node.inputs):
            readers = self.clients.get(inp)
            if readers is not None and (node, index) in readers:
                readers.remove((node, index))
                self._prune_if_unused(inp, reason)
        self._notify("on_prune", node, reason)

    def _is_input(self, var: Variable) -> bool:
        return var in self._input_positions

    def input_index(self, var: Variable) -> int | None:
        """The position of ``var`` among the graph's inputs, or None."""
        return self._input_positions.get(var)

    # ------------------------------------------------------------------ changes

    def change_input(self, node: Apply | str, index: int, new: Variable, reason: str) -> None:
        """Make ``node`` read ``new`` at input ``index`` (``node="output"``: output ``index``).

        The nodes that ``new`` brings into the graph inherit the trace of the input it replaces.
        """
        old = self.outputs[index] if node == OUTPUT else node.inputs[index]
        if old is new:
            return
        for imported in self._import_outputs_of([new], reason):
            inherit_trace(imported, old.trace)
        if node == OUTPUT:
            self.outputs[index] = new
        else:
            node.inputs[index] = new
        self.clients[old].remove((node, index))
        self.clients[new].append((node, index))
        self._notify("on_change", node, index, old, new, reason)
        self._prune_if_unused(old, reason)

    def replace_input(self, index: int, new: Variable, reason: str = "replace_input") -> None:
        """Make ``new`` (a free variable of the same type) the graph's input number ``index``."""
        old = self.inputs[index]
        if old is new:
            return
        if new.owner is not None or new.type != old.type:
            raise TypeError(
                f"{reason}: input {old.label()} of type {old.type} cannot become {new.label()} "
                f"of type {new.type} (inputs are replaced by free variables of the same type)"
            )
        self.inputs[index] = new
        del self._input_positions[old]
        self._input_positions[new] = index
        readers = self.clients.pop(old)
        known = self.clients.setdefault(new, Readers())
        for pair in readers:
            known.append(pair)
        for node, position in readers:
            if node == OUTPUT:
                self.outputs[position] = new
            else:
                node.inputs[position] = new
            self._notify("on_change", node, position, old, new, reason)

    def replace(self, var: Variable, new: Variable, reason: str = "replace") -> None:
        """Make every reader of ``var`` read ``new`` instead.

        ``reason`` names the rewrite; it appears in the TypeError raised when
        ``new`` has a type that may not stand in for ``var``'s.  The nodes that
        ``new`` brings into the graph inherit ``var``'s trace.
        """
        if var is new:
            return
        if var not in self.clients:
            raise InconsistencyError(
                f"{reason}: {var.label()} is not a variable of this FunctionGraph"
            )
        problem = replacement_type_problem(var.type, new.type)
        if problem:
            raise TypeError(
                f"rewrite {reason!r} replaced {var.label()} of type {var.type} by {new.label()} of type "
                f"{new.type}: {problem}"
            )
        new_nodes = self._import_outputs_of([new], reason)
        for node in new_nodes:
            inherit_trace(node, var.trace)
        if any(var is inp for node in new_nodes for inp in node.inputs):
            self._prune_new(new_nodes, reason)
            raise InconsistencyError(
                f"rewrite {reason!r}: the replacement of {var.label()} reads it (a cycle)"
            )
        for node, index in list(self.clients[var]):
            self.change_input(node, index, new, reason)

    def _prune_new(self, nodes: list[Apply], reason: str) -> None:
        for node in reversed(nodes):
            for out in node.outputs:
                self._prune_if_unused(out, reason)

    def replace_all(
        self, pairs: Iterable[tuple[Variable, Variable]], reason: str = "replace"
    ) -> None:
        """``replace`` for each ``(var, new)`` pair, in order.

        A variable that an earlier replacement of the batch pruned (the other outputs of its
        node lost their last reader) needs no replacing and is skipped.
        """
        pairs = list(pairs)
        known = [var in self.clients for var, _ in pairs]
        for (var, new), was_known in zip(pairs, known, strict=True):
            if was_known and var not in self.clients:
                continue
            self.replace(var, new, reason)

    # ------------------------------------------------------------------ queries

    def toposort(self) -> list[Apply]:
        """The Apply nodes in a deterministic topological order (inputs first)."""
        return apply_nodes(self.outputs, stop=self.inputs)

    @property
    def variables(self) -> list[Variable]:
        return list(self.clients)

    def __len__(self) -> int:
        return len(self.apply_nodes)

    def __contains__(self, item) -> bool:
        return item in self.apply_nodes or item in self.clients

    def __repr__(self) -> str:
        return f"FunctionGraph({', '.join(map(repr, self.inputs))} -> {', '.join(map(repr, self.outputs))})"

    # ------------------------------------------------------------------ verifier

    def check_integrity(self) -> None:
        """Raise ``InconsistencyError`` naming the first broken invariant.

        Checks: the nodes are exactly those reachable from the outputs; every
        client list lists exactly the readers of its variable; every free
        variable is an input, a constant or a shared variable; every node's
        output types agree with what its op infers from its current inputs.
        """
        order = self.toposort()
        if set(order) != set(self.apply_nodes):
            unreachable = [n for n in self.apply_nodes if n not in set(order)]
            missing = [n for n in order if n not in self.apply_nodes]
            raise InconsistencyError(
                f"nodes not reachable from the outputs: {unreachable}; not imported: {missing}"
            )
        expected: dict[Variable, list] = {v: [] for v in self.inputs}
        for node in order:
            for index, var in enumerate(node.inputs):
                expected.setdefault(var, []).append((node, index))
            for out in node.outputs:
                if out.owner is not node:
                    raise InconsistencyError(
                        f"{out.label()} is an output of {node} but its owner is {out.owner}"
                    )
                expected.setdefault(out, [])
        for index, var in enumerate(self.outputs):
            expected.setdefault(var, []).append((OUTPUT, index))
        self._check_clients(expected)
        for node in order:
            _check_node_types(node)

    def _check_clients(self, expected: dict[Variable, list]) -> None:
        if set(expected) != set(self.clients):
            extra = [v for v in self.clients if v not in expected]
            missing = [v for v in expected if v not in self.clients]
            raise InconsistencyError(
                f"client table has stale variables {extra} and lacks {missing}"
            )
        for var, clients in expected.items():
            if sorted(map(_client_key, clients)) != sorted(map(_client_key, self.clients[var])):
                raise InconsistencyError(
                    f"clients of {var.label()} are {self.clients[var]}, expected {clients}"
                )
            if (
                var.owner is None
                and not isinstance(var, (Constant, SharedVariable))
                and not self._is_input(var)
            ):
                raise InconsistencyError(
                    f"free variable {var.label()} is not an input of the FunctionGraph"
                )


def _client_key(client: tuple) -> tuple:
    node, index = client
    return (id(node), index)


def _check_node_types(node: Apply) -> None:
    """The op, asked again on the current inputs, must agree with the stored output types."""
    try:
        rebuilt = node.op.make_node(*node.inputs)
    except Exception as exc:
        raise InconsistencyError(f"{node} no longer type-checks on its inputs: {exc}") from exc
    if len(rebuilt.outputs) != len(node.outputs):
        raise InconsistencyError(f"{node}: its op now makes {len(rebuilt.outputs)} outputs")
    for stored, fresh in zip(node.outputs, rebuilt.outputs, strict=True):
        if stored.type.dtype != fresh.type.dtype or not stored.type.shape_compatible(fresh.type):
            raise InconsistencyError(
                f"{node}: output type {stored.type} disagrees with {fresh.type} inferred from its inputs"
            )
