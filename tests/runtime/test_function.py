"""th.function: inputs, outputs, updates, givens, shared variables and errors."""

import re

import numpy as np
import pytest

import theanine as th


def test_issue_example(backend):
    x = th.matrix("x")
    W = th.shared(np.random.default_rng(0).standard_normal((4, 3)).astype("float32"), name="W")
    b = th.shared(np.zeros(3, "float32"), name="b")
    z = th.tanh(x @ W + b).sum(axis=1)
    f = th.function([x], z, backend=backend)
    value = np.ones((2, 4), "float32")
    out = f(value)
    assert out.shape == (2,) and out.dtype == np.float32
    np.testing.assert_allclose(out, np.tanh(value @ W.get_value()).sum(axis=1), rtol=1e-6)
    g = th.function([x], z, updates=[(b, b + 1)], backend=backend)
    g(value)
    np.testing.assert_array_equal(b.get_value(), np.ones(3, "float32"))


def test_single_list_and_no_outputs():
    x = th.vector("x")
    assert isinstance(th.function([x], x * 2)(np.ones(2, "float32")), np.ndarray)
    both = th.function([x], [x * 2, x + 1])(np.ones(2, "float32"))
    assert isinstance(both, list) and len(both) == 2
    s = th.shared(np.zeros(2, "float32"))
    assert th.function([x], updates=[(s, s + x)])(np.ones(2, "float32")) is None
    np.testing.assert_array_equal(s.get_value(), [1, 1])


def test_updates_apply_at_once_and_see_old_values(backend):
    a = th.shared(np.float32(1.0), name="a")
    b = th.shared(np.float32(10.0), name="b")
    f = th.function([], [a, b], updates=[(a, b), (b, a)], backend=backend)
    assert f() == [1.0, 10.0]
    assert (a.get_value(), b.get_value()) == (10.0, 1.0)
    f()
    assert (a.get_value(), b.get_value()) == (1.0, 10.0)


def test_update_type_errors():
    s = th.shared(np.zeros(3, "float32"), name="s")
    with pytest.raises(TypeError, match=r"update of s has dtype float64 but the shared variable is float32"):
        th.function([], updates=[(s, s.astype("float64"))])
    with pytest.raises(ValueError, match=r"update of s has type float32\(4,\)"):
        th.function([], updates=[(s, th.constant(np.zeros(4, "float32")))])
    with pytest.raises(TypeError, match="is not a shared variable"):
        th.function([], updates=[(th.vector("v"), s)])
    with pytest.raises(ValueError, match="s is updated twice"):
        th.function([], updates=[(s, s + 1), (s, s + 2)])


def test_outputs_never_alias_inputs_or_state():
    x = th.vector("x")
    s = th.shared(np.zeros(2, "float32"), name="s")
    value = np.ones(2, "float32")
    out = th.function([x], x)(value)
    out[0] = 5
    assert value[0] == 1
    state = th.function([], s)()
    state[0] = 7
    assert s.get_value()[0] == 0


def test_givens_substitute_variables(backend):
    x = th.vector("x")
    y = th.vector("y")
    s = th.shared(np.array([1.0, 2.0], "float32"), name="s")
    f = th.function([y], x * 2, givens={x: y + s}, backend=backend)
    np.testing.assert_allclose(f(np.array([1.0, 1.0], "float32")), [4.0, 6.0])
    with pytest.raises(TypeError, match=r"givens: x of type float32\(\?,\) cannot be replaced"):
        th.function([y], x * 2, givens={x: th.matrix()})


def test_missing_input_is_named():
    x, y = th.vector("x"), th.vector("y")
    with pytest.raises(ValueError, match=r"depend on y of type float32\(\?,\).*not among the inputs"):
        th.function([x], x + y)


def test_bad_inputs_name_the_input():
    x = th.matrix("x")
    f = th.function([x], x.sum(), name="f")
    with pytest.raises(TypeError, match=r"input 0 \(x\) of f: expected dtype float32, got float64"):
        f(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"input 0 \(x\) of f: expected 2 dimension\(s\)"):
        f(np.ones(3, "float32"))
    with pytest.raises(TypeError, match="f takes 1 argument"):
        f(np.ones((2, 2), "float32"), 1)
    with pytest.raises(TypeError, match=r"missing input\(s\) \['x'\]"):
        f()
    i = th.vector("i", dtype="int64")
    g = th.function([i], i * 2)
    with pytest.raises(TypeError, match="does not fit dtype int64 without loss"):
        g([1.5])
    np.testing.assert_array_equal(g([1, 2]), [2, 4])
    np.testing.assert_array_equal(f(x=[[1.0, 2.0]]), 3.0)


def test_static_dims_are_checked():
    x = th.tensor("x", shape=(None, 3))
    f = th.function([x], x * 1)
    with pytest.raises(ValueError, match=r"expected shape \(\?, 3\), got \(2, 4\) \(dimension 1 must be 3\)"):
        f(np.ones((2, 4), "float32"))


