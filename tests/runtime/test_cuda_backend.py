"""The CUDA backends without a GPU: training steps under ``cuda-emulated``, the pool, the launch
configurations, and the one clear error that ``backend="cuda"`` raises where pycuda or a GPU is missing."""

import ctypes
import importlib.util

import cuda_graphs
import numpy as np
import pytest

import theanine as th
from theanine.codegen.cuda import launch
from theanine.runtime.cuda.pool import Pool, size_class


def _gpu_present() -> bool:
    if importlib.util.find_spec("pycuda") is None:
        return False
    try:
        import pycuda.driver as cuda

        cuda.init()
        return cuda.Device.count() > 0
    except Exception:
        return False


def _steps(graph: str, backend: str, calls: int = 2):
    """The outputs of ``calls`` training steps, then every shared parameter's value."""
    inputs, outputs, updates, arguments = cuda_graphs.GRAPHS[graph](np.random.default_rng(7))
    f = th.function(inputs, outputs, updates=updates, backend=backend)
    results = [f(*arguments) for _ in range(calls)]
    return f, results, [p.get_value() for p, _ in updates]


@pytest.mark.parametrize("graph", ["mlp", "cnn", "lstm"])
def test_training_step_matches_numpy(graph):
    f, got, params = _steps(graph, "cuda-emulated")
    _, expected, expected_params = _steps(graph, "numpy")
    assert f.python_fallbacks == [], f"{graph}: host calls: {[str(n.op) for n in f.python_fallbacks]}"
    for g, e in zip(got, expected, strict=True):
        for a, b in zip(g, e, strict=True):
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-5)
    for a, b in zip(params, expected_params, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-5)


def test_training_step_transfers_only_its_arguments_and_outputs_after_the_first_call():
    """Shared parameters stay on the device between calls; the pool allocates nothing more."""
    inputs, outputs, updates, arguments = cuda_graphs.mlp(np.random.default_rng(7))
    f = th.function(inputs, outputs, updates=updates, backend="cuda-emulated")
    runner = f._run.__self__
    device = runner.device
    f(*arguments)
    allocations, uploads, downloads = device.pool.allocations, device.uploads, device.downloads
    assert allocations > 0 and uploads == len(arguments) + len(updates) + len(runner.constants)  # all once
    for _ in range(3):
        f(*arguments)
    assert device.pool.allocations == allocations
    assert device.uploads - uploads == 3 * len(arguments)
    assert device.downloads - downloads == 3 * len(outputs)
    _, expected, expected_params = _steps("mlp", "numpy", calls=4)
    parameters = [p for p, _ in updates]
    for p, want in zip(parameters, expected_params, strict=True):  # get_value copies back
        np.testing.assert_allclose(p.get_value(), want, rtol=2e-4, atol=1e-5)
    assert device.downloads - downloads == 3 * len(outputs) + len(parameters)
    parameters[0].set_value(np.zeros_like(expected_params[0]))  # copied in by the next call
    uploads = device.uploads
    f(*arguments)
    assert device.uploads - uploads == len(arguments) + 1


def test_device_copies_and_host_values_stay_consistent_across_backends():
    """Steps alternating between cuda-emulated (parameters on the device) and llvm (which updates
    the host arrays in place) give the numpy backend's parameters."""
    inputs, outputs, updates, arguments = cuda_graphs.mlp(np.random.default_rng(7))
    on_device = th.function(inputs, outputs, updates=updates, backend="cuda-emulated")
    on_host = th.function(inputs, outputs, updates=updates, backend="llvm")
    for f in (on_device, on_device, on_host, on_device, on_host):
        f(*arguments)
    _, _, expected_params = _steps("mlp", "numpy", calls=5)
    for (p, _), want in zip(updates, expected_params, strict=True):
        np.testing.assert_allclose(p.get_value(), want, rtol=2e-4, atol=1e-5)


@pytest.mark.parametrize("in_place", [True, False])
def test_a_failing_call_leaves_device_resident_shared_values_unchanged(in_place):
    w = th.shared(np.arange(4, dtype=np.float32), name="w")
    x = th.vector("x")
    f = th.function([x], [], updates=[(w, w + x if in_place else th.exp(w) + x)], backend="cuda-emulated")
    f(np.ones(4, np.float32))
    before = w.get_value()
    with pytest.raises(ValueError):
        f(np.ones(3, np.float32))
    np.testing.assert_array_equal(w.get_value(), before)
    f(np.ones(4, np.float32))
    expected = before + 1 if in_place else np.exp(before) + 1
    np.testing.assert_allclose(w.get_value(), expected, rtol=1e-6)


