"""ONNX element types that theanine's dtype set lacks, carried in a wider dtype that holds their values.

bfloat16, the float8 family (E4M3FN, E4M3FNUZ, E5M2, E5M2FNUZ, and the
exponent-only E8M0), FLOAT4E2M1 and the 4- and 2-bit integers have no
theanine dtype (nor a NumPy one: the ``ml_dtypes`` package that ``onnx``
depends on provides them).  Every value
of such a format is exactly representable in a *carrier* dtype (float32 for
the floats, int8/uint8 for the integers), so the reader types such tensors
with the carrier and keeps the format's value set as an invariant:

- a Cast (or CastLike) to the format rounds in the graph, with the format's
  rounding, saturation and NaN rules (import_casts.py), so the carrier then
  holds exactly the values the format would;
- other ops on a float format compute in float32 and round their outputs to
  the format (as ml_dtypes' own arithmetic does, one op at a time);
- only at the boundary do arrays change type: an input in the format is fed
  as ``carrier_array`` (exact), an output is returned as ``format_array``
  (exact, the values already being the format's).

So no graph op, rewrite or backend needs to know the formats; the price is
the carrier's memory (4 bytes per bfloat16 value).  The roundings pass their
gradient straight through, so such graphs still differentiate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Format:
    """One ONNX element type held in ``carrier``: its ml_dtypes name and value rules.

    Floats: ``mantissa`` explicit bits, ``min_exponent`` of the smallest normal, ``max`` finite,
    whether it has infinities / NaN, and ``unsigned_zero`` (the FNUZ types have no -0).
    Integers: the value range ``low..high`` in ``bits`` bits.  FLOAT8E8M0 (kind "exponent") holds
    the powers of two ``2**min_exponent .. max`` and NaN.
    """

    name: str
    carrier: str
    kind: str
    mantissa: int = 0
    min_exponent: int = 0
    max: float = 0.0
    has_inf: bool = False
    has_nan: bool = False
    unsigned_zero: bool = False
    saturates_always: bool = False
    bits: int = 0
    low: int = 0
    high: int = 0

    @property
    def dtype(self) -> np.dtype:
        import ml_dtypes

        return np.dtype(getattr(ml_dtypes, self.name))


def _float(name, mantissa, min_exponent, max_value, has_inf, unsigned_zero=False, has_nan=True,
           saturates_always=False):
    return Format(name, "float32", "float", mantissa, min_exponent, float(max_value), has_inf, has_nan,
                  unsigned_zero, saturates_always)


def _int(name, bits, signed):
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
    return Format(name, "int8" if signed else "uint8", "int", bits=bits, low=low, high=high)


# keyed by TensorProto element type
FORMATS: dict[int, Format] = {
    16: _float("bfloat16", 7, -126, 3.3895313892515355e38, has_inf=True),
    17: _float("float8_e4m3fn", 3, -6, 448, has_inf=False),
    18: _float("float8_e4m3fnuz", 3, -7, 240, has_inf=False, unsigned_zero=True),
    19: _float("float8_e5m2", 2, -14, 57344, has_inf=True),
    20: _float("float8_e5m2fnuz", 2, -15, 57344, has_inf=False, unsigned_zero=True),
    21: _int("uint4", 4, signed=False),
    22: _int("int4", 4, signed=True),
    23: _float("float4_e2m1fn", 1, 0, 6, has_inf=False, has_nan=False, saturates_always=True),
    24: Format("float8_e8m0fnu", "float32", "exponent", min_exponent=-127, max=2.0 ** 127, has_nan=True),
    25: _int("uint2", 2, signed=False),
    26: _int("int2", 2, signed=True),
}
FLOAT8 = frozenset({17, 18, 19, 20})
"""The formats whose Cast obeys the ``saturate`` attribute (the others: bfloat16 rounds to inf on
overflow, FLOAT4E2M1 always saturates)."""


def carrier_array(value: np.ndarray) -> np.ndarray:
    """``value`` in its carrier dtype when it is an ml_dtypes array (exact), else unchanged."""
    value = np.asarray(value)
    for fmt in FORMATS.values():
        if value.dtype == fmt.dtype:
            return value.astype(fmt.carrier)
    return value


def format_array(value: np.ndarray, code: int) -> np.ndarray:
    """A carrier array as the ONNX type ``code``'s ml_dtypes array (others unchanged)."""
    fmt = FORMATS.get(code)
    return np.asarray(value) if fmt is None else np.asarray(value).astype(fmt.dtype)


def tensor_value(proto) -> tuple[np.ndarray, int | None]:
    """A TensorProto's value in theanine's dtypes (a carried format in its carrier) and its format's
    element type (None for a type theanine has)."""
    from onnx import numpy_helper

    code = proto.data_type if proto.data_type in FORMATS else None
    return carrier_array(numpy_helper.to_array(proto)), code
