"""How long the optimizer takes on the training graph of a 784-512-512-10 MLP.

    python tests/benchmarks/bench_rewriting.py

Builds the graph (softmax crossentropy, SGD updates), optimizes it with
mode="fast_run" several times, and prints the best time, the node counts
and the rewrite report.
"""

import time

import numpy as np

import theanine as th
from theanine.graph.rewriting import optimize


def mlp_training_graph(sizes=(784, 512, 512, 10), dtype="float32"):
    """(inputs, outputs) of one SGD step: the loss and the new value of every weight."""
    rng = np.random.default_rng(0)
    x = th.matrix("x", dtype=dtype)
    labels = th.vector("labels", dtype="int64")
    params, h = [], x
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = th.shared(rng.normal(0, 0.05, (n_in, n_out)).astype(dtype), name=f"W{i}")
        b = th.shared(np.zeros(n_out, dtype), name=f"b{i}")
        params += [w, b]
        h = h @ w + b
        if i < len(sizes) - 2:
            h = th.relu(h)
    loss = th.mean(th.sparse_categorical_crossentropy(labels, th.softmax(h), from_logits=False))
    grads = th.grad(loss, params)
    updates = [p - 0.1 * g for p, g in zip(params, grads)]
    return [x, labels] + params, [loss] + updates


def main(repeats: int = 5) -> None:
    inputs, outputs = mlp_training_graph()
    best, report = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        _, report = optimize(inputs, outputs, "fast_run")
        best = min(best, time.perf_counter() - start)
    print(report)
    print(
        f"\noptimize(fast_run) of the MLP training graph: best of {repeats}: {best * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
