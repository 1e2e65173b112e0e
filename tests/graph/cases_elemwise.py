"""Op table rows for the elementwise ops of ``graph/ops/math.py``.

Rows are generated from one small spec per op, so every op gets the same
coverage:

- a float64 row whose gradient is checked by finite differences at points
  away from the op's kinks, poles and domain edges;
- float32 and float16 rows, and two bool/integer rows (the discrete dtypes
  rotate over the ops, so each of them meets every kind of op), skipping
  dtypes NumPy does not define the op for;
- special values (inf, -inf, nan, -0.0, huge, denormal): unary ops in
  float32 and (where rounding differs) float64, binary ops as an all-pairs
  (8, 1) x (1, 8) float32 broadcast plus int8/uint8 wrap-around pairs;
- broadcast patterns (row, column, rank padding, both sides, scalar,
  zero-size), rank-0 and 0-size inputs, mixed dtypes and NumPy 2 weak
  Python scalars.

The expected dtype is NumPy's (the table runner compares it), so these
rows also pin down promotion.  Ops NumPy lacks follow ``np.exp``'s dtype
rule (see ``graph/ops/math.py``).
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.special

import theanine as th
from op_table import Case

DISCRETE = ("bool", "int8", "int16", "int32", "int64", "uint8")
SHAPE = (2, 5)
GRAD_SHAPE = (3, 4)


def _rng(tag: str) -> np.random.Generator:
    """A generator seeded by the row's name, so rows do not depend on each other."""
    return np.random.default_rng(sum(map(ord, tag)) * 7919)


def _uniform(low: float, high: float) -> Callable:
    return lambda rng, shape: rng.uniform(low, high, shape)


def _away_from_zero(rng, shape):
    """Values with |x| in [0.2, 3]: away from the kink of abs, relu, sign."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.2, 3.0, shape)


def _away_from_steps(rng, shape):
    """Values a fraction 0.1..0.4 away from an integer: away from floor/ceil/round jumps."""
    return rng.integers(-3, 4, shape) + rng.choice([-1.0, 1.0], shape) * rng.uniform(
        0.1, 0.4, shape
    )


def _float_rule(fn: Callable) -> Callable:
    """NumPy's unary-float dtype rule for a SciPy function (float16 computed in float32)."""

    def reference(a):
        dtype = np.exp(np.zeros((), a.dtype)).dtype
        work = np.float32 if dtype == np.float16 else dtype
        return np.asarray(fn(a.astype(work)), dtype=work).astype(dtype)

    return reference


def _relu(a):
    return np.where(a <= 0, np.zeros((), a.dtype), a)


@dataclass(frozen=True)
class Unary:
    """One unary op: symbolic function, NumPy reference, sample domain."""

    name: str
    build: Callable
    reference: Callable
    sample: Callable = _uniform(-3.0, 3.0)
    int_range: tuple[int, int] = (-3, 3)
    differentiable: bool = True


