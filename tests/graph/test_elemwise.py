"""Elementwise ops beyond the op table: errors, NumPy 2 promotion, operators,
R_op, disconnected gradients, casts and ``second``.

Values and gradients of every op at every dtype are in the op table
(``cases_elemwise.py``); these tests cover what a table row cannot.
"""

import inspect
import os
import re

import numpy as np
import pytest

import theanine as th
from theanine.graph.basic import apply_nodes
from theanine.graph.gradient import DisconnectedInputError
from theanine.graph.ops.elemwise import Elemwise, ScalarOp
from theanine.graph.ops.math import ELEMWISE_OPS, Cast

DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64")
RNG = np.random.default_rng(11)


def _here() -> str:
    """``test_elemwise.py:<line>`` of the caller, as theanine records source lines."""
    frame = inspect.currentframe().f_back
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


def _run(inputs, outputs, *values):
    return th.function(inputs, outputs, backend="numpy")(*values)


# construction-time errors


def test_static_broadcast_mismatch_names_both_shapes():
    x = th.tensor("x", "float32", (3,))
    y = th.tensor("y", "float32", (4,))
    with pytest.raises(ValueError, match=r"add: shapes \(3,\) and \(4,\) do not broadcast"):
        x + y


def test_static_broadcast_mismatch_shows_shapes_as_given_before_rank_padding():
    x = th.tensor("x", "float64", (2, 3))
    y = th.tensor("y", "float64", (4,))
    with pytest.raises(ValueError, match=r"multiply: shapes \(2, 3\) and \(4,\) .*sizes 3 and 4"):
        th.multiply(x, y)


def test_unknown_dtypes_are_rejected_by_name():
    x = th.vector("x", "float32")
    with pytest.raises(TypeError, match="unknown dtype 'nonsense'"):
        x.astype("nonsense")
    with pytest.raises(TypeError, match="unsupported dtype 'complex64'"):
        x.astype("complex64")
    with pytest.raises(TypeError, match="unsupported dtype 'complex64'"):
        x + 1j


@pytest.mark.parametrize(
    "name, args", [("add", 1), ("add", 3), ("exp", 2), ("where", 2), ("clip", 1)]
)
def test_wrong_arity_says_expected_and_received(name, args):
    x = th.vector("x", "float64")
    nin = ELEMWISE_OPS[name].scalar_op.nin
    with pytest.raises(
        TypeError, match=rf"{name} expected {nin} input\(s\)\. Received: {args} input\(s\)"
    ):
        ELEMWISE_OPS[name](*[x] * args)


@pytest.mark.parametrize("build", [th.negative, lambda b: b - b, th.sign])
def test_ops_numpy_lacks_for_bool_raise_naming_op_and_dtype(build):
    b = th.vector("b", "bool")
    with pytest.raises(TypeError, match=r"not defined for input dtypes \['bool'"):
        build(b)


def test_python_int_out_of_range_raises_like_numpy():
    x = th.vector("x", "int8")
    u = th.vector("u", "uint8")
    with pytest.raises(OverflowError, match="Python integer 200 is out of bounds for int8"):
        x + 200
    with pytest.raises(OverflowError, match="-1 is out of bounds for uint8"):
        u * -1
    with pytest.raises(OverflowError):
        np.ones(2, "int8") + 200


# run-time errors


def test_runtime_broadcast_of_unknown_dims_names_op_shapes_and_user_line():
    a = th.vector("a", "float32")
    b = th.vector("b", "float32")
    out, line = a * b, _here()
    f = th.function([a, b], out, backend="numpy")
    with pytest.raises(ValueError) as info:
        f(np.ones(3, "float32"), np.ones(4, "float32"))
    message = str(info.value)
    assert "multiply: input shapes (3,) and (4,) do not match on dimension 0" in message
    assert "Elemwise{multiply}" in message
    assert re.search(re.escape(line) + r"\b", message), message


def test_unknown_dim_of_size_one_does_not_broadcast_silently():
    a = th.matrix("a", "float64")
    b = th.matrix("b", "float64")
    f = th.function([a, b], a + b, backend="numpy")
    with pytest.raises(ValueError, match="only dimensions declared with static size 1 broadcast"):
        f(np.ones((3, 4)), np.ones((1, 4)))
    np.testing.assert_array_equal(f(np.ones((3, 4)), np.ones((3, 4))), np.full((3, 4), 2.0))


