"""How long the optimizer (and the whole compile) takes, and how it scales with graph size.

    python tests/benchmarks/bench_rewriting.py            # the MLP graph, then the scaling table
    python tests/benchmarks/bench_rewriting.py --scaling  # only the scaling table

The MLP part builds the training graph of a 784-512-512-10 MLP (softmax
crossentropy on the softmax's probabilities, as Keras users write it, and
the from-logits variant; SGD updates), optimizes each with mode="fast_run"
several times, and prints the best time, the node counts and the rewrite
report.  The scaling part optimizes, then compiles with an empty cache, an
elementwise chain with its gradient of about 100, 1,000 and 10,000 nodes
and the training step of a 200-layer MLP (32 wide), and prints the time
per node of each.
"""

import sys
import time

import numpy as np

import theanine as th
from theanine.graph.basic import apply_nodes
from theanine.graph.rewriting import optimize


def mlp_training_graph(sizes=(784, 512, 512, 10), dtype="float32", from_logits=False):
    """(inputs, outputs) of one SGD step: the loss and the new value of every weight.

    The loss is ``sparse_categorical_crossentropy`` of the softmax's output
    (``from_logits=False``) or of the logits themselves.
    """
    rng = np.random.default_rng(0)
    x = th.matrix("x", dtype=dtype)
    labels = th.vector("labels", dtype="int64")
    params, h = [], x
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        w = th.shared(rng.normal(0, 0.05, (n_in, n_out)).astype(dtype), name=f"W{i}")
        b = th.shared(np.zeros(n_out, dtype), name=f"b{i}")
        params += [w, b]
        h = h @ w + b
        if i < len(sizes) - 2:
            h = th.relu(h)
    output = h if from_logits else th.softmax(h)
    loss = th.mean(th.sparse_categorical_crossentropy(labels, output, from_logits=from_logits))
    grads = th.grad(loss, params)
    updates = [p - 0.1 * g for p, g in zip(params, grads, strict=True)]
    return [x, labels] + params, [loss] + updates


def main(repeats: int = 5) -> None:
    for from_logits in (False, True):
        inputs, outputs = mlp_training_graph(from_logits=from_logits)
        best, report = float("inf"), None
        for _ in range(repeats):
            start = time.perf_counter()
            _, report = optimize(inputs, outputs, "fast_run")
            best = min(best, time.perf_counter() - start)
        print(report)
        print(
            f"\noptimize(fast_run) of the MLP training graph (from_logits={from_logits}): "
            f"best of {repeats}: {best * 1000:.1f} ms\n"
        )


def chain_graph(length: int):
    """(inputs, outputs) of an elementwise chain of ``length`` ops and its gradient."""
    x = th.vector("x", dtype="float64")
    y = x
    for i in range(length):
        y = y * 1.0001 if i % 2 else y + 0.001
    return [x], [y.sum(), th.grad(y.sum(), x)]


def deep_mlp_graph(layers: int = 200, width: int = 32):
    """(inputs, outputs, updates) of one SGD step of a deep ReLU MLP with a squared loss."""
    rng = np.random.default_rng(0)
    x = th.matrix("x")
    params, h = [], x
    for _ in range(layers):
        w = th.shared((rng.standard_normal((width, width)) * 0.1).astype("float32"))
        b = th.shared(np.zeros(width, "float32"))
        params += [w, b]
        h = th.relu(h @ w + b)
    loss = (h**2).mean()
    return [x], [loss], [(p, p - 0.01 * g) for p, g in zip(params, th.grad(loss, params), strict=True)]


def scaling() -> None:
    print(f"{'graph':42s} {'nodes':>7s} {'optimize':>10s} {'per node':>10s} {'compile':>9s} {'per node':>10s}")
    cases = [(f"elementwise chain + gradient, {n} ops", n) for n in (40, 400, 4000)] + [("200-layer MLP step", None)]
    for name, length in cases:
        if length is None:
            inputs, outputs, updates = deep_mlp_graph()
            targets = outputs + [new for _, new in updates]
        else:
            (inputs, outputs), updates = chain_graph(length), []
            targets = outputs
        nodes = len(apply_nodes(targets))
        start = time.perf_counter()
        optimize(inputs + [p for p, _ in updates], targets, "fast_run")
        optimized = time.perf_counter() - start
        start = time.perf_counter()
        with th.config.context(use_cache=False):
            th.function(inputs, outputs, updates=updates)
        compiled = time.perf_counter() - start
        print(f"{name:42s} {nodes:7d} {optimized:9.2f}s {optimized / nodes * 1e6:8.0f}us "
              f"{compiled:8.2f}s {compiled / nodes * 1e6:8.0f}us")


if __name__ == "__main__":
    if "--scaling" not in sys.argv:
        main()
    scaling()
