"""``utils.model_to_dot`` and ``utils.plot_model``: a model's layer graph through Graphviz, as Keras.

``model_to_dot`` returns the Graphviz DOT text of the model: one node per
layer (a table naming the layer and its class, and, on request, its input
and output shapes, dtype, activation and trainability, as Keras 3 draws
them), one edge per connection between layer calls.  A subclassed model
has no graph of layer calls and is one node, as in Keras.

``plot_model`` writes that graph to ``to_file`` in the format its
extension names (``.png`` by default), through Graphviz's ``dot`` program
as Keras does; a ``.dot`` file is the DOT text itself and needs no
Graphviz.  Without ``dot`` on the PATH it raises ImportError naming how to
install it (Keras raises ImportError too).
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess

from theanine.frontend.layers.base import InputLayer, describe_shape, history_of

__all__ = ["model_to_dot", "plot_model"]

_RANKDIRS = ("TB", "LR")


def model_to_dot(
    model,
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = True,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 200,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
) -> str:
    """The DOT text of ``model``'s layer graph (Keras 3's arguments; see the module docstring).

    ``expand_nested=True`` (nested models drawn as clusters) is not supported.
    """
    if rankdir not in _RANKDIRS:
        raise ValueError(f"rankdir must be one of {_RANKDIRS}. Received: rankdir={rankdir!r}")
    if expand_nested:
        raise ValueError("model_to_dot: expand_nested=True is not supported; nested models are "
                         "drawn as one node")
    if not model.built:
        raise ValueError(
            f"model {model.name!r} has not yet been built. Build the model first by calling "
            "`build()` or by calling the model on a batch of data"
        )
    options = (show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable)
    nodes = getattr(model, "_nodes", None)
    layers = _graph_layers(model) if nodes is not None else [model]
    lines = [
        "digraph G {",
        f"  graph [rankdir={rankdir}, concentrate=true, dpi={int(dpi)}];",
        '  node [shape=plaintext, fontname="Helvetica"];',
    ]
    for layer in layers:
        calls = [n for n in nodes if n.layer is layer] if nodes is not None else []
        lines.append(f"  {_node_id(layer)} [label=<{_label(layer, calls, *options)}>];")
    for source, target in _edges(nodes or []):
        lines.append(f"  {_node_id(source)} -> {_node_id(target)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def plot_model(
    model,
    to_file: str = "model.png",
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = True,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 200,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
) -> None:
    """Draw ``model_to_dot(model, ...)`` into ``to_file`` (format from its extension)."""
    text = model_to_dot(model, show_shapes, show_dtype, show_layer_names, rankdir, expand_nested,
                        dpi, show_layer_activations, show_trainable)
    extension = os.path.splitext(to_file)[1].lstrip(".").lower() or "png"
    if extension == "dot":
        with open(to_file, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    dot = shutil.which("dot")
    if dot is None:
        raise ImportError(
            "You must install graphviz for `plot_model` to work: Graphviz's `dot` program was "
            "not found on the PATH (install it with e.g. `apt-get install graphviz`, "
            "`conda install graphviz` or `brew install graphviz`). Without it, "
            "model_to_dot(model) returns the DOT text and to_file='model.dot' writes it"
        )
    result = subprocess.run(
        [dot, f"-T{extension}", "-o", to_file], input=text, text=True, capture_output=True
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"plot_model: dot failed for format {extension!r} with exit code "
            f"{result.returncode}: {result.stderr.strip()}"
        )


def _graph_layers(model) -> list:
    """Every layer of a functional model, inputs first, in the order of its layer calls."""
    return list(getattr(model, "_graph_layers", model.layers))


def _node_id(layer) -> str:
    return f"layer_{id(layer)}"


def _edges(nodes) -> list[tuple]:
    """``(source layer, target layer)`` for every tensor a layer call consumes, once each."""
    edges: list[tuple] = []
    for node in nodes:
        for tensor in node.inputs:
            edge = (history_of(tensor)[0], node.layer)
            if not any(edge[0] is a and edge[1] is b for a, b in edges):
                edges.append(edge)
    return edges


def _label(layer, calls, show_shapes, show_dtype, show_layer_names, show_activations,
           show_trainable) -> str:
    """Keras 3's node: a table with the title row and one row per requested detail."""
    class_name = type(layer).__name__
    title = f"<b>{_text(layer.name)}</b> ({class_name})" if show_layer_names else class_name
    rows = [[title]]
    if show_dtype:
        rows.append([f"dtype: {layer.dtype}"])
    if show_shapes:
        rows.append([f"Input shape: {_shapes(calls, 'inputs', layer)}",
                     f"Output shape: {_shapes(calls, 'outputs', layer)}"])
    activation = getattr(layer, "activation", None)
    if show_activations and activation is not None:
        rows.append([f"Activation: {_text(getattr(activation, '__name__', str(activation)))}"])
    if show_trainable:
        rows.append([f"Trainable: {layer.trainable}"])
    width = max(len(row) for row in rows)
    cells = "".join(
        "<tr>" + "".join(f'<td colspan="{width // len(row)}">{cell}</td>' for cell in row) + "</tr>"
        for row in rows
    )
    return f'<table border="0" cellborder="1" cellspacing="0">{cells}</table>'


def _shapes(calls, which: str, layer) -> str:
    """The static shapes of the layer's call (``?`` for a layer called several times)."""
    if isinstance(layer, InputLayer):
        return _text(describe_shape(layer.batch_shape))
    if len(calls) != 1:
        return "?"
    shapes = [t.type.shape for t in getattr(calls[0], which)]
    return _text(describe_shape(shapes if len(shapes) > 1 else shapes[0]))


def _text(value: str) -> str:
    return html.escape(str(value))