def test_static_one_broadcasts_at_run_time():
    a = th.matrix("a", "float64")
    row = th.tensor("row", "float64", (1, None))
    f = th.function([a, row], a - row, backend="numpy")
    got = f(np.ones((3, 4)), np.arange(4.0).reshape(1, 4))
    np.testing.assert_array_equal(got, 1 - np.arange(4.0)[None, :].repeat(3, 0))


# NumPy 2 promotion


def _numpy_equivalent(name: str):
    """The NumPy function whose dtype rule an op follows (see graph/ops/math.py)."""
    special = {
        "sigmoid": np.exp,
        "softplus": np.exp,
        "erf": np.exp,
        "erfc": np.exp,
        "relu": lambda a: a,
        "reciprocal": lambda a: np.true_divide(1, a),
        "second": lambda a, b: b,
    }
    return special.get(name) or getattr(np, name)


def _numpy_dtype(fn, dtypes):
    try:
        with np.errstate(all="ignore"):
            return np.asarray(fn(*[np.ones((), d) for d in dtypes])).dtype.name
    except TypeError:
        return "undefined"


def _theanine_dtype(name, dtypes):
    try:
        return ELEMWISE_OPS[name](*[th.tensor(None, d, ()) for d in dtypes]).dtype
    except TypeError:
        return "undefined"


@pytest.mark.parametrize("name", sorted(ELEMWISE_OPS))
def test_output_dtype_is_numpys_for_every_dtype_combination(name):
    nin = ELEMWISE_OPS[name].scalar_op.nin
    reference = _numpy_equivalent(name)
    combos = (
        [(d,) * nin for d in DTYPES]
        if nin == 3
        else [tuple(d) for d in np.array(np.meshgrid(*[DTYPES] * nin)).reshape(nin, -1).T]
    )
    mismatches = [
        (dtypes, ours, theirs)
        for dtypes in combos
        if (ours := _theanine_dtype(name, dtypes)) != (theirs := _numpy_dtype(reference, dtypes))
    ]
    assert not mismatches, f"{name}: (inputs, theanine, numpy): {mismatches[:5]}"


def _check_weak_scalar(name, value, dtype):
    """Both sides of ``op(x, value)``: same dtype as NumPy, or the same error."""
    x = th.vector("x", dtype)
    array = np.ones(2, dtype)
    op = ELEMWISE_OPS[name]
    try:
        expected = [
            getattr(np, name)(array, value).dtype.name,
            getattr(np, name)(value, array).dtype.name,
        ]
    except (OverflowError, TypeError) as exc:
        with pytest.raises(type(exc) if isinstance(exc, OverflowError) else TypeError):
            op(x, value)
        return
    except ValueError as exc:
        with pytest.raises(ValueError, match=re.escape(str(exc))):
            _run([x], op(x, value), array)
        return
    assert [op(x, value).dtype, op(value, x).dtype] == expected, (name, value, dtype)


@pytest.mark.parametrize(
    "name",
    [
        "add",
        "multiply",
        "true_divide",
        "power",
        "arctan2",
        "maximum",
        "less",
        "equal",
        "logical_and",
        "where",
    ],
)
def test_weak_python_scalars_follow_numpy_2(name):
    if name == "where":
        for dtype in DTYPES:
            for value in (2, 2.5, True):
                x = th.vector("x", dtype)
                c = th.vector("c", "bool")
                expected = np.where(np.ones(2, bool), np.ones(2, dtype), value).dtype
                assert th.where(c, x, value).dtype == expected.name
        return
    with np.errstate(all="ignore"):
        for dtype in DTYPES:
            for value in (2, 2.5, True, 100000, -3):
                _check_weak_scalar(name, value, dtype)


def test_named_promotions():
    f32 = th.vector("f32", "float32")
    i32 = th.vector("i32", "int32")
    i8 = th.vector("i8", "int8")
    i64 = th.vector("i64", "int64")
    u8 = th.vector("u8", "uint8")
    assert (f32 * 2.0).dtype == "float32"
    assert (f32 + 2).dtype == "float32"
    assert (i32 * 1.5).dtype == "float64"
    assert (i8 + i64).dtype == "int64"
    assert (u8 + i8).dtype == "int16"
    assert (f32 + i64).dtype == "float64"
    assert (f32 + np.float64(1.0)).dtype == "float64", "NumPy scalars are strong"
    assert (f32 + np.float32(1.0)).dtype == "float32"