def test_pool_reuses_blocks_by_size_class():
    made = []
    pool = Pool(lambda n: made.append(n) or bytearray(n))
    size, block = pool.acquire(1000)
    assert size == size_class(1000) == 1024
    pool.release(size, block)
    assert pool.acquire(900) == (size, block)
    assert pool.allocations == 1 and made == [1024]
    assert size_class(100_000) >= 100_000 and size_class(100_000) < 1.25 * 100_000 + 512


@pytest.mark.parametrize("kind, sizes, grid, block", [
    ("threads", (10, 100), (4, 1, 1), (256, 1, 1)),
    ("threads", (0,), (1, 1, 1), (256, 1, 1)),
    ("threads", (10**9,), (launch.MAX_GRID, 1, 1), (256, 1, 1)),
    ("blocks", (7, 3), (21, 1, 1), (256, 1, 1)),
    ("single", (5,), (1, 1, 1), (1, 1, 1)),
    ("gemm", (33, 17, 2, 3), (2, 3, 6), (16, 16, 1)),
    ("packs", (10, 100, 4), (1, 1, 1), (256, 1, 1)),
    ("packs", (4099, 4), (5, 1, 1), (256, 1, 1)),
])
def test_launch_configuration(kind, sizes, grid, block):
    assert launch.configure(launch.Launch(kind, ()), list(sizes)) == (grid, block)


@pytest.mark.parametrize("offset", [0, 4])
def test_packed_elementwise_loop_covers_every_tail_and_misaligned_operands(offset):
    """Dense float32 operands move as 16-byte packs where aligned; a partial last pack and operands
    4 bytes off alignment (forced here through the device's arrays) go element by element."""
    x, y = th.vector("x"), th.vector("y")
    outputs = [th.exp(x) * y + 1, x - y]
    assert "th_pack<float, 4>" in cuda_graphs.printed([x, y], outputs).kernel_source
    f = th.function([x, y], outputs, backend="cuda-emulated")
    device = f._run.__self__.device
    if offset:
        device.pool = Pool(lambda nbytes: np.empty(nbytes + 16, dtype=np.uint8))
        wrap = device.wrap
        device.wrap = lambda block, shape, dtype: wrap(block[offset:], shape, dtype)
    rng = np.random.default_rng(4)
    for n in (0, 1, 3, 4, 5, 63, 64, 65, 1027):
        a, b = rng.standard_normal((2, n)).astype(np.float32)
        got = f(a, b)
        np.testing.assert_allclose(got[0], np.exp(a) * b + 1, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(got[1], a - b)


def test_run_time_errors_name_the_node():
    x, y = th.vector("x"), th.vector("y")
    f = th.function([x, y], th.exp(x) + y, backend="cuda-emulated")
    with pytest.raises(ValueError) as info:
        f(np.ones(3, np.float32), np.ones(4, np.float32))
    message = str(info.value)
    assert "do not match on dimension 0" in message and "add" in message
    assert "test_cuda_backend.py" in message  # the user's line that created the node


def test_gather_out_of_bounds_raises_numpys_error():
    x, i = th.vector("x"), th.vector("i", dtype="int64")
    f = th.function([x, i], x[i], backend="cuda-emulated")
    data = np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(f(data, np.array([3, -1, 0])), [3.0, 3.0, 0.0])
    with pytest.raises(IndexError):
        f(data, np.array([4]))


def test_config_backend_reaches_cuda_emulated():
    x = th.vector("x")
    with th.config.context(backend="cuda-emulated"):
        f = th.function([x], th.exp(x))
    assert f.backend == "cuda-emulated"
    np.testing.assert_allclose(f(np.array([0.0, 1.0], np.float32)), np.exp([0.0, 1.0]), rtol=1e-6)


@pytest.mark.skipif(_gpu_present(), reason="a GPU is present: backend='cuda' works here")
def test_cuda_without_a_gpu_raises_one_clear_error():
    from theanine.runtime.cuda.gpu import CudaUnavailableError

    x = th.vector("x")
    with pytest.raises(CudaUnavailableError) as info:
        th.function([x], x * 2, backend="cuda")
    message = str(info.value)
    assert "backend='cuda'" in message
    assert any(word in message for word in ("pycuda", "driver", "device"))


@pytest.mark.skipif(_gpu_present(), reason="a GPU is present: backend='cuda' works here")
def test_cuda_is_a_valid_setting_that_fails_clearly_when_used():
    from theanine.runtime.cuda.gpu import CudaUnavailableError

    with th.config.context(backend="cuda"):
        x = th.vector("x")
        with pytest.raises(CudaUnavailableError):
            th.function([x], x + 1)


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu_present(), reason="needs an NVIDIA GPU with pycuda")
@pytest.mark.parametrize("graph", ["mlp", "cnn"])
def test_training_step_on_the_gpu_matches_numpy(graph):
    f, got, params = _steps(graph, "cuda")
    _, expected, expected_params = _steps(graph, "numpy")
    for a, b in zip(params, expected_params, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-5)


