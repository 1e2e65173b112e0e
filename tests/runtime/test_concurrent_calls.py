"""Several compiled functions called from 8 Python threads at once.

Each call's work, status and errors belong to that call alone (the worker
threads are shared), a failed call changes no shared variable, and two
functions updating the same shared variable never lose or tear an update.
Values are small integers in float32, so every sum is exact in any order.
"""

import threading

import numpy as np
import pytest

import theanine as th

THREADS = 8
CALLS_PER_THREAD = 150
SIDE = 300  # 90,000 elements: above the bar for splitting a kernel over the worker threads


@pytest.fixture
def functions():
    with th.config.context(num_threads=2):
        W = th.shared(np.zeros((SIDE, SIDE), "float32"), name="W")
        counter = th.shared(np.zeros((SIDE, SIDE), "float32"), name="counter")
        x, a, b = th.matrix("x"), th.matrix("a"), th.matrix("b")
        return {
            "W": W,
            "counter": counter,
            "step": th.function([x], W.sum(), updates=[(W, W + x)]),
            "add_one": th.function([], counter.sum(), updates=[(counter, counter + 1)]),
            "add_two": th.function([], counter.sum(), updates=[(counter, counter + 2)]),
            "product": th.function([a, b], (a * b).sum(axis=1)),
            "read": th.function([x], (x * counter).sum()),  # reads shared state: the fast path
        }


def _worker(fns, seed: int, log: list, errors: list) -> None:
    rng = np.random.default_rng(seed)
    ones = np.ones((SIDE, SIDE), "float32")
    wide = np.ones((SIDE, SIDE + 1), "float32")
    try:
        for _ in range(CALLS_PER_THREAD):
            kind = rng.choice(["step", "bad_step", "add_one", "add_two", "product", "bad_product", "read"])
            if kind == "step":
                log.append(("step", float(fns["step"](ones))))
            elif kind == "bad_step":
                with pytest.raises(ValueError, match="shape"):
                    fns["step"](wide)
                log.append(("bad_step", None))
            elif kind == "read":
                log.append(("read", float(fns["read"](ones))))
            elif kind in ("add_one", "add_two"):
                log.append((kind, float(fns[kind]())))
            elif kind == "product":
                left = rng.integers(-3, 4, (SIDE, SIDE)).astype("float32")
                right = rng.integers(-3, 4, (SIDE, SIDE)).astype("float32")
                got = fns["product"](left, right)
                log.append(("product", bool(np.array_equal(got, (left * right).sum(axis=1)))))
            else:
                with pytest.raises(ValueError, match="shape"):
                    fns["product"](ones, wide)
                log.append(("bad_product", None))
    except BaseException as exc:  # reported by the main thread
        errors.append(exc)


def test_eight_threads_calling_several_functions_agree_with_a_serial_run(functions):
    logs = [[] for _ in range(THREADS)]
    errors: list = []
    threads = [threading.Thread(target=_worker, args=(functions, seed, logs[seed], errors)) for seed in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    calls = [entry for log in logs for entry in log]
    assert len(calls) == THREADS * CALLS_PER_THREAD
    assert all(ok for kind, ok in calls if kind == "product")

    # Each successful step saw W after a distinct number of earlier steps (no lost or torn
    # update), and no failed step changed W.
    steps = sorted(value for kind, value in calls if kind == "step")
    assert steps == [SIDE * SIDE * k for k in range(len(steps))]
    np.testing.assert_array_equal(functions["W"].get_value(), np.full((SIDE, SIDE), len(steps), "float32"))

    # Two functions updating one shared variable: every element got every increment.
    ones = sum(1 for kind, _ in calls if kind == "add_one")
    twos = sum(1 for kind, _ in calls if kind == "add_two")
    np.testing.assert_array_equal(functions["counter"].get_value(), np.full((SIDE, SIDE), ones + 2 * twos, "float32"))
    reads = [value / (SIDE * SIDE) for kind, value in calls if kind == "read"]
    assert reads and all(r == int(r) for r in reads)  # a reader never sees a half-applied update
    seen = sorted(value / (SIDE * SIDE) for kind, value in calls if kind in ("add_one", "add_two"))
    assert len(set(seen)) == len(seen)  # each call read a different, whole state