def test_python_numbers_alone_take_floatx_for_floats():
    assert th.add(1, 2.5).dtype == "float32"
    assert th.maximum(1, 2).dtype == "int64"
    assert th.logical_and(True, False).dtype == "bool"
    with th.config.context(floatX="float64"):
        assert th.multiply(2, 0.5).dtype == "float64"
    np.testing.assert_allclose(th.add(1, 2.5).eval(), 3.5)


def test_comparisons_accept_any_python_int_as_numpy_does():
    u8 = th.vector("u8", "uint8")
    i8 = th.vector("i8", "int8")
    i64 = th.vector("i64", "int64")
    values = np.array([0, 7, 255], "uint8")
    got = _run([u8], [u8 < -1, u8 > -1, th.equal(u8, 256), u8 <= 300], values)
    expected = [values < -1, values > -1, values == 256, values <= 300]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)
    small = np.array([-128, 0, 127], "int8")
    np.testing.assert_array_equal(_run([i8], i8 >= 1000, small), small >= 1000)
    big = np.array([2**62, -(2**62)], "int64")
    np.testing.assert_array_equal(_run([i64], i64 < 2**70, big), big < 2**70)


def test_clip_clamps_out_of_range_python_bounds_like_numpy():
    x = th.vector("x", "int8")
    values = np.array([-128, -3, 0, 100, 127], "int8")
    out = th.clip(x, -1000, 300)
    assert out.dtype == "int8"
    np.testing.assert_array_equal(_run([x], out, values), np.clip(values, -1000, 300))


# operators on variables


def test_arithmetic_operators_match_numpy():
    x = th.vector("x", "float64")
    v = np.array([-2.5, -0.5, 0.0, 1.5, 3.0])
    outs = [
        x + 1,
        2 - x,
        x * 3,
        x / 4,
        1 / (x + 5),
        x // 2,
        x % 2,
        7 % (x + 5),
        x**2,
        2**x,
        -x,
        abs(x),
        +x,
        x.clip(-1, 1),
        x.round(),
    ]
    expected = [
        v + 1,
        2 - v,
        v * 3,
        v / 4,
        1 / (v + 5),
        v // 2,
        v % 2,
        7 % (v + 5),
        v**2,
        2**v,
        -v,
        np.abs(v),
        v,
        v.clip(-1, 1),
        v.round(),
    ]
    for got, want, out in zip(_run([x], outs, v), expected, outs, strict=True):
        assert got.dtype == want.dtype == out.dtype
        np.testing.assert_allclose(got, want, rtol=1e-15)


def test_comparison_and_logical_operators_match_numpy():
    x = th.vector("x", "float32")
    b = th.vector("b", "bool")
    c = th.vector("c", "bool")
    v = np.array([-1.0, 0.0, 2.0, np.nan], "float32")
    p = np.array([True, True, False, False])
    q = np.array([True, False, True, False])
    outs = [x < 0, x <= 0, x > 0, x >= 0, b & c, b | c, b ^ c, ~b, True & b, False | b]
    expected = [v < 0, v <= 0, v > 0, v >= 0, p & q, p | q, p ^ q, ~p, True & p, False | p]
    for got, want, out in zip(_run([x, b, c], outs, v, p, q), expected, outs, strict=True):
        assert got.dtype == np.bool_ and out.dtype == "bool"
        np.testing.assert_array_equal(got, want)


def test_astype_converts_like_numpy():
    x = th.vector("x", "float64")
    v = np.array([-2.7, -0.5, 0.0, 0.5, 2.7, 130.2])
    outs = [
        x.astype("int32"),
        x.astype("float32"),
        x.astype("bool"),
        x.astype(np.float16),
        x.astype("int8"),
    ]
    for got, out, dtype in zip(
        _run([x], outs, v), outs, ["int32", "float32", "bool", "float16", "int8"], strict=False
    ):
        assert out.dtype == got.dtype == dtype
        np.testing.assert_array_equal(got, v.astype(dtype))
    assert x.astype("float64") is x, "a cast to the same dtype is no op"


