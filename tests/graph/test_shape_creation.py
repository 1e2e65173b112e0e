"""Shape and creation ops beyond the op table: static shape inference, symbolic
shapes, construction and run-time errors, infer_shape, R_op and dtype rules.

Values and gradients of every op are checked row by row in
``cases_shape.py`` and ``cases_creation.py``.
"""

import numpy as np
import pytest

import theanine as th
from theanine.graph.basic import apply_nodes
from theanine.graph.ops.creation import ARange
from theanine.graph.ops.shape import BroadcastTo, DimShuffle, Join, Reshape, Split, static_value

RNG = np.random.default_rng(21)
X3 = RNG.standard_normal((2, 3, 4))


def _f64(shape, name="x"):
    return th.tensor(name, "float64", shape)


# ---------------------------------------------------------------------------
# Static shape inference


@pytest.mark.parametrize(
    "shape, expected",
    [
        ((None, 3, 4), (None, 12)),
        ((2, 3, 4), (2, 12)),
        ((2, None, 4), (2, None)),
        ((None, None, 4), (None, None)),
    ],
)
def test_reshape_keeping_shape0_infers_the_minus1_dimension(shape, expected):
    x = _f64(shape)
    assert x.reshape((x.shape[0], -1)).type.shape == expected
    assert th.reshape(x, (th.shape_i(x, 0), -1)).type.shape == expected
    assert th.flatten(x, 2).type.shape == expected


def test_symbolic_reshape_runs_with_getitem_and_shape_i():
    x = _f64((None, 3, 4))
    f = th.function([x], [x.reshape((x.shape[0], -1)), th.reshape(x, (-1, th.shape_i(x, 1) * 2))])
    by_getitem, by_shape_i = f(X3)
    np.testing.assert_array_equal(by_getitem, X3.reshape(2, -1))
    np.testing.assert_array_equal(by_shape_i, X3.reshape(-1, 6))


def test_static_shapes_of_compositions():
    x = _f64((None, 3))
    assert th.tile(x, (2, 2)).type.shape == (None, 6)
    assert th.repeat(x, 2, axis=1).type.shape == (None, 6)
    assert th.repeat(_f64((2, 3)), [1, 0, 4], axis=1).type.shape == (2, 5)
    assert th.pad(x, ((1, 1), (2, 0))).type.shape == (None, 5)
    assert th.concatenate([x, _f64((4, 3))]).type.shape == (None, 3)
    assert th.concatenate([_f64((2, None)), _f64((None, 3))], axis=1).type.shape == (2, None)
    assert th.stack([x, x], axis=1).type.shape == (None, 2, 3)
    assert th.broadcast_to(_f64((1, 3)), (x.shape[0], 3)).type.shape == (None, 3)
    assert th.squeeze(_f64((1, None, 1))).type.shape == (None,)
    assert x.shape.type == th.TensorType("int64", (2,))


def test_split_deduces_one_unknown_size_from_a_static_axis():
    x = _f64((7, 2))
    n = th.scalar("n", "int64")
    first, second = Split(0, 2).make_node(x, th.stack([n, th.constant(4)])).outputs
    assert (first.type.shape, second.type.shape) == ((3, 2), (4, 2))
    assert [p.type.shape for p in th.split(_f64((None, 6)), 3, axis=1)] == [(None, 2)] * 3


def test_creation_static_shapes_and_default_dtypes():
    x = _f64((None, 5))
    assert th.zeros((x.shape[0], 2)).type == th.TensorType(th.config.floatX, (None, 2))
    assert th.ones(3, dtype="int8").type == th.TensorType("int8", (3,))
    assert th.arange(2, 11, 3).type == th.TensorType("int64", (3,))
    assert th.arange(x.shape[1]).type == th.TensorType("int64", (5,))
    assert th.arange(th.scalar("n", "int32")).type.shape == (None,)
    assert th.eye(3, 4).type == th.TensorType(th.config.floatX, (3, 4))
    assert th.one_hot(th.tensor("i", "int32", (2, None)), 10).type == th.TensorType(
        th.config.floatX, (2, None, 10)
    )
    with th.config.context(floatX="float64"):
        assert th.zeros(2).dtype == th.ones(2).dtype == th.eye(2).dtype == "float64"


