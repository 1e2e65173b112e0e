"""Compilation modes, Theano's way: which rewrites run, and how the nodes are watched.

``function(..., mode=...)`` takes a rewrite set name ("fast_run",
"fast_compile", "none", or Theano's upper-case "FAST_RUN",
"FAST_COMPILE"), "NanGuardMode" or "DebugMode" (their defaults), or a
``Mode`` object:

- ``Mode(optimizer=..., linker=...)``: the compiled program as usual; Theano's
  optimizer names "default" (fast_run) and None / "None" (no rewrites) are
  understood, and its linkers ("cvm", "vm", "c", "py", "c|py" and their
  "_nogc" forms) are accepted and recorded without changing how the program
  runs: theanine has one linker, the backend's compiled program, which is
  already lazy for ``ifelse``;
- ``NanGuardMode(nan_is_error, inf_is_error, big_is_error)``: every node's
  inputs and outputs are checked; the first NaN, infinity or value above
  1e10 (in magnitude) raises ``NanGuardError`` naming the node, the value
  that was bad (which input, or which output) and the line that created the
  node;
- ``DebugMode()``: every node runs under the function's backend AND under
  the NumPy reference (its ``perform``), on copies of the same inputs; the
  first difference (dtype, shape, or values beyond the dtype's tolerance,
  NaN placement included) raises ``BadThunkOutput``.

The watched modes run the optimized graph node by node
(``node_runner.py``): each node compiled alone, inputs copied before the
node runs (so an inplace node cannot alter what is reported or compared).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.evaluate import run_node
from theanine.graph.shared import SharedVariable
from theanine.graph.type import format_shape

__all__ = ["Mode", "NanGuardMode", "DebugMode", "NanGuardError", "DebugModeError",
           "BadThunkOutput", "get_mode"]

_REWRITE_SETS = {"fast_run": "fast_run", "fast_compile": "fast_compile", "none": "none",
                 "FAST_RUN": "fast_run", "FAST_COMPILE": "fast_compile", "default": "fast_run",
                 None: "none", "None": "none"}
_LINKERS = ("cvm", "vm", "c", "py", "c|py", "cvm_nogc", "vm_nogc", "c|py_nogc")
"""Theano's linker names, accepted by ``Mode(linker=...)`` (see the module doc)."""
BIG_VALUE = 1e10
"""NanGuardMode's threshold for a "big" value, as in Theano."""


class NanGuardError(AssertionError):
    """A node read or produced NaN, an infinity or a big value (Theano raises AssertionError)."""


class DebugModeError(Exception):
    """A check of DebugMode failed."""


class BadThunkOutput(DebugModeError):
    """The backend and the NumPy reference computed different outputs for one node."""


@dataclass(frozen=True)
class Mode:
    """The rewrite set (``optimizer``) of a compilation; plain modes watch nothing."""

    optimizer: str | None = "fast_run"
    linker: str | None = None

    def __post_init__(self):
        if self.optimizer not in _REWRITE_SETS:
            raise ValueError(
                f"unknown optimizer {self.optimizer!r}; expected one of "
                f"{sorted(k for k in _REWRITE_SETS if k is not None)} or None"
            )
        if self.linker is not None and self.linker not in _LINKERS:
            raise ValueError(f"unknown linker {self.linker!r}; expected one of {list(_LINKERS)} or None")
        object.__setattr__(self, "optimizer", _REWRITE_SETS[self.optimizer])

    watches = False

    def observe(self, node: Apply, inputs: list, outputs: list, seconds: float) -> None:
        """Called after each node when the mode watches nodes."""


