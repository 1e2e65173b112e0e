"""The BLAS's per-thread count is set around BLAS calls only (codegen/llvm/gemm.py): a product the
register-blocked kernel computes never calls into the BLAS, so it never restarts a thread pool that
a fork (the compile children) stopped."""

import ctypes

import numpy as np
import pytest

import theanine as th
from theanine.codegen.llvm.gemm import BLAS_GLOBALS
from theanine.runtime.llvm import jit

SETTER = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int32)


@pytest.fixture
def recorded_counts(monkeypatch):
    """The counts the compiled code gives the BLAS's per-thread setter (a recording stand-in that
    answers 7 as the previous count)."""
    calls: list[int] = []
    setter = SETTER(lambda count: calls.append(count) or 7)
    real = jit.blas_addresses
    monkeypatch.setattr(jit, "blas_addresses", lambda library="numpy": {
        **real(library), BLAS_GLOBALS["threads_local"]: ctypes.cast(setter, ctypes.c_void_p).value})
    with th.config.context(num_threads=1, use_cache=False):  # compiled here, so bound to the stand-in
        yield calls


def test_a_product_on_the_kernel_never_calls_the_blas(recorded_counts):
    a, b = th.matrix("a", dtype="float32"), th.matrix("b", dtype="float32")
    f = th.function([a, b], a @ b)
    rng = np.random.default_rng(0)
    av, bv = rng.standard_normal((40, 24)).astype("float32"), rng.standard_normal((24, 36)).astype("float32")
    np.testing.assert_allclose(f(av, bv), av @ bv, rtol=1e-5, atol=1e-5)
    assert recorded_counts == []


def test_a_blas_product_runs_single_threaded_and_restores_the_count(recorded_counts):
    a, b = th.matrix("a", dtype="float32"), th.matrix("b", dtype="float32")
    f = th.function([a, b], a @ b.T)  # B transposed: OpenBLAS
    rng = np.random.default_rng(1)
    av, bv = rng.standard_normal((40, 24)).astype("float32"), rng.standard_normal((36, 24)).astype("float32")
    np.testing.assert_allclose(f(av, bv), av @ bv.T, rtol=1e-5, atol=1e-5)
    assert recorded_counts == [1, 7]
