"""th.pp and Theano's typed constructors (dscalar, fmatrix, ivector, ..., dscalars("a", "b"))."""

import numpy as np
import pytest

import theanine as th


def test_pp_prints_theano_style_algebra():
    x, y = th.dscalar("x"), th.dscalar("y")
    assert th.pp(x + y * 2) == "(x + (y * TensorConstant{2.0}))"
    assert th.pp(-x / y) == "(-x / y)"
    assert th.pp(th.exp(x) ** y) == "(exp(x) ** y)"
    gy = th.grad(x**2, x)  # Theano's documentation example, in theanine's gradient form
    assert th.pp(gy) == ("((TensorConstant{1.0} * TensorConstant{2.0}) * "
                         "(x ** (TensorConstant{2.0} - TensorConstant{1.0})))")
    v = th.dvector("v")
    # Theano's printers: indexing as x[...], broadcasting DimShuffles hidden, a reversal as .T
    assert th.pp(th.sum(v[1:] > 0)) == "Reduce{kind=sum, axes=(0,), dtype=None}((v[1:] > TensorConstant{0.0}))"
    m = th.dmatrix("m")
    assert th.pp(m.T) == "m.T" and th.pp(m[0, 1:] * 2) == "(m[0, 1:] * TensorConstant{2.0})"
    assert th.pp(m.dimshuffle(0, "x", 1)) == "DimShuffle{0,x,1}(m)"
    assert th.pp(th.constant(np.arange(3))) == "TensorConstant{[0, 1, 2]}"
    assert th.pp([x, y]) == "x\ny"
    with pytest.raises(TypeError, match="pp prints symbolic variables"):
        th.pp(3)


def test_pp_handles_deep_graphs_without_recursion():
    x = th.dscalar("x")
    y = x
    for _ in range(3000):
        y = th.exp(y)
    assert th.pp(y).count("exp(") == 3000


@pytest.mark.parametrize("prefix, dtype", [("b", "int8"), ("w", "int16"), ("i", "int32"),
                                           ("l", "int64"), ("f", "float32"), ("d", "float64")])
def test_typed_constructors(prefix, dtype):
    shapes = {"scalar": (), "vector": (None,), "row": (1, None), "col": (None, 1),
              "matrix": (None, None), "tensor3": (None,) * 3, "tensor4": (None,) * 4,
              "tensor5": (None,) * 5}
    for kind, shape in shapes.items():
        variable = getattr(th, prefix + kind)("v")
        assert variable.type == th.TensorType(dtype, shape) and variable.name == "v"
    a, b = getattr(th, prefix + "scalars")("a", "b")
    assert (a.name, b.name, a.dtype) == ("a", "b", dtype)
    three = getattr(th, prefix + "matrices")(3)
    assert len(three) == 3 and all(m.type == th.TensorType(dtype, (None, None)) for m in three)
    assert getattr(th, prefix + "vectors")("only").name == "only"  # one name: one variable


def test_untyped_constructors_use_floatx_and_broadcast_rows():
    with th.config.context(floatX="float64"):
        assert th.row("r").type == th.TensorType("float64", (1, None))
        x, y = th.scalars("x", "y")
        assert x.dtype == "float64"
    r, c = th.frow("r"), th.fcol("c")
    f = th.function([r, c], r + c)
    assert f(np.ones((1, 3), "float32"), np.ones((2, 1), "float32")).shape == (2, 3)
    with pytest.raises(TypeError, match="takes names \\(strings\\) or a count"):
        th.dscalars(1.5)


