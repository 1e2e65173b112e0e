"""th.scan and its family: Theano-style loop programs against NumPy loops, under every backend,
with their gradients (finite differences), shapes and errors."""

import numpy as np
import pytest

import theanine as th
from theanine.graph.ops.scan_op import Scan

R = np.random.default_rng(7)


def _f64(name, shape):
    return th.tensor(name, "float64", shape)


def _run(inputs, outputs, values, backend, updates=None):
    return th.function(inputs, outputs, updates=updates, backend=backend)(*values)


# ------------------------------------------------------------------------------ programs


def _powers(A, k):
    def step(previous, A):
        return previous * A

    result, _ = th.scan(step, outputs_info=th.ones_like(A), non_sequences=A, n_steps=k)
    return result


def test_powers_of_a_vector(backend):
    A, k = _f64("A", (None,)), th.scalar("k", "int64")
    a = R.uniform(0.5, 1.5, 4)
    got = _run([A, k], _powers(A, k), [a, 5], backend)
    np.testing.assert_allclose(got, np.stack([a ** p for p in range(1, 6)]))
    got_last = _run([A, k], _powers(A, k)[-1], [a, 5], backend)
    np.testing.assert_allclose(got_last, a ** 5)


def test_powers_gradient():
    th.verify_grad(lambda a: _powers(a, 4)[-1], [R.uniform(0.5, 1.5, 3)])


def _polynomial(coefficients, x):
    def term(c, power, x):
        return c * x ** power

    terms, _ = th.scan(term, sequences=[coefficients, th.arange(1000, dtype="float64")], non_sequences=x)
    return terms.sum()


def test_polynomial_evaluation(backend):
    c, x = _f64("c", (None,)), th.scalar("x", "float64")
    coefficients = np.array([1.0, 0.0, 2.0, -1.5])
    got = _run([c, x], _polynomial(c, x), [coefficients, 3.0], backend)
    np.testing.assert_allclose(got, np.polyval(coefficients[::-1], 3.0))
    th.verify_grad(lambda c, x: _polynomial(c, x), [coefficients, np.array(1.7)])


def _running_sums(x):
    """y[t] = x[t-2] + x[t] + 0.5 y[t-1] - 0.25 y[t-3]: sequence and output taps."""

    def step(x_before, x_now, y1, y3):
        return x_before + x_now + 0.5 * y1 - 0.25 * y3

    init = th.zeros((3,), "float64")
    ys, _ = th.scan(step, sequences=dict(input=x, taps=[-2, 0]), outputs_info=dict(initial=init, taps=[-1, -3]))
    return ys


def _running_sums_numpy(x):
    ys = [0.0, 0.0, 0.0]
    for t in range(len(x) - 2):
        ys.append(x[t] + x[t + 2] + 0.5 * ys[-1] - 0.25 * ys[-3])
    return np.array(ys[3:])


def test_running_sums_with_taps(backend):
    x = _f64("x", (None,))
    values = R.standard_normal(9)
    np.testing.assert_allclose(_run([x], _running_sums(x), [values], backend), _running_sums_numpy(values))
    th.verify_grad(_running_sums, [values])


def test_initial_taps_are_read_from_the_initial_buffer(backend):
    init = _f64("init", (2,))

    def step(y2, y1):
        return y1 + y2

    fib, _ = th.scan(step, outputs_info=dict(initial=init, taps=[-2, -1]), n_steps=6)
    got = _run([init], fib, [np.array([1.0, 1.0])], backend)
    np.testing.assert_allclose(got, [2, 3, 5, 8, 13, 21])
    th.verify_grad(lambda i: th.scan(step, outputs_info=dict(initial=i, taps=[-2, -1]), n_steps=6)[0],
                   [np.array([0.3, 0.7])])


def _gibbs_like(W, v0, steps, rng):
    """A chain of binary samples: h ~ Bernoulli(sigmoid(v W)), v ~ Bernoulli(sigmoid(h W^T))."""

    def step(v, W):
        h = rng.bernoulli(size=(W.shape[1],), p=th.sigmoid(v @ W), dtype="float64")
        p_v = th.sigmoid(h @ W.T)
        return rng.bernoulli(size=(W.shape[0],), p=p_v, dtype="float64"), p_v

    (vs, probabilities), updates = th.scan(step, outputs_info=[v0, None], non_sequences=W, n_steps=steps)
    return vs, probabilities, updates


def test_gibbs_like_chain_advances_its_generators(backend):
    W, v0 = _f64("W", (4, 3)), _f64("v0", (4,))
    rng = th.random.RandomStream(11)
    vs, _, updates = _gibbs_like(W, v0, 5, rng)
    assert len(updates) == 2
    f = th.function([W, v0], vs, updates=updates, backend=backend)
    weights, start = R.standard_normal((4, 3)), (R.uniform(size=4) > 0.5).astype("float64")
    first, second = f(weights, start), f(weights, start)
    assert first.shape == (5, 4) and set(np.unique(first)) <= {0.0, 1.0}
    assert not np.array_equal(first, second)
    rng.reseed(11)
    np.testing.assert_array_equal(f(weights, start), first)


