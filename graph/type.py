"""Tensor types: a dtype plus a static shape whose entries are ints or None.

A static 1 marks a broadcastable dimension; ``None`` means "known at run
time" and is never broadcast implicitly, so the gradient of a broadcast is
decided when the graph is built, as in Theano and PyTensor.

``basic`` (variables) builds on this module and is imported after it; a
type makes its variables through the ``basic`` module object when called.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theanine.graph import basic

DTYPES = (
    "bool", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64",
)
FLOAT_DTYPES = ("float16", "float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
DISCRETE_DTYPES = ("bool",) + INT_DTYPES
STRING_DTYPE = "object"
"""String tensors: NumPy object arrays of Python ``str`` (as ONNX's numpy_helper reads STRING
tensors).  Their ops run NumPy's ``perform`` under every backend; an op that cannot take strings
says so when the node is built (``Op.takes_strings``)."""


def normalize_dtype(dtype) -> str:
    """Return the canonical name of ``dtype`` or raise naming what was wrong.  ``str``,
    ``"string"``, ``object`` and NumPy's unicode dtypes all name the string dtype."""
    if isinstance(dtype, str) and dtype in ("string", "str"):
        return STRING_DTYPE
    try:
        numpy_dtype = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"unknown dtype {dtype!r}; expected one of {DTYPES + ('string',)}") from exc
    if numpy_dtype.kind in "OU":
        return STRING_DTYPE
    if numpy_dtype.name not in DTYPES:
        raise TypeError(f"unsupported dtype {numpy_dtype.name!r}; expected one of {DTYPES + ('string',)}")
    return numpy_dtype.name


def normalize_shape(shape) -> tuple[int | None, ...]:
    """Check a static shape: a tuple of ints >= 0 or None."""
    out = []
    for dim in tuple(shape):
        if dim is None:
            out.append(None)
            continue
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 0:
            raise ValueError(
                f"a static shape holds ints >= 0 or None. Received: shape={tuple(shape)!r}"
            )
        out.append(int(dim))
    return tuple(out)


def _plain_array(value: np.ndarray, what: str) -> np.ndarray:
    """An ndarray subclass (np.matrix, memmap, ...) as a plain ndarray: every backend computes with
    NumPy's ndarray semantics.  A masked array is refused: its mask would be silently ignored."""
    if type(value).__module__.startswith("numpy.ma"):
        raise TypeError(
            f"{what}: masked arrays are not supported (the mask would be ignored); "
            "pass value.filled(fill_value) or value.data"
        )
    return np.asarray(value)


def is_float(dtype: str) -> bool:
    return dtype in FLOAT_DTYPES


def is_discrete(dtype: str) -> bool:
    return dtype in DISCRETE_DTYPES


def is_string(dtype: str) -> bool:
    return dtype == STRING_DTYPE


def format_shape(shape: tuple[int | None, ...]) -> str:
    """``(None, 3)`` prints as ``(?, 3)``; a 1-tuple keeps its comma."""
    items = ["?" if d is None else str(d) for d in shape]
    if len(items) == 1:
        return f"({items[0]},)"
    return "(" + ", ".join(items) + ")"


