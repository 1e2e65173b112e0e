"""Writes through views (``ElementwiseKernel.out_views``): basic-index increments as parallel
kernels, and store forwarding (codegen/program/forwarding.py), where a producer writes straight
into the slice, history row or join piece that a copy would have filled.  Values are compared
with the numpy backend (the ops' ``perform``), structure with the lowered program."""

import dataclasses

import numpy as np
import pytest

import theanine as th
from theanine.codegen.llvm import scalar
from theanine.codegen.program import forwarding
from theanine.codegen.program.kernel_ir import (
    Arg,
    ElementwiseKernel,
    GemmCall,
    LoopStep,
    ScatterKernel,
    check_allocated,
    flat_steps,
    step_writes,
)
from theanine.codegen.program.lowering import lower

R = np.random.default_rng(17)


def _program(f):
    """The lowered program (``lower`` checks that every buffer a step touches exists by then)."""
    return lower(f.fgraph_inputs, f.optimized_outputs, scalar.supports, shape_arithmetic=True)


def _copies(steps):
    """Elementwise steps that only copy a buffer some elementwise step made."""
    steps = flat_steps(steps)
    made = {b for s in steps if isinstance(s, ElementwiseKernel) and s.exprs and s.exprs != (Arg(0, s.exprs[0].dtype),)
            for b in s.outputs}
    return [s for s in steps if isinstance(s, ElementwiseKernel) and len(s.inputs) == 1 and s.exprs
            and s.exprs == (Arg(0, s.exprs[0].dtype),) and s.inputs[0].buffer in made]


def _both(inputs, outputs, values, threads=1):
    with th.config.context(num_threads=threads):
        native = th.function(inputs, outputs, backend="llvm", on_unused_input="ignore")
        reference = th.function(inputs, outputs, backend="numpy", on_unused_input="ignore")
        return native(*values), reference(*values), native


# each case: (x, v) -> result, on x of shape (5, 6) and v of shape (6,)
BASIC_INDEX_CASES = {
    "slice rows": lambda x, v: th.inc_subtensor(x[1:3], v),
    "set slice of columns": lambda x, v: th.set_subtensor(x[:, 2:4], v[:2]),
    "negative step": lambda x, v: th.inc_subtensor(x[::-2, 1:5], v[:4]),
    "int row": lambda x, v: th.set_subtensor(x[2], v),
    "int and int": lambda x, v: th.inc_subtensor(x[-1, 3], v[0]),
    "scalar set": lambda x, v: th.set_subtensor(x[:, 2:4], 7.0),
    "ellipsis": lambda x, v: th.inc_subtensor(x[..., 1:], v[1:]),
    "step slices": lambda x, v: th.set_subtensor(x[1::2, ::3], v[:2]),
    "value is a view of x": lambda x, v: th.inc_subtensor(x[1:], x[:-1]),
    "set from a view of x": lambda x, v: th.set_subtensor(x[1:, ::2], x[:-1, 1::2]),
}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
@pytest.mark.parametrize("case", list(BASIC_INDEX_CASES), ids=list(BASIC_INDEX_CASES))
def test_a_basic_index_increment_is_an_elementwise_write_through_a_view(case, dtype, threads):
    a, w = th.tensor("a", dtype, (None, None)), th.tensor("w", dtype, (None,))
    x, v = a * 2, w + 1  # intermediates: the increment may work in place
    av = (np.arange(30).reshape(5, 6) - 7).astype(dtype)
    wv = (np.arange(6) * 3 - 4).astype(dtype)
    got, expected, f = _both([a, w], BASIC_INDEX_CASES[case](x, v), [av, wv], threads)
    np.testing.assert_array_equal(got, expected)
    assert not any(isinstance(s, ScatterKernel) for s in flat_steps(_program(f).steps))


def test_an_advanced_index_increment_still_scatters_in_order():
    x, i = th.tensor("x", "float64", (None,)), th.tensor("i", "int64", (None,))
    got, expected, f = _both([x, i], th.inc_subtensor(x[i], 1.0), [np.zeros(4), np.array([1, 1, 3, -1])])
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, [0, 2, 0, 2])
    assert any(isinstance(s, ScatterKernel) for s in flat_steps(_program(f).steps))