@pytest.mark.parametrize(
    "args, expected",
    [
        ((5,), "int64"),
        ((1.0, 3), "float64"),
        ((np.int32(2), np.int32(5)), "int64"),
        ((np.uint64(3),), "float64"),
    ],
)
def test_arange_dtype_follows_numpy(args, expected):
    assert np.arange(*args).dtype == expected
    out = th.arange(*args)
    assert out.dtype == expected
    np.testing.assert_array_equal(out.eval(), np.arange(*args))


def test_arange_of_a_float32_variable_is_float64_as_in_numpy():
    s = th.scalar("s", "float32")
    assert th.arange(s).dtype == np.arange(np.float32(3.0)).dtype.name == "float64"
    assert th.arange(s, dtype="float32").dtype == "float32"


def test_full_dtype_rules():
    assert th.full((2,), 1).dtype == "int64"
    assert th.full((2,), 1.5).dtype == th.config.floatX
    assert th.full((2,), 0.1, dtype="float64").eval()[0] == 0.1
    np.testing.assert_array_equal(
        th.full((3,), 2.7, dtype="int32").eval(), np.full(3, 2.7, dtype="int32")
    )


def test_concatenate_promotes_dtypes_as_numpy():
    parts = [th.vector("a", "int8"), th.vector("b", "uint8"), th.vector("c", "bool")]
    assert (
        th.concatenate(parts).dtype
        == np.concatenate([np.zeros(1, d) for d in ("int8", "uint8", "bool")]).dtype
    )


def test_static_value_follows_integer_shape_arithmetic_only():
    x = _f64((3, None))
    assert int(static_value(x.shape[0] * 2 + 1)) == 7
    assert static_value(x.shape[1]) is None
    assert static_value(th.scalar("n", "int64") + 1) is None
    assert list(static_value(_f64((2, 5)).shape)) == [2, 5]


def test_reshape_to_the_shape_of_a_static_tensor_is_static():
    assert th.reshape(_f64((None,)), _f64((3, 4)).shape).type.shape == (3, 4)


# ---------------------------------------------------------------------------
# Construction errors


def test_reshape_size_mismatch_names_both_shapes():
    with pytest.raises(
        ValueError,
        match=r"cannot reshape a tensor of shape \(3, 4\) \(12 elements\) into shape \(5,\)",
    ):
        th.reshape(_f64((3, 4)), (5,))
    with pytest.raises(ValueError, match=r"shape \(3, 4\) into shape \(5, -1\)"):
        th.reshape(_f64((3, 4)), (5, -1))


@pytest.mark.parametrize("shape", [(-1, -1), (2, -2)])
def test_reshape_rejects_bad_negative_sizes(shape):
    with pytest.raises(ValueError, match="one -1 and otherwise sizes >= 0"):
        th.reshape(_f64((None, 4)), shape)


def test_reshape_shape_arguments_are_checked():
    with pytest.raises(
        TypeError, match=r"shape entries must be ints or integer scalar variables.*position 1"
    ):
        th.reshape(_f64((3, 4)), (2, 6.0))
    with pytest.raises(ValueError, match="length of a shape vector must be static"):
        th.reshape(_f64((3, 4)), th.vector("s", "int64"))
    with pytest.raises(TypeError, match="must be an integer vector"):
        th.reshape(_f64((3, 4)), th.vector("s", "float64", shape=(2,)))


def test_concatenate_shape_mismatch_names_shapes():
    with pytest.raises(
        ValueError,
        match=r"input shapes \(2, 3\), \(2, 4\) differ on axis 1; only the concatenation axis 0",
    ):
        th.concatenate([_f64((2, 3)), _f64((2, 4))])
    with pytest.raises(ValueError, match=r"same rank. Received shapes \(2, 3\), \(3,\)"):
        th.concatenate([_f64((2, 3)), _f64((3,))])
    with pytest.raises(ValueError, match="zero-dimensional tensors cannot be concatenated"):
        th.concatenate([th.scalar("s")])
    with pytest.raises(ValueError, match="need at least one tensor"):
        th.concatenate([])