UNARY = [
    Unary("negative", th.negative, np.negative),
    Unary("abs", th.abs, np.abs, _away_from_zero),
    Unary("sign", th.sign, np.sign, _away_from_zero),
    Unary("exp", th.exp, np.exp),
    Unary("exp2", th.exp2, np.exp2),
    Unary("expm1", th.expm1, np.expm1),
    Unary("log", th.log, np.log, _uniform(0.2, 5.0), (1, 5)),
    Unary("log2", th.log2, np.log2, _uniform(0.2, 5.0), (1, 5)),
    Unary("log10", th.log10, np.log10, _uniform(0.2, 5.0), (1, 5)),
    Unary("log1p", th.log1p, np.log1p, _uniform(-0.8, 3.0), (0, 5)),
    Unary("sqrt", th.sqrt, np.sqrt, _uniform(0.2, 5.0), (0, 5)),
    Unary("square", th.square, np.square),
    Unary("reciprocal", th.reciprocal, lambda a: np.true_divide(1, a), _away_from_zero, (1, 4)),
    Unary("sin", th.sin, np.sin),
    Unary("cos", th.cos, np.cos),
    Unary("tan", th.tan, np.tan, _uniform(-1.2, 1.2), (-1, 1)),
    Unary("arcsin", th.arcsin, np.arcsin, _uniform(-0.9, 0.9), (-1, 1)),
    Unary("arccos", th.arccos, np.arccos, _uniform(-0.9, 0.9), (-1, 1)),
    Unary("arctan", th.arctan, np.arctan),
    Unary("sinh", th.sinh, np.sinh),
    Unary("cosh", th.cosh, np.cosh),
    Unary("tanh", th.tanh, np.tanh),
    Unary("arcsinh", th.arcsinh, np.arcsinh),
    Unary("arccosh", th.arccosh, np.arccosh, _uniform(1.2, 4.0), (1, 4)),
    Unary("arctanh", th.arctanh, np.arctanh, _uniform(-0.9, 0.9), (-1, 1)),
    Unary("sigmoid", th.sigmoid, _float_rule(scipy.special.expit), _uniform(-6.0, 6.0)),
    Unary("softplus", th.softplus, _float_rule(lambda a: np.logaddexp(0, a)), _uniform(-6.0, 6.0)),
    Unary("relu", th.relu, _relu, _away_from_zero),
    Unary("erf", th.erf, _float_rule(scipy.special.erf)),
    Unary("erfc", th.erfc, _float_rule(scipy.special.erfc)),
    Unary("floor", th.floor, np.floor, _away_from_steps),
    Unary("ceil", th.ceil, np.ceil, _away_from_steps),
    Unary("round", th.round, np.round, _away_from_steps),
    Unary("logical_not", th.logical_not, np.logical_not, differentiable=False),
    Unary("isnan", th.isnan, np.isnan, differentiable=False),
    Unary("isinf", th.isinf, np.isinf, differentiable=False),
]


# Ops computed exactly (no rounding), whose special values need no second float dtype.
EXACT_UNARY = (
    "negative",
    "abs",
    "sign",
    "square",
    "floor",
    "ceil",
    "round",
    "relu",
    "logical_not",
    "isnan",
    "isinf",
)


def _discrete_values(rng, dtype: str, low: int, high: int, shape) -> np.ndarray:
    if dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    info = np.iinfo(dtype)
    return rng.integers(max(low, info.min), min(high, info.max) + 1, shape).astype(dtype)


def _defined(reference: Callable, *dtypes: str) -> bool:
    """Whether NumPy (the reference) has a loop for these input dtypes."""
    try:
        with np.errstate(all="ignore"):
            reference(*[np.ones((), d) for d in dtypes])
    except (TypeError, ValueError):
        return False
    return True


