"""Export: a symbolic graph (inputs -> outputs) as an ONNX ``ModelProto``.

The graph is exported as the user wrote it (not the optimized one, whose
fused and BLAS nodes are backend forms): each Apply node goes through its
rule in export_rules.py.  Before a node is emitted, a node whose inputs are
all known when exporting (constants, static shapes) is computed with its
NumPy ``perform`` and becomes an initializer, so shape arithmetic of static
sizes never reaches the file.  Shared variables (weights) become
initializers.  Unknown input dimensions stay symbolic: axis 0 is named
``batch``, so the batch size is dynamic.

A Scan (``th.scan``; the recurrent layers) becomes an ONNX ``Loop`` whose
body is the step, exported by the same walk; loops with several lags per
recurrent output or a ``while`` condition raise an error.  Any op without
an ONNX form raises ``OnnxExportError`` naming the op and the user's line.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import helper

from theanine.codegen.onnx import export_value_ops  # noqa: F401 - registers its rules
from theanine.codegen.onnx.builder import Builder, onnx_dtype, value_info
from theanine.codegen.onnx.export_rules import Decline, rule_for
from theanine.graph.basic import Apply, Constant, Variable, apply_nodes
from theanine.graph.ops.random import RandomOp
from theanine.graph.ops.shape_values import Shape, ShapeI
from theanine.graph.shared import SharedVariable

__all__ = ["OnnxExportError", "export_graph"]

DEFAULT_OPSET = 18


class OnnxExportError(ValueError):
    """A graph holds a node that has no ONNX form."""


def _where(node: Apply) -> str:
    return f" (the node was built at {node.source})" if node.trace else ""


class Exporter:
    """Walks graphs into one builder; ``names`` maps a variable to its ONNX value name."""

    def __init__(self, builder: Builder):
        self.b = builder
        self.names: dict[int, str] = {}
        self.values: dict[int, np.ndarray] = {}
        self.weights: dict[int, str] = {}

    # -- values known when exporting ----------------------------------------------------

    def static(self, var: Variable) -> np.ndarray | None:
        """The value of ``var`` if it is known now (a constant, or folded from constants)."""
        if isinstance(var, Constant):
            return var.data
        return self.values.get(id(var))

    def _fold(self, node: Apply) -> list[np.ndarray] | None:
        if isinstance(node.op, RandomOp) or not getattr(node.op, "deterministic", True):
            return None
        if isinstance(node.op, Shape) and None not in node.inputs[0].type.shape:
            return [np.asarray(node.inputs[0].type.shape, dtype="int64")]
        if isinstance(node.op, ShapeI) and node.inputs[0].type.shape[node.op.i] is not None:
            return [np.asarray(node.inputs[0].type.shape[node.op.i], dtype="int64")]
        known = [self.static(v) for v in node.inputs]
        if not node.inputs or any(v is None for v in known):
            return None
        with np.errstate(all="ignore"):
            return [np.asarray(v) for v in node.op.perform(node, known)]

    # -- names ------------------------------------------------------------------------------

    def name_of(self, var: Variable) -> str:
        if id(var) in self.names:
            return self.names[id(var)]
        if isinstance(var, SharedVariable):
            if id(var) not in self.weights:
                self.weights[id(var)] = self.b.initializer(var.get_value(borrow=True), _hint(var.name, "weight"))
            return self.weights[id(var)]
        value = self.static(var)
        if value is not None:
            return self.b.const(value)
        raise OnnxExportError(f"the graph reads {var.label()}, which is not among the exported inputs")

    # -- the walk ---------------------------------------------------------------------------

    def walk(self, outputs: Sequence[Variable], stop: Sequence[Variable]) -> list[str]:
        for node in apply_nodes(outputs, stop=stop):
            folded = self._fold(node)
            if folded is not None:
                for out, value in zip(node.outputs, folded, strict=True):
                    self.values[id(out)] = value.astype(out.dtype, copy=False)
                continue
            rule = rule_for(node.op)
            if rule is None:
                raise OnnxExportError(f"{node.op} has no ONNX form{_where(node)}")
            ins = [self.name_of(v) for v in node.inputs]
            try:
                outs = rule(self, node, ins)
            except Decline as reason:
                raise OnnxExportError(f"{node.op} has no ONNX form: {reason}{_where(node)}") from None
            for var, name in zip(node.outputs, outs, strict=True):
                self.names[id(var)] = name
        return [self.name_of(v) for v in outputs]

    def inline(self, inner_inputs, inner_outputs, ins) -> list[str]:
        """An inner graph's outputs, its inputs bound to the ONNX values ``ins``."""
        for var, name in zip(inner_inputs, ins, strict=True):
            self.names[id(var)] = name
        return self.walk(inner_outputs, inner_inputs)

    def loop(self, node: Apply, ins: list[str]) -> list[str]:
        """A Scan as an ONNX Loop (see the module docstring)."""
        op, b = node.op, self.b
        spec = op.spec
        if spec.until:
            raise Decline("a while loop (th.scan with until) is not exported")
        if any(taps != (1,) for taps in spec.taps):
            raise Decline("a recurrent output reads lags other than the previous step")
        body = Builder(b.opset, b)
        inner = Exporter(body)
        inner.names, inner.values, inner.weights = self.names, self.values, self.weights
        step, cond = body.fresh("iter"), body.fresh("cond")
        state_inputs = [spec.inner_taps(k)[0] for k in range(spec.n_recurrent)] + list(spec.inner_carried())
        state_names = [body.fresh("state") for _ in state_inputs]
        for position, name in zip(state_inputs, state_names, strict=True):
            self.names[id(op.inner_inputs[position])] = name
        for i in range(spec.n_seqs):
            outer = ins[1 + i]
            self.names[id(op.inner_inputs[i])] = body.one("Gather", outer, step, axis=0)
        for position, outer_position in zip(spec.inner_nonseqs(), spec.outer_nonseqs(), strict=True):
            self.names[id(op.inner_inputs[position])] = ins[outer_position]
        outs = inner.walk(op.inner_outputs, op.inner_inputs)
        states = outs[: spec.n_recurrent] + [outs[i] for i in spec.carried_outputs()]
        scanned = [k for k in range(spec.n_recurrent) if not spec.keep_last[k]]
        per_step = [outs[k] for k in scanned] + [outs[i] for i in spec.mapped_outputs()]
        body_outputs = [body.one("Identity", cond)] + [body.one("Identity", s) for s in states]
        body_outputs += [body.one("Identity", s) for s in per_step]
        inner_vars = ([op.inner_outputs[k] for k in range(spec.n_recurrent)]
                      + [op.inner_outputs[i] for i in spec.carried_outputs()]
                      + [op.inner_outputs[k] for k in scanned]
                      + [op.inner_outputs[i] for i in spec.mapped_outputs()])
        graph = helper.make_graph(
            body.nodes, body.fresh("body"),
            [helper.make_tensor_value_info(step, onnx_dtype("int64"), []),
             helper.make_tensor_value_info(cond, onnx_dtype("bool"), [])]
            + [value_info(n, op.inner_inputs[p].dtype, op.inner_inputs[p].type.shape)
               for n, p in zip(state_names, state_inputs, strict=True)],
            [helper.make_tensor_value_info(body_outputs[0], onnx_dtype("bool"), [])]
            + [value_info(n, v.dtype, v.type.shape) for n, v in zip(body_outputs[1:], inner_vars, strict=True)],
        )
        zero = b.const(np.asarray(0, dtype="int64"))
        initial = [b.one("Gather", ins[p], zero, axis=0) for p in spec.outer_inits()]
        initial += [ins[p] for p in spec.outer_carried()]
        results = b.node("Loop", [ins[0], "", *initial], len(states) + len(per_step), body=graph)
        finals, stacked = results[: len(states)], iter(results[len(states):])
        out = []
        for k in range(spec.n_recurrent):
            if spec.keep_last[k]:
                out.append(b.one("Unsqueeze", finals[k], b.const(np.asarray([0], dtype="int64"))))
            else:
                out.append(next(stacked))
        out += [next(stacked) for _ in spec.mapped_outputs()]
        out += finals[spec.n_recurrent:]
        return out