def test_constants_mix_with_numpy_arrays_on_either_side():
    x = th.vector("x", "float32")
    v = np.array([1.0, 2.0, 3.0], "float32")
    ones = np.ones(3)
    outs = [
        x + ones,
        ones + x,
        x * np.float32(2),
        np.float32(2) * x,
        x - np.arange(3, dtype="int8"),
    ]
    expected = [
        v + ones,
        ones + v,
        v * np.float32(2),
        np.float32(2) * v,
        v - np.arange(3, dtype="int8"),
    ]
    for got, want, out in zip(_run([x], outs, v), expected, outs, strict=True):
        assert isinstance(out, th.TensorVariable)
        assert got.dtype == want.dtype == out.dtype
        np.testing.assert_array_equal(got, want)


def test_constant_static_shape_decides_broadcasting():
    x = th.matrix("x", "float64")
    out = x + np.ones((1, 3))
    assert out.type.shape == (None, 3)
    with pytest.raises(ValueError, match=r"shapes \(4, \?\) and \(2, 3\) do not broadcast"):
        th.tensor("y", "float64", (4, None)) + np.ones((2, 3))


# special values


def test_relu_and_signed_zeros():
    x = th.vector("x", "float64")
    v = np.array([-0.0, 0.0, np.nan, -np.inf, 2.0])
    relu, neg, sq = _run([x], [th.relu(x), -x, th.sqrt(x)], v)
    np.testing.assert_array_equal(relu, [0.0, 0.0, np.nan, 0.0, 2.0])
    assert not np.signbit(relu[0]), "relu(-0.0) is +0.0"
    assert np.signbit(neg[1]) and not np.signbit(neg[0])
    assert np.signbit(sq[0]), "sqrt(-0.0) is -0.0 as in IEEE 754"


def test_float16_special_functions_round_once_from_float32():
    x = th.vector("x", "float16")
    v = np.linspace(-4, 4, 17).astype("float16")
    from scipy.special import erf, expit

    got_sigmoid, got_erf = _run([x], [th.sigmoid(x), th.erf(x)], v)
    assert got_sigmoid.dtype == got_erf.dtype == np.float16
    np.testing.assert_array_equal(got_sigmoid, expit(v.astype("float32")).astype("float16"))
    np.testing.assert_array_equal(got_erf, erf(v.astype("float32")).astype("float16"))


# forward mode


def _jvp_by_finite_differences(f, points, tangents, eps=1e-6):
    plus = f(*[p + eps * t for p, t in zip(points, tangents, strict=True)])
    minus = f(*[p - eps * t for p, t in zip(points, tangents, strict=True)])
    return (plus - minus) / (2 * eps)


@pytest.mark.parametrize(
    "build, shapes, sample",
    [
        (th.tanh, [(3, 4)], lambda s: RNG.standard_normal(s)),
        (th.multiply, [(3, 1), (1, 4)], lambda s: RNG.standard_normal(s)),
        (th.true_divide, [(3, 4), (4,)], lambda s: RNG.uniform(0.5, 2.0, s)),
        (th.power, [(2, 3), (1, 3)], lambda s: RNG.uniform(0.5, 2.0, s)),
        (th.arctan2, [(), (5,)], lambda s: RNG.uniform(0.5, 2.0, s)),
        (
            lambda x, y: th.where(x > 1.0, x * y, y),
            [(3, 4), (3, 1)],
            lambda s: RNG.uniform(0.5, 2.0, s),
        ),
        (lambda x, lo: th.clip(x, lo, 1.5), [(2, 5), (2, 1)], lambda s: RNG.uniform(0.0, 2.0, s)),
        (lambda x: th.floor(x) + th.sigmoid(x), [(4,)], lambda s: RNG.uniform(0.1, 0.9, s)),
        (
            lambda x: th.square(x.astype("float32")).astype("float64"),
            [(4,)],
            lambda s: RNG.standard_normal(s),
        ),
    ],
)
def test_rop_matches_finite_difference_jacobian_vector_product(build, shapes, sample):
    inputs = [th.tensor(f"x{i}", "float64", s) for i, s in enumerate(shapes)]
    tangents = [th.tensor(f"v{i}", "float64", s) for i, s in enumerate(shapes)]
    out = build(*inputs)
    jvp = th.Rop(out, inputs, tangents)
    points = [sample(s) for s in shapes]
    directions = [RNG.standard_normal(s) for s in shapes]
    got = _run(inputs + tangents, jvp, *points, *directions)
    f = th.function(inputs, out, backend="numpy")
    single = any(o.dtype == "float32" for n in apply_nodes([out]) for o in n.outputs)
    expected = _jvp_by_finite_differences(f, points, directions, eps=1e-3 if single else 1e-6)
    tolerance = 2e-3 if single else 1e-6
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)


