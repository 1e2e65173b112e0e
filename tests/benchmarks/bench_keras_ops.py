"""keras.ops control flow and host-call ops, compiled by the LLVM backend, next to NumPy.

    python tests/benchmarks/bench_keras_ops.py

Prints, per workload, the time per call of the compiled theanine function
(best of repeats, on ``config.num_threads`` threads), the time of the same
computation in NumPy (a Python loop for the loops, ``np.linalg``/``np.fft``
for the host-call ops) and their ratio, and the eager ``keras.ops`` call
(the reference interpreter) for scale.  Loops compile to native loops;
linear algebra and FFTs run their NumPy ``perform`` as host calls, so their
ratio shows the call overhead.
"""

from __future__ import annotations

import timeit

import numpy as np

import theanine as th
from theanine.frontend import ops


def _best(fn, repeat: int = 5) -> float:
    fn()
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat, number)) / number


def _numpy_fori(x):
    for i in range(200):
        x = x * 0.99 + np.float32(i) * 1e-3
    return x


def _numpy_scan(xs):
    carry, ys = np.zeros(xs.shape[1], xs.dtype), []
    for x in xs:
        carry = np.tanh(carry + x)
        ys.append(carry)
    return carry, np.stack(ys)


def _workloads():
    rng = np.random.default_rng(0)
    vec = rng.normal(size=1000).astype("float32")
    seq = rng.normal(size=(200, 64)).astype("float32")
    mat = rng.normal(size=(64, 64)) + 8 * np.eye(64)
    signal = rng.normal(size=(16, 1024)).astype("float32")
    return [
        ("fori_loop 200 steps, 1000 floats", th.fvector, vec,
         lambda x: ops.fori_loop(0, 200, lambda i, v: v * 0.99 + ops.cast(i, "float32") * 1e-3, x), _numpy_fori),
        ("scan tanh RNN 200 x 64", th.fmatrix, seq,
         lambda xs: ops.scan(lambda c, x: (ops.tanh(c + x),) * 2, ops.zeros((64,), "float32"), xs), _numpy_scan),
        ("inv + solve 64 x 64 (host calls)", th.dmatrix, mat,
         lambda a: ops.solve(a, ops.inv(a)), lambda a: np.linalg.solve(a, np.linalg.inv(a))),
        ("rfft 16 x 1024 (host call)", th.fmatrix, signal, lambda x: ops.rfft(x), lambda x: np.fft.rfft(x)),
        ("segment_sum 1000 rows, 10 segments", th.fvector, vec,
         lambda x: ops.segment_sum(x, np.arange(1000) % 10, 10), lambda x: np.bincount(np.arange(1000) % 10, x)),
    ]


def main() -> None:
    print(f"{'workload':40s} {'theanine':>12s} {'numpy':>12s} {'ratio':>7s} {'eager ops':>12s}")
    for name, make_input, value, build, reference in _workloads():
        x = make_input("x")
        outputs = build(x)
        function = th.function([x], outputs if isinstance(outputs, (list, tuple)) else [outputs])
        compiled = _best(lambda f=function, v=value: f(v))
        numpy_time = _best(lambda r=reference, v=value: r(v))
        eager = _best(lambda b=build, v=value: b(v), repeat=1)
        print(f"{name:40s} {compiled * 1e6:10.1f}us {numpy_time * 1e6:10.1f}us {compiled / numpy_time:7.2f} "
              f"{eager * 1e3:10.1f}ms")


if __name__ == "__main__":
    main()
