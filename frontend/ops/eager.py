"""Eager dispatch for ``keras.ops``: symbolic arguments give graph variables, arrays give arrays.

An op is written once, on graph variables.  ``eager`` wraps it: when no
argument (nor anything nested in a list, tuple or dict argument) is a graph
variable, the small graph the op built from constants is evaluated at once
by the reference interpreter and NumPy arrays come back, as Keras' ops
return arrays.  ``flatten`` and ``pack_as`` are the small tree utilities
the control-flow ops need for their nested loop states (lists, tuples and
dicts of tensors).
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Callable, Mapping

import numpy as np

from theanine.graph.basic import Variable
from theanine.graph.evaluate import evaluate

__all__ = ["eager", "is_symbolic", "evaluated", "flatten", "pack_as"]


def is_symbolic(value) -> bool:
    """Whether ``value`` (or anything in a list, tuple or dict of it) is a graph variable."""
    if isinstance(value, Variable):
        return True
    if isinstance(value, (list, tuple)):
        return builtins.any(is_symbolic(v) for v in value)
    if isinstance(value, Mapping):
        return builtins.any(is_symbolic(v) for v in value.values())
    return False


def evaluated(result):
    """``result`` with every graph variable in it replaced by its value (a NumPy array)."""
    if isinstance(result, Variable):
        return np.asarray(evaluate([result], {})[0])
    if isinstance(result, (list, tuple)):
        return type(result)(evaluated(r) for r in result)
    if isinstance(result, dict):
        return {k: evaluated(v) for k, v in result.items()}
    return result


def eager(function: Callable) -> Callable:
    """``function`` made eager on arrays: symbolic arguments give symbolic results, arrays and
    numbers only give NumPy arrays (see the module docstring)."""

    @functools.wraps(function)
    def op(*args, **kwargs):
        result = function(*args, **kwargs)
        if is_symbolic(args) or is_symbolic(kwargs):
            return result
        return evaluated(result)

    return op


def flatten(tree) -> list:
    """The leaves of a nest of lists, tuples and dicts (dicts in sorted key order)."""
    if isinstance(tree, (list, tuple)):
        return [leaf for item in tree for leaf in flatten(item)]
    if isinstance(tree, Mapping):
        return [leaf for key in sorted(tree) for leaf in flatten(tree[key])]
    return [tree]


def pack_as(tree, leaves: list):
    """``leaves`` (as ``flatten(tree)`` orders them) put back into ``tree``'s structure."""
    packed, rest = _pack(tree, list(leaves))
    if rest:
        raise ValueError(f"pack_as: {len(rest)} leaves left over for structure {tree!r}")
    return packed


def _pack(tree, leaves: list):
    if isinstance(tree, (list, tuple)):
        items = []
        for item in tree:
            value, leaves = _pack(item, leaves)
            items.append(value)
        return type(tree)(items), leaves
    if isinstance(tree, Mapping):
        out = {}
        for key in sorted(tree):
            out[key], leaves = _pack(tree[key], leaves)
        return out, leaves
    return leaves[0], leaves[1:]
