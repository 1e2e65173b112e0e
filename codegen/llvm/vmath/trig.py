"""sin, cos, tan in double precision (float32 is computed in double and rounded once).

Argument reduction is exact for every finite input (a table-driven
Payne-Hanek that vectorizes): write |x| = M 2^e with M an integer below
2^24 (float32) or 2^53 (float64) and e >= 0 (smaller |x| keep e = 0 and a
fractional M).  Then x (2/pi) mod 4 = M T(e) mod 4 with
T(e) = (2^e 2/pi) mod 4, tabulated as four chunks of 29 bits (float32:
the products with M are exact) or 53 bits (float64: products split exactly
with FMA, then summed error-free).  The nearest integer j gives the
quadrant and r = (x (2/pi) - j) pi/2 in [-pi/4, pi/4], on which the sine
and cosine polynomials are evaluated.

A float32 fast path (``guarded``) skips the table for |x| < FAST_SINGLE_LIMIT:
Cody-Waite reduction in float32 against pi/2 split in three float32 parts
(the first step x - j C1 is exact: a multiple of 2^-23 below 1 in
magnitude), then the same polynomials in float32, twice the vector lanes
of double.  The printer runs it on blocks of elements and recomputes a
block with the exact kernel when an argument falls outside the limit.

Polynomial coefficients: near-minimax fits of (sin r - r) / r^3 and
(cos r - 1 + r^2/2) / r^4 in r^2 on |r| <= pi/4 + 0.01 (weighted least
squares with Lawson iterations in mpmath).
"""

from __future__ import annotations

import functools
import math

from llvmlite import ir

from theanine.codegen.llvm.ir_types import F64, I32
from theanine.codegen.llvm.vmath.builder import MathBuilder, call_intrinsic

# floor(2/pi * 2^1600) in hexadecimal
_TWO_OVER_PI_HEX = (
    "a2f9836e4e441529fc2757d1f534ddc0db6295993c439041fe5163abdebbc561b7246e3a424dd2e0"
    "06492eea09d1921cfe1deb1cb129a73ee88235f52ebb4484e99c7026b45f7e413991d639835339f4"
    "9c845f8bbdf9283b1ff897ffde05980fef2f118b5a0a6d1f6d367ecf27cb09b74f463f669e5fea2d"
    "7527bac7ebe5f17b3d0739f78a5292ea6bfb5fb11f8d5d0856033046fc7b6babf0cfbc209af4361d"
    "a9e391615ee61b086599855f14a068408dffd8804d73273106061556ca73a8c960e27bc08c6b47c4"
)
_TWO_OVER_PI_BITS = 1600
_CHUNKS = 4
# (significant bits of M, bits per table chunk, largest exponent e) for float32 / float64 inputs
_LAYOUTS = {False: (24, 29, 104), True: (53, 53, 971)}

_SIN_POLY = {
    False: (
        -0.16666666663573923,
        0.008333331753222479,
        -0.00019840021417637363,
        2.7241577014564596e-06,
    ),
    True: (
        -0.16666666666666663,
        0.008333333333330613,
        -0.00019841269836253997,
        2.755731584424925e-06,
        -2.5051078815057595e-08,
        1.5914367018788572e-10,
    ),
}
_COS_POLY = {
    False: (
        0.041666666664097685,
        -0.0013888887574030119,
        2.4800547304232743e-05,
        -2.7294142922097713e-07,
    ),
    True: (
        0.041666666666666664,
        -0.0013888888888888887,
        2.480158730158428e-05,
        -2.7557319221120556e-07,
        2.0876755694248897e-09,
        -1.1470445742792396e-11,
        4.744991208814321e-14,
    ),
}
_PIO2_HI, _PIO2_LO = 1.5707963267948966, 6.123233995736766e-17
# pi/2 = C1 + C2 + C3 within 1.1e-23, each part a float32 (C1 is float32(pi/2))
_PIO2_SINGLE_PARTS = (1.5707963705062866, -4.371138828673793e-08, -1.7151245100058819e-15)
FAST_SINGLE_LIMIT = 4096.0
_TINY = 2.0**-27


