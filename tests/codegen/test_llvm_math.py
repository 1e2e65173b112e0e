"""The LLVM backend's vectorized math functions: accuracy, special values, no libm calls.

Each function is compiled through ``th.function(..., backend="llvm")`` and
swept over its domain (points spread over the bit patterns, so every binade
is hit, plus a uniform grid over the central interval).  float32 results
are compared with NumPy/SciPy in float64; float64 results with NumPy in
long double (or mpmath for erf/erfc, whose SciPy float64 tails are off by
thousands of ulps).  Special values must match NumPy bit for bit (signed
zeros, infinities, NaN).  The full sweep is tests/benchmarks/bench_math.py.
"""

from __future__ import annotations

import functools
import re

import llvmlite.binding as llvm
import numpy as np
import pytest
import scipy.special

import theanine as th
from theanine.codegen.llvm import scalar as llvm_scalar
from theanine.codegen.llvm.printer import LLVMPrinter
from theanine.codegen.program.lowering import lower
from theanine.runtime.llvm.jit import _optimize, target_machine

MAX_ULP = 4.0
POINTS = 1 << 15
DTYPES = (np.float32, np.float64)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softplus(x):
    return np.logaddexp(np.zeros_like(x), x)


# name: (reference taking float64 or long double arrays, central interval, domain)
UNARY = {
    "exp": (np.exp, (-20, 20), (-np.inf, np.inf)),
    "exp2": (np.exp2, (-30, 30), (-np.inf, np.inf)),
    "expm1": (np.expm1, (-3, 3), (-np.inf, np.inf)),
    "log": (np.log, (0, 4), (0, np.inf)),
    "log2": (np.log2, (0, 4), (0, np.inf)),
    "log10": (np.log10, (0, 4), (0, np.inf)),
    "log1p": (np.log1p, (-1, 3), (-1, np.inf)),
    "sin": (np.sin, (-10, 10), (-np.inf, np.inf)),
    "cos": (np.cos, (-10, 10), (-np.inf, np.inf)),
    "tan": (np.tan, (-10, 10), (-np.inf, np.inf)),
    "arcsin": (np.arcsin, (-1, 1), (-1, 1)),
    "arccos": (np.arccos, (-1, 1), (-1, 1)),
    "arctan": (np.arctan, (-5, 5), (-np.inf, np.inf)),
    "sinh": (np.sinh, (-5, 5), (-np.inf, np.inf)),
    "cosh": (np.cosh, (-5, 5), (-np.inf, np.inf)),
    "tanh": (np.tanh, (-5, 5), (-np.inf, np.inf)),
    "arcsinh": (np.arcsinh, (-5, 5), (-np.inf, np.inf)),
    "arccosh": (np.arccosh, (1, 5), (1, np.inf)),
    "arctanh": (np.arctanh, (-1, 1), (-1, 1)),
    "sigmoid": (_sigmoid, (-20, 20), (-np.inf, np.inf)),
    "softplus": (_softplus, (-20, 20), (-np.inf, np.inf)),
    "erf": (scipy.special.erf, (-4, 4), (-np.inf, np.inf)),
    "erfc": (scipy.special.erfc, (-4, 10), (-np.inf, np.inf)),
}
# the same functions in the input's own dtype, for bit-exact special values
SAME_DTYPE = {
    "sigmoid": scipy.special.expit,
    "softplus": _softplus,
    "erf": scipy.special.erf,
    "erfc": scipy.special.erfc,
}
SPECIALS = (0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0)


def _edges(dtype) -> tuple:
    info = np.finfo(dtype)
    tiny = float(info.smallest_subnormal)
    return (
        tiny,
        -tiny,
        float(info.tiny),
        -float(info.tiny),
        float(info.tiny) - tiny,
        float(info.max),
        -float(info.max),
    )


def specials(dtype) -> np.ndarray:
    return np.array(SPECIALS + _edges(dtype), dtype)