def test_stack_needs_equal_shapes():
    with pytest.raises(
        ValueError,
        match=r"stack: every input must have the same shape. Received shapes \(2,\), \(3,\)",
    ):
        th.stack([_f64((2,)), _f64((3,))])


@pytest.mark.parametrize(
    "build",
    [
        lambda x: th.concatenate([x, x], axis=2),
        lambda x: th.stack([x, x], axis=-4),
        lambda x: th.split(x, 2, axis=2),
        lambda x: th.squeeze(x, axis=5),
        lambda x: th.transpose(x, (0, 2)),
        lambda x: th.repeat(x, 2, axis=-3),
        lambda x: th.shape_i(x, 2),
        lambda x: th.expand_dims(x, 3),
    ],
)
def test_bad_axes_are_rejected(build):
    with pytest.raises(ValueError, match="out of bounds|not a permutation"):
        build(_f64((2, 4)))


def test_squeeze_of_a_static_non_one_axis():
    with pytest.raises(
        ValueError,
        match=r"cannot remove axis 0 of a tensor of shape \(2, 1\): its size is 2, not 1",
    ):
        th.squeeze(_f64((2, 1)), axis=0)


def test_split_errors():
    with pytest.raises(
        ValueError,
        match=r"axis 0 of a tensor of shape \(5, 2\) does not divide into 2 equal sections",
    ):
        th.split(_f64((5, 2)), 2)
    with pytest.raises(ValueError, match="indices must be non-decreasing"):
        th.split(_f64((5,)), [3, 1])
    with pytest.raises(ValueError, match="negative indices need a static length"):
        th.split(_f64((None,)), [-1])
    with pytest.raises(ValueError, match=r"sizes \(2, 2\) do not add up to 5"):
        Split(0, 2).make_node(_f64((5,)), th.constant(np.array([2, 2])))


def test_broadcast_to_errors():
    with pytest.raises(ValueError, match=r"shape \(2, 3\) to shape \(4, 3\): axis 0 has size 2"):
        th.broadcast_to(_f64((2, 3)), (4, 3))
    with pytest.raises(ValueError, match="at least as many dimensions"):
        th.broadcast_to(_f64((2, 3)), (3,))
    with pytest.raises(ValueError, match="sizes >= 0"):
        th.zeros((2, -1))


def test_repeat_tile_pad_argument_errors():
    with pytest.raises(ValueError, match="repeats must be >= 0"):
        th.repeat(_f64((3,)), -1)
    with pytest.raises(ValueError, match="needs the static length of axis 0"):
        th.repeat(_f64((None,)), [1, 2])
    with pytest.raises(ValueError, match="got 2 repeats for axis 0 of length 3"):
        th.repeat(_f64((3,)), [1, 2])
    with pytest.raises(TypeError, match="symbolic"):
        th.repeat(_f64((3,)), th.scalar("r", "int64"))
    with pytest.raises(ValueError, match="reps must be >= 0"):
        th.tile(_f64((3,)), (-1,))
    with pytest.raises(
        NotImplementedError, match="only mode='constant' is implemented. Received: mode='reflect'"
    ):
        th.pad(_f64((3,)), 1, mode="reflect")
    with pytest.raises(ValueError, match="`pad_width` must be >= 0"):
        th.pad(_f64((3,)), -1)
    with pytest.raises(ValueError, match="`pad_width` does not fit a tensor of rank 2"):
        th.pad(_f64((3, 3)), ((1, 1), (1, 1), (1, 1)))


def test_flatten_ndim_must_fit():
    with pytest.raises(ValueError, match=r"ndim must be an int between 1 and 2.*Received: ndim=3"):
        th.flatten(_f64((2, 3)), 3)


def test_creation_argument_errors():
    with pytest.raises(ValueError, match="step must not be zero"):
        th.arange(0, 5, 0)
    with pytest.raises(ValueError, match="eye: n must be >= 0. Received: n=-1"):
        th.eye(-1)
    with pytest.raises(TypeError, match="eye: k must be an int"):
        th.eye(3, k=0.5)
    with pytest.raises(TypeError, match="one_hot: indices must be integers"):
        th.one_hot(th.vector("i", "float32"), 3)
    with pytest.raises(TypeError, match="arange: start must be a numeric scalar"):
        th.arange(th.vector("v", "int64"), 3)


