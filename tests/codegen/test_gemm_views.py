"""Matrix products read a block of a larger buffer in place (a slice of rows, one matrix of a stack):
no copy before the BLAS call, the same values as NumPy."""

import numpy as np
import pytest

import theanine as th
from theanine.codegen.llvm import scalar
from theanine.codegen.program.kernel_ir import ElementwiseKernel, GemmCall
from theanine.codegen.program.lowering import lower

R = np.random.default_rng(9)


def _steps(f):
    return lower(f.fgraph_inputs, f.optimized_outputs, scalar.supports, shape_arithmetic=True).steps


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_blocks_of_a_buffer_are_read_in_place(dtype):
    x, stack, w = th.matrix("x", dtype=dtype), th.tensor3("s", dtype=dtype), th.matrix("w", dtype=dtype)
    outputs = [x[2:5] @ w, stack[1] @ w, stack[2, 1:3].T @ x[1:3, :2], x[1:3, 1:4] @ w[:3]]
    f = th.function([x, stack, w], outputs, backend="llvm")
    steps = _steps(f)
    assert sum(isinstance(s, GemmCall) for s in steps) == 4
    assert not any(isinstance(s, ElementwiseKernel) and s.inputs and "Subtensor" in str(s.node.op) for s in steps)
    values = [R.standard_normal((6, 4)).astype(dtype), R.standard_normal((3, 4, 4)).astype(dtype),
              R.standard_normal((4, 3)).astype(dtype)]
    xv, sv, wv = values
    expected = [xv[2:5] @ wv, sv[1] @ wv, sv[2, 1:3].T @ xv[1:3, :2], xv[1:3, 1:4] @ wv[:3]]
    for got, want in zip(f(*values), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12)


def test_a_strided_slice_is_still_copied_for_blas():
    x, w = th.matrix("x", dtype="float64"), th.matrix("w", dtype="float64")
    f = th.function([x, w], x[::2] @ w, backend="llvm")
    xv, wv = R.standard_normal((6, 4)), R.standard_normal((4, 3))
    np.testing.assert_allclose(f(xv, wv), xv[::2] @ wv, rtol=1e-12)


@pytest.mark.parametrize("threads", [1, 2])
def test_blocks_split_across_threads_read_from_their_corner(threads):
    """Products large enough to split across threads: each thread's share starts at the block's corner."""
    x, stack, w = th.matrix("x", dtype="float32"), th.tensor3("s", dtype="float32"), th.matrix("w", dtype="float32")
    with th.config.context(num_threads=threads):
        f = th.function([x, stack, w], [x[10:290] @ w, stack[2, :, 3:67].T @ x[:300, :64]], backend="llvm")
    xv = R.standard_normal((300, 80)).astype("float32")
    sv = R.standard_normal((3, 300, 70)).astype("float32")
    wv = R.standard_normal((80, 96)).astype("float32")
    expected = [xv[10:290] @ wv, sv[2, :, 3:67].T @ xv[:300, :64]]
    for got, want in zip(f(xv, sv, wv), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
