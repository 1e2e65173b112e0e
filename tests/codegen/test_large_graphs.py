"""Graphs far larger than a hand-written model: no recursion anywhere, and kernels of bounded size.

A fused chain of thousands of elementwise ops becomes one expression DAG
thousands of nodes deep: lowering, hashing, comparing and fingerprinting it
must not recurse, and the lowering cuts it into kernels weighing at most
``MAX_KERNEL_CALLS`` calls so that the native compiler's time stays near
linear; steps alike in structure print as one function.  Results must
equal the numpy backend's.
"""

import inspect
import re

import numpy as np
import pytest

import theanine as th
from theanine.codegen.llvm import scalar as llvm_scalar
from theanine.codegen.llvm.printer import LLVMPrinter
from theanine.codegen.program.expressions import MAX_KERNEL_CALLS, call_weight, post_order
from theanine.codegen.program.kernel_ir import Call, ElementwiseKernel, HostCall, step_signature
from theanine.codegen.program.lowering import lower
from theanine.graph.rewriting import optimize
from theanine.runtime.llvm.cache import program_fingerprint


def _chain(x, length: int):
    y = x
    for i in range(length):
        y = y * 1.0001 if i % 2 else y + 0.001
    return y


def test_a_chain_of_1500_ops_compiles_and_agrees_with_numpy():
    x = th.vector("x", dtype="float64")
    y = _chain(x, 1500)
    value = np.linspace(-2, 2, 7)
    native = th.function([x], y)(value)
    reference = th.function([x], y, backend="numpy")(value)
    np.testing.assert_allclose(native, reference, rtol=1e-12)


def test_large_fused_kernels_are_cut_into_bounded_pieces():
    x = th.vector("x", dtype="float64")
    y = th.tanh(_chain(x, 2 * MAX_KERNEL_CALLS) * 0.5)
    optimized, _ = optimize([x], [y], "fast_run")
    program = lower([x], optimized, llvm_scalar.supports)
    kernels = [s for s in program.steps if isinstance(s, ElementwiseKernel)]
    sizes = [sum(isinstance(e, Call) for e in post_order(k.exprs)) for k in kernels]
    assert len(kernels) >= 2 and max(sizes) <= MAX_KERNEL_CALLS
    value = np.linspace(-1, 1, 11)
    np.testing.assert_allclose(th.function([x], y)(value), th.function([x], y, backend="numpy")(value), rtol=1e-12)


def test_deep_expressions_hash_and_compare_without_recursion():
    from theanine.codegen.program.kernel_ir import Arg

    left, right = Arg(0, "float32"), Arg(0, "float32")
    for _ in range(20000):
        left = Call("add", (left, Arg(0, "float32")), "float32")
        right = Call("add", (right, Arg(0, "float32")), "float32")
    assert left == right and hash(left) == hash(right)
    assert left != Call("add", (left, Arg(1, "float32")), "float32")


def test_the_fingerprint_writes_a_shared_subexpression_once():
    """y = (y * y) repeated: a tree would double at each level, the DAG grows by one node."""
    x = th.vector("x", dtype="float64")
    y = x
    for _ in range(60):
        y = y * y
    program = lower([x], [y], llvm_scalar.supports)
    assert len(program_fingerprint(program)) < 200_000


def test_every_walk_of_a_shared_subexpression_visits_it_once():
    """An argmax chain reads its running maximum twice per step (max pooling's gradient): each walk
    of an expression (distinct nodes, inputs read, failure modes, kinds used) visits a node once,
    and such a function compiles and agrees with numpy; a tree walk would take 2**60 steps."""
    from theanine.codegen.program.expressions import element_args
    from theanine.codegen.program.fallible import fails_while_writing
    from theanine.codegen.program.kernel_ir import Arg, Index, distinct_nodes, uses

    e = Arg(0, "float64")
    for _ in range(60):
        e = Call("multiply", (e, e), "float64")
    assert len(list(distinct_nodes([e]))) == 61
    assert element_args([e]) == [Arg(0, "float64")] and not uses((e,), (Index,))
    assert not fails_while_writing(ElementwiseKernel((), (0,), (e,), (3,), (), None))
    x = th.vector("x", dtype="float64")
    y = x
    for _ in range(60):
        y = y * y
    values = np.array([0.0, 1.0, -1.0, 0.999999999, 1.0000000001])
    np.testing.assert_array_equal(th.function([x], y)(values), th.function([x], y, backend="numpy")(values))


def _deep_mlp(layers: int, width: int = 8):
    rng = np.random.default_rng(0)
    x = th.matrix("x")
    params, h = [], x
    for _ in range(layers):
        w = th.shared((rng.standard_normal((width, width)) * 0.3).astype("float32"))
        b = th.shared(rng.standard_normal(width).astype("float32"))
        params += [w, b]
        h = th.relu(h @ w + b)
    loss = (h**2).mean()
    return x, params, loss, th.grad(loss, params)


