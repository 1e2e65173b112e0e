"""th.aot.compile: native libraries with a C header, run by C programs built with gcc.

Each library is compiled, a C program (tests/aot_driver.c, or the
README's digits example) is built against its header and run in a process
of its own, and its outputs are compared with the theanine function's.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

import aot_harness as harness
import theanine as th
from theanine.codegen.llvm import scalar
from theanine.codegen.llvm.printer import PARALLEL_MIN_ELEMENTS
from theanine.codegen.program.kernel_ir import segments
from theanine.codegen.program.lowering import lower

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "frontend", "examples", "digits_predict.c")
SYSTEM_LIBRARIES = ("linux-vdso", "libc.so", "libm.so", "libpthread.so", "ld-linux")


def _small_function(dtype: str):
    x = th.matrix("x", dtype=dtype)
    w = th.shared(np.arange(12, dtype=dtype).reshape(4, 3) / 10, name="w")
    product = th.dot(x, w)
    return th.function([x], [th.tanh(product).sum(axis=1) + th.exp(x).mean(), product, x.T])


@pytest.fixture(scope="module", params=["float32", "float64"])
def small(request, tmp_path_factory):
    f = _small_function(request.param)
    library = th.aot.compile(f, tmp_path_factory.mktemp("aot") / "small")
    return f, library, harness.build(library), request.param


def _ldd(path: str) -> list[str]:
    return subprocess.run(["ldd", path], capture_output=True, text=True, check=True).stdout.splitlines()


@pytest.mark.parametrize("threads", [0, 1, 2])
@pytest.mark.parametrize("rows", [5, 0, PARALLEL_MIN_ELEMENTS // 4 + 3])
def test_small_function_matches_theanine(small, threads, rows):
    f, library, driver, dtype = small
    x = np.random.default_rng(rows).standard_normal((rows, 4)).astype(dtype)
    code, outputs, printed = harness.run(driver, [x], [dtype] * 3, threads)
    assert code == 0, printed
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for got, want in zip(outputs, f(x), strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


def test_library_needs_no_python_and_no_blas(small):
    _, library, driver, _ = small
    for line in _ldd(library.shared_object):
        assert "python" not in line.lower()
        assert os.path.basename(line.split()[0]).startswith(SYSTEM_LIBRARIES), line
    assert library.dependencies == []
    exported = subprocess.run(["nm", "-D", "--defined-only", library.shared_object], capture_output=True,
                              text=True, check=True).stdout
    assert sorted(re.findall(r" T (\w+)", exported)) == [
        "small_create", "small_destroy", "small_error", "small_output_shapes", "small_run"]


def test_header_documents_the_function(small):
    _, library, _, dtype = small
    text = open(library.header).read()
    assert f"0  x: {dtype} [?, ?]" in text and f"1  (unnamed): {dtype} [?, 3]" in text
    assert "Baked in (their values when the library was compiled): w." in text
    assert "#define SMALL_OUTPUT_RANKS {1, 2, 2}" in text
    assert "int small_run(small_context *context" in text


def test_run_time_shape_mismatch_names_the_op_and_line(small):
    _, _, driver, dtype = small
    code, _, printed = harness.run(driver, [np.ones((5, 3), dtype)], [dtype] * 3)
    assert code == 1
    assert re.search(r"status \d+: a run-time check failed in MatMul \(created at .*test_aot.py:\d+", printed), printed


def _abi(library):
    lib = ctypes.CDLL(os.path.abspath(library.shared_object))
    lib.small_error.restype = ctypes.c_char_p
    lib.small_create.restype = ctypes.c_void_p
    lib.small_destroy.argtypes = [ctypes.c_void_p]
    return lib


def test_abi_statuses(small):
    _, library, _, dtype = small
    lib = _abi(library)
    shape = (ctypes.c_int64 * 2)(5, 4)
    shapes = (ctypes.POINTER(ctypes.c_int64) * 1)(shape)
    dims = [(ctypes.c_int64 * 2)() for _ in range(3)]
    out_shapes = (ctypes.POINTER(ctypes.c_int64) * 3)(*dims)
    assert lib.small_output_shapes(shapes, out_shapes) == 0
    assert [list(d) for d in dims] == [[5, 0], [5, 3], [4, 5]]
    assert lib.small_output_shapes(shapes, None) == -1
    bad = (ctypes.c_int64 * 2)(5, -1)
    assert lib.small_output_shapes((ctypes.POINTER(ctypes.c_int64) * 1)(bad), out_shapes) == -2
    x = np.ones((5, 4), dtype)
    inputs = (ctypes.c_void_p * 1)(x.ctypes.data)
    outs = [np.empty(s, dtype) for s in ((5,), (5, 3), (4, 5))]
    outputs = (ctypes.c_void_p * 3)(*[o.ctypes.data for o in outs])
    assert lib.small_run(None, None, shapes, outputs) == -1
    assert lib.small_run(None, inputs, shapes, None) == -1
    context = lib.small_create(2)
    assert context
    assert lib.small_run(ctypes.c_void_p(context), inputs, shapes, outputs) == 0
    lib.small_destroy(context)
    np.testing.assert_allclose(outs[1], np.full((5, 3), np.arange(12).reshape(4, 3).sum(0) / 10), rtol=1e-6)
    huge = (ctypes.c_int64 * 2)(2**61, 4)  # sizes whose byte counts overflow: refused before any read
    assert lib.small_run(None, inputs, (ctypes.POINTER(ctypes.c_int64) * 1)(huge), outputs) == -3
    assert lib.small_error(-2).startswith(b"an input's shape does not match")
    assert lib.small_error(1000) == b"unknown status"


def test_static_dims_are_checked(tmp_path):
    x = th.tensor("x", dtype="float64", shape=(None, 3))
    library = th.aot.compile(th.function([x], (x * 2).sum(axis=0)), tmp_path / "fixed")
    driver = harness.build(library)
    code, outputs, _ = harness.run(driver, [np.ones((4, 3))], ["float64"])
    assert code == 0 and outputs[0].tolist() == [8.0, 8.0, 8.0]
    code, _, printed = harness.run(driver, [np.ones((4, 2))], ["float64"])
    assert code == 1 and "status -2: an input's shape does not match" in printed


def test_openblas_library_runs_where_it_is_copied(tmp_path):
    x, z = th.matrix("x", dtype="float64"), th.matrix("z", dtype="float64")
    f = th.function([x, z], th.dot(x, z) * 2)
    library = th.aot.compile(f, tmp_path / "built" / "product", blas_library="openblas")
    assert [os.path.basename(p).startswith(("libscipy_openblas", "libgfortran", "libquadmath"))
            for p in library.dependencies] == [True] * len(library.dependencies)
    shutil.copytree(tmp_path / "built", tmp_path / "copied")
    library.shared_object = str(tmp_path / "copied" / "product.so")
    library.header = str(tmp_path / "copied" / "product.h")
    driver = harness.build(library)
    shutil.rmtree(tmp_path / "built")
    a, b = np.random.default_rng(1).standard_normal((300, 200)), np.random.default_rng(2).standard_normal((200, 90))
    for threads in (0, 2):
        code, outputs, printed = harness.run(driver, [a, b], ["float64"], threads)
        assert code == 0, printed
        np.testing.assert_allclose(outputs[0], 2 * a @ b, rtol=1e-12)
    assert not any("python" in line.lower() for line in _ldd(library.shared_object))
    assert any(str(tmp_path / "copied") in line for line in _ldd(library.shared_object))


def test_own_gemm_transposed_operands_and_a_portable_cpu(tmp_path):
    x, z = th.matrix("x"), th.matrix("z")
    f = th.function([x, z], [th.dot(x.T, z), th.dot(x, z.T), th.dot(x.T, z.T)])
    library = th.aot.compile(f, tmp_path / "products", cpu="x86-64")
    driver = harness.build(library)
    a, b = np.random.default_rng(3).standard_normal((2, 7, 7)).astype("float32")
    code, outputs, printed = harness.run(driver, [a, b], ["float32"] * 3, threads=2)
    assert code == 0, printed
    for got, want in zip(outputs, [a.T @ b, a @ b.T, a.T @ b.T], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def digits_model():
    from theanine.__main__ import build_digits_model
    from theanine.frontend import datasets

    th.set_seed(0)
    (x_train, y_train), (x_test, _) = datasets.digits.load_data()
    model = build_digits_model(x_train)
    model.fit(x_train, y_train, batch_size=32, epochs=1, verbose=0)
    return model, x_test


def test_digits_mlp_predict_from_the_readme_example(digits_model, tmp_path):
    model, x_test = digits_model
    images = th.matrix("images", dtype="float32")
    predict = th.function([images], model(images, training=False))
    library = th.aot.compile(predict, tmp_path / "build" / "digits")
    program = str(tmp_path / "digits_predict")
    subprocess.run(["gcc", EXAMPLE, f"-I{tmp_path / 'build'}", f"-L{tmp_path / 'build'}", "-l:digits.so",
                    "-Wl,-rpath,$ORIGIN/build", "-o", program], check=True, capture_output=True)
    text = "\n".join(" ".join(f"{v:.9g}" for v in row) for row in x_test)
    printed = subprocess.run([program], input=text, capture_output=True, text=True, check=True, timeout=60).stdout
    rows = [line.split() for line in printed.splitlines()]
    probabilities = np.array([[float(v) for v in row[1:]] for row in rows])
    want = model.predict(x_test, verbose=0)
    np.testing.assert_allclose(probabilities, want, rtol=1e-5, atol=1e-6)
    assert [int(row[0]) for row in rows] == want.argmax(axis=1).tolist()
    assert not any("python" in line.lower() for line in _ldd(library.shared_object))


def test_readme_shows_the_example():
    readme = open(os.path.join(ROOT, "README.md")).read()
    assert open(EXAMPLE).read().strip() in readme
    assert 'th.aot.compile(predict, "build/digits")' in readme


class _PythonOnly(th.Op):
    """An op with only NumPy reference semantics (a host call under the llvm backend)."""

    def make_node(self, x):
        x = th.as_tensor(x)
        return th.Apply(self, [x], [x.type])

    def perform(self, node, inputs):
        return [inputs[0][::-1].copy()]


def test_refuses_host_calls_naming_the_op_and_line(tmp_path):
    x = th.vector("x")
    f = th.function([x], _PythonOnly()(th.exp(x)) * 2)
    with pytest.raises(th.aot.AOTError, match=r"_PythonOnly.*\(created at .*test_aot.py:\d+\).*runs no Python"):
        th.aot.compile(f, tmp_path / "host")
    assert not os.path.exists(tmp_path / "host.so")


def test_refuses_updates_bad_paths_and_non_functions(tmp_path):
    x = th.vector("x")
    counter = th.shared(np.float32(0), name="counter")
    with pytest.raises(th.aot.AOTError, match=r"updates shared variables \(counter\)"):
        th.aot.compile(th.function([x], x * 2, updates={counter: counter + 1}), tmp_path / "lib")
    f = th.function([x], x * 2)
    with pytest.raises(th.aot.AOTError, match=r"must be a C identifier.*Received: 'my-lib'"):
        th.aot.compile(f, tmp_path / "my-lib")
    (tmp_path / "file").write_text("")
    with pytest.raises(th.aot.AOTError, match="exists and is not a folder"):
        th.aot.compile(f, tmp_path / "file" / "lib")
    with pytest.raises(th.aot.AOTError, match="expected a theanine.function. Received: TensorVariable"):
        th.aot.compile(x * 2, tmp_path / "lib")
    with pytest.raises(th.aot.AOTError, match="blas_library must be 'own' or 'openblas'"):
        th.aot.compile(f, tmp_path / "lib", blas_library="mkl")
    with pytest.raises(th.aot.AOTError, match="C compiler 'no-such-cc' was not found"):
        th.aot.compile(f, tmp_path / "lib", cc="no-such-cc")


def test_refuses_outputs_sized_by_values(tmp_path):
    n = th.scalar("n", dtype="int64")
    f = th.function([n], th.arange(n) * 2)
    with pytest.raises(th.aot.AOTError, match="shape of output 0 depends on the values"):
        th.aot.compile(f, tmp_path / "ranged")


def test_sizes_computed_by_an_earlier_segment(tmp_path):
    x = th.vector("x", dtype="int64")
    f = th.function([x], [(th.arange(x.sum()) * 3).sum() + x.max(), x * 2])
    program = lower(f.fgraph_inputs, f.optimized_outputs, scalar.supports, shape_arithmetic=True)
    assert len(segments(program)) == 2  # the arange's size is the sum, computed by the first segment
    driver = harness.build(th.aot.compile(f, tmp_path / "sized"))
    for value in ([1, 2, 3], [5], [0, 0], [-3, 1]):
        x_value = np.array(value, dtype="int64")
        code, outputs, printed = harness.run(driver, [x_value], ["int64", "int64"], threads=2)
        assert code == 0, printed
        for got, want in zip(outputs, f(x_value), strict=True):
            np.testing.assert_array_equal(got, want)


def test_outputs_that_are_inputs_constants_repeats_and_views(tmp_path):
    x = th.matrix("x", dtype="float64")
    w = th.shared(np.arange(3.0), name="w")
    y = x * 2
    outputs = [x, y, y, w, th.as_tensor(np.ones((2, 2))), x.sum(axis=1, keepdims=True) + w,
               x.dimshuffle(0, "x", 1), x[1:, ::2]]
    f = th.function([x], outputs)
    driver = harness.build(th.aot.compile(f, tmp_path / "views"))
    x_value = np.arange(12.0).reshape(4, 3)
    code, got, printed = harness.run(driver, [x_value], ["float64"] * len(outputs))
    assert code == 0, printed
    for value, want in zip(got, f(x_value), strict=True):
        np.testing.assert_array_equal(value, want)


def test_contexts_on_concurrent_threads(small):
    """ctypes releases the GIL during a call: four threads, each with its own two-thread context."""
    from concurrent.futures import ThreadPoolExecutor

    f, library, _, dtype = small
    lib = _abi(library)
    rows = PARALLEL_MIN_ELEMENTS // 4 + 3

    def call(seed: int) -> bool:
        x = np.random.default_rng(seed).standard_normal((rows, 4)).astype(dtype)
        outs = [np.empty(s, dtype) for s in ((rows,), (rows, 3), (4, rows))]
        shape = (ctypes.c_int64 * 2)(rows, 4)
        context = lib.small_create(2)
        try:
            for _ in range(5):
                status = lib.small_run(ctypes.c_void_p(context), (ctypes.c_void_p * 1)(x.ctypes.data),
                                       (ctypes.POINTER(ctypes.c_int64) * 1)(shape),
                                       (ctypes.c_void_p * 3)(*[o.ctypes.data for o in outs]))
                assert status == 0
        finally:
            lib.small_destroy(context)
        rtol = 1e-5 if dtype == "float32" else 1e-12
        return all(np.allclose(o, w, rtol=rtol, atol=rtol) for o, w in zip(outs, f(x), strict=True))

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(call, range(4)))


def test_digits_cnn_predict(tmp_path):
    """The main job's convolutional network (Conv2D, BatchNormalization, MaxPooling2D, Dense), untrained."""
    from theanine.frontend import datasets
    from theanine.frontend.examples.digits_cnn import build_digits_cnn

    th.set_seed(1)
    model = build_digits_cnn(total_steps=10)
    images = th.tensor("images", dtype="float32", shape=(None, 8, 8, 1))
    predict = th.function([images], model(images, training=False))
    driver = harness.build(th.aot.compile(predict, tmp_path / "cnn"))
    x = datasets.digits.load_data()[1][0][:100].reshape(-1, 8, 8, 1)
    code, outputs, printed = harness.run(driver, [x], ["float32"], threads=2)
    assert code == 0, printed
    np.testing.assert_allclose(outputs[0], predict(x), rtol=1e-5, atol=1e-6)


