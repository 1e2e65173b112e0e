"""The LLVM scalar op table: one emitter per ScalarOp name.

An emitter gets the builder, the argument values (already in compute
types), the argument dtypes and the output dtype, and returns the result
in the output's compute type.  Semantics follow NumPy's ufunc loops: the
arguments are first converted to the loop dtype (the output dtype for
arithmetic, the common input dtype for comparisons), NaN propagates
through maximum/minimum, round is round-half-to-even.  Transcendental
functions come from ``llvm_math`` so that they vectorize.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from llvmlite import ir

from theanine.codegen.llvm import philox, vmath
from theanine.codegen.llvm.ir_types import I1, compute_type, convert, is_float, is_unsigned, round_to_half
from theanine.codegen.program.scalar_table import UNCONVERTED, ScalarTable, loop_dtype

Emitter = Callable[[ir.IRBuilder, list, Sequence[str], str], ir.Value]
FailureCheck = Callable[[ir.IRBuilder, list, Sequence[str], str], ir.Value | None]
_TABLE = ScalarTable()
_register = _TABLE.register
supports = _TABLE.supports
"""True when the LLVM backend can compile scalar op ``name`` for these dtypes."""


def emit(builder: ir.IRBuilder, name: str, args: list, in_dtypes: Sequence[str], out_dtype: str) -> ir.Value:
    """The value of scalar op ``name`` on ``args``, in ``out_dtype``'s compute type."""
    return emit_checked(builder, name, args, in_dtypes, out_dtype)[0]


def emit_checked(builder: ir.IRBuilder, name: str, args: list, in_dtypes: Sequence[str],
                 out_dtype: str) -> tuple[ir.Value, ir.Value | None]:
    """``emit``, and the i1 condition under which NumPy would raise for these arguments
    (None when it never does): the caller reports it as the step's failure, and the runtime
    then reruns the node's ``perform`` to raise NumPy's error."""
    if name.startswith("cast_"):
        return convert(builder, args[0], in_dtypes[0], out_dtype), None
    fn = _TABLE.emitter(name)
    loop = loop_dtype(name, in_dtypes, out_dtype)
    if name not in UNCONVERTED:
        args = [convert(builder, a, d, loop) for a, d in zip(args, in_dtypes, strict=False)]
        in_dtypes = [loop] * len(args)
    check = _FAILURES.get(name)
    failed = check(builder, args, in_dtypes, out_dtype) if check is not None else None
    result = fn(builder, args, in_dtypes, out_dtype)
    return (round_to_half(builder, result) if out_dtype == "float16" else result), failed


def _const(value, like: ir.Value) -> ir.Constant:
    return ir.Constant(like.type, value)


# arithmetic -------------------------------------------------------------------

@_register("add", "fib")
def _add(b, a, d, o):
    if o == "bool":
        return b.or_(a[0], a[1])
    return b.fadd(a[0], a[1]) if is_float(o) else b.add(a[0], a[1])


@_register("subtract", "fi")
def _subtract(b, a, d, o):
    return b.fsub(a[0], a[1]) if is_float(o) else b.sub(a[0], a[1])


@_register("multiply", "fib")
def _multiply(b, a, d, o):
    if o == "bool":
        return b.and_(a[0], a[1])
    return b.fmul(a[0], a[1]) if is_float(o) else b.mul(a[0], a[1])


@_register("true_divide", "f")
def _true_divide(b, a, d, o):
    return b.fdiv(a[0], a[1])


