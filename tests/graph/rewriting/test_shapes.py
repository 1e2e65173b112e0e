"""Shape folding: static sizes become constants, elementwise shapes come from inputs, reshapes go."""

import numpy as np

import theanine as th
from theanine.graph.basic import Constant
from theanine.graph.ops.shape import Shape, ShapeI

XV = np.arange(12.0).reshape(3, 4)


def test_static_dimension_of_x_shape_becomes_a_constant(optimized):
    x = th.tensor("x", dtype="float64", shape=(None, 4))
    opt = optimized([x], [x.shape[1] * 2, x.shape[0]], mode="fast_compile")
    assert opt.fired("shape_entry") == 2 and opt.fired("static_shape_i") == 1
    assert isinstance(opt.fgraph.outputs[0], Constant) and opt.fgraph.outputs[0].data == 8
    assert [type(op) for op in opt.ops()] == [ShapeI]
    opt.check_values(XV)


def test_fully_static_shape_is_a_constant(optimized):
    x = th.tensor("x", dtype="float64", shape=(3, 4))
    opt = optimized([x], [th.shape(th.exp(x))], mode="fast_compile")
    assert opt.fired("static_shape") == 1 and opt.ops() == []
    opt.check_values(XV)


def test_shape_of_an_elementwise_result_is_read_from_an_input(optimized):
    x = th.matrix("x", dtype="float64")
    b = th.tensor("b", dtype="float64", shape=(1, None))
    y = th.exp(x) * b
    opt = optimized([x, b], [th.shape(y), y.shape[0]], mode="fast_compile")
    assert opt.fired("static_shape") == 2 and opt.fired("static_shape_i") >= 1
    assert {type(op) for op in opt.ops()} == {Shape, ShapeI}, (
        "exp and multiply are no longer computed"
    )
    assert all(n.inputs[0] is opt.fgraph.inputs[0] for n in opt.fgraph.toposort())
    opt.check_values(XV, np.ones((1, 4)))


def test_reshape_to_its_own_shape_disappears(optimized):
    x = th.matrix("x", dtype="float64")
    s = th.tensor("s", dtype="float64", shape=(3, 4))
    opt = optimized(
        [x, s], [th.reshape(x, x.shape) + 1.0, th.reshape(s, (3, 4))], mode="fast_compile"
    )
    assert opt.fired("useless_reshape") == 2
    assert opt.fgraph.outputs[1] is opt.fgraph.inputs[1]
    opt.check_values(XV, XV)
