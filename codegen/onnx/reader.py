"""Import: an ONNX ``ModelProto`` as a theanine graph with named symbolic inputs and outputs.

Each ONNX node goes through its rule (import_rules.py, import_windows.py,
import_loops.py register into one table, keyed by ``op_type``).  Graph
inputs become symbolic tensors (a dim_param or unknown dim is None: the
batch stays dynamic); float initializers become shared variables (the
weights, so the graph fine-tunes), other initializers and ``Constant``
nodes constants (shape vectors and axes stay static).  A node whose op or
attribute has no rule raises ``OnnxImportError`` naming the node.  Element
types theanine lacks (bfloat16, float8, 4- and 2-bit) travel in a carrier
dtype (formats.py): ``OnnxGraph.formats`` names the inputs and outputs that
do, and ``feed`` / ``result`` convert their arrays at the boundary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.builder import NUMPY_DTYPES
from theanine.codegen.onnx.formats import FORMATS, carrier_array, format_array, tensor_value
from theanine.graph.basic import Constant, Variable, graph_inputs
from theanine.graph.evaluate import evaluate

__all__ = ["OnnxImportError", "OnnxGraph", "read_model", "translate_graph", "RULES", "imports"]

RULES: dict[str, Callable] = {}
DOMAINS = ("", "ai.onnx", "ai.onnx.preview", "ai.onnx.preview.training", "ai.onnx.ml")
"""The op domains read: the default one, the preview's FlexAttention, the training preview's
optimizers (import_training.py) and ONNX-ML's tensor ops (import_ml.py, whose rules are keyed
``"ai.onnx.ml.<op>"``)."""


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
    formats: dict = field(default_factory=dict)
    """variable -> the ONNX element type it carries, for the types theanine lacks (formats.py)"""

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


def _tensor_type(name: str, type_proto: onnx.TypeProto) -> tuple[str, tuple, int | None]:
    """An input's dtype (a carried type's carrier), dims, and its carried element type or None."""
    tensor = type_proto.tensor_type
    code = tensor.elem_type
    if not type_proto.HasField("tensor_type") or (code not in NUMPY_DTYPES and code not in FORMATS):
        raise OnnxImportError(f"graph input {name!r}: only tensors of numeric, bool or string types are supported")
    dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
    if code in FORMATS:
        return FORMATS[code].carrier, dims, code
    return NUMPY_DTYPES[code], dims, None


def _input_value(info: onnx.ValueInfoProto, shape, prefix: str, ctx: Context):
    """A graph input as a tensor, or a tuple of tensors for a sequence (``shape``: its elements'
    shapes, which fix its length: import_sequences.py); an optional is its value's type."""
    type_proto = info.type.optional_type.elem_type if info.type.HasField("optional_type") else info.type
    if not type_proto.HasField("sequence_type"):
        return _tensor_input(info.name, type_proto, shape, prefix, ctx)
    if not isinstance(shape, list):
        raise OnnxImportError(f"graph input {info.name!r} is a sequence: give its length as the list of its "
                              "elements' shapes in input_shapes")
    element = type_proto.sequence_type.elem_type
    return tuple(_tensor_input(f"{info.name}[{i}]", element, s, prefix, ctx) for i, s in enumerate(shape))


def _tensor_input(name: str, type_proto, shape, prefix: str, ctx: Context) -> Variable:
    dtype, dims, code = _tensor_type(name, type_proto)
    var = th.tensor(f"{prefix}{name}", dtype, dims if shape is None else tuple(shape))
    if code is not None:
        ctx.formats[var] = code
    return var


def _tensor_of(type_proto: onnx.TypeProto) -> onnx.TypeProto:
    """The tensor type inside an optional and/or sequence type."""
    while not type_proto.HasField("tensor_type"):
        if type_proto.HasField("optional_type"):
            type_proto = type_proto.optional_type.elem_type
        elif type_proto.HasField("sequence_type"):
            type_proto = type_proto.sequence_type.elem_type
        else:
            break
    return type_proto