@functools.cache
def reduction_table(single: bool) -> tuple[float, ...]:
    """T(e) = (2^e 2/pi) mod 4 for e = 0..max, each as _CHUNKS truncated chunks, flattened."""
    _, width, largest = _LAYOUTS[not single]
    bits = int(_TWO_OVER_PI_HEX, 16)
    modulus = 4 << _TWO_OVER_PI_BITS
    values = []
    for e in range(largest + 1):
        value = (bits << e) % modulus
        for k in range(_CHUNKS):
            low = _TWO_OVER_PI_BITS + 2 - width * (k + 1)
            chunk = (value >> low) & ((1 << width) - 1)
            values.append(math.ldexp(chunk, low - _TWO_OVER_PI_BITS))
    return tuple(values)


def _table(m: MathBuilder, single: bool) -> ir.GlobalVariable:
    """The module's constant copy of the reduction table (emitted once per module)."""
    name = f"theanine_two_over_pi_{'single' if single else 'double'}"
    module = m.b.module
    if name not in module.globals:
        data = reduction_table(single)
        table = ir.GlobalVariable(module, ir.ArrayType(F64, len(data)), name)
        table.initializer = ir.Constant(ir.ArrayType(F64, len(data)), [float(v) for v in data])
        table.global_constant = True
        table.linkage = "internal"
    return module.globals[name]


def _split(m: MathBuilder, a, single: bool):
    """(M, row of the table as an element index) with a = M 2^e."""
    b = m.b
    digits, _, largest = _LAYOUTS[not single]
    exponent = b.sub(b.lshr(m.bits(a), m.ci(52)), m.ci(1023 + digits - 1))
    exponent = b.select(b.icmp_signed("<", exponent, m.ci(0)), m.ci(0), exponent)
    exponent = b.select(b.icmp_signed(">", exponent, m.ci(largest)), m.ci(largest), exponent)
    return m.mul(a, m.pow2(b.neg(exponent))), b.mul(exponent, m.ci(_CHUNKS))


def _chunks(m: MathBuilder, row, single: bool):
    table = _table(m, single)
    zero = ir.Constant(I32, 0)
    return [m.b.load(m.b.gep(table, [zero, m.b.add(row, m.ci(k))])) for k in range(_CHUNKS)]


def _mod4(m: MathBuilder, p):
    return m.sub(p, m.mul(m.c(4.0), m.floor(m.mul(p, m.c(0.25)))))


def _reduce_single(m: MathBuilder, a):
    """(j, r) with a (2/pi) = j + r (mod 4), |r| <= 1/2 + tiny, for float32 magnitudes."""
    whole, row = _split(m, a, True)
    p0, p1, p2, p3 = [m.mul(whole, t) for t in _chunks(m, row, True)]
    p0 = _mod4(m, p0)
    j = m.round(m.add(p0, p1))
    high, err = m.two_sum(m.sub(p0, j), p1)
    return j, m.add(high, m.add(m.add(err, p2), p3))


def _reduce_double(m: MathBuilder, a):
    """(j, r_hi, r_lo) as for float32, with the sum carried error-free (Ogita-Rump-Oishi Sum2)."""
    whole, row = _split(m, a, False)
    t0, t1, t2, t3 = _chunks(m, row, False)
    p0, e0 = m.two_prod(whole, t0)
    p1, e1 = m.two_prod(whole, t1)
    p2, e2 = m.two_prod(whole, t2)
    p3 = m.mul(whole, t3)
    head, b_err = m.two_sum(_mod4(m, p0), p1)
    head, c_err = m.two_sum(head, e0)
    j = m.round(head)
    total, low = m.sub(head, j), m.c(0.0)
    for term in (b_err, c_err, e1, p2, e2, p3):
        total, err = m.two_sum(total, term)
        low = m.add(low, err)
    r_hi, r_lo = m.fast_two_sum(total, low)
    return j, r_hi, r_lo


def _quadrant(m: MathBuilder, j):
    return m.b.and_(m.b.fptosi(j, I32), ir.Constant(I32, 3))


def guarded(kernel):
    """``kernel`` on float32 values (the fast path), with an ``i1`` that is true where the result
    needs the exact kernel: |x| >= FAST_SINGLE_LIMIT, infinities and NaN."""

    def emit(m: MathBuilder, x):
        outside = m.b.fcmp_unordered(">=", m.abs(x), m.c(FAST_SINGLE_LIMIT))
        return kernel(m, x), outside

    return emit


def _sin_cos_single(m: MathBuilder, a):
    """(quadrant, sin r, cos r) for float32 magnitudes."""
    j, r = _reduce_single(m, a)
    z = m.mul(r, m.c(math.pi / 2))
    zz = m.mul(z, z)
    sine = m.fma(m.mul(z, zz), m.poly(zz, _SIN_POLY[False]), z)
    cosine = m.fma(m.mul(zz, zz), m.poly(zz, _COS_POLY[False]), m.fma(m.c(-0.5), zz, m.c(1.0)))
    return _quadrant(m, j), sine, cosine


