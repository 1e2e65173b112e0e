"""LLVM types for theanine dtypes: how values sit in memory and in registers.

bool is a byte in memory and an ``i1`` in registers; float16 is ``half`` in
memory and computed in float32, each result rounded to half precision (as
NumPy's float16 loops do: ``round_to_half``); every other dtype is itself in
both places.  Unsigned integers share the signless LLVM
integer types; signedness is carried by the dtype name.
"""

from __future__ import annotations

from llvmlite import ir

from theanine.graph.type import is_float

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
F16 = ir.HalfType()
F32 = ir.FloatType()
F64 = ir.DoubleType()
I8P = I8.as_pointer()

_MEMORY = {
    "bool": I8, "int8": I8, "int16": ir.IntType(16), "int32": I32, "int64": I64,
    "uint8": I8, "uint16": ir.IntType(16), "uint32": I32, "uint64": I64,
    "float16": F16, "float32": F32, "float64": F64,
}


def memory_type(dtype: str) -> ir.Type:
    return _MEMORY[dtype]


def compute_type(dtype: str) -> ir.Type:
    if dtype == "bool":
        return I1
    if dtype == "float16":
        return F32
    return _MEMORY[dtype]


def is_unsigned(dtype: str) -> bool:
    return dtype.startswith("uint")


def load_value(builder: ir.IRBuilder, pointer: ir.Value, dtype: str, metadata: dict | None = None) -> ir.Value:
    """Load an element and widen it to its compute type; ``metadata`` goes on the load."""
    value = builder.load(pointer)
    for kind, node in (metadata or {}).items():
        value.set_metadata(kind, node)
    if dtype == "bool":
        return builder.icmp_unsigned("!=", value, ir.Constant(I8, 0))
    if dtype == "float16":
        return builder.fpext(value, F32)
    return value


def store_value(builder: ir.IRBuilder, value: ir.Value, pointer: ir.Value, dtype: str,
                metadata: dict | None = None) -> None:
    """Narrow a computed value to its memory type and store it; ``metadata`` goes on the store."""
    if dtype == "bool":
        value = builder.zext(value, I8)
    elif dtype == "float16":
        value = builder.fptrunc(value, F16)
    store = builder.store(value, pointer)
    for kind, node in (metadata or {}).items():
        store.set_metadata(kind, node)


def round_to_half(builder: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """A float32 value rounded to the nearest float16, still in float32 (its compute type)."""
    return builder.fpext(builder.fptrunc(value, F16), F32)


def _float32_round_to_odd(builder: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """float64 -> float32 rounding to odd: an inexact result takes the neighbour with an odd last bit.

    Rounding that to float16 then equals rounding the float64 directly
    (float32 keeps more than 11 + 2 bits), which LLVM would otherwise do
    with a library call; rounding to nearest twice could land on a tie.
    """
    nearest = builder.fptrunc(value, F32)
    back = builder.fpext(nearest, F64)
    bits = builder.bitcast(nearest, I32)
    inexact = builder.fcmp_ordered("!=", back, value)
    even = builder.icmp_unsigned("==", builder.and_(bits, ir.Constant(I32, 1)), ir.Constant(I32, 0))
    negative = builder.fcmp_ordered("<", value, ir.Constant(F64, 0.0))
    away = builder.select(negative, builder.fcmp_ordered("<", value, back), builder.fcmp_ordered(">", value, back))
    step = builder.select(away, ir.Constant(I32, 1), ir.Constant(I32, -1))
    odd = builder.select(builder.and_(inexact, even), builder.add(bits, step), bits)
    return builder.bitcast(odd, F32)


def convert(builder: ir.IRBuilder, value: ir.Value, src: str, dst: str) -> ir.Value:
    """NumPy's astype between compute types (float -> int truncates toward zero; -> float16 rounds)."""
    if src == dst:
        return value
    if dst == "float16" and src != "bool":
        if src == "float64":
            return round_to_half(builder, _float32_round_to_odd(builder, value))
        return round_to_half(builder, convert(builder, value, src, "float32"))
    target = compute_type(dst)
    if dst == "bool":
        if is_float(src):
            return builder.fcmp_unordered("!=", value, ir.Constant(value.type, 0.0))
        return builder.icmp_unsigned("!=", value, ir.Constant(value.type, 0))
    if src == "bool":
        return builder.uitofp(value, target) if is_float(dst) else builder.zext(value, target)
    if is_float(src) and is_float(dst):
        if value.type == target:
            return value
        return builder.fpext(value, target) if _width(value.type) < _width(target) else builder.fptrunc(value, target)
    if is_float(src):
        return _float_to_integer(builder, value, dst, target)
    if is_float(dst):
        return builder.uitofp(value, target) if is_unsigned(src) else builder.sitofp(value, target)
    if value.type.width == target.width:
        return value
    if value.type.width > target.width:
        return builder.trunc(value, target)
    return builder.zext(value, target) if is_unsigned(src) else builder.sext(value, target)


def _float_to_integer(builder: ir.IRBuilder, value: ir.Value, dst: str, target: ir.Type) -> ir.Value:
    """theanine's float -> integer rule (``graph.ops.math.float_to_integer``), branch-free.

    LLVM's fptosi/fptoui give poison outside the target's range, which the
    optimizer may resolve differently in every kernel; here no conversion
    ever sees a value it cannot represent.
    """
    bits = 64 if dst in ("int64", "uint64") else 32
    wide = ir.IntType(bits)
    zero = ir.Constant(value.type, 0.0)
    low, high = ir.Constant(value.type, -(2.0 ** (bits - 1))), ir.Constant(value.type, 2.0 ** (bits - 1))
    most_negative = ir.Constant(wide, -(2 ** (bits - 1)))
    inside = builder.and_(builder.fcmp_ordered(">=", value, low), builder.fcmp_ordered("<", value, high))
    result = builder.select(inside, builder.fptosi(builder.select(inside, value, zero), wide), most_negative)
    if dst in ("uint32", "uint64"):
        top = ir.Constant(value.type, 2.0 ** bits)
        upper = builder.and_(builder.fcmp_ordered(">=", value, high), builder.fcmp_ordered("<", value, top))
        shifted = builder.fsub(builder.select(upper, value, high), high)
        upper_value = builder.add(builder.fptosi(shifted, wide), most_negative)
        beyond = builder.fcmp_ordered(">=", value, top)
        result = builder.select(upper, upper_value, builder.select(beyond, ir.Constant(wide, 0), result))
    return builder.trunc(result, target) if target.width < bits else result


def _width(t: ir.Type) -> int:
    return {F32: 32, F64: 64}.get(t, 16)