def test_a_basic_index_out_of_bounds_still_raises_numpys_error():
    x, k = th.tensor("x", "float64", (None,)), th.iscalar("k")
    f = th.function([x, k], th.set_subtensor((x * 1.0)[k], 5.0), backend="llvm")
    np.testing.assert_array_equal(f(np.zeros(3), 1), [0, 5, 0])
    with pytest.raises(IndexError, match="out of bounds"):
        f(np.zeros(3), 3)


def test_join_pieces_are_written_by_their_producers():
    a, b = th.tensor("a", "float64", (None, None)), th.tensor("b", "float64", (None, None))
    out = th.concatenate([th.exp(a), b * 2 + 1], axis=1)
    av, bv = R.standard_normal((4, 3)), R.standard_normal((4, 5))
    got, expected, f = _both([a, b], out, [av, bv])
    np.testing.assert_allclose(got, expected)
    assert _copies(_program(f).steps) == []
    with pytest.raises(ValueError, match="Join"):  # the join's check stays: the pieces' rows must agree
        f(av, bv[:3])


def test_a_stack_of_pieces_from_one_kernel_is_allocated_once():
    c = th.tensor("c", "float64", (None, None, 4))
    out = th.cross(c[..., :3], c[..., 1:], axis=-1)  # three pieces, one fused kernel, one join
    cv = R.standard_normal((2, 5, 4))
    got, expected, f = _both([c], out, [cv])
    np.testing.assert_allclose(got, np.cross(cv[..., :3], cv[..., 1:]))
    (kernel,) = _program(f).steps
    assert len(set(kernel.outputs)) == 1 and kernel.reuses == ()


def test_a_temporary_with_another_reader_is_still_copied():
    a = th.tensor("a", "float64", (None, None))
    e = th.exp(a)
    out = th.concatenate([e, e], axis=0)  # e is read by both pieces of the join
    av = R.standard_normal((2, 3))
    got, expected, f = _both([a], [out, e.sum()], [av])
    np.testing.assert_allclose(got[0], expected[0])
    np.testing.assert_allclose(got[1], expected[1])
    assert len(_copies(_program(f).steps)) == 2


def test_gradient_slices_of_one_tensor_become_sets_written_in_place():
    z = th.tensor("z", "float64", (None, None))
    pieces = [th.sigmoid(z[:, :3]), th.tanh(z[:, 3:6]), th.exp(z[:, 6:])]
    cost = sum((p ** 2).sum() for p in pieces)
    g = th.grad(cost, z) * 3.0  # not an output itself, so the sets may work in place
    zv = R.standard_normal((4, 8))
    got, expected, f = _both([z], g, [zv])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert th.explain(f).fired.get("increment_of_zero_region", 0) >= 2
    steps = flat_steps(_program(f).steps)
    assert not any(isinstance(s, ScatterKernel) for s in steps)
    assert _copies(steps) == []


@pytest.mark.parametrize("threads", [1, 2])
def test_an_rnn_step_writes_its_state_into_the_history_rows(threads):
    x, h0 = th.tensor("x", "float64", (None, 3, 4)), th.tensor("h0", "float64", (3, 4))
    w = th.shared(R.standard_normal((4, 4)) * 0.5)

    def step(x_t, h, c):
        c_new = th.tanh(x_t + h @ w) + 0.5 * c
        return th.sigmoid(c_new) * 2.0, c_new

    (hs, cs), _ = th.scan(step, sequences=x, outputs_info=[h0, h0])
    cost = (hs ** 2).sum() + cs[-1].sum()
    outputs = [hs, cs, *th.grad(cost, [w, x])]
    values = [R.standard_normal((6, 3, 4)), R.standard_normal((3, 4))]
    got, expected, f = _both([x, h0], outputs, values, threads)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)
    loops = [s for s in _program(f).steps if isinstance(s, LoopStep)]
    assert len(loops) == 2
    for loop in loops:  # states, products and gradient pieces go straight into their history rows
        made = {b for s in loop.body for b in step_writes(s)} - set(loop.allocates)  # not the histories
        assert not [s for s in loop.body if isinstance(s, ElementwiseKernel) and len(s.inputs) == 1
                    and s.exprs == (Arg(0, s.exprs[0].dtype),) and s.inputs[0].buffer in made]
    assert any(isinstance(s, GemmCall) and s.out_view is not None for s in loops[0].body)