def _sin_cos_single_fast(m: MathBuilder, a):
    """(quadrant, sin r, cos r) in float32 arithmetic, accurate for a < FAST_SINGLE_LIMIT."""
    j = m.round(m.mul(a, m.c(2 / math.pi)))
    z = a
    for part in _PIO2_SINGLE_PARTS:
        z = call_intrinsic(m.b, "llvm.fma", m.neg(j), m.c(part), z)
    zz = m.mul(z, z)
    sine = m.fma(m.mul(z, zz), m.poly(zz, _SIN_POLY[False]), z)
    cosine = m.fma(m.mul(zz, zz), m.poly(zz, _COS_POLY[False]), m.fma(m.c(-0.5), zz, m.c(1.0)))
    return _quadrant(m, j), sine, cosine


def _sin_cos_double(m: MathBuilder, a):
    """(quadrant, sin r, cos r) for float64 magnitudes, r carried as hi + lo."""
    j, r_hi, r_lo = _reduce_double(m, a)
    z, z_lo = m.two_prod(r_hi, m.c(_PIO2_HI))
    z_lo = m.fma(r_lo, m.c(_PIO2_HI), m.fma(r_hi, m.c(_PIO2_LO), z_lo))
    z, z_lo = m.fast_two_sum(z, z_lo)
    zz = m.mul(z, z)
    tail = m.fma(m.mul(m.c(-0.5), zz), z_lo, z_lo)
    sine = m.add(z, m.fma(m.mul(z, zz), m.poly(zz, _SIN_POLY[True]), tail))
    half = m.mul(m.c(0.5), zz)
    w = m.sub(m.c(1.0), half)
    rest = m.sub(m.mul(m.mul(zz, zz), m.poly(zz, _COS_POLY[True])), m.mul(z, z_lo))
    cosine = m.add(w, m.add(m.sub(m.sub(m.c(1.0), w), half), rest))
    return _quadrant(m, j), sine, cosine


def _sin_cos(m: MathBuilder, x, single: bool):
    a = m.abs(x)
    if not m.is_double:
        return _sin_cos_single_fast(m, a)
    return _sin_cos_single(m, a) if single else _sin_cos_double(m, a)


def _odd_quadrant(m: MathBuilder, quadrant):
    return m.b.icmp_unsigned("!=", m.b.and_(quadrant, ir.Constant(I32, 1)), ir.Constant(I32, 0))


def _upper_half(m: MathBuilder, quadrant):
    return m.b.icmp_unsigned("!=", m.b.and_(quadrant, ir.Constant(I32, 2)), ir.Constant(I32, 0))


def _finite_or_nan(m: MathBuilder, x, value):
    """NaN for infinite or NaN x."""
    return m.select(m.lt(m.abs(x), m.c(math.inf)), value, m.c(math.nan))


def sin(m: MathBuilder, x, single: bool = False):
    quadrant, sine, cosine = _sin_cos(m, x, single)
    value = m.select(_odd_quadrant(m, quadrant), cosine, sine)
    negate = m.b.xor(_upper_half(m, quadrant), m.signbit(x))
    value = m.select(negate, m.neg(value), value)
    value = m.select(m.lt(m.abs(x), m.c(_TINY)), x, value)
    return m.select(m.isnan(x), x, _finite_or_nan(m, x, value))


def cos(m: MathBuilder, x, single: bool = False):
    quadrant, sine, cosine = _sin_cos(m, x, single)
    value = m.select(_odd_quadrant(m, quadrant), sine, cosine)
    negate = m.b.xor(_upper_half(m, quadrant), _odd_quadrant(m, quadrant))
    value = m.select(negate, m.neg(value), value)
    return m.select(m.isnan(x), x, _finite_or_nan(m, x, value))


def tan(m: MathBuilder, x, single: bool = False):
    quadrant, sine, cosine = _sin_cos(m, x, single)
    value = m.select(_odd_quadrant(m, quadrant), m.neg(m.div(cosine, sine)), m.div(sine, cosine))
    value = m.select(m.signbit(x), m.neg(value), value)
    value = m.select(m.lt(m.abs(x), m.c(_TINY)), x, value)
    return m.select(m.isnan(x), x, _finite_or_nan(m, x, value))
