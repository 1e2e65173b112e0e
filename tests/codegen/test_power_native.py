"""Integer ``power`` under the llvm backend: NumPy's wrapping results and its negative-exponent error.

Exponents that cannot be negative (unsigned, bool) compile natively; the
scalar emitter is also run directly on signed exponents, where it must
return NumPy's values and flag exactly the negative exponents (the
condition a printer reports as the step's failure).  A negative exponent
raises NumPy's ValueError, naming the node's source line.
"""

import ctypes

import numpy as np
import pytest
from llvmlite import ir

import theanine as th
from theanine.codegen.llvm import scalar as llvm_scalar
from theanine.codegen.llvm.ir_types import I8, I64, load_value, memory_type, store_value
from theanine.codegen.llvm.loops import for_range
from theanine.runtime.llvm.jit import NativeModule, compile_to_object

NATIVE = "backend llvm: 0 Python fallback(s)"


def edge_values(dtype: str) -> np.ndarray:
    """Zero, one, small bases of both signs, and the extremes (so that powers overflow)."""
    if dtype == "bool":
        return np.array([False, True])
    info = np.iinfo(dtype)
    values = [0, 1, 2, 3, 7, 255, info.max, info.max - 1, info.min]
    if info.min < 0:
        values += [-1, -2, -3, info.min + 1]
    return np.array(sorted({v for v in values if info.min <= v <= info.max}), dtype=dtype)


def exponents(dtype: str) -> np.ndarray:
    """0 .. 70, and large exponents (even and odd) where the dtype holds them."""
    if dtype == "bool":
        return np.array([False, True])
    info = np.iinfo(dtype)
    values = [v for v in range(71) if v <= info.max] + [info.max, info.max - 1]
    return np.array(values, dtype=dtype)


PAIRS = [("int8", "bool"), ("bool", "bool"), ("uint8", "uint8"), ("int16", "uint8"), ("uint16", "uint16"),
         ("int32", "uint16"), ("uint32", "uint32"), ("int64", "uint32"), ("uint64", "uint64"),
         ("uint8", "bool")]


@pytest.mark.parametrize("base_dtype, exponent_dtype", PAIRS, ids=[f"{a}**{b}" for a, b in PAIRS])
def test_unsigned_exponents_compile_natively_and_wrap_like_numpy(base_dtype, exponent_dtype):
    x, y = th.tensor("x", base_dtype, (None, 1)), th.tensor("y", exponent_dtype, (1, None))
    f = th.function([x, y], th.power(x, y), backend="llvm")
    assert NATIVE in f.explain()
    bases, powers = edge_values(base_dtype)[:, None], exponents(exponent_dtype)[None, :]
    got, expected = f(bases, powers), np.power(bases, powers)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


SIGNED = ["int8", "int16", "int32", "int64"]


@pytest.mark.parametrize("dtype", SIGNED)
def test_signed_exponents_match_numpy(dtype):
    x, y = th.tensor("x", dtype, (None, 1)), th.tensor("y", dtype, (1, None))
    f = th.function([x, y], x**y, backend="llvm")
    assert NATIVE in f.explain()
    bases, powers = edge_values(dtype)[:, None], exponents(dtype)[None, :]
    np.testing.assert_array_equal(f(bases, powers), np.power(bases, powers))


def test_negative_integer_exponent_raises_numpys_error_at_the_source_line():
    x, y = th.tensor("x", "int64", (None,)), th.tensor("y", "int64", (None,))
    f = th.function([x, y], th.power(x, y) + 1, backend="llvm")
    with pytest.raises(ValueError, match=r"Integers to negative integer powers are not allowed\..*"
                                         r"created at .*test_power_native\.py:\d+"):
        f(np.array([2, 3, 4]), np.array([1, -1, 2]))
    np.testing.assert_array_equal(f(np.array([2, -3]), np.array([3, 3])), [9, -26])


def _compiled_power(dtype: str):
    """A native ``f(x, y, out, failed, n)`` applying the ``power`` emitter elementwise."""
    module = ir.Module(name=f"power_{dtype}")
    element = memory_type(dtype).as_pointer()
    signature = ir.FunctionType(ir.VoidType(), [element, element, element, I8.as_pointer(), I64])
    function = ir.Function(module, signature, "power")
    x, y, out, failed, n = function.args
    b = ir.IRBuilder(function.append_basic_block("entry"))
    with for_range(b, n) as i:
        base, exponent = (load_value(b, b.gep(p, [i]), dtype) for p in (x, y))
        value, failure = llvm_scalar.emit_checked(b, "power", [base, exponent], [dtype, dtype], dtype)
        store_value(b, value, b.gep(out, [i]), dtype)
        store_value(b, failure, b.gep(failed, [i]), "bool")
    b.ret_void()
    native = NativeModule(compile_to_object(str(module)))
    return native, ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 4, ctypes.c_int64)(native.function_address("power"))


@pytest.mark.parametrize("dtype", SIGNED)
def test_power_emitter_flags_exactly_the_negative_exponents(dtype):
    native, power = _compiled_power(dtype)
    bases, powers = np.broadcast_arrays(edge_values(dtype)[:, None], np.concatenate(
        [exponents(dtype), np.array([-1, -2, np.iinfo(dtype).min], dtype=dtype)])[None, :])
    bases, powers = bases.ravel().copy(), powers.ravel().copy()
    out, failed = np.empty_like(bases), np.ones(bases.shape, dtype="bool")
    power(bases.ctypes.data, powers.ctypes.data, out.ctypes.data, failed.ctypes.data, bases.size)
    np.testing.assert_array_equal(failed, powers < 0)
    valid = powers >= 0
    np.testing.assert_array_equal(out[valid], np.power(bases[valid], powers[valid]))


def test_every_integer_power_compiles_natively():
    assert llvm_scalar.supports("power", ("int32", "int32"), "int32")
    assert llvm_scalar.supports("power", ("int32", "uint16"), "int32")
    assert llvm_scalar.supports("power", ("float32", "float32"), "float32")