def _divmod_floats(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> tuple[ir.Value, ir.Value]:
    """NumPy's ``npy_divmod``: floor quotient and remainder with the divisor's sign (fmod based)."""
    zero = _const(0.0, x)
    mod = b.frem(x, y)
    div = b.fdiv(b.fsub(x, mod), y)
    fix = b.and_(b.fcmp_unordered("!=", mod, zero),
                 b.icmp_unsigned("!=", b.fcmp_ordered("<", y, zero), b.fcmp_ordered("<", mod, zero)))
    mod_fixed = b.select(fix, b.fadd(mod, y), mod)
    div = b.select(fix, b.fsub(div, _const(1.0, x)), div)
    mod_fixed = b.select(b.fcmp_ordered("==", mod, zero), vmath.call_intrinsic(b, "llvm.copysign", zero, y),
                         mod_fixed)
    floor = vmath.call_intrinsic(b, "llvm.floor", div)
    floor = b.select(b.fcmp_ordered(">", b.fsub(div, floor), _const(0.5, x)), b.fadd(floor, _const(1.0, x)), floor)
    quotient = b.fdiv(x, y)
    floor = b.select(b.fcmp_ordered("==", div, zero), vmath.call_intrinsic(b, "llvm.copysign", zero, quotient),
                     floor)
    by_zero = b.fcmp_ordered("==", y, zero)
    return b.select(by_zero, quotient, floor), b.select(by_zero, mod, mod_fixed)


def _divmod_ints(b: ir.IRBuilder, x: ir.Value, y: ir.Value, unsigned: bool) -> tuple[ir.Value, ir.Value]:
    """Floor quotient and remainder of integers; a zero divisor gives 0 and 0 (NumPy warns), and
    ``MIN // -1`` wraps instead of trapping."""
    zero, one = _const(0, x), _const(1, x)
    by_zero = b.icmp_unsigned("==", y, zero)
    safe = b.select(by_zero, one, y)
    if unsigned:
        return b.select(by_zero, zero, b.udiv(x, safe)), b.select(by_zero, zero, b.urem(x, safe))
    minus_one = b.icmp_signed("==", safe, _const(-1, x))
    safe = b.select(minus_one, one, safe)
    quotient, remainder = b.sdiv(x, safe), b.srem(x, safe)
    adjust = b.and_(b.icmp_signed("!=", remainder, zero),
                    b.icmp_signed("<", b.xor(remainder, safe), zero))
    quotient = b.select(adjust, b.sub(quotient, one), quotient)
    remainder = b.select(adjust, b.add(remainder, safe), remainder)
    quotient = b.select(minus_one, b.neg(x), quotient)
    remainder = b.select(minus_one, zero, remainder)
    return b.select(by_zero, zero, quotient), b.select(by_zero, zero, remainder)


def _divmod(b, a, o):
    if is_float(o):
        return _divmod_floats(b, a[0], a[1])
    return _divmod_ints(b, a[0], a[1], is_unsigned(o))


_register("floor_divide", "fi")(lambda b, a, d, o: _divmod(b, a, o)[0])
_register("mod", "fi")(lambda b, a, d, o: _divmod(b, a, o)[1])


@_register("reciprocal", "f")
def _reciprocal(b, a, d, o):
    return b.fdiv(_const(1.0, a[0]), a[0])


@_register("negative", "fi")
def _negative(b, a, d, o):
    return b.fneg(a[0]) if is_float(o) else b.neg(a[0])


@_register("square", "fi")
def _square(b, a, d, o):
    return b.fmul(a[0], a[0]) if is_float(o) else b.mul(a[0], a[0])


@_register("abs", "fib")
def _abs(b, a, d, o):
    if o == "bool" or is_unsigned(o):
        return a[0]
    if is_float(o):
        return vmath.call_intrinsic(b, "llvm.fabs", a[0])
    return b.select(b.icmp_signed("<", a[0], _const(0, a[0])), b.neg(a[0]), a[0])


@_register("sign", "fi")
def _sign(b, a, d, o):
    x = a[0]
    zero, one = _const(0, x), _const(1, x)
    if is_float(o):
        positive = b.select(b.fcmp_ordered(">", x, zero), one, _const(0.0, x))
        value = b.select(b.fcmp_ordered("<", x, zero), _const(-1.0, x), positive)
        return b.select(b.fcmp_unordered("uno", x, x), x, value)
    if is_unsigned(o):
        return b.zext(b.icmp_unsigned("!=", x, zero), x.type)
    positive = b.zext(b.icmp_signed(">", x, zero), x.type)
    return b.select(b.icmp_signed("<", x, zero), _const(-1, x), positive)


@_register("power", "fi")
def _power(b, a, d, o):
    if is_float(o):
        return vmath.emit(b, "pow", a, o)
    return _integer_power(b, a[0], a[1], bits=a[0].type.width - (0 if is_unsigned(o) else 1))


def _integer_power(b: ir.IRBuilder, base: ir.Value, exponent: ir.Value, bits: int) -> ir.Value:
    """``base ** exponent`` modulo 2**width (NumPy's wrapping), by squaring over the exponent's
    ``bits`` low bits, in a loop: any order of the multiplies gives NumPy's result,
    multiplication modulo 2**width being associative and commutative (0 ** 0 is 1).  Unrolled,
    the chain of squarings reads each square twice, and LLVM's vectorizer walks its 2**bits
    paths; the loop keeps the element loop scalar, which integer powers can afford."""
    before = b.block
    header = b.append_basic_block("power.header")
    body = b.append_basic_block("power.body")
    done = b.append_basic_block("power.done")
    b.branch(header)
    b.position_at_end(header)
    k = b.phi(exponent.type)
    result = b.phi(base.type)
    square = b.phi(base.type)
    k.add_incoming(_const(0, exponent), before)
    result.add_incoming(_const(1, base), before)
    square.add_incoming(base, before)
    b.cbranch(b.icmp_unsigned("<", k, _const(bits, exponent)), body, done)
    b.position_at_end(body)
    bit = b.trunc(b.lshr(exponent, k), I1)
    k.add_incoming(b.add(k, _const(1, exponent)), body)
    result.add_incoming(b.mul(result, b.select(bit, square, _const(1, base))), body)
    square.add_incoming(b.mul(square, square), body)
    b.branch(header)
    b.position_at_end(done)
    return result


def _negative_exponent(b, a, d, o):
    """NumPy raises ValueError for integers to negative integer powers."""
    if is_float(o) or is_unsigned(o):
        return None
    return b.icmp_signed("<", a[1], _const(0, a[1]))


_register("philox_word", "i")(lambda b, a, d, o: philox.emit_word(b, a))
_register("philox_counter", "i")(lambda b, a, d, o: philox.emit_counter(b, a))


@_register("mulhi", "i")
def _mulhi(b, a, d, o):
    """The high half of the double-width product (uint64 * uint64 -> high 64 bits)."""
    wide = ir.IntType(2 * a[0].type.width)
    product = b.mul(b.zext(a[0], wide), b.zext(a[1], wide))
    return b.trunc(b.lshr(product, ir.Constant(wide, a[0].type.width)), a[0].type)


_FAILURES: dict[str, FailureCheck] = {"power": _negative_exponent}


def _pick(b, x, y, o, op):
    """NumPy's maximum/minimum: ``x`` when ``x op y`` (strict) or x is NaN, else ``y``.

    Ties give ``y``, as NumPy's loops do (so maximum(0.0, -0.0) is -0.0).
    """
    if is_float(o):
        keep = b.or_(b.fcmp_ordered(op, x, y), b.fcmp_unordered("uno", x, x))
    elif o == "bool" or is_unsigned(o):
        keep = b.icmp_unsigned(op, x, y)
    else:
        keep = b.icmp_signed(op, x, y)
    return b.select(keep, x, y)


@_register("maximum", "fib")
def _maximum(b, a, d, o):
    return _pick(b, a[0], a[1], o, ">")


@_register("minimum", "fib")
def _minimum(b, a, d, o):
    return _pick(b, a[0], a[1], o, "<")


@_register("relu", "fib")
def _relu(b, a, d, o):
    return _pick(b, a[0], ir.Constant(a[0].type, 0), o, ">")


@_register("clip", "fib")
def _clip(b, a, d, o):
    return _pick(b, _pick(b, a[0], a[1], o, ">"), a[2], o, "<")


@_register("where", "fib")
def _where(b, a, d, o):
    cond = convert(b, a[0], d[0], "bool")
    return b.select(cond, convert(b, a[1], d[1], o), convert(b, a[2], d[2], o))


@_register("second", "fib")
def _second(b, a, d, o):
    return convert(b, a[1], d[1], o)


# rounding ------------------------------------------------------------------------

def _rounding(intrinsic: str):
    def fn(b, a, d, o):
        if not is_float(o):
            return a[0]
        return vmath.call_intrinsic(b, intrinsic, a[0])

    return fn


_register("floor", "fib")(_rounding("llvm.floor"))
_register("ceil", "fib")(_rounding("llvm.ceil"))
_register("round", "fib")(_rounding("llvm.roundeven"))


# transcendental functions: vectorizable implementations live in llvm_math -----------

for _name in vmath.UNARY_FUNCTIONS:
    _register(_name, "f")(lambda b, a, d, o, _n=_name: vmath.emit(b, _n, a, o))
_register("arctan2", "f")(lambda b, a, d, o: vmath.emit(b, "arctan2", a, o))


# comparisons and logic ---------------------------------------------------------------

def _comparison(op: str, unordered: bool = False):
    def fn(b, a, d, o):
        if is_float(d[0]):
            cmp = b.fcmp_unordered if unordered else b.fcmp_ordered
            return cmp(op, a[0], a[1])
        if d[0] == "bool" or is_unsigned(d[0]):
            return b.icmp_unsigned(op, a[0], a[1])
        return b.icmp_signed(op, a[0], a[1])

    return fn


for _name, _op in [("equal", "=="), ("less", "<"), ("less_equal", "<="), ("greater", ">"),
                   ("greater_equal", ">=")]:
    _register(_name, "fib")(_comparison(_op))
_register("not_equal", "fib")(_comparison("!=", unordered=True))


def _logical(combine: Callable):
    def fn(b, a, d, o):
        return combine(b, *[convert(b, x, dt, "bool") for x, dt in zip(a, d, strict=False)])

    return fn


_register("logical_and", "b")(_logical(lambda b, x, y: b.and_(x, y)))
_register("logical_or", "b")(_logical(lambda b, x, y: b.or_(x, y)))
_register("logical_xor", "b")(_logical(lambda b, x, y: b.xor(x, y)))
_register("logical_not", "b")(_logical(lambda b, x: b.xor(x, ir.Constant(I1, 1))))


_register("bitwise_and", "ib")(lambda b, a, d, o: b.and_(a[0], a[1]))
_register("bitwise_or", "ib")(lambda b, a, d, o: b.or_(a[0], a[1]))
_register("bitwise_xor", "ib")(lambda b, a, d, o: b.xor(a[0], a[1]))
_register("invert", "ib")(lambda b, a, d, o: b.xor(a[0], ir.Constant(a[0].type, -1 if o != "bool" else 1)))


@_register("isnan", "fib")
def _isnan(b, a, d, o):
    if not is_float(d[0]):
        return ir.Constant(I1, 0)
    return b.fcmp_unordered("uno", a[0], a[0])


@_register("isinf", "fib")
def _isinf(b, a, d, o):
    if not is_float(d[0]):
        return ir.Constant(I1, 0)
    magnitude = vmath.call_intrinsic(b, "llvm.fabs", a[0])
    return b.fcmp_ordered("==", magnitude, _const(float("inf"), a[0]))


# reductions --------------------------------------------------------------------------

def reduce_identity(kind: str, dtype: str) -> ir.Constant:
    """The identity of combine ``kind`` in ``dtype``'s compute type."""
    t = compute_type(dtype)
    if kind in ("add", "or"):
        return ir.Constant(t, 0.0 if is_float(dtype) else 0)
    if kind in ("mul", "and"):
        return ir.Constant(t, 1.0 if is_float(dtype) else 1)
    info = np.finfo(dtype) if is_float(dtype) else np.iinfo(dtype if dtype != "bool" else "uint8")
    if is_float(dtype):
        return ir.Constant(t, float("-inf") if kind == "max" else float("inf"))
    if dtype == "bool":
        return ir.Constant(t, 0 if kind == "max" else 1)
    return ir.Constant(t, int(info.min) if kind == "max" else int(info.max))


def reduce_combine(builder: ir.IRBuilder, kind: str, acc: ir.Value, x: ir.Value, dtype: str) -> ir.Value:
    """``acc (kind) x``; float add/mul may be reassociated so the loop vectorizes."""
    if kind == "add":
        if dtype == "bool":
            return builder.or_(acc, x)
        return builder.fadd(acc, x, flags=("reassoc", "contract")) if is_float(dtype) else builder.add(acc, x)
    if kind == "mul":
        if dtype == "bool":
            return builder.and_(acc, x)
        return builder.fmul(acc, x, flags=("reassoc", "contract")) if is_float(dtype) else builder.mul(acc, x)
    if kind == "and":
        return builder.and_(convert(builder, acc, dtype, "bool"), convert(builder, x, dtype, "bool"))
    if kind == "or":
        return builder.or_(convert(builder, acc, dtype, "bool"), convert(builder, x, dtype, "bool"))
    if is_float(dtype):
        return vmath.call_intrinsic(builder, "llvm.maximum" if kind == "max" else "llvm.minimum", acc, x)
    op = ">=" if kind == "max" else "<="
    cmp = builder.icmp_unsigned if dtype == "bool" or is_unsigned(dtype) else builder.icmp_signed
    return builder.select(cmp(op, acc, x), acc, x)
