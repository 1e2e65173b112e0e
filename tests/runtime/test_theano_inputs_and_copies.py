"""Theano's function options: In defaults and keywords, on_unused_input, allow_input_downcast,
upper-case modes, Function.copy(swap, share_memory, delete_updates) and pickling."""

import pickle
import warnings

import numpy as np
import pytest

import theanine as th
from theanine.runtime.llvm import jit as llvm_jit


def test_in_default_values_and_keyword_arguments():
    x, y, z = th.dscalar("x"), th.dscalar("y"), th.dscalar("z")
    f = th.function([x, th.In(y, value=1.0), th.In(z, value=2.0, name="w")], (x + y) * z)
    assert f(3.0) == 8.0  # Theano's documentation example: (3 + 1) * 2
    assert f(3.0, 2.0) == 10.0 and f(3.0, w=3.0) == 12.0 and f(3.0, w=3.0, y=0.0) == 9.0
    assert f["y"] == 1.0 and f[z] == 2.0
    f["y"] = 5.0
    assert f(1.0) == 12.0
    with pytest.raises(TypeError, match="missing input\\(s\\) \\['x'\\]"):
        f(y=1.0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        f(1.0, z=1.0)
    with pytest.raises(KeyError, match="input 'x' of function has no default value"):
        f["x"]
    with pytest.raises(TypeError, match="In expects a symbolic variable"):
        th.In(1.0)


def test_on_unused_input_raise_warn_ignore():
    x, y = th.vector("x"), th.vector("y")
    with pytest.raises(th.UnusedInputError, match="input variable at index 1 \\(y\\) is not part"):
        th.function([x, y], x * 2, on_unused_input="raise")
    with pytest.warns(UserWarning, match="index 1 \\(y\\) is not part of the computational graph"):
        th.function([x, y], x * 2, on_unused_input="warn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = th.function([x, y], x * 2, on_unused_input="ignore")
    np.testing.assert_array_equal(f([1.0], [5.0]), [2.0])
    with th.config.context(on_unused_input="raise"):
        with pytest.raises(th.UnusedInputError):
            th.function([x, y], x * 2)
    with pytest.raises(ValueError, match="on_unused_input must be one of"):
        th.function([x], x, on_unused_input="loud")
    with pytest.raises(ValueError, match="config.on_unused_input must be one of"):
        th.config.on_unused_input = "loud"


def test_allow_input_downcast():
    x = th.fvector("x")
    default = th.function([x], x * 1)
    assert default([0.1]).dtype == np.float32  # Python floats round to floatX (Theano's None)
    with pytest.raises(TypeError, match="does not cast to float32 without loss"):
        default(np.array([0.1]))
    down = th.function([x], x * 1, allow_input_downcast=True)
    np.testing.assert_array_equal(down(np.array([0.1, 2.0])), np.float32([0.1, 2.0]))
    strict_cast = th.function([x], x * 1, allow_input_downcast=False)
    np.testing.assert_array_equal(strict_cast([0.5]), [0.5])  # exact in float32
    with pytest.raises(TypeError, match="without loss \\(allow_input_downcast=False"):
        strict_cast([0.1])
    i = th.ivector("i")
    per_input = th.function([th.In(i, allow_downcast=True)], i + 0)
    np.testing.assert_array_equal(per_input(np.array([1.9, -2.5])), [1, -2])
    strict = th.function([th.In(x, strict=True)], x * 1)
    with pytest.raises(TypeError, match="is strict: expected an array of dtype float32, got float64"):
        strict(np.zeros(2))
    with pytest.raises(TypeError, match="is strict"):
        strict([1.0])
    np.testing.assert_array_equal(strict(np.ones(2, "float32")), [1.0, 1.0])


def test_upper_case_mode_names():
    x = th.dvector("x")
    for mode in ("FAST_RUN", "FAST_COMPILE", "fast_run", th.Mode("FAST_COMPILE")):
        f = th.function([x], th.exp(x) * 2 + 1, mode=mode)
        np.testing.assert_allclose(f([0.0, 1.0]), np.exp([0.0, 1.0]) * 2 + 1)
    assert th.function([x], x, mode="FAST_COMPILE").mode == "fast_compile"
    with pytest.raises(ValueError, match="unknown mode 'FAST'"):
        th.function([x], x, mode="FAST")


def _counter():
    x = th.dscalar("x")
    state = th.shared(np.float64(0.0), name="state")
    return x, state, th.function([x], state * 10 + x, updates=[(state, state + x)])


def test_copy_swaps_shared_variables_and_shares_or_recompiles():
    x, state, f = _counter()
    f(1.0)
    other = th.shared(np.float64(100.0), name="other")
    for share_memory in (True, False):
        other.set_value(100.0)
        g = f.copy(share_memory=share_memory, swap={state: other})
        assert g(2.0) == 1002.0 and other.get_value() == 102.0 and state.get_value() == 1.0
        assert (g._run is f._run) == share_memory
    h = f.copy(delete_updates=True, name="peek")
    assert h(5.0) == 15.0 and state.get_value() == 1.0 and h.name == "peek"
    with pytest.raises(TypeError, match="of the same type"):
        f.copy(swap={state: th.shared(np.zeros(2), name="v")})
    with pytest.raises(ValueError, match="is not a shared variable of function"):
        f.copy(swap={other: state})


def test_copy_has_its_own_default_values():
    x, y = th.dscalar("x"), th.dscalar("y")
    f = th.function([x, th.In(y, value=1.0)], x + y)
    g = f.copy(share_memory=True)
    g["y"] = 10.0
    assert f(0.0) == 1.0 and g(0.0) == 10.0


def test_graphs_pickle_elementwise_cast_and_fused_ops():
    x = th.matrix("x")
    w = th.shared(np.ones((3, 2), "float32"), name="w")
    expr = th.cast(th.exp(x) * 2 + th.where(x > 0, x, 0), "float64").sum() + th.dot(x, w).sum()
    again = pickle.loads(pickle.dumps(expr))
    inputs = [v for v in th.graph.basic.graph_inputs([again]) if v.name == "x"]
    value = np.arange(6, dtype="float32").reshape(2, 3) - 2
    np.testing.assert_allclose(th.function(inputs, again)(value),
                               th.function([x], expr)(value), rtol=1e-6)
    optimized, _ = th.graph.rewriting.optimize([x], [th.exp(x) * 2 + 1], "fast_run")
    assert any(type(n.op.scalar_op).__name__ == "Composite"
               for n in th.graph.basic.apply_nodes(optimized) if isinstance(n.op, th.Elemwise))
    pickle.loads(pickle.dumps(optimized))


def test_pickled_function_keeps_state_and_defaults_and_recompiles_from_the_disk_cache(monkeypatch):
    x, state, f = _counter()
    y = th.dscalar("y")
    g = th.function([x, th.In(y, value=3.0)], x * y + state, name="scaled")
    f(2.0)
    data = pickle.dumps((f, g))

    def no_compiling(source):
        raise AssertionError("the native code should come from the disk cache")

    monkeypatch.setattr(llvm_jit, "compile_to_objects", no_compiling)
    f2, g2 = pickle.loads(data)
    assert f2(1.0) == 21.0  # the state came along: 2 * 10 + 1
    assert g2(1.0) == 3.0 + 3.0 and g2.name == "scaled"  # g2 reads f2's copy of the state
    assert state.get_value() == 2.0  # the original is untouched


def test_no_default_updates_true_false_and_a_list():
    """The random-numbers tutorial: ``no_default_updates=True`` draws the same numbers every call."""
    srng = th.random.RandomStream(seed=234)
    rv_u, rv_n = srng.uniform((2, 2)), srng.normal((2, 2))
    f = th.function([], rv_u)
    g = th.function([], rv_n, no_default_updates=True)
    assert not np.array_equal(f(), f())
    assert np.array_equal(g(), g())
    both = th.function([], [rv_u, rv_n], no_default_updates=[rv_n.owner.inputs[0]])
    (u0, n0), (u1, n1) = both(), both()
    assert not np.array_equal(u0, u1) and np.array_equal(n0, n1)
    copied = g.copy()
    assert np.array_equal(copied(), copied())
    with pytest.raises(TypeError, match="no_default_updates must be a bool or a list of shared variables"):
        th.function([], rv_u, no_default_updates="yes")
    with pytest.raises(TypeError, match="no_default_updates: .* is not a shared variable"):
        th.function([], rv_u, no_default_updates=[rv_u])


def test_mode_accepts_theano_linkers_and_optimizer_names():
    a, b = th.dscalars("a", "b")
    x = th.dmatrix("x")
    out = th.ifelse(th.lt(a, b), th.mean(x), x.sum())
    for mode in (th.Mode(linker="vm"), th.Mode(linker="cvm", optimizer="default"),
                 th.Mode(linker="py", optimizer=None)):
        f = th.function([a, b, x], out, mode=mode)
        assert f(0.0, 1.0, np.ones((3, 3))) == 1.0 and f(2.0, 1.0, np.ones((3, 3))) == 9.0
    assert th.Mode(optimizer=None).optimizer == "none" and th.Mode(optimizer="default").optimizer == "fast_run"
    with pytest.raises(ValueError, match="unknown linker 'fast'"):
        th.Mode(linker="fast")


def test_maker_fgraph_is_the_optimized_graph():
    """The derivatives tutorial: ``pp(f.maker.fgraph.outputs[0])`` shows the optimized gradient."""
    x = th.dscalar("x")
    f = th.function([x], th.grad(x**2, x))
    assert th.pp(f.maker.fgraph.outputs[0]) == "(TensorConstant{2.0} * x)"
    assert [str(node.op) for node in f.maker.fgraph.toposort()] == ["Elemwise{multiply}"]
    w = th.shared(1.0, "w")
    g = th.function([x], x * w, updates=[(w, w + 1)])
    assert g.maker.fgraph.inputs == [x, w] and len(g.maker.fgraph.outputs) == 2


def test_in_mutable_borrow_out_and_get_value_return_internal_type():
    x = th.dvector("x")
    value = np.array([0.0, 1.0])
    f = th.function([th.In(x, mutable=True, borrow=True)], th.Out(th.exp(x), borrow=True))
    np.testing.assert_allclose(f(value), np.exp(value))
    assert np.array_equal(value, [0.0, 1.0])  # theanine never writes into an argument
    g = th.function([x], [th.Out(x * 2), x + 1])
    doubled, plus_one = g(value)
    np.testing.assert_allclose(doubled, [0.0, 2.0])
    np.testing.assert_allclose(plus_one, [1.0, 2.0])
    shared = th.shared(np.ones(2))
    assert np.array_equal(shared.get_value(borrow=True, return_internal_type=True), [1.0, 1.0])
    with pytest.raises(TypeError, match="Out expects a symbolic variable"):
        th.Out(3)


def test_dict_outputs_return_dicts_through_copies_and_pickles():
    x = th.dvector("x")
    w = th.shared(1.0, "w")
    f = th.function([x], {"b": x * 2, "a": x.sum() * w})
    result = f([1.0, 2.0])
    assert list(result) == ["a", "b"] and result["a"] == 3.0 and np.allclose(result["b"], [2.0, 4.0])
    assert f.copy()([1.0])["a"] == 1.0
    assert f.copy(swap={w: th.shared(3.0, "w2")})([1.0])["a"] == 3.0
    assert pickle.loads(pickle.dumps(f))([2.0])["a"] == 2.0
    with pytest.raises(TypeError, match="the keys of a dict of outputs must be strings"):
        th.function([x], {1: x})
