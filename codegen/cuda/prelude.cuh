/* theanine CUDA prelude: the device helpers every printed program shares.
 *
 * Prepended to each printed source, so the source is self-contained for nvcc
 * (which defines the CUDA built-ins) and for g++ under emulation.h (which
 * defines them on the CPU).  It holds the buffer record, float16 storage
 * (bits in an unsigned short, computed in float, rounded after every op, as
 * the LLVM printer does), theanine's float -> integer rule, NumPy's integer
 * and float division, the NaN-propagating max/min of reductions, Philox4x32-10,
 * atomic adds for every dtype (a CAS loop on the enclosing 32-bit word for
 * 1- and 2-byte types), the block reduction and the tiled GEMM.
 */
typedef signed char th_i8;
typedef unsigned char th_u8;
typedef short th_i16;
typedef unsigned short th_u16;
typedef int th_i32;
typedef unsigned int th_u32;
typedef long long th_i64;
typedef unsigned long long th_u64;

#define TH_DEVICE __device__ __forceinline__

/* One buffer as a kernel parameter: data, dims and strides in elements. */
struct Buf {
  char* data;
  th_i64 dims[TH_MAXDIM];
  th_i64 strides[TH_MAXDIM];
};

union th_f32_bits { float f; th_u32 u; };
union th_f64_bits { double f; th_u64 u; };

TH_DEVICE th_u32 th_bits_f32(float x) { th_f32_bits b; b.f = x; return b.u; }
TH_DEVICE float th_f32_from_bits(th_u32 u) { th_f32_bits b; b.u = u; return b.f; }
TH_DEVICE float th_inf_f() { return th_f32_from_bits(0x7f800000u); }
TH_DEVICE double th_f64_from_bits(th_u64 u) { th_f64_bits b; b.u = u; return b.f; }
TH_DEVICE double th_inf_d() { return th_f64_from_bits(0x7ff0000000000000ull); }

/* float16 <-> float32, round to nearest even (IEEE binary16). */
TH_DEVICE float th_h2f(th_u16 h) {
  th_u32 sign = (th_u32)(h & 0x8000u) << 16;
  th_u32 exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0x1fu) return th_f32_from_bits(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    if (mant == 0) return th_f32_from_bits(sign);
    float v = (float)mant * 5.9604644775390625e-08f;  /* 2**-24 */
    return sign ? -v : v;
  }
  return th_f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

TH_DEVICE th_u16 th_f2h(float f) {
  th_u32 x = th_bits_f32(f);
  th_u32 sign = (x >> 16) & 0x8000u;
  th_u32 absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) return (th_u16)(sign | 0x7e00u | ((absx >> 13) & 0x3ffu));
  if (absx >= 0x477ff000u) return (th_u16)(sign | 0x7c00u);  /* rounds to inf */
  if (absx < 0x38800000u) {  /* subnormal half (or zero) */
    if (absx < 0x33000000u) return (th_u16)sign;  /* below half the smallest subnormal */
    th_u32 e = absx >> 23;
    th_u32 m = (absx & 0x7fffffu) | 0x800000u;
    th_u32 shift = 126u - e;  /* 14 + (112 - e) */
    th_u32 q = m >> shift;
    th_u32 rem = m & ((1u << shift) - 1u);
    th_u32 halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (q & 1u))) q += 1u;
    return (th_u16)(sign | q);
  }
  th_u32 q = absx - 0x38000000u;  /* rebias exponent 127 -> 15 */
  th_u32 rem = q & 0x1fffu;
  q >>= 13;
  if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) q += 1u;
  return (th_u16)(sign | q);
}

TH_DEVICE float th_round_half(float x) { return th_h2f(th_f2h(x)); }

/* float64 -> float32 rounding to odd, so a second rounding to float16 is exact. */
TH_DEVICE float th_f64_to_f32_odd(double v) {
  float nearest = (float)v;
  double back = (double)nearest;
  th_u32 bits = th_bits_f32(nearest);
  if (back != v && (bits & 1u) == 0u) {
    int away = v < 0.0 ? (v < back) : (v > back);
    bits = away ? bits + 1u : bits - 1u;
  }
  return th_f32_from_bits(bits);
}