# ---------------------------------------------------------------------------
# Run-time errors


def test_reshape_runtime_size_mismatch_names_op_shapes_and_line():
    x = _f64((None, None))
    f = th.function([x], th.reshape(x, (5,)))
    with pytest.raises(ValueError) as info:
        f(np.zeros((3, 4)))
    message = str(info.value)
    assert "cannot reshape an array of shape (3, 4) (12 elements) into shape (5,)" in message
    assert "Reshape" in message and "float64(3, 4)" in message
    assert "test_shape_creation.py" in message


def test_runtime_errors_of_split_broadcast_concatenate_arange():
    x = _f64((None,))
    with pytest.raises(ValueError, match=r"split: sizes \(2, 2\) must be >= 0 and add up to 5"):
        th.function([x], th.split(x, 2))(np.zeros(5))
    with pytest.raises(ValueError, match=r"only axes of static size 1 broadcast"):
        th.function([x], th.broadcast_to(x, (2, 3)))(np.zeros(1))
    with pytest.raises(ValueError, match="concatenat"):
        m = _f64((None, None))
        th.function([m], th.concatenate([m, m.T]))(np.zeros((2, 3)))
    step = th.scalar("step", "int64")
    with pytest.raises(ValueError, match="step must not be zero"):
        th.function([step], th.arange(0, 5, step))(0)


def test_negative_reshape_sizes_from_a_vector_fail_at_run_time():
    s = th.vector("s", "int64", shape=(2,))
    f = th.function([s], th.reshape(th.constant(np.arange(6.0)), s))
    np.testing.assert_array_equal(f(np.array([3, -1])), np.arange(6.0).reshape(3, 2))
    with pytest.raises(ValueError, match="one -1 and otherwise sizes >= 0"):
        f(np.array([-2, 3]))


# ---------------------------------------------------------------------------
# infer_shape: the symbolic shapes evaluate to the run-time shapes


def _infer_shape_cases():
    x = _f64((None, None, 4), "x")
    s = th.vector("s", "int64", shape=(2,))
    n = th.scalar("n", "int64")
    return [x, s, n], [
        x.reshape((x.shape[0], -1)),
        th.reshape(x, s),
        th.reshape(x, (n, -1)),
        th.concatenate([x, x[:, :1]], axis=1),
        *th.split(x, [1], axis=1),
        th.broadcast_to(th.expand_dims(x[0], 0), (n, x.shape[1], 4)),
        th.arange(n),
        th.arange(0.5, th.cast(n, "float64"), 0.75),
        x.dimshuffle(2, "x", 0, 1),
        x.shape,
        th.shape_i(x, 1),
    ]


def test_infer_shape_matches_run_time_shapes():
    inputs, outputs = _infer_shape_cases()
    values = {inputs[0]: X3, inputs[1]: np.array([4, -1]), inputs[2]: np.asarray(3)}
    checked = 0
    for node in apply_nodes(outputs):
        if not isinstance(node.op, (Reshape, Join, Split, BroadcastTo, ARange, DimShuffle)):
            continue
        input_shapes = [tuple(th.shape_i(v, i) for i in range(v.ndim)) for v in node.inputs]
        symbolic = node.op.infer_shape(node, input_shapes)
        actual = th.evaluate(node.outputs, values)
        for dims, value in zip(symbolic, actual, strict=True):
            flat = [th.as_tensor(d) for d in dims]
            assert tuple(int(v) for v in th.evaluate(flat, values)) == value.shape, node
        checked += 1
    assert checked >= 10


# ---------------------------------------------------------------------------
# Gradients and R_op


def test_shape_is_not_differentiable():
    x = _f64((None,))
    with pytest.raises(th.DisconnectedInputError):
        th.grad(x.shape[0].astype("float64"), x)


