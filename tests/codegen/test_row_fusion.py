"""Row fusion (codegen/program/row_fusion.py): runs of row-local kernels become one FusedRows step
that the LLVM printer runs block of rows by block of rows; values equal NumPy's for every block
split, and a step that reads another row of what the run wrote stays out."""

import numpy as np
import pytest

import theanine as th
from theanine.codegen.llvm import scalar
from theanine.codegen.llvm.printer import ROW_BLOCK_ELEMENTS
from theanine.codegen.program.kernel_ir import FusedRows, ReduceKernel, step_inputs, step_writes
from theanine.codegen.program.lowering import lower
from theanine.codegen.program.row_fusion import fuse_rows
from theanine.graph.ops.nnet_fused import CrossentropySoftmax

R = np.random.default_rng(11)
TOL = {"float32": 2e-6, "float64": 1e-13}


def _fused(f) -> list[FusedRows]:
    program = fuse_rows(lower(f.fgraph_inputs, f.optimized_outputs, scalar.supports, shape_arithmetic=True))
    return [s for s in program.steps if isinstance(s, FusedRows)]


def _softmax(v, axis=-1):
    e = np.exp(v - v.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_softmax_is_one_fused_run_of_its_four_steps():
    x = th.matrix("x", dtype="float32")
    (run,) = _fused(th.function([x], th.softmax(x, axis=1), backend="llvm"))
    assert len(run.body) == 4  # row max, exponentials, row sums, scaling


# (rows, columns): one row; many rows per block with a partial last block; rows longer than a block
SHAPES = [(1, 7), (1000, 33), (3, ROW_BLOCK_ELEMENTS + 5), (0, 4)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", SHAPES, ids=[str(s) for s in SHAPES])
def test_row_chains_equal_numpy(shape, threads, dtype):
    x = th.matrix("x", dtype=dtype)
    mean = x.mean(axis=1, keepdims=True)
    centered = x - mean
    normalized = centered / th.sqrt((centered * centered).mean(axis=1, keepdims=True) + 1e-5)
    with th.config.context(num_threads=threads):
        f = th.function([x], [th.softmax(x, axis=1), th.log_softmax(x, axis=1), normalized], backend="llvm")
    value = R.standard_normal(shape).astype(dtype)
    soft, log_soft, norm = f(value)
    wide = value.astype(np.float64)
    np.testing.assert_allclose(soft, _softmax(wide), rtol=TOL[dtype], atol=TOL[dtype])
    np.testing.assert_allclose(log_soft, np.log(_softmax(wide)), rtol=TOL[dtype] * 10, atol=TOL[dtype] * 10)
    centered_value = wide - wide.mean(axis=1, keepdims=True)
    expected = centered_value / np.sqrt((centered_value**2).mean(axis=1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(norm, expected, rtol=TOL[dtype] * 10, atol=TOL[dtype] * 10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sparse", [True, False])
def test_a_crossentropy_gradient_reads_its_forwards_row_maxima_and_sums(sparse, dtype):
    """The forward's row max, sum of exponentials and its log are computed once: the gradient is one
    elementwise kernel reading them (no second pass of exponentials over the logits).  A sparse
    loss reads each row's logit at its label, where a dense one sums over the classes."""
    x = th.matrix("x", dtype=dtype)
    target = th.vector("t", dtype="int64") if sparse else th.matrix("t", dtype=dtype)
    if sparse:
        loss = th.sparse_categorical_crossentropy(target, x, from_logits=True).mean()
    else:
        loss = th.categorical_crossentropy(target, x, from_logits=True).mean()
    f = th.function([x, target], [loss, th.grad(loss, x)], backend="llvm")
    program = lower(f.fgraph_inputs, f.optimized_outputs, scalar.supports, shape_arithmetic=True)
    exps = [s for s in program.steps if isinstance(s, ReduceKernel) and "exp" in repr(s.expr)]
    assert len(exps) == 1
    over_classes = [s for s in program.steps if isinstance(s, ReduceKernel) and s.axes == (1,)]
    assert len(over_classes) == (2 if sparse else 4)  # sparse: the loss reads the logit at the label
    logits = R.standard_normal((37, 11)).astype(dtype)
    labels = R.integers(0, 11, 37)
    if sparse:
        labels[[3, 8]] = [11, -1]  # outside the classes: no weight, a zero loss and gradient
    dense = np.eye(11, dtype=dtype)[labels % 11] * 0.7 + 0.3 / 11
    got_loss, got_grad = f(logits, labels if sparse else dense)
    p = _softmax(logits.astype(np.float64))
    weights = (np.arange(11) == labels[:, None]).astype(np.float64) if sparse else dense.astype(np.float64)
    np.testing.assert_allclose(got_loss, -(weights * np.log(p)).sum(axis=1).mean(), rtol=TOL[dtype] * 10)
    expected = (p * weights.sum(axis=1, keepdims=True) - weights) / 37
    np.testing.assert_allclose(got_grad, expected, rtol=TOL[dtype] * 10, atol=TOL[dtype])


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_a_sparse_crossentropy_over_any_axis_reads_the_logit_at_each_label(axis, dtype):
    """The gathered loss and its gradient over every axis of 3-d logits, labels outside the classes
    included (negative and past the last): the numpy backend's values, signs of zeros too."""
    shape = (4, 5, 6)
    x = th.tensor3("x", dtype=dtype)
    labels = th.tensor("y", "int64", (None, None))
    loss = CrossentropySoftmax(axis, True)(x, labels)
    outputs = [loss, th.grad(loss.sum(), x)]
    f = th.function([x, labels], outputs, backend="llvm")
    reference = th.function([x, labels], outputs, backend="numpy")
    logits = R.standard_normal(shape).astype(dtype)
    picks = R.integers(-1, shape[axis] + 1, [n for a, n in enumerate(shape) if a != axis])
    tol = 2e-3 if dtype == "float16" else TOL[dtype] * 10
    for got, expected in zip(f(logits, picks), reference(logits, picks), strict=True):
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    got_loss, expected_loss = f(logits, picks)[0], reference(logits, picks)[0]
    zeros = (got_loss == 0) & (expected_loss == 0)
    np.testing.assert_array_equal(np.signbit(got_loss[zeros]), np.signbit(expected_loss[zeros]))


def test_softmax_over_the_last_axis_of_a_3d_tensor():
    t = th.tensor3("t", dtype="float32")
    f = th.function([t], th.softmax(t, axis=-1), backend="llvm")
    value = R.standard_normal((4, 6, 300)).astype("float32")
    np.testing.assert_allclose(f(value), _softmax(value.astype(np.float64)), rtol=2e-6, atol=2e-6)


def test_a_step_reading_another_row_of_what_the_run_wrote_stays_out():
    x = th.matrix("x", dtype="float32")
    sums = th.exp(x).sum(axis=1, keepdims=True)
    f = th.function([x], th.exp(x) / sums[::-1], backend="llvm")
    runs = _fused(f)
    assert runs, "the exponentials and their row sums should still run fused"
    for run in runs:
        written = {b for step in run.body for b in step_writes(step)}
        for step in run.body:
            for access in step_inputs(step):
                if access.buffer in written and access.axes and access.axes[0] == 0:
                    assert access.step(0) == 1 and access.start(0) == 0, "a reversed read joined the run"
    value = R.standard_normal((50, 40)).astype("float32")
    e = np.exp(value.astype(np.float64))
    np.testing.assert_allclose(f(value), e / e.sum(axis=1, keepdims=True)[::-1], rtol=2e-6)


def test_a_failed_check_inside_a_run_reports_the_node_that_refuses_its_values():
    x, y = th.matrix("x", dtype="float32"), th.matrix("y", dtype="float32")
    f = th.function([x, y], th.softmax(x, axis=1) * y, backend="llvm")
    assert _fused(f)
    with pytest.raises(ValueError, match=r"multiply: input shapes \(3, 4\) and \(3, 5\) do not match"):
        f(np.ones((3, 4), "float32"), np.ones((3, 5), "float32"))