def test_shared_set_value_checks_and_copies():
    s = th.shared(np.zeros((2, 3), "float32"), name="w")
    with pytest.raises(ValueError, match=r"set_value of shared variable w .*expected shape \(2, 3\), got \(3, 3\)"):
        s.set_value(np.zeros((3, 3), "float32"))
    with pytest.raises(TypeError, match="expected dtype float32, got float64"):
        s.set_value(np.zeros((2, 3)))
    np.testing.assert_array_equal(s.get_value(), np.zeros((2, 3)))
    flexible = th.shared(np.zeros((2, 3), "float32"), shape=(None, 3))
    flexible.set_value(np.ones((5, 3), "float32"))
    assert flexible.get_value().shape == (5, 3)
    value = np.ones((2, 3), "float32")
    s.set_value(value)
    value[0, 0] = 9
    assert s.get_value()[0, 0] == 1
    s.get_value()[0, 0] = 9
    assert s.get_value()[0, 0] == 1


def test_runtime_error_names_op_shapes_and_line_and_changes_nothing(backend):
    x = th.vector("x")
    y = th.vector("y")
    s = th.shared(np.zeros(3, "float32"), name="s")
    z = x + y  # the line the error must point at
    line = __import__("inspect").currentframe().f_lineno - 1
    f = th.function([x, y], z.sum(), updates=[(s, s + 1)], backend=backend)
    with pytest.raises(ValueError) as info:
        f(np.ones(3, "float32"), np.ones(4, "float32"))
    message = str(info.value)
    assert "Elemwise{add}" in message
    assert "float32(3,)" in message and "float32(4,)" in message
    assert re.search(rf"test_function.py:{line}\b", message), message
    np.testing.assert_array_equal(s.get_value(), np.zeros(3))


def test_config_context_restores():
    assert th.config.floatX == "float32"
    with th.config.context(floatX="float64"):
        assert th.matrix().dtype == "float64"
        assert (th.vector() * 1.5).dtype == "float64"
    assert th.matrix().dtype == "float32"
    with pytest.raises(ValueError, match="config.floatX must be one of"):
        th.config.floatX = "int8"
    with pytest.raises(AttributeError, match="unknown config setting"):
        th.config.flaotX = "float64"


def test_variables_remember_their_source_line():
    x = th.vector("x")
    y = x * 2
    assert y.source.endswith(f"test_function.py:{__import__('inspect').currentframe().f_lineno - 1}")


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        v = th.vector()
        th.function([v], v * 2, backend="tpu")


def test_symbolic_variables_have_no_truth_value():
    with pytest.raises(TypeError, match="no truth value"):
        bool(th.vector() > 0)
    with pytest.raises(TypeError, match="not iterable"):
        list(th.vector())


def test_explain_reports_python_fallbacks():
    class PythonOnly(th.Op):
        """An op with only NumPy reference semantics."""

        def make_node(self, x):
            x = th.as_tensor(x)
            return th.Apply(self, [x], [x.type])

        def perform(self, node, inputs):
            return [inputs[0][::-1].copy()]

    x = th.vector("x")
    y = PythonOnly()(th.exp(x))
    f = th.function([x], y * 2, backend="llvm")
    np.testing.assert_allclose(f(np.array([0.0, 1.0], "float32")), 2 * np.exp([1.0, 0.0]), rtol=1e-6)
    assert [type(node.op) for node in f.python_fallbacks] == [PythonOnly]
    report = f.explain()
    assert "backend llvm: 1 Python fallback(s)" in report
    assert re.search(r"PythonOnly \(created at .*test_function.py:\d+\)", report), report
    g = th.function([x], th.exp(x) * 2, backend="llvm")
    assert g.python_fallbacks == [] and "0 Python fallback(s)" in g.explain()


def test_a_python_fallback_returning_a_strided_view_is_read_through_its_strides():
    """A perform may return a view (here every other element, reversed); the compiled kernels that
    read its result must not assume the dense layout of the buffers the runner allocates."""

    class EveryOther(th.Op):
        def make_node(self, x):
            x = th.as_tensor(x)
            return th.Apply(self, [x], [th.TensorType(x.dtype, (None,))])

        def perform(self, node, inputs):
            return [inputs[0][::-2]]

    x = th.vector("x", dtype="float64")
    f = th.function([x], th.sqrt(EveryOther()(x * 3)), backend="llvm")
    value = np.arange(10.0)
    np.testing.assert_array_equal(f(value), np.sqrt((value * 3)[::-2]))


@pytest.mark.parametrize("backend", ["llvm", "numpy"])
@pytest.mark.parametrize("make_outputs", [
    lambda a, W: [a * 2, a * 2],
    lambda a, W: [a * 2, (a * 2)[::-1]],
    lambda a, W: [a, a],
    lambda a, W: [a, a[1:]],
    lambda a, W: [W, W],
    lambda a, W: [W * 1, W[:2] * 1, W],
    lambda a, W: [a + W, (a + W).reshape((3, 1)), a.T],
], ids=["same_expression", "reversed_view", "input_twice", "input_slice", "shared_twice", "shared_views",
        "reshape_and_transpose"])