class _NumpyCublas:
    """cuBLAS's column-major gemm on host memory, to check the operand mapping without a GPU."""

    def gemm(self, dtype, op_a, op_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        def matrix(address, rows, columns, ld):
            item = np.dtype(dtype).itemsize
            flat = np.ctypeslib.as_array((ctypes.c_byte * (item * (ld * (columns - 1) + rows))).from_address(address))
            return np.lib.stride_tricks.as_strided(flat.view(dtype), (rows, columns), (item, item * ld))

        left = matrix(a, *((m, k) if op_a == 0 else (k, m)), lda)
        right = matrix(b, *((k, n) if op_b == 0 else (n, k)), ldb)
        out = matrix(c, m, n, ldc)
        product = (left if op_a == 0 else left.T) @ (right if op_b == 0 else right.T)
        out[...] = alpha * product + (beta * out if beta else 0)


@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
def test_cublas_operands_map_row_major_products(transpose_a, transpose_b):
    from theanine.codegen.program.kernel_ir import Access, GemmCall
    from theanine.runtime.cuda import cublas
    from theanine.runtime.cuda.runner import record_dtype

    rng = np.random.default_rng(0)
    m, n, k = 5, 3, 4
    a = rng.standard_normal((k, m) if transpose_a else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if transpose_b else (k, n)).astype(np.float32)
    out = np.full((m, n), 7.0, np.float32)
    call = GemmCall(Access(0, (1, 0) if transpose_a else (0, 1)), Access(1, (1, 0) if transpose_b else (0, 1)), 2,
                    "float32", m, n, k, k, None, alpha=2.0, beta=0.5)
    records = np.zeros(3, record_dtype(2))
    for slot, array in enumerate((a, b, out)):
        records[slot]["data"] = array.ctypes.data
        records[slot]["dims"] = array.shape
        records[slot]["strides"] = [s // 4 for s in array.strides]
    expected = 2.0 * ((a.T if transpose_a else a) @ (b.T if transpose_b else b)) + 0.5 * out
    assert cublas.qualifies(call, output_allocated=True)
    assert cublas.call(_NumpyCublas(), call, records, {0: 0, 1: 1, 2: 2})
    np.testing.assert_allclose(out, expected, rtol=1e-5)


DRAWS = [
    ("uniform_float32", lambda r, n: r.uniform((n,), -2.0, 3.0, dtype="float32")),
    ("uniform_float64", lambda r, n: r.uniform((n,), dtype="float64")),
    ("uniform_float16", lambda r, n: r.uniform((n,), -2.0, 3.0, dtype="float16")),
    ("integers_int64", lambda r, n: r.integers(-5, 1000, (n,), dtype="int64")),
    ("integers_uint8", lambda r, n: r.integers(0, 256, (n,), dtype="uint8")),
    ("bernoulli_bool", lambda r, n: r.bernoulli((n,), 0.25, dtype="bool")),
]


@pytest.mark.parametrize("make", [d[1] for d in DRAWS], ids=[d[0] for d in DRAWS])
def test_philox_draws_equal_the_llvm_backends_bit_for_bit(make):
    results = []
    for backend in ("cuda-emulated", "llvm"):
        rng = th.random.RandomStream(99)
        n = th.tensor("n", "int64", ())
        f = th.function([n], make(rng, n), backend=backend)
        results.append([(f(size), [s.get_value() for s in rng.states]) for size in (0, 1, 7, 4099, 4099)])
    for (got, got_state), (expected, expected_state) in zip(*results, strict=True):
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(got_state, expected_state)


def _keras_fit(backend: str):
    from theanine.frontend import layers, models, optimizers

    rng = np.random.default_rng(5)
    x = rng.standard_normal((32, 6)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    with th.config.context(backend=backend):
        model = models.Sequential([layers.Input(shape=(6,)), layers.Dense(8, activation="relu"),
                                   layers.Dense(3, activation="softmax")])
        for weight, value in zip(model.weights, _fixed_weights(rng), strict=True):
            weight.set_value(value)
        model.compile(optimizers.SGD(0.1), "sparse_categorical_crossentropy")
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
        return history.history["loss"], model.predict(x, verbose=0)


def _fixed_weights(rng):
    return [(rng.standard_normal((6, 8)) * 0.3).astype(np.float32), np.zeros(8, np.float32),
            (rng.standard_normal((8, 3)) * 0.3).astype(np.float32), np.zeros(3, np.float32)]


def test_keras_fit_under_config_backend_cuda_emulated_matches_llvm():
    losses, predictions = _keras_fit("cuda-emulated")
    expected_losses, expected_predictions = _keras_fit("llvm")
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-5)
    np.testing.assert_allclose(predictions, expected_predictions, rtol=1e-5, atol=1e-6)


def test_grouped_convolutions_and_their_gradients_run_as_cuda_kernels():
    """The grouped rules' batched GEMMs (one operand transposed within each group) and gathers print
    as CUDA C too: no host call, the numpy backend's values."""
    x = th.tensor("x", "float64", (None, 6, 5, 4))
    k = th.tensor("k", "float64", (3, 3, 2, 6))
    y = th.conv(x, k, padding="same", groups=2)
    outputs = [y, *th.grad((y ** 2).sum(), [x, k]), th.conv_transpose(y, k, padding="same", groups=2)]
    rng = np.random.default_rng(3)
    xv, kv = rng.standard_normal((2, 6, 5, 4)), rng.standard_normal((3, 3, 2, 6))
    emulated = th.function([x, k], outputs, backend="cuda-emulated")
    assert emulated.python_fallbacks == []
    for got, want in zip(emulated(xv, kv), th.function([x, k], outputs, backend="numpy")(xv, kv), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_mask_indexing_compacts_in_parallel_and_keeps_c_order():
    """Boolean indexing's nonzero step counts per block, offsets the blocks, then numbers each
    tile by a block-wide scan: many blocks and chunks here, with the rows in NumPy's order."""
    x, mask = th.matrix("x"), th.tensor("mask", "bool", (None, None))
    f = th.function([x, mask], x[mask], backend="cuda-emulated")
    assert f.python_fallbacks == []
    rng = np.random.default_rng(2)
    for shape in ((0, 3), (1, 1), (3, 5), (300, 301)):
        values, chosen = rng.standard_normal(shape).astype(np.float32), rng.random(shape) < 0.3
        np.testing.assert_array_equal(f(values, chosen), values[chosen])


def test_argsort_on_one_block_is_stable():
    from theanine.codegen.cuda.printer import CudaPrinter
    from theanine.codegen.program.kernel_ir import Access, Buffer, DimOf, Program, SortKernel
    from theanine.runtime.cuda.emulated import EmulatedDevice, load_library
    from theanine.runtime.cuda.runner import DeviceRunner

    n = DimOf(0, 0)
    buffers = [Buffer(0, "float32", (n,), "input"), Buffer(1, "int64", (n,), "output"),
               Buffer(2, "int64", (n,), "temp")]
    program = Program(buffers, [SortKernel(Access(0, (0,)), None, 1, 2, "argsort", n, n, None)], [0],
                      [Access(1, (0,))], {})
    printer = CudaPrinter(program)
    runner = DeviceRunner(program, printer, EmulatedDevice(), load_library(printer.source))
    rng = np.random.default_rng(0)
    for size in (0, 1, 5, 256, 257, 2000):
        keys = rng.integers(0, 4, size).astype(np.float32)  # many ties
        np.testing.assert_array_equal(runner.run([keys])[0], np.argsort(keys, kind="stable"))
