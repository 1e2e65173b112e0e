"""String tensor ops: elementwise string functions, splitting and normalizing.

A string tensor is an object array of Python ``str`` (``type.STRING_DTYPE``).
The elementwise functions are ``Elemwise`` rows of one table
(``STRING_FUNCTIONS``: name -> arity, Python function, output dtype), so
they broadcast and print like every other elementwise op; ``split`` and
``normalize`` have outputs whose sizes depend on the values, and ``convert``
(``th.cast``) turns strings into numbers and back as NumPy's ``astype`` does.  None has a
gradient, and every backend runs them as host calls of their ``perform``
(codegen lowers no string buffer natively).  Their semantics are ONNX's
StringConcat, RegexFullMatch, StringSplit and StringNormalizer, which are
Python's ``+``, ``re.fullmatch``, ``str.split`` and ``str.upper``/``lower``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import NonDifferentiableOp
from theanine.graph.ops.elemwise import Elemwise, ScalarOp
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import STRING_DTYPE, TensorType, is_string, normalize_dtype

__all__ = ["concat", "upper", "lower", "regex_full_match", "split", "normalize", "convert", "StringSplit",
           "StringNormalize", "STRING_FUNCTIONS"]

STRING_FUNCTIONS: dict[str, tuple[int, Callable, str]] = {
    "concat": (2, operator.add, STRING_DTYPE),
    "upper": (1, str.upper, STRING_DTYPE),
    "lower": (1, str.lower, STRING_DTYPE),
}
"""name -> (number of string inputs, the function of one element (of each input), output dtype)."""


def _require_strings(name: str, input_dtypes: Sequence[str]) -> None:
    for k, dtype in enumerate(input_dtypes):
        if not is_string(dtype):
            raise TypeError(f"strings.{name} takes string tensors. Received: input {k} of dtype {dtype}")


class StringFunction(ScalarOp):
    """A Python function of single strings, applied to each element (``np.frompyfunc``)."""

    __props__ = ("name", "parameter")

    def __init__(self, name: str, fn: Callable, nin: int, out_dtype: str, parameter=None):
        ufunc = np.frompyfunc(fn, nin, 1)
        super().__init__(name, nin, lambda *xs: np.asarray(ufunc(*xs), dtype=out_dtype), differentiable=False,
                         takes_strings=True)
        self.parameter, self.out_dtype = parameter, out_dtype

    def output_dtypes(self, input_dtypes: Sequence[str]) -> list[str]:
        _require_strings(self.name, input_dtypes)
        return [self.out_dtype]


def _function(name: str) -> Elemwise:
    nin, fn, out_dtype = STRING_FUNCTIONS[name]
    return Elemwise(StringFunction(name, fn, nin, out_dtype))


def concat(a, b):
    """``a + b`` for each pair of strings, with NumPy broadcasting (ONNX StringConcat)."""
    return _function("concat")(a, b)


def upper(x):
    return _function("upper")(x)


def lower(x):
    return _function("lower")(x)


def regex_full_match(x, pattern: str):
    """Whether each string matches ``pattern`` entirely (``re.fullmatch``; ONNX RegexFullMatch)."""
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"strings.regex_full_match: invalid pattern {pattern!r}: {exc}") from None
    return Elemwise(StringFunction("regex_full_match", lambda s: regex.fullmatch(s) is not None, 1, "bool",
                                   pattern))(x)


class Conversion(ScalarOp):
    """NumPy's ``astype`` between strings and numbers: a number's ``str`` ("1.5", "nan", "-inf"); a
    string parsed as the number type (a string that is not a number fails at run time)."""

    __props__ = ("name", "dtype")

    def __init__(self, dtype: str):
        super().__init__(f"convert_{dtype}", 1, lambda x: _converted(x, dtype), differentiable=False,
                         takes_strings=True)
        self.dtype = dtype

    def output_dtypes(self, input_dtypes: Sequence[str]) -> list[str]:
        if is_string(input_dtypes[0]) == is_string(self.dtype):
            raise TypeError(f"strings.convert converts between strings and numbers. Received: dtype "
                            f"{input_dtypes[0]} to {self.dtype}")
        return [self.dtype]


def _converted(x: np.ndarray, dtype: str) -> np.ndarray:
    if is_string(dtype):
        return np.asarray(x).astype(str).astype(object)
    try:
        return np.asarray(x).astype(dtype)
    except ValueError as exc:
        raise ValueError(f"strings.convert: a string is not a number of dtype {dtype}: {exc}") from None


def convert(x, dtype: str):
    """Strings to numbers of ``dtype`` or numbers to strings (``dtype`` "string"); ``th.cast`` uses it."""
    return Elemwise(Conversion(normalize_dtype(dtype)))(x)


def _string_input(x, what: str):
    x = as_tensor_variable(x)
    _require_strings(what, [x.dtype])
    return x


class StringSplit(NonDifferentiableOp):
    """Each string split at ``delimiter`` (None: runs of whitespace) at most ``maxsplit`` times
    (None: no limit): the pieces along a new last axis, padded with "" to the longest, and the
    number of pieces of each string (int64)."""

    __props__ = ("delimiter", "maxsplit")
    takes_strings = True

    def __init__(self, delimiter: str | None = None, maxsplit: int | None = None):
        self.delimiter = delimiter or None
        self.maxsplit = None if maxsplit is None else int(maxsplit)

    def make_node(self, x) -> Apply:
        x = _string_input(x, "split")
        return Apply(self, [x], [TensorType(STRING_DTYPE, (*x.type.shape, None)),
                                 TensorType("int64", x.type.shape)])

    def connection_pattern(self, node):
        return [[False, False]]

    def perform(self, node, inputs):
        (x,) = inputs
        limit = -1 if self.maxsplit is None else self.maxsplit
        pieces = [s.split(self.delimiter, limit) for s in x.flat]
        width = max((len(p) for p in pieces), default=0)
        out = np.full((x.size, width), "", dtype=object)
        for row, parts in enumerate(pieces):
            out[row, :len(parts)] = parts
        counts = np.array([len(p) for p in pieces], dtype="int64").reshape(x.shape)
        return [out.reshape(*x.shape, width), counts]


class StringNormalize(NonDifferentiableOp):
    """ONNX StringNormalizer: a vector (or a 1 x C matrix) of strings without the ``stopwords``
    (compared case-insensitively unless ``case_sensitive``), then upper- or lower-cased
    (``case``: "UPPER", "LOWER" or "NONE"); when every string is removed, one "" remains."""

    __props__ = ("case", "stopwords", "case_sensitive")
    takes_strings = True

    def __init__(self, case: str = "NONE", stopwords: Sequence[str] = (), case_sensitive: bool = False):
        if case not in ("UPPER", "LOWER", "NONE"):
            raise ValueError(f"strings.normalize: case must be 'UPPER', 'LOWER' or 'NONE'. Received: case={case!r}")
        self.case, self.stopwords, self.case_sensitive = case, tuple(stopwords), bool(case_sensitive)

    def make_node(self, x) -> Apply:
        x = _string_input(x, "normalize")
        if x.ndim not in (1, 2) or (x.ndim == 2 and x.type.shape[0] not in (1, None)):
            raise ValueError(f"strings.normalize takes a vector or a 1 x C matrix. Received: {x.type}")
        return Apply(self, [x], [TensorType(STRING_DTYPE, (1, None) if x.ndim == 2 else (None,))])

    def _key(self, s: str) -> str:
        return s if self.case_sensitive else s.casefold()

    def perform(self, node, inputs):
        (x,) = inputs
        if x.ndim == 2 and x.shape[0] != 1:
            raise ValueError(f"strings.normalize takes a vector or a 1 x C matrix. Received: shape {x.shape}")
        stops = {self._key(w) for w in self.stopwords}
        kept = [s for s in x.flat if self._key(s) not in stops] or [""]
        change = {"UPPER": str.upper, "LOWER": str.lower, "NONE": str}[self.case]
        out = np.array([change(s) for s in kept], dtype=object)
        return [out.reshape(1, -1) if x.ndim == 2 else out]


def split(x, delimiter: str | None = None, maxsplit: int | None = None):
    """``(pieces, counts)``: see ``StringSplit``."""
    return StringSplit(delimiter, maxsplit)(x)


def normalize(x, case: str = "NONE", stopwords: Sequence[str] = (), case_sensitive: bool = False):
    """See ``StringNormalize``."""
    return StringNormalize(case, stopwords, case_sensitive)(x)