def test_rop_of_elemwise_uses_its_own_rule_not_the_fallback():
    x = th.tensor("x", "float64", (3, 1))
    v = th.tensor("v", "float64", (3, 1))
    y = th.tensor("y", "float64", (1, 4))
    jvp = th.Rop(th.exp(x) + y, x, v)
    assert jvp.type.shape == (3, 4)
    names = {str(n.op) for n in apply_nodes([jvp])}
    assert not any("Sum" in n or "Reduce" in n for n in names), names
    got = _run([x, v, y], jvp, np.zeros((3, 1)), np.ones((3, 1)), np.zeros((1, 4)))
    np.testing.assert_allclose(got, np.ones((3, 4)))


def test_rop_of_comparison_is_zero():
    x = th.vector("x", "float64")
    v = th.vector("v", "float64")
    jvp = th.Rop(x > 0, x, v)
    assert jvp.dtype == "bool"
    assert not _run([x, v], jvp, np.array([1.0, -1.0]), np.ones(2)).any()


# reverse mode: disconnected paths, casts, broadcasting


def test_ops_with_integer_outputs_give_no_gradient():
    x = th.vector("x", "float64")
    for out in [x > 0, th.isnan(x), x.astype("int32"), th.equal(x, 1.0)]:
        assert out.owner.op.L_op(out.owner.inputs, [out], [th.zeros_like(out)]) == [None] * len(
            out.owner.inputs
        )
        assert out.owner.op.connection_pattern(out.owner) == [[False]] * len(out.owner.inputs)
    cost = (x > 0).astype("float64").sum()
    with pytest.raises(DisconnectedInputError, match="does not depend on x"):
        th.grad(cost, x)
    zeros = th.grad(cost, x, disconnected_inputs="ignore")
    np.testing.assert_array_equal(_run([x], zeros, np.ones(3)), np.zeros(3))


def test_integer_inputs_get_no_gradient_but_float_partners_do():
    x = th.vector("x", "float32")
    i = th.vector("i", "int32")
    out = x * i
    assert out.dtype == "float64"
    gx, gi = out.owner.op.L_op(out.owner.inputs, [out], [th.ones_like(out)])
    assert gi is None and gx.dtype == "float32"
    g = th.grad(out.sum(), x)
    assert g.dtype == "float32"
    np.testing.assert_array_equal(
        _run([x, i], g, np.ones(3, "float32"), np.array([1, -2, 3], "int32")),
        np.array([1, -2, 3], "float32"),
    )


def test_where_and_second_declare_their_shape_inputs_disconnected():
    c = th.vector("c", "float64")
    x = th.vector("x", "float64")
    node = th.where(c, x, 0.0).owner
    assert [row[0] for row in node.op.connection_pattern(node)] == [False, True, True]
    node = th.second(c, x).owner
    assert [row[0] for row in node.op.connection_pattern(node)] == [False, True]
    with pytest.raises(DisconnectedInputError):
        th.grad(th.where(c, x, 0.0).sum(), c)


def test_cast_gradients_round_trip_dtypes():
    x = th.vector("x", "float32")
    cost = (x.astype("float64") ** 2).astype("float32").sum()
    g = th.grad(cost, x)
    assert g.dtype == "float32"
    v = np.array([1.5, -2.0, 0.25], "float32")
    np.testing.assert_allclose(_run([x], g, v), 2 * v, rtol=1e-6)
    y = th.vector("y", "float64")
    gy = th.grad((y.astype("float32") * np.float32(3)).sum(), y)
    assert gy.dtype == "float64"
    np.testing.assert_array_equal(_run([y], gy, np.ones(2)), [3.0, 3.0])
    node = x.astype("float64").owner
    assert (
        node.op.L_op(node.inputs, node.outputs, [th.ones_like(node.outputs[0])])[0].dtype
        == "float32"
    )


