"""Operations on symbolic tensors inside functional models: the automatic ``OperationLayer``.

In a functional model the user may compute on the tensors between layer
calls (``x = h + inputs``, ``ops.mean(x[:, :8], axis=-1)``); those are plain
theanine graph nodes, which carry no layer history.  When such a tensor is
given to a layer call or to ``Model(inputs, outputs)``, ``record_operations``
turns the run of graph nodes between tensors that have history (layer
outputs, ``Input``s) and that tensor into one ``OperationLayer`` call (Keras
2's ``TFOpLambda``; Keras 3 records an ``Operation`` per op): the tensor
itself becomes that call's output, so the model traces, replays, clones,
summarizes and saves it like any layer call.

The layer holds a private copy of the recorded subgraph on placeholders
(constants captured); ``call`` replays it on new tensors.  Its config is the
subgraph as JSON data (``frontend/op_graph.py``): ops by class and props,
constants by value, never code.  A subgraph that reads a shared variable (a
layer's weight) or a graph input that is neither a constant nor a tensor of
the functional graph is refused with a ValueError naming it and the op that
reads it: weights live in layers, as Keras requires.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import theanine as th
from theanine.frontend.layers.base import Layer, Node, _snake_case, has_history, register_layer
from theanine.frontend.op_graph import decode_graph, encode_graph
from theanine.graph.basic import (
    Apply,
    Constant,
    TensorVariable,
    Variable,
    apply_nodes,
    clone_graph,
    clone_replace,
    topological_order,
)
from theanine.graph.op import Op
from theanine.graph.ops.dimshuffle import DimShuffle
from theanine.graph.ops.elemwise import Elemwise
from theanine.graph.ops.join import Join
from theanine.graph.ops.math import Cast
from theanine.graph.ops.reduce import ArgReduce, Cumulative, Reduce
from theanine.graph.ops.shape_values import Shape
from theanine.graph.ops.sorting import ArgSort
from theanine.graph.ops.subtensor import AdvancedSubtensor, Subtensor
from theanine.graph.shared import SharedVariable

__all__ = ["OperationLayer", "record_operations"]


@register_layer
class OperationLayer(Layer):
    """A run of graph operations between layer calls of a functional model, replayed as one layer.

    Made automatically (see the module docstring); ``graph`` is the config
    ``get_config`` wrote (``op_graph.encode_graph``).  It has no weights, and
    its inputs keep their dtypes (no autocast).
    """

    def __init__(self, graph: Mapping | None = None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        if graph is None:
            raise ValueError("OperationLayer needs graph=..., the operations its config describes")
        placeholders, outputs = decode_graph(graph, f"operation layer {self.name!r}")
        self._set_graph(placeholders, outputs)

    @classmethod
    def of_graph(cls, placeholders: list[Variable], outputs: list[Variable], name: str) -> OperationLayer:
        """A layer replaying the graph from ``placeholders`` to ``outputs`` (auto-named ``name``)."""
        layer = cls.__new__(cls)
        Layer.__init__(layer)
        layer.name = name
        layer._set_graph(placeholders, outputs)
        return layer

    def _set_graph(self, placeholders: list[Variable], outputs: list[Variable]) -> None:
        self._placeholders = list(placeholders)
        self._graph_outputs = list(outputs)
        self._elementwise = all(isinstance(node.op, Elemwise) for node in self._applied_nodes())
        self.built = True

    def _applied_nodes(self) -> list[Apply]:
        """The nodes that compute on the inputs' values, in order: not those on constants alone,
        nor shape reads and what is computed from shapes."""
        reached = {id(v) for v in self._placeholders}
        applied = []
        for node in apply_nodes(self._graph_outputs, stop=self._placeholders):
            if any(id(v) in reached for v in node.inputs) and not isinstance(node.op, Shape):
                reached.update(id(v) for v in node.outputs)
                applied.append(node)
        return applied

    def call(self, inputs):
        """The recorded operations on ``inputs`` (one tensor per recorded input, in order)."""
        given = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(given) != len(self._placeholders):
            raise ValueError(
                f"operation layer {self.name!r} takes {len(self._placeholders)} tensor(s). "
                f"Received: {len(given)}"
            )
        replace = dict(zip(self._placeholders, given, strict=True))
        outputs = clone_replace(self._graph_outputs, replace, strict=False)
        return outputs[0] if len(outputs) == 1 else outputs

    def _autocast(self, tensor):
        return tensor

    def compute_mask(self, inputs, mask=None):
        """Elementwise operations pass masks on as the ``Add`` layer does (``x + y`` is
        ``Add()([x, y])``): the logical or of the inputs' masks, None when an input has none;
        other operations (reductions, reshapes, joins) drop them."""
        given = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        masks = [getattr(t, "_keras_mask", None) for t in given]
        if not self._elementwise or not masks or any(m is None for m in masks):
            return None
        merged = th.cast(masks[0], "bool")
        for other in masks[1:]:
            merged = th.logical_or(merged, th.cast(other, "bool"))
        return merged

    @property
    def operations(self) -> list[str]:
        """The names of the ops it applies to its inputs' values, each once, in order (what
        ``summary`` shows); ops on constants alone and shape reads are left out."""
        return list(dict.fromkeys(operation_name(node.op) for node in self._applied_nodes()))

    def get_config(self) -> dict:
        config = super().get_config()
        config["graph"] = encode_graph(self._placeholders, self._graph_outputs, f"operation layer {self.name!r}")
        return config


def _elemwise_name(op: Elemwise) -> str:
    return "cast" if isinstance(op.scalar_op, Cast) else op.scalar_op.name


_KERAS_NAMES: dict[type, Callable[[Op], str]] = {
    Elemwise: _elemwise_name,
    Reduce: lambda op: op.kind,
    ArgReduce: lambda op: op.kind,
    Cumulative: lambda op: f"cum{op.kind}",
    ArgSort: lambda op: "argsort",
    Join: lambda op: "concatenate",
    Subtensor: lambda op: "get_item",
    AdvancedSubtensor: lambda op: "get_item",
    DimShuffle: lambda op: "dimshuffle",
}
"""Names of op nodes as Keras gives them (after the ``keras.ops`` function) where theanine's op
class is named otherwise."""


def operation_name(op: Op) -> str:
    """A short name of an op, as Keras names op nodes: ``add``, ``relu``, ``sum``, ``argmax``,
    ``concatenate``; else the op class's name in snake case."""
    name = _KERAS_NAMES.get(type(op))
    return name(op) if name is not None else _snake_case(type(op).__name__)


