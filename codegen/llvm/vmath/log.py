"""log, log2, log10, log1p and the inverse hyperbolic functions built on them.

Reduction (frexp-style, by integer arithmetic on the bits): u = 2^k (1 + f)
with 1 + f in [sqrt(1/2), sqrt(2)); denormal inputs are first scaled into
the normal range.  Then, with s = f / (2 + f),

    log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)),   R(z) = z (c0 + c1 z + ...)

(the fdlibm arrangement, whose rounding errors stay below one ulp), and
k ln2 is added as k ln2_hi (exact) + k ln2_lo.  log1p(x) works on
u = fl(1 + x) and adds back the rounding error of that sum,
(x - (u - 1)) / u.  Coefficients: near-minimax fits of
(2 atanh(sqrt z) / sqrt z - 2) / z on z in [0, 0.0295] (weighted least
squares with Lawson iterations in mpmath); fit error 2^-24.8 (float32),
2^-54 (float64), damped further by the factor s R / log(1 + f) < 0.02.
"""

from __future__ import annotations

import math

from theanine.codegen.llvm.vmath.builder import MathBuilder

_LOG_POLY = {
    False: (0.6666666865348816, 0.4000012278556824, 0.2855072021484375, 0.2333342730998993),
    True: (
        0.6666666666666666,
        0.4000000000000089,
        0.28571428570795293,
        0.22222222393705462,
        0.1818179542219229,
        0.1538625169451185,
        0.13268450166364543,
        0.1309001236194895,
    ),
}
_LN2 = {
    False: (0.6931381225585938, 9.058001351559417e-06),
    True: (0.6931471803691238, 1.9082149292705877e-10),
}
_LOG10_2 = {
    False: (0.3010292053222656, 7.903417155702138e-07),
    True: (0.30102999566361177, 3.694239077158931e-13),
}
_SQRT_HALF_BITS = {False: 0x3F3504F3, True: 0x3FE6A09E667F3BCD}
_ONE_BITS = {False: 0x3F800000, True: 0x3FF0000000000000}
_MIN_NORMAL = {False: 2.0**-126, True: 2.0**-1022}
# beyond these, asinh(x) = log(2|x|) and acosh(x) = log(2x) to within rounding; below, asinh(x) = x
_HUGE = {False: 2.0**12, True: 2.0**28}
_TINY = {False: 2.0**-12, True: 2.0**-28}


def reduce(m: MathBuilder, u):
    """(k as a float, f) with u = 2^k (1 + f), 1 + f in [sqrt(1/2), sqrt(2)); u > 0 finite."""
    b = m.b
    d = m.is_double
    boost = m.mantissa + 2
    tiny = m.lt(u, m.c(_MIN_NORMAL[d]))
    u = m.select(tiny, m.mul(u, m.c(2.0**boost)), u)
    shifted = b.add(m.bits(u), m.ci(_ONE_BITS[d] - _SQRT_HALF_BITS[d]))
    k = b.sub(b.lshr(shifted, m.ci(m.mantissa)), m.ci(m.bias))
    k = b.sub(k, b.select(tiny, m.ci(boost), m.ci(0)))
    mantissa_bits = b.add(b.and_(shifted, m.ci((1 << m.mantissa) - 1)), m.ci(_SQRT_HALF_BITS[d]))
    return m.int_to_float(k), m.sub(m.from_bits(mantissa_bits), m.c(1.0))


def _pieces(m: MathBuilder, f):
    """(f^2/2, s (f^2/2 + R)) for log(1 + f) = f - f^2/2 + s (f^2/2 + R)."""
    s = m.div(f, m.add(m.c(2.0), f))
    z = m.mul(s, s)
    r = m.mul(z, m.poly(z, _LOG_POLY[m.is_double]))
    half_square = m.mul(m.mul(m.c(0.5), f), f)
    return half_square, m.mul(s, m.add(half_square, r))


def log_reduced(m: MathBuilder, k, f, correction):
    """k ln2 + log(1 + f) + correction, for |f| < 0.42 and a tiny correction."""
    hi, lo = _LN2[m.is_double]
    half_square, tail = _pieces(m, f)
    low = m.add(tail, m.fma(k, m.c(lo), correction))
    return m.sub(m.mul(k, m.c(hi)), m.sub(m.sub(half_square, low), f))


def log1p_of_reduced(m: MathBuilder, f):
    """log(1 + f) for |f| < 0.42."""
    half_square, tail = _pieces(m, f)
    return m.sub(f, m.sub(half_square, tail))


def _log_specials(m: MathBuilder, x, result, pole: float = 0.0):
    """NaN below ``pole``, -inf at it, inf at inf, NaN passes through."""
    result = m.select(m.lt(x, m.c(pole)), m.c(math.nan), result)
    result = m.select(m.eq(x, m.c(pole)), m.c(-math.inf), result)
    result = m.select(m.eq(x, m.c(math.inf)), x, result)
    return m.select(m.isnan(x), x, result)