def test_random_draws_follow_the_generator_without_updates_argument(backend):
    rng = th.random.RandomStream(3)

    def step(v):
        return v + rng.normal(size=(2,), dtype="float64")

    walk, updates = th.scan(step, outputs_info=th.zeros((2,), "float64"), n_steps=4)
    f = th.function([], walk, backend=backend)
    a, b = f(), f()
    assert not np.allclose(a, b)
    (state,) = updates
    assert state.default_update is updates[state]


def test_gibbs_gradient_treats_samples_as_constants():
    rng = th.random.RandomStream(2)
    W, v0 = _f64("W", (4, 3)), _f64("v0", (4,))
    _, probabilities, updates = _gibbs_like(W, v0, 3, rng)
    g = th.grad(probabilities.sum(), W)
    f = th.function([W, v0], g, backend="numpy")
    assert f(R.standard_normal((4, 3)), np.ones(4)).shape == (4, 3)


def _collatz_like(a):
    def step(v):
        return v * 1.5, th.until(v * 1.5 > 20.0)

    values, _ = th.scan(step, outputs_info=a, n_steps=100)
    return values


def test_while_loop_stops_at_until(backend):
    a = th.scalar("a", "float64")
    got = _run([a], _collatz_like(a), [2.0], backend)
    expected, v = [], 2.0
    while True:
        v *= 1.5
        expected.append(v)
        if v > 20.0:
            break
    np.testing.assert_allclose(got, expected)
    th.verify_grad(lambda a: _collatz_like(a), [np.array(2.0)])


def test_while_loop_respects_n_steps_as_maximum(backend):
    a = th.scalar("a", "float64")
    values, _ = th.scan(lambda v: (v + 1.0, th.until(v > 1e9)), outputs_info=a, n_steps=4)
    np.testing.assert_allclose(_run([a], values, [0.0], backend), [1, 2, 3, 4])


def test_rnn_matches_numpy_and_its_gradient(backend):
    x, h0, W, U = _f64("x", (None, None, 3)), _f64("h0", (None, 4)), _f64("W", (3, 4)), _f64("U", (4, 4))

    def step(x_t, h, W, U):
        return th.tanh(x_t @ W + h @ U)

    hs, _ = th.scan(step, sequences=x, outputs_info=h0, non_sequences=[W, U])
    values = [R.standard_normal((5, 2, 3)), R.standard_normal((2, 4)), R.standard_normal((3, 4)),
              R.standard_normal((4, 4)) * 0.4]
    h, expected = values[1], []
    for t in range(5):
        h = np.tanh(values[0][t] @ values[2] + h @ values[3])
        expected.append(h)
    np.testing.assert_allclose(_run([x, h0, W, U], hs, values, backend), np.stack(expected), rtol=1e-12)
    th.verify_grad(lambda x, h, W, U: th.scan(step, sequences=x, outputs_info=h, non_sequences=[W, U])[0],
                   values, backend=backend)


def test_several_outputs_mapped_and_recurrent(backend):
    x = _f64("x", (None,))

    def step(x_t, total):
        return x_t * 2.0, total + x_t

    (doubled, totals), _ = th.scan(step, sequences=x, outputs_info=[None, th.constant(0.0, "float64")])
    values = R.standard_normal(6)
    got = _run([x], [doubled, totals], [values], backend)
    np.testing.assert_allclose(got[0], values * 2)
    np.testing.assert_allclose(got[1], np.cumsum(values))
    th.verify_grad(lambda x: th.scan(lambda v, t: (v * v, t * 0.5 + v), sequences=x,
                                     outputs_info=[None, th.constant(0.0, "float64")])[0][0] * 3.0
                   + th.scan(lambda v, t: t * 0.5 + v * v, sequences=x, outputs_info=th.constant(1.0, "float64"))[0],
                   [values])


def test_shared_variable_read_inside_the_step(backend):
    scale = th.shared(np.array(3.0), name="scale")
    x = _f64("x", (None,))
    out, _ = th.scan(lambda v: v * scale, sequences=x)
    np.testing.assert_allclose(_run([x], out, [np.arange(3.0)], backend), [0, 3, 6])
    scale.set_value(np.array(-1.0))
    np.testing.assert_allclose(_run([x], out, [np.arange(3.0)], backend), [0, -1, -2])


def test_updates_returned_by_the_step():
    counter = th.shared(np.array(0.0), name="counter")
    x = _f64("x", (None,))
    out, updates = th.scan(lambda v: (v + counter, {counter: counter + 1.0}), sequences=x)
    f = th.function([x], out, updates=updates)
    np.testing.assert_allclose(f(np.zeros(4)), [0, 1, 2, 3])
    assert counter.get_value() == 4.0


