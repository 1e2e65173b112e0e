"""The register-blocked float32 GEMM (codegen/llvm/small_gemm.py) against NumPy, at both vector widths:
row and column tails, A as stored or transposed, leading dimensions wider than the matrices, alpha/beta,
an inner dimension of several chunks (beta applies once)."""

from __future__ import annotations

import ctypes
import itertools

import numpy as np
import pytest
from llvmlite import ir

from theanine.codegen.llvm.small_gemm import DEPTH_IN_CACHE, NAME, small_sgemm
from theanine.runtime.llvm.jit import NativeModule, compile_to_object

SIGNATURE = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
                             ctypes.c_bool, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
                             ctypes.c_float, ctypes.c_float)


@pytest.fixture(scope="module", params=[8, 16], ids=["8 lanes", "16 lanes"])
def kernel(request):
    module = ir.Module()
    small_sgemm(module, request.param).linkage = "external"
    native = NativeModule(compile_to_object(str(module)))
    return native, SIGNATURE(native.function_address(NAME))


SIZES = [(1, 1, 1), (7, 3, 5), (8, 16, 32), (13, 9, 33), (37, 100, 75), (64, 0, 20), (3, 130, 1),
         (10, DEPTH_IN_CACHE * 2 + 77, 40)]  # three chunks of the inner dimension


@pytest.mark.parametrize("sizes, transposed, alpha, beta", list(itertools.product(
    SIZES, (False, True), (1.0, -0.5), (0.0, 1.0, 0.25))))
def test_matches_numpy(kernel, sizes, transposed, alpha, beta):
    _, gemm = kernel
    m, k, n = sizes
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    a_stored = rng.standard_normal((k, m + 2) if transposed else (m, k + 3)).astype("float32")
    a = a_stored[:, :m].T if transposed else a_stored[:, :k]
    b = rng.standard_normal((k, n + 5)).astype("float32")
    c = rng.standard_normal((m, n + 4)).astype("float32")
    if beta == 0.0:
        c[:, :n] = np.nan  # beta 0: C is not read
    before = c.copy()
    want = alpha * (a.astype(np.float64) @ b[:, :n]) + (beta * before[:, :n] if beta else 0)
    gemm(m, n, k, a_stored.ctypes.data, a_stored.shape[1], transposed, b.ctypes.data, b.shape[1], c.ctypes.data,
         c.shape[1], alpha, beta)
    np.testing.assert_allclose(c[:, :n], want, rtol=1e-5, atol=1e-4 * max(1, k // 100))
    np.testing.assert_array_equal(c[:, n:], before[:, n:])  # columns past n untouched