def _constant_value(value):
    """A value bound by ``constants``: an array, a list (a sequence) or None (an empty optional)."""
    from theanine.codegen.onnx.import_sequences import EMPTY

    if value is None:
        return EMPTY
    if isinstance(value, list):
        return tuple(th.constant(carrier_array(v)) for v in value)
    return th.constant(carrier_array(value))


def translate_graph(graph: onnx.GraphProto, env: dict, ctx: Context, weights_shared: bool) -> list[Variable]:
    """Translate every node of ``graph`` (``env`` maps names to variables; outer names stay visible)."""
    outer, ctx.scope = ctx.scope, env
    try:
        return _translate_nodes(graph, env, ctx, weights_shared)
    finally:
        ctx.scope = outer


def _translate_nodes(graph, env, ctx, weights_shared):
    for init in graph.initializer:
        value, code = tensor_value(init)
        if weights_shared and value.dtype.kind == "f":
            env[init.name] = th.shared(np.array(value), name=init.name)
            ctx.weights.append(env[init.name])
        else:
            env[init.name] = th.constant(value)
        if code is not None:
            ctx.formats[env[init.name]] = code
    for node in graph.node:
        if node.domain not in DOMAINS:
            raise OnnxImportError(f"node {node.name or node.op_type!r}: the domain {node.domain!r} is not supported")
        rule = RULES.get(f"{node.domain}.{node.op_type}" if node.domain == "ai.onnx.ml" else node.op_type)
        if rule is None:
            raise OnnxImportError(f"node {node.name or node.output[0]!r}: ONNX {node.op_type} is not supported")
        args = [env[name] if name else None for name in node.input]
        try:
            outputs = rule(ctx, node, args, attributes(node))
        except Unsupported as reason:
            raise OnnxImportError(f"node {node.name or node.output[0]!r} ({node.op_type}): {reason}") from None
        outputs = _in_formats(ctx, node, args, outputs)
        if all(a is None or isinstance(a, Constant) for a in args) and node.op_type not in NEVER_FOLDED:
            folded = _folded(outputs)
            ctx.formats.update({new: ctx.formats[old] for old, new in zip(outputs, folded, strict=True)
                                if old in ctx.formats})
            outputs = folded
        for name, value in zip(node.output, outputs, strict=False):
            if name:
                env[name] = value
    return [env[o.name] for o in graph.output]


SETS_FORMATS = frozenset({"Cast", "CastLike", "Constant", "QuantizeLinear", "DequantizeLinear"})
"""Ops whose rules choose their outputs' element types themselves (the others keep their inputs')."""


