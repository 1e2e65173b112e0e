"""A loop-invariant transposed right operand of a GEMM in a loop is copied row-major once, before the loop
(codegen/program/loop_operands.py), and the loop computes what NumPy does."""

import numpy as np
import pytest

import theanine as th
from theanine.codegen.llvm import scalar as llvm_scalar
from theanine.codegen.program.kernel_ir import ElementwiseKernel, GemmCall, LoopStep
from theanine.codegen.program.lowering import lower


def _recurrence(dtype):
    rng = np.random.default_rng(5)
    u_value = rng.standard_normal((6, 20)).astype(dtype) * 0.3
    u = th.shared(u_value, name="u")
    h0 = th.matrix("h0", dtype=dtype)
    states, _ = th.scan(lambda h: th.tanh((h @ u.T) @ u), outputs_info=[h0], n_steps=7)
    return h0, states, u_value


def _reference(h, u, steps=7):
    out = []
    for _ in range(steps):
        h = np.tanh((h @ u.T) @ u)
        out.append(h)
    return np.stack(out)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_recurrence_with_a_transposed_operand_matches_numpy(dtype):
    h0, states, u_value = _recurrence(dtype)
    f = th.function([h0], states, backend="llvm")
    h_value = np.random.default_rng(6).standard_normal((9, 20)).astype(dtype)
    tolerance = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(f(h_value), _reference(h_value, u_value), rtol=tolerance, atol=tolerance)


def _loop_and_copies(dtype):
    h0, states, _ = _recurrence(dtype)
    f = th.function([h0], states, backend="llvm")
    program = lower(f.fgraph_inputs, f.optimized_outputs, llvm_scalar.supports, shape_arithmetic=True)
    position = next(i for i, s in enumerate(program.steps) if isinstance(s, LoopStep))
    loop = program.steps[position]
    gemms = [s for s in loop.body if isinstance(s, GemmCall)]
    return program, position, loop, gemms


def test_float32_loop_reads_a_row_major_copy_made_before_it():
    program, position, _, gemms = _loop_and_copies("float32")
    assert gemms and all(g.b.axes == (0, 1) for g in gemms)
    copied = {g.b.buffer for g in gemms if program.buffers[g.b.buffer].role == "temp"}
    assert len(copied) == 1
    (copy,) = [s for s in program.steps[:position] if isinstance(s, ElementwiseKernel) and s.outputs == tuple(copied)]
    assert copy.inputs[0].axes == (1, 0) and program.buffers[copy.inputs[0].buffer].shape == (6, 20)


def test_float64_products_keep_reading_the_operand_transposed():
    _, _, _, gemms = _loop_and_copies("float64")
    assert any(g.b.axes == (1, 0) for g in gemms)
