"""Broadcast fills simplified, reductions of broadcast constants, shapes from infer_shape,
and sibling fusion (two elementwise readers of one input become one two-output kernel)."""

import numpy as np

import theanine as th
from theanine.graph.basic import apply_nodes
from theanine.graph.ops.composite import Composite
from theanine.graph.ops.elemwise import Elemwise
from theanine.graph.ops.linalg import MatMul
from theanine.graph.ops.reduce import Reduce
from theanine.graph.ops.shape import ShapeI

RNG = np.random.default_rng(21)
X = th.matrix("x", dtype="float32")
XV = RNG.normal(size=(3, 4)).astype("float32")


def _ops(f):
    return [n.op for n in apply_nodes(f.optimized_outputs)]


def test_sum_of_a_broadcast_constant_is_the_constant_times_the_count(fast_run_check):
    outputs = [th.sum(th.ones_like(X) * 3.0), th.sum(th.full_like(X, 2.0), axis=1)]
    fired = ["sum_of_broadcast", "constant_fill_through_elemwise"]
    for f in fast_run_check([X], outputs, [XV], fired):
        assert not any(isinstance(op, Reduce) for op in _ops(f)), _ops(f)


def test_added_zeros_only_broadcast(fast_run_check):
    v = th.vector("v", dtype="float32")
    out = th.exp(th.zeros_like(X) + v)
    (f, _) = fast_run_check([X, v], [out], [XV, XV[0]], ["add_broadcast_zeros"])
    assert not any(isinstance(op, Elemwise) and op.scalar_op.name == "add" for op in _ops(f))


def test_a_fill_whose_shape_comes_from_the_other_operand_is_dropped(fast_run_check):
    grad = th.grad(th.sum(X**2), X)  # second(x ** 2, 2.0) * x before the rewrite
    (f, _) = fast_run_check([X], [grad * 1.5], [XV], ["redundant_fill_operand"])
    (node,) = [n for n in apply_nodes(f.optimized_outputs) if isinstance(n.op, Elemwise)]
    assert "square" not in str(node.op)


def test_sizes_of_non_elementwise_results_come_from_their_inputs(fast_run_check):
    w = th.matrix("w", dtype="float32")
    product = X @ w
    outputs = [th.cast(product.shape[0] * product.shape[1], "float32"), th.sum(X, axis=0).shape[0]]
    for f in fast_run_check([X, w], outputs, [XV, XV.T.copy()], ["shape_i_from_inputs"]):
        assert not any(isinstance(op, (MatMul, Reduce)) for op in _ops(f)), _ops(f)
        assert all(n.inputs[0] in (X, w) for n in apply_nodes(f.optimized_outputs) if isinstance(n.op, ShapeI))


def test_independent_readers_of_one_input_become_one_kernel(fast_run_check):
    w = th.matrix("w", dtype="float32")
    product = X @ w
    first, second = th.exp(product) * 2.0, th.log(th.abs(product)) + 1.0
    outputs = [th.sum(first, axis=0), th.max(second, axis=1)]
    (f, _) = fast_run_check([X, w], outputs, [XV, XV.T.copy()], ["sibling_fusion"])
    (kernel,) = [n for n in apply_nodes(f.optimized_outputs) if isinstance(n.op, Elemwise)]
    assert isinstance(kernel.op.scalar_op, Composite) and len(kernel.outputs) == 2


def test_dependent_or_differently_shaped_readers_stay_apart():
    v = th.vector("v", dtype="float32")
    relu = th.relu(X * 2.0)
    dependent = th.where(X > 0, th.sum(relu, axis=0), 0.0)  # reads X and, through a sum, relu
    column = th.exp(X[:, :1]) + v[:1]
    f = th.function([X, v], [relu, dependent, column, X * 3.0 + v], backend="numpy")
    owners = [out.owner for out in f.optimized_outputs]
    assert owners[3] in (owners[0], owners[1])  # 3x + v joins one of the independent readers of x
    assert owners[1] is not owners[0] and owners[2] not in (owners[0], owners[1])
    expected = th.function([X, v], [relu, dependent, column, X * 3.0 + v], mode="none", backend="numpy")
    for got, want in zip(f(XV, XV[0]), expected(XV, XV[0]), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_siblings_sharing_only_a_broadcast_input_stay_apart(backend):
    """a * s and b * s with s of static shape (1, 1): a and b may have any shapes, so the products
    are not one loop (fusing them made one Composite that refused (2, 3) and (3, 4))."""
    a, b = th.tensor("a", "float32", (None, None)), th.tensor("b", "float32", (None, None))
    s = th.tensor("s", "float32", (1, 1))
    f = th.function([a, b, s], [a * s, b * s], backend=backend)
    x, y, scale = np.ones((2, 3), "float32"), np.full((3, 4), 2, "float32"), np.full((1, 1), 3, "float32")
    first, second = f(x, y, scale)
    np.testing.assert_array_equal(first, x * 3)
    np.testing.assert_array_equal(second, y * 3)


def test_the_shape_of_a_reshape_whose_sizes_fold_to_constants(backend):
    """A reshape made with run-time sizes (its type has no static dims) whose size vector the
    rewrites fold to constants: its shape is those sizes (it was read as -1, the 'infer' marker)."""
    x = th.tensor("x", "float32", (3, 4, 2, 2))
    k = th.as_tensor_variable(np.array([3, 2, 2, 2, 2], "int64"))
    sizes = th.concatenate([th.reshape(th.where(th.eq(k[i], 0), x.shape[min(i, 3)], k[i]), (1,)) for i in range(5)])
    y = th.reshape(x, sizes)
    assert y.type.shape == (None,) * 5
    f = th.function([x], [y.shape[0], y.shape[1], th.reshape(y, (y.shape[0], 2, -1))], backend=backend)
    rows, groups, regrouped = f(np.arange(48, dtype="float32").reshape(3, 4, 2, 2))
    assert (rows, groups) == (3, 2)
    np.testing.assert_array_equal(regrouped, np.arange(48, dtype="float32").reshape(3, 2, 8))
