"""Indexing: shapes (static, symbolic) vs NumPy, errors, symbolic indices, updates, gradients."""

import numpy as np
import pytest

import theanine as th
from theanine.graph.ops.subtensor import AdvancedSubtensor, IncSubtensor, Subtensor

RNG = np.random.default_rng(3)
X_VALUE = RNG.standard_normal((3, 4, 5))
MASK = X_VALUE[:, :, 0] > 0

# Indices over a (3, 4, 5) tensor: every kind of entry and NumPy's placement rules.
INDICES = [
    (),
    1,
    -1,
    (0, 2),
    (2, -1, -5),
    slice(None),
    slice(1, None),
    slice(None, None, -1),
    slice(-2, 0, -1),
    slice(5, 1),
    (slice(None), slice(0, 4, 3)),
    (Ellipsis, 1),
    (None, 0, Ellipsis, None),
    (slice(None), None, slice(1, 3), Ellipsis),
    [0, 2, 2],
    [[0, 1], [2, 2]],
    (slice(None), [3, 0, 3]),
    (Ellipsis, [-1, 0]),
    ([0, 2], [1, 3]),
    ([0, 2], slice(None), [1, 3]),
    (1, slice(None), [0, 1]),
    (slice(None), 1, [0, 4]),
    ([0], Ellipsis, [0]),
    (slice(None), [0], Ellipsis, [0]),
    ([[0], [2]], [1, 3, 0]),
    ([0], None, [1]),
    (slice(1, None), [[1, 2]], None),
    [],
    (slice(None), []),
    MASK,
    (MASK, 0),
    (slice(None), MASK[0] | True),
    (1, MASK[0]),
]


def _symbolic_shape(node, x_shape_vars):
    index_shapes = [
        tuple(np.shape(v.data)) if isinstance(v, th.Constant) else None for v in node.inputs[1:]
    ]
    return node.op.infer_shape(node, [x_shape_vars] + index_shapes)[0]


@pytest.mark.parametrize("static", [True, False], ids=["static", "dynamic"])
@pytest.mark.parametrize("index", INDICES, ids=[f"i{k}" for k in range(len(INDICES))])
def test_value_and_shapes_match_numpy(index, static):
    x = th.tensor("x", "float64", X_VALUE.shape if static else (None,) * 3)
    y = x[index]
    expected = X_VALUE[index]
    got = th.function([x], y)(X_VALUE)
    np.testing.assert_array_equal(got, expected)
    assert len(y.type.shape) == expected.ndim
    assert all(s is None or s == e for s, e in zip(y.type.shape, expected.shape, strict=True))
    if static:
        assert y.type.shape == expected.shape
    dims = [th.scalar(f"n{i}", "int64") for i in range(3)]
    symbolic = _symbolic_shape(y.owner, tuple(dims))
    values = dict(zip(dims, X_VALUE.shape, strict=True))
    assert tuple(int(th.as_tensor(d).eval(values)) for d in symbolic) == expected.shape


def test_boolean_mask_input_has_unknown_static_size():
    x = th.matrix("x", dtype="float64", shape=(3, 4))
    m = th.matrix("m", dtype="bool", shape=(3, 4))
    y = x[m]
    assert isinstance(y.owner.op, AdvancedSubtensor) and y.type.shape == (None,)
    value = X_VALUE[:, :, 0]
    np.testing.assert_array_equal(th.function([x, m], y)(value, value > 0), value[value > 0])
    (n,) = y.owner.op.infer_shape(y.owner, [(3, 4), (3, 4)])[0]
    assert int(n.eval({m: value > 0})) == np.count_nonzero(value > 0)


@pytest.mark.parametrize(
    "start,stop,step",
    [
        (1, 5, 2),
        (-2, 100, 1),
        (-1, -100, -1),
        (4, -7, -2),
        (-10, 10, 3),
        (3, 1, 1),
        (0, 0, -1),
        (2, 0, -1),
    ],
)
def test_symbolic_slice_bounds(start, stop, step):
    x = th.vector("x", dtype="float64")
    a, b, c = (th.scalar(n, "int32") for n in "abc")
    y = x[a:b:c]
    values = np.arange(6.0)
    np.testing.assert_array_equal(
        th.function([x, a, b, c], y)(values, start, stop, step), values[start:stop:step]
    )
    (length,) = y.owner.op.infer_shape(y.owner, [(6,), (), (), ()])[0]
    assert int(length.eval({a: start, b: stop, c: step})) == len(values[start:stop:step])


def test_symbolic_integer_index_and_negative_values():
    x = th.matrix("x", dtype="float64")
    i = th.scalar("i", dtype="int64")
    y = x[i, 1:-1]
    assert isinstance(y.owner.op, Subtensor) and y.ndim == 1
    value = X_VALUE[:, :, 0]
    f = th.function([x, i], y)
    np.testing.assert_array_equal(f(value, -1), value[-1, 1:-1])
    np.testing.assert_array_equal(f(value, 1), value[1, 1:-1])


