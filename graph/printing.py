"""Printing and inspection of graphs: debugprint, networkx, Graphviz DOT.

Every printer walks the graph iteratively and shows each Apply node once;
later references to an already printed node show its id with ``···``.
Ops that hold inner graphs (OpFromGraph, fusion Composites) get their inner
graph printed in an "Inner graphs" section.  A branch deeper than
``MAX_DEPTH`` levels continues as a tree of its own in a "Continued"
section (its line ends with ``↓``), so the text of a long chain grows
linearly with the chain instead of with the square of its depth.
"""

from __future__ import annotations

import io
import itertools
import os
import shutil
import string
import subprocess
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from theanine.graph.basic import Apply, Constant, Variable, apply_nodes
from theanine.graph.shared import SharedVariable

if TYPE_CHECKING:
    import networkx

__all__ = ["debugprint", "to_networkx", "to_dot", "render", "pydotprint", "GraphvizNotFoundError"]

MAX_DEPTH = 64
"""Levels of indentation before a branch of ``debugprint`` continues as a tree of its own."""


class GraphvizNotFoundError(RuntimeError):
    """``render`` needs Graphviz's ``dot`` program, which is not installed."""


def _outputs_of(obj) -> list[Variable]:
    """Variables to print for a variable, a list of them, an Apply or a compiled function."""
    if isinstance(obj, Variable):
        return [obj]
    if isinstance(obj, Apply):
        return list(obj.outputs)
    if hasattr(obj, "optimized_outputs"):
        return list(obj.optimized_outputs)
    if isinstance(obj, (list, tuple)):
        out = []
        for item in obj:
            out.extend(_outputs_of(item))
        return out
    raise TypeError(f"cannot print a {type(obj).__name__}; expected variables, an Apply or a compiled function")


def _ids() -> Iterable[str]:
    """A, B, ..., Z, BA, BB, ...: short ids in order of first appearance."""
    letters = string.ascii_uppercase
    n = 0
    while True:
        k, text = n, ""
        while True:
            text = letters[k % 26] + text
            k //= 26
            if k == 0:
                break
        yield text
        n += 1


IDS = ("CHAR", "int", "id", "")
"""Theano's ``debugprint(ids=...)`` styles: letters, counters, Python ids, or no ids."""


class _Namer:
    def __init__(self, style: str = "CHAR"):
        if style not in IDS:
            raise ValueError(f"debugprint: ids must be one of {list(IDS)}. Received: {style!r}")
        self._ids = _ids() if style == "CHAR" else (str(n) for n in itertools.count())
        self._style = style
        self._given: dict[int, str] = {}

    def __call__(self, obj) -> tuple[str, bool]:
        """(id, first_time) for a node or variable."""
        key = id(obj)
        if key in self._given:
            return self._given[key], False
        self._given[key] = str(key) if self._style == "id" else next(self._ids)
        return self._given[key], True

    def tag(self, ident: str) -> str:
        """`` [id A]``, or nothing with ``ids=""``."""
        return f" [id {ident}]" if self._style else ""


def _describe_var(var: Variable, print_type: bool) -> str:
    text = ""
    if var.name and var.owner is not None:
        text += f" '{var.name}'"
    if print_type:
        text += f" {var.type}"
    return text


def _line(var: Variable, namer: _Namer, print_type: bool, expand_seen: bool = False) -> tuple[str, bool]:
    """One line for ``var`` and whether its inputs should be expanded below it (a node already
    printed is expanded again only with ``expand_seen``: a continued branch)."""
    if var.owner is None:
        ident, _ = namer(var)
        label = var.label() if not isinstance(var, SharedVariable) else f"{var.label()} (shared)"
        if isinstance(var, Constant) and not var.name:
            label = var.label()
        return f"{label}{namer.tag(ident)}{_describe_var(var, print_type) if print_type else ''}", False
    node = var.owner
    ident, first = namer(node)
    out = f".{var.index}" if len(node.outputs) > 1 else ""
    text = f"{node.op}{out}{namer.tag(ident)}{_describe_var(var, print_type)}"
    return (text, True) if first or expand_seen else (text + " ···", False)