def test_go_backwards_reads_from_the_end(backend):
    x = _f64("x", (None,))
    out, _ = th.scan(lambda v, acc: acc * 10 + v, sequences=x, outputs_info=th.constant(0.0, "float64"),
                     go_backwards=True)
    np.testing.assert_allclose(_run([x], out, [np.array([1.0, 2.0, 3.0])], backend), [3, 32, 321])
    th.verify_grad(lambda x: th.scan(lambda v, acc: acc * th.tanh(v) + v, sequences=x,
                                     outputs_info=th.constant(0.5, "float64"), go_backwards=True)[0],
                   [R.standard_normal(4)])


def test_map_reduce_foldl_foldr(backend):
    x = _f64("x", (None,))
    values = np.array([1.0, 2.0, 3.0, 4.0])
    squares, _ = th.map(lambda v: v * v, sequences=x)
    total, _ = th.reduce(lambda v, acc: acc + v, sequences=x, outputs_info=th.constant(0.0, "float64"))
    left, _ = th.foldl(lambda v, acc: acc * 2 + v, sequences=x, outputs_info=th.constant(0.0, "float64"))
    right, _ = th.foldr(lambda v, acc: acc * 2 + v, sequences=x, outputs_info=th.constant(0.0, "float64"))
    got = _run([x], [squares, total, left, right], [values], backend)
    np.testing.assert_allclose(got[0], values ** 2)
    assert got[1] == 10.0 and got[2] == 26.0 and got[3] == 49.0
    th.verify_grad(lambda x: th.foldr(lambda v, acc: acc * v + th.sin(v), sequences=x,
                                      outputs_info=th.constant(1.0, "float64"))[0], [values * 0.3])
    th.verify_grad(lambda x: th.map(lambda v: th.exp(v) * v, sequences=x)[0], [values * 0.3])


def test_n_steps_shorter_than_the_sequences_reads_a_prefix(backend):
    x = _f64("x", (None,))
    out, _ = th.scan(lambda v: v + 1.0, sequences=x, n_steps=2)
    np.testing.assert_allclose(_run([x], out, [np.arange(5.0)], backend), [1, 2])
    th.verify_grad(lambda x: th.scan(lambda v: v * v, sequences=x, n_steps=2)[0], [np.arange(5.0)])


def test_truncated_gradient_stops_after_k_steps():
    x, h0 = _f64("x", (None,)), th.scalar("h0", "float64")
    hs, _ = th.scan(lambda v, h: 0.5 * h + v, sequences=x, outputs_info=h0, truncate_gradient=2)
    gx, gh = th.function([x, h0], th.grad(hs[-1], [x, h0]))(np.ones(5), 1.0)
    np.testing.assert_allclose(gx, [0, 0, 0, 0.5, 1.0])
    assert gh == 0.0


def test_scan_of_zero_steps(backend):
    x = _f64("x", (None, 2))
    out, _ = th.scan(lambda v: v * 2, sequences=x)
    assert _run([x], out, [np.zeros((0, 2))], backend).shape == (0, 2)


# ------------------------------------------------------------------------------ higher order


def _rnn_last(x, h, W):
    hs, _ = th.scan(lambda x_t, h, W: th.tanh(x_t + h @ W), sequences=x, outputs_info=h, non_sequences=W)
    return hs[-1]


def test_hessian_of_a_scan_output():
    x, h0, W = _f64("x", (4, 3)), _f64("h0", (3,)), _f64("W", (3, 3))
    values = [R.standard_normal((4, 3)), R.standard_normal(3), R.standard_normal((3, 3)) * 0.5]
    hessian = th.function([x, h0, W], th.hessian((_rnn_last(x, h0, W) ** 2).sum(), h0))(*values)
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-12)
    th.verify_grad(lambda x, h, W: th.grad((_rnn_last(x, h, W) ** 2).sum(), h), values)