def _discrete_pick(index: int, reference: Callable, nin: int) -> list[str]:
    """Discrete dtypes for op number ``index``, rotating, skipping undefined ones.

    Two for ops with integer loops of their own, one for float functions
    (whose integer inputs are only converted).
    """
    rotated = DISCRETE[index % 6 :] + DISCRETE[: index % 6]
    defined = [d for d in rotated if _defined(reference, *[d] * nin)]
    if not defined:
        return []
    with np.errstate(all="ignore"):
        float_function = reference(*[np.ones((), "int8")] * nin).dtype.kind == "f"
    if float_function:
        return defined[:1]
    return [defined[0], defined[len(defined) // 2]]


def _float_edges(dtype: str) -> np.ndarray:
    info = np.finfo(dtype)
    tiny = info.smallest_subnormal
    values = [
        np.inf,
        -np.inf,
        np.nan,
        -0.0,
        0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        2.0,
        30.0,
        -30.0,
        800.0,
        -800.0,
        float(info.max),
        -float(info.max),
        tiny,
        -tiny,
    ]
    return np.array(values, dtype=dtype)


def _unary_rows(index: int, spec: Unary) -> list[Case]:
    rng = _rng(spec.name)
    grad = None if spec.differentiable else ()
    rows = [
        Case(
            f"{spec.name}_float64",
            spec.build,
            [spec.sample(rng, GRAD_SHAPE)],
            spec.reference,
            grad_inputs=grad,
        )
    ]
    for dtype in ("float32", "float16"):
        rows.append(
            Case(
                f"{spec.name}_{dtype}",
                spec.build,
                [spec.sample(rng, SHAPE).astype(dtype)],
                spec.reference,
                grad_inputs=(),
            )
        )
    for dtype in _discrete_pick(index, spec.reference, 1):
        value = _discrete_values(rng, dtype, *spec.int_range, SHAPE)
        rows.append(
            Case(f"{spec.name}_{dtype}", spec.build, [value], spec.reference, grad_inputs=())
        )
    for dtype in ("float32", "float64") if spec.name not in EXACT_UNARY else ("float32",):
        rows.append(
            Case(
                f"{spec.name}_edges_{dtype}",
                spec.build,
                [_float_edges(dtype)],
                spec.reference,
                grad_inputs=(),
            )
        )
    return rows


@dataclass(frozen=True)
class Binary:
    """One binary op: float sample pairs, integer ranges and edge sets."""

    name: str
    build: Callable
    reference: Callable
    sample: Callable
    int_ranges: tuple[tuple[int, int], tuple[int, int]] = ((-5, 5), (-5, 5))
    differentiable: bool = True
    int_edges: bool = True


def _independent(sample_a: Callable, sample_b: Callable) -> Callable:
    return lambda rng, shape: (sample_a(rng, shape), sample_b(rng, shape))


def _distinct_pair(rng, shape):
    """Pairs at least 0.2 apart: away from the ties of maximum/minimum/clip."""
    a = rng.uniform(-3.0, 3.0, shape)
    return a, a + rng.choice([-1.0, 1.0], shape) * rng.uniform(0.2, 2.0, shape)


def _quotient_pair(rng, shape):
    """a / b about 0.25 away from an integer: away from the jumps of floor_divide and mod."""
    b = rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)
    quotient = rng.integers(-3, 4, shape) + 0.5 + rng.uniform(-0.25, 0.25, shape)
    return quotient * b, b


def _comparison_pair(rng, shape):
    """Half the pairs equal, so equal/less_equal see ties."""
    a = np.round(rng.uniform(-3.0, 3.0, shape), 1)
    b = np.where(rng.integers(0, 2, shape) == 1, a, np.round(rng.uniform(-3.0, 3.0, shape), 1))
    return a, b


def _power_reference(a, b):
    return np.power(a, b)


BINARY = [
    Binary("add", th.add, np.add, _independent(_uniform(-3, 3), _uniform(-3, 3))),
    Binary("subtract", th.subtract, np.subtract, _independent(_uniform(-3, 3), _uniform(-3, 3))),
    Binary("multiply", th.multiply, np.multiply, _independent(_uniform(-3, 3), _uniform(-3, 3))),
    Binary(
        "true_divide",
        th.true_divide,
        np.true_divide,
        _independent(_uniform(-3, 3), _away_from_zero),
    ),
    Binary("floor_divide", th.floor_divide, np.floor_divide, _quotient_pair),
    Binary("mod", th.mod, np.mod, _quotient_pair),
    Binary(
        "power",
        th.power,
        _power_reference,
        _independent(_uniform(0.3, 2.5), _uniform(-2, 2)),
        ((0, 4), (0, 3)),
        int_edges=False,
    ),
    Binary("arctan2", th.arctan2, np.arctan2, _independent(_away_from_zero, _away_from_zero)),
    Binary("maximum", th.maximum, np.maximum, _distinct_pair),
    Binary("minimum", th.minimum, np.minimum, _distinct_pair),
    Binary("equal", th.equal, np.equal, _comparison_pair, differentiable=False),
    Binary("not_equal", th.not_equal, np.not_equal, _comparison_pair, differentiable=False),
    Binary("less", th.less, np.less, _comparison_pair, differentiable=False),
    Binary("less_equal", th.less_equal, np.less_equal, _comparison_pair, differentiable=False),
    Binary("greater", th.greater, np.greater, _comparison_pair, differentiable=False),
    Binary(
        "greater_equal", th.greater_equal, np.greater_equal, _comparison_pair, differentiable=False
    ),
    Binary("logical_and", th.logical_and, np.logical_and, _comparison_pair, differentiable=False),
    Binary("logical_or", th.logical_or, np.logical_or, _comparison_pair, differentiable=False),
    Binary("logical_xor", th.logical_xor, np.logical_xor, _comparison_pair, differentiable=False),
]

FLOAT_PAIR_EDGES = np.array([np.inf, -np.inf, np.nan, -0.0, 0.0, 1.0, -2.5, 1e-45], dtype="float32")
INT8_EDGES = np.array([-128, -7, -1, 0, 1, 2, 7, 127], dtype="int8")
UINT8_EDGES = np.array([0, 1, 2, 7, 128, 200, 254, 255], dtype="uint8")


def _all_pairs(values: np.ndarray) -> list[np.ndarray]:
    """Every (a, b) pair of ``values`` as a (n, 1) x (1, n) broadcast."""
    return [values.reshape(-1, 1), values.reshape(1, -1)]


def _binary_rows(index: int, spec: Binary) -> list[Case]:
    rng = _rng(spec.name)
    grad = None if spec.differentiable else ()
    a, b = spec.sample(rng, GRAD_SHAPE)
    rows = [Case(f"{spec.name}_float64", spec.build, [a, b], spec.reference, grad_inputs=grad)]
    for dtype in ("float32", "float16"):
        a, b = spec.sample(rng, SHAPE)
        rows.append(
            Case(
                f"{spec.name}_{dtype}",
                spec.build,
                [a.astype(dtype), b.astype(dtype)],
                spec.reference,
                grad_inputs=(),
            )
        )
    for dtype in _discrete_pick(index, spec.reference, 2):
        values = [_discrete_values(rng, dtype, low, high, SHAPE) for low, high in spec.int_ranges]
        rows.append(
            Case(f"{spec.name}_{dtype}", spec.build, values, spec.reference, grad_inputs=())
        )
    rows.append(
        Case(
            f"{spec.name}_edges_float32",
            spec.build,
            _all_pairs(FLOAT_PAIR_EDGES),
            spec.reference,
            grad_inputs=(),
            static_shapes=True,
        )
    )
    if spec.int_edges:
        for edges in (INT8_EDGES, UINT8_EDGES) if spec.differentiable else (INT8_EDGES,):
            rows.append(
                Case(
                    f"{spec.name}_edges_{edges.dtype}",
                    spec.build,
                    _all_pairs(edges),
                    spec.reference,
                    grad_inputs=(),
                    static_shapes=True,
                )
            )
    return rows


R = _rng("shared")
F64 = R.standard_normal(GRAD_SHAPE)
F64_ROW = R.standard_normal((1, 4))
F64_COL = R.standard_normal((3, 1))
F64_VEC = R.standard_normal(4)
F64_SCALAR = np.array(0.7)
F32 = F64.astype("float32")
COND = R.integers(0, 2, GRAD_SHAPE).astype(bool)
COND_ROW = np.array([[True, False, True, False]])
ALL_SHAPES = [
    ("row", (3, 4), (1, 4)),
    ("column", (3, 4), (3, 1)),
    ("rank_padding", (3, 4), (4,)),
    ("both_sides", (3, 1), (1, 4)),
    ("scalar", (3, 4), ()),
    ("scalar_first", (), (3, 4)),
    ("zero_size", (0, 4), (1, 4)),
]


def _broadcast_rows() -> list[Case]:
    """Every broadcast pattern for ops whose gradient must sum over broadcast axes."""
    rows = []
    specs = {s.name: s for s in BINARY}
    for name in ("add", "multiply", "true_divide", "power", "maximum", "less"):
        spec = specs[name]
        rng = _rng(f"broadcast_{name}")
        patterns = ALL_SHAPES if name in ("add", "multiply", "maximum") else ALL_SHAPES[2:5]
        for pattern, shape_a, shape_b in patterns:
            a = spec.sample(rng, shape_a)[0]
            b = spec.sample(rng, shape_b)[1]
            if name == "maximum":
                a, b = np.round(a * 2) / 2 + 0.25, np.round(b * 2) / 2
            grad = None if spec.differentiable else ()
            rows.append(
                Case(
                    f"{name}_broadcast_{pattern}",
                    spec.build,
                    [a, b],
                    spec.reference,
                    grad_inputs=grad,
                    static_shapes=True,
                )
            )
    rows.append(Case("add_rank_padding_dynamic", th.add, [F64, F64_VEC], np.add))
    rows.append(Case("multiply_scalar_dynamic", th.multiply, [F64, F64_SCALAR], np.multiply))
    return rows


def _ternary_rows() -> list[Case]:
    """clip and where: dtypes, broadcasting, gradient to every float input."""
    low, high = -0.5 * np.ones((1, 4)), np.full((3, 1), 0.6)
    away = (
        F64
        + np.where(np.abs(F64 + 0.5) < 0.1, 0.3, 0.0)
        + np.where(np.abs(F64 - 0.6) < 0.1, 0.3, 0.0)
    )
    return [
        Case(
            "clip_float64",
            lambda x, lo, hi: th.clip(x, lo, hi),
            [away, low, high],
            np.clip,
            static_shapes=True,
        ),
        Case(
            "clip_crossed_bounds_float64",
            lambda x, lo, hi: th.clip(x, lo, hi),
            [away, np.full((1, 4), 0.6), np.full((3, 1), -0.5)],
            np.clip,
            static_shapes=True,
        ),
        Case(
            "clip_method_float32", lambda x: x.clip(-0.5, 0.5), [F32], lambda x: x.clip(-0.5, 0.5)
        ),
        Case(
            "clip_float16",
            lambda x: th.clip(x, -1.0, 1.0),
            [F64.astype("float16")],
            lambda x: np.clip(x, -1.0, 1.0),
        ),
        Case(
            "clip_int8_python_bounds",
            lambda x: th.clip(x, -5, 300),
            [INT8_EDGES],
            lambda x: np.clip(x, -5, 300),
        ),
        Case(
            "clip_uint8", lambda x: th.clip(x, 2, 200), [UINT8_EDGES], lambda x: np.clip(x, 2, 200)
        ),
        Case(
            "clip_edges_float32",
            lambda x: th.clip(x, -1.0, 1.0),
            [_float_edges("float32")],
            lambda x: np.clip(x, -1.0, 1.0),
            grad_inputs=(),
        ),
        Case("where_float64", th.where, [COND, F64, F64_ROW], np.where, static_shapes=True),
        Case("where_cond_row", th.where, [COND_ROW, F64, F64_COL], np.where, static_shapes=True),
        Case(
            "where_float32_python",
            lambda c, x: th.where(c, x, 0.0),
            [COND, F32],
            lambda c, x: np.where(c, x, 0.0),
        ),
        Case(
            "where_int8_float16",
            th.where,
            [COND, INT8_EDGES[:4].reshape(1, 4), F64.astype("float16")],
            np.where,
            static_shapes=True,
        ),
        Case(
            "where_float_condition",
            th.where,
            [F64, F64_COL, F64_ROW],
            np.where,
            grad_inputs=(1, 2),
            static_shapes=True,
        ),
        Case("where_bool_values", th.where, [COND, COND, ~COND], np.where),
        Case(
            "where_zero_size",
            th.where,
            [np.zeros((0, 3), bool), np.ones((0, 3)), np.ones((0, 3))],
            np.where,
        ),
    ]


def _second(a, b):
    return np.array(np.broadcast_to(b, np.broadcast_shapes(np.shape(a), np.shape(b))))


def _cast_rows() -> list[Case]:
    """``astype``: rounding toward zero, wrap-around, overflow to inf, bool rules."""
    fractions = np.array([-2.7, -1.5, -0.5, -0.0, 0.0, 0.5, 1.5, 2.7, 100.9, -100.9])
    ints = np.array([-300, -129, -128, -1, 0, 1, 127, 128, 255, 256, 70000], dtype="int32")
    rows = [
        Case(
            "cast_float64_to_float32",
            lambda x: x.astype("float32"),
            [F64],
            lambda x: x.astype("float32"),
            grad_inputs=(),
        ),
        Case(
            "cast_float32_to_float64",
            lambda x: x.astype("float64"),
            [F32],
            lambda x: x.astype("float64"),
            grad_inputs=(),
        ),
        Case(
            "cast_float64_to_float16_overflow",
            lambda x: x.astype("float16"),
            [np.array([1e5, -1e5, 65504.0, 1e-8, -0.0, np.nan, np.inf])],
            lambda x: x.astype("float16"),
            grad_inputs=(),
        ),
        Case(
            "cast_float64_to_int32",
            lambda x: x.astype("int32"),
            [fractions],
            lambda x: x.astype("int32"),
            grad_inputs=(),
        ),
        Case(
            "cast_float32_to_uint8",
            lambda x: x.astype("uint8"),
            [np.abs(fractions).astype("float32")],
            lambda x: x.astype("uint8"),
            grad_inputs=(),
        ),
        Case(
            "cast_float32_to_bool",
            lambda x: x.astype("bool"),
            [_float_edges("float32")],
            lambda x: x.astype("bool"),
            grad_inputs=(),
        ),
        Case(
            "cast_int32_to_int8_wraps",
            lambda x: x.astype("int8"),
            [ints],
            lambda x: x.astype("int8"),
        ),
        Case(
            "cast_int32_to_uint8_wraps",
            lambda x: x.astype("uint8"),
            [ints],
            lambda x: x.astype("uint8"),
        ),
        Case(
            "cast_int64_to_float32",
            lambda x: x.astype("float32"),
            [np.array([2**40 + 1, -3, 0, 2**24 + 1], dtype="int64")],
            lambda x: x.astype("float32"),
        ),
        Case(
            "cast_bool_to_float16",
            lambda x: x.astype("float16"),
            [COND],
            lambda x: x.astype("float16"),
        ),
        Case(
            "cast_int8_to_bool",
            lambda x: x.astype("bool"),
            [INT8_EDGES],
            lambda x: x.astype("bool"),
        ),
        Case(
            "cast_uint8_to_int64",
            lambda x: x.astype("int64"),
            [UINT8_EDGES],
            lambda x: x.astype("int64"),
        ),
        Case(
            "cast_float64_to_float32_then_back",
            lambda x: x.astype("float32").astype("float64"),
            [F64],
            lambda x: x.astype("float32").astype("float64"),
            grad_inputs=(),
        ),
        Case(
            "cast_scalar",
            lambda x: x.astype("float32"),
            [F64_SCALAR],
            lambda x: x.astype("float32"),
            grad_inputs=(),
        ),
    ]
    return rows


def _second_rows() -> list[Case]:
    return [
        Case(
            "second_float64",
            th.second,
            [F64, F64_ROW],
            _second,
            grad_inputs=(1,),
            static_shapes=True,
        ),
        Case(
            "second_python_zero",
            lambda x: th.second(x, 0),
            [F32],
            lambda x: np.zeros_like(x),
            grad_inputs=(),
        ),
        Case("second_int8_into_float32", th.second, [F32, INT8_EDGES[:4]], _second, grad_inputs=()),
        Case("second_scalar_into_matrix", th.second, [F64, F64_SCALAR], _second, grad_inputs=(1,)),
        Case("fill_bool", th.fill, [COND, np.array(True)], _second),
    ]


def _promotion_rows() -> list[Case]:
    """Mixed dtypes and NumPy 2 weak Python scalars; the runner checks NumPy's dtype."""
    i8 = INT8_EDGES
    i32 = np.arange(-4, 4, dtype="int32")
    i64 = np.arange(8, dtype="int64")
    u8 = UINT8_EDGES
    f16 = np.linspace(-2, 2, 8).astype("float16")
    f32 = np.linspace(-3, 3, 8).astype("float32")
    b = np.array([True, False] * 4)
    return [
        Case("add_int8_int64", th.add, [i8, i64], np.add),
        Case("add_uint8_int8", th.add, [u8, i8], np.add),
        Case("multiply_float32_int64", th.multiply, [f32, i64], np.multiply),
        Case("multiply_float16_int32", th.multiply, [f16, i32], np.multiply),
        Case("add_float16_int8", th.add, [f16, i8], np.add),
        Case("add_bool_float16", th.add, [b, f16], np.add),
        Case("add_bool_bool", th.add, [b, ~b], np.add),
        Case("add_float32_float64", th.add, [F32, F64], np.add),
        Case("multiply_float32_float64", th.multiply, [F32, F64], np.multiply),
        Case("true_divide_int32_int32", th.true_divide, [i32, i32 + 10], np.true_divide),
        Case("less_int8_uint8", th.less, [i8, u8], np.less),
        Case("maximum_int64_float32", th.maximum, [i64, f32], np.maximum),
        Case("weak_float32_times_float", lambda x: x * 2.0, [F32], lambda x: x * 2.0),
        Case("weak_float16_plus_float", lambda x: x + 0.1, [f16], lambda x: x + 0.1),
        Case("weak_int32_times_float", lambda x: x * 1.5, [i32], lambda x: x * 1.5),
        Case("weak_int8_plus_int", lambda x: x + 3, [i8], lambda x: x + 3),
        Case("weak_uint8_rsub_int", lambda x: 2 - x, [u8], lambda x: 2 - x),
        Case("weak_bool_plus_int", lambda x: x + 1, [b], lambda x: x + 1),
        Case("weak_bool_times_float", lambda x: x * 2.5, [b], lambda x: x * 2.5),
        Case("weak_int8_true_divide_int", lambda x: x / 2, [i8], lambda x: x / 2),
        Case("weak_float32_rpow", lambda x: 2.0**x, [F32], lambda x: 2.0**x),
        Case("weak_float64_pow_int", lambda x: x**3, [F64], lambda x: x**3),
        Case("weak_int8_pow_int", lambda x: x**2, [i8], lambda x: x**2),
        Case("weak_float32_rsub", lambda x: 1.0 - x, [F32], lambda x: 1.0 - x),
        Case("weak_float32_rtruediv", lambda x: 1.0 / x, [F32 + 5], lambda x: 1.0 / x),
        Case("weak_uint8_less_negative", lambda x: x < -1, [u8], lambda x: x < -1),
        Case("weak_int8_greater_equal_large", lambda x: x >= 1000, [i8], lambda x: x >= 1000),
        Case("weak_int8_equal_float", lambda x: th.equal(x, 7.0), [i8], lambda x: np.equal(x, 7.0)),
        Case("weak_float32_floordiv", lambda x: x // 0.5, [F32], lambda x: x // 0.5),
        Case("weak_int32_mod", lambda x: x % 3, [i32], lambda x: x % 3),
        Case("weak_float32_rmod", lambda x: 5.0 % x, [F32 + 5], lambda x: 5.0 % x),
    ]


def _shape_rows() -> list[Case]:
    """Rank 0 and 0-size operands."""
    return [
        Case("exp_rank0", th.exp, [F64_SCALAR], np.exp),
        Case("exp_zero_size", th.exp, [np.zeros((0, 3))], np.exp),
        Case("add_rank0", th.add, [F64_SCALAR, np.array(-1.25)], np.add),
        Case("add_zero_size", th.add, [np.zeros(0), np.zeros(0)], np.add),
        Case(
            "sigmoid_rank0_float32",
            th.sigmoid,
            [np.array(0.3, "float32")],
            _float_rule(scipy.special.expit),
        ),
        Case("less_rank0_int64", th.less, [np.array(3), np.array(4)], np.less),
        Case(
            "logical_and_zero_size",
            th.logical_and,
            [np.zeros((2, 0), bool), np.ones((2, 0), bool)],
            np.logical_and,
        ),
    ]


def _int_edge_rows() -> list[Case]:
    """Integer unary edge behaviour: wrap-around of -(-128), abs(-128), bool sign rules."""
    return [
        Case("negative_edges_int8", th.negative, [INT8_EDGES], np.negative),
        Case("abs_edges_int8", th.abs, [INT8_EDGES], np.abs),
        Case("square_edges_int8", th.square, [INT8_EDGES], np.square),
        Case("negative_edges_uint8", th.negative, [UINT8_EDGES], np.negative),
        Case("sign_edges_int8", th.sign, [INT8_EDGES], np.sign),
        Case("relu_edges_int8", th.relu, [INT8_EDGES], _relu),
        Case("relu_bool_matrix", th.relu, [COND], _relu),
        Case("round_edges_int8", th.round, [INT8_EDGES], np.round),
        Case("power_uint8_wraps", th.power, [UINT8_EDGES, np.full(8, 3, "uint8")], np.power),
    ]


CASES = (
    [row for i, spec in enumerate(UNARY) for row in _unary_rows(i, spec)]
    + [row for i, spec in enumerate(BINARY) for row in _binary_rows(i, spec)]
    + _broadcast_rows()
    + _ternary_rows()
    + _second_rows()
    + _cast_rows()
    + _promotion_rows()
    + _shape_rows()
    + _int_edge_rows()
)

_INTS = np.array([[0, 1, -7, 127], [5, -128, 3, 64]], dtype="int8")
_UINTS = np.array([0, 1, 200, 255], dtype="uint8")
_BOOLS = np.array([True, False, True, False])
CASES += [
    Case("bitwise_and_int8", lambda a, b: a & b, [_INTS, _INTS[::-1]], np.bitwise_and),
    Case("bitwise_or_uint8", lambda a, b: a | b, [_UINTS, _UINTS[::-1]], np.bitwise_or),
    Case("bitwise_xor_int8_python_int", lambda a: a ^ 5, [_INTS], lambda a: a ^ 5),
    Case("invert_int8", lambda a: ~a, [_INTS], np.invert),
    Case("invert_uint8", lambda a: ~a, [_UINTS], np.invert),
    Case("invert_bool_is_logical_not", lambda a: ~a, [_BOOLS], np.invert),
    Case("and_bool_is_logical", lambda a, b: a & b, [_BOOLS, _BOOLS[::-1]], np.logical_and),
]