def test_gradient_of_duplicated_join_input_sums():
    x = _f64((2,))
    g = th.grad((th.concatenate([x, x * 3.0, x]) * np.arange(6.0)).sum(), x)
    np.testing.assert_allclose(g.eval({x: np.zeros(2)}), [0 + 6 + 4, 1 + 9 + 5])


@pytest.mark.parametrize(
    "build",
    [
        lambda x: th.reshape(x, (x.shape[0] * 3,)),
        lambda x: th.concatenate([x, 2.0 * x], axis=1),
        lambda x: th.split(x, [1], axis=1)[1],
        lambda x: th.broadcast_to(x, (2, 3, 3)),
        lambda x: th.tile(x, (2, 1)),
        lambda x: th.repeat(x, 2, axis=0),
        lambda x: th.pad(x, 1),
        lambda x: th.stack([x, x], axis=-1),
    ],
)
def test_rop_of_linear_ops_applies_the_op_to_the_eval_point(build):
    x, v = _f64((3, 3), "x"), _f64((3, 3), "v")
    jvp = th.Rop(build(x), x, v)
    value_x, value_v = RNG.standard_normal((2, 3, 3))
    got = th.function([x, v], jvp)(value_x, value_v)
    np.testing.assert_allclose(
        got, th.function([x], build(x))(value_v) - th.function([x], build(x))(0 * value_v)
    )


def test_linear_shape_ops_have_their_own_r_op():
    x, v = _f64((2, 3), "x"), _f64((2, 3), "v")
    for out in (
        th.reshape(x, (3, 2)),
        th.concatenate([x, x]),
        th.broadcast_to(x, (2, 2, 3)),
        th.split(x, 1)[0],
    ):
        node = out.owner
        points = [v] + [None] * (len(node.inputs) - 1)
        assert node.op.R_op(node.inputs, points)[0] is not None


def test_arange_gradients_wrt_start_and_step():
    start, step = th.scalar("start", "float64"), th.scalar("step", "float64")
    out = th.arange(start, 3.0, step)
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    g_start, g_step = th.grad((out * weights).sum(), [start, step])
    f = th.function([start, step], [g_start, g_step])
    np.testing.assert_allclose(f(0.5, 0.7), [weights.sum(), (weights * np.arange(4)).sum()])


# ---------------------------------------------------------------------------
# A symbolic integer vector as the shape (Theano's x.reshape(y.shape))

Y = RNG.standard_normal((3, 4))
SHAPE_VECTORS = {
    # name: (vector of the target shape, static shape inferred, the target shape at run time)
    "y.shape": (lambda y: y.shape, (None, 4), (3, 4)),
    "y.shape[::-1]": (lambda y: y.shape[::-1], (4, None), (4, 3)),
    "concatenate(y.shape[:1], constant)": (
        lambda y: th.concatenate([y.shape[:1], th.constant(np.array([2, 2], "int32"))]),
        (None, 2, 2),
        (3, 2, 2),
    ),
    "stack of sizes": (lambda y: th.stack([th.shape_i(y, 1), y.shape[0]]), (4, None), (4, 3)),
    "int32 input vector": (lambda y: th.tensor("s", "int32", (2,)), (None, None), (4, 3)),
    "constant vector": (lambda y: th.constant(np.array([6, 2])), (6, 2), (6, 2)),
}
BUILDERS = {
    # name: (build from the source x and the shape vector, NumPy reference)
    "x.reshape": (lambda x, s: x.reshape(s), lambda x, shape: x.reshape(shape)),
    "th.reshape": (lambda x, s: th.reshape(x, s), lambda x, shape: x.reshape(shape)),
    "zeros": (lambda x, s: th.zeros(s, dtype="float64"), lambda x, shape: np.zeros(shape)),
    "ones": (lambda x, s: th.ones(s, dtype="float64"), lambda x, shape: np.ones(shape)),
    "full": (lambda x, s: th.full(s, 2.5, dtype="float64"), lambda x, shape: np.full(shape, 2.5)),
    "alloc": (lambda x, s: th.alloc(x.sum(), s), lambda x, shape: np.full(shape, x.sum())),
    "empty": (lambda x, s: th.empty(s, dtype="float64"), lambda x, shape: np.zeros(shape)),
    "broadcast_to": (lambda x, s: th.broadcast_to(x.sum(keepdims=True), s),
                     lambda x, shape: np.broadcast_to(x.sum(), shape)),
}


