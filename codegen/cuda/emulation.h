/* theanine's CUDA emulation: the CUDA built-ins the printed source uses, for g++ on the CPU.
 *
 * The same .cu source that nvcc compiles is compiled as C++ with this header
 * (g++ -include emulation.h -DTH_EMULATION), and each kernel gets an
 * ``extern "C" launch_<kernel>(config, status, buffers)`` that runs it with
 * the grid and block the GPU runtime would use.
 *
 * Blocks run one after another.  A kernel without barriers runs its block's
 * threads one after another.  A cooperative kernel (``__syncthreads``, warp
 * shuffles) runs each thread of the block as a fiber on one OS thread: a
 * fiber runs until it reaches a barrier, then the next fiber runs; the
 * barrier opens when every live thread of the block (or of the warp, for
 * the shuffles' lock-step) has arrived.  A thread that has returned no
 * longer holds a barrier up (as on current GPUs).  Fibers start once per
 * launch (makecontext) and switch with _setjmp/_longjmp, which save no
 * signal mask (swapcontext makes a system call per switch).
 *
 * ``__shared__`` variables are function statics: every fiber of the block
 * sees the same one, and blocks run in turn.  The emulation's state, the
 * built-in indices and ``__shared__`` variables are the library's statics,
 * so a launch holds the library's lock (two Python threads may call one
 * library at once); atomics are GCC's __atomic built-ins.
 */
#ifndef THEANINE_CUDA_EMULATION_H
#define THEANINE_CUDA_EMULATION_H

#include <pthread.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

/* The C math library, declared rather than included: <math.h> in C++ pulls in <cmath>, which
 * triples the compile time of a small program.  The overloads CUDA offers for float (used by the
 * prelude's templates) forward to GCC's built-ins. */
#define TH_MATH1(name) extern "C" double name(double) noexcept; extern "C" float name##f(float) noexcept;
#define TH_MATH2(name) extern "C" double name(double, double) noexcept; \
  extern "C" float name##f(float, float) noexcept;
TH_MATH1(exp) TH_MATH1(exp2) TH_MATH1(expm1) TH_MATH1(log) TH_MATH1(log2) TH_MATH1(log10) TH_MATH1(log1p)
TH_MATH1(sqrt) TH_MATH1(sin) TH_MATH1(cos) TH_MATH1(tan) TH_MATH1(asin) TH_MATH1(acos) TH_MATH1(atan)
TH_MATH1(sinh) TH_MATH1(cosh) TH_MATH1(tanh) TH_MATH1(asinh) TH_MATH1(acosh) TH_MATH1(atanh) TH_MATH1(erf)
TH_MATH1(erfc) TH_MATH1(floor) TH_MATH1(ceil) TH_MATH1(rint) TH_MATH1(fabs)
TH_MATH2(pow) TH_MATH2(atan2) TH_MATH2(fmod) TH_MATH2(copysign)
inline float fmod(float a, float b) { return __builtin_fmodf(a, b); }
inline float floor(float a) { return __builtin_floorf(a); }
inline float fabs(float a) { return __builtin_fabsf(a); }
inline float copysign(float a, float b) { return __builtin_copysignf(a, b); }
inline bool signbit(float a) { return __builtin_signbit(a); }
inline bool signbit(double a) { return __builtin_signbit(a); }

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __restrict__ __restrict
#define __align__(n) __attribute__((aligned(n)))

struct uint3 { unsigned x, y, z; };
struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

static uint3 threadIdx, blockIdx;
static dim3 blockDim, gridDim;