def test_symbolic_index_array_and_list_of_variables():
    x = th.vector("x", dtype="float64")
    idx = th.vector("idx", dtype="int32")
    i = th.scalar("i", dtype="int64")
    values = np.arange(5.0)
    np.testing.assert_array_equal(
        th.function([x, idx], x[idx])(values, [4, -1, 0]), values[[4, -1, 0]]
    )
    np.testing.assert_array_equal(th.function([x, i], x[[i, 0, i]])(values, 2), values[[2, 0, 2]])


def test_indexing_the_shape_vector():
    x = th.matrix("x", dtype="float64")
    n = x.shape[0]
    assert n.ndim == 0 and n.dtype == "int64"
    assert th.function([x], [n, x.shape[-1]])(np.zeros((3, 7))) == [3, 7]


def test_equal_indices_give_equal_ops():
    x = th.matrix("x")
    assert x[1:3, 0].owner.op == x[1:3, 0].owner.op
    assert hash(x[1:3, 0].owner.op) == hash(x[1:3, 0].owner.op)
    assert x[1:3].owner.op != x[1:4].owner.op
    assert str(x[::-1, None, 2].owner.op) == "Subtensor{[::-1, None, 2]}"
    assert str(x[:, [0]].owner.op) == "AdvancedSubtensor{[:, array]}"


@pytest.mark.parametrize(
    "build,error,message",
    [
        (lambda x: x[3], IndexError, "index 3 is out of bounds for axis 0 with size 3"),
        (lambda x: x[:, -5], IndexError, "index -5 is out of bounds for axis 1 with size 4"),
        (lambda x: x[[0, 7]], IndexError, "index 7 is out of bounds for axis 0 with size 3"),
        (
            lambda x: x[0, 0, 0],
            IndexError,
            "too many indices for tensor: tensor is 2-dimensional, but 3",
        ),
        (lambda x: x[..., 0, ...], IndexError, "single ellipsis"),
        (lambda x: x[1.5], IndexError, "only integers, slices"),
        (lambda x: x[th.scalar("f", "float32")], IndexError, "only integers, slices"),
        (lambda x: x[True], IndexError, "boolean scalar index"),
        (lambda x: x[::0], ValueError, "slice step cannot be zero"),
        (lambda x: x[0.5:], TypeError, "slice indices must be integers"),
        (
            lambda x: x[np.ones((2, 4), bool)],
            IndexError,
            "size of axis is 3 but size of corresponding boolean axis is 2",
        ),
        (
            lambda x: x[[0, 1], [0, 1, 2]],
            IndexError,
            r"could not be broadcast together with shapes \(2,\) \(3,\)",
        ),
        (lambda x: th.set_subtensor(x, 1.0), TypeError, "must be an indexing expression"),
        (
            lambda x: th.set_subtensor(x[0], np.ones(3)),
            ValueError,
            r"shape \(3,\) cannot be broadcast to the indexed shape \(4,\)",
        ),
        (
            lambda x: th.inc_subtensor(x[0:2], np.ones((3, 4))),
            ValueError,
            r"shape \(3, 4\) cannot be broadcast",
        ),
    ],
)
def test_construction_errors(build, error, message):
    x = th.tensor("x", "float64", (3, 4))
    with pytest.raises(error, match=message):
        build(x)


def test_incrementing_int_with_float_raises_like_numpy():
    x = th.vector("x", dtype="int64")
    with pytest.raises(
        TypeError, match="cannot add a value of dtype float64 to a tensor of dtype int64"
    ):
        th.inc_subtensor(x[0], 1.5)
    f = th.function([x], th.set_subtensor(x[0], 1.7))
    np.testing.assert_array_equal(f(np.array([5, 6])), [1, 6])


def test_runtime_out_of_bounds_names_the_op_and_the_line():
    x = th.vector("x", dtype="float64")
    i = th.scalar("i", dtype="int64")
    f = th.function([x, i], x[i])
    with pytest.raises(
        IndexError, match=r"index 5 is out of bounds.*Subtensor.*test_subtensor.py:\d+"
    ):
        f(np.zeros(3), 5)
    g = th.function([x], x[[0, 4]])
    with pytest.raises(IndexError, match=r"index 4 is out of bounds.*AdvancedSubtensor"):
        g(np.zeros(3))


def test_runtime_value_shape_follows_static_broadcasting():
    x = th.vector("x", dtype="float64")
    v = th.vector("v", dtype="float64")
    f = th.function([x, v], th.inc_subtensor(x[1:], v))
    np.testing.assert_array_equal(f(np.zeros(3), [1.0, 2.0]), [0.0, 1.0, 2.0])
    with pytest.raises(
        ValueError, match=r"value of shape \(1,\) cannot be broadcast to the indexed shape \(2,\)"
    ):
        f(np.zeros(3), [1.0])


def test_increment_accumulates_repeated_indices_like_add_at():
    x = th.matrix("x", dtype="float64")
    v = th.tensor("v", "float64", (None, 1))
    index = ([0, 2, 0, 0], slice(None))
    y = th.inc_subtensor(x[index], v)
    assert isinstance(y.owner.op, IncSubtensor) and not y.owner.op.set_instead_of_inc
    x_value, v_value = X_VALUE[:, :, 0], np.array([[1.0], [2.0], [3.0], [4.0]])
    expected = x_value.copy()
    np.add.at(expected, index, v_value)
    np.testing.assert_allclose(th.function([x, v], y)(x_value, v_value), expected)


