"""``model.summary()``: the Keras 2 text table, with Keras 3's arguments.

One row per layer: "Layer (type)", "Output Shape", "Param #", and for a
functional graph "Connected to" (the tensors each call read).  The
operations a functional model applies between layers (``OperationLayer``)
show the ops they apply as their type: ``add (add, relu)``.  Keras'
options:

- ``line_length`` (default 65) and ``positions``: where each column ends,
  as fractions of the line or as absolute character positions;
- ``show_trainable``: one more column, "Y" or "N" for layers with weights
  ("-" for those without);
- ``expand_nested``: the layers of a nested model follow its row, indented
  under it;
- ``layer_range``: ``(first, last)`` layer names (``fnmatch`` patterns):
  only the rows from the first layer matching ``first`` to the last one
  matching ``last``.

A cell longer than its column wraps onto the next lines, so the columns
stay aligned.  The totals count every weight of the model.
"""

from __future__ import annotations

import fnmatch

from theanine.frontend.layers.base import Layer, Node, describe_shape, history_of
from theanine.frontend.layers.operation import OperationLayer

DEFAULT_LINE_LENGTH = 65
TRAINABLE_WIDTH = 11
"""Characters Keras adds to the line for the "Trainable" column."""


def format_summary(model, line_length: int | None = None, positions=None, expand_nested: bool = False,
                   show_trainable: bool = False, layer_range=None) -> str:
    """The summary table of ``model`` as text (see the module docstring)."""
    from theanine.frontend.models import Functional, Model, Sequential

    graph = isinstance(model, Functional) and not isinstance(model, Sequential) and model.built
    headers = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if graph else [])
    line_length = DEFAULT_LINE_LENGTH if line_length is None else int(line_length)
    ends = _column_ends(positions, line_length, len(headers), graph)
    if show_trainable:
        headers.append("Trainable")
        ends.append(ends[-1] + TRAINABLE_WIDTH)
    widths = [end - start for end, start in zip(ends, [0, *ends[:-1]], strict=True)]
    rows: list[list[str]] = []
    for layer in _selected(_listed(model), layer_range):
        rows.append(_cells(model, layer, graph, show_trainable))
        if expand_nested and isinstance(layer, Model):
            rows += [["  " + cells[0], *cells[1:]] for cells in _nested_rows(layer, show_trainable, graph)]
    total = ends[-1]
    lines = [f'Model: "{model.name}"', "_" * total, *_row(headers, widths), "=" * total]
    for i, row in enumerate(rows):
        lines += _row(row, widths)
        lines.append("=" * total if i == len(rows) - 1 else "_" * total)
    if not rows:
        lines.append("=" * total)
    trainable = _param_count(model.trainable_weights)
    non_trainable = _param_count(model.non_trainable_weights)
    lines += [
        f"Total params: {trainable + non_trainable:,} ({_bytes_text(model.weights)})",
        f"Trainable params: {trainable:,} ({_bytes_text(model.trainable_weights)})",
        f"Non-trainable params: {non_trainable:,} ({_bytes_text(model.non_trainable_weights)})",
        "_" * total,
    ]
    return "\n".join(lines)


def _column_ends(positions, line_length: int, count: int, graph: bool) -> list[int]:
    if positions is None:
        positions = (0.33, 0.55, 0.67, 1.0) if graph else (0.45, 0.85, 1.0)
    positions = list(positions)
    if len(positions) != count:
        raise ValueError(f"summary: positions needs {count} column ends. Received: positions={positions!r}")
    ends = [int(line_length * p) if p <= 1 else int(p) for p in positions]
    if any(b <= a for a, b in zip([0, *ends[:-1]], ends, strict=True)):
        raise ValueError(f"summary: positions must increase. Received: positions={positions!r}")
    return ends