def log(m: MathBuilder, x):
    k, f = reduce(m, x)
    return _log_specials(m, x, log_reduced(m, k, f, m.c(0.0)))


def log2(m: MathBuilder, x):
    k, f = reduce(m, x)
    return _log_specials(m, x, m.fma(log1p_of_reduced(m, f), m.c(1 / math.log(2)), k))


def log10(m: MathBuilder, x):
    hi, lo = _LOG10_2[m.is_double]
    k, f = reduce(m, x)
    low = m.fma(k, m.c(lo), m.mul(log1p_of_reduced(m, f), m.c(1 / math.log(10))))
    return _log_specials(m, x, m.fma(k, m.c(hi), low))


def log1p_core(m: MathBuilder, x):
    """log(1 + x) for x > -1 (no special cases): exact 1 + f for small x, else the
    reduction of u = fl(1 + x) plus the rounding error of that sum."""
    u = m.add(m.c(1.0), x)
    k, f = reduce(m, u)
    correction = m.div(
        m.select(m.ge(k, m.c(2.0)), m.sub(m.c(1.0), m.sub(u, x)), m.sub(x, m.sub(u, m.c(1.0)))), u
    )
    near_zero = m.b.and_(m.ge(x, m.c(0.5**0.5 - 1)), m.lt(x, m.c(2**0.5 - 1)))
    k = m.select(near_zero, m.c(0.0), k)
    f = m.select(near_zero, x, f)
    correction = m.select(near_zero, m.c(0.0), correction)
    return log_reduced(m, k, f, correction)


def log1p(m: MathBuilder, x):
    result = _log_specials(m, x, log1p_core(m, x), pole=-1.0)
    return m.select(m.eq(x, m.c(0.0)), x, result)


def arcsinh(m: MathBuilder, x):
    """sign(x) log1p(v): v = |x| + x^2 / (1 + sqrt(1 + x^2)) for |x| <= 2,
    2|x| + 1 / (sqrt(x^2 + 1) + |x|) - 1 above, and log(|x|) + ln2 for huge |x|."""
    d = m.is_double
    a = m.abs(x)
    square = m.mul(a, a)
    root = m.sqrt(m.add(square, m.c(1.0)))
    small = m.add(a, m.div(square, m.add(m.c(1.0), root)))
    middle = m.sub(m.add(m.add(a, a), m.div(m.c(1.0), m.add(root, a))), m.c(1.0))
    huge = m.gt(a, m.c(_HUGE[d]))
    v = m.select(huge, m.sub(a, m.c(1.0)), m.select(m.gt(a, m.c(2.0)), middle, small))
    value = m.add(log1p_core(m, v), m.select(huge, m.c(math.log(2)), m.c(0.0)))
    value = m.select(m.eq(a, m.c(math.inf)), a, value)
    value = m.select(m.lt(a, m.c(_TINY[d])), a, value)
    return m.copysign(value, x)


def arccosh(m: MathBuilder, x):
    """log1p(v): v = t + sqrt(2t + t^2) with t = x - 1 for x <= 2,
    2x - 1 / (x + sqrt(x^2 - 1)) - 1 above, and log(x) + ln2 for huge x."""
    t = m.sub(x, m.c(1.0))
    small = m.add(t, m.sqrt(m.fma(t, t, m.add(t, t))))
    middle = m.sub(
        m.sub(m.add(x, x), m.div(m.c(1.0), m.add(x, m.sqrt(m.fma(x, x, m.c(-1.0)))))), m.c(1.0)
    )
    huge = m.gt(x, m.c(_HUGE[m.is_double]))
    v = m.select(huge, t, m.select(m.gt(x, m.c(2.0)), middle, small))
    value = m.add(log1p_core(m, v), m.select(huge, m.c(math.log(2)), m.c(0.0)))
    value = m.select(m.eq(x, m.c(math.inf)), x, value)
    value = m.select(m.lt(x, m.c(1.0)), m.c(math.nan), value)
    return m.select(m.isnan(x), x, value)


def arctanh(m: MathBuilder, x):
    """sign(x) log1p(v) / 2 with v = 2|x| + 2x^2 / (1 - |x|) (|x| < 1/2) or 2|x| / (1 - |x|)."""
    a = m.abs(x)
    twice = m.add(a, a)
    rest = m.sub(m.c(1.0), a)
    v = m.select(m.lt(a, m.c(0.5)), m.add(twice, m.div(m.mul(twice, a), rest)), m.div(twice, rest))
    value = m.mul(m.c(0.5), log1p_core(m, v))
    value = m.select(m.eq(a, m.c(1.0)), m.c(math.inf), value)
    value = m.select(m.gt(a, m.c(1.0)), m.c(math.nan), value)
    value = m.select(m.eq(a, m.c(0.0)), a, value)
    return m.select(m.isnan(x), x, m.copysign(value, x))
