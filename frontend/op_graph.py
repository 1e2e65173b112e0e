"""A small graph of theanine ops as JSON data, and back (the config of an ``OperationLayer``).

A graph between placeholder inputs and its outputs is written as:

- ``inputs``: the placeholders' ``{"dtype", "shape"}``;
- ``constants``: each constant's dtype, static shape and raw bytes (base64,
  little-endian), so values round-trip exactly (NaN and inf included);
- ``nodes``: per Apply node in topological order, its op (``{"class":
  "theanine.graph.ops.elemwise.Elemwise", "props": {...}}``, the op's
  ``__props__`` as JSON values) and its input references (``["input", k]``,
  ``["constant", k]``, ``["node", k, output]``);
- ``outputs``: references to the graph's outputs.

Ops are rebuilt by ``cls(**props)`` from classes of ``theanine.graph`` only,
and an elementwise op's scalar op by its registered name (``ELEMWISE_OPS``)
or, for a cast, its dtype: loading never runs code named by the data and
never unpickles.  Writing checks that every op rebuilds equal to itself and
raises a ValueError naming the op and the user's line when it does not (an
op holding an inner graph or a function, for instance).
"""

from __future__ import annotations

import base64
import importlib
from collections.abc import Mapping, Sequence

import numpy as np

from theanine.graph.basic import Constant, Variable, apply_nodes
from theanine.graph.op import Op
from theanine.graph.ops.elemwise import ScalarOp
from theanine.graph.ops.math import ELEMWISE_OPS, Cast
from theanine.graph.type import TensorType

__all__ = ["encode_graph", "decode_graph"]

OP_PACKAGE = "theanine.graph."
"""Ops are looked up in modules under this package only."""

_NUMERIC_KINDS = "biuf"

_ADVICE = "; compute it in the call of a custom layer instead (a layer's config holds no graph)"


# ----------------------------------------------------------------------------- writing


def encode_graph(inputs: Sequence[Variable], outputs: Sequence[Variable], where: str) -> dict:
    """The JSON description of the graph from ``inputs`` (placeholders) to ``outputs``."""
    refs: dict[int, list] = {id(v): ["input", k] for k, v in enumerate(inputs)}
    constants: list[dict] = []
    nodes: list[dict] = []
    for node in apply_nodes(outputs, stop=inputs):
        args = [_reference(v, refs, constants, node, where) for v in node.inputs]
        nodes.append({"op": encode_op(node.op, f"{where}: the op {node.op} created at {node.source}"),
                      "inputs": args})
        for k, out in enumerate(node.outputs):
            refs[id(out)] = ["node", len(nodes) - 1, k]
    return {
        "inputs": [_type_config(v.type) for v in inputs],
        "constants": constants,
        "nodes": nodes,
        "outputs": [_reference(v, refs, constants, None, where) for v in outputs],
    }


def _reference(var: Variable, refs: dict, constants: list, node, where: str) -> list:
    if id(var) in refs:
        return refs[id(var)]
    if isinstance(var, Constant):
        constants.append(_constant_config(var, where))
        refs[id(var)] = ["constant", len(constants) - 1]
        return refs[id(var)]
    reader = f" read by {node.op} created at {node.source}" if node is not None else ""
    raise ValueError(f"{where}: the variable {var.label()}{reader} is neither an input nor a constant")


def _type_config(tensor_type: TensorType) -> dict:
    return {"dtype": tensor_type.dtype, "shape": list(tensor_type.shape)}


def _constant_config(constant: Constant, where: str) -> dict:
    data = constant.data
    if data.dtype.kind not in _NUMERIC_KINDS:
        raise ValueError(f"{where}: the constant {constant.label()} has dtype {data.dtype}, which cannot be saved")
    raw = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<")).tobytes()
    return {**_type_config(constant.type), "data_shape": list(data.shape),
            "data": base64.b64encode(raw).decode("ascii")}


def encode_op(op: Op, where: str) -> dict:
    """``{"class", "props"}`` of ``op``; a ValueError naming ``where`` when it would not rebuild equal."""
    cls = type(op)
    path = f"{cls.__module__}.{cls.__qualname__}"
    if not cls.__module__.startswith(OP_PACKAGE):
        raise ValueError(f"{where} cannot be saved: only ops of {OP_PACKAGE[:-1]} can (this one is "
                         f"{path}){_ADVICE}")
    spec = {"class": path, "props": {name: _encode_value(getattr(op, name), where) for name in op.__props__}}
    try:
        rebuilt = decode_op(spec, where)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} cannot be saved: its parameters do not rebuild it ({exc}){_ADVICE}") from exc
    if rebuilt != op:
        raise ValueError(f"{where} cannot be saved: its parameters {op.__props__} do not rebuild it{_ADVICE}")
    return spec