@pytest.mark.parametrize("vector", sorted(SHAPE_VECTORS))
@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_a_symbolic_shape_vector_gives_the_shape(builder, vector, backend):
    build, reference = BUILDERS[builder]
    make_vector, static, shape = SHAPE_VECTORS[vector]
    x, y = _f64((None,)), _f64((None, 4), "y")
    target = make_vector(y)
    out = build(x, target)
    assert out.type.shape == static
    inputs = [x, y] + ([target] if target.owner is None and not isinstance(target, th.Constant) else [])
    values = [np.arange(12.0), Y] + ([np.array(shape, "int32")] if len(inputs) == 3 else [])
    got = th.function(inputs, out, backend=backend)(*values)
    np.testing.assert_array_equal(got, reference(values[0], shape))


def test_alloc_takes_sizes_or_one_shape_and_keeps_the_value_dtype():
    y = _f64((None, 4), "y")
    value = th.scalar("v", "int32")
    by_sizes, by_shape = th.alloc(value, y.shape[0], 4), th.alloc(value, y.shape)
    assert by_sizes.type == by_shape.type == th.TensorType("int32", (None, 4))
    f = th.function([value, y], [by_sizes, by_shape])
    for got in f(7, Y):
        np.testing.assert_array_equal(got, np.full((3, 4), 7, "int32"))


def test_gradients_through_shapes_given_as_vectors(backend):
    """d/dx of reshape(x, y.shape) and of broadcasting/allocating x's sum, by finite differences."""
    y = th.constant(Y)

    def reshaped(x):
        return th.reshape(x, y.shape) * y

    def allocated(x):
        return th.alloc(x.sum(), y.shape) * y + th.broadcast_to(x[:1], y.shape[::-1]).sum()

    th.verify_grad(reshaped, [np.arange(12.0)], backend=backend)
    th.verify_grad(allocated, [np.arange(12.0)], backend=backend)


def test_a_shape_vector_of_unknown_length_is_rejected_with_the_reason():
    x = _f64((None,))
    with pytest.raises(ValueError, match="the length of a shape vector must be static"):
        x.reshape(th.vector("s", "int64"))
    with pytest.raises(TypeError, match="a shape vector must be an integer vector. Received: float64"):
        th.zeros(x)


def test_index_gives_python_ints_for_static_dims_and_integer_constants():
    """``range(x.shape[1])`` on a static axis, as Keras guides loop over a tensor's time steps."""
    x = th.tensor("x", "float32", (None, 10, 3))
    assert list(range(x.shape[1])) == list(range(10)) and range(x.shape[-1]) == range(3)
    assert list(range(th.constant(3))) == [0, 1, 2] and [0, 1, 2, 3][th.shape_i(x, 2)] == 3
    with pytest.raises(TypeError, match="has no Python int value before the function runs"):
        range(x.shape[0])
    with pytest.raises(TypeError, match="has no Python int value"):
        range(th.constant(2.0))


def test_shape_reads_as_a_keras_shape_tuple_and_stays_a_vector():
    """``keras.Input(shape=(784,)).shape == (None, 784)`` and prints so; in graphs ``x.shape`` is
    still Theano's int64 vector."""
    x = th.tensor("x", "float32", (None, 784))
    assert x.shape == (None, 784) and x.shape == [None, 784] and not (x.shape != (None, 784))
    assert x.shape != (32, 784) and str(x.shape) == "(None, 784)" and len(x.shape) == 2
    batch, width = x.shape
    assert width == 784 and isinstance(batch, th.Variable)
    m = th.dmatrix("m")
    assert np.array_equal(th.function([m], m.shape)(np.ones((2, 3))), [2, 3])
    assert th.zeros(m.shape).type.shape == (None, None)
    assert th.function([m], th.zeros(m.shape))(np.ones((2, 3))).shape == (2, 3)
    same = m.shape
    assert same == same and {same: 1}[same] == 1  # identity and hashing as any variable