def test_outputs_never_alias_each_other_an_input_or_shared_storage(backend, make_outputs):
    a = th.vector("a")
    W = th.shared(np.arange(3, dtype="float32"), name="W")
    f = th.function([a], make_outputs(a, W), backend=backend)
    x = np.ones(3, "float32")
    outputs = f(x)
    protected = [x, W.get_value(borrow=True)]
    for i, out in enumerate(outputs):
        assert not any(np.shares_memory(out, p) for p in protected)
        assert not any(np.shares_memory(out, other) for other in outputs[i + 1:])
    for out in outputs:
        out[...] = -7
    np.testing.assert_array_equal(x, np.ones(3, "float32"))
    np.testing.assert_array_equal(W.get_value(), np.arange(3, dtype="float32"))


class _Tagged(np.ndarray):
    """A user's ndarray subclass."""


def _memmap(a: np.ndarray, folder) -> np.memmap:
    a.tofile(folder / "values.dat")
    return np.memmap(folder / "values.dat", dtype=a.dtype, mode="r", shape=a.shape)


@pytest.mark.parametrize("backend", ["llvm", "numpy"])
@pytest.mark.parametrize("make", [
    lambda a, folder: np.matrix(a),
    lambda a, folder: a.view(_Tagged),
    _memmap,
], ids=["matrix", "subclass", "memmap"])
def test_ndarray_subclasses_become_plain_arrays(backend, make, tmp_path):
    x = th.matrix("x")
    f = th.function([x], [x * 2, x.sum(axis=1), x @ x], backend=backend)
    plain = np.arange(4, dtype="float32").reshape(2, 2)
    doubled, sums, product = f(make(plain.copy(), tmp_path))
    assert all(type(o) is np.ndarray for o in (doubled, sums, product))
    np.testing.assert_array_equal(doubled, plain * 2)
    np.testing.assert_array_equal(sums, plain.sum(axis=1))
    np.testing.assert_array_equal(product, plain @ plain)
    W = th.shared(np.zeros((2, 2), "float32"))
    W.set_value(make(plain.copy(), tmp_path))
    assert type(W.get_value()) is np.ndarray


@pytest.mark.parametrize("backend", ["llvm", "numpy"])
def test_a_masked_array_is_refused_with_a_clear_error(backend):
    x = th.vector("x")
    f = th.function([x], x * 2, backend=backend)
    with pytest.raises(TypeError, match="masked arrays are not supported"):
        f(np.ma.masked_array(np.ones(3, "float32"), mask=[1, 0, 0]))


def test_a_function_that_reads_shared_variables_takes_the_fast_path_with_their_current_values():
    W = th.shared(np.ones((4, 3), "float32"), name="W", shape=(4, None))
    x = th.vector("x")
    f = th.function([x], th.tanh(x @ W))
    assert type(f._fast).__name__ == "_FastWithState"
    v = np.linspace(-1, 1, 4).astype("float32")
    np.testing.assert_allclose(f(v), np.tanh(v @ np.ones((4, 3))), rtol=1e-6)
    W.set_value(np.arange(20, dtype="float32").reshape(4, 5) / 10)  # a new value, of another width
    np.testing.assert_allclose(f(v), np.tanh(v @ (np.arange(20).reshape(4, 5) / 10)), rtol=1e-6)
    with pytest.raises(ValueError, match="mismatch"):
        f(np.ones(5, "float32"))
    other = th.shared(np.full((4, 2), 2.0, "float32"), shape=(4, None))
    twin = f.copy(share_memory=True, swap={W: other})
    np.testing.assert_allclose(twin(v), np.tanh(v @ np.full((4, 2), 2.0)), rtol=1e-6)
    np.testing.assert_allclose(f(v), np.tanh(v @ (np.arange(20).reshape(4, 5) / 10)), rtol=1e-6)


def test_functions_that_update_shared_variables_keep_the_python_path():
    W = th.shared(np.ones(3, "float32"))
    x = th.vector("x")
    assert th.function([x], x * W, updates=[(W, W + 1)])._fast is None


def test_the_cycle_collector_is_off_while_compiling_and_as_it_was_after(monkeypatch):
    """Compiling pauses Python's cycle collector; afterwards (a failed compile too) it is as before."""
    import gc

    import theanine.runtime.function as function_module

    seen = []
    build = function_module.Function._build

    def watching(self, *args):
        seen.append(gc.isenabled())
        return build(self, *args)

    monkeypatch.setattr(function_module.Function, "_build", watching)
    x = th.vector("x")
    assert gc.isenabled()
    th.function([x], x + 1, backend="numpy")
    with pytest.raises(ValueError, match="not among the inputs"):
        th.function([], x + 1, backend="numpy")
    assert gc.isenabled() and seen == [False, False]
    gc.disable()
    try:
        th.function([x], x * 2, backend="numpy")
        assert not gc.isenabled()
    finally:
        gc.enable()
