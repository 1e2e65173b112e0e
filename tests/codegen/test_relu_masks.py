"""ReLU gradients read the ReLU's output (codegen/program/relu_masks.py): a layer keeps one array, and
every gradient equals the numpy backend's, zeros, negative zeros and NaN in the pre-activation included."""

import numpy as np
import pytest

import theanine as th
from theanine.codegen.llvm import scalar as llvm_scalar
from theanine.codegen.program.epilogues import absorb_epilogues
from theanine.codegen.program.kernel_ir import GemmCall
from theanine.codegen.program.lowering import lower
from theanine.codegen.program.relu_masks import read_relu_outputs

RNG = np.random.default_rng(5)


def _epilogue_outputs(f):
    program = lower(f.fgraph_inputs, f.optimized_outputs, llvm_scalar.supports, shape_arithmetic=True)
    program, _ = absorb_epilogues(read_relu_outputs(program))
    return [s.epilogue.outputs for s in program.steps if isinstance(s, GemmCall) and s.epilogue is not None]


def _dense(extra_use: bool):
    x = th.tensor("x", "float32", (None, 4))
    w, b = th.tensor("w", "float32", (4, 3)), th.tensor("b", "float32", (3,))
    v = th.tensor("v", "float32", (3, 2))
    pre = x @ w + b
    loss = ((th.relu(pre) @ v) ** 2).sum()
    if extra_use:
        loss = loss + (pre * pre).sum()  # the pre-activation is read as a value: kept
    return [x, w, b, v], th.grad(loss, [x, w, b, v])


@pytest.mark.parametrize("extra_use", [False, True])
def test_dense_relu_gradient_reads_the_activation(extra_use):
    inputs, grads = _dense(extra_use)
    f = th.function(inputs, grads)
    first = _epilogue_outputs(f)[0]
    assert len(first) == (2 if extra_use else 1)
    reference = th.function(inputs, grads, backend="numpy")
    xv = RNG.standard_normal((7, 4)).astype("float32")
    wv = RNG.standard_normal((4, 3)).astype("float32")
    values = [xv, wv, np.array([0.0, -0.0, np.nan], "float32"), RNG.standard_normal((3, 2)).astype("float32")]
    values[0][:, 0] = 0.0  # with a zero weight row below, pre-activations of exactly 0 and -0
    values[1][0] = 0.0
    for got, expected in zip(f(*values), reference(*values), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, equal_nan=True)


def test_conv_relu_keeps_one_array():
    x = th.tensor("x", "float32", (None, 6, 6, 2))
    k, b = th.tensor("k", "float32", (3, 3, 2, 3)), th.tensor("b", "float32", (3,))
    loss = (th.relu(th.conv(x, k, padding="same") + b) ** 2).sum()
    f = th.function([x, k, b], th.grad(loss, [x, k, b]))
    assert _epilogue_outputs(f) == [_epilogue_outputs(f)[0]] and len(_epilogue_outputs(f)[0]) == 1
    reference = th.function([x, k, b], th.grad(loss, [x, k, b]), backend="numpy")
    values = [RNG.standard_normal((2, 6, 6, 2)).astype("float32"), RNG.standard_normal((3, 3, 2, 3)).astype("float32"),
              np.array([0.5, -0.5, 0.0], "float32")]
    for got, expected in zip(f(*values), reference(*values), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
