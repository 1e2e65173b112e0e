"""Temporaries share storage after their last use, and results stay right across calls."""

import numpy as np

import theanine as th
from theanine.runtime.memory import MemoryPlan


def _chain(x):
    """Several temporaries with short, non-overlapping lifetimes (no fusion between them)."""
    a = th.exp(x).sum(axis=1, keepdims=True)
    b = th.tanh(x - a).sum(axis=1, keepdims=True)
    c = th.sin(x * b).sum(axis=1, keepdims=True)
    return th.cos(x + c).sum(axis=1)


def _numpy_chain(x):
    a = np.exp(x).sum(axis=1, keepdims=True)
    b = np.tanh(x - a).sum(axis=1, keepdims=True)
    c = np.sin(x * b).sum(axis=1, keepdims=True)
    return np.cos(x + c).sum(axis=1)


def test_pooled_temporaries_give_numpy_results_for_changing_shapes():
    x = th.matrix("x", dtype="float64")
    f = th.function([x], _chain(x), backend="llvm")
    rng = np.random.default_rng(0)
    for rows, cols in [(5, 7), (50, 3), (2, 200), (5, 7), (0, 4)]:
        value = rng.standard_normal((rows, cols))
        np.testing.assert_allclose(f(value), _numpy_chain(value), rtol=1e-12, atol=1e-12)


def test_outputs_are_never_pooled_or_overwritten():
    x = th.vector("x", dtype="float64")
    f = th.function([x], [th.exp(x) + 1, (x * 2).sum()], backend="llvm")
    first = f(np.ones(4))
    held = first[0].copy()
    f(np.full(4, 3.0))
    np.testing.assert_array_equal(first[0], held)


def test_plan_shares_blocks_between_disjoint_lifetimes():
    from theanine.codegen.llvm import scalar as llvm_scalar
    from theanine.codegen.program.lowering import lower

    x = th.matrix("x", dtype="float64")
    program = lower([x], [_chain(x)], llvm_scalar.supports)
    plan = MemoryPlan(program)
    assert plan.pooled, "the chain has temporaries that only native steps use"
    plan.start()
    step_of = {b: i for i, s in enumerate(program.steps) for b in getattr(s, "outputs", (getattr(s, "output", None),))}
    held = {}
    for b in sorted(plan.pooled, key=step_of.get):
        plan.release_before(step_of[b])
        held[b] = plan.array(b, (100,), np.dtype("float64"))
    assert len(plan.blocks) < len(plan.pooled), "some temporaries reuse a released block"


def test_outputs_that_view_a_temporary_are_not_overwritten_by_the_next_call():
    x = th.vector("x", dtype="float64")
    f = th.function([x], (x * 2)[1:], backend="llvm")
    first = f(np.arange(4.0))
    f(np.ones(4))
    np.testing.assert_array_equal(first, [2.0, 4.0, 6.0])


def test_replayed_temporaries_stay_right_across_shapes_and_never_reach_outputs():
    """Calls through the program runner (a shared variable keeps them off the fast path) replay
    the temporaries of an earlier call with the same input shapes; more shapes than are kept
    evict old ones.  Results match NumPy and outputs from earlier calls stay as returned."""
    scale = th.shared(np.float64(1.5), name="scale")
    x = th.matrix("x", dtype="float64")
    f = th.function([x], [_chain(x) * scale, th.exp(x)], backend="llvm")
    rng = np.random.default_rng(1)
    shapes = [(5, 7), (50, 3), (2, 200), (9, 9), (1, 1), (30, 30)]
    held = []
    for rows, cols in shapes * 2:
        value = rng.standard_normal((rows, cols))
        chain, exp = f(value)
        np.testing.assert_allclose(chain, _numpy_chain(value) * 1.5, rtol=1e-12, atol=1e-12)
        held.append((exp, exp.copy()))
    for returned, copy in held:
        np.testing.assert_array_equal(returned, copy)


def test_an_output_nobody_holds_is_reused_and_one_still_held_is_never_written():
    """Outputs of large calls (the runner's path, on two threads): the array of the previous call
    is written again only once the caller has dropped it, sparing a fresh allocation's page faults."""
    x = th.vector("x", dtype="float32")
    with th.config.context(num_threads=2):
        f = th.function([x], th.exp(x) * 2, backend="llvm")
    data = np.linspace(-1, 1, 1 << 18, dtype=np.float32)
    first = f(data)
    address = first.__array_interface__["data"][0]
    held = first.copy()
    second = f(data * 0.5)
    np.testing.assert_array_equal(first, held)
    assert second.__array_interface__["data"][0] != address
    np.testing.assert_allclose(second, np.exp(data * 0.5) * 2, rtol=1e-6)
    del first, second
    dropped = f(data)
    address = dropped.__array_interface__["data"][0]
    del dropped
    again = f(data * 0.25)
    assert again.__array_interface__["data"][0] == address
    np.testing.assert_allclose(again, np.exp(data * 0.25) * 2, rtol=1e-6)


def test_large_outputs_are_recycled_once_the_caller_drops_them():
    """A loop ``out = f(x)`` holds the last result while the next is computed: the runner keeps two
    arrays per output and reuses the idle one (no fresh pages), never one the caller still holds."""
    x = th.matrix("x")
    f = th.function([x], th.exp(x))
    values = [np.full((300, 300), v, "float32") for v in (0.0, 1.0, 2.0, 3.0)]
    first = f(values[0])
    second = f(values[1])
    address = first.ctypes.data
    assert second.ctypes.data != address
    view = second[1:]
    del first, second
    third = f(values[2])
    assert third.ctypes.data == address
    np.testing.assert_allclose(view, np.exp(values[1][1:]), rtol=1e-6)
    fourth = f(values[3])
    assert fourth.ctypes.data not in (address, view.base.ctypes.data)
    np.testing.assert_allclose(third, np.exp(values[2]), rtol=1e-6)
    np.testing.assert_allclose(view, np.exp(values[1][1:]), rtol=1e-6)
