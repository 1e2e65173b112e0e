"""Test values (Theano's ``compute_test_value``): graphs evaluated while they are built.

With ``config.compute_test_value`` other than ``"off"``, every node made by a
user-facing op call (``Op.__call__`` / ``Op.apply``) is run at once with its
op's ``perform`` on its inputs' test values, and the results become the test
values of its outputs.  A shape error then shows at the line that wrote the
expression, with the values' shapes, instead of when the function first runs.

Inputs get a test value with ``x.tag.test_value = value`` (checked against
the variable's type); constants and shared variables supply their own.  The
modes say what happens to a node whose inputs lack one:

- ``"off"``: nothing is computed (the default);
- ``"ignore"``: the node gets no test values;
- ``"warn"``: the same, with a ``TestValueWarning`` naming the input;
- ``"raise"``: a ``TestValueError`` naming the input and the node.

An error of ``perform`` itself is raised in every mode but ``"off"``,
annotated with the node and the user's line.  Rewriting never computes test
values (``optimize`` turns them off), so compiling costs nothing more; nor
do the definitions of inner graphs (``without_test_values``).  A placeholder
that a pass builds on (a gradient seed standing for a node's output) takes
the test value of what it stands for (``stand_in``), so the nodes built on it
get theirs.
"""

from __future__ import annotations

import warnings
from contextlib import AbstractContextManager

import numpy as np

from theanine.graph.basic import Apply, Constant, Variable, user_stack_level
from theanine.graph.config import config
from theanine.graph.evaluate import run_node
from theanine.graph.shared import SharedVariable

__all__ = ["MODES", "TestValueError", "TestValueWarning", "get_test_value", "has_test_value", "compute_test_values",
           "stand_in", "without_test_values"]

MODES = ("off", "ignore", "warn", "raise")


class TestValueError(ValueError):
    """``compute_test_value="raise"`` and an input of a new node has no test value."""


class TestValueWarning(UserWarning):
    """``compute_test_value="warn"`` and an input of a new node has no test value."""


def has_test_value(var: Variable) -> bool:
    return isinstance(var, (Constant, SharedVariable)) or var.tag.has_test_value()


def get_test_value(var: Variable):
    """The test value of ``var``: a constant's data, a shared variable's value or ``tag.test_value``."""
    if isinstance(var, Constant):
        return var.data
    if isinstance(var, SharedVariable):
        return var.get_value(borrow=True)
    return var.tag.test_value


def compute_test_values(node: Apply, mode: str) -> None:
    """Give ``node``'s outputs test values computed from its inputs' (see the module docstring)."""
    if mode == "off":
        return
    missing = next((v for v in node.inputs if not has_test_value(v)), None)
    if missing is not None:
        _report_missing(missing, node, mode)
        return
    for out, value in zip(node.outputs, run_node(node, [get_test_value(v) for v in node.inputs]), strict=True):
        out.tag.test_value = value


def _report_missing(var: Variable, node: Apply, mode: str) -> None:
    if mode == "ignore":
        return
    message = (
        f"{var.label()} of type {var.type} (created at {var.source}) has no test value, so {node.op} "
        f"(created at {node.source}) gets none; set `{var.name or 'x'}.tag.test_value = <array>` "
        f"or config.compute_test_value='off'"
    )
    if mode == "warn":
        warnings.warn(message, TestValueWarning, stacklevel=user_stack_level())
        return
    raise TestValueError(message)


def stand_in(like: Variable, name: str | None = None, zeros: bool = False) -> Variable:
    """A fresh input of ``like``'s type with ``like``'s test value (zeros of its shape with
    ``zeros``), when it has one."""
    var = like.type(name)
    if has_test_value(like):
        value = get_test_value(like)
        var.tag.test_value = np.zeros_like(value) if zeros else value
    return var


def without_test_values() -> AbstractContextManager:
    """A scope that builds a definition (an inner graph), not values: no test values in it."""
    return config.context(compute_test_value="off")