def sweep(dtype, domain, central, count: int = POINTS) -> np.ndarray:
    """Points evenly spread over the bit patterns of [domain] plus uniform ones over ``central``."""
    itype = np.int32 if dtype == np.float32 else np.int64
    top = int(np.array(np.inf, dtype).view(itype))
    rng = np.random.default_rng(7)
    patterns = np.linspace(-top, top, count // 2).astype(itype)
    patterns = np.clip(
        patterns + rng.integers(0, top // count, patterns.shape).astype(itype), -top, top
    )
    magnitude = np.abs(patterns).view(dtype)
    points = np.concatenate(
        [
            np.where(patterns < 0, -magnitude, magnitude),
            rng.uniform(*central, count // 2).astype(dtype),
            specials(dtype),
        ]
    )
    low, high = domain
    return points[np.isnan(points) | ((points >= low) & (points <= high))]


def ulp_error(result: np.ndarray, reference: np.ndarray, dtype) -> np.ndarray:
    """|result - reference| in ulps of ``reference`` rounded to ``dtype``; NaN/inf must match."""
    with np.errstate(all="ignore"):
        unit = np.spacing(np.abs(reference.astype(dtype))).astype(reference.dtype)
        error = np.abs(result.astype(reference.dtype) - reference) / unit
        agree = (np.isnan(result) & np.isnan(reference)) | (
            np.isinf(result) & (result == reference)
        )
        error = np.where(agree, 0.0, error)
        rounds_to_inf = np.isinf(reference.astype(dtype)) & (result == reference.astype(dtype))
    return np.where(rounds_to_inf, 0.0, np.where(np.isnan(error), np.inf, error))


@functools.cache
def compiled(name: str, dtype) -> th.Function:
    x = th.vector("x", dtype=dtype)
    if name in ("power", "arctan2"):
        y = th.vector("y", dtype=dtype)
        return th.function([x, y], getattr(th, name)(x, y), backend="llvm")
    return th.function([x], getattr(th, name)(x), backend="llvm")


def _reference(name: str, points: np.ndarray) -> np.ndarray:
    """The value of ``name`` at ``points``, well beyond the points' own precision."""
    fn = UNARY[name][0]
    with np.errstate(all="ignore"):
        if points.dtype == np.float32:
            return fn(points.astype(np.float64))
        if name in ("erf", "erfc"):
            return _erf_reference(name, points)
        return fn(points.astype(np.longdouble))


def _erf_reference(name: str, points: np.ndarray) -> np.ndarray:
    """erf/erfc by mpmath until they saturate (SciPy's float64 erfc tail is inexact)."""
    mpmath = pytest.importorskip("mpmath")
    exact = getattr(mpmath, name)
    saturated = scipy.special.erf(np.sign(points) * 30.0) if name == "erf" else 1 - np.sign(points)
    return np.array(
        [
            float(exact(mpmath.mpf(float(v)))) if abs(v) < 30 else s
            for v, s in zip(points, saturated, strict=True)
        ]
    )


def _assert_within(name, dtype, points, result, reference):
    errors = ulp_error(result, reference, dtype)
    worst = int(np.argmax(errors))
    assert errors[worst] <= MAX_ULP, (
        f"{name}({np.dtype(dtype).name}): expected at most {MAX_ULP} ulp. "
        f"Received {errors[worst]:.2f} ulp at x={points[worst]!r}: {result[worst]!r} "
        f"vs reference {reference[worst]!r}"
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_function_within_4_ulp_over_its_domain(name, dtype):
    _, central, domain = UNARY[name]
    count = 1 << 11 if dtype == np.float64 and name in ("erf", "erfc") else POINTS
    points = sweep(dtype, domain, central, count)
    _assert_within(name, dtype, points, compiled(name, dtype)(points), _reference(name, points))


def _assert_same_bits(result, expected, label):
    """Equal values with equal signs of zero; NaN where NumPy gives NaN."""
    same = (result == expected) & (np.signbit(result) == np.signbit(expected))
    same |= np.isnan(result) & np.isnan(expected)
    bad = np.flatnonzero(~same)
    assert bad.size == 0, f"{label}: expected {expected[bad]!r}. Received {result[bad]!r}"


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(UNARY))
def test_special_values_match_numpy(name, dtype):
    points = specials(dtype)
    with np.errstate(all="ignore"):
        expected = SAME_DTYPE.get(name, UNARY[name][0])(points)
    result = compiled(name, dtype)(points)
    exact = (expected == 0) | np.isinf(expected) | np.isnan(expected)
    _assert_same_bits(result[exact], expected[exact].astype(dtype), f"{name} at {points[exact]!r}")
    _assert_within(name, dtype, points, result, _reference(name, points))


def _special_pairs(dtype):
    values = specials(dtype)
    x, y = np.meshgrid(values, values)
    return x.ravel(), y.ravel()


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name, numpy_fn", [("power", np.power), ("arctan2", np.arctan2)])
def test_binary_special_values_match_numpy(name, numpy_fn, dtype):
    x, y = _special_pairs(dtype)
    with np.errstate(all="ignore"):
        expected = numpy_fn(x, y)
    result = compiled(name, dtype)(x, y)
    exact = (expected == 0) | np.isinf(expected) | np.isnan(expected) | (np.abs(expected) == 1)
    _assert_same_bits(result[exact], expected[exact], f"{name} at x={x[exact]!r}, y={y[exact]!r}")


def _binary_points(name, dtype):
    rng = np.random.default_rng(3)
    wide = sweep(dtype, (-np.inf, np.inf), (-10, 10))
    if name == "arctan2":
        return rng.permutation(wide), rng.permutation(wide)
    base = np.concatenate(
        [
            np.abs(rng.permutation(wide)),
            1 + rng.uniform(-0.01, 0.01, 4096),
            -rng.uniform(0, 10, 4096),
        ]
    )
    exponent = np.concatenate(
        [
            rng.uniform(-60, 60, wide.size),
            rng.uniform(-5000, 5000, 4096),
            np.round(rng.uniform(-40, 40, 4096)),
        ]
    )
    return base.astype(dtype), exponent.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name, numpy_fn", [("power", np.power), ("arctan2", np.arctan2)])
def test_binary_function_within_4_ulp(name, numpy_fn, dtype):
    x, y = _binary_points(name, dtype)
    wide = np.float64 if dtype == np.float32 else np.longdouble
    with np.errstate(all="ignore"):
        reference = numpy_fn(x.astype(wide), y.astype(wide))
    errors = ulp_error(compiled(name, dtype)(x, y), reference, dtype)
    worst = int(np.argmax(errors))
    assert errors[worst] <= MAX_ULP, (
        f"{name} at ({x[worst]!r}, {y[worst]!r}): {errors[worst]:.2f} ulp"
    )


def test_denormal_results_are_rounded_not_flushed():
    x = np.array([-100.0, -103.0, -87.5], np.float32)
    result = compiled("exp", np.float32)(x)
    assert np.all(result > 0) and result[0] < np.finfo(np.float32).tiny
    _assert_within("exp", np.float32, x, result, np.exp(x.astype(np.float64)))


def _assembly(name: str, dtype) -> str:
    """Optimized host assembly of a 1-D kernel applying ``name``."""
    x = th.vector("x", dtype=dtype)
    out = getattr(th, name)(x, x) if name in ("power", "arctan2") else getattr(th, name)(x)
    module = llvm.parse_assembly(str(LLVMPrinter(lower([x], [out], llvm_scalar.supports)).module))
    module.triple = llvm.get_process_triple()
    module.data_layout = str(target_machine().target_data)
    _optimize(module)
    return target_machine().emit_assembly(module)


_FLOAT_INSTRUCTION = re.compile(r"^\s+\w+(ps|pd|ss|sd)\s")


def _arithmetic_loops(assembly: str) -> list[list[str]]:
    """Bodies (label to backward jump) of the innermost loops that touch floating-point data."""
    lines = assembly.splitlines()
    labels = {line[:-1]: k for k, line in enumerate(lines) if re.match(r"^\.?\w+:$", line)}
    spans = []
    for k, line in enumerate(lines):
        jump = re.match(r"^\s+j\w+\s+(\S+)$", line)
        if jump and labels.get(jump.group(1), k + 1) < k:
            spans.append((labels[jump.group(1)], k))
    innermost = [
        (a, b) for a, b in spans if not any(a <= c and d < b for c, d in spans if (c, d) != (a, b))
    ]
    bodies = [lines[a:b] for a, b in innermost]
    return [body for body in bodies if any(_FLOAT_INSTRUCTION.search(text) for text in body)]


def test_float32_exp_loop_is_vectorized_without_calls():
    loops = _arithmetic_loops(_assembly("exp", "float32"))
    assert loops, "no arithmetic loop found in the exp kernel"
    assert not any("call" in text for body in loops for text in body), (
        "the exp loop still calls a function"
    )
    packed = re.compile(r"\bv?(mul|add|fmadd\w*)ps\b")
    assert any(packed.search(text) for body in loops for text in body), (
        "the exp loop is not vectorized"
    )


@pytest.mark.parametrize("name", list(UNARY) + ["power", "arctan2"])
def test_no_function_calls_in_math_loops(name):
    for dtype in ("float32", "float64"):
        loops = _arithmetic_loops(_assembly(name, dtype))
        assert loops and not any("call" in text for body in loops for text in body), (
            f"{name}({dtype}) calls"
        )


def test_unknown_math_function_is_named_in_the_error():
    from llvmlite import ir

    from theanine.codegen.llvm import vmath as llvm_math

    builder = ir.IRBuilder(
        ir.Function(ir.Module(), ir.FunctionType(ir.VoidType(), []), "f").append_basic_block()
    )
    with pytest.raises(KeyError, match="no LLVM implementation of math function 'cbrt'"):
        llvm_math.emit(builder, "cbrt", [ir.Constant(ir.FloatType(), 1.0)], "float32")


def _near_multiples_of_half_pi(count: int = 2700, spread: int = 64) -> np.ndarray:
    """float32 values within ``spread`` ulps of j pi/2, j = 1..count: the hardest arguments
    for the short (Cody-Waite) reduction of the float32 fast path, up to past its 4096 limit."""
    centres = (np.arange(1, count + 1) * np.pi / 2).astype(np.float32).view(np.int32)
    patterns = centres[:, None] + np.arange(-spread, spread + 1, dtype=np.int32)[None, :]
    values = patterns.ravel().view(np.float32)
    return np.concatenate([values, -values])


@pytest.mark.parametrize("name", ["sin", "cos", "tan"])
def test_float32_trig_near_multiples_of_half_pi(name):
    points = _near_multiples_of_half_pi()
    result = compiled(name, np.float32)(points)
    _assert_within(name, np.float32, points, result, _reference(name, points.astype(np.float64)))


@pytest.mark.parametrize("size", [1, 511, 512, 513, 1537, 70_001])
def test_fast_and_exact_trig_blocks_mix(size):
    """Blocks of the guarded loop that hold an argument outside the fast path's range (huge,
    inf, NaN) are recomputed exactly; blocks without one keep the fast values; a kernel with
    two outputs keeps both right, also when the work is split between threads."""
    rng = np.random.default_rng(size)
    x = rng.uniform(-10, 10, size).astype(np.float32)
    odd = rng.choice(size, max(1, size // 700), replace=False)
    x[odd] = rng.choice(np.array([3e5, -1e30, np.inf, -np.inf, np.nan, 4096.0, -4095.9997], np.float32), odd.size)
    v = th.vector("v", dtype="float32")
    f = th.function([v], [th.sin(v), th.cos(2 * v) + v], backend="llvm")
    with np.errstate(invalid="ignore"), th.config.context(num_threads=2):
        sine, other = f(x)
        wide = x.astype(np.float64)
        _assert_within("sin", np.float32, x, sine, np.sin(wide))
        np.testing.assert_allclose(other, np.cos(2 * wide) + wide, rtol=2e-6, atol=2e-6)
