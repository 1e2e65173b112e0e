"""exp, exp2, expm1 and the functions built on them: sinh, cosh, tanh, sigmoid.

Argument reduction (Cody-Waite): x = n ln2 + r with |r| <= ln2/2, where
n ln2_hi is exact (ln2_hi has enough trailing zero bits for any n in
range), so r carries no cancellation error.  Then e^r = 1 + r + r^2 P(r)
and the result is scaled by 2^n in two exact steps, which yields inf on
overflow and correctly rounded denormals on underflow.

Polynomial coefficients: near-minimax fits of (e^r - 1 - r) / r^2 on
|r| <= 0.3466 (weighted least squares on Chebyshev nodes with Lawson
iterations, computed with mpmath at 60 digits; float32 fits rounded to
float32).  Relative fit error: 2^-26.6 (float32), 2^-57.5 (float64).
"""

from __future__ import annotations

import math

from theanine.codegen.llvm.vmath.builder import MathBuilder

_EXP_POLY = {
    False: (
        0.5,
        0.1666666716337204,
        0.04166646674275398,
        0.00833335891366005,
        0.001393364043906331,
        0.00019859265012200922,
    ),
    True: (
        0.5,
        0.1666666666666667,
        0.04166666666666662,
        0.008333333333326169,
        0.0013888888888916441,
        0.0001984126987472472,
        2.480158724927509e-05,
        2.755725550126407e-06,
        2.7557346243791104e-07,
        2.510518165451171e-08,
        2.0890506398609488e-09,
    ),
}
# ln2 = hi + lo, hi with trailing zeros so that n * hi is exact for every n in range
_LN2 = {
    False: (0.693359375, -0.00021219444005469057),
    True: (0.6931471803691238, 1.9082149292705877e-10),
}
# clamps that keep n inside the two-step scaling range yet still overflow / underflow
_EXP_RANGE = {False: (-104.0, 90.0), True: (-746.0, 712.0)}
_EXP2_RANGE = {False: (-151.0, 129.0), True: (-1076.0, 1025.0)}
# below these, expm1 is -1 in the type; above, 2^-n is clamped
_EXPM1_LOW = {False: -30.0, True: -40.0}
_EXPM1_SHIFT_CAP = {False: 60, True: 120}
# above these, tanh rounds to 1
_TANH_ONE = {False: 9.5, True: 22.0}


def _reduce(m: MathBuilder, x):
    """(n as integer, r) with x = n ln2 + r, |r| <= ln2/2 (x already clamped)."""
    hi, lo = _LN2[m.is_double]
    n_float, n = m.round_with_int(m.mul(x, m.c(1 / math.log(2))))
    r = m.fma(n_float, m.c(-lo), m.fma(n_float, m.c(-hi), x))  # n hi is exact, so the first fma is x - n hi
    return n, r


def expm1_small(m: MathBuilder, r):
    """e^r - 1 for |r| <= ln2/2, with full relative accuracy near 0."""
    return m.fma(m.mul(r, r), m.poly(r, _EXP_POLY[m.is_double]), r)


def _nan_passes(m: MathBuilder, x, result):
    return m.select(m.isnan(x), x, result)


def exp(m: MathBuilder, x, extra_exponent: int = 0, low=None):
    """e^(x + low) * 2^extra_exponent: ``low`` is the tail of a double-double argument
    (power, erfc); extra_exponent is -1 for the halves sinh and cosh need."""
    clamped = m.clamp(x, *_EXP_RANGE[m.is_double])
    n, r = _reduce(m, clamped)
    if low is not None:
        r = m.add(r, m.select(m.eq(clamped, x), low, m.c(0.0)))
    p = m.add(expm1_small(m, r), m.c(1.0))
    return _nan_passes(m, x, m.scale(p, m.b.add(n, m.ci(extra_exponent))))


def exp2(m: MathBuilder, x):
    """2^x: n = round(x) and 2^(x - n) = e^((x - n) ln2)."""
    clamped = m.clamp(x, *_EXP2_RANGE[m.is_double])
    n_float, n = m.round_with_int(clamped)
    r = m.mul(m.sub(clamped, n_float), m.c(math.log(2)))
    p = m.add(expm1_small(m, r), m.c(1.0))
    return _nan_passes(m, x, m.scale(p, n))


def expm1(m: MathBuilder, x):
    """e^x - 1 = (q + (1 - 2^-n)) * 2^n with q = e^r - 1; exact for n = 0."""
    b = m.b
    n, r = _reduce(m, m.clamp(x, _EXPM1_LOW[m.is_double], _EXP_RANGE[m.is_double][1]))
    q = expm1_small(m, r)
    cap = m.ci(_EXPM1_SHIFT_CAP[m.is_double])
    capped = b.select(b.icmp_signed(">", n, cap), cap, n)
    one_minus = m.sub(m.c(1.0), m.pow2(b.neg(capped)))
    result = m.scale(m.add(q, one_minus), n)
    return m.select(m.eq(x, m.c(0.0)), x, _nan_passes(m, x, result))


def sinh(m: MathBuilder, x):
    """x + x^3 S(x^2) for |x| < 1, else e^|x|/2 - (1/4) / (e^|x|/2) with x's sign."""
    z = m.mul(x, x)
    small = m.fma(m.mul(x, z), m.poly(z, _SINH_POLY[m.is_double]), x)
    half = exp(m, m.abs(x), -1)
    large = m.copysign(m.sub(half, m.div(m.c(0.25), half)), x)
    return m.select(m.lt(m.abs(x), m.c(1.0)), small, large)


def cosh(m: MathBuilder, x):
    """e^|x|/2 + (1/4) / (e^|x|/2): both terms positive, no cancellation."""
    half = exp(m, m.abs(x), -1)
    return m.add(half, m.div(m.c(0.25), half))


def tanh(m: MathBuilder, x):
    """t / (t + 2) with t = expm1(2|x|): accurate for tiny and large |x| alike."""
    magnitude = m.abs(x)
    t = expm1(m, m.add(magnitude, magnitude))
    value = m.div(t, m.add(t, m.c(2.0)))
    value = m.select(m.gt(magnitude, m.c(_TANH_ONE[m.is_double])), m.c(1.0), value)
    return m.copysign(value, x)


def sigmoid(m: MathBuilder, x):
    """1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below: e^-|x| never overflows."""
    e = exp(m, m.neg(m.abs(x)))
    numerator = m.select(m.ge(x, m.c(0.0)), m.c(1.0), e)
    return m.div(numerator, m.add(m.c(1.0), e))


# (sinh x - x) / x^3 as a polynomial in x^2 on |x| <= 1 (same fitting method)
_SINH_POLY = {
    False: (0.1666666716337204, 0.008333339355885983, 0.0001983812398975715, 2.806148359013605e-06),
    True: (
        0.16666666666666666,
        0.008333333333333333,
        0.00019841269841269773,
        2.755731922403985e-06,
        2.5052108364196013e-08,
        1.6059048376321265e-10,
        7.646626803478915e-13,
        2.8444856470418057e-15,
    ),
}