/* theanine's float -> integer rule (graph.ops.math.float_to_integer). */
TH_DEVICE th_i64 th_f2i64(double v) {
  return (v >= -9223372036854775808.0 && v < 9223372036854775808.0) ? (th_i64)v : (th_i64)0x8000000000000000ull;
}
TH_DEVICE th_i32 th_f2i32(double v) {
  return (v >= -2147483648.0 && v < 2147483648.0) ? (th_i32)v : (th_i32)0x80000000u;
}
TH_DEVICE th_u64 th_f2u64(double v) {
  if (v >= 9223372036854775808.0 && v < 18446744073709551616.0)
    return (th_u64)(th_i64)(v - 9223372036854775808.0) + 0x8000000000000000ull;
  if (v >= 18446744073709551616.0) return 0ull;
  return (th_u64)th_f2i64(v);
}
TH_DEVICE th_u32 th_f2u32(double v) {
  if (v >= 2147483648.0 && v < 4294967296.0) return (th_u32)(th_i32)(v - 2147483648.0) + 0x80000000u;
  if (v >= 4294967296.0) return 0u;
  return (th_u32)th_f2i32(v);
}

/* NumPy's npy_divmod on floats: floor quotient and remainder with the divisor's sign. */
template <class T> TH_DEVICE T th_fdiv_floor(T x, T y) {
  if (y == (T)0) return x / y;
  T mod = fmod(x, y);
  T div = (x - mod) / y;
  if (mod != (T)0 && ((y < (T)0) != (mod < (T)0))) div -= (T)1;
  T fl;
  if (div != (T)0) {
    fl = floor(div);
    if (div - fl > (T)0.5) fl += (T)1;
  } else {
    fl = copysign((T)0, x / y);
  }
  return fl;
}
template <class T> TH_DEVICE T th_fmod_floor(T x, T y) {
  T mod = fmod(x, y);
  if (y == (T)0) return mod;
  if (mod != (T)0) {
    if ((y < (T)0) != (mod < (T)0)) mod += y;
  } else {
    mod = copysign((T)0, y);
  }
  return mod;
}
TH_DEVICE float th_fdiv_floor_f(float x, float y) { return th_fdiv_floor<float>(x, y); }

/* Integer floor division and remainder: a zero divisor gives 0; MIN // -1 wraps. */
template <class T> TH_DEVICE T th_idiv_floor(T x, T y) {
  if (y == (T)0) return (T)0;
  if ((T)-1 > (T)0) return x / y;  /* unsigned */
  if (y == (T)-1) return (T)(0 - (th_u64)x);
  T q = x / y, r = x % y;
  if (r != 0 && ((r ^ y) < 0)) q -= 1;
  return q;
}
template <class T> TH_DEVICE T th_imod_floor(T x, T y) {
  if (y == (T)0) return (T)0;
  if ((T)-1 > (T)0) return x % y;
  if (y == (T)-1) return (T)0;
  T r = x % y;
  if (r != 0 && ((r ^ y) < 0)) r += y;
  return r;
}

/* base ** exponent modulo 2**width by squaring over the exponent's low ``bits`` bits. */
template <class T> TH_DEVICE T th_ipow(T base, T exponent, int bits) {
  T result = (T)1, square = base;
  for (int k = 0; k < bits; ++k) {
    if ((exponent >> k) & 1) result = (T)((th_u64)result * (th_u64)square);
    square = (T)((th_u64)square * (th_u64)square);
  }
  return result;
}

/* Reductions' float max/min: NaN propagates, -0 < +0 (llvm.maximum/minimum). */
template <class T> TH_DEVICE T th_fmaximum(T a, T b) {
  if (a != a) return a;
  if (b != b) return b;
  if (a == b) return signbit(a) ? b : a;
  return a > b ? a : b;
}
template <class T> TH_DEVICE T th_fminimum(T a, T b) {
  if (a != a) return a;
  if (b != b) return b;
  if (a == b) return signbit(a) ? a : b;
  return a < b ? a : b;
}

