"""The op case table: one row per (op, dtypes, shapes, edge values).

Rows live in ``tests/graph/cases_<family>.py`` modules, each exporting a
list ``CASES``; ``all_cases()`` gathers them.  ``tests/graph/test_op_table.py``
runs every row under every backend against the row's NumPy reference and
checks gradients of differentiable rows by finite differences.  A new
backend runs the whole table by registering itself.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Case:
    """One row.

    ``build(*vars)`` makes the symbolic output from one input variable per
    array in ``inputs``; ``reference(*arrays)`` computes the expected value
    with NumPy.  ``grad_inputs`` lists the inputs to differentiate (None:
    every float input; () for no gradient check); ``grad_points`` replaces
    the float inputs for the gradient check (to stay away from kinks).
    ``host_calls`` lists op classes that may still run as a NumPy host
    call under a compiled backend (no native lowering yet).
    """

    id: str
    build: Callable
    inputs: Sequence[np.ndarray]
    reference: Callable
    grad_inputs: Sequence[int] | None = None
    grad_points: Sequence[np.ndarray] | None = None
    rtol: float | None = None
    atol: float | None = None
    static_shapes: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)
    host_calls: tuple[type, ...] = ()

    def float_inputs(self) -> list[int]:
        if self.grad_inputs is not None:
            return list(self.grad_inputs)
        return [i for i, a in enumerate(self.inputs) if np.asarray(a).dtype.kind == "f"]


def all_cases() -> list[Case]:
    """Every row of every ``tests/graph/cases_*.py`` module, in file order."""
    cases: list[Case] = []
    folder = pathlib.Path(__file__).parent / "graph"
    for path in sorted(folder.glob("cases_*.py")):
        spec = importlib.util.spec_from_file_location(f"op_cases.{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        cases.extend(module.CASES)
    ids = [c.id for c in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate case ids: {duplicates}")
    return cases


def tolerance(dtype: str) -> tuple[float, float]:
    """(rtol, atol) for comparing a backend with NumPy in ``dtype``."""
    return {
        "float16": (1e-2, 1e-3),
        "float32": (1e-5, 1e-6),
        "float64": (1e-12, 1e-14),
    }.get(str(dtype), (0.0, 0.0))


def added_at(x: np.ndarray, index, value) -> np.ndarray:
    """NumPy's reference for inc_subtensor: a copy of ``x`` with ``value`` added at ``index`` (repeats add)."""
    out = x.copy()
    np.add.at(out, index, value)
    return out


def set_at(x: np.ndarray, index, value) -> np.ndarray:
    """NumPy's reference for set_subtensor: a copy of ``x`` with ``value`` stored at ``index``."""
    out = x.copy()
    out[index] = value
    return out