def test_theano_keyword_arguments_of_shared_tensortype_grad_and_scan():
    value = np.ones(3)
    borrowed = th.shared(value, name="b", borrow=True, strict=True)
    value[0] = 5.0
    assert borrowed.get_value()[0] == 5.0  # the variable keeps the array it was given
    copied = th.shared(value)
    value[0] = 7.0
    assert copied.get_value()[0] == 5.0
    assert th.TensorType("float64", broadcastable=(False, True)) == th.TensorType("float64", (None, 1))
    x, z = th.dmatrix("x"), th.dmatrix("z")
    gx, gz = th.grad(x.sum(), [x, z], disconnected_inputs="ignore", return_disconnected="None")
    assert gz is None and gx is not None
    with pytest.raises(ValueError, match="return_disconnected must be"):
        th.grad(x.sum(), x, return_disconnected="zeros")
    q = th.dvector("q")
    total, _ = th.scan(lambda a, h: h + a, sequences=q, outputs_info=th.constant(0.0), mode="FAST_RUN",
                       profile=False, allow_gc=True)
    assert np.allclose(th.function([q], total)([1.0, 2.0, 3.0]), [1.0, 3.0, 6.0])


def test_th_nnet_keeps_theanos_argument_orders():
    """``T.nnet.binary_crossentropy(output, target)``: prediction first, as Theano (th.binary_crossentropy
    is Keras' target-first form)."""
    p, y = th.dvector("p"), th.dvector("y")
    pn, yn = np.array([0.9, 0.2]), np.array([1.0, 0.0])
    bce = th.function([p, y], th.nnet.binary_crossentropy(p, y))(pn, yn)
    np.testing.assert_allclose(bce, -(yn * np.log(pn) + (1 - yn) * np.log(1 - pn)))
    probs, labels, onehot = th.dmatrix("P"), th.ivector("l"), th.dmatrix("Y")
    pm = np.array([[0.7, 0.3], [0.4, 0.6]])
    labels_n = np.array([0, 1], "int32")
    sparse = th.function([probs, labels], th.nnet.categorical_crossentropy(probs, labels))(pm, labels_n)
    dense = th.function([probs, onehot], th.nnet.categorical_crossentropy(probs, onehot))(pm, np.eye(2))
    np.testing.assert_allclose(sparse, -np.log([0.7, 0.6]))
    np.testing.assert_allclose(dense, sparse)
    x = th.dvector("x")
    xn = np.array([-1.0, 2.0])
    relu, hard, elu, soft = th.function([x], [th.nnet.relu(x, 0.1), th.nnet.hard_sigmoid(x), th.nnet.elu(x),
                                              th.nnet.softmax(x)])(xn)
    np.testing.assert_allclose(relu, [-0.1, 2.0])
    np.testing.assert_allclose(hard, [0.3, 0.9])
    np.testing.assert_allclose(elu, [np.exp(-1) - 1, 2.0])
    np.testing.assert_allclose(soft, np.exp(xn) / np.exp(xn).sum())


def test_theanine_tensor_is_theanos_module_name_and_stays_callable():
    """``import theanine.tensor as T`` as Theano code does; ``th.tensor(...)`` still makes a tensor."""
    import theanine.tensor as T

    assert th.tensor is T and T.dmatrix is th.dmatrix and T.grad is th.grad and T.nnet.sigmoid is th.nnet.sigmoid
    assert th.tensor("x", "float32", (None, 3)).type == th.TensorType("float32", (None, 3))
    x = T.dvector("x")
    assert np.allclose(th.function([x], T.grad(T.sum(x**2), x))([1.0, 2.0]), [2.0, 4.0])
    with pytest.raises(AttributeError):
        T.no_such_name  # noqa: B018


def test_theano_module_paths_of_ifelse_and_random_streams():
    from theanine.ifelse import ifelse
    from theanine.random import RandomStream
    from theanine.tensor.shared_randomstreams import RandomStreams

    assert ifelse is th.ifelse and callable(th.ifelse) and RandomStreams is RandomStream is th.random.RandomStream
    srng = RandomStreams(seed=234)
    values = th.function([], srng.uniform((2, 2)))()
    assert values.shape == (2, 2) and ((values >= 0) & (values < 1)).all()