def test_forwarding_leaves_a_program_without_copies_unchanged():
    a = th.tensor("a", "float64", (None, None))
    f = th.function([a], th.exp(a) + 1, backend="llvm")
    program = _program(f)
    assert forwarding.forward_stores(program, forwarding.pinned_buffers(program)) is program


def test_only_increments_of_regions_still_zero_become_sets():
    z = th.tensor("z", "float64", (None,))
    x = th.zeros_like(z)
    first = th.inc_subtensor(x[1:4], z[:3])  # zeros: a set
    overlapping = th.inc_subtensor(first[2:5], z[1:4])  # meets [1:4]: stays an increment
    apart = th.inc_subtensor(overlapping[6:], z[:2])  # misses [1:5]: a set
    zv = np.arange(8.0) + 1
    got, expected, f = _both([z], apart * 1.0, [zv])
    want = np.zeros(8)
    want[1:4] += zv[:3]
    want[2:5] += zv[1:4]
    want[6:] += zv[:2]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(expected, want)
    assert th.explain(f).fired["increment_of_zero_region"] == 2


# --- kernel inlining (codegen/program/inlining.py) -------------------------------------------------


def _kernels(steps):
    return [s for s in flat_steps(steps) if isinstance(s, ElementwiseKernel) and s.exprs]


def test_a_sum_read_in_slices_is_computed_inside_the_kernel_that_reads_them():
    a, b = th.tensor("a", "float64", (None, 8)), th.tensor("b", "float64", (None, 8))
    z = a * 2 + b  # one kernel; its slices feed another: the sum is never stored
    out = th.sigmoid(z[:, :4]) * th.tanh(z[:, 4:])
    av, bv = R.standard_normal((5, 8)), R.standard_normal((5, 8))
    got, expected, f = _both([a, b], out, [av, bv])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    (kernel,) = _kernels(_program(f).steps)
    assert kernel.shape[1:] == (4,)
    with pytest.raises(ValueError):  # the sum's own shape check stays
        f(av, bv[:4])


@pytest.mark.parametrize("threads", [1, 2])
def test_an_lstm_step_is_a_product_and_one_kernel_and_its_gradient_copies_nothing(threads):
    units = 4
    x = th.tensor("x", "float64", (None, 3, 5))
    kernel = th.shared(R.standard_normal((5, 4 * units)) * 0.3)
    recurrent = th.shared(R.standard_normal((units, 4 * units)) * 0.3)

    def step(x_t, h, c):
        z = x_t @ kernel + h @ recurrent
        i, f = th.sigmoid(z[:, :units]), th.sigmoid(z[:, units:2 * units])
        g, o = th.tanh(z[:, 2 * units:3 * units]), th.sigmoid(z[:, 3 * units:])
        c_new = f * c + i * g
        return o * th.tanh(c_new), c_new

    zeros = th.zeros((3, units), "float64")
    (hs, _), _ = th.scan(step, sequences=x, outputs_info=[zeros, zeros])
    cost = (hs ** 2).mean()
    outputs = [cost, *th.grad(cost, [kernel, recurrent, x])]
    got, expected, f = _both([x], outputs, [R.standard_normal((6, 3, 5))], threads)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-13)
    forward, backward = [s for s in _program(f).steps if isinstance(s, LoopStep)]
    assert [type(s).__name__ for s in forward.body] == ["GemmCall", "ElementwiseKernel"]
    assert [type(s).__name__ for s in backward.body].count("GemmCall") == 2  # dh, and (per step) dx
    assert not any("second" in str(s.node.op) for s in backward.body)  # dz's zero fill: overwritten whole
    assert not [s for s in backward.body if isinstance(s, ElementwiseKernel) and len(s.inputs) == 1
                and s.exprs == (Arg(0, s.exprs[0].dtype),)]