# ----------------------------------------------------------------------------- tracing


def record_operations(tensors: Iterable, where: str) -> None:
    """Give layer history to each tensor of ``tensors`` that is computed from tensors that have it.

    Each such tensor becomes the output of a new ``OperationLayer`` call whose
    inputs are the tensors with history it is computed from.  Tensors that
    depend on none (plain graph inputs, constants) are left alone.  ``where``
    names the use (a layer call, the model's outputs) in errors.
    """
    for tensor in tensors:
        if isinstance(tensor, TensorVariable) and tensor.owner is not None and not has_history(tensor):
            _record(tensor, where)


def _record(expression: TensorVariable, where: str) -> None:
    def parents(var: Variable) -> list[Variable]:
        if var.owner is None or (var is not expression and has_history(var)):
            return []
        return list(var.owner.inputs)

    order = topological_order([expression], parents)
    sources = [v for v in order if v is not expression and has_history(v)]
    if not sources:
        return
    for var in order:
        if var.owner is None and not has_history(var) and not isinstance(var, Constant):
            raise ValueError(_foreign_input_message(var, order, where))
    placeholders, outputs = clone_graph(sources, [expression])
    layer = OperationLayer.of_graph(placeholders, outputs, operation_name(expression.owner.op))
    layer._inbound_nodes.append(Node(layer, sources, [expression], inputs_are_list=True))
    expression._layer_history = (layer, 0, 0)
    mask = layer.compute_mask(sources)
    if mask is not None and getattr(expression, "_keras_mask", None) is None:
        expression._keras_mask = mask


def _foreign_input_message(var: Variable, order: list[Variable], where: str) -> str:
    reader = next(v.owner for v in order if v.owner is not None and any(i is var for i in v.owner.inputs))
    used = f"{where}: the operation {reader.op} created at {reader.source} reads"
    if isinstance(var, SharedVariable):
        return (
            f"{used} the shared variable {var.label()!r} (a weight): in a functional model, weights "
            "must live in layers; create it with add_weight in a layer and compute on it in the "
            "layer's call"
        )
    return (
        f"{used} {var.label()!r} (created at {var.source}), which comes neither from layers.Input nor "
        "from a layer call: make it a model input (keras.Input) or a constant"
    )