@pytest.mark.parametrize(
    "name", sorted(n for n, op in ELEMWISE_OPS.items() if op.scalar_op.differentiable)
)
def test_float32_gradients_stay_in_float32(name):
    """Python constants inside gradient formulas must not upcast float32 graphs."""
    x = th.tensor("x", "float32", (3,))
    out = ELEMWISE_OPS[name](*[x] * ELEMWISE_OPS[name].scalar_op.nin)
    g = th.grad(out.sum(), x)
    dtypes = {o.dtype for node in apply_nodes([g]) for o in node.outputs}
    assert g.dtype == "float32" and "float64" not in dtypes, dtypes


def test_gradient_of_broadcast_input_has_its_static_shape_and_sums():
    x = th.tensor("x", "float64", (3, 4))
    row = th.tensor("row", "float64", (1, 4))
    vec = th.tensor("vec", "float64", (4,))
    s = th.scalar("s", "float64")
    g_row, g_vec, g_s = th.grad((x * row + vec + s).sum(), [row, vec, s])
    assert (g_row.type.shape, g_vec.type.shape, g_s.type.shape) == ((1, 4), (4,), ())
    xv = RNG.standard_normal((3, 4))
    got = _run(
        [x, row, vec, s], [g_row, g_vec, g_s], xv, np.ones((1, 4)), np.ones(4), np.array(1.0)
    )
    np.testing.assert_allclose(got[0], xv.sum(0, keepdims=True))
    np.testing.assert_array_equal(got[1], np.full(4, 3.0))
    np.testing.assert_array_equal(got[2], 12.0)


def test_maximum_ties_send_the_gradient_to_the_first_argument():
    x = th.vector("x", "float64")
    y = th.vector("y", "float64")
    gx, gy = th.grad(th.maximum(x, y).sum(), [x, y])
    got = _run([x, y], [gx, gy], np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0]))
    np.testing.assert_array_equal(got[0], [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(got[1], [0.0, 1.0, 0.0])


# second / fill


def test_second_broadcasts_its_second_input_to_both_shapes():
    x = th.tensor("x", "float32", (2, 3))
    col = th.tensor("col", "int8", (2, 1))
    out = th.second(x, col)
    assert out.dtype == "int8" and out.type.shape == (2, 3)
    got = _run([x, col], out, np.zeros((2, 3), "float32"), np.array([[1], [-2]], "int8"))
    np.testing.assert_array_equal(got, [[1, 1, 1], [-2, -2, -2]])
    assert got.flags.writeable
    assert th.fill is th.second
    zeros = th.second(x, 0)
    assert zeros.dtype == "float32"
    np.testing.assert_array_equal(_run([x], zeros, np.ones((2, 3), "float32")), np.zeros((2, 3)))


def test_second_gradient_sums_back_to_the_value():
    x = th.tensor("x", "float64", (3, 4))
    row = th.tensor("row", "float64", (1, 4))
    g = th.grad((th.second(x, row) * np.arange(12.0).reshape(3, 4)).sum(), row)
    np.testing.assert_array_equal(
        _run([x, row], g, np.zeros((3, 4)), np.zeros((1, 4))),
        np.arange(12.0).reshape(3, 4).sum(0, keepdims=True),
    )
    with pytest.raises(DisconnectedInputError):
        th.grad(th.second(x, row).sum(), x)


# op identity and shapes


def test_elemwise_ops_compare_by_scalar_op():
    assert ELEMWISE_OPS["add"] == Elemwise(ScalarOp("add", 2, np.add))
    assert hash(ELEMWISE_OPS["add"]) == hash(Elemwise(ScalarOp("add", 2, np.add)))
    assert ELEMWISE_OPS["add"] != ELEMWISE_OPS["subtract"]
    assert Elemwise(Cast("float32")) == Elemwise(Cast(np.float32))
    assert Elemwise(Cast("float32")) != Elemwise(Cast("float64"))
    assert str(ELEMWISE_OPS["tanh"]) == "Elemwise{tanh}"


def test_unknown_out_of_range_policy_is_rejected():
    with pytest.raises(ValueError, match="out_of_range_ints must be one of"):
        ScalarOp("bad", 1, np.negative, out_of_range_ints="wrap")


def test_infer_shape_takes_sizes_from_non_broadcast_inputs():
    x = th.tensor("x", "float64", (None, 1))
    y = th.tensor("y", "float64", (1, None))
    node = (x + y).owner
    assert node.outputs[0].type.shape == (None, None)
    assert node.op.infer_shape(node, [(5, 1), (1, 7)]) == [(5, 7)]