def test_scalar_input_and_bool_and_integer_outputs(tmp_path):
    s, v = th.scalar("s", dtype="float64"), th.vector("v", dtype="float64")
    f = th.function([s, v], [v > s, (v * s).sum(), th.cast(v, "int32")])
    library = th.aot.compile(f, tmp_path / "mixed")
    assert "0  s: float64 []  (double elements)" in open(library.header).read()
    s_value, v_value = np.float64(1.5), np.array([1.0, 2.0, 3.0])
    code, outputs, printed = harness.run(harness.build(library), [np.asarray(s_value), v_value],
                                         ["bool", "float64", "int32"])
    assert code == 0, printed
    for got, want in zip(outputs, f(s_value, v_value), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_loop_with_a_branch_runs_natively_in_the_library(tmp_path, threads):
    """Scan and ifelse compile into the library as a native loop and branch (no Python to call back)."""
    x = th.tensor("x", "float64", (None, None, 3))
    w = th.shared(np.eye(3) * 0.5, name="w")

    def step(x_t, h):
        return th.ifelse(x_t.sum() > 0, th.tanh(x_t + h @ w), h * 0.5)

    hs, _ = th.scan(step, sequences=x, outputs_info=th.zeros((2, 3), "float64"))
    f = th.function([x], [hs, hs[-1].sum()])
    assert f.python_fallbacks == []
    library = th.aot.compile(f, tmp_path / "loop")
    x_value = np.random.default_rng(0).standard_normal((6, 2, 3))
    code, outputs, printed = harness.run(harness.build(library), [x_value], ["float64"] * 2, threads)
    assert code == 0, printed
    for got, want in zip(outputs, f(x_value), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)
