"""The Op contract.

An op is a small class whose parameters (named in ``__props__``) are
immutable and hashable, so two ops with equal parameters are equal and
hash alike; that is what lets the merge pass and the compile cache treat
graphs structurally.  The rules of an op live together:

- ``make_node(*inputs)``: check types, infer static shapes, return an Apply.
- ``perform(node, inputs)``: the NumPy reference semantics, the
  specification every backend is tested against.  Returns the outputs.
- ``infer_shape(node, input_shapes)``: symbolic output shapes.
- ``L_op(inputs, outputs, output_grads)``: reverse mode, written in ops.
- ``R_op(inputs, eval_points)``: forward mode, written in ops.
- ``takes_strings``: whether string tensors may be inputs (ops that only move
  or select elements, and the string ops); ``apply`` refuses them elsewhere.

Backends never add methods here: each backend registers a lowering for
the op class in its own folder.
"""

from __future__ import annotations

from collections.abc import Sequence

from theanine.graph.basic import Apply, Variable
from theanine.graph.config import config
from theanine.graph.test_values import compute_test_values
from theanine.graph.type import is_string


class Op:
    """Base class of every operation."""

    __props__: tuple[str, ...] = ()
    takes_strings = False

    def _props(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__props__)

    def __eq__(self, other) -> bool:
        if self is other:
            return True
        if type(self) is not type(other) or hash(self) != hash(other):
            return False
        return self._props() == other._props()

    def __hash__(self) -> int:
        """Computed once: the parameters never change (rewrites hash ops all the time)."""
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = self.__dict__["_hash"] = hash((type(self), self._props()))
        return cached

    def __str__(self) -> str:
        name = type(self).__name__
        if not self.__props__:
            return name
        params = ", ".join(f"{n}={_short(getattr(self, n))}" for n in self.__props__)
        return f"{name}{{{params}}}"

    __repr__ = __str__

    def make_node(self, *inputs) -> Apply:
        raise NotImplementedError(f"{type(self).__name__}.make_node")

    def apply(self, *inputs) -> Apply:
        """``make_node``, then the node's test values when ``config.compute_test_value`` asks for
        them: how user-facing functions build nodes (graph/test_values.py)."""
        self._check_strings(inputs)
        node = self.make_node(*inputs)
        compute_test_values(node, config.compute_test_value)
        return node

    def _check_strings(self, inputs: Sequence) -> None:
        """Refuse a string tensor input, naming it and its line, unless the op takes strings."""
        for k, var in enumerate(inputs):
            if isinstance(var, Variable) and is_string(getattr(var.type, "dtype", None)) and not self.takes_strings:
                raise TypeError(f"{self} cannot take string tensors: input {k} ({var.label()}, created at "
                                f"{var.trace[0]}) is a string tensor")

    def __call__(self, *inputs, name: str | None = None):
        node = self.apply(*inputs)
        if name is not None and len(node.outputs) == 1:
            node.outputs[0].name = name
        return node.default_output()

    def perform(self, node: Apply, inputs: Sequence) -> list:
        raise NotImplementedError(f"{type(self).__name__} has no perform (no reference semantics)")

    def infer_shape(self, node: Apply, input_shapes: Sequence[tuple]) -> list[tuple]:
        raise NotImplementedError(f"{type(self).__name__}.infer_shape")

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable],
             output_grads: Sequence[Variable]) -> list[Variable | None]:
        """Gradients of a scalar cost w.r.t. each input; None = disconnected."""
        raise NotImplementedError(f"{type(self).__name__} has no gradient (L_op)")

    def R_op(self, inputs: Sequence[Variable], eval_points: Sequence[Variable | None]) -> list[Variable | None]:
        """Directional derivatives of each output; None = no R_op (grad.py falls back)."""
        raise NotImplementedError(f"{type(self).__name__} has no R_op")

    def inner_graphs(self) -> list[tuple[list[Variable], list[Variable]]]:
        """``(inputs, outputs)`` of each inner graph this op holds (none by default)."""
        return []

    def connection_pattern(self, node: Apply) -> list[list[bool]]:
        """``pattern[i][j]``: does output j depend on input i differentiably."""
        return [[True] * len(node.outputs) for _ in node.inputs]


class NonDifferentiableOp(Op):
    """A one-output op whose output carries no gradient (a shape, the index of a maximum).

    The output is disconnected from every input, in reverse and forward mode.
    """

    def connection_pattern(self, node: Apply) -> list[list[bool]]:
        return [[False] for _ in node.inputs]

    def L_op(self, inputs, outputs, output_grads) -> list[Variable | None]:
        return [None] * len(inputs)

    def R_op(self, inputs, eval_points) -> list[Variable | None]:
        return [None]


def _short(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, tuple) and len(value) > 6:
        return f"({', '.join(map(str, value[:6]))}, ...)"
    return str(value)
