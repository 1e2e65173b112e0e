"""How long the optimizer takes on the training graph of a 784-512-512-10 MLP.

    python tests/benchmarks/bench_rewriting.py

Builds the graph (softmax crossentropy on the softmax's probabilities, as
Keras users write it, and the from-logits variant; SGD updates), optimizes
each with mode="fast_run" several times, and prints the best time, the node
counts and the rewrite report.
"""

import time

import numpy as np

import theanine as th
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


if __name__ == "__main__":
    main()