def test_alike_steps_print_as_one_function_each_with_its_own_buffers():
    """Layers alike in structure share their step functions; every step still reads its own buffers."""
    x, params, loss, grads = _deep_mlp(12)
    optimized, _ = optimize([x, *params], [loss, *grads], "fast_run")
    program = lower([x, *params], optimized, llvm_scalar.supports, shape_arithmetic=True)
    native = [s for s in program.steps if not isinstance(s, HostCall)]
    keys = {step_signature(s, program.buffers)[0] for s in native}
    assert len(keys) < len(native) // 4
    module = str(LLVMPrinter(program).module)
    assert len(re.findall(r"define internal i32 @\"segment_\d+_step_\d+\"", module)) == len(keys)
    value = np.random.default_rng(1).standard_normal((5, 8)).astype("float32")
    got = th.function([x], [loss, *grads])(value)
    expected = th.function([x], [loss, *grads], backend="numpy")(value)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=2e-5, atol=1e-6)


def test_signatures_tell_apart_what_prints_differently():
    """Same structure over other buffers: equal keys; another dtype, literal or layout: different keys."""
    def program_of(make):
        a, b = th.vector("a"), th.vector("b")
        optimized, _ = optimize([a, b], [make(a, b)], "fast_run")
        return lower([a, b], optimized, llvm_scalar.supports)

    def key(program):
        return step_signature(program.steps[-1], program.buffers)[0]

    plus = program_of(lambda a, b: a + b * 2.0)
    assert key(plus) == key(program_of(lambda a, b: b + a * 2.0))
    assert key(plus) != key(program_of(lambda a, b: a + b * 3.0))
    assert key(program_of(lambda a, b: (a + b) * 0.0)) != key(program_of(lambda a, b: (a + b) * -0.0))
    assert key(plus) != key(program_of(lambda a, b: a + th.cast(b, "float64") * 2.0))
    assert key(plus) != key(program_of(lambda a, b: a[::2] + b[::2] * 2.0))


def test_a_failure_in_a_shared_step_names_the_node_that_failed():
    x, y, z = th.vector("x"), th.vector("y"), th.vector("z")
    first = x + y
    second = x + z  # the line the error must point at
    line = inspect.currentframe().f_lineno - 1
    f = th.function([x, y, z], [first, second])
    ones = np.ones(3, "float32")
    np.testing.assert_array_equal(f(ones, ones, 2 * ones)[1], 3 * ones)
    with pytest.raises(ValueError) as info:
        f(ones, ones, np.ones(4, "float32"))
    assert re.search(rf"test_large_graphs.py:{line}\b", str(info.value)), str(info.value)


def test_a_chain_of_transcendental_functions_is_cut_into_alike_pieces():
    """tanh weighs more than an add, so the pieces stay small; all but the ends print as one function."""
    x = th.vector("x", dtype="float64")
    y = x
    for _ in range(120):
        y = th.tanh(y)
    optimized, _ = optimize([x], [y.sum(), th.grad(y.sum(), x)], "fast_run")
    program = lower([x], optimized, llvm_scalar.supports, shape_arithmetic=True)
    kernels = [s for s in program.steps if isinstance(s, ElementwiseKernel)]
    assert max(sum(call_weight(e) for e in post_order(k.exprs)) for k in kernels) <= MAX_KERNEL_CALLS
    assert len({step_signature(s, program.buffers)[0] for s in kernels}) < len(kernels) // 2
    value = np.linspace(-2, 2, 9)
    got = th.function([x], th.grad(y.sum(), x))(value)
    np.testing.assert_allclose(got, th.function([x], th.grad(y.sum(), x), backend="numpy")(value), rtol=1e-12)


def test_every_integer_field_of_the_kernel_program_is_known_to_hold_a_buffer_or_not():
    """step_signature renames the fields named in BUFFER_FIELDS; a new field holding buffer numbers
    under another name would make shared step functions read the wrong buffers, so every integer
    field must be listed on one side or the other."""
    import dataclasses
    import typing

    from theanine.codegen.program import kernel_ir

    not_buffers = {"axis", "axes", "item", "root", "position", "_hash"}
    classes = typing.get_args(kernel_ir.Step) + (kernel_ir.Access, kernel_ir.DimOf, kernel_ir.ValueOf, kernel_ir.Load)
    unknown = [f"{cls.__name__}.{f.name}" for cls in classes for f in dataclasses.fields(cls)
               if "int" in str(f.type) and f.name not in kernel_ir.BUFFER_FIELDS | not_buffers]
    assert unknown == []
    assert not kernel_ir.BUFFER_FIELDS & not_buffers
