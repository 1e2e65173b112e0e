"""Specialize: matmul plus a scaled addend -> Gemm/Gemv; sums of products -> MatMul."""

import numpy as np
import pytest

import theanine as th
from theanine.graph.basic import apply_nodes
from theanine.graph.ops.blas import Gemm, Gemv
from theanine.graph.ops.linalg import MatMul
from theanine.graph.ops.reduce import Reduce

RNG = np.random.default_rng(5)


def f32(*shape):
    return RNG.normal(size=shape).astype("float32")


def _ops(f, kind):
    return [n.op for n in apply_nodes(f.optimized_outputs) if isinstance(n.op, kind)]


def test_bias_add_becomes_one_gemm(fast_run_check):
    x, w, b = th.matrix("x", dtype="float32"), th.matrix("w", dtype="float32"), th.vector("b", dtype="float32")
    for f in fast_run_check([x, w, b], [x @ w + b], [f32(5, 3), f32(3, 4), f32(4)], ["matmul_plus_to_gemm"]):
        (gemm,) = _ops(f, Gemm)
        assert (gemm.alpha, gemm.beta) == (1.0, 1.0) and not _ops(f, MatMul)


def test_sgd_step_becomes_gemm_with_negative_learning_rate(fast_run_check):
    w, a, g = (th.matrix(n, dtype="float32") for n in ("w", "a", "g"))
    out = w - 0.1 * (a.T @ g)
    (f, _) = fast_run_check([w, a, g], [out], [f32(3, 4), f32(6, 3), f32(6, 4)], ["matmul_plus_to_gemm"])
    (gemm,) = _ops(f, Gemm)
    assert gemm.alpha == pytest.approx(-0.1) and gemm.beta == 1.0


def test_scaled_addend_and_reversed_difference(fast_run_check):
    c, a, b = (th.matrix(n, dtype="float64") for n in ("c", "a", "b"))
    values = [RNG.normal(size=(2, 3)), RNG.normal(size=(2, 5)), RNG.normal(size=(5, 3))]
    (f, _) = fast_run_check([c, a, b], [a @ b - 2.0 * c], values, ["matmul_plus_to_gemm"], rtol=1e-12)
    (gemm,) = _ops(f, Gemm)
    assert (gemm.alpha, gemm.beta) == (1.0, -2.0)


@pytest.mark.parametrize("vector_first", [False, True])
def test_matrix_vector_products_plus_addend_become_gemv(fast_run_check, vector_first):
    a, v, y = th.matrix("a", dtype="float64"), th.vector("v", dtype="float64"), th.vector("y", dtype="float64")
    product = v @ a if vector_first else a @ v
    values = [RNG.normal(size=(4, 4)), RNG.normal(size=4), RNG.normal(size=4)]
    for f in fast_run_check([a, v, y], [y + 3.0 * product], values, ["matmul_plus_to_gemm"], rtol=1e-12):
        (gemv,) = _ops(f, Gemv)
        assert (gemv.alpha, gemv.beta) == (3.0, 1.0)


def test_a_product_with_another_reader_is_not_fused():
    x, w, b = th.matrix("x", dtype="float32"), th.matrix("w", dtype="float32"), th.vector("b", dtype="float32")
    product = x @ w
    f = th.function([x, w, b], [product + b, product * 2.0], backend="numpy")
    assert len(_ops(f, MatMul)) == 1 and not _ops(f, Gemm)


def test_mixed_dtypes_and_integers_are_left_alone():
    x, w = th.matrix("x", dtype="float32"), th.matrix("w", dtype="float32")
    b64 = th.vector("b", dtype="float64")
    i, j = th.matrix("i", dtype="int32"), th.matrix("j", dtype="int32")
    assert not _ops(th.function([x, w, b64], x @ w + b64, backend="numpy"), Gemm)
    assert not _ops(th.function([i, j], i @ j + 1, backend="numpy"), Gemm)


def test_sum_of_broadcast_products_becomes_a_matmul(fast_run_check):
    a, b = th.matrix("a", dtype="float64"), th.matrix("b", dtype="float64")
    out = th.sum(a.dimshuffle(0, 1, "x") * b.dimshuffle("x", 0, 1), axis=1)
    values = [RNG.normal(size=(3, 4)), RNG.normal(size=(4, 5))]
    for f in fast_run_check([a, b], [out], values, ["sum_of_products_to_dot"], rtol=1e-12):
        assert _ops(f, MatMul) and not _ops(f, Reduce)