namespace th_emu {

const int MAX_THREADS = 1024;
const size_t STACK_BYTES = 128 * 1024;

struct Fiber {
  jmp_buf context;
  ucontext_t start;
  uint3 index;
  bool started, finished, arrived;
};

struct Block {
  Fiber* fibers = nullptr;
  char* stacks = nullptr;
  size_t stack_bytes = 0;
  void (*body)(void*) = nullptr;
  void* closure = nullptr;
  jmp_buf scheduler;
  int current = 0, count = 0, live = 0;
  int arrived = 0;              /* at __syncthreads */
  unsigned generation = 0;
  int warp_arrived[MAX_THREADS / 32];
  unsigned warp_generation[MAX_THREADS / 32];
  int warp_live[MAX_THREADS / 32];
  unsigned long long lanes[MAX_THREADS];  /* shuffle exchange slots */
};

static Block block;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void enter(int k) {
  block.current = k;
  threadIdx = block.fibers[k].index;
}

/* Back to the scheduler; returns when this fiber is resumed. */
static void yield() {
  Fiber& f = block.fibers[block.current];
  if (!_setjmp(f.context)) _longjmp(block.scheduler, 1);
  threadIdx = block.fibers[block.current].index;
}

static void fiber_main() {
  for (;;) {
    block.body(block.closure);
    Fiber& f = block.fibers[block.current];
    f.finished = true;
    block.live -= 1;
    block.warp_live[block.current / 32] -= 1;
    yield();
  }
}

/* Runs ``body`` once per thread of the current block, switching at barriers. */
static void run_block() {
  for (int k = 0; k < block.count; ++k) block.fibers[k].finished = false;
  block.live = block.count;
  block.arrived = 0;
  for (int w = 0; w * 32 < block.count; ++w) {
    block.warp_arrived[w] = 0;
    int lanes = block.count - w * 32;
    block.warp_live[w] = lanes < 32 ? lanes : 32;
  }
  while (block.live > 0) {
    for (int k = 0; k < block.count; ++k) {
      Fiber& f = block.fibers[k];
      if (f.finished) continue;
      enter(k);
      if (!_setjmp(block.scheduler)) {
        if (!f.started) {
          f.started = true;
          setcontext(&f.start);
        }
        _longjmp(f.context, 1);
      }
    }
  }
}

static void prepare_fibers(int count) {
  block.count = count;
  free(block.fibers);
  block.fibers = (Fiber*)calloc(count, sizeof(Fiber));
  if (block.stack_bytes < (size_t)count * STACK_BYTES) {
    free(block.stacks);
    block.stack_bytes = (size_t)count * STACK_BYTES;
    block.stacks = (char*)malloc(block.stack_bytes);
  }
  for (int k = 0; k < count; ++k) {
    Fiber& f = block.fibers[k];
    f.started = false;
    getcontext(&f.start);
    f.start.uc_stack.ss_sp = block.stacks + (size_t)k * STACK_BYTES;
    f.start.uc_stack.ss_size = STACK_BYTES;
    f.start.uc_link = nullptr;
    makecontext(&f.start, fiber_main, 0);
  }
}

/* Threads of a block in the order CUDA numbers them (x fastest). */
static uint3 thread_index(int k) {
  uint3 t;
  t.x = k % blockDim.x;
  t.y = (k / blockDim.x) % blockDim.y;
  t.z = k / (blockDim.x * blockDim.y);
  return t;
}

/* config: grid x, y, z, block x, y, z. */
template <class F> void call(void* closure) { (*(F*)closure)(); }

template <class F> void launch(const unsigned* config, bool cooperative, F&& kernel) {
  pthread_mutex_lock(&lock);
  gridDim = dim3(config[0], config[1], config[2]);
  blockDim = dim3(config[3], config[4], config[5]);
  int count = (int)(blockDim.x * blockDim.y * blockDim.z);
  if (count > MAX_THREADS) abort();
  if (cooperative) {
    prepare_fibers(count);
    block.body = call<F>;
    block.closure = (void*)&kernel;
    for (int k = 0; k < count; ++k) block.fibers[k].index = thread_index(k);
  }
  for (unsigned z = 0; z < gridDim.z; ++z)
    for (unsigned y = 0; y < gridDim.y; ++y)
      for (unsigned x = 0; x < gridDim.x; ++x) {
        blockIdx.x = x; blockIdx.y = y; blockIdx.z = z;
        if (cooperative) {
          run_block();
        } else {
          for (int k = 0; k < count; ++k) {
            threadIdx = thread_index(k);
            kernel();
          }
        }
      }
  free(block.fibers);
  block.fibers = nullptr;
  block.count = 0;
  pthread_mutex_unlock(&lock);
}

/* The current thread's position in its block, as CUDA numbers threads. */
static int linear_thread() {
  return (int)(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z));
}

static void sync_block() {
  if (block.fibers == nullptr) abort();  /* a barrier outside a cooperative kernel */
  unsigned generation = block.generation;
  block.arrived += 1;
  while (block.generation == generation) {
    if (block.arrived >= block.live) {
      block.arrived = 0;
      block.generation += 1;
      break;
    }
    yield();
  }
}

static void sync_warp() {
  int warp = linear_thread() / 32;
  unsigned generation = block.warp_generation[warp];
  block.warp_arrived[warp] += 1;
  while (block.warp_generation[warp] == generation) {
    if (block.warp_arrived[warp] >= block.warp_live[warp]) {
      block.warp_arrived[warp] = 0;
      block.warp_generation[warp] += 1;
      break;
    }
    yield();
  }
}

/* Lock-step exchange among the 32 lanes of a warp: every lane publishes its value, the warp
 * meets, each lane reads its source lane's value, the warp meets again (so no slot is
 * overwritten before it is read). */
template <class T> T shuffle(T value, int source_lane) {
  static_assert(sizeof(T) <= sizeof(unsigned long long), "shuffle of a value wider than 64 bits");
  int me = linear_thread();
  memcpy(&block.lanes[me], &value, sizeof(T));
  sync_warp();
  int lane = me & 31;
  int source = me - lane + source_lane;
  T out = value;
  if (source_lane >= 0 && source_lane < 32 && source < block.count) memcpy(&out, &block.lanes[source], sizeof(T));
  sync_warp();
  return out;
}

}  // namespace th_emu

inline void __syncthreads() { th_emu::sync_block(); }
inline void __syncwarp(unsigned = 0xffffffffu) { th_emu::sync_warp(); }
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

template <class T> T __shfl_down_sync(unsigned, T value, unsigned delta, int width = 32) {
  int lane = th_emu::linear_thread() & 31;
  int source = lane + (int)delta;
  return th_emu::shuffle(value, (source & ~(width - 1)) == (lane & ~(width - 1)) ? source : lane);
}
template <class T> T __shfl_xor_sync(unsigned, T value, int mask, int width = 32) {
  int lane = th_emu::linear_thread() & 31;
  int source = lane ^ mask;
  return th_emu::shuffle(value, (source & ~(width - 1)) == (lane & ~(width - 1)) ? source : lane);
}
template <class T> T __shfl_sync(unsigned, T value, int source_lane, int width = 32) {
  int lane = th_emu::linear_thread() & 31;
  return th_emu::shuffle(value, (lane & ~(width - 1)) + (source_lane & (width - 1)));
}

template <class T> T atomicAdd(T* address, T value) {
  T old = *address, assumed;
  do {
    assumed = old;
    T next = assumed + value;
    __atomic_compare_exchange(address, &old, &next, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  } while (memcmp(&old, &assumed, sizeof(T)) != 0);
  return old;
}
template <class T> T atomicCAS(T* address, T compare, T value) {
  __atomic_compare_exchange_n(address, &compare, value, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return compare;
}
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}

#endif
