"""The optimized training graph of a 784-512-512-10 ReLU MLP (issue 4's bar).

Between two consecutive GEMMs (MatMul, Gemm or Gemv nodes, forward and
backward) there is at most one elementwise kernel, and no softmax, log or
crossentropy pieces are left: the loss is one ``CrossentropySoftmax`` node and
its gradient one ``CrossentropySoftmaxDx`` node.  Checked for the loss written
on the softmax's probabilities (Keras' clipping included) and from logits.
"""

import importlib.util
import pathlib

import numpy as np
import pytest

import theanine as th
from theanine.graph.basic import apply_nodes
from theanine.graph.ops.blas import Gemm, Gemv
from theanine.graph.ops.composite import Composite
from theanine.graph.ops.elemwise import Elemwise
from theanine.graph.ops.linalg import MatMul
from theanine.graph.ops.nnet import ClassMask, LogSoftmax, Softmax
from theanine.graph.ops.nnet_fused import CrossentropySoftmax, CrossentropySoftmaxDx
from theanine.graph.ops.shape import Shape, ShapeI
from theanine.graph.rewriting import optimize

_BENCH = pathlib.Path(__file__).parents[2] / "benchmarks" / "bench_rewriting.py"
GEMMS = (MatMul, Gemm, Gemv)
LOSS_PIECES = {"log", "exp", "clip", "log1p", "softplus"}


def _mlp_training_graph(sizes, from_logits):
    spec = importlib.util.spec_from_file_location("bench_rewriting", _BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.mlp_training_graph(sizes, from_logits=from_logits)


def _scalar_op_names(op) -> set[str]:
    """Names of the scalar ops an Elemwise applies (those inside a Composite included)."""
    scalar = op.scalar_op
    if isinstance(scalar, Composite):
        return {n.op.scalar_op.name for n in scalar.nodes}
    return {scalar.name}


def _data_inputs(node, index: int) -> list:
    """The inputs whose values output ``index`` is computed from: shapes read by ShapeI and by
    ``second``'s first argument do not count, and a Composite output reads only the inputs its
    inner graph connects it to."""
    if isinstance(node.op, (Shape, ShapeI)):
        return []
    if not isinstance(node.op, Elemwise):
        return list(node.inputs)
    scalar = node.op.scalar_op
    if not isinstance(scalar, Composite):
        return [node.inputs[1]] if scalar.name == "second" else list(node.inputs)
    reads = {id(v): [i] for i, v in enumerate(scalar.inputs)}
    for inner in scalar.nodes:
        args = inner.inputs[1:] if inner.op.scalar_op.name == "second" else inner.inputs
        found = sorted({i for v in args for i in reads.get(id(v), [])})
        reads.update({id(out): found for out in inner.outputs})
    return [node.inputs[i] for i in reads.get(id(scalar.outputs[index]), [])]


def _elemwise_kernels_since_a_gemm(nodes) -> dict:
    """For each variable: the most elementwise kernels on any data path from a GEMM's output
    to it (no GEMM in between), or None when no GEMM feeds it."""
    count = {}
    for node in nodes:
        for index, out in enumerate(node.outputs):
            found = [count.get(id(v)) for v in _data_inputs(node, index)]
            found = [c for c in found if c is not None]
            here = 0 if isinstance(node.op, GEMMS) else None
            if here is None and found:
                here = max(found) + isinstance(node.op, Elemwise)
            count[id(out)] = here
    return count


@pytest.mark.parametrize("from_logits", [False, True], ids=["probabilities", "from_logits"])
def test_at_most_one_elementwise_kernel_between_gemms_and_no_loss_pieces(from_logits):
    inputs, outputs = _mlp_training_graph((784, 512, 512, 10), from_logits)
    optimized, _ = optimize(inputs, outputs, "fast_run")
    nodes = apply_nodes(optimized)
    text = th.debugprint(optimized, file="str")
    kernels = _elemwise_kernels_since_a_gemm(nodes)
    for node in nodes:
        if isinstance(node.op, GEMMS):
            worst = max((kernels.get(id(v)) or 0) for v in node.inputs)
            assert worst <= 1, f"{worst} elementwise kernels before {node}:\n{text}"
    gemms = [n for n in nodes if isinstance(n.op, GEMMS)]
    assert sum(isinstance(n.op, Gemm) for n in gemms) == 6, text  # 3 forward (+ bias), 3 updates
    assert len(gemms) == 8, text  # and the two backward products through W2 and W1
    ops = [n.op for n in nodes]
    assert not any(isinstance(op, (Softmax, LogSoftmax, ClassMask)) for op in ops), text
    leftovers = [op for op in ops if isinstance(op, Elemwise) and _scalar_op_names(op) & LOSS_PIECES]
    assert not leftovers, f"loss pieces left: {leftovers}\n{text}"
    assert sum(isinstance(op, CrossentropySoftmax) for op in ops) == 1, text
    assert sum(isinstance(op, CrossentropySoftmaxDx) for op in ops) == 1, text


@pytest.mark.parametrize("from_logits", [False, True], ids=["probabilities", "from_logits"])
@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_optimized_training_step_matches_the_unoptimized_one(from_logits, backend):
    inputs, outputs = _mlp_training_graph((20, 16, 16, 5), from_logits)
    x, labels, *params = inputs
    rng = np.random.default_rng(3)
    xv = rng.normal(size=(8, 20)).astype("float32")
    lv = rng.integers(0, 5, size=8)
    fast = th.function([x, labels], outputs, mode="fast_run", backend=backend)
    naive = th.function([x, labels], outputs, mode="none", backend="numpy")
    for got, expected in zip(fast(xv, lv), naive(xv, lv), strict=True):
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-6)