def _hint(name: str | None, default: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "_." else "_" for c in (name or ""))
    return cleaned or default


def _unique_names(variables, given, default: str) -> list[str]:
    names, seen = [], set()
    for i, var in enumerate(variables):
        name = given[i] if given is not None else _hint(var.name, f"{default}_{i}")
        if name in seen:
            name = f"{name}_{i}"
        seen.add(name)
        names.append(name)
    return names


def export_graph(inputs: Sequence[Variable], outputs: Sequence[Variable], opset: int = DEFAULT_OPSET,
                 input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None,
                 graph_name: str = "theanine") -> onnx.ModelProto:
    """The ONNX model computing ``outputs`` from ``inputs`` (shared variables as initializers)."""
    inputs, outputs = list(inputs), list(outputs)
    in_names = _unique_names(inputs, input_names, "input")
    out_names = _unique_names(outputs, output_names, "output")
    clash = set(in_names) & set(out_names)
    if clash:
        raise ValueError(f"ONNX export: a name is both an input and an output: {sorted(clash)}")
    builder = Builder(opset)
    exporter = Exporter(builder)
    for var, name in zip(inputs, in_names, strict=True):
        exporter.names[id(var)] = name
    produced = exporter.walk(outputs, inputs)
    for name, final in zip(produced, out_names, strict=True):
        builder.node("Identity", [name], [final])
    graph = helper.make_graph(
        builder.nodes, graph_name,
        [value_info(n, v.dtype, v.type.shape, ["batch"] + [f"{n}_dim{a}" for a in range(1, v.ndim)])
         for n, v in zip(in_names, inputs, strict=True)],
        [value_info(n, v.dtype, v.type.shape, [f"{n}_dim{a}" for a in range(v.ndim)])
         for n, v in zip(out_names, outputs, strict=True)],
        builder.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="theanine")
    model.ir_version = min(model.ir_version, 10)
    return model