def _encode_value(value, where: str):
    """A prop as JSON: tuples become lists, ops and scalar ops tagged dicts."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [_encode_value(v, where) for v in value]
    if isinstance(value, Cast):
        return {"cast": value.dtype}
    if isinstance(value, ScalarOp):
        registered = ELEMWISE_OPS.get(value.name)
        if registered is None or registered.scalar_op != value:
            raise ValueError(f"{where} cannot be saved: its scalar op {value.name!r} is not a registered one{_ADVICE}")
        return {"scalar_op": value.name}
    if isinstance(value, Op):
        return {"op": encode_op(value, where)}
    raise ValueError(f"{where} cannot be saved: a parameter holds a {type(value).__name__} ({value!r}), as ops "
                     f"with an inner graph or a function do{_ADVICE}")


# ----------------------------------------------------------------------------- reading


def decode_graph(config: Mapping, where: str) -> tuple[list[Variable], list[Variable]]:
    """``(placeholders, outputs)``: the graph ``encode_graph`` described, on new placeholders."""
    try:
        inputs = [_decode_type(spec)() for spec in config["inputs"]]
        constants = [_decode_constant(spec, where) for spec in config["constants"]]
        produced: list[list[Variable]] = []
        for k, entry in enumerate(config["nodes"]):
            op = decode_op(entry["op"], f"{where}, node {k}")
            args = [_resolve(ref, inputs, constants, produced, where) for ref in entry["inputs"]]
            produced.append(list(op.apply(*args).outputs))
        outputs = [_resolve(ref, inputs, constants, produced, where) for ref in config["outputs"]]
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ValueError(f"{where}: the operation graph in the config is malformed ({exc!r})") from exc
    return inputs, outputs


def _decode_type(spec: Mapping) -> TensorType:
    return TensorType(str(spec["dtype"]), tuple(None if d is None else int(d) for d in spec["shape"]))


def _decode_constant(spec: Mapping, where: str) -> Constant:
    tensor_type = _decode_type(spec)
    dtype = np.dtype(tensor_type.dtype)
    shape = tuple(int(d) for d in spec["data_shape"])
    raw = base64.b64decode(spec["data"], validate=True)
    if dtype.kind not in _NUMERIC_KINDS or len(raw) != int(np.prod(shape)) * dtype.itemsize:
        raise ValueError(f"{where}: a constant of dtype {dtype} and shape {shape} does not match its "
                         f"{len(raw)} bytes of data")
    data = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    return Constant(data, type=tensor_type)


def _resolve(ref, inputs: list, constants: list, produced: list, where: str) -> Variable:
    kind = ref[0]
    if kind == "input":
        return inputs[int(ref[1])]
    if kind == "constant":
        return constants[int(ref[1])]
    if kind == "node" and int(ref[1]) < len(produced):
        return produced[int(ref[1])][int(ref[2])]
    raise ValueError(f"{where}: the config refers to {ref!r}, which no earlier node or input gives")


def decode_op(spec: Mapping, where: str) -> Op:
    """The op ``encode_op`` described: its class looked up under ``OP_PACKAGE``, built from its props."""
    cls = _op_class(str(spec["class"]), where)
    props = {str(k): _decode_value(v, where) for k, v in dict(spec["props"]).items()}
    if set(props) != set(cls.__props__):
        raise ValueError(f"{where}: {cls.__name__} takes the parameters {cls.__props__}. Received: {sorted(props)}")
    return cls(**props)


def _op_class(path: str, where: str) -> type:
    module_name, _, name = path.rpartition(".")
    if not module_name.startswith(OP_PACKAGE):
        raise ValueError(f"{where}: ops are looked up in {OP_PACKAGE[:-1]} only. Received: {path!r}")
    try:
        found = getattr(importlib.import_module(module_name), name, None)
    except ImportError as exc:
        raise ValueError(f"{where}: no module {module_name!r} for the op {path!r}") from exc
    if not isinstance(found, type) or not issubclass(found, Op):
        raise ValueError(f"{where}: {path!r} is not an op class")
    return found


def _decode_value(value, where: str):
    if isinstance(value, list):
        return tuple(_decode_value(v, where) for v in value)
    if not isinstance(value, dict):
        return value
    if "cast" in value:
        return Cast(str(value["cast"]))
    if "scalar_op" in value:
        name = str(value["scalar_op"])
        if name not in ELEMWISE_OPS:
            raise ValueError(f"{where}: no elementwise op is registered as {name!r}")
        return ELEMWISE_OPS[name].scalar_op
    if "op" in value:
        return decode_op(value["op"], where)
    raise ValueError(f"{where}: unknown parameter value {value!r}")
