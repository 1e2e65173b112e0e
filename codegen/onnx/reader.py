"""Import: an ONNX ``ModelProto`` as a theanine graph with named symbolic inputs and outputs.

Each ONNX node goes through its rule (import_rules.py, import_windows.py,
import_loops.py register into one table, keyed by ``op_type``).  Graph
inputs become symbolic tensors (a dim_param or unknown dim is None: the
batch stays dynamic); float initializers become shared variables (the
weights, so the graph fine-tunes), other initializers and ``Constant``
nodes constants (shape vectors and axes stay static).  A node whose op or
attribute has no rule raises ``OnnxImportError`` naming the node.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.builder import NUMPY_DTYPES
from theanine.graph.basic import Constant, Variable, graph_inputs
from theanine.graph.evaluate import evaluate

__all__ = ["OnnxImportError", "OnnxGraph", "read_model", "translate_graph", "RULES", "imports"]

RULES: dict[str, Callable] = {}
DOMAINS = ("", "ai.onnx", "ai.onnx.preview", "ai.onnx.preview.training")
"""The op domains read: the default one, the preview's FlexAttention and the training preview's
optimizers (import_training.py)."""


class OnnxImportError(ValueError):
    """An ONNX node that theanine cannot express (the op, or one of its attribute values)."""


class Unsupported(Exception):
    """Raised by a rule for a case it does not cover; the reader adds the node's name."""


def imports(*op_types: str):
    def register(fn):
        for op_type in op_types:
            RULES[op_type] = fn
        return fn
    return register


def attributes(node: onnx.NodeProto) -> dict:
    """The node's attributes as Python values (strings decoded; graphs stay GraphProtos)."""
    values = {}
    for attr in node.attribute:
        value = helper.get_attribute_value(attr)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode() for v in value]
        values[attr.name] = value
    return values


@dataclass
class Context:
    """What a rule may ask: the opset of the default domain and a way to translate subgraphs."""

    opset: int
    weights: list = field(default_factory=list)
    scope: dict = field(default_factory=dict)

    def static(self, var: Variable | None) -> np.ndarray | None:
        """The value of ``var`` if it is a constant (shape vectors, axes, pads)."""
        return var.data if isinstance(var, Constant) else None

    def need_static(self, var: Variable, what: str) -> np.ndarray:
        value = self.static(var)
        if value is None:
            raise Unsupported(f"{what} must be a constant (an initializer or Constant node)")
        return value

    def run_graph(self, graph: onnx.GraphProto, env: Mapping[str, Variable]) -> list[Variable]:
        """The outputs of a subgraph (a loop body, an If branch), its inputs bound in ``env``; the names
        of the enclosing graphs stay visible (ONNX's outer scope)."""
        return translate_graph(graph, {**self.scope, **env}, self, weights_shared=False)


def _tensor_type(info: onnx.ValueInfoProto) -> tuple[str, tuple]:
    tensor = info.type.tensor_type
    if not info.type.HasField("tensor_type") or tensor.elem_type not in NUMPY_DTYPES:
        raise OnnxImportError(f"graph input {info.name!r}: only tensors of numeric or bool types are supported")
    dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
    return NUMPY_DTYPES[tensor.elem_type], dims


def translate_graph(graph: onnx.GraphProto, env: dict, ctx: Context, weights_shared: bool) -> list[Variable]:
    """Translate every node of ``graph`` (``env`` maps names to variables; outer names stay visible)."""
    outer, ctx.scope = ctx.scope, env
    try:
        return _translate_nodes(graph, env, ctx, weights_shared)
    finally:
        ctx.scope = outer


