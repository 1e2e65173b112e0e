"""Native lowering of views, copies, products, arg-reductions, scans, gathers and scatters.

Each op here must lower to native steps (no ``HostCall``) for its typical
cases and agree with NumPy, also on non-contiguous and broadcast inputs,
0-size inputs, and with two threads.  Out-of-bounds indices raise
IndexError (the node's reference semantics rerun on the values it saw).

The llvm runner evaluates buffer shapes computed from other sizes or read
from data (``shape_arithmetic``); the ``simple_shapes`` runs lower without
that, so the ops that need it fall back to host calls and must still agree.
"""

import functools

import numpy as np
import pytest

import theanine as th
import theanine.runtime.llvm.backend as llvm_backend
from op_table import added_at, set_at
from theanine.codegen.llvm import scalar as llvm_scalar
from theanine.codegen.program.kernel_ir import HostCall
from theanine.codegen.program.lowering import lower
from theanine.graph.ops.blas import gemm
from theanine.graph.rewriting import optimize


@pytest.fixture(params=[False, True], ids=["simple_shapes", "shape_arithmetic"])
def arithmetic(request, monkeypatch):
    """Run with and without shape arithmetic in the lowering (the runner handles both)."""
    if not request.param:
        monkeypatch.setattr(llvm_backend, "lower", functools.partial(lower, shape_arithmetic=False))
    return request.param


def host_ops(inputs, outputs, arithmetic=True) -> list[str]:
    """Names of the ops that the optimized graph leaves to Python."""
    optimized, _ = optimize(inputs, outputs, "fast_run")
    program = lower(inputs, optimized, llvm_scalar.supports, shape_arithmetic=arithmetic)
    return [type(s.node.op).__name__ for s in program.steps if isinstance(s, HostCall)]


def matrix(name, dtype="float64"):
    return th.tensor(name, dtype, (None, None))


X = np.arange(20, dtype="float64").reshape(4, 5) - 7.5
I = np.array([3, -1, 0, 3])

NATIVE = [
    ("broadcast_to", lambda x: th.broadcast_to(x[0], (3, x.shape[1])), lambda x: np.broadcast_to(x[0], (3, 5))),
    ("slices", lambda x: x[1:, ::-2], lambda x: x[1:, ::-2]),
    ("int_and_newaxis", lambda x: x[-1, None, 1:4], lambda x: x[-1, None, 1:4]),
    ("reshape_minus1", lambda x: th.reshape(x, (-1, 2)), lambda x: x.reshape(-1, 2)),
    ("reshape_transposed", lambda x: th.reshape(x.T, (x.shape[0] * x.shape[1],)), lambda x: x.T.reshape(-1)),
    ("join", lambda x: th.concatenate([x, 2 * x[:2]], axis=0), lambda x: np.concatenate([x, 2 * x[:2]])),
    ("split", lambda x: th.split(x, [1, 3], axis=1)[1], lambda x: np.split(x, [1, 3], axis=1)[1]),
    ("shape", lambda x: th.shape(x[1:]), lambda x: np.array(x[1:].shape)),
    ("arange", lambda x: th.arange(x.shape[0], 3 * x.shape[1], 2), lambda x: np.arange(4, 15, 2)),
    ("argmax", lambda x: th.argmax(x.T, axis=0), lambda x: np.argmax(x.T, axis=0)),
    ("argmin_all", lambda x: th.argmin(x[:, ::-1]), lambda x: np.argmin(x[:, ::-1])),
    ("cumsum", lambda x: th.cumsum(x.T, axis=1), lambda x: np.cumsum(x.T, axis=1)),
    ("cumprod", lambda x: th.cumprod(x[:, :3] / 8, axis=0), lambda x: np.cumprod(x[:, :3] / 8, axis=0)),
    ("matvec", lambda x: th.matmul(x, x[0]), lambda x: x @ x[0]),
    ("vecmat", lambda x: th.matmul(x[:, 0], x), lambda x: x[:, 0] @ x),
    ("batched", lambda x: th.matmul(th.stack([x, x]), x.T), lambda x: np.stack([x, x]) @ x.T),
    ("int_matmul", lambda x: th.matmul(th.cast(x, "int32"), th.cast(x.T, "int32")),
     lambda x: x.astype("int32") @ x.T.astype("int32")),
    ("gather", lambda x: x[I], lambda x: x[I]),
    ("gather_axis1", lambda x: x[:, I[:3]], lambda x: x[:, I[:3]]),
    ("inc_repeated", lambda x: th.inc_subtensor(x[I], 1.0), lambda x: added_at(x, I, 1.0)),
    ("set_slice", lambda x: th.set_subtensor(x[1:, ::2], -x[1:, ::2]),
     lambda x: set_at(x, (slice(1, None), slice(None, None, 2)), -x[1:, ::2])),
]