@dataclass(frozen=True, slots=True)
class TensorType:
    """The type of a tensor variable: ``TensorType("float32", (None, 3))``.

    Theano's ``TensorType(dtype, broadcastable=(False, True))`` is understood: a broadcastable
    dimension is a static 1, the others are flexible (None).
    """

    dtype: str
    shape: tuple[int | None, ...]

    def __init__(self, dtype, shape=(), broadcastable=None):
        if broadcastable is not None:
            if shape != ():
                raise TypeError("TensorType: give shape or broadcastable, not both")
            shape = tuple(1 if b else None for b in broadcastable)
        object.__setattr__(self, "dtype", normalize_dtype(dtype))
        object.__setattr__(self, "shape", normalize_shape(shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        return tuple(d == 1 for d in self.shape)

    def __call__(self, name: str | None = None):
        """Make a fresh input variable of this type."""
        return basic.TensorVariable(self, name=name)

    def __str__(self) -> str:
        return f"{'string' if is_string(self.dtype) else self.dtype}{format_shape(self.shape)}"

    def __repr__(self) -> str:
        return f"TensorType({self.dtype!r}, {self.shape!r})"

    def with_shape(self, shape) -> TensorType:
        return TensorType(self.dtype, shape)

    def with_dtype(self, dtype) -> TensorType:
        return TensorType(dtype, self.shape)

    def accepts(self, other: TensorType) -> bool:
        """True when every value of ``other`` is a value of this type."""
        if other.dtype != self.dtype or other.ndim != self.ndim:
            return False
        return all(s is None or s == o for s, o in zip(self.shape, other.shape, strict=True))

    def shape_compatible(self, other: TensorType) -> bool:
        """True when both types can hold the same value (None matches anything)."""
        if other.ndim != self.ndim:
            return False
        return all(s is None or o is None or s == o for s, o in zip(self.shape, other.shape, strict=True))

    def check_value_shape(self, shape: tuple[int, ...]) -> str | None:
        """Describe why an array of ``shape`` does not fit, or return None."""
        if len(shape) != self.ndim:
            return f"expected {self.ndim} dimension(s), got an array with {len(shape)}: shape {shape}"
        for axis, (static, actual) in enumerate(zip(self.shape, shape, strict=True)):
            if static is not None and static != actual:
                return (
                    f"expected shape {format_shape(self.shape)}, got {tuple(shape)}"
                    f" (dimension {axis} must be {static})"
                )
        return None

    def filter(self, value, what: str = "value") -> np.ndarray:
        """Convert ``value`` to an ndarray of this type or raise naming ``what``.

        NumPy arrays must cast to the type's dtype without loss ("safe"
        casting, NumPy's rule); Python numbers and lists are converted when
        the conversion keeps their value (so ``f([1.5, 2.0])`` works for a
        float32 input, ``f([1.5])`` raises for an int input).
        """
        if is_string(self.dtype):
            value = string_array(value, what)
        elif isinstance(value, np.ndarray):
            if type(value) is not np.ndarray:
                value = _plain_array(value, what)
            if value.dtype != self.dtype:
                if not np.can_cast(value.dtype, self.dtype, "safe"):
                    raise TypeError(
                        f"{what}: expected dtype {self.dtype}, got {value.dtype}, which does not "
                        f"cast to {self.dtype} without loss; cast it first with .astype({self.dtype!r})"
                    )
                value = value.astype(self.dtype)
        elif isinstance(value, np.generic):
            return self.filter(np.asarray(value), what)
        else:
            value = _convert_python_value(value, self.dtype, what)
        problem = self.check_value_shape(value.shape)
        if problem:
            raise ValueError(f"{what}: {problem}")
        return value


def string_array(value, what: str = "value") -> np.ndarray:
    """``value`` (strings, a list of them, a unicode or object array) as an object array of ``str``;
    raise naming ``what`` when an element is not a string."""
    array = np.array(value, dtype=object)
    for item in array.flat:
        if not isinstance(item, str):
            raise TypeError(f"{what}: a string tensor holds str elements. Received: {item!r} "
                            f"({type(item).__name__})")
    return array


def _convert_python_value(value, dtype: str, what: str) -> np.ndarray:
    try:
        raw = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{what}: cannot convert {type(value).__name__} to an array: {exc}") from exc
    if raw.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected numbers of dtype {dtype}, got {raw.dtype} data")
    converted = raw.astype(dtype)
    with np.errstate(invalid="ignore"):
        lossless = np.array_equal(converted.astype(raw.dtype), raw, equal_nan=raw.dtype.kind == "f")
    if not lossless and not (raw.dtype.kind == "f" and is_float(dtype)):
        raise TypeError(f"{what}: the value does not fit dtype {dtype} without loss")
    return converted


def tensor_type_of(value: np.ndarray, static: bool = True) -> TensorType:
    """The type of an array: its dtype and (when ``static``) its shape."""
    shape = value.shape if static else (None,) * value.ndim
    return TensorType(value.dtype, shape)
