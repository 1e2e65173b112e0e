"""Shared-variable updates computed in the shared storage, and calls that fail leaving it intact."""

import numpy as np
import pytest

import theanine as th
from theanine.codegen.llvm import scalar as llvm_scalar
from theanine.codegen.program.fallible import inputs_to_copy
from theanine.codegen.program.lowering import lower

RNG = np.random.default_rng(5)


def _sgd_layer():
    """One dense layer's SGD step: W is read by the forward pass and then updated."""
    w0 = RNG.normal(size=(6, 3)).astype("float32")
    w = th.shared(w0.copy(), name="W")
    x = th.matrix("x", dtype="float32", shape=(None, 6))
    target = th.matrix("t", dtype="float32", shape=(None, 3))
    loss = th.mean((x @ w - target) ** 2)
    (grad,) = th.grad(loss, [w])
    return w0, w, x, target, loss, [(w, w - np.float32(0.1) * grad)]


def _sgd_reference(w0, xv, tv):
    err = xv @ w0 - tv
    return np.mean(err**2), w0 - np.float32(0.1) * (2 * xv.T @ err / err.size)


@pytest.mark.parametrize("backend", ["llvm", "numpy"])
def test_update_of_a_weight_read_by_the_forward_pass(backend):
    w0, w, x, target, loss, updates = _sgd_layer()
    f = th.function([x, target], loss, updates=updates, backend=backend)
    xv, tv = RNG.normal(size=(5, 6)).astype("float32"), RNG.normal(size=(5, 3)).astype("float32")
    storage = w.get_value(borrow=True)
    value = f(xv, tv)
    expected_loss, expected_w = _sgd_reference(w0, xv, tv)
    np.testing.assert_allclose(value, expected_loss, rtol=1e-5)
    np.testing.assert_allclose(w.get_value(), expected_w, rtol=1e-5, atol=1e-6)
    if backend == "llvm":
        assert w.get_value(borrow=True) is storage, "the llvm backend should update W in its own storage"


def test_the_llvm_program_copies_no_weight_when_nothing_can_fail_after_the_update():
    _, w, x, target, loss, updates = _sgd_layer()
    f = th.function([x, target], loss, updates=updates, backend="llvm")
    program = lower(f.fgraph_inputs, f.optimized_outputs, llvm_scalar.supports, shape_arithmetic=True)
    assert inputs_to_copy(program) == []
    assert not any(type(s).__name__ == "ElementwiseKernel" and s.inputs and s.inputs[0].buffer == 2
                   and s.outputs != (2,) for s in program.steps), "W is copied somewhere"


@pytest.mark.parametrize("backend", ["llvm", "numpy"])
def test_a_call_failing_after_an_in_place_update_leaves_every_shared_variable_as_it_was(backend):
    """W1's update can run in place before the gather of W2's update fails on a bad index."""
    w1 = th.shared(np.arange(4.0), name="W1")
    w2 = th.shared(np.zeros(3), name="W2")
    index = th.vector("i", dtype="int64")
    source = th.vector("v", dtype="float64")
    f = th.function([index, source], [], updates=[(w1, w1 * 2), (w2, w2 + source[index])], backend=backend)
    before1, before2 = w1.get_value(), w2.get_value()
    with pytest.raises(IndexError, match="out of bounds"):
        f(np.array([0, 1, 7]), np.arange(3.0))
    np.testing.assert_array_equal(w1.get_value(), before1)
    np.testing.assert_array_equal(w2.get_value(), before2)
    f(np.array([2, 1, 0]), np.arange(3.0))
    np.testing.assert_array_equal(w1.get_value(), before1 * 2)
    np.testing.assert_array_equal(w2.get_value(), [2.0, 1.0, 0.0])