def _selected(layers: list[Layer], layer_range) -> list[Layer]:
    if layer_range is None:
        return list(layers)
    if not isinstance(layer_range, (list, tuple)) or len(layer_range) != 2:
        raise ValueError(f"summary: layer_range must be (first, last) layer names. Received: {layer_range!r}")
    first, last = layer_range
    starts = [i for i, layer in enumerate(layers) if fnmatch.fnmatch(layer.name, first)]
    stops = [i for i, layer in enumerate(layers) if fnmatch.fnmatch(layer.name, last)]
    if not starts or not stops or stops[-1] < starts[0]:
        raise ValueError(
            f"summary: layer_range={tuple(layer_range)!r} matches no layers in order among "
            f"{[layer.name for layer in layers]}"
        )
    return list(layers[starts[0]:stops[-1] + 1])


def _cells(model, layer: Layer, graph: bool, show_trainable: bool) -> list[str]:
    cells = [f"{layer.name} ({_type_text(layer)})", _output_shape_text(model, layer),
             f"{layer.count_params():,}"]
    if graph:
        cells.append(_connections(model, layer))
    if show_trainable:
        cells.append(("Y" if layer.trainable else "N") if layer.weights else "-")
    return cells


def _listed(model) -> list[Layer]:
    """The layers a model's table lists: a functional graph's operations between its layers too."""
    from theanine.frontend.models import Functional, Sequential

    graph = isinstance(model, Functional) and not isinstance(model, Sequential) and model.built
    return model.operations if graph else model.layers


def _type_text(layer: Layer) -> str:
    """The class of a layer; for the operations of a functional model, the ops they apply."""
    if isinstance(layer, OperationLayer):
        return ", ".join(layer.operations) or type(layer).__name__
    return type(layer).__name__


def _nested_rows(model, show_trainable: bool, graph: bool) -> list[list[str]]:
    """The rows of a nested model's layers (without the outer graph's "Connected to")."""
    from theanine.frontend.models import Model

    rows = []
    for layer in _listed(model):
        cells = _cells(model, layer, False, show_trainable)
        if graph:
            cells.insert(3, "")
        rows.append(cells)
        if isinstance(layer, Model):
            rows += [["  " + c[0], *c[1:]] for c in _nested_rows(layer, show_trainable, graph)]
    return rows


def _wrap(text: str, size: int) -> list[str]:
    """``text`` in pieces of at most ``size`` characters, broken after a space where there is one
    (as Keras 2's table does)."""
    size = max(size, 1)
    pieces = []
    while len(text) > size:
        cut = text.rfind(" ", 0, size + 1)
        cut = cut + 1 if cut > 0 else size
        pieces.append(text[:cut].rstrip())
        text = text[cut:]
    return [*pieces, text]


def _row(cells: list[str], widths: list[int]) -> list[str]:
    """The line(s) of one row: each cell wraps within its column (one space before it)."""
    pieces = [_wrap(cell, width - 1) for cell, width in zip(cells, widths, strict=True)]
    height = max(len(p) for p in pieces)
    lines = []
    for k in range(height):
        parts = [f" {p[k] if k < len(p) else ''}".ljust(width) for p, width in zip(pieces, widths, strict=True)]
        lines.append("".join(parts).rstrip())
    return lines


def _model_nodes_of(model, layer: Layer) -> list[Node]:
    nodes = getattr(model, "_nodes", None)
    if nodes is None:
        return list(layer._inbound_nodes)
    return [node for node in nodes if node.layer is layer]


def _output_shape_text(model, layer: Layer) -> str:
    nodes = _model_nodes_of(model, layer)
    if len(nodes) != 1:
        return "multiple" if nodes else "?"
    shapes = [t.type.shape for t in nodes[0].outputs]
    return describe_shape(shapes if len(shapes) > 1 else shapes[0])


def _connections(model, layer: Layer) -> str:
    parts = []
    for node in _model_nodes_of(model, layer):
        for tensor in node.inputs:
            source, node_index, tensor_index = history_of(tensor)
            parts.append(f"{source.name}[{node_index}][{tensor_index}]")
    return ", ".join(parts)


def _param_count(weights) -> int:
    return int(sum(w.get_value(borrow=True).size for w in weights))


def _bytes_text(weights) -> str:
    size = float(sum(w.get_value(borrow=True).nbytes for w in weights))
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} GB"
