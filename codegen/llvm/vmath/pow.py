"""power (x ** y, with C99/NumPy special cases) and softplus.

float64 power is exp(y log|x|) carried in double-double: an error of d in
w = y log|x| becomes a relative error d in the result, and |w| reaches
745, so log|x| must be good to about 2^-62.  With u = |x| = 2^k (1 + f)
and s = f / (2 + f) (both parts of s kept),

    log(1 + f) = 2s + (2/3) s^3 + s^5 Q(s^2),  Q(z) = sum 2 z^j / (2j + 5),

where 2s and (2/3) s^3 are formed exactly enough in double-double and the
Taylor tail s^5 Q (below 2^-12 of the total) in double.  float32 power is
the same formula in plain double precision, which is ample for float32.
"""

from __future__ import annotations

import math

from theanine.codegen.llvm.vmath import exp as exp_kernels
from theanine.codegen.llvm.vmath import log as log_kernels
from theanine.codegen.llvm.vmath.builder import MathBuilder

_LN2_HI, _LN2_LO = 0.6931471803691238, 1.9082149292705877e-10
_TWO_THIRDS_HI, _TWO_THIRDS_LO = 2 / 3, 3.700743415417188e-17
_LOG_TAIL = tuple(2 / (2 * j + 5) for j in range(11))


def _log_double_double(m: MathBuilder, u):
    """log(u) as (hi, lo) with relative error below 2^-62, for positive finite u."""
    k, f = log_kernels.reduce(m, u)
    d_hi, d_lo = m.fast_two_sum(m.c(2.0), f)
    s = m.div(f, d_hi)
    s_lo = m.div(m.sub(m.exact_fma(m.neg(s), d_hi, f), m.mul(s, d_lo)), d_hi)
    z, z_lo = m.two_prod(s, s)
    z_lo = m.fma(m.add(s, s), s_lo, z_lo)
    cube, cube_lo = m.two_prod(z, s)
    cube_lo = m.fma(z_lo, s, m.fma(z, s_lo, cube_lo))
    third, third_lo = m.two_prod(cube, m.c(_TWO_THIRDS_HI))
    third_lo = m.fma(cube_lo, m.c(_TWO_THIRDS_HI), m.fma(cube, m.c(_TWO_THIRDS_LO), third_lo))
    tail = m.mul(m.mul(cube, z), m.poly(z, _LOG_TAIL))
    hi, lo = m.fast_two_sum(m.add(s, s), third)
    lo = m.add(lo, m.add(m.add(s_lo, s_lo), m.add(third_lo, tail)))
    hi, err = m.two_sum(m.mul(k, m.c(_LN2_HI)), hi)
    return m.fast_two_sum(hi, m.add(err, m.fma(k, m.c(_LN2_LO), lo)))


def _magnitude_double(m: MathBuilder, a, y):
    """|x|^y for float64 (double-double log and exp)."""
    log_hi, log_lo = _log_double_double(m, a)
    w, w_err = m.two_prod(y, log_hi)
    w_lo = m.select(m.isinf(w), m.c(0.0), m.fma(y, log_lo, w_err))
    return exp_kernels.exp(m, w, low=w_lo)


def _magnitude_single(m: MathBuilder, a, y):
    """|x|^y for float32 arguments widened to double: plain double is accurate enough."""
    k, f = log_kernels.reduce(m, a)
    log = log_kernels.log_reduced(m, k, f, m.c(0.0))
    return exp_kernels.exp(m, m.mul(y, log))


def _is_odd_integer(m: MathBuilder, y):
    half = m.mul(y, m.c(0.5))
    return m.b.and_(m.eq(m.floor(y), y), m.ne(m.floor(half), half))


def _special_cases(m: MathBuilder, x, y, magnitude):
    """Apply C99 pow's rules for zeros, infinities, NaN and negative bases."""
    b = m.b
    inf, a = m.c(math.inf), m.abs(x)
    negative_y = m.lt(y, m.c(0.0))
    value = m.select(m.eq(x, m.c(0.0)), m.select(negative_y, inf, m.c(0.0)), magnitude)
    value = m.select(m.eq(a, inf), m.select(negative_y, m.c(0.0), inf), value)
    grows = b.icmp_unsigned("==", m.gt(a, m.c(1.0)), m.gt(y, m.c(0.0)))
    limit = m.select(m.eq(a, m.c(1.0)), m.c(1.0), m.select(grows, inf, m.c(0.0)))
    value = m.select(m.eq(m.abs(y), inf), limit, value)
    odd = _is_odd_integer(m, y)
    value = m.select(b.and_(m.signbit(x), odd), m.neg(value), value)
    integer = m.eq(m.floor(y), y)
    finite_negative = b.and_(m.lt(x, m.c(0.0)), m.gt(x, m.neg(inf)))
    value = m.select(b.and_(finite_negative, b.not_(integer)), m.c(math.nan), value)
    value = m.select(b.or_(m.isnan(x), m.isnan(y)), m.add(x, y), value)
    return m.select(b.or_(m.eq(y, m.c(0.0)), m.eq(x, m.c(1.0))), m.c(1.0), value)


def power(m: MathBuilder, x, y):
    """x ** y for float64."""
    return _special_cases(m, x, y, _magnitude_double(m, m.abs(x), y))


def power_of_widened_single(m: MathBuilder, x, y):
    """x ** y for float32 values widened to double (rounded to float32 by the caller)."""
    return _special_cases(m, x, y, _magnitude_single(m, m.abs(x), y))


def softplus(m: MathBuilder, x):
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow, full accuracy for x << 0."""
    tail = log_kernels.log1p_core(m, exp_kernels.exp(m, m.neg(m.abs(x))))
    return m.add(m.select(m.gt(x, m.c(0.0)), x, m.c(0.0)), tail)
