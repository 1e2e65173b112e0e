"""Scale: every pass over a graph is iterative and near-linear.

A 10,000-node chain goes through th.grad, th.rewrite, debugprint and the numpy backend with
the stack limited to a few hundred frames (a recursive pass would need thousands), and the
rewrite time per node stays flat as chains and MLP training graphs grow.
"""

import contextlib
import inspect
import sys
import time

import numpy as np
import pytest

import theanine as th
from theanine.graph.basic import apply_nodes

pytestmark = pytest.mark.slow

FRAMES = 250
"""Stack frames the passes may use beyond the test's own (a recursive walk of a chain needs one per node)."""


@contextlib.contextmanager
def _shallow_stack():
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + FRAMES)
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def _chain(links: int):
    """``x -> tanh -> * 1.0001 -> ...``: three nodes a link (tanh, the product, the constant's
    DimShuffle); returns the input and the summed output."""
    x = th.vector("x", dtype="float64")
    y = x
    for _ in range(links):
        y = th.tanh(y) * 1.0001
    return x, y.sum()


def _reference(x: np.ndarray, links: int) -> tuple[float, np.ndarray]:
    y, dy = x.copy(), np.ones_like(x)
    for _ in range(links):
        t = np.tanh(y)
        dy = dy * (1 - t * t) * 1.0001
        y = t * 1.0001
    return y.sum(), dy


def test_a_ten_thousand_node_chain_needs_no_recursion():
    links = 3334
    x, cost = _chain(links)
    assert len(apply_nodes([cost])) >= 10_000
    value = np.array([-0.5, 0.25, 2.0])
    with _shallow_stack():
        grad = th.grad(cost, x)
        rewritten = th.rewrite([cost, grad])
        text = th.debugprint([cost, grad], file="str") + th.debugprint(rewritten, file="str")
        f = th.function([x], [cost, grad], backend="numpy", mode="fast_compile")
        got_cost, got_grad = f(value)
    assert text.count("Elemwise{tanh}") >= links
    expected_cost, expected_grad = _reference(value, links)
    np.testing.assert_allclose(got_cost, expected_cost, rtol=1e-10)
    np.testing.assert_allclose(got_grad, expected_grad, rtol=1e-10)
    np.testing.assert_allclose(th.function([x], rewritten, backend="numpy", mode="none")(value)[1],
                               expected_grad, rtol=1e-10)


def _views(links: int):
    """Fused elementwise work between transposes (views): inplace chains run through views."""
    x = th.matrix("x", dtype="float64")
    y = x
    for _ in range(links):
        y = (th.exp(y) * 0.5).T
    return [x], [y.sum()]


def _chain_with_gradient(links: int):
    x, cost = _chain(links)
    return [x], [cost, th.grad(cost, x)]


def _mlp(layers: int):
    rng = np.random.default_rng(0)
    x, labels = th.matrix("x", dtype="float32"), th.vector("labels", dtype="int64")
    h, params = x, []
    for i in range(layers):
        w = th.shared(rng.standard_normal((8, 8)).astype("float32"), name=f"w{i}")
        b = th.shared(np.zeros(8, "float32"), name=f"b{i}")
        params += [w, b]
        h = th.relu(h @ w + b)
    loss = th.mean(th.sparse_categorical_crossentropy(labels, h, from_logits=True))
    return [x, labels], [loss] + [p - 0.1 * g for p, g in zip(params, th.grad(loss, params), strict=True)]


def _seconds_per_node(build, size: int) -> float:
    inputs, outputs = build(size)
    nodes = len(apply_nodes(outputs))
    best = float("inf")
    for _ in range(2):
        start = time.process_time()
        th.rewrite(outputs)
        best = min(best, time.process_time() - start)
    return best / nodes


@pytest.mark.parametrize(
    "build, small",
    [(_chain_with_gradient, 250), (_views, 500), (_mlp, 25)],
    ids=["chain with gradient", "views between fused nodes", "MLP training step"],
)
def test_rewrite_time_per_node_stays_flat_as_graphs_grow(build, small):
    """Four times the nodes may cost at most about four times the time (a quadratic pass: 16)."""
    ratio = _seconds_per_node(build, 4 * small) / _seconds_per_node(build, small)
    assert ratio < 2.5
