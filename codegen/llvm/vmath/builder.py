"""Branch-free floating-point building blocks for the vectorizable math kernels.

``MathBuilder`` wraps an ``ir.IRBuilder`` for one float type (float or
double) and the integer type of the same width.  Everything it emits is
straight-line code (selects instead of branches, bit manipulation through
bitcasts, no calls other than intrinsics that lower to single vector
instructions), so LLVM's loop vectorizer can widen the loop around it.

Polynomials use ``llvm.fmuladd``: one FMA instruction on hosts that have
FMA, a multiply and an add elsewhere; no algorithm here relies on the
fused rounding except ``two_prod``, which asks for ``llvm.fma`` explicitly.
Rounding to an integer uses the "add and subtract 1.5 * 2^mantissa" trick
(exact in round-to-nearest-even), which needs no SSE4.1 instruction.
"""

from __future__ import annotations

from collections.abc import Sequence

from llvmlite import ir

from theanine.codegen.llvm.ir_types import F32, F64, I32, I64

_LAYOUT = {F32: (I32, 23, 127), F64: (I64, 52, 1023)}


def call_intrinsic(builder: ir.IRBuilder, name: str, *args: ir.Value) -> ir.Value:
    """Call the LLVM intrinsic ``name`` overloaded on the first argument's type."""
    signature = ir.FunctionType(args[0].type, [a.type for a in args])
    fn = builder.module.declare_intrinsic(name, [args[0].type], signature)
    return builder.call(fn, list(args))


class MathBuilder:
    """Float arithmetic of one type (``ftype``) emitted at ``builder``'s position."""

    def __init__(self, builder: ir.IRBuilder, ftype: ir.Type):
        self.b = builder
        self.f = ftype
        self.i, self.mantissa, self.bias = _LAYOUT[ftype]
        self.is_double = ftype == F64

    # constants and conversions -------------------------------------------------
    def c(self, value: float) -> ir.Constant:
        return ir.Constant(self.f, float(value))

    def ci(self, value: int) -> ir.Constant:
        return ir.Constant(self.i, value)

    def bits(self, x: ir.Value) -> ir.Value:
        return self.b.bitcast(x, self.i)

    def from_bits(self, n: ir.Value) -> ir.Value:
        return self.b.bitcast(n, self.f)

    def int_to_float(self, n: ir.Value) -> ir.Value:
        """A small integer (|n| < 2^31) as a float, through i32 (vectorizes without AVX-512)."""
        if n.type != I32:
            n = self.b.trunc(n, I32)
        return self.b.sitofp(n, self.f)

    # arithmetic -------------------------------------------------------------------
    def add(self, x, y):
        return self.b.fadd(x, y)

    def sub(self, x, y):
        return self.b.fsub(x, y)

    def mul(self, x, y):
        return self.b.fmul(x, y)

    def div(self, x, y):
        return self.b.fdiv(x, y)

    def neg(self, x):
        return self.b.fneg(x)

    def fma(self, x, y, z):
        """``x * y + z``, fused where the host has FMA."""
        return call_intrinsic(self.b, "llvm.fmuladd", x, y, z)

    def exact_fma(self, x, y, z):
        """``x * y + z`` with a single rounding on every host."""
        return call_intrinsic(self.b, "llvm.fma", x, y, z)

    def poly(self, x: ir.Value, coefficients: Sequence[float]) -> ir.Value:
        """``c0 + c1 x + c2 x^2 + ...`` by Horner's rule."""
        acc = self.c(coefficients[-1])
        for coefficient in reversed(coefficients[:-1]):
            acc = self.fma(acc, x, self.c(coefficient))
        return acc

    def sqrt(self, x):
        return call_intrinsic(self.b, "llvm.sqrt", x)

    def abs(self, x):
        return call_intrinsic(self.b, "llvm.fabs", x)

    def copysign(self, magnitude, sign):
        return call_intrinsic(self.b, "llvm.copysign", magnitude, sign)

    # comparisons and selection ----------------------------------------------------
    def select(self, condition, x, y):
        return self.b.select(condition, x, y)

    def lt(self, x, y):
        return self.b.fcmp_ordered("<", x, y)

    def le(self, x, y):
        return self.b.fcmp_ordered("<=", x, y)

    def gt(self, x, y):
        return self.b.fcmp_ordered(">", x, y)

    def ge(self, x, y):
        return self.b.fcmp_ordered(">=", x, y)

    def eq(self, x, y):
        return self.b.fcmp_ordered("==", x, y)

    def ne(self, x, y):
        return self.b.fcmp_unordered("!=", x, y)

    def isnan(self, x):
        return self.b.fcmp_unordered("uno", x, x)

    def isinf(self, x):
        return self.eq(self.abs(x), self.c(float("inf")))

    def signbit(self, x):
        return self.b.icmp_signed("<", self.bits(x), self.ci(0))

    def clamp(self, x, low: float, high: float):
        """``x`` limited to [low, high]; NaN stays NaN."""
        x = self.select(self.gt(x, self.c(high)), self.c(high), x)
        return self.select(self.lt(x, self.c(low)), self.c(low), x)

    # rounding and exponents -------------------------------------------------------
    def _shifter(self) -> ir.Constant:
        return self.c(1.5 * 2.0**self.mantissa)

    def round_with_int(self, x):
        """(round-half-even(x) as a float, as an integer) for |x| < 2^(mantissa - 1)."""
        shifted = self.add(x, self._shifter())
        rounded = self.sub(shifted, self._shifter())
        return rounded, self.b.sub(self.bits(shifted), self.bits(self._shifter()))

    def round(self, x):
        """round-half-even(x) for any x (from 2^mantissa on, every float is an integer)."""
        two_mantissa = self.c(2.0**self.mantissa)
        magnitude = self.abs(x)
        rounded = self.copysign(self.sub(self.add(magnitude, two_mantissa), two_mantissa), x)
        return self.select(self.ge(magnitude, two_mantissa), x, rounded)

    def floor(self, x):
        """floor(x) for any finite x."""
        rounded = self.round(x)
        return self.select(self.gt(rounded, x), self.sub(rounded, self.c(1.0)), rounded)

    def pow2(self, n):
        """2^n for an integer n in the normal exponent range."""
        return self.from_bits(self.b.shl(self.b.add(n, self.ci(self.bias)), self.ci(self.mantissa)))

    def scale(self, x, n):
        """x * 2^n in two exact steps, so results may overflow to inf or round to denormals.

        n must lie within twice the normal exponent range.
        """
        half = self.b.ashr(n, self.ci(1))
        return self.mul(self.mul(x, self.pow2(half)), self.pow2(self.b.sub(n, half)))

    # error-free transformations ----------------------------------------------------
    def two_sum(self, x, y):
        """(s, e) with s = fl(x + y) and s + e = x + y exactly (Knuth)."""
        s = self.add(x, y)
        v = self.sub(s, x)
        e = self.add(self.sub(x, self.sub(s, v)), self.sub(y, v))
        return s, e

    def fast_two_sum(self, x, y):
        """(s, e) with s + e = x + y exactly, for |x| >= |y| (Dekker)."""
        s = self.add(x, y)
        return s, self.sub(y, self.sub(s, x))

    def two_prod(self, x, y):
        """(p, e) with p = fl(x * y) and p + e = x * y exactly."""
        p = self.mul(x, y)
        return p, self.exact_fma(x, y, self.neg(p))

    # type changes --------------------------------------------------------------------
    def widen(self, x):
        return self.b.fpext(x, F64)

    def narrow(self, x):
        return self.b.fptrunc(x, F32)
