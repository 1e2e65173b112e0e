"""Keras' dtype helpers: ``standardize_dtype``, ``result_type``, ``is_float_dtype``, ``is_int_dtype``.

``result_type`` follows Keras 3's promotion (JAX's lattice): a Python
``int``/``float`` is weak and takes the other operand's type where it fits
(``int`` + ``"int8"`` is int8, ``float`` + ``"int32"`` is floatx); among
integers the result is the smallest that holds both (``uint8`` + ``int8``
is int16, ``uint64`` with a signed type overflows to a weak float: floatx
unless a float type joins); an integer
with a float is the float (``int64`` + ``float16`` is float16); float16 with
bfloat16 is float32; a real with a complex type is the complex type wide
enough for the real one.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.config import config

__all__ = ["standardize_dtype", "result_type", "is_float_dtype", "is_int_dtype"]

ALLOWED_DTYPES = ("float16", "float32", "float64", "bfloat16", "uint8", "uint16", "uint32", "uint64", "int8", "int16",
                  "int32", "int64", "bool", "string", "complex64", "complex128")
_PYTHON = {bool: "bool", int: "int32", float: "float32", str: "string", complex: "complex64", "int": "int32"}


def standardize_dtype(dtype=None) -> str:
    """The dtype's Keras name: None is floatx, ``int`` int32, ``float`` float32, NumPy dtypes by name."""
    if dtype is None:
        return config.floatX
    if isinstance(dtype, (type, str)) and dtype in _PYTHON:
        return _PYTHON[dtype]
    name = dtype if isinstance(dtype, str) else getattr(dtype, "name", None)
    if name is None:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = None
    name = {"double": "float64", "half": "float16", "float": "float32"}.get(name, name)
    if name not in ALLOWED_DTYPES:
        raise ValueError(f"Invalid dtype: {dtype!r}. Expected one of {ALLOWED_DTYPES}")
    return name


def is_float_dtype(dtype) -> bool:
    """Whether ``dtype`` is a floating-point type (bfloat16 included)."""
    return standardize_dtype(dtype).startswith(("float", "bfloat"))


def is_int_dtype(dtype) -> bool:
    """Whether ``dtype`` is a signed or unsigned integer type."""
    return standardize_dtype(dtype).startswith(("int", "uint"))


_LATTICE = {
    "bool": ("int",), "int": ("uint8", "int8", "complex"),
    "uint8": ("int16", "uint16"), "uint16": ("int32", "uint32"), "uint32": ("int64", "uint64"), "uint64": ("float",),
    "int8": ("int16",), "int16": ("int32",), "int32": ("int64",), "int64": ("float",),
    "float": ("bfloat16", "float16"), "bfloat16": ("float32",), "float16": ("float32",),
    "float32": ("float64", "complex64"), "float64": ("complex128",),
    "complex": ("complex64",), "complex64": ("complex128",), "complex128": (),
}
"""Each type's immediate successors in Keras' (JAX's) promotion lattice; "int", "float" and
"complex" are the weak types of Python scalars."""


def _upper_bounds() -> dict[str, frozenset]:
    """Every type's set of types at or above it in the lattice."""
    bounds: dict[str, frozenset] = {}

    def above(node: str) -> frozenset:
        if node not in bounds:
            bounds[node] = frozenset({node}).union(*(above(n) for n in _LATTICE[node]))
        return bounds[node]

    for node in _LATTICE:
        above(node)
    return bounds


_UPPER = _upper_bounds()


def _join(nodes: set[str]) -> str:
    """The least upper bound of ``nodes`` in the lattice."""
    common = frozenset.intersection(*(_UPPER[n] for n in nodes))
    (least,) = [c for c in common if common <= _UPPER[c]]
    return least


def _resolve_weak(node: str) -> str:
    """A weak result in floatx's precision (``"float"`` is floatx, ``"int"`` int32 for float32)."""
    bits = config.floatX[-2:]
    return {"int": f"int{bits}", "float": f"float{bits}", "complex": "complex128" if bits == "64" else "complex64"}.get(
        node, node)


_WEAK = {int: "int", float: "float", complex: "complex"}
_STRONG = {"int": "int32", "float": "float32", "complex": "complex64"}


def result_type(*dtypes) -> str:
    """The dtype an operation on ``dtypes`` returns under Keras' promotion (see the module docstring).

    Keras' JAX, Torch and NumPy backends then narrow 64-bit results to 32 bits (JAX's default);
    theanine computes in 64 bits where asked, so it keeps them (as Keras' TensorFlow backend keeps
    float64 and int64)."""
    if not dtypes:
        return config.floatX
    nodes = {_WEAK[d] if isinstance(d, type) and d in _WEAK else standardize_dtype(d) for d in dtypes}
    if "string" in nodes:
        if nodes != {"string"}:
            raise ValueError(f"result_type: strings do not promote with other dtypes. Received: {dtypes!r}")
        return "string"
    if nodes <= set(_WEAK.values()):  # only Python scalars: join their strong forms, then weak again
        strong = _join({_STRONG[n] for n in nodes})
        return _resolve_weak(next(weak for weak, form in _STRONG.items() if form == strong))
    return _resolve_weak(_join(nodes))