def test_set_with_repeated_indices_last_write_wins():
    x = th.vector("x", dtype="float64")
    y = th.set_subtensor(x[[1, 3, 1]], th.constant(np.array([10.0, 20.0, 30.0])))
    np.testing.assert_array_equal(th.function([x], y)(np.zeros(4)), [0.0, 30.0, 0.0, 20.0])


def test_updates_are_functional():
    x = th.vector("x", dtype="float64")
    f = th.function([x], [th.set_subtensor(x[1:], 0.0), th.inc_subtensor(x[::2], 1.0), x])
    value = np.arange(3.0)
    got = f(value)
    np.testing.assert_array_equal(got[0], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(got[1], [1.0, 1.0, 3.0])
    np.testing.assert_array_equal(got[2], value)
    np.testing.assert_array_equal(value, [0.0, 1.0, 2.0])


def test_gradient_of_gather_with_repeated_indices_counts_them():
    x = th.vector("x", dtype="float64")
    g = th.grad((x[[0, 0, 3, 0]] * th.constant(np.array([1.0, 2.0, 3.0, 4.0]))).sum(), x)
    np.testing.assert_array_equal(th.function([x], g)(np.zeros(5)), [7.0, 0.0, 0.0, 3.0, 0.0])


def test_gradient_of_basic_indexing_is_a_scatter_into_zeros():
    x = th.matrix("x", dtype="float64")
    g = th.grad(x[1, ::-2].sum() + x[0, 1] * 3, x)
    expected = np.zeros((2, 4))
    expected[1, ::-2] = 1.0
    expected[0, 1] = 3.0
    np.testing.assert_array_equal(th.function([x], g)(np.zeros((2, 4))), expected)


def test_set_gradients_zero_the_overwritten_region():
    x = th.vector("x", dtype="float64")
    v = th.tensor("v", "float64", (1,))
    y = th.set_subtensor(x[[0, 2]], v)
    weights = th.constant(np.array([1.0, 2.0, 3.0, 4.0]))
    gx, gv = th.grad((y * weights).sum(), [x, v])
    got_x, got_v = th.function([x, v], [gx, gv])(np.zeros(4), [1.0])
    np.testing.assert_array_equal(got_x, [0.0, 2.0, 0.0, 4.0])
    np.testing.assert_array_equal(got_v, [4.0])


def test_index_inputs_have_no_gradient():
    x = th.vector("x", dtype="float64")
    i = th.scalar("i", dtype="int64")
    (node_grads) = x[i:].owner.op.L_op([x, i], [x[i:]], [x[i:]])
    assert node_grads[1] is None


def test_rop_of_indexing_and_updates_is_the_same_indexing_of_the_tangents():
    x = th.vector("x", dtype="float64")
    v = th.vector("v", dtype="float64")
    tx = th.vector("tx", dtype="float64")
    tv = th.vector("tv", dtype="float64")
    gather = th.Rop(x[[2, 0, 2]], x, tx)
    update = th.Rop(th.inc_subtensor(x[[1, 1]], v), [x, v], [tx, tv])
    setting = th.Rop(th.set_subtensor(x[1:3], v), [x, v], [tx, tv])
    f = th.function([x, v, tx, tv], [gather, update, setting])
    tx_value, tv_value = np.array([1.0, 2.0, 3.0, 4.0]), np.array([10.0, 20.0])
    got = f(np.zeros(4), np.zeros(2), tx_value, tv_value)
    np.testing.assert_array_equal(got[0], [3.0, 1.0, 3.0])
    np.testing.assert_array_equal(got[1], [1.0, 32.0, 3.0, 4.0])
    np.testing.assert_array_equal(got[2], [1.0, 10.0, 20.0, 4.0])


def test_take_follows_numpy():
    x = th.tensor("x", "float64", (None, None, None))
    f = th.function(
        [x],
        [
            th.take(x, [5, -1, 0]),
            x.take([[1], [0]], axis=-1),
            th.take(x, 2, axis=1),
            th.take(x, np.array([True, False]), 0),
        ],
    )
    got = f(X_VALUE)
    expected = [
        np.take(X_VALUE, [5, -1, 0]),
        X_VALUE.take([[1], [0]], axis=-1),
        np.take(X_VALUE, 2, axis=1),
        np.take(X_VALUE, np.array([True, False]), 0),
    ]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)
    with pytest.raises(
        np.exceptions.AxisError, match="axis 3 is out of bounds for a tensor of rank 3"
    ):
        th.take(x, [0], axis=3)


def test_gradient_of_update_reading_its_own_tensor_matches_finite_differences():
    def fun(x):
        return th.inc_subtensor(x[1:, [0, 0]], x[:-1, 1:2] * 2.0)

    th.verify_grad(fun, [RNG.standard_normal((3, 2))])