@pytest.mark.parametrize("backend", ["llvm", "numpy"])
def test_an_argument_aliasing_an_updated_shared_value_reads_the_old_value(backend):
    w0, w, x, target, loss, updates = _sgd_layer()
    f = th.function([x, target], loss, updates=updates, backend=backend)
    tv = RNG.normal(size=(3, 3)).astype("float32")
    aliased_x = w.get_value(borrow=True).reshape(3, 6)  # W's storage, read by the update's product
    expected_loss, expected_w = _sgd_reference(w0, w0.reshape(3, 6).copy(), tv)
    np.testing.assert_allclose(f(aliased_x, tv), expected_loss, rtol=1e-5)
    np.testing.assert_allclose(w.get_value(), expected_w, rtol=1e-5, atol=1e-6)


def test_a_read_only_shared_array_is_never_written():
    w = th.shared(np.ones(4), name="W")
    frozen = np.ones(4)
    frozen.setflags(write=False)
    w.set_value(frozen, borrow=True)
    f = th.function([], [], updates=[(w, w + 1)], backend="llvm")
    f()
    np.testing.assert_array_equal(frozen, np.ones(4))
    np.testing.assert_array_equal(w.get_value(), np.full(4, 2.0))


@pytest.mark.parametrize("backend", ["llvm", "numpy"])
def test_a_non_contiguous_shared_array_is_updated_right(backend):
    base = np.arange(12.0).reshape(3, 4)
    w = th.shared(np.zeros((4, 3)), name="W")
    w.set_value(base.T, borrow=True)
    f = th.function([], [], updates=[(w, w * 2 + 1)], backend=backend)
    f()
    np.testing.assert_array_equal(w.get_value(), base.T * 2 + 1)


@pytest.mark.parametrize("backend", ["llvm", "numpy"])
def test_an_element_that_raises_after_an_in_place_update_leaves_the_update_undone(backend):
    """A negative integer exponent fails inside the second update's loop (NumPy raises)."""
    w1 = th.shared(np.arange(4), name="W1")
    w2 = th.shared(np.full(3, 2), name="W2")
    exponent = th.vector("e", dtype="int64")
    f = th.function([exponent], [], updates=[(w1, w1 + 1), (w2, w2**exponent)], backend=backend)
    with pytest.raises(ValueError, match="negative integer powers"):
        f(np.array([1, -1, 2]))
    np.testing.assert_array_equal(w1.get_value(), np.arange(4))
    np.testing.assert_array_equal(w2.get_value(), np.full(3, 2))
    f(np.array([1, 0, 3]))
    np.testing.assert_array_equal(w1.get_value(), np.arange(4) + 1)
    np.testing.assert_array_equal(w2.get_value(), [2, 1, 8])


def test_shared_storage_is_read_as_contiguous_and_kept_so():
    """Kernels read shared variables with no strided variant: set_value(borrow=True) keeps only a
    C-contiguous array, and storage that is not (set behind theanine's back) is copied per call."""
    w = th.shared(np.ones((3, 4), "float32"), name="W")
    b = th.shared(np.arange(4, dtype="float32"), name="b")
    x = th.matrix("x", dtype="float32", shape=(None, 4))
    f = th.function([x], th.sum(x * w[0] + b), updates=[(b, b * 2 + 1), (w, w - 0.5)], backend="llvm")
    ones = np.ones((2, 4), "float32")
    assert f(ones) == pytest.approx(20.0)
    strided = np.arange(24, dtype="float32").reshape(3, 8)[:, ::2]
    w.set_value(strided, borrow=True)
    assert w.get_value(borrow=True).flags.c_contiguous and w.get_value(borrow=True) is not strided
    np.testing.assert_array_equal(w.get_value(), strided)
    assert f(ones) == pytest.approx(2 * strided[0].sum() + 2 * np.float32([1, 3, 5, 7]).sum())
    np.testing.assert_array_equal(w.get_value(), strided - 0.5)
    squared = th.function([], w * w, backend="llvm")
    w._value = strided.copy(order="F")
    np.testing.assert_array_equal(squared(), strided * strided)
    assert f(ones) == pytest.approx(2 * strided[0].sum() + 2 * np.float32([3, 7, 11, 15]).sum())
    np.testing.assert_array_equal(w.get_value(), strided - 0.5)
