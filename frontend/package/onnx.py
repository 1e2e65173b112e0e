"""``th.onnx``: export graphs, compiled functions and models to ONNX, and load ONNX models as graphs.

    th.onnx.export(f, "model.onnx")                    # a compiled function
    th.onnx.export([y], "model.onnx", inputs=[x])      # symbolic outputs
    g = th.onnx.load("model.onnx")                     # named symbolic inputs/outputs
    th.function(g.inputs, g.outputs)

``import theanine`` does not load this module nor the ``onnx`` package
(``pip install theanine[onnx]``); the first use of ``th.onnx`` does.
Models export with ``model.export(path, format="onnx")`` (frontend).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

from theanine.graph.basic import Variable, clone_replace
from theanine.runtime.function import Function

__all__ = ["export", "load", "to_model"]  # and, loaded on use, OnnxExportError and OnnxImportError


def _require_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError("th.onnx needs the onnx package: pip install 'theanine[onnx]'") from exc
    return onnx


def __getattr__(name):
    if name == "OnnxExportError":
        from theanine.codegen.onnx.export import OnnxExportError

        return OnnxExportError
    if name == "OnnxImportError":
        from theanine.codegen.onnx.reader import OnnxImportError

        return OnnxImportError
    raise AttributeError(f"module 'theanine.onnx' has no attribute {name!r}")


def _function_graph(function: Function, inputs) -> tuple[list[Variable], list[Variable]]:
    if inputs is not None:
        raise TypeError("th.onnx.export: a compiled function brings its own inputs; do not pass inputs=")
    if function.updated:
        raise ValueError(
            f"th.onnx.export: function {function.name} updates shared variables "
            f"({', '.join(s.label() for s in function.updated)}); ONNX models are stateless, export "
            "an inference function (no updates)"
        )
    givens = function._recipe["givens"]
    outputs = clone_replace(function.outputs, dict(givens), strict=False) if givens else list(function.outputs)
    return list(function.inputs), outputs


def to_model(outputs_or_function, inputs: Sequence[Variable] | None = None, opset: int = 18,
             input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None):
    """The ``onnx.ModelProto`` that ``export`` writes."""
    onnx = _require_onnx()
    from theanine.codegen.onnx.export import export_graph

    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not 18 <= opset <= newest:
        raise ValueError(f"th.onnx.export: opset must be an int from 18 (the forms the exporter writes: "
                         f"reduction axes as inputs) to {newest} (the installed onnx). Received: opset={opset!r}")

    if isinstance(outputs_or_function, Function):
        inputs, outputs = _function_graph(outputs_or_function, inputs)
    else:
        outputs = (list(outputs_or_function) if isinstance(outputs_or_function, (list, tuple))
                   else [outputs_or_function])
        if inputs is None:
            raise TypeError("th.onnx.export: symbolic outputs need inputs=[...] (the graph's free inputs)")
        inputs = list(inputs)
    return export_graph(inputs, outputs, opset, input_names, output_names)


def export(outputs_or_function, path, inputs: Sequence[Variable] | None = None, opset: int = 18,
           input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None):
    """Write an ONNX file computing the outputs (or the compiled ``Function``) from the inputs.

    Shared variables become initializers; unknown dimensions stay symbolic
    (axis 0 is named "batch").  Raises ``OnnxExportError`` naming the op and
    the line that built it for a node that has no ONNX form.  Returns the
    ``onnx.ModelProto`` written.
    """
    onnx = _require_onnx()
    model = to_model(outputs_or_function, inputs, opset, input_names, output_names)
    onnx.save(model, path if hasattr(path, "write") else os.fspath(path))
    return model


def load(path_or_model, name_prefix: str = "", input_shapes=None, constants=None):
    """An ONNX model (a path or a ``ModelProto``) as an ``OnnxGraph``: named symbolic ``inputs`` and
    ``outputs`` and the trainable ``weights`` (its float initializers, as shared variables).

    ``input_shapes`` (input name -> shape) fixes dimensions the file leaves open (for a sequence
    input, the list of its elements' shapes: its length is fixed at import); ``constants``
    (input name -> array) binds inputs to fixed values, for inputs that must be static in theanine
    (a Reshape's shape, a reduction's axes, pads).  Types theanine has no dtype for (bfloat16,
    float8, 4- and 2-bit) are carried in a wider one (``OnnxGraph.formats``); the graph's
    ``function()`` converts them and sequences at its boundary.  Raises
    ``OnnxImportError`` naming the node for an op or attribute theanine cannot express.
    """
    onnx = _require_onnx()
    from theanine.codegen.onnx.reader import read_model

    model = path_or_model if isinstance(path_or_model, onnx.ModelProto) else _read_file(onnx, path_or_model)
    return read_model(model, name_prefix, input_shapes, constants, _loaded_class())


def _read_file(onnx, path):
    """The ModelProto in ``path``; a file that is not one raises ``OnnxImportError`` naming it."""
    from theanine.codegen.onnx.reader import OnnxImportError

    path = os.fspath(path)
    try:
        return onnx.load(path)
    except OSError:
        raise
    except Exception as error:  # protobuf's DecodeError and kin: the bytes are not an ONNX model
        raise OnnxImportError(f"th.onnx.load: {path!r} is not an ONNX model ({type(error).__name__}: "
                              f"{error})") from error


@functools.cache
def _loaded_class():
    from theanine.codegen.onnx.reader import OnnxGraph

    class LoadedOnnxGraph(OnnxGraph):
        """An imported model; ``function(**options)`` compiles its inputs -> outputs."""

        def function(self, **options):
            """The compiled model.  A model with sequences or types carried in a wider dtype (bfloat16,
            float8, 4-bit) takes and returns them as ONNX does: one argument per ONNX input (a list
            for a sequence, ml_dtypes arrays for those types), one result per ONNX output; its
            ``compiled`` attribute is the ``Function`` of the flat, carried values."""
            from theanine.runtime.function import function

            compiled = function(self.inputs, self.outputs, **options)
            return _OnnxTyped(self, compiled) if self.formats or self.sequences else compiled

    return LoadedOnnxGraph


class _OnnxTyped:
    """Calls ``compiled`` with ``graph.feeds`` of the ONNX values given and returns ``graph.results``."""

    def __init__(self, graph, compiled: Function):
        self.graph, self.compiled = graph, compiled

    def __call__(self, *args, **named):
        names = self.graph._onnx_inputs
        if len(args) > len(names):
            raise TypeError(f"the model takes {len(names)} input(s) ({names}), received {len(args)}")
        values = dict(zip(names, args, strict=False))  # fewer positional values: the rest by name
        for name, value in named.items():
            if name not in names or name in values:
                raise TypeError(f"unexpected or repeated input {name!r}; the model's inputs are {names}")
            values[name] = value
        missing = [name for name in names if name not in values]
        if missing:
            raise TypeError(f"missing model input(s) {missing}")
        outputs = self.compiled(*self.graph.feeds(values))
        return self.graph.results(outputs if isinstance(outputs, list) else [outputs])
