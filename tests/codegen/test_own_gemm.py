"""theanine's own GEMM (codegen/llvm/own_gemm.py): the Fortran ?gemm contract, checked against NumPy."""

from __future__ import annotations

import ctypes
import itertools

import numpy as np
import pytest
from llvmlite import ir

from theanine.codegen.llvm.own_gemm import _gemm_function
from theanine.runtime.llvm.jit import NativeModule, compile_to_object


@pytest.fixture(scope="module")
def kernels():
    module = ir.Module()
    for dtype in ("float32", "float64"):
        _gemm_function(module, dtype).linkage = "external"
    native = NativeModule(compile_to_object(str(module)))
    return {dtype: (native, ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 13)(
        native.function_address(f"theanine_own_{dtype}_gemm"))) for dtype in ("float32", "float64")}


CASES = list(itertools.product(("float32", "float64"), "NT", "NT", (0.0, 0.5, 1.0), ((7, 5, 11), (3, 4, 0), (1, 9, 8))))


@pytest.mark.parametrize("dtype, trans_a, trans_b, beta, sizes", CASES)
def test_matches_numpy(kernels, dtype, trans_a, trans_b, beta, sizes):
    m, n, k = sizes
    rng = np.random.default_rng(m * 100 + n * 10 + k)
    a = np.asfortranarray(rng.standard_normal((m, k) if trans_a == "N" else (k, m)).astype(dtype))
    b = np.asfortranarray(rng.standard_normal((k, n) if trans_b == "N" else (n, k)).astype(dtype))
    c = np.asfortranarray(rng.standard_normal((m, n)).astype(dtype))
    if beta == 0.0:
        c[:] = np.nan  # beta 0: C is not read
    want = 2.0 * (a if trans_a == "N" else a.T) @ (b if trans_b == "N" else b.T) + (beta * c if beta else 0)
    scalar = ctypes.c_float if dtype == "float32" else ctypes.c_double

    def i32(v):
        return ctypes.byref(ctypes.c_int32(v))

    _, gemm = kernels[dtype]
    gemm(ctypes.c_char_p(trans_a.encode()), ctypes.c_char_p(trans_b.encode()), i32(m), i32(n), i32(k),
         ctypes.byref(scalar(2.0)), a.ctypes.data, i32(max(a.shape[0], 1)), b.ctypes.data, i32(max(b.shape[0], 1)),
         ctypes.byref(scalar(beta)), c.ctypes.data, i32(max(m, 1)))
    tolerance = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(c, want, rtol=tolerance, atol=tolerance)