@pytest.mark.parametrize("build, reference", [c[1:] for c in NATIVE], ids=[c[0] for c in NATIVE])
def test_ops_lower_natively_and_match_numpy(build, reference, arithmetic):
    x = matrix("x")
    out = build(x)
    if arithmetic:
        assert host_ops([x], [out]) == []
    got = th.function([x], out, backend="llvm")(X)
    np.testing.assert_allclose(got, reference(X), rtol=1e-12)
    assert got.shape == np.shape(reference(X))


def test_views_of_non_contiguous_and_broadcast_inputs(arithmetic):
    x, v = matrix("x"), th.tensor("v", "float64", (1, None))
    outputs = [x[::2, 1:].T * 2, th.concatenate([x.T, v.T * x.T], axis=1)[1:], th.broadcast_to(v, (3, x.shape[1]))]
    f = th.function([x, v], outputs, backend="llvm")
    base = np.arange(48.0).reshape(6, 8)
    xs, vs = base[::2, 1::2].T, base[:1, :3]  # transposed, strided
    got = f(xs, vs)
    np.testing.assert_array_equal(got[0], xs[::2, 1:].T * 2)
    np.testing.assert_array_equal(got[1], np.concatenate([xs.T, vs.T * xs.T], axis=1)[1:])
    np.testing.assert_array_equal(got[2], np.broadcast_to(vs, (3, 3)))


@pytest.mark.parametrize("threads", [1, 2])
def test_out_of_bounds_indices_raise_index_error(threads, arithmetic):
    x, i = matrix("x"), th.tensor("i", "int64", (None,))
    k = th.tensor("k", "int64", ())
    with th.config.context(num_threads=threads):
        gather = th.function([x, i], x[i] * 2, backend="llvm")
        scatter = th.function([x, i], th.inc_subtensor(x[:, i], 1.0), backend="llvm")
        element = th.function([x, k], x[k], backend="llvm")
    big = np.ones((70000, 2))
    with pytest.raises(IndexError, match="out of bounds"):
        gather(big, np.array([0, 70000]))
    with pytest.raises(IndexError, match="out of bounds"):
        scatter(big, np.array([1, -3]))
    with pytest.raises(IndexError, match=r"out of bounds|AdvancedSubtensor|Subtensor"):
        element(X, np.array(-5))
    np.testing.assert_array_equal(gather(big[:3], np.array([-1, 0])), 2 * big[[-1, 0]])
    np.testing.assert_array_equal(element(X, np.array(-4)), X[-4])


def test_zero_size_inputs(arithmetic):
    x, i = matrix("x"), th.tensor("i", "int64", (None,))
    outputs = [x[i], th.inc_subtensor(x[i], 1.0), th.cumsum(x, axis=0), th.argmax(x, axis=1),
               th.matmul(x.T, x), th.concatenate([x, x], axis=0), th.reshape(x, (-1,))]
    f = th.function([x, i], outputs, backend="llvm")
    empty = np.zeros((0, 3))
    got = f(empty, np.zeros(0, dtype="int64"))
    expected = [empty[[]], empty, empty, np.zeros(0, "int64"), np.zeros((3, 3)), empty, np.zeros(0)]
    for g, e in zip(got, expected, strict=False):
        np.testing.assert_array_equal(g, e)
        assert g.shape == e.shape
    with pytest.raises(ValueError, match="empty sequence"):
        th.function([x], th.argmax(x, axis=0), backend="llvm")(empty)