def _in_formats(ctx, node, args, outputs):
    """The outputs of an op on carried float values, rounded to that format (ml_dtypes' arithmetic
    computes in float32 and rounds each op's result)."""
    from theanine.codegen.onnx.import_casts import round_to_format

    codes = {ctx.formats[a] for a in args if a is not None and a in ctx.formats}
    floats = [code for code in codes if FORMATS[code].kind == "float"]
    if node.op_type in SETS_FORMATS or len(floats) != 1:
        return outputs
    code, fmt = floats[0], FORMATS[floats[0]]
    rounded = []
    for out in outputs:
        if isinstance(out, Variable) and out.dtype == fmt.carrier:
            out = round_to_format(out, fmt)
            ctx.formats[out] = code
        rounded.append(out)
    return rounded


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

    def __init__(self, inputs: dict, outputs: dict, weights: list, formats: dict[str, int] | None = None):
        self.sequences = {name: len(v) for name, v in {**inputs, **outputs}.items() if isinstance(v, tuple)}
        """input or output name -> its length, for the sequences (their elements are ``name[i]``)"""
        self._onnx_inputs, self._onnx_outputs = list(inputs), list(outputs)
        inputs, outputs = _flat(inputs), _flat(outputs)
        self.input_names, self.output_names = list(inputs), list(outputs)
        self.inputs, self.outputs = list(inputs.values()), list(outputs.values())
        self.weights = weights
        self.formats = dict(formats or {})
        """input or output name -> its ONNX element type, for those carried in a wider dtype"""
        self._by_name = {**inputs, **outputs}

    def feed(self, name: str, value) -> np.ndarray:
        """The array to pass for input ``name``: a carried type (an ml_dtypes array) in its carrier."""
        return carrier_array(value)

    def result(self, name: str, value) -> np.ndarray:
        """Output ``name``'s computed array in the model's ONNX type (a carried type as ml_dtypes)."""
        name = name.split("[")[0]
        return format_array(value, self.formats[name]) if name in self.formats else np.asarray(value)

    def feeds(self, values: Mapping) -> list:
        """The arrays to pass, in ``inputs``' order, for ONNX input name -> array (a list for a sequence)."""
        flat = []
        for name in self._onnx_inputs:
            flat.extend(values[name] if name in self.sequences else [values[name]])
        return [self.feed(name, v) for name, v in zip(self.input_names, flat, strict=True)]

    def results(self, values: list) -> list:
        """The computed ``outputs`` per ONNX output, in its type (a list of arrays for a sequence)."""
        values = iter(self.result(name, v) for name, v in zip(self.output_names, values, strict=True))
        return [[next(values) for _ in range(self.sequences[name])] if name in self.sequences else next(values)
                for name in self._onnx_outputs]

    def __getitem__(self, name: str) -> Variable:
        return self._by_name[name]

    def __repr__(self) -> str:
        return f"OnnxGraph(inputs={self.input_names}, outputs={self.output_names}, weights={len(self.weights)})"


def _flat(values: dict) -> dict:
    """Name -> variable, a sequence's elements as ``name[i]``."""
    flat = {}
    for name, value in values.items():
        if isinstance(value, tuple):
            flat.update({f"{name}[{i}]": v for i, v in enumerate(value)})
        elif isinstance(value, Variable):
            flat[name] = value
        else:
            raise OnnxImportError(f"graph output {name!r} is an empty optional (theanine has no such value)")
    return flat


def default_opset(model: onnx.ModelProto) -> int:
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=1)


def read_model(model: onnx.ModelProto, name_prefix: str = "", input_shapes: Mapping | None = None,
               constants: Mapping | None = None, graph_class: type = OnnxGraph) -> OnnxGraph:
    """The ``OnnxGraph`` of ``model``; ``input_shapes`` may fix unknown input dims by input name, and
    ``constants`` binds inputs to fixed values (they are then no inputs of the graph)."""
    from theanine.codegen.onnx import (  # noqa: F401
        import_attention,
        import_casts,
        import_deform,
        import_detection,
        import_grid_sample,
        import_loops,
        import_losses,
        import_ml,
        import_more,
        import_quantized,
        import_random,
        import_resize,
        import_rules,
        import_sequences,
        import_signal,
        import_text,
        import_training,
        import_windows,
    )

    graph = model.graph
    initialized = {init.name for init in graph.initializer}
    inputs, formats = {}, {}
    ctx = Context(default_opset(model))
    for info in graph.input:
        if info.name in initialized or (constants and info.name in constants):
            continue
        value = inputs[info.name] = _input_value(info, (input_shapes or {}).get(info.name), name_prefix, ctx)
        carried = [ctx.formats[v] for v in (value if isinstance(value, tuple) else (value,)) if v in ctx.formats]
        if carried:
            formats[info.name] = carried[0]
    env = dict(inputs)
    env.update({name: _constant_value(value) for name, value in (constants or {}).items()})
    outs = translate_graph(graph, env, ctx, weights_shared=True)
    outputs = {o.name: v for o, v in zip(graph.output, outs, strict=True)}
    formats.update({o.name: _tensor_of(o.type).tensor_type.elem_type for o in graph.output
                    if _tensor_of(o.type).tensor_type.elem_type in FORMATS})
    return graph_class(inputs, outputs, ctx.weights, formats)