def _translate_nodes(graph, env, ctx, weights_shared):
    for init in graph.initializer:
        value = numpy_helper.to_array(init)
        if weights_shared and value.dtype.kind == "f":
            env[init.name] = th.shared(np.array(value), name=init.name)
            ctx.weights.append(env[init.name])
        else:
            env[init.name] = th.constant(value)
    for node in graph.node:
        if node.domain not in DOMAINS:
            raise OnnxImportError(f"node {node.name or node.op_type!r}: the domain {node.domain!r} is not supported")
        rule = RULES.get(node.op_type)
        if rule is None:
            raise OnnxImportError(f"node {node.name or node.output[0]!r}: ONNX {node.op_type} is not supported")
        args = [env[name] if name else None for name in node.input]
        try:
            outputs = rule(ctx, node, args, attributes(node))
        except Unsupported as reason:
            raise OnnxImportError(f"node {node.name or node.output[0]!r} ({node.op_type}): {reason}") from None
        if all(a is None or isinstance(a, Constant) for a in args) and node.op_type not in NEVER_FOLDED:
            outputs = _folded(outputs)
        for name, value in zip(node.output, outputs, strict=False):
            if name:
                env[name] = value
    return [env[o.name] for o in graph.output]


NEVER_FOLDED = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
                          "Bernoulli", "Dropout"})


def _folded(outputs: list) -> list:
    """Outputs computed from constants only, as constants: shape arithmetic stays static, so reshapes
    and broadcasts downstream keep static shapes (theanine broadcasts only static size-1 dims)."""
    variables = [o for o in outputs if isinstance(o, Variable) and not isinstance(o, Constant)]
    if not variables or not all(isinstance(v, Constant) for v in graph_inputs(variables)):
        return outputs  # a subgraph (an If branch) may read outer-scope inputs or weights
    with np.errstate(all="ignore"):
        values = iter(evaluate(variables, {}))
    return [th.constant(next(values)) if isinstance(o, Variable) and not isinstance(o, Constant) else o
            for o in outputs]


class OnnxGraph:
    """An imported model: symbolic ``inputs`` and ``outputs`` (by ONNX name too) and its ``weights``.

    ``th.function(g.inputs, g.outputs)`` compiles it; ``th.grad(loss, g.weights)`` differentiates
    a loss built on ``g.outputs`` (``th.onnx.load`` returns a subclass with ``function()``).
    """

    def __init__(self, inputs: dict[str, Variable], outputs: dict[str, Variable], weights: list):
        self.input_names, self.output_names = list(inputs), list(outputs)
        self.inputs, self.outputs = list(inputs.values()), list(outputs.values())
        self.weights = weights
        self._by_name = {**inputs, **outputs}

    def __getitem__(self, name: str) -> Variable:
        return self._by_name[name]

    def __repr__(self) -> str:
        return f"OnnxGraph(inputs={self.input_names}, outputs={self.output_names}, weights={len(self.weights)})"


def default_opset(model: onnx.ModelProto) -> int:
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=1)


def read_model(model: onnx.ModelProto, name_prefix: str = "", input_shapes: Mapping | None = None,
               constants: Mapping | None = None, graph_class: type = OnnxGraph) -> OnnxGraph:
    """The ``OnnxGraph`` of ``model``; ``input_shapes`` may fix unknown input dims by input name, and
    ``constants`` binds inputs to fixed values (they are then no inputs of the graph)."""
    from theanine.codegen.onnx import (  # noqa: F401
        import_attention,
        import_grid_sample,
        import_loops,
        import_losses,
        import_more,
        import_quantized,
        import_resize,
        import_rules,
        import_signal,
        import_training,
        import_windows,
    )

    graph = model.graph
    initialized = {init.name for init in graph.initializer}
    inputs = {}
    for info in graph.input:
        if info.name in initialized or (constants and info.name in constants):
            continue
        dtype, dims = _tensor_type(info)
        if input_shapes and info.name in input_shapes:
            dims = tuple(input_shapes[info.name])
        inputs[info.name] = th.tensor(f"{name_prefix}{info.name}", dtype, dims)
    ctx = Context(default_opset(model))
    env = dict(inputs)
    env.update({name: th.constant(np.asarray(value)) for name, value in (constants or {}).items()})
    outs = translate_graph(graph, env, ctx, weights_shared=True)
    outputs = {o.name: v for o, v in zip(graph.output, outs, strict=True)}
    return graph_class(inputs, outputs, ctx.weights)
