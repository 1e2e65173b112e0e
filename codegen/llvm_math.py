"""Math functions for the LLVM printer.

``emit(builder, name, args, dtype)`` returns ``name(*args)`` in ``dtype``'s
compute type.  Today every function is a call of the C math library (or an
LLVM intrinsic that lowers to one); the table is the single place where
vectorizable polynomial implementations replace them.
"""

from __future__ import annotations

from llvmlite import ir

from theanine.codegen.llvm_types import F32

UNARY_FUNCTIONS = (
    "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "sin", "cos", "tan",
    "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh",
    "sigmoid", "softplus", "erf", "erfc",
)

_INTRINSICS = {
    "exp": "llvm.exp", "exp2": "llvm.exp2", "log": "llvm.log", "log2": "llvm.log2",
    "log10": "llvm.log10", "sqrt": "llvm.sqrt", "sin": "llvm.sin", "cos": "llvm.cos", "pow": "llvm.pow",
}
_LIBM = {
    "expm1": "expm1", "log1p": "log1p", "tan": "tan", "arcsin": "asin", "arccos": "acos",
    "arctan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "arcsinh": "asinh",
    "arccosh": "acosh", "arctanh": "atanh", "erf": "erf", "erfc": "erfc", "arctan2": "atan2",
}


def call_intrinsic(builder: ir.IRBuilder, name: str, *args: ir.Value) -> ir.Value:
    """Call the LLVM intrinsic ``name`` overloaded on the first argument's type."""
    signature = ir.FunctionType(args[0].type, [a.type for a in args])
    fn = builder.module.declare_intrinsic(name, [args[0].type], signature)
    return builder.call(fn, list(args))


def _call_libm(builder: ir.IRBuilder, base: str, args: list[ir.Value]) -> ir.Value:
    t = args[0].type
    symbol = base + ("f" if t == F32 else "")
    module = builder.module
    fn = module.globals.get(symbol)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(t, [t] * len(args)), symbol)
    return builder.call(fn, args)


def emit(builder: ir.IRBuilder, name: str, args: list[ir.Value], dtype: str) -> ir.Value:
    """``name(*args)`` for float compute values (float32 or float64)."""
    if name == "sigmoid":
        x = args[0]
        one = ir.Constant(x.type, 1.0)
        return builder.fdiv(one, builder.fadd(one, emit(builder, "exp", [builder.fneg(x)], dtype)))
    if name == "softplus":
        x = args[0]
        zero = ir.Constant(x.type, 0.0)
        positive = builder.select(builder.fcmp_ordered(">", x, zero), x, zero)
        tail = emit(builder, "log1p", [emit(builder, "exp", [builder.fneg(call_intrinsic(builder, "llvm.fabs", x))],
                                            dtype)], dtype)
        result = builder.fadd(positive, tail)
        return builder.select(builder.fcmp_unordered("uno", x, x), x, result)
    if name in _INTRINSICS:
        return call_intrinsic(builder, _INTRINSICS[name], *args)
    if name in _LIBM:
        return _call_libm(builder, _LIBM[name], args)
    raise KeyError(f"no LLVM implementation of math function {name!r}")


