"""The emulation header runs hand-written CUDA with CUDA's semantics: barriers, shared memory,
warp shuffles in lock-step, atomics, and a block that ends early.  The same source also compiles
with nvcc (when present), so what the header accepts is real CUDA."""

import ctypes
import subprocess

import numpy as np
import pytest

from theanine.codegen.cuda.printer import PRELUDE, defines
from theanine.runtime.cuda import build

SOURCE = defines(1) + PRELUDE + r"""
/* out[i] = the sum of the block's values, by a butterfly of xor shuffles then shared memory. */
__global__ void butterfly(const float* in, float* out, int n) {
  __shared__ float warp_sums[32];
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = i < n ? in[i] : 0.0f;
  for (int mask = 16; mask > 0; mask >>= 1) v += __shfl_xor_sync(0xffffffffu, v, mask);
  if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x >> 5] = v;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < (int)(blockDim.x >> 5); ++w) total += warp_sums[w];
  if (i < n) out[i] = total;
}

/* Reversal within a block through shared memory: wrong without a real barrier. */
__global__ void reverse(const int* in, int* out) {
  __shared__ int tile[256];
  tile[threadIdx.x] = in[blockIdx.x * blockDim.x + threadIdx.x];
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = tile[blockDim.x - 1 - threadIdx.x];
}

/* Threads that return before a barrier do not hold it up; a histogram by atomics. */
__global__ void early_exit(const int* keys, int* counts, int n, unsigned short* halves) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  __syncthreads();
  atomicAdd(&counts[keys[i]], 1);
  th_atomic_add_small(&halves[keys[i] & 1], 2, 2, th_f2h(0.5f));
}

#ifdef TH_EMULATION
extern "C" void run_butterfly(const unsigned* c, const float* in, float* out, int n) {
  th_emu::launch(c, true, [&]() { butterfly(in, out, n); });
}
extern "C" void run_reverse(const unsigned* c, const int* in, int* out) {
  th_emu::launch(c, true, [&]() { reverse(in, out); });
}
extern "C" void run_early_exit(const unsigned* c, const int* keys, int* counts, int n, unsigned short* halves) {
  th_emu::launch(c, true, [&]() { early_exit(keys, counts, n, halves); });
}
#endif
"""


@pytest.fixture(scope="module")
def library():
    return ctypes.CDLL(build.emulated_library(SOURCE))


def _config(grid: int, block: int):
    return (ctypes.c_uint * 6)(grid, 1, 1, block, 1, 1)


def _p(array: np.ndarray):
    return ctypes.c_void_p(array.ctypes.data)


def test_xor_shuffles_and_shared_memory_sum_each_block(library):
    values = np.random.default_rng(0).standard_normal(300).astype(np.float32)
    out = np.zeros_like(values)
    library.run_butterfly(_config(3, 128), _p(values), _p(out), ctypes.c_int(300))
    padded = np.concatenate([values, np.zeros(84, np.float32)]).reshape(3, 128)
    expected = np.repeat(padded.sum(axis=1), 128)[:300]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_syncthreads_is_a_real_barrier(library):
    values = np.arange(512, dtype=np.int32)
    out = np.zeros_like(values)
    library.run_reverse(_config(2, 256), _p(values), _p(out))
    np.testing.assert_array_equal(out, values.reshape(2, 256)[:, ::-1].reshape(-1))


def test_returned_threads_release_barriers_and_atomics_count(library):
    keys = np.random.default_rng(1).integers(0, 5, 200).astype(np.int32)
    counts = np.zeros(5, np.int32)
    halves = np.zeros(2, np.uint16)
    library.run_early_exit(_config(4, 64), _p(keys), _p(counts), ctypes.c_int(200), _p(halves))
    np.testing.assert_array_equal(counts, np.bincount(keys, minlength=5))
    expected = [0.5 * np.count_nonzero(keys % 2 == 0), 0.5 * np.count_nonzero(keys % 2 == 1)]
    np.testing.assert_array_equal(halves.view(np.float16).astype(np.float64), expected)


@pytest.mark.skipif(build.nvcc_path() is None, reason="nvcc (the CUDA toolkit) is not installed")
def test_the_same_source_compiles_with_nvcc(tmp_path):
    path = tmp_path / "emulation_probe.cu"
    path.write_text(SOURCE)
    result = subprocess.run([build.nvcc_path(), "-arch=sm_80", "--ptx", "-std=c++17", "-w", "-o",
                             str(tmp_path / "probe.ptx"), str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