/* The shape ops of kernel_ir.SHAPE_OPS on int64. */
TH_DEVICE th_i64 th_shape_floordiv(th_i64 a, th_i64 d) {
  if (d == 0) return 0;
  th_i64 q = a / d;
  if (q * d != a && ((a < 0) != (d < 0))) q -= 1;
  return q;
}
TH_DEVICE th_i64 th_max64(th_i64 a, th_i64 b) { return a > b ? a : b; }
TH_DEVICE th_i64 th_min64(th_i64 a, th_i64 b) { return a < b ? a : b; }

/* Philox4x32-10 (graph/ops/random.py), with a 128-bit counter offset. */
TH_DEVICE void th_counter_plus(th_u32 c[4], th_u64 blocks) {
  th_u64 low = (th_u64)c[0] | ((th_u64)c[1] << 32);
  th_u64 high = (th_u64)c[2] | ((th_u64)c[3] << 32);
  th_u64 new_low = low + blocks;
  high += new_low < low ? 1ull : 0ull;
  c[0] = (th_u32)new_low; c[1] = (th_u32)(new_low >> 32);
  c[2] = (th_u32)high; c[3] = (th_u32)(high >> 32);
}
TH_DEVICE th_u32 th_philox_word(th_u32 k0, th_u32 k1, th_u32 c0, th_u32 c1, th_u32 c2, th_u32 c3,
                                th_u64 block, th_u64 lane) {
  th_u32 c[4] = {c0, c1, c2, c3};
  th_counter_plus(c, block);
  for (int r = 0; r < 10; ++r) {
    th_u32 key0 = k0 + (th_u32)(r * 0x9E3779B9u), key1 = k1 + (th_u32)(r * 0xBB67AE85u);
    th_u64 p0 = (th_u64)0xD2511F53u * c[0], p1 = (th_u64)0xCD9E8D57u * c[2];
    th_u32 hi0 = (th_u32)(p0 >> 32), lo0 = (th_u32)p0, hi1 = (th_u32)(p1 >> 32), lo1 = (th_u32)p1;
    th_u32 n0 = hi1 ^ c[1] ^ key0, n2 = hi0 ^ c[3] ^ key1;
    c[0] = n0; c[1] = lo1; c[2] = n2; c[3] = lo0;
  }
  return lane == 0 ? c[0] : lane == 1 ? c[1] : lane == 2 ? c[2] : c[3];
}
TH_DEVICE th_u32 th_philox_counter(th_u32 c0, th_u32 c1, th_u32 c2, th_u32 c3, th_u64 blocks, th_u64 word) {
  th_u32 c[4] = {c0, c1, c2, c3};
  th_counter_plus(c, blocks);
  return word == 0 ? c[0] : word == 1 ? c[1] : word == 2 ? c[2] : c[3];
}

/* A failed run-time check: the first failing step's number (1 + index) wins. */
TH_DEVICE void th_fail(int* status, int step) { atomicCAS(status, 0, step); }

/* Atomic ``*p += v`` in memory type M for every dtype. */
TH_DEVICE void th_atomic_add(float* p, float v) { atomicAdd(p, v); }
TH_DEVICE void th_atomic_add(double* p, double v) { atomicAdd(p, v); }
TH_DEVICE void th_atomic_add(th_i32* p, th_i32 v) { atomicAdd(p, v); }
TH_DEVICE void th_atomic_add(th_u32* p, th_u32 v) { atomicAdd(p, v); }
TH_DEVICE void th_atomic_add(th_u64* p, th_u64 v) { atomicAdd(p, v); }
TH_DEVICE void th_atomic_add(th_i64* p, th_i64 v) { atomicAdd((th_u64*)p, (th_u64)v); }
/* 1- and 2-byte types: CAS on the aligned 32-bit word holding the element. ``kind``: 0 integer
 * (wrapping), 1 bool (or), 2 float16 (bits, rounded add). */
