"""The optimized training graph of a 784-512-512-10 MLP: one fused kernel per hidden activation."""

import importlib.util
import pathlib

import numpy as np

import theanine as th
from theanine.graph.basic import apply_nodes
from theanine.graph.ops.elemwise import Elemwise
from theanine.graph.rewriting import optimize

_BENCH = pathlib.Path(__file__).parents[2] / "benchmarks" / "bench_rewriting.py"


def _mlp_training_graph(sizes):
    spec = importlib.util.spec_from_file_location("bench_rewriting", _BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.mlp_training_graph(sizes)


def test_hidden_layers_have_one_fused_elemwise_kernel_forward_and_backward():
    inputs, outputs = _mlp_training_graph((784, 512, 512, 10))
    optimized, report = optimize(inputs, outputs, "fast_run")
    hidden = [
        n
        for n in apply_nodes(optimized)
        if isinstance(n.op, Elemwise)
        and n.outputs[0].type.shape[-1:] == (512,)
        and n.outputs[0].ndim == 2
        and n.outputs[0].type.shape[0] is None
    ]
    text = th.debugprint(optimized, file="str")
    assert len(hidden) == 4, (
        f"expected add+relu fused per layer and one relu-gradient kernel per layer:\n{text}"
    )
    assert all(n.op.scalar_op.name.startswith("Composite") for n in hidden), text
    assert report.seconds < 0.5


def test_optimized_training_step_matches_the_unoptimized_one():
    inputs, outputs = _mlp_training_graph((20, 16, 16, 5))
    x, labels, *params = inputs
    rng = np.random.default_rng(3)
    xv = rng.normal(size=(8, 20)).astype("float32")
    lv = rng.integers(0, 5, size=8)
    fast = th.function([x, labels], outputs, mode="fast_run")
    naive = th.function([x, labels], outputs, mode="none")
    for got, expected in zip(fast(xv, lv), naive(xv, lv)):
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-6)