class _Printed:
    """What printing trees found to print later: nodes with inner graphs, branches to continue."""

    def __init__(self, depth: int = -1, stop_on_name: bool = False):
        self.inner_holders: list[Apply] = []
        self.continued: list[Variable] = []
        self.depth = depth
        self.stop_on_name = stop_on_name

    def stops_at(self, var: Variable, depth: int) -> bool:
        """Whether the user's ``depth`` or ``stop_on_name`` leaves ``var``'s inputs unprinted."""
        return (0 < self.depth <= depth + 1) or (self.stop_on_name and var.name is not None)


def _print_tree(outputs: list[Variable], namer: _Namer, print_type: bool, stream, found: _Printed,
                inner: bool = False, continuing: bool = False) -> None:
    """Print one tree per output; inner-graph outputs start with "← " and indent their inputs.

    ``continuing`` prints the roots' inputs again (the roots were printed where a branch got
    too deep)."""
    head, tail = (" ← ", "   ") if inner else ("", "")
    stack: list[tuple[Variable, str, str, int]] = [(v, head, tail, 0) for v in reversed(outputs)]
    while stack:
        var, head, tail, depth = stack.pop()
        text, expand = _line(var, namer, print_type, expand_seen=continuing and depth == 0)
        if expand and depth >= MAX_DEPTH:
            found.continued.append(var)
            stream.write(f"{head}{text} ↓\n")
            continue
        stream.write(f"{head}{text}\n")
        if not expand or found.stops_at(var, depth):
            continue
        node = var.owner
        if node.op.inner_graphs():
            found.inner_holders.append(node)
        children = node.inputs
        for k in reversed(range(len(children))):
            last = k == len(children) - 1
            stack.append((children[k], tail + ("└─ " if last else "├─ "), tail + ("   " if last else "│  "), depth + 1))


def _print_continued(namer: _Namer, print_type: bool, stream, found: _Printed) -> None:
    """The branches cut at ``MAX_DEPTH``, each as a tree of its own (which may cut more)."""
    if found.continued:
        stream.write("\nContinued:\n")
    while found.continued:
        var = found.continued.pop(0)
        stream.write("\n")
        _print_tree([var], namer, print_type, stream, found, continuing=True)


def debugprint(obj, depth: int = -1, print_type: bool = True, file=None, ids: str = "CHAR",
               stop_on_name: bool = False) -> str | None:
    """Print a text tree of the graph: ops, names, dtypes and static shapes.

    ``obj`` may be a variable, a list of variables, an Apply or a compiled
    function (its optimized graph).  Writes to ``file`` (default stdout);
    ``file="str"`` returns the text instead.  As in Theano: ``depth`` (-1:
    all) is how many levels are printed, ``ids`` labels nodes "CHAR" (A, B,
    ...), "int", "id" (Python ids) or "" (no labels), and ``stop_on_name``
    leaves the inputs of named variables unprinted.
    """
    if isinstance(depth, bool) or not isinstance(depth, int):
        raise TypeError(f"debugprint: depth must be an int (-1 for no limit). Received: {depth!r}")
    stream = io.StringIO()
    namer = _Namer(ids)
    found = _Printed(depth, stop_on_name)
    _print_tree(_outputs_of(obj), namer, print_type, stream, found)
    _print_continued(namer, print_type, stream, found)
    printed_inner: set[int] = set()
    if found.inner_holders:
        stream.write("\nInner graphs:\n")
    while found.inner_holders:
        node = found.inner_holders.pop(0)
        if id(node.op) in printed_inner:
            continue
        printed_inner.add(id(node.op))
        ident, _ = namer(node)
        stream.write(f"\n{node.op}{namer.tag(ident)}\n")
        for _, inner_outputs in node.op.inner_graphs():
            _print_tree(inner_outputs, namer, print_type, stream, found, inner=True)
        _print_continued(namer, print_type, stream, found)
    text = stream.getvalue()
    if file == "str":
        return text
    (file or sys.stdout).write(text)
    return None


def _var_attrs(var: Variable) -> dict:
    kind = "constant" if isinstance(var, Constant) else "shared" if isinstance(var, SharedVariable) else (
        "input" if var.owner is None else "intermediate")
    return {"kind": "variable", "role": kind, "name": var.name or "", "type": str(var.type),
            "dtype": var.type.dtype, "shape": var.type.shape, "source": var.source}


