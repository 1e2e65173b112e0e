"""Theano's typed constructors: ``dscalar``, ``fmatrix``, ``ivector``, ``bvector``, ``lscalar``, ...

A constructor is a dtype prefix and a kind, as Theano names them:

- prefixes: ``b`` int8, ``w`` int16, ``i`` int32, ``l`` int64, ``f`` float32,
  ``d`` float64 (no prefix: ``config.floatX``);
- kinds: ``scalar`` (), ``vector`` (n,), ``row`` (1, n), ``col`` (n, 1),
  ``matrix`` (m, n), ``tensor3``, ``tensor4``, ``tensor5`` (all sizes
  unknown except the 1s of ``row`` and ``col``, which broadcast).

Each kind has a plural (``scalars``, ``vectors``, ``rows``, ``cols``,
``matrices``, ``tensor3s``, ...) that makes several at once, as Theano's:
``dscalars("a", "b")`` is a list of two named scalars, ``dscalars(3)`` a
list of three unnamed ones, and ``dscalars("a")`` one scalar.  The complex
prefixes ``c`` and ``z`` are not provided (tensors are real).
"""

from __future__ import annotations

from collections.abc import Callable

from theanine.graph.basic import TensorVariable
from theanine.graph.tensor import tensor

PREFIXES = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32", "d": "float64",
            "": None}
"""Theano's dtype letters; "" is ``config.floatX``."""

KINDS = {
    "scalar": ((), "scalars"),
    "vector": ((None,), "vectors"),
    "row": ((1, None), "rows"),
    "col": ((None, 1), "cols"),
    "matrix": ((None, None), "matrices"),
    "tensor3": ((None,) * 3, "tensor3s"),
    "tensor4": ((None,) * 4, "tensor4s"),
    "tensor5": ((None,) * 5, "tensor5s"),
}
"""Each kind's static shape and plural name."""

_PROVIDED_ELSEWHERE = {"scalar", "vector", "matrix", "tensor3", "tensor4"}
"""floatX constructors graph/tensor.py already defines (with more options)."""


def _single(dtype: str | None, shape: tuple, name: str) -> Callable[..., TensorVariable]:
    def make(variable_name: str | None = None) -> TensorVariable:
        return tensor(variable_name, dtype, shape)

    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"A symbolic {dtype or 'floatX'} input of static shape {shape} (Theano's {name})."
    return make


def _plural(single: Callable, name: str) -> Callable:
    def make(*names):
        if len(names) == 1 and isinstance(names[0], int) and not isinstance(names[0], bool):
            return single() if names[0] == 1 else [single() for _ in range(names[0])]
        if not names or not all(isinstance(n, str) for n in names):
            raise TypeError(f"{name} takes names (strings) or a count. Received: {names!r}")
        return single(names[0]) if len(names) == 1 else [single(n) for n in names]

    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"Several {single.__name__}s: one per name given, or a count (Theano's {name})."
    return make


def _constructors() -> dict[str, Callable]:
    made = {}
    for prefix, dtype in PREFIXES.items():
        for kind, (shape, plural) in KINDS.items():
            single_name = prefix + kind
            single = _single(dtype, shape, single_name)
            if single_name not in _PROVIDED_ELSEWHERE:
                made[single_name] = single
            made[prefix + plural] = _plural(single, prefix + plural)
    return made


CONSTRUCTORS = _constructors()
globals().update(CONSTRUCTORS)
__all__ = sorted(CONSTRUCTORS)
