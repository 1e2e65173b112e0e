"""``pp``: an expression as one line of algebra, as Theano's ``theano.printing.pp``.

Arithmetic and comparisons print infix with parentheses, ``(x + (y * 2))``
(Theano's form), negation as ``-x``; every other node prints as its op
applied to its inputs, ``exp(x)`` for an elementwise op and
``Reduce{kind=sum, ...}(x)`` otherwise.  Variables print by name (an
unnamed input by its type), constants as ``TensorConstant{value}``.  A
subexpression used twice prints twice, as in Theano; the walk is iterative,
so deep graphs do not hit the recursion limit.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, Variable, apply_nodes
from theanine.graph.ops.dimshuffle import DimShuffle
from theanine.graph.ops.elemwise import Elemwise
from theanine.graph.ops.subtensor import Subtensor, format_index

__all__ = ["pp"]

INFIX = {"add": "+", "subtract": "-", "multiply": "*", "true_divide": "/", "floor_divide": "//",
         "mod": "%", "power": "**", "less": "<", "less_equal": "<=", "greater": ">",
         "greater_equal": ">=", "equal": "==", "not_equal": "!=", "logical_and": "&",
         "logical_or": "|", "bitwise_and": "&", "bitwise_or": "|", "bitwise_xor": "^"}
"""Elementwise ops printed infix, by scalar op name."""


def pp(variable) -> str:
    """One-line algebra for ``variable`` (a variable or a list of them, joined by newlines)."""
    if isinstance(variable, (list, tuple)):
        return "\n".join(pp(v) for v in variable)
    if not isinstance(variable, Variable):
        raise TypeError(f"pp prints symbolic variables. Received: {type(variable).__name__}")
    text: dict[int, str] = {}
    for node in apply_nodes([variable]):  # parents first
        arguments = [_leaf(v) if v.owner is None else text[id(v)] for v in node.inputs]
        for index, output in enumerate(node.outputs):
            text[id(output)] = _apply(node, index, arguments)
    return _leaf(variable) if variable.owner is None else text[id(variable)]


def _leaf(var: Variable) -> str:
    if isinstance(var, Constant):
        data = np.asarray(var.data)
        value = data.item() if data.ndim == 0 else np.array2string(data, separator=", ",
                                                                   threshold=8)
        return f"TensorConstant{{{value}}}"
    return var.name or f"<{var.type}>"


def _dimshuffle(pattern: tuple, argument: str, ndim: int) -> str:
    """Theano's DimShuffle printer: leading broadcast axes are not shown, a reversal is ``.T``."""
    kept = list(pattern)
    while kept and kept[0] == "x":
        kept.pop(0)
    if kept == list(range(ndim)):
        return argument
    if ndim > 1 and kept == list(reversed(range(ndim))):
        return f"{argument}.T"
    return f"DimShuffle{{{','.join(str(p) for p in pattern)}}}({argument})"


def _apply(node: Apply, index: int, arguments: list[str]) -> str:
    op = node.op
    suffix = f"[{index}]" if len(node.outputs) > 1 else ""
    if isinstance(op, DimShuffle):
        return _dimshuffle(op.pattern, arguments[0], node.inputs[0].ndim)
    if isinstance(op, Subtensor) and len(node.inputs) == 1:
        return f"{arguments[0]}{format_index(op.index)}"
    if isinstance(op, Elemwise):
        name = op.scalar_op.name
        if name in INFIX and len(arguments) == 2:
            return f"({arguments[0]} {INFIX[name]} {arguments[1]})"
        if name == "negative" and len(arguments) == 1:
            return f"-{arguments[0]}"
        return f"{name}({', '.join(arguments)}){suffix}"
    return f"{op}({', '.join(arguments)}){suffix}"
