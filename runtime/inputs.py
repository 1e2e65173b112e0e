"""The inputs of a compiled function: ``In`` specs, default values, casting rules, unused inputs.

As in Theano:

- ``In(x, value=..., name=..., strict=..., allow_downcast=...)`` wraps an
  input variable: ``value`` is its default (used when the call leaves it
  out; ``f["y"] = 2`` changes it), ``name`` the keyword it is passed by
  (default: the variable's name);
- how a value becomes the input's dtype (``allow_input_downcast`` of
  ``function``, overridden per input by ``In(allow_downcast=...)``):
  ``None`` (the default) converts arrays only without loss (NumPy's "safe"
  casting) and Python numbers and lists when they keep their value, except
  that Python floats may round to a float input (``f(0.1)`` for a float32
  input); ``True`` casts anything, losing precision if it must; ``False``
  converts nothing that loses precision, Python floats included.
  ``strict=True`` takes only arrays of exactly the input's dtype;
- ``In(mutable=..., borrow=...)`` and ``Out(variable, borrow=...)`` are
  accepted as Theano's memory-aliasing permissions; theanine never writes
  into an argument and returns arrays the caller owns, so they change
  nothing (an output may be ``Out(y)``: it is ``y``);
- ``on_unused_input`` ("raise", "warn" or "ignore"; default
  ``config.on_unused_input``, "warn": see ``settings.py``; Theano's is
  "raise"): what an input the outputs do not depend on does.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from theanine.graph.basic import Variable, graph_inputs, user_stack_level
from theanine.graph.type import TensorType

__all__ = ["In", "Out", "UnusedInputError", "as_in", "value_checker", "check_unused_inputs"]

UNUSED_INPUT_POLICIES = ("raise", "warn", "ignore")


class UnusedInputError(ValueError):
    """An input of ``function`` is not needed to compute the outputs (Theano's error)."""


@dataclass
class In:
    """An input variable of ``function`` with Theano's options (see the module docstring)."""

    variable: Variable
    name: str | None = None
    value: Any = None
    strict: bool = False
    allow_downcast: bool | None = None
    mutable: bool = False
    borrow: bool = False

    def __post_init__(self):
        if not isinstance(self.variable, Variable):
            raise TypeError(
                f"In expects a symbolic variable. Received: {type(self.variable).__name__}"
            )
        if self.name is None:
            self.name = self.variable.name
        if self.allow_downcast not in (None, True, False):
            raise ValueError(
                f"In: allow_downcast must be None, True or False. Received: {self.allow_downcast!r}"
            )

    @property
    def has_default(self) -> bool:
        return self.value is not None


@dataclass
class Out:
    """An output of ``function`` with Theano's ``borrow`` flag (see the module docstring)."""

    variable: Variable
    borrow: bool = False

    def __post_init__(self):
        if not isinstance(self.variable, Variable):
            raise TypeError(f"Out expects a symbolic variable. Received: {type(self.variable).__name__}")


def as_in(spec) -> In:
    """An ``In`` for a function input given as a variable or an ``In``."""
    return spec if isinstance(spec, In) else In(spec)


def value_checker(type_: TensorType, what: str, strict: bool = False,
                  allow_downcast: bool | None = None):
    """A function turning a value into an ndarray of ``type_`` under the rules above, or raising
    (TypeError for the dtype, ValueError for the shape) with ``what`` in the message."""
    dtype = np.dtype(type_.dtype)
    ndim = type_.ndim
    static = tuple((axis, size) for axis, size in enumerate(type_.shape) if size is not None)

    def exact(value) -> bool:  # strings are always checked: an object array may hold anything
        if type(value) is not np.ndarray or value.dtype != dtype or value.ndim != ndim or dtype.hasobject:
            return False
        return all(value.shape[axis] == size for axis, size in static)

    def convert(value):
        if strict:
            value = np.asarray(value) if isinstance(value, np.generic) else value
            if not isinstance(value, np.ndarray) or value.dtype != dtype:
                got = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
                raise TypeError(f"{what} is strict: expected an array of dtype {dtype}, got {got}")
        elif allow_downcast is True:
            value = _cast(value, dtype, what)
        elif allow_downcast is False and not isinstance(value, (np.ndarray, np.generic)):
            value = _lossless(value, dtype, what)
        return type_.filter(value, what)

    def check(value):
        return value if exact(value) else convert(value)

    return check


def _cast(value, dtype: np.dtype, what: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what}: cannot convert {type(value).__name__} to an array: {exc}") from exc
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected numbers of dtype {dtype}, got {array.dtype} data")
    with np.errstate(all="ignore"):
        return array.astype(dtype)


def _lossless(value, dtype: np.dtype, what: str) -> np.ndarray:
    """A Python value converted only if every number keeps its value (floats too)."""
    raw = _cast(value, np.asarray(value).dtype, what)
    converted = _cast(raw, dtype, what)
    with np.errstate(invalid="ignore"):
        kept = np.array_equal(converted.astype(raw.dtype), raw, equal_nan=raw.dtype.kind == "f")
    if not kept:
        raise TypeError(
            f"{what}: the value does not fit dtype {dtype} without loss (allow_input_downcast=False"
            "; pass allow_input_downcast=True to round it)"
        )
    return converted


def check_unused_inputs(inputs: list[Variable], targets: list[Variable], policy: str,
                        name: str) -> None:
    """Apply ``policy`` to the inputs that none of ``targets`` depends on."""
    if policy not in UNUSED_INPUT_POLICIES:
        raise ValueError(
            f"on_unused_input must be one of {UNUSED_INPUT_POLICIES}. Received: {policy!r}"
        )
    if policy == "ignore":
        return
    used = {id(v) for v in graph_inputs(targets, stop=inputs)}
    for index, var in enumerate(inputs):
        if id(var) in used:
            continue
        message = (
            f"{name} was asked to create a function computing outputs given certain inputs, but "
            f"the provided input variable at index {index} ({var.label()}) is not part of the "
            "computational graph needed to compute the outputs"
        )
        if policy == "raise":
            raise UnusedInputError(
                f"{message}. To make this error into a warning, pass on_unused_input='warn'; to "
                "disable it, on_unused_input='ignore'"
            )
        warnings.warn(f"{message}. Pass on_unused_input='ignore' to silence this warning, "
                      "'raise' to make it an error", UserWarning, stacklevel=user_stack_level())