def test_transposed_operands_and_matrix_vector_sums(fast_run_check):
    a, b, v = th.matrix("a", dtype="float64"), th.matrix("b", dtype="float64"), th.vector("v", dtype="float64")
    out = th.sum(b.dimshuffle("x", 1, 0) * a.dimshuffle(1, 0, "x"), axis=1)  # a.T @ b.T
    rows = th.sum(a * v, axis=0)  # v @ a
    values = [RNG.normal(size=(4, 3)), RNG.normal(size=(5, 4)), RNG.normal(size=3)]
    fast_run_check([a, b, v], [out, rows], values, ["sum_of_products_to_dot"], rtol=1e-12)


def test_elementwise_products_and_vector_dots_stay_reductions():
    a, b = th.matrix("a", dtype="float64"), th.matrix("b", dtype="float64")
    x, y = th.vector("x", dtype="float64"), th.vector("y", dtype="float64")
    f = th.function([a, b, x, y], [th.sum(a * b, axis=1), th.sum(x * y)], backend="numpy")
    assert f.rewrite_report.fired.get("sum_of_products_to_dot", 0) == 0


def test_gradient_of_a_dense_layer_uses_gemm(fast_run_check):
    x, w, b = th.matrix("x", dtype="float64"), th.matrix("w", dtype="float64"), th.vector("b", dtype="float64")
    loss = th.sum(th.tanh(x @ w + b) ** 2)
    gw, gb = th.grad(loss, [w, b])
    values = [RNG.normal(size=(5, 3)), RNG.normal(size=(3, 4)), RNG.normal(size=4)]
    fast_run_check([x, w, b], [w - 0.5 * gw, gb], values, ["matmul_plus_to_gemm"], rtol=1e-10)


@pytest.mark.parametrize("op", [Gemm(0.5, 2.0), Gemv(-1.5, 0.5)], ids=str)
def test_forward_mode_matches_the_unfused_formula(op):
    a = th.matrix("a", dtype="float64")
    b = th.matrix("b", dtype="float64") if isinstance(op, Gemm) else th.vector("b", dtype="float64")
    c = th.tensor("c", dtype="float64", shape=(None,) * b.ndim)
    da, db, dc = (th.tensor(f"d{v.name}", dtype="float64", shape=(None,) * v.ndim) for v in (a, b, c))
    fused = th.Rop(op(c, a, b), [c, a, b], [dc, da, db])
    plain = th.Rop(op.alpha * (a @ b) + op.beta * c, [c, a, b], [dc, da, db])
    shapes = {a: (3, 4), b: (4, 2) if b.ndim == 2 else (4,), c: (3, 2) if b.ndim == 2 else (3,)}
    values = [RNG.normal(size=shapes[v]) for v in (c, a, b)] * 2
    variables = [c, a, b, dc, da, db]
    got = th.function(variables, fused, backend="numpy")(*values)
    np.testing.assert_allclose(got, th.function(variables, plain, backend="numpy")(*values), rtol=1e-12)


def test_gemm_checks_its_operands():
    a, b = th.matrix("a", dtype="float32"), th.tensor("b", dtype="float32", shape=(5, 2))
    with pytest.raises(ValueError, match=r"not aligned: dimension 1 of A \(4\) != dimension 0 of B \(5\)"):
        Gemm()(th.matrix("c", dtype="float32"), th.tensor("a", dtype="float32", shape=(3, 4)), b)
    with pytest.raises(TypeError, match="C must be a float32 tensor"):
        Gemm()(th.matrix("c", dtype="float64"), a, a)
    with pytest.raises(ValueError, match="inplace product writes into C"):
        Gemm(inplace=True)(th.vector("c", dtype="float32"), a, a)
    with pytest.raises(TypeError, match="alpha must be a Python float"):
        Gemm("1")
    c = th.matrix("c", dtype="float32")
    f = th.function([c, a], Gemm()(c, a, a.T), backend="numpy")
    with pytest.raises(ValueError, match="does not match the product's shape"):
        f(np.zeros((2, 2), "float32"), np.zeros((3, 4), "float32"))
