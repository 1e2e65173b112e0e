"""Batched products (operands of rank > 2) are BLAS calls per matrix, with NumPy's broadcasting."""

import numpy as np
import pytest

import theanine as th
from theanine.codegen.llvm import scalar as llvm_scalar
from theanine.codegen.program.kernel_ir import GemmCall, ReduceKernel
from theanine.codegen.program.lowering import lower

RNG = np.random.default_rng(21)

CASES = [
    ((3, 4, 5), (3, 5, 6)),
    ((2, 3, 4, 5), (5, 6)),
    ((4, 5), (2, 5, 3)),
    ((1, 4, 5), (3, 5, 2)),
    ((2, 1, 4, 5), (3, 5, 2)),
    ((0, 4, 5), (0, 5, 2)),
    ((3, 4, 0), (3, 0, 2)),
]


def _variable(name, shape, dtype):
    return th.tensor(name, dtype, tuple(1 if d == 1 else None for d in shape))


def _steps(f):
    program = lower(f.fgraph_inputs, f.optimized_outputs, llvm_scalar.supports, shape_arithmetic=True)
    return program.steps


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("a_shape, b_shape", CASES, ids=[f"{a}@{b}" for a, b in CASES])
def test_batched_products_are_blas_calls_equal_to_numpy(a_shape, b_shape, dtype):
    a, b = _variable("a", a_shape, dtype), _variable("b", b_shape, dtype)
    f = th.function([a, b], a @ b, backend="llvm")
    steps = _steps(f)
    assert any(isinstance(s, GemmCall) for s in steps) and not any(isinstance(s, ReduceKernel) for s in steps)
    av, bv = RNG.standard_normal(a_shape).astype(dtype), RNG.standard_normal(b_shape).astype(dtype)
    result = f(av, bv)
    expected = av @ bv
    assert result.shape == expected.shape and result.dtype == expected.dtype
    np.testing.assert_allclose(result, expected, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-5)


@pytest.mark.parametrize("threads", [1, 2])
def test_transposed_and_permuted_operands_on_threads(threads):
    a, b = th.tensor3("a", dtype="float64"), th.tensor3("b", dtype="float64")
    av, bv = RNG.standard_normal((40, 16, 24)), RNG.standard_normal((16, 40, 24))
    with th.config.context(num_threads=threads):
        f = th.function([a, b], [a.transpose(1, 0, 2) @ b.transpose(0, 2, 1), a @ a.transpose(0, 2, 1)],
                        backend="llvm")
        first, second = f(av, bv)
    assert sum(isinstance(s, GemmCall) for s in _steps(f)) == 2
    np.testing.assert_allclose(first, av.transpose(1, 0, 2) @ bv.transpose(0, 2, 1), rtol=1e-12)
    np.testing.assert_allclose(second, av @ av.transpose(0, 2, 1), rtol=1e-12)


def test_mismatched_batch_dimensions_raise_numpy_error():
    a, b = th.tensor3("a", dtype="float32"), th.tensor3("b", dtype="float32")
    f = th.function([a, b], a @ b, backend="llvm")
    with pytest.raises(ValueError, match="batch dimension 0 differs") as error:
        f(np.ones((3, 2, 2), "float32"), np.ones((4, 2, 2), "float32"))
    assert "test_batched_gemm.py" in str(error.value)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("m, n, k", [(16, 5000, 16), (5000, 16, 16), (1, 70000, 4), (70000, 1, 4), (300, 300, 0)])
@pytest.mark.parametrize("transposed", [(False, False), (True, False), (False, True), (True, True)])
def test_products_split_across_threads_by_rows_or_columns(threads, m, n, k, transposed):
    """Threads split the larger side of C (rows or columns); transposed operands, a scaled addend
    and an empty inner dimension (the product is zeros) come out as NumPy computes them."""
    from theanine.graph.ops.blas import gemm

    a_value = RNG.standard_normal((k, m) if transposed[0] else (m, k))
    b_value = RNG.standard_normal((n, k) if transposed[1] else (k, n))
    c_value = RNG.standard_normal((m, n))
    a, b, c = th.matrix("a", dtype="float64"), th.matrix("b", dtype="float64"), th.matrix("c", dtype="float64")
    left, right = (a.T if transposed[0] else a), (b.T if transposed[1] else b)
    with th.config.context(num_threads=threads):
        f = th.function([a, b, c], [left @ right, gemm(c, left, right, alpha=0.5, beta=2.0)], backend="llvm")
        product, scaled = f(a_value, b_value, c_value)
    left_value = a_value.T if transposed[0] else a_value
    right_value = b_value.T if transposed[1] else b_value
    np.testing.assert_allclose(product, left_value @ right_value, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(scaled, 0.5 * left_value @ right_value + 2.0 * c_value, rtol=1e-12, atol=1e-12)
