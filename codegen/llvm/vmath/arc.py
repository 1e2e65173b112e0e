"""arcsin, arccos, arctan, arctan2 for float32 and float64.

arcsin: x + x^3 P(x^2) for |x| <= 1/2; above, with z = (1 - |x|)/2 and
s = sqrt(z), arcsin|x| = pi/2 - 2 arcsin(s), where pi/2_hi - 2s is exact
(Sterbenz) over the range where the subtraction cancels.  arccos follows
from the same pieces.  arctan reduces |x| to |t| <= tan(pi/8) with
t = (|x| - 1)/(|x| + 1) (+ pi/4) or t = -1/|x| (+ pi/2), then
t + t^3 Q(t^2).  Coefficients: near-minimax fits of (arcsin s - s) / s^3 on
s^2 in [0, 1/4] and (arctan t - t) / t^3 on t^2 in [0, 0.1716] (weighted
least squares with Lawson iterations in mpmath).
"""

from __future__ import annotations

import math

from theanine.codegen.llvm.vmath.builder import MathBuilder

_ASIN_POLY = {
    False: (
        0.1666666567325592,
        0.07500097900629044,
        0.04459822177886963,
        0.031114377081394196,
        0.017084989696741104,
        0.03379559889435768,
    ),
    True: (
        0.16666666666666669,
        0.07499999999998348,
        0.04464285714652568,
        0.03038194412548685,
        0.022372173453269913,
        0.017352380960264754,
        0.013971384063722078,
        0.011477541714650819,
        0.010333234472663207,
        0.00541369783176726,
        0.017517611264827235,
        -0.015030485022265273,
        0.02887735696738594,
    ),
}
_ATAN_POLY = {
    False: (
        -0.3333333432674408,
        0.19999977946281433,
        -0.1428416520357132,
        0.11071579158306122,
        -0.08625980466604233,
        0.05050940439105034,
    ),
    True: (
        -0.3333333333333333,
        0.1999999999999981,
        -0.14285714285660667,
        0.11111111105225273,
        -0.0909090875655158,
        0.07692296453606877,
        -0.06666426154320727,
        0.05878942190225262,
        -0.05230542539937323,
        0.04551960211032904,
        -0.034579185633817684,
        0.016294504837479008,
    ),
}
# pi/2, pi/4 and pi as hi + lo in each type
_PIO2 = {
    False: (1.5707963705062866, -4.371139000186243e-08),
    True: (1.5707963267948966, 6.123233995736766e-17),
}
_PIO4 = {
    False: (0.7853981852531433, -2.1855695000931214e-08),
    True: (0.7853981633974483, 3.061616997868383e-17),
}
_PI = {
    False: (3.1415927410125732, -8.742278000372485e-08),
    True: (3.141592653589793, 1.2246467991473532e-16),
}
_TAN_PI_8 = 0.41421356237309503
_TAN_3PI_8 = 2.414213562373095


def _constant(m: MathBuilder, pair):
    hi, lo = pair[m.is_double]
    return m.c(hi), m.c(lo)


def _asin_poly(m: MathBuilder, s, z):
    """arcsin(s) - s for |s| <= 1/2 and z = s^2."""
    return m.mul(m.mul(s, z), m.poly(z, _ASIN_POLY[m.is_double]))


def arcsin(m: MathBuilder, x):
    a = m.abs(x)
    small = m.add(a, _asin_poly(m, a, m.mul(a, a)))
    z = m.mul(m.sub(m.c(1.0), a), m.c(0.5))
    s = m.sqrt(z)
    hi, lo = _constant(m, _PIO2)
    large = m.add(m.sub(hi, m.add(s, s)), m.sub(lo, m.mul(m.c(2.0), _asin_poly(m, s, z))))
    value = m.select(m.le(a, m.c(0.5)), small, large)
    value = m.select(m.gt(a, m.c(1.0)), m.c(math.nan), value)
    return m.copysign(value, x)


def arccos(m: MathBuilder, x):
    a = m.abs(x)
    middle_hi, middle_lo = _constant(m, _PIO2)
    middle = m.add(middle_hi, m.sub(middle_lo, m.add(x, _asin_poly(m, x, m.mul(x, x)))))
    z = m.mul(m.sub(m.c(1.0), a), m.c(0.5))
    s = m.sqrt(z)
    twice = m.mul(m.c(2.0), m.add(s, _asin_poly(m, s, z)))
    pi_hi, pi_lo = _constant(m, _PI)
    value = m.select(m.gt(x, m.c(0.0)), twice, m.sub(pi_hi, m.sub(twice, pi_lo)))
    value = m.select(m.le(a, m.c(0.5)), middle, value)
    return m.select(m.gt(a, m.c(1.0)), m.c(math.nan), value)


def _arctan_positive(m: MathBuilder, a):
    """arctan(a) for a >= 0 (inf gives pi/2, NaN passes)."""
    big = m.gt(a, m.c(_TAN_3PI_8))
    middle = m.gt(a, m.c(_TAN_PI_8))
    t = m.select(
        big, m.div(m.c(-1.0), a), m.select(middle, m.div(m.sub(a, m.c(1.0)), m.add(a, m.c(1.0))), a)
    )
    pio2_hi, pio2_lo = _constant(m, _PIO2)
    pio4_hi, pio4_lo = _constant(m, _PIO4)
    zero = m.c(0.0)
    base_hi = m.select(big, pio2_hi, m.select(middle, pio4_hi, zero))
    base_lo = m.select(big, pio2_lo, m.select(middle, pio4_lo, zero))
    z = m.mul(t, t)
    p = m.fma(m.mul(t, z), m.poly(z, _ATAN_POLY[m.is_double]), t)
    return m.add(base_hi, m.add(p, base_lo))


def arctan(m: MathBuilder, x):
    return m.copysign(_arctan_positive(m, m.abs(x)), x)


def arctan2(m: MathBuilder, y, x):
    """The angle of (x, y): arctan(|y| / |x|) placed in the quadrant of (x, y), C99 rules
    for zeros and infinities (atan2(+-0, -0) = +-pi, atan2(+-inf, -inf) = +-3pi/4)."""
    ay, ax = m.abs(y), m.abs(x)
    angle = _arctan_positive(m, m.div(ay, ax))
    angle = m.select(m.b.and_(m.eq(ay, m.c(0.0)), m.eq(ax, m.c(0.0))), m.c(0.0), angle)
    both_infinite = m.b.and_(m.isinf(ay), m.isinf(ax))
    angle = m.select(both_infinite, m.c(_PIO4[m.is_double][0]), angle)
    pi_hi, pi_lo = _constant(m, _PI)
    angle = m.select(m.signbit(x), m.add(m.sub(pi_hi, angle), pi_lo), angle)
    return m.select(m.isnan(x), x, m.copysign(angle, y))