def test_rop_and_lop_of_a_scan():
    x, h0, W = _f64("x", (4, 3)), _f64("h0", (3,)), _f64("W", (3, 3))
    values = [R.standard_normal((4, 3)), R.standard_normal(3), R.standard_normal((3, 3)) * 0.5]
    direction, weights = R.standard_normal((3, 3)), R.standard_normal(3)
    v, u = _f64("v", (3, 3)), _f64("u", (3,))
    out = _rnn_last(x, h0, W)
    jv, uj = th.function([x, h0, W, v, u], [th.Rop(out, W, v), th.Lop(out, W, u)])(*values, direction, weights)
    f = th.function([x, h0, W], out)
    eps = 1e-6
    numeric = (f(values[0], values[1], values[2] + eps * direction) -
               f(values[0], values[1], values[2] - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(jv, numeric, rtol=1e-6, atol=1e-8)
    assert np.isclose((uj * direction).sum(), weights @ jv)


def test_jacobian_and_hessian_of_run_time_sized_expressions():
    x, W = th.vector("x", "float64"), th.matrix("W", "float64")
    y = th.tanh(W @ x)
    J, H = th.function([x, W], [th.jacobian(y, x), th.hessian((y ** 2).sum(), x)])(np.ones(3), np.eye(4, 3))
    expected = (1 - np.tanh(np.eye(4, 3) @ np.ones(3)) ** 2)[:, None] * np.eye(4, 3)
    np.testing.assert_allclose(J, expected)
    np.testing.assert_allclose(H, H.T)
    assert any(isinstance(v.owner.op, Scan) for v in th.graph.basic.ancestors([th.jacobian(y, x)]) if v.owner)


# ------------------------------------------------------------------------------ errors and structure


def test_step_returning_another_dtype_is_a_type_error_naming_both():
    with pytest.raises(TypeError, match=r"output 0 of the step has type float32\(3,\).*float64\(3,\)"):
        th.scan(lambda h: th.cast(h, "float32"), outputs_info=th.zeros((3,), "float64"), n_steps=2)


def test_step_returning_another_shape_is_a_type_error():
    with pytest.raises(TypeError, match=r"output 0 of the step has type float64\(4,\).*float64\(3,\)"):
        th.scan(lambda h: th.concatenate([h, h[:1]]), outputs_info=th.zeros((3,), "float64"), n_steps=2)


def test_n_steps_longer_than_a_sequence_names_both_numbers():
    with pytest.raises(ValueError, match=r"n_steps=5 but sequences\[0\] has only 3 step"):
        th.scan(lambda v: v, sequences=th.constant(np.zeros(3)), n_steps=5)
    x, n = _f64("x", (None,)), th.scalar("n", "int64")
    out, _ = th.scan(lambda v: v, sequences=x, n_steps=n)
    f = th.function([x, n], out)
    with pytest.raises(ValueError, match=r"n_steps=5 but sequence 0 has only 3 step"):
        f(np.zeros(3), 5)


def test_step_changing_shape_at_run_time_is_reported():
    x = _f64("x", (None,))
    out, _ = th.scan(lambda h: th.concatenate([h, h])[: th.shape(h)[0] + 1], outputs_info=x, n_steps=2)
    with pytest.raises(ValueError, match="recurrent output 0 of shape"):
        th.function([x], out, mode="none")(np.zeros(2))


def test_output_count_must_match_outputs_info():
    with pytest.raises(ValueError, match="returned 2 output"):
        th.scan(lambda h: [h, h], outputs_info=[th.zeros((2,))], n_steps=1)


def test_scan_needs_sequences_or_n_steps():
    with pytest.raises(ValueError, match="give sequences or n_steps"):
        th.scan(lambda h: h, outputs_info=th.zeros((2,)))


def test_strict_rejects_variables_not_passed():
    W = _f64("W", (2,))
    with pytest.raises(ValueError, match="strict=True"):
        th.scan(lambda h: h * W, outputs_info=th.zeros((2,), "float64"), n_steps=2, strict=True)
    th.scan(lambda h, W: h * W, outputs_info=th.zeros((2,), "float64"), non_sequences=W, n_steps=2, strict=True)


def test_step_is_an_inner_graph_printed_by_debugprint():
    x = _f64("x", (None,))
    out, _ = th.scan(lambda v: th.exp(v), sequences=x, name="expo")
    text = th.debugprint(out, file="str")
    assert "Scan{expo}" in text and "Inner graphs" in text and "Elemwise{exp}" in text


def test_equal_steps_give_equal_ops():
    x = _f64("x", (None,))
    first, _ = th.scan(lambda v: v * 2.0, sequences=x)
    second, _ = th.scan(lambda v: v * 2.0, sequences=x)
    third, _ = th.scan(lambda v: v * 3.0, sequences=x)
    assert first.owner.op == second.owner.op and first.owner.op != third.owner.op


def test_test_values_flow_into_the_step():
    with th.config.context(compute_test_value="raise"):
        x, init = _f64("x", (None, 3)), _f64("init", (2,))
        x.tag.test_value, init.tag.test_value = np.ones((4, 3)), np.array([1.0, 1.0])
        hs, _ = th.scan(lambda v, h: th.tanh(v + h), sequences=x, outputs_info=th.zeros((3,), "float64"))
        fib, _ = th.scan(lambda a, b: a + b, outputs_info=dict(initial=init, taps=[-2, -1]), n_steps=3)
    assert hs.tag.test_value.shape == (4, 3)
    np.testing.assert_array_equal(fib.tag.test_value, [2.0, 3.0, 5.0])