def test_argmax_follows_numpy_on_nan_and_ties():
    x = matrix("x")
    f = th.function([x], [th.argmax(x, axis=1), th.argmin(x, axis=1)], backend="llvm")
    values = np.array([[1.0, 3.0, 3.0, 0.0], [np.nan, 1.0, np.nan, 5.0], [2.0, np.nan, -1.0, -1.0]])
    got = f(values)
    np.testing.assert_array_equal(got[0], np.argmax(values, axis=1))
    np.testing.assert_array_equal(got[1], np.argmin(values, axis=1))


def test_gemm_with_scale_and_addend_is_native():
    a, b, c = matrix("a", "float32"), matrix("b", "float32"), th.tensor("c", "float32", (None,))
    d = matrix("d", "float32")
    out = gemm(d, a, b, alpha=0.5, beta=2.0)
    assert host_ops([a, b, c], [th.matmul(a, b) + c], arithmetic=False) == []
    assert host_ops([a, b, d], [out], arithmetic=False) == []
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s).astype("float32") for s in ((3, 4), (4, 5), (3, 5))]
    f = th.function([a, b, d], out, backend="llvm")
    np.testing.assert_allclose(f(*values), 0.5 * values[0] @ values[1] + 2 * values[2], rtol=1e-5)


def test_large_gathers_scans_and_arg_reductions_agree_across_threads():
    x, i = matrix("x"), th.tensor("i", "int64", (None,))
    outputs = [x[i], th.cumsum(x, axis=1), th.argmax(x, axis=1), th.inc_subtensor(x[i], 1.0)]
    value = np.random.default_rng(1).standard_normal((40000, 4))
    index = np.random.default_rng(2).integers(-40000, 40000, 50000)
    results = []
    for threads in (1, 2):
        with th.config.context(num_threads=threads):
            results.append(th.function([x, i], outputs, backend="llvm")(value, index))
    expected_values = [value[index], np.cumsum(value, axis=1), np.argmax(value, axis=1), added_at(value, index, 1.0)]
    for single, multi, expected in zip(*results, expected_values, strict=True):
        np.testing.assert_array_equal(single, multi)
        np.testing.assert_allclose(single, expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int8", "int64", "uint8"])
def test_floor_divide_and_mod_follow_numpy_on_signs_zeros_and_extremes(dtype):
    if dtype.startswith("float"):
        values = np.array([-7.5, -3, -1, -0.0, 0.0, 0.5, 2.5, 3, np.inf, -np.inf, np.nan], dtype=dtype)
    else:
        info = np.iinfo(dtype)
        values = np.array(sorted({info.min, max(info.min, -7), 0, 1, 3, 7, info.max}), dtype=dtype)
    a, b = np.repeat(values, len(values)), np.tile(values, len(values))
    x, y = th.vector("x", dtype), th.vector("y", dtype)
    assert host_ops([x, y], [th.floor_divide(x, y), th.mod(x, y)]) == []
    got = th.function([x, y], [th.floor_divide(x, y), th.mod(x, y)], backend="llvm")(a, b)
    with np.errstate(all="ignore"):
        expected = [np.floor_divide(a, b), np.mod(a, b)]
    for g, e in zip(got, expected, strict=False):
        np.testing.assert_array_equal(g, e)
        np.testing.assert_array_equal(np.signbit(g), np.signbit(e))


def test_inplace_steps_write_into_the_destroyed_buffer_without_allocating():
    from theanine.codegen.program.kernel_ir import ScatterKernel, step_outputs
    from theanine.graph.rewriting.inplace import ElemwiseInplace, IncSubtensorInplace

    x, i = matrix("x"), th.tensor("i", "int64", (None,))
    y = th.exp(x)
    doubled = ElemwiseInplace((y * 2.0).owner.op.scalar_op, 0)(y, th.constant(2.0))
    bumped = IncSubtensorInplace((("array",),), False)(doubled, th.constant(1.0), i)
    program = lower([x, i], [bumped], llvm_scalar.supports)
    exp_step, double_step, scatter = program.steps
    (temp,) = step_outputs(exp_step)
    assert double_step.outputs == (temp,) and step_outputs(double_step) == ()
    assert isinstance(scatter, ScatterKernel) and scatter.target == temp and step_outputs(scatter) == ()
    f = th.function([x, i], bumped, backend="llvm", mode="none")
    np.testing.assert_allclose(f(X, I), added_at(np.exp(X) * 2.0, I, 1.0), rtol=1e-12)


def test_a_step_kind_the_printer_lacks_becomes_a_host_call():
    """lower(step_kinds=...) keeps to a printer's emitters: a rule that makes another kind of step is
    undone and its node runs as a host call (a CUDA program never meets an MPI call step)."""
    from theanine.codegen.program.kernel_ir import ElementwiseKernel, GemmCall, ReduceKernel

    a, b = th.matrix("a"), th.matrix("b")
    outputs = [th.exp(a @ b).sum()]
    full = lower([a, b], outputs, llvm_scalar.supports)
    assert any(isinstance(s, GemmCall) for s in full.steps)
    narrowed = lower([a, b], outputs, llvm_scalar.supports, step_kinds={ElementwiseKernel, ReduceKernel})
    assert not any(isinstance(s, GemmCall) for s in narrowed.steps)
    (host,) = [s for s in narrowed.steps if isinstance(s, HostCall)]
    assert host.node.inputs == [a, b]
    x = th.vector("x")
    f = th.function([x], th.distributed.allreduce(x * 2, op="mean"), backend="cuda-emulated")
    np.testing.assert_array_equal(f(np.arange(3, dtype="float32")), [0, 2, 4])


def _step_ops(inputs, outputs) -> list[str]:
    f = th.function(inputs, outputs, backend="numpy")
    program = lower(f.fgraph_inputs, f.optimized_outputs, llvm_scalar.supports, shape_arithmetic=True)
    return [type(s.node.op).__name__ for s in program.steps]


def test_shape_vectors_a_reshape_reads_as_sizes_are_not_computed_by_steps():
    """A reshape to ``(x.shape[0] * 4, -1)`` reads its shape vector's entries as size arithmetic: no
    step computes the size, the product or the vector (program/dead_kernels.py drops the kernels
    the shape vector's nodes lowered to), and the values are NumPy's."""
    x = th.tensor("x", "float64", (None, 4, 3))
    flat = th.reshape(x.dimshuffle(0, 2, 1), (x.shape[0] * 4, -1)) * 2.0
    ops = _step_ops([x], [flat])
    assert not {"ShapeI", "Join", "MakeVector"} & set(ops) and "Elemwise" in ops
    f = th.function([x], flat, backend="llvm")
    for batch in (5, 1):
        value = np.arange(batch * 12, dtype="float64").reshape(batch, 4, 3)
        np.testing.assert_array_equal(f(value), value.transpose(0, 2, 1).reshape(batch * 4, -1) * 2.0)


def test_a_size_read_from_data_before_an_in_place_update_keeps_its_value():
    """A size computed from a value that an in-place op overwrites later (the pieces of a split)
    stays a value computed by its own step: its buffer is not read after the update."""
    x = matrix("x")
    pieces = th.split(x, [1, 3], axis=1)
    f = th.function([x], [p * 1.0 for p in pieces], backend="llvm")
    for got, expected in zip(f(X), np.split(X, [1, 3], axis=1), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_an_average_pools_training_program_has_no_shape_steps():
    """Average pooling with padding reshapes by its batch size times its channels: those sizes are
    arithmetic on the input's dimensions, so no step computes them."""
    x = th.tensor("x", "float32", (None, 9, 9, 4))
    y = th.average_pool(x, 3, 2, padding="same")
    ops = _step_ops([x], th.grad((y * y).sum(), x))
    assert not {"ShapeI", "Join"} & set(ops) and not any(op == "Elemwise" for op in ops)
    f = th.function([x], th.grad((y * y).sum(), x), backend="llvm")
    reference = th.function([x], th.grad((y * y).sum(), x), backend="numpy")
    value = np.random.default_rng(5).standard_normal((3, 9, 9, 4)).astype("float32")
    np.testing.assert_allclose(f(value), reference(value), rtol=1e-5, atol=1e-5)