def to_networkx(obj) -> networkx.DiGraph:
    """A ``networkx.DiGraph`` of variables and Apply nodes.

    Node keys are strings ("v0", "a0", ...); attributes: ``kind`` ("variable"
    or "apply"), for applies ``op`` (text) and ``op_type`` (class name), for
    variables ``role``, ``name``, ``type``, ``dtype``, ``shape``.  Edges run
    variable -> apply (attribute ``position``: the input index) and
    apply -> variable (``position``: the output index).
    """
    import networkx  # imported here only: it costs ~0.15 s, and only this function needs it

    outputs = _outputs_of(obj)
    graph = networkx.DiGraph()
    keys: dict[int, str] = {}

    def key_of(var: Variable) -> str:
        if id(var) not in keys:
            keys[id(var)] = f"v{len(keys)}"
            graph.add_node(keys[id(var)], **_var_attrs(var))
        return keys[id(var)]

    for n, node in enumerate(apply_nodes(outputs)):
        apply_key = f"a{n}"
        graph.add_node(apply_key, kind="apply", op=str(node.op), op_type=type(node.op).__name__,
                       source=node.source)
        for i, var in enumerate(node.inputs):
            graph.add_edge(key_of(var), apply_key, position=i)
        for i, var in enumerate(node.outputs):
            graph.add_edge(apply_key, key_of(var), position=i)
    for var in outputs:
        graph.nodes[key_of(var)]["is_output"] = True
    return graph


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(obj) -> str:
    """Graphviz DOT text: ops as boxes, variables as ellipses, outputs in bold."""
    graph = to_networkx(obj)
    lines = ["digraph theanine {", "  rankdir=TB;", '  node [fontname="Helvetica"];']
    for key, attrs in graph.nodes(data=True):
        if attrs["kind"] == "apply":
            lines.append(f"  {key} [shape=box, label={_quote(attrs['op'])}];")
        else:
            label = (attrs["name"] + "\\n" if attrs["name"] else "") + attrs["type"]
            style = ', style="bold"' if attrs.get("is_output") else ""
            fill = {"constant": "lightgrey", "shared": "lightblue", "input": "palegreen"}.get(attrs["role"])
            bold = ",bold" if attrs.get("is_output") else ""
            fill_attr = f', style="filled{bold}", fillcolor={fill}' if fill else style
            lines.append(f"  {key} [shape=ellipse, label={_quote(label)}{fill_attr}];")
    for src, dst, attrs in graph.edges(data=True):
        lines.append(f"  {src} -> {dst} [label={_quote(str(attrs['position']))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(obj, path: str, format: str | None = None) -> str:
    """Write the graph as SVG/PNG/PDF (from the extension) with Graphviz's ``dot``.

    Raises ``GraphvizNotFoundError`` when the ``dot`` program is missing.
    """
    fmt = format or os.path.splitext(path)[1].lstrip(".").lower()
    if fmt not in ("svg", "png", "pdf"):
        raise ValueError(f"render: unsupported format {fmt!r}; use a path ending in .svg, .png or .pdf")
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizNotFoundError(
            "render needs Graphviz's 'dot' program, which is not installed "
            "(e.g. `apt-get install graphviz`); th.to_dot() returns the DOT text without it"
        )
    result = subprocess.run([dot, f"-T{fmt}", "-o", path], input=to_dot(obj), text=True, capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(f"dot failed with exit code {result.returncode}: {result.stderr.strip()}")
    return path


def pydotprint(fct, outfile: str | None = None, compact: bool = True, format: str = "png", with_ids: bool = False,
               high_contrast: bool = True, cond_highlight=None, colorCodes=None, max_label_size: int = 70,
               scan_graphs: bool = False, var_with_name_simple: bool = False, print_output_file: bool = True,
               return_image: bool = False) -> str:
    """Theano's ``printing.pydotprint``: ``render`` the graph of ``fct`` (a compiled function, variables
    or an Apply) to ``outfile`` (default ``pydotprint.<format>``) and return the path.

    Theano's presentation options (``compact``, ``with_ids``, ``high_contrast``, ``cond_highlight``,
    ``colorCodes``, ``max_label_size``, ``scan_graphs``, ``var_with_name_simple``) are accepted; the
    drawing is ``to_dot``'s.  ``return_image`` is not supported (the image is written to the file).
    """
    if return_image:
        raise NotImplementedError("pydotprint: return_image=True is not supported; read the file it writes")
    path = render(fct, outfile or f"pydotprint.{format}", format)
    if print_output_file:
        print("The output file is available at", path)
    return path