def test_a_program_writing_into_a_buffer_nobody_made_is_refused():
    a = th.tensor("a", "float64", (None,))
    program = _program(th.function([a], th.exp(a) + 1, backend="llvm"))
    (kernel,) = program.steps
    broken = dataclasses.replace(program, steps=[dataclasses.replace(kernel, reuses=kernel.outputs)])
    with pytest.raises(RuntimeError, match="no earlier step made"):
        check_allocated(broken)
    check_allocated(program)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_zero_fill_that_pieces_do_not_cover_whole_stays(threads):
    x = th.tensor("x", "float64", (None, 3, 5))
    w = th.shared(R.standard_normal((5, 8)) * 0.3)

    def step(x_t, h):
        z = x_t @ w + th.concatenate([h, h, h, h], axis=1)
        return th.tanh(z[:, :2]) * th.sigmoid(z[:, 6:]) + z[:, 2:4] * 0.5  # z[:, 4:6] unused: its gradient is 0

    (hs, _) = th.scan(step, sequences=x, outputs_info=th.zeros((3, 2), "float64"))
    grads = th.grad((hs ** 2).sum(), [w, x])
    got, expected, _ = _both([x], grads, [R.standard_normal((4, 3, 5))], threads)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("threads", [1, 2])
def test_products_read_a_reshaped_buffer_in_place(threads):
    a = th.tensor("a", "float64", (2, 3, 4))  # (static: a shape naming the matrix's rows keeps the copy)
    b = th.tensor("b", "float64", (6, 5))
    w = th.shared(R.standard_normal((4, 6)))
    rows = a.reshape((-1, 4))  # the matrix of a's leading axes by its last: read in place, no copy
    outputs = [rows @ w, rows.T @ b]
    values = [R.standard_normal((2, 3, 4)), R.standard_normal((6, 5))]
    got, expected, f = _both([a, b], outputs, values, threads)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-12)
    program = _program(f)
    assert not any(isinstance(s, ElementwiseKernel) and s.outputs for s in program.steps)
    products = [s for s in program.steps if isinstance(s, GemmCall)]
    assert [(s.a.buffer, len(program.buffers[s.a.buffer].shape)) for s in products] == [(0, 3), (0, 3)]
    flipped = values[0][:, ::-1].copy()
    np.testing.assert_allclose(f(flipped, values[1])[0], flipped.reshape(-1, 4) @ w.get_value())


def test_a_reshaped_buffer_read_elsewhere_too_is_still_copied():
    a = th.tensor("a", "float64", (None, 3, 4))
    w = th.tensor("w", "float64", (4, 2))
    rows = th.exp(a).reshape((-1, 4))
    got, expected, f = _both([a, w], [rows @ w, rows * 2.0], [R.standard_normal((2, 3, 4)), R.standard_normal((4, 2))])
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-12)


def test_a_producer_does_not_allocate_a_target_sized_by_a_value_it_computes():
    """A loop's first value and its length come from one kernel (float16 inputs cast to float32):
    the history the first value would be forwarded into is sized by that length, which the runner
    must know before the kernel runs, so the copy stays (it read an unallocated buffer before)."""
    start, limit, delta = (th.tensor(n, "float16", ()) for n in ("start", "limit", "delta"))
    first, step = th.cast(start, "float32"), th.cast(delta, "float32")
    count = th.cast(th.relu(th.ceil((th.cast(limit, "float32") - first) / step)), "int64")
    values, _ = th.scan(lambda previous: previous + step, outputs_info=first, n_steps=count)
    f = th.function([start, limit, delta], values)
    args = (np.float16(1), np.float16(6), np.float16(2))
    np.testing.assert_array_equal(f(*args), th.function([start, limit, delta], values, backend="numpy")(*args))
    assert f(*args).tolist() == [3.0, 5.0, 7.0]
