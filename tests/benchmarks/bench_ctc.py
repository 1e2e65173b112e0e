"""CTC loss benchmark: ``losses.ctc`` (a ``th.scan`` over time) forward and gradient, LLVM backend.

Batch 32, T=50 steps, 20 classes (0 the blank), labels of up to 10 symbols,
float32 logits.  Prints the compile time and the median time of one call of
the loss and of its gradient with respect to the logits, checked against
and compared with PyTorch's ``nn.functional.ctc_loss`` (2 threads) when it
is installed.  Set ``OPENBLAS_NUM_THREADS=1`` as the test suite does.

    python tests/benchmarks/bench_ctc.py
"""

from __future__ import annotations

import time

import numpy as np

import theanine as th
from theanine.frontend import losses

BATCH, STEPS, CLASSES, LABELS = 32, 50, 20, 10


def data():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(BATCH, STEPS, CLASSES)).astype("float32")
    lengths = rng.integers(3, LABELS + 1, BATCH)
    labels = np.zeros((BATCH, LABELS), "int64")
    for row, length in enumerate(lengths):
        labels[row, :length] = rng.integers(1, CLASSES, length)
    return labels, logits


def median_time(call, repeats: int = 20) -> float:
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def theanine_functions():
    labels = th.tensor("labels", "int64", (None, LABELS))
    logits = th.tensor("logits", "float32", (None, STEPS, CLASSES))
    per_sample = losses.ctc(labels, logits)
    start = time.perf_counter()
    forward = th.function([labels, logits], per_sample)
    both = th.function([labels, logits], [per_sample, th.grad(th.sum(per_sample), logits)])
    return forward, both, time.perf_counter() - start


def torch_functions(labels, logits):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    lengths = torch.as_tensor((labels != 0).sum(1))
    steps = torch.full((BATCH,), STEPS, dtype=torch.long)
    targets = torch.as_tensor(labels)

    def run(backward: bool):
        x = torch.tensor(logits, requires_grad=backward)
        log_probs = torch.log_softmax(x, -1).transpose(0, 1)
        loss = torch.nn.functional.ctc_loss(log_probs, targets, steps, lengths, blank=0, reduction="none")
        if backward:
            loss.sum().backward()
            return loss.detach().numpy(), x.grad.numpy()
        return loss.detach().numpy()

    return run


def main() -> None:
    labels, logits = data()
    forward, both, compile_s = theanine_functions()
    print(f"theanine compile (loss and loss+grad): {compile_s:.2f} s")
    print(f"theanine loss:      {1e3 * median_time(lambda: forward(labels, logits)):8.3f} ms")
    print(f"theanine loss+grad: {1e3 * median_time(lambda: both(labels, logits)):8.3f} ms")
    run = torch_functions(labels, logits)
    if run is None:
        print("PyTorch not installed: no comparison")
        return
    ours_loss, ours_grad = both(labels, logits)
    theirs_loss, theirs_grad = run(True)
    np.testing.assert_allclose(ours_loss, theirs_loss, rtol=1e-4)
    np.testing.assert_allclose(ours_grad, theirs_grad, atol=1e-4)
    print("values and gradients equal PyTorch's (rtol 1e-4)")
    print(f"torch loss:         {1e3 * median_time(lambda: run(False)):8.3f} ms")
    print(f"torch loss+grad:    {1e3 * median_time(lambda: run(True)):8.3f} ms")


if __name__ == "__main__":
    main()
