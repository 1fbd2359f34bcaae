// cuda_emu.h: the CUDA subset gotrain's kernels use, for g++ on the CPU.
//
// The model. A launch runs gridDim blocks. Blocks are shared out over a
// small pool of OS threads, one block at a time per OS thread. Inside a
// block, each of the blockDim CUDA threads is a fiber (its own small stack
// and saved registers) on that one OS thread; the fibers take turns, and a
// fiber runs until it finishes or waits at a barrier. So:
//
//   - __shared__ is `static thread_local`: one copy per OS thread, and an
//     OS thread runs one block at a time, so that copy is the block's
//     shared memory. (Like CUDA's, it starts with stale contents.)
//   - threadIdx reads the running fiber's index; blockIdx, blockDim and
//     gridDim are per OS thread, set when the block starts.
//   - __syncthreads() parks the fiber until every thread of the block that
//     has not exited has arrived; the last to arrive releases them all.
//   - Warp collectives (__shfl*_sync, __ballot_sync, __any_sync,
//     __all_sync, __syncwarp) are one primitive, gtemu::warp_collective:
//     each lane deposits its value and the lane it wants to read, and parks
//     until every lane of `mask` that has not exited has arrived with the
//     same mask; the last one computes every lane's result. Only the 32
//     fibers of the warp take part, so `if (warp == 0) v = warp_sum(v);`
//     works. Lanes that have exited never block a collective; reading an
//     exited lane gives the reader its own value.
//   - A block whose live threads all wait at barriers that can never
//     complete (some threads at __syncthreads while their warp-mates wait
//     at __syncwarp, a shuffle whose mask names a lane that waits at
//     __syncthreads) is a deadlock: the launch fails with an error that
//     says who waits where, instead of hanging. (Every __syncthreads counts
//     as the same barrier, wherever it is in the code, as on Volta and
//     later; threads that exit stop counting.)
//   - atomicAdd and friends are real atomics: blocks run in parallel.
//
// Everything else is plain C++: kernels are ordinary functions, called once
// per fiber by the runtime in device/emu.cpp. Not provided: extern
// __shared__ (dynamic shared memory), inline PTX, cooperative groups,
// textures, half precision. Kernels can test GOTRAIN_CUDA_EMU.
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <cmath>
#include <type_traits>

#define GOTRAIN_CUDA_EMU 1

// Qualifiers. __restrict__ is already a g++ keyword.
#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __shared__ static thread_local

// ---------------------------------------------------------------------------
// Vector types, as CUDA lays them out.

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
struct __attribute__((aligned(8))) float2 {
  float x, y;
};
struct float3 {
  float x, y, z;
};
struct __attribute__((aligned(16))) float4 {
  float x, y, z, w;
};
struct __attribute__((aligned(8))) int2 {
  int x, y;
};
struct __attribute__((aligned(16))) int4 {
  int x, y, z, w;
};
struct __attribute__((aligned(8))) uint2 {
  unsigned x, y;
};
struct __attribute__((aligned(16))) uint4 {
  unsigned x, y, z, w;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float3 make_float3(float x, float y, float z) { return {x, y, z}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

// ---------------------------------------------------------------------------
// The runtime's side (device/emu.cpp).

namespace gtemu {

// Thread is what a fiber knows about itself.
struct Thread {
  uint3 idx;        // threadIdx
  unsigned linear;  // x + y*blockDim.x + z*blockDim.x*blockDim.y; lane = linear % 32
};

// The running fiber, and its block's coordinates (per OS thread).
extern __thread const Thread* cur_thread;
extern __thread uint3 cur_block_idx;
extern __thread uint3 cur_block_dim;
extern __thread uint3 cur_grid_dim;

// sync_block is __syncthreads; it returns the number of threads that
// passed a non-zero pred (for __syncthreads_count/and/or).
int sync_block(int pred);

// WarpResult is one lane's outcome of a warp collective.
struct WarpResult {
  uint64_t value;    // the value deposited by the lane asked for (or our own)
  unsigned ballot;   // lanes of members whose pred was non-zero
  unsigned members;  // lanes that took part: mask minus exited lanes
};

// warp_collective deposits value, asks for the value of lane src (any
// int; outside the warp or an exited lane gives our own) and waits for the
// other lanes of mask (this lane is always included).
WarpResult warp_collective(unsigned mask, uint64_t value, int src, int pred);

// live_lanes is the mask of the warp's lanes that have not exited.
unsigned live_lanes();

inline int lane() { return (int)(cur_thread->linear & 31u); }

template <class T>
inline uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a type wider than 8 bytes");
  uint64_t b = 0;
  memcpy(&b, &v, sizeof v);
  return b;
}

template <class T>
inline T from_bits(uint64_t b) {
  T v;
  memcpy(&v, &b, sizeof v);
  return v;
}

inline dim3 to_dim3(uint3 v) { return dim3(v.x, v.y, v.z); }

}  // namespace gtemu

#define threadIdx (::gtemu::cur_thread->idx)
#define blockIdx (static_cast<const uint3&>(::gtemu::cur_block_idx))
#define blockDim (::gtemu::to_dim3(::gtemu::cur_block_dim))
#define gridDim (::gtemu::to_dim3(::gtemu::cur_grid_dim))
constexpr int warpSize = 32;

// ---------------------------------------------------------------------------
// Barriers, shuffles and votes.

inline void __syncthreads() { gtemu::sync_block(0); }
inline int __syncthreads_count(int pred) { return gtemu::sync_block(pred != 0); }
inline int __syncthreads_or(int pred) { return gtemu::sync_block(pred != 0) != 0; }
inline int __syncthreads_and(int pred) { return gtemu::sync_block(pred == 0) == 0; }  // no false pred
inline void __syncwarp(unsigned mask = 0xffffffffu) { gtemu::warp_collective(mask, 0, gtemu::lane(), 0); }
inline unsigned __activemask() { return gtemu::live_lanes(); }

// width must be a power of two <= 32; lanes shuffle within groups of width.
template <class T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = warpSize) {
  const int l = gtemu::lane();
  const int s = (l & ~(width - 1)) | (src & (width - 1));
  return gtemu::from_bits<T>(gtemu::warp_collective(mask, gtemu::to_bits(v), s, 0).value);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
  const int l = gtemu::lane();
  const int s = (unsigned)(l & (width - 1)) >= delta ? l - (int)delta : l;
  return gtemu::from_bits<T>(gtemu::warp_collective(mask, gtemu::to_bits(v), s, 0).value);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
  const int l = gtemu::lane();
  const int s = (unsigned)(l & (width - 1)) + delta < (unsigned)width ? l + (int)delta : l;
  return gtemu::from_bits<T>(gtemu::warp_collective(mask, gtemu::to_bits(v), s, 0).value);
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = warpSize) {
  const int l = gtemu::lane();
  int s = l ^ lane_mask;
  if (s >= (l & ~(width - 1)) + width) s = l;  // a later group: our own value
  return gtemu::from_bits<T>(gtemu::warp_collective(mask, gtemu::to_bits(v), s, 0).value);
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  return gtemu::warp_collective(mask, 0, gtemu::lane(), pred != 0).ballot;
}
inline int __any_sync(unsigned mask, int pred) {
  return gtemu::warp_collective(mask, 0, gtemu::lane(), pred != 0).ballot != 0;
}
inline int __all_sync(unsigned mask, int pred) {
  const gtemu::WarpResult r = gtemu::warp_collective(mask, 0, gtemu::lane(), pred != 0);
  return r.ballot == r.members;
}

inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

// ---------------------------------------------------------------------------
// Atomics (relaxed, as CUDA's), on memory that other OS threads may touch.

inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
namespace gtemu {
// atomic_float_op applies old -> f(old) to a float or double with a CAS loop.
template <class F, class U, class Op>
inline F atomic_float_op(F* p, Op op) {
  U* u = reinterpret_cast<U*>(p);
  U old = __atomic_load_n(u, __ATOMIC_RELAXED);
  for (;;) {
    const F f = from_bits<F>(old);
    const F n = op(f);
    U nu;
    memcpy(&nu, &n, sizeof nu);
    if (__atomic_compare_exchange_n(u, &old, nu, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return f;
  }
}
}  // namespace gtemu
inline float atomicAdd(float* p, float v) {
  return gtemu::atomic_float_op<float, uint32_t>(p, [v](float f) { return f + v; });
}
inline double atomicAdd(double* p, double v) {
  return gtemu::atomic_float_op<double, uint64_t>(p, [v](double f) { return f + v; });
}
inline int atomicSub(int* p, int v) { return __atomic_fetch_sub(p, v, __ATOMIC_RELAXED); }
inline int atomicMax(int* p, int v) {
  int old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (old < v && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
inline int atomicMin(int* p, int v) {
  int old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (old > v && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
template <class T>
inline T atomicExch(T* p, T v) {
  return __atomic_exchange_n(p, v, __ATOMIC_RELAXED);
}
inline float atomicExch(float* p, float v) {
  return gtemu::atomic_float_op<float, uint32_t>(p, [v](float) { return v; });
}
template <class T>
inline T atomicCAS(T* p, T compare, T v) {
  __atomic_compare_exchange_n(p, &compare, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return compare;  // the old value either way
}

// ---------------------------------------------------------------------------
// Loads, bit casts, integer intrinsics.

template <class T>
inline T __ldg(const T* p) {
  return *p;
}
inline unsigned __float_as_uint(float f) { return gtemu::from_bits<unsigned>(gtemu::to_bits(f)); }
inline int __float_as_int(float f) { return gtemu::from_bits<int>(gtemu::to_bits(f)); }
inline float __uint_as_float(unsigned u) { return gtemu::from_bits<float>(gtemu::to_bits(u)); }
inline float __int_as_float(int i) { return gtemu::from_bits<float>(gtemu::to_bits(i)); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(unsigned x) { return x ? __builtin_clz(x) : 32; }
inline int __ffs(unsigned x) { return __builtin_ffs((int)x); }

// ---------------------------------------------------------------------------
// Math. expf, logf, tanhf, sqrtf, fabsf, fmaxf, fminf, powf, INFINITY, NAN
// and friends come from <math.h>; these are CUDA's additions.

using std::isfinite;
using std::isinf;
using std::isnan;
using std::signbit;

inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : (x == x ? x : 0.0f)); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
inline int __float2int_rz(float x) { return (int)x; }

// CUDA's min and max, for any mix of arithmetic types (the usual
// conversions, as CUDA's overloads do); floating point ones ignore a NaN.
template <class A, class B>
inline typename std::common_type<A, B>::type max(A a, B b) {
  typedef typename std::common_type<A, B>::type T;
  if constexpr (std::is_floating_point<T>::value) {
    return std::fmax((T)a, (T)b);
  } else {
    return (T)a > (T)b ? (T)a : (T)b;
  }
}
template <class A, class B>
inline typename std::common_type<A, B>::type min(A a, B b) {
  typedef typename std::common_type<A, B>::type T;
  if constexpr (std::is_floating_point<T>::value) {
    return std::fmin((T)a, (T)b);
  } else {
    return (T)a < (T)b ? (T)a : (T)b;
  }
}
