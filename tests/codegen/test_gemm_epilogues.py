"""GEMM epilogues (codegen/program/epilogues.py): the bias add and activation after a Dense or Conv
run inside the product's step, on each block of it; values equal NumPy's, and explain() names them."""

import re

import llvmlite.binding as llvm
import numpy as np
import pytest

import theanine as th
from theanine.codegen.llvm import scalar as llvm_scalar
from theanine.codegen.llvm.printer import LLVMPrinter
from theanine.codegen.program.epilogues import absorb_epilogues
from theanine.codegen.program.kernel_ir import ElementwiseKernel, GemmCall
from theanine.codegen.program.lowering import lower
from theanine.runtime.llvm import jit

RNG = np.random.default_rng(31)
TOL = {"float32": 2e-5, "float64": 1e-12}


def _program(f):
    return absorb_epilogues(lower(f.fgraph_inputs, f.optimized_outputs, llvm_scalar.supports,
                                  shape_arithmetic=True))[0]


def _relu(v):
    return np.maximum(v, 0)


# (rows, inputs, units): several row tiles on each thread, a column split (fewer rows than units),
# one row, and an empty batch
SHAPES = [(3000, 7, 20), (3, 40, 300), (1, 5, 4), (0, 5, 4)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows, inputs, units", SHAPES, ids=[str(s) for s in SHAPES])
def test_dense_bias_and_relu_run_in_the_products_step(rows, inputs, units, dtype):
    x = th.tensor("x", dtype, (None, inputs))
    w = th.shared(RNG.standard_normal((inputs, units)).astype(dtype))
    b = th.shared(RNG.standard_normal(units).astype(dtype))
    pre = x @ w + b
    f = th.function([x], [pre, th.relu(pre)], backend="llvm")
    assert th.explain(f).fired["gemm_epilogue"] == 2  # the bias copy, then the activation
    steps = _program(f).steps
    gemms = [s for s in steps if isinstance(s, GemmCall)]
    assert len(gemms) == 1 and gemms[0].epilogue is not None and gemms[0].beta == 0.0
    assert not any(isinstance(s, ElementwiseKernel) and s.exprs for s in steps)
    xv = RNG.standard_normal((rows, inputs)).astype(dtype)
    expected = xv.astype(np.float64) @ w.get_value() + b.get_value()
    got_pre, got_relu = f(xv)
    np.testing.assert_allclose(got_pre, expected, rtol=TOL[dtype], atol=TOL[dtype])
    np.testing.assert_allclose(got_relu, _relu(expected), rtol=TOL[dtype], atol=TOL[dtype])


def test_the_epilogue_loops_are_optimized_apart_from_the_unoptimized_glue_that_calls_them():
    """The step function (tiles, the library call) is optnone; the epilogue's loops, in a function
    of their own, get the O3 pipeline and are vectorized."""
    x = th.tensor("x", "float32", (None, 64))
    w, b = th.shared(RNG.standard_normal((64, 48)).astype("float32")), th.shared(np.ones(48, "float32"))
    f = th.function([x], th.relu(x @ w + b), backend="llvm")
    printer = LLVMPrinter(_program(f))
    (step,) = [fn for fn in printer.module.functions if fn.name.startswith("segment_0_step")
               and "_loops_" not in fn.name]
    (loops,) = [fn for fn in printer.module.functions if "_loops_" in fn.name]
    assert "optnone" in step.attributes and "optnone" not in loops.attributes
    assert f'@"{loops.name}"' in str(step)
    assert loops.name in printer.step_function_names  # split.split_module may put it in any part
    optimized = llvm.parse_assembly(str(printer.module))
    jit._optimize(optimized)
    assert re.search(r"fadd <\d+ x float>", str(optimized.get_function(loops.name)))
    xv = RNG.standard_normal((333, 64)).astype("float32")
    np.testing.assert_allclose(f(xv), _relu(xv @ w.get_value() + 1.0), rtol=2e-5, atol=2e-5)


def test_gemm_epilogues_off_keeps_separate_passes():
    x = th.tensor("x", "float32", (None, 6))
    w = th.shared(RNG.standard_normal((6, 5)).astype("float32"))
    with th.config.context(gemm_epilogues=False):
        f = th.function([x], th.tanh(x @ w + 1.0), backend="llvm")
    assert "gemm_epilogue" not in th.explain(f).fired
    xv = RNG.standard_normal((9, 6)).astype("float32")
    np.testing.assert_allclose(f(xv), np.tanh(xv @ w.get_value() + 1.0), rtol=1e-5, atol=1e-6)


def test_explain_lists_the_absorbed_nodes():
    x = th.tensor("x", "float32", (None, 6))
    w = th.shared(RNG.standard_normal((6, 5)).astype("float32"))
    f = th.function([x], th.relu(x @ w) * 3.0, backend="llvm")
    text = f.explain()
    assert "lowering (llvm)" in text and "gemm_epilogue" in text and " into " in text


def _conv_reference(x, k, b):
    """'same' 3x3 convolution, channels last, by explicit loops over the taps."""
    n, h, w, _ = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros((n, h, w, k.shape[-1]))
    for i in range(3):
        for j in range(3):
            out += padded[:, i:i + h, j:j + w, :] @ k[i, j]
    return out + b


@pytest.mark.parametrize("batch", [5, 1])
def test_conv_bias_relu_epilogue_equals_numpy(batch):
    x = th.tensor("x", "float32", (None, 9, 7, 3))
    k = th.shared((RNG.standard_normal((3, 3, 3, 4)) * 0.5).astype("float32"))
    b = th.shared(RNG.standard_normal(4).astype("float32"))
    f = th.function([x], th.relu(th.conv(x, k, padding="same") + b), backend="llvm")
    assert th.explain(f).fired["gemm_epilogue"] == 1
    xv = RNG.standard_normal((batch, 9, 7, 3)).astype("float32")
    expected = _relu(_conv_reference(xv.astype(np.float64), k.get_value(), b.get_value()))
    np.testing.assert_allclose(f(xv), expected, rtol=1e-4, atol=1e-5)


def test_other_readers_of_the_product_see_it_unchanged():
    """The product is still stored: a later step that reads it gets the bare product."""
    x = th.tensor("x", "float32", (None, 6))
    w = th.shared(RNG.standard_normal((6, 5)).astype("float32"))
    product = x @ w
    f = th.function([x], [th.relu(product + 1.0), product.sum(axis=0)], backend="llvm")
    xv = RNG.standard_normal((40, 6)).astype("float32")
    ref = xv @ w.get_value()
    got_relu, got_sum = f(xv)
    np.testing.assert_allclose(got_relu, _relu(ref + 1.0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_sum, ref.sum(axis=0), rtol=1e-4, atol=1e-4)


def test_a_mismatched_bias_fails_naming_the_add():
    """The consumer's shape checks run before the product (a check-only step): a bias of the wrong
    length is an error of the add, not of the GEMM, and nothing is computed."""
    x, b = th.tensor("x", "float32", (None, 6)), th.tensor("b", "float32", (None,))
    w = th.shared(RNG.standard_normal((6, 5)).astype("float32"))
    f = th.function([x, b], th.relu(x @ w + b), backend="llvm")
    assert th.explain(f).fired["gemm_epilogue"] >= 1
    xv = RNG.standard_normal((4, 6)).astype("float32")
    np.testing.assert_allclose(f(xv, np.ones(5, "float32")), _relu(xv @ w.get_value() + 1), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="shape|broadcast"):
        f(xv, np.ones(3, "float32"))


def test_training_step_with_epilogues_matches_the_numpy_backend():
    """An MLP step (the forward products carry bias and ReLU; the backward reads the stored
    pre-activations) gives the numpy backend's loss and parameters."""
    results = []
    for backend in ("llvm", "numpy"):
        rng = np.random.default_rng(4)
        params = [th.shared((rng.standard_normal(s) * 0.3).astype("float32")) for s in ((8, 16), (16,), (16, 3), (3,))]
        x, y = th.tensor("x", "float32", (None, 8)), th.tensor("y", "int64", (None,))
        hidden = th.relu(x @ params[0] + params[1])
        loss = th.sparse_categorical_crossentropy(y, hidden @ params[2] + params[3], from_logits=True).mean()
        step = th.function([x, y], loss, updates=[(p, p - 0.1 * g) for p, g in zip(params, th.grad(loss, params),
                                                                                   strict=True)], backend=backend)
        xv, yv = rng.standard_normal((50, 8)).astype("float32"), rng.integers(0, 3, 50)
        losses = [float(step(xv, yv)) for _ in range(3)]
        results.append((losses, [p.get_value() for p in params]))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5)
    for got, expected in zip(results[0][1], results[1][1], strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_kernel_gradient_reads_the_forward_patch_matrix():
    """The forward convolution's patch matrix is written once and read again by the kernel
    gradient's GEMM (Lowerer.computed_once); gradients equal the numpy backend's."""
    x = th.tensor("x", "float32", (None, 6, 5, 2))
    k = th.shared((RNG.standard_normal((3, 3, 2, 4)) * 0.5).astype("float32"))
    b = th.shared(np.zeros(4, "float32"))
    loss = (th.relu(th.conv(x, k, padding="same") + b) ** 2).sum()
    outputs = [loss, *th.grad(loss, [k, b])]
    f = th.function([x], outputs, backend="llvm")
    patch_loop = (6, 5, 3, 3, 2)
    patches = [s for s in _program(f).steps
               if isinstance(s, ElementwiseKernel) and tuple(s.shape[1:]) == patch_loop]
    assert len(patches) == 1
    xv = RNG.standard_normal((3, 6, 5, 2)).astype("float32")
    expected = th.function([x], outputs, backend="numpy")(xv)
    for got, want in zip(f(xv), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("library", ["numpy", "scipy"])
def test_either_openblas_gives_numpys_products(library):
    """``config.jit_blas``: NumPy's OpenBLAS (64-bit integers) or SciPy's (32-bit), bound at load time;
    a transposed left operand (a weight gradient) and a column split both agree with NumPy."""
    a, g = th.matrix("a", "float32"), th.matrix("g", "float32")
    with th.config.context(jit_blas=library):
        f = th.function([a, g], [a.T @ g, g.T @ a], backend="llvm")
    av, gv = RNG.standard_normal((300, 7)).astype("float32"), RNG.standard_normal((300, 90)).astype("float32")
    got_ag, got_ga = f(av, gv)
    np.testing.assert_allclose(got_ag, av.T @ gv, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got_ga, gv.T @ av, rtol=1e-4, atol=1e-4)


def test_jit_blas_rejects_an_unknown_library():
    with pytest.raises(ValueError, match="config.jit_blas must be 'numpy' or 'scipy'"), \
            th.config.context(jit_blas="mkl"):
        pass


def _hand_program(consumer_inputs, between=(), checks=()):
    """A (4, 3) @ (3, 5) product (buffer 2), optional steps, then ``out = sum of the consumer's inputs``."""
    from theanine.codegen.program.kernel_ir import Access, Arg, Buffer, Call, Program

    buffers = [Buffer(0, "float32", (4, 3), "input"), Buffer(1, "float32", (3, 5), "input"),
               Buffer(2, "float32", (4, 5), "temp"), Buffer(3, "float32", (5,), "input", True),
               Buffer(4, "float32", (4, 5), "temp")]
    gemm = GemmCall(Access(0, (0, 1)), Access(1, (0, 1)), 2, "float32", 4, 5, 3, 3, None)
    total = Arg(0, "float32")
    for position in range(1, len(consumer_inputs)):
        total = Call("add", (total, Arg(position, "float32")), "float32")
    consumer = ElementwiseKernel(tuple(consumer_inputs), (4,), (total,), (4, 5), checks, None)
    return Program(buffers, [gemm, *between, consumer], [0, 1, 3], [Access(4, (0, 1))], {})


def test_program_pass_absorbs_a_bias_add():
    from theanine.codegen.program.kernel_ir import Access

    program, absorbed = absorb_epilogues(_hand_program([Access(2, (0, 1)), Access(3, (None, 0))]))
    assert len(absorbed) == 1 and len(program.steps) == 1 and program.steps[0].epilogue is not None


def test_program_pass_keeps_a_check_before_the_product():
    from theanine.codegen.program.kernel_ir import Access

    program, _ = absorb_epilogues(_hand_program([Access(2, (0, 1)), Access(3, (None, 0))], checks=((5, 5),)))
    check, gemm = program.steps
    assert check.checks == ((5, 5),) and not check.exprs and gemm.epilogue is not None and not gemm.epilogue.checks


def test_program_pass_leaves_a_broadcast_read_of_the_product():
    """A block may only read the product at its own elements: other blocks' rows may not exist yet."""
    from theanine.codegen.program.kernel_ir import Access

    program, absorbed = absorb_epilogues(_hand_program([Access(2, (0, 1)), Access(2, (None, 1))]))
    assert not absorbed and len(program.steps) == 2


def test_program_pass_leaves_a_consumer_whose_input_changes_in_between():
    from theanine.codegen.program.kernel_ir import Access, Lit

    overwrite = ElementwiseKernel((), (3,), (Lit(1.0, "float32"),), (5,), (), None, reuses=(3,))
    program, absorbed = absorb_epilogues(_hand_program([Access(2, (0, 1)), Access(3, (None, 0))], (overwrite,)))
    assert not absorbed and len(program.steps) == 3


def test_program_pass_writes_the_product_into_the_consumers_output():
    """Nothing else reads the bare product: the GEMM writes it where the epilogue's output goes, and the
    epilogue overwrites it in place (the product's own buffer is never allocated)."""
    from theanine.codegen.program.kernel_ir import Access, step_outputs

    program, _ = absorb_epilogues(_hand_program([Access(2, (0, 1)), Access(3, (None, 0))]))
    (gemm,) = program.steps
    assert gemm.output == 4 and 4 in gemm.epilogue.reuses and step_outputs(gemm) == (4,)
    assert gemm.epilogue.inputs[0] == Access(4, (0, 1))


def test_conv_pre_activation_kept_for_the_gradient_is_the_products_buffer():
    x = th.tensor("x", "float32", (None, 6, 5, 2))
    k = th.shared((RNG.standard_normal((3, 3, 2, 4)) * 0.5).astype("float32"))
    b = th.shared(RNG.standard_normal(4).astype("float32"))
    pre = th.conv(x, k, padding="same") + b
    f = th.function([x], [pre, th.relu(pre)], backend="llvm")
    (gemm,) = [s for s in _program(f).steps if isinstance(s, GemmCall)]
    assert gemm.output in gemm.epilogue.outputs
    xv = RNG.standard_normal((3, 6, 5, 2)).astype("float32")
    expected = _conv_reference(xv.astype(np.float64), k.get_value(), b.get_value())
    got_pre, got_relu = f(xv)
    np.testing.assert_allclose(got_pre, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_relu, _relu(expected), rtol=1e-4, atol=1e-5)
