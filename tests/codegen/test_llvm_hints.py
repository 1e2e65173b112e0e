"""What the LLVM printer tells the optimizer: elementwise loops ask for one vector per iteration
(codegen/llvm/loops.py), reductions keep LLVM's choice, every loop has its own self-referencing
loop ID, and loads and stores carry alias scopes (codegen/llvm/alias.py); the code still computes
NumPy's values (remainders without vectorized epilogues, in-place updates)."""

import re

import numpy as np
import pytest

import theanine as th
from theanine.codegen.llvm import scalar
from theanine.codegen.llvm.printer import LLVMPrinter
from theanine.codegen.program.lowering import lower

R = np.random.default_rng(17)


def _module_text(inputs, outputs) -> str:
    f = th.function(inputs, outputs, backend="llvm")
    program = lower(f.fgraph_inputs, f.optimized_outputs, scalar.supports, shape_arithmetic=True)
    return str(LLVMPrinter(program).module)


def _loop_ids(text: str) -> list[str]:
    return re.findall(r"!llvm\.loop (!\d+)", text)


def _node(text: str, name: str) -> str:
    return re.search(rf"^{name} = (.*)$", text, re.M).group(1)


def test_elementwise_loops_ask_for_one_vector_per_iteration():
    x = th.matrix("x", dtype="float32")
    text = _module_text([x], th.exp(x) * 2.0 + 1.0)
    ids = _loop_ids(text)
    assert ids, "the elementwise kernel's loops carry no loop ID"
    assert len(set(ids)) == len(ids), "two loops share one loop ID"
    for loop_id in ids:
        self_reference, hint = re.fullmatch(r"!\{ (!\d+), (!\d+) \}", _node(text, loop_id)).groups()
        assert self_reference == loop_id
        assert _node(text, hint) == '!{ !"llvm.loop.interleave.count", i32 1 }'


def test_reductions_keep_interleaving():
    x = th.matrix("x", dtype="float32")
    assert _loop_ids(_module_text([x], x.sum(axis=1))) == []


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("size", [0, 1, 15, 17, 37, 1000, 4099])
def test_remainders_without_vector_epilogue_equal_numpy(size, dtype):
    x, y = th.vector("x", dtype=dtype), th.vector("y", dtype=dtype)
    f = th.function([x, y], [th.exp(x) * y + 1.0, th.relu(x - y)], backend="llvm")
    xv, yv = R.standard_normal(size).astype(dtype), R.standard_normal(size).astype(dtype)
    got_exp, got_relu = f(xv, yv)
    tol = 2e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(got_exp, np.exp(xv) * yv + 1.0, rtol=tol, atol=tol)
    np.testing.assert_array_equal(got_relu, np.maximum(xv - yv, 0))


def _scope_names(text: str, node: str) -> set[str]:
    """The buffer names of the scopes listed by metadata node ``node``."""
    scopes = re.fullmatch(r"!\{ (.*) \}", _node(text, node)).group(1).split(", ")
    return {re.search(r'!"(buffer \d+)"', _node(text, s)).group(1) for s in scopes}


def test_loads_and_stores_name_their_buffer_and_exclude_the_others():
    x, y = th.matrix("x", dtype="float32"), th.matrix("y", dtype="float32")
    text = _module_text([x, y], [th.exp(x) + y, x * y])
    stores = re.findall(r"store float .*?!alias\.scope (!\d+), !noalias (!\d+)", text)
    loads = re.findall(r"load float, float\* .*?!alias\.scope (!\d+), !noalias (!\d+)", text)
    assert stores and loads
    for scope, others in stores + loads:
        (own,) = _scope_names(text, scope)
        assert own not in _scope_names(text, others)
        assert len(_scope_names(text, others)) == 3  # a kernel with two inputs and two outputs


def test_in_place_and_aliased_reads_keep_numpy_values():
    """A shared variable updated in place reads itself at the element it writes and at others."""
    w = th.shared(np.arange(12, dtype="float32").reshape(3, 4))
    x = th.matrix("x", dtype="float32")
    f = th.function([x], (w * x).sum(), updates=[(w, w * 2 + w[::-1] + x)], backend="llvm")
    start, xv = w.get_value(), R.standard_normal((3, 4)).astype("float32")
    f(xv)
    np.testing.assert_allclose(w.get_value(), start * 2 + start[::-1] + xv, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gathered_loads_carry_alias_scopes_and_keep_numpy_values(dtype):
    x, rows = th.matrix("x", dtype=dtype), th.lvector("rows")
    gathered = th.take(x, rows, axis=0) * 2.0 + 1.0
    text = _module_text([x, rows], gathered)
    ctype = "float" if dtype == "float32" else "double"
    loads = re.findall(rf"load {ctype}, {ctype}\* .*", text)
    assert loads and all("!alias.scope" in load for load in loads), [ld for ld in loads if "alias" not in ld]
    f = th.function([x, rows], gathered, backend="llvm")
    xv, rv = R.standard_normal((7, 5)).astype(dtype), np.array([6, 0, 3, 3, -1])
    np.testing.assert_allclose(f(xv, rv), xv[rv] * 2.0 + 1.0, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_temporaries_walk_with_strides_known_from_their_sizes(dtype):
    """A kernel reading only buffers the runner allocates (C-contiguous) computes their strides from
    their sizes instead of loading them (no byte-to-element division), so LLVM sees unit steps;
    an input's strides are loaded, since a caller may pass any view."""
    x, w = th.matrix("x", dtype=dtype), th.matrix("w", dtype=dtype)
    product = x @ w
    f = th.function([x, w], [product.sum(axis=0), product.max(axis=1), x.sum(axis=0)], backend="llvm")
    program = lower(f.fgraph_inputs, f.optimized_outputs, scalar.supports, shape_arithmetic=True)
    printer = LLVMPrinter(program)
    steps = {fn.name: str(fn) for fn in printer.module.functions if "_step_" in fn.name}
    # the three kernels over the product compute its strides; the GEMM and x's sum load their inputs'
    assert sorted("sdiv exact" in text for text in steps.values()) == [False, False, False, True, True]
    xv, wv = R.standard_normal((37, 5)).astype(dtype), R.standard_normal((5, 19)).astype(dtype)
    got = f(xv[:, ::1], wv)
    expected = xv.astype(np.float64) @ wv
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got[0], expected.sum(axis=0), rtol=tol, atol=tol)
    np.testing.assert_allclose(got[1], expected.max(axis=1), rtol=tol, atol=tol)
    strided = R.standard_normal((37, 10)).astype(dtype)[:, ::2]  # a view: the input kernels read its strides
    np.testing.assert_allclose(f(strided, wv)[2], strided.sum(axis=0), rtol=tol, atol=tol)
