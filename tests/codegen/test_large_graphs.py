"""Graphs far larger than a hand-written model: no recursion anywhere, and kernels of bounded size.

A fused chain of thousands of elementwise ops becomes one expression DAG
thousands of nodes deep: lowering, hashing, comparing and fingerprinting it
must not recurse, and the lowering cuts it into kernels of at most
``MAX_KERNEL_CALLS`` calls so that the native compiler's time stays near
linear.  Results must equal the numpy backend's.
"""

import numpy as np

import theanine as th
from theanine.codegen.llvm import scalar as llvm_scalar
from theanine.codegen.program.kernel_ir import Call, ElementwiseKernel
from theanine.codegen.program.lowering import lower
from theanine.codegen.program.rules.elementwise import MAX_KERNEL_CALLS, _post_order
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
    sizes = [sum(isinstance(e, Call) for e in _post_order(k.exprs)) for k in kernels]
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