@dataclass(frozen=True)
class NanGuardMode(Mode):
    """Raise at the first node that reads or makes NaN / inf / big values (see module doc)."""

    nan_is_error: bool = True
    inf_is_error: bool = True
    big_is_error: bool = True
    watches = True

    def observe(self, node, inputs, outputs, seconds) -> None:
        for index, (var, value) in enumerate(zip(node.inputs, inputs, strict=True)):
            problem = self._problem(value)
            if problem:
                raise NanGuardError(
                    f"NanGuardMode: {problem} in input {index} of {node.op}, created at "
                    f"{node.source}; that input is {_origin(var)}; {_values(node.inputs, inputs)}"
                )
        for index, value in enumerate(outputs):
            problem = self._problem(value)
            if problem:
                raise NanGuardError(
                    f"NanGuardMode: {problem} in output {index} of {node.op}, created at "
                    f"{node.source}, from {_values(node.inputs, inputs)}"
                )

    def _problem(self, value) -> str | None:
        array = np.asarray(value)
        if array.dtype.kind not in "fc" or array.size == 0:
            return None
        if self.nan_is_error and np.isnan(array).any():
            return "NaN"
        if self.inf_is_error and np.isinf(array).any():
            return "an infinity"
        if self.big_is_error and (np.abs(array[np.isfinite(array)]) > BIG_VALUE).any():
            return f"a value above {BIG_VALUE:g} in magnitude"
        return None


_TOLERANCES = {"float16": (1e-2, 1e-3), "float32": (1e-4, 1e-6), "float64": (1e-8, 1e-12)}
"""(rtol, atol) by dtype for DebugMode's comparisons; other dtypes must match exactly."""


@dataclass(frozen=True)
class DebugMode(Mode):
    """Compare every node's backend result with the NumPy reference (see module doc)."""

    watches = True

    def observe(self, node, inputs, outputs, seconds) -> None:
        expected = run_node(node, [np.array(v, copy=True) for v in inputs])
        for index, (got, want) in enumerate(zip(outputs, expected, strict=True)):
            problem = _difference(np.asarray(got), np.asarray(want))
            if problem:
                raise BadThunkOutput(
                    f"DebugMode: output {index} of {node.op}, created at {node.source}, differs "
                    f"between the backend and the NumPy reference (perform): {problem}; "
                    f"{_values(node.inputs, inputs)}"
                )


def _difference(got: np.ndarray, want: np.ndarray) -> str | None:
    if got.dtype != want.dtype or got.shape != want.shape:
        return f"got {got.dtype}{format_shape(got.shape)}, expected {want.dtype}{format_shape(want.shape)}"
    if got.dtype.name not in _TOLERANCES:
        bad = got != want
    else:
        rtol, atol = _TOLERANCES[got.dtype.name]
        with np.errstate(all="ignore"):
            bad = ~np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    if not bad.any():
        return None
    where = tuple(int(i) for i in np.argwhere(bad)[0])
    return (f"{int(bad.sum())} of {bad.size} values differ; at index {where} the backend gave "
            f"{got[where].item()!r}, the reference {want[where].item()!r}")


def _origin(var: Variable) -> str:
    if isinstance(var, SharedVariable):
        return f"the shared variable {var.label()}"
    if isinstance(var, Constant):
        return "a constant"
    if var.owner is None:
        return f"the function input {var.label()}"
    return f"the output of {var.owner.op}, created at {var.owner.source}"


def _values(variables, values) -> str:
    """``inputs x: float32(3,) in [-1, 2] with NaN; ...``: what a node was given."""
    parts = []
    for var, value in zip(variables, values, strict=True):
        array = np.asarray(value)
        summary = f"{array.dtype}{format_shape(array.shape)}"
        finite = array[np.isfinite(array)] if array.dtype.kind in "fc" else array
        if array.dtype.kind in "biuf" and finite.size:
            summary += f" in [{finite.min()}, {finite.max()}]"
        if array.dtype.kind == "f" and np.isnan(array).any():
            summary += " with NaN"
        if array.dtype.kind == "f" and np.isinf(array).any():
            summary += " with inf"
        parts.append(f"{var.label()}: {summary}")
    return "inputs " + "; ".join(parts)


def get_mode(mode) -> Mode:
    """The ``Mode`` a ``function(mode=...)`` argument names (see the module docstring)."""
    if isinstance(mode, Mode):
        return mode
    if mode in ("NanGuardMode", "NAN_GUARD_MODE"):
        return NanGuardMode()
    if mode in ("DebugMode", "DEBUG_MODE"):
        return DebugMode()
    if isinstance(mode, str) and mode in _REWRITE_SETS:
        return Mode(mode)
    raise ValueError(
        f"unknown mode {mode!r}; expected one of {sorted(k for k in _REWRITE_SETS if k is not None)}, 'NanGuardMode', "
        "'DebugMode' or a Mode object"
    )
