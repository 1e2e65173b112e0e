"""Accuracy and speed of the LLVM backend's vectorized math functions.

Run on its own (not part of the test suite):

    python tests/benchmarks/bench_math.py [--points N] [--size N] [names...]

For each function and dtype it prints the max error in ulps over a dense
sweep of the domain (points spread evenly over the bit patterns of the
domain, which covers every binade, plus a uniform grid over the central
interval, plus the special values), and the time per element of the
compiled function next to NumPy's on a large array.

References: float32 results are compared with NumPy/SciPy evaluated in
float64; float64 results with NumPy evaluated in long double ("truth")
where NumPy supports it, and with NumPy/SciPy's own float64 results.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.special

import theanine as th

SPECIALS = (0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0)


def _logaddexp0(x):
    return np.logaddexp(np.zeros_like(x), x)


def _sigmoid_long(x):
    return 1 / (1 + np.exp(-x))


# name: (reference, long double reference or None, central interval, domain (low, high))
FUNCTIONS = {
    "exp": (np.exp, np.exp, (-20, 20), (-np.inf, np.inf)),
    "exp2": (np.exp2, np.exp2, (-30, 30), (-np.inf, np.inf)),
    "expm1": (np.expm1, np.expm1, (-3, 3), (-np.inf, np.inf)),
    "log": (np.log, np.log, (0, 4), (0, np.inf)),
    "log2": (np.log2, np.log2, (0, 4), (0, np.inf)),
    "log10": (np.log10, np.log10, (0, 4), (0, np.inf)),
    "log1p": (np.log1p, np.log1p, (-1, 3), (-1, np.inf)),
    "sin": (np.sin, np.sin, (-10, 10), (-np.inf, np.inf)),
    "cos": (np.cos, np.cos, (-10, 10), (-np.inf, np.inf)),
    "tan": (np.tan, np.tan, (-10, 10), (-np.inf, np.inf)),
    "arcsin": (np.arcsin, np.arcsin, (-1, 1), (-1, 1)),
    "arccos": (np.arccos, np.arccos, (-1, 1), (-1, 1)),
    "arctan": (np.arctan, np.arctan, (-5, 5), (-np.inf, np.inf)),
    "sinh": (np.sinh, np.sinh, (-5, 5), (-np.inf, np.inf)),
    "cosh": (np.cosh, np.cosh, (-5, 5), (-np.inf, np.inf)),
    "tanh": (np.tanh, np.tanh, (-5, 5), (-np.inf, np.inf)),
    "arcsinh": (np.arcsinh, np.arcsinh, (-5, 5), (-np.inf, np.inf)),
    "arccosh": (np.arccosh, np.arccosh, (1, 5), (1, np.inf)),
    "arctanh": (np.arctanh, np.arctanh, (-1, 1), (-1, 1)),
    "sigmoid": (scipy.special.expit, _sigmoid_long, (-20, 20), (-np.inf, np.inf)),
    "softplus": (_logaddexp0, _logaddexp0, (-20, 20), (-np.inf, np.inf)),
    "erf": (scipy.special.erf, None, (-4, 4), (-np.inf, np.inf)),
    "erfc": (scipy.special.erfc, None, (-4, 10), (-np.inf, np.inf)),
}
BINARY = {
    "power": (np.power, np.power),
    "arctan2": (np.arctan2, np.arctan2),
}


def ulp_error(result: np.ndarray, reference: np.ndarray, dtype) -> np.ndarray:
    """|result - reference| in units of the last place of ``reference`` rounded to ``dtype``.

    Matching NaNs and equal infinities count 0; any other mismatch counts inf.
    """
    wide = reference.dtype if reference.dtype.itemsize > np.dtype(dtype).itemsize else np.float64
    nearest = reference.astype(dtype)
    with np.errstate(all="ignore"):
        unit = np.spacing(np.abs(nearest)).astype(wide)
        error = np.abs(result.astype(wide) - reference.astype(wide)) / unit
        both_nan = np.isnan(result) & np.isnan(reference)
        same_inf = np.isinf(result) & (result.astype(wide) == reference)
        error = np.where(both_nan | same_inf, 0.0, error)
        error = np.where(np.isnan(error) | (np.isinf(result) & ~same_inf), np.inf, error)
        overflow = np.isinf(nearest) & ~np.isinf(reference) & np.isinf(result)
    return np.where(overflow & (np.sign(result) == np.sign(reference)), 0.0, error)


def sweep(dtype, low: float, high: float, central: tuple, count: int, seed: int = 0) -> np.ndarray:
    """``count`` points of [low, high]: half evenly over the bit patterns (every binade), half
    uniform over ``central``, plus the special values inside the domain."""
    dtype = np.dtype(dtype)
    itype = np.int32 if dtype == np.float32 else np.int64
    top = np.array(np.inf, dtype).view(itype)
    patterns = np.linspace(-int(top), int(top), count // 2, dtype=np.float64).astype(itype)
    rng = np.random.default_rng(seed)
    patterns = patterns + rng.integers(
        0, max(int(top) // (count // 2), 1), size=patterns.shape
    ).astype(itype)
    patterns = np.clip(patterns, -int(top), int(top))
    magnitude = np.abs(patterns).view(dtype)
    by_bits = np.where(patterns < 0, -magnitude, magnitude)
    uniform = rng.uniform(central[0], central[1], count - count // 2).astype(dtype)
    points = np.concatenate([by_bits, uniform, np.array(SPECIALS + _edges(dtype), dtype)])
    inside = np.isnan(points) | ((points >= low) & (points <= high))
    return points[inside]


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


def compile_unary(name: str, dtype):
    x = th.vector("x", dtype=dtype)
    return th.function([x], getattr(th, name)(x), backend="llvm")


def compile_binary(name: str, dtype):
    x, y = th.vector("x", dtype=dtype), th.vector("y", dtype=dtype)
    return th.function([x, y], getattr(th, name)(x, y), backend="llvm")


def unary_errors(name: str, dtype, points: np.ndarray, fn=None):
    """(max ulp vs NumPy/SciPy, max ulp vs long double or None, worst input)."""
    reference, long_reference, _, _ = FUNCTIONS[name]
    fn = fn or compile_unary(name, dtype)
    result = fn(points)
    with np.errstate(all="ignore"):
        if dtype == np.float32:
            against_numpy = ulp_error(result, reference(points.astype(np.float64)), dtype)
            against_truth = against_numpy
        else:
            against_numpy = ulp_error(result, reference(points), dtype)
            if long_reference is not None:
                against_truth = ulp_error(
                    result, long_reference(points.astype(np.longdouble)), dtype
                )
            else:
                against_truth = _mpmath_errors(name, points, result)
    worst = points[np.argmax(against_numpy)]
    truth = None if against_truth is None else float(against_truth.max())
    return float(against_numpy.max()), truth, worst


def _mpmath_errors(name: str, points: np.ndarray, result: np.ndarray, count: int = 20_000):
    """ulp errors against mpmath on a subsample (None without mpmath); for erf/erfc, whose
    SciPy float64 tails are off by thousands of ulps."""
    try:
        import mpmath
    except ImportError:
        return None
    pick = np.random.default_rng(2).choice(len(points), min(count, len(points)), replace=False)
    exact = getattr(mpmath, name)
    saturated = {"erf": np.sign(points[pick]), "erfc": 1 - np.sign(points[pick])}[name]
    reference = np.array(
        [float(exact(mpmath.mpf(float(v)))) if abs(v) < 30 else s
         for v, s in zip(points[pick], saturated, strict=True)]
    )
    return ulp_error(result[pick], reference, np.float64)


def binary_points(name: str, dtype, count: int, seed: int = 0):
    """Pairs over the full range and over a central box, plus all pairs of special values."""
    rng = np.random.default_rng(seed)
    full = sweep(dtype, -np.inf, np.inf, (-10, 10), count, seed)
    x = rng.permutation(full)
    y = rng.permutation(full)
    if name == "power":
        x = np.abs(x)
        y = np.concatenate([rng.uniform(-60, 60, len(y) // 2), y[len(y) // 2 :] * 1e-30]).astype(
            dtype
        )
        near_one = (1 + rng.uniform(-0.01, 0.01, count // 4)).astype(dtype)
        x = np.concatenate([x, near_one, -np.abs(x[: count // 4])])
        y = np.concatenate(
            [
                y,
                rng.uniform(-3000, 3000, count // 4).astype(dtype),
                np.round(rng.uniform(-40, 40, count // 4)).astype(dtype),
            ]
        )
    specials = np.array(SPECIALS + _edges(dtype) + (3.0, -3.0, 0.25), dtype)
    grid_x, grid_y = np.meshgrid(specials, specials)
    return np.concatenate([x, grid_x.ravel()]).astype(dtype), np.concatenate(
        [y, grid_y.ravel()]
    ).astype(dtype)


def binary_errors(name: str, dtype, x: np.ndarray, y: np.ndarray, fn=None):
    reference, long_reference = BINARY[name]
    fn = fn or compile_binary(name, dtype)
    result = fn(x, y)
    with np.errstate(all="ignore"):
        if dtype == np.float32:
            against_numpy = ulp_error(
                result, reference(x.astype(np.float64), y.astype(np.float64)), dtype
            )
            against_truth = against_numpy
        else:
            against_numpy = ulp_error(result, reference(x, y), dtype)
            against_truth = ulp_error(
                result, long_reference(x.astype(np.longdouble), y.astype(np.longdouble)), dtype
            )
    k = int(np.argmax(against_numpy))
    return float(against_numpy.max()), float(against_truth.max()), (x[k], y[k])


def _best_time(call, repeats: int = 5) -> float:
    call()
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def timing(name: str, dtype, size: int, binary: bool) -> tuple[float, float]:
    """(ns/element compiled, ns/element NumPy/SciPy) on ``size`` points of the central interval."""
    rng = np.random.default_rng(1)
    if binary:
        x = rng.uniform(0.1, 10, size).astype(dtype)
        y = rng.uniform(-5, 5, size).astype(dtype)
        fn = compile_binary(name, dtype)
        reference = BINARY[name][0]
        ours, theirs = _best_time(lambda: fn(x, y)), _best_time(lambda: reference(x, y))
    else:
        reference, _, central, _ = FUNCTIONS[name]
        x = rng.uniform(*central, size).astype(dtype)
        fn = compile_unary(name, dtype)
        ours, theirs = _best_time(lambda: fn(x)), _best_time(lambda: reference(x))
    return ours * 1e9 / size, theirs * 1e9 / size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="functions to run (default: all)")
    parser.add_argument(
        "--points", type=int, default=1 << 22, help="sweep points per function and dtype"
    )
    parser.add_argument("--size", type=int, default=10_000_000, help="elements for the timing")
    args = parser.parse_args()
    names = args.names or list(FUNCTIONS) + list(BINARY)
    print(
        f"{'function':9} {'dtype':8} {'ulp vs numpy':>12} {'ulp vs exact':>12} {'ns/elt':>8} "
        f"{'numpy ns':>8} {'speedup':>8}  worst input"
    )
    for name in names:
        for dtype in (np.float32, np.float64):
            if name in BINARY:
                x, y = binary_points(name, dtype, args.points)
                numpy_ulp, truth_ulp, worst = binary_errors(name, dtype, x, y)
            else:
                _, _, central, (low, high) = FUNCTIONS[name]
                numpy_ulp, truth_ulp, worst = unary_errors(
                    name, dtype, sweep(dtype, low, high, central, args.points)
                )
            ours, theirs = (
                timing(name, dtype, args.size, name in BINARY) if args.size else (np.nan, np.nan)
            )
            truth = "-" if truth_ulp is None else f"{truth_ulp:.2f}"
            print(
                f"{name:9} {np.dtype(dtype).name:8} {numpy_ulp:12.2f} {truth:>12} {ours:8.2f} "
                f"{theirs:8.2f} {theirs / ours:7.1f}x  {worst!r}",
                flush=True,
            )


if __name__ == "__main__":
    main()