TH_DEVICE void th_atomic_add_small(void* p, int size, int kind, th_u32 bits_v) {
  th_u64 address = (th_u64)p;
  th_u32* word = (th_u32*)(address & ~3ull);
  int shift = (int)(address & 3ull) * 8;
  th_u32 mask = (size == 1 ? 0xffu : 0xffffu) << shift;
  th_u32 old = *word, assumed;
  do {
    assumed = old;
    th_u32 current = (assumed & mask) >> shift;
    th_u32 updated;
    if (kind == 1) updated = (current | bits_v) ? 1u : 0u;
    else if (kind == 2) updated = th_f2h(th_h2f((th_u16)current) + th_h2f((th_u16)bits_v));
    else updated = current + bits_v;
    th_u32 next = (assumed & ~mask) | ((updated << shift) & mask);
    old = atomicCAS(word, assumed, next);
  } while (old != assumed);
}

/* N elements of T moved as one 16-byte access (ld.global.v4.f32 and the like): the packed
 * elementwise loop's loads and stores where its operands are 16-byte aligned. */
template <class T, int N> struct __align__(16) th_pack { T v[N]; };

/* Block-wide combine of one value per thread (blockDim.x a multiple of 32, at most 1024): warp
 * shuffles, then one value per warp through shared memory; every thread gets the result. */
template <class T, class F> __device__ T th_block_reduce(T v, F combine) {
  __shared__ T partial[32];
  __shared__ T result;
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (int d = 16; d > 0; d >>= 1) v = combine(v, __shfl_down_sync(0xffffffffu, v, d));
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    T w = lane < warps ? partial[lane] : partial[0];
    for (int d = 16; d > 0; d >>= 1) {
      T other = __shfl_down_sync(0xffffffffu, w, d);
      if (lane + d < warps) w = combine(w, other);
    }
    if (lane == 0) result = w;
  }
  __syncthreads();
  T out = result;
  __syncthreads();
  return out;
}

/* Exclusive prefix sum of one count per thread across the block (Hillis-Steele in shared memory);
 * ``*total`` gets the block's sum.  Every thread of the block must call it. */
__device__ th_i64 th_block_exclusive_scan(th_i64 v, th_i64* total) {
  __shared__ th_i64 sums[1024];
  sums[threadIdx.x] = v;
  __syncthreads();
  for (unsigned d = 1; d < blockDim.x; d <<= 1) {
    th_i64 add = threadIdx.x >= d ? sums[threadIdx.x - d] : 0;
    __syncthreads();
    sums[threadIdx.x] += add;
    __syncthreads();
  }
  th_i64 inclusive = sums[threadIdx.x];
  *total = sums[blockDim.x - 1];
  __syncthreads();
  return inclusive - v;
}

/* C = alpha * A @ B + beta * C for one matrix: 16x16 tiles staged in shared memory.  Operands are
 * read through element strides; k == 0 gives beta * C (0 when beta is 0, without reading C). */
#define TH_TILE 16
template <class T> __device__ void th_gemm_tiled(
    const T* a, th_i64 a_m, th_i64 a_k, const T* b, th_i64 b_k, th_i64 b_n, T* c, th_i64 c_m, th_i64 c_n,
    th_i64 m, th_i64 n, th_i64 k, T alpha, T beta, th_i64 row_block) {
  __shared__ T as[TH_TILE][TH_TILE];
  __shared__ T bs[TH_TILE][TH_TILE + 1];
  int tx = threadIdx.x, ty = threadIdx.y;
  th_i64 row = row_block * TH_TILE + ty, col = (th_i64)blockIdx.x * TH_TILE + tx;
  T acc = (T)0;
  for (th_i64 k0 = 0; k0 < k; k0 += TH_TILE) {
    as[ty][tx] = (row < m && k0 + tx < k) ? a[row * a_m + (k0 + tx) * a_k] : (T)0;
    bs[ty][tx] = (col < n && k0 + ty < k) ? b[(k0 + ty) * b_k + col * b_n] : (T)0;
    __syncthreads();
    for (int p = 0; p < TH_TILE; ++p) acc += as[ty][p] * bs[p][tx];
    __syncthreads();
  }
  if (row < m && col < n) {
    T* target = c + row * c_m + col * c_n;
    T value = alpha * acc;
    if (beta != (T)0) value += beta * *target;
    *target = value;
  }
}
