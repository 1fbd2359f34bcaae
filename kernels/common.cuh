// common.cuh: device helpers shared by gotrain's kernel files.
//
// What is here:
//   - thread indexing for the three launch shapes of kernels.cuh
//     (ELEMENTWISE grid-stride loops, ROWS warp-per-row loops, COLUMNS);
//   - the ELEMENTWISE loop with 16-byte float4 loads and stores on the
//     aligned bulk and a scalar tail, chosen at run time per call
//     (gt_aligned16 tests every pointer involved);
//   - warp reductions by shuffles (a __shfl_down_sync tree, then a
//     broadcast from lane 0, so every lane sees bit-identical results even
//     where the compiler contracts a*b+c into an FMA) and a block sum
//     through a statically sized shared array owned by the kernel;
//   - the online (max, sum of exp) pair of a softmax row;
//   - gt_dropout_uniform, the SplitMix64 hash of kernels.DropoutUniform,
//     bit for bit, in 64-bit integer arithmetic.
//
// Constraints: the same sources compile with nvcc and, for the CPU
// emulator, with g++ and kernels/emu/cuda_emu.h, so only the CUDA subset
// that header provides is used: no extern __shared__, no initialised
// __shared__ variables, no inline PTX, no cooperative groups, no templated
// __global__ functions (device helper templates are fine). __shared__ arrays
// are declared in the kernels and handed to the helpers by pointer.
// Pointers are never __restrict__: outputs may alias inputs (y == x,
// probs == logits, da == db), and every kernel reads an element before it
// writes the same element from the same thread.
#pragma once

#include <stdint.h>

#include "kernels.cuh"

// GT_WARP is the warp size (a constant: shared arrays are sized by it).
#define GT_WARP 32
// GT_MAX_WARPS is the most warps in a block (1024 threads).
#define GT_MAX_WARPS 32
// GT_FULL_MASK names all 32 lanes in the *_sync intrinsics.
#define GT_FULL_MASK 0xffffffffu

// ---------------------------------------------------------------------------
// Indexing.

// gt_global_tid is the thread's index in the grid (x only), 64-bit.
__device__ __forceinline__ long long gt_global_tid() {
  return (long long)blockIdx.x * (long long)blockDim.x + (long long)threadIdx.x;
}

// gt_grid_stride is the number of threads in the grid (x only), 64-bit.
__device__ __forceinline__ long long gt_grid_stride() {
  return (long long)gridDim.x * (long long)blockDim.x;
}

// gt_lane is the thread's lane in its warp.
__device__ __forceinline__ int gt_lane() { return (int)(threadIdx.x & (GT_WARP - 1)); }

// gt_warp_id is the thread's warp in its block.
__device__ __forceinline__ int gt_warp_id() { return (int)(threadIdx.x / GT_WARP); }

// gt_warps_per_block is the number of (whole) warps in the block.
__device__ __forceinline__ int gt_warps_per_block() { return (int)(blockDim.x / GT_WARP); }

// gt_first_row and gt_row_stride drive the ROWS loop: warp w of block b
// takes rows b*W + w, then steps by gridDim.x*W (W warps per block).
__device__ __forceinline__ long long gt_first_row() {
  return (long long)blockIdx.x * gt_warps_per_block() + gt_warp_id();
}
__device__ __forceinline__ long long gt_row_stride() {
  return (long long)gridDim.x * gt_warps_per_block();
}

// ---------------------------------------------------------------------------
// Alignment and float4 access.

// gt_aligned16 reports whether every pointer is 16-byte aligned (a null
// pointer counts as aligned: it is never dereferenced).
__device__ __forceinline__ bool gt_aligned16() { return true; }
template <class T, class... R>
__device__ __forceinline__ bool gt_aligned16(const T* p, const R*... rest) {
  return (((uintptr_t)p) & 15u) == 0 && gt_aligned16(rest...);
}

// gt_ld4 loads the k-th float4 of p (p 16-byte aligned).
__device__ __forceinline__ float4 gt_ld4(const float* p, long long k) {
  return reinterpret_cast<const float4*>(p)[k];
}

// gt_st4 stores v as the k-th float4 of p (p 16-byte aligned).
__device__ __forceinline__ void gt_st4(float* p, long long k, float4 v) {
  reinterpret_cast<float4*>(p)[k] = v;
}

// gt_apply4 applies the scalar function f lane by lane to float4s:
// result.x = f(a.x, b.x, ...), and so on.
template <class F, class... V>
__device__ __forceinline__ float4 gt_apply4(F& f, V... v) {
  return make_float4(f(v.x...), f(v.y...), f(v.z...), f(v.w...));
}

// ---------------------------------------------------------------------------
// ELEMENTWISE loops.

// gt_grid_loop runs f4(k) for every float4 index k < n/4 when vec (the
// caller has checked alignment), then f1(i) for the remaining scalar
// elements (all of them when !vec), grid-stride, so any grid is correct.
template <class F4, class F1>
__device__ __forceinline__ void gt_grid_loop(long long n, bool vec, F4 f4, F1 f1) {
  const long long start = gt_global_tid();
  const long long stride = gt_grid_stride();
  long long done = 0;
  if (vec) {
    const long long n4 = n >> 2;
    for (long long k = start; k < n4; k += stride) f4(k);
    done = n4 << 2;
  }
  for (long long i = done + start; i < n; i += stride) f1(i);
}

// gt_map sets out[i] = f(in[i]...) for i < n, with float4 accesses when
// out and every in are 16-byte aligned. An in may be out itself
// (accumulation): each element is read before it is written, by one thread.
template <class F, class... P>
__device__ __forceinline__ void gt_map(float* out, long long n, F f, const P*... in) {
  gt_grid_loop(
      n, gt_aligned16(out, in...),
      [&](long long k) { gt_st4(out, k, gt_apply4(f, gt_ld4(in, k)...)); },
      [&](long long i) { out[i] = f(in[i]...); });
}

// ---------------------------------------------------------------------------
// ROWS loops: one warp per row; the lane visits columns lane, lane+32, ...
// (or float4 groups lane, lane+32, ... when vec: cols % 4 == 0 and every row
// pointer's base 16-byte aligned, so every row is). Each column is visited
// by the same lane in every pass, which is what makes in-place rows safe.

template <class F, class... V>
__device__ __forceinline__ void gt_visit4(F& f, int c, V... v) {
  f(c, v.x...);
  f(c + 1, v.y...);
  f(c + 2, v.z...);
  f(c + 3, v.w...);
}

// gt_map4c is gt_apply4 for functions of (column, values...).
template <class F, class... V>
__device__ __forceinline__ float4 gt_map4c(F& f, int c, V... v) {
  return make_float4(f(c, v.x...), f(c + 1, v.y...), f(c + 2, v.z...), f(c + 3, v.w...));
}

// gt_row_visit calls f(c, row[c]...) for the lane's columns of one row, in
// increasing c.
template <class F, class... P>
__device__ __forceinline__ void gt_row_visit(int cols, bool vec, F f, const P*... row) {
  const int lane = gt_lane();
  if (vec) {
    const int c4 = cols >> 2;
    for (int k = lane; k < c4; k += GT_WARP) gt_visit4(f, k << 2, gt_ld4(row, k)...);
  } else {
    for (int c = lane; c < cols; c += GT_WARP) f(c, row[c]...);
  }
}

// gt_row_map sets out[c] = f(c, row[c]...) for the lane's columns.
template <class F, class... P>
__device__ __forceinline__ void gt_row_map(float* out, int cols, bool vec, F f, const P*... row) {
  const int lane = gt_lane();
  if (vec) {
    const int c4 = cols >> 2;
    for (int k = lane; k < c4; k += GT_WARP) {
      const int c = k << 2;
      gt_st4(out, k, gt_map4c(f, c, gt_ld4(row, k)...));
    }
  } else {
    for (int c = lane; c < cols; c += GT_WARP) out[c] = f(c, row[c]...);
  }
}

// ---------------------------------------------------------------------------
// Warp and block reductions (shuffles and shared memory, no atomics).

// gt_warp_sum returns the sum of v over the warp to every lane: a fixed
// shuffle-down tree, then lane 0's total broadcast.
__device__ __forceinline__ float gt_warp_sum(float v) {
  for (int off = GT_WARP / 2; off > 0; off >>= 1) v += __shfl_down_sync(GT_FULL_MASK, v, off);
  return __shfl_sync(GT_FULL_MASK, v, 0);
}

// gt_block_sum returns the sum of v over the block to thread 0 (other
// threads get unspecified values). smem is a __shared__ float[GT_MAX_WARPS]
// of the calling kernel; every thread of the block must call it. It ends
// with a barrier, so smem may be reused afterwards.
__device__ __forceinline__ float gt_block_sum(float v, float* smem) {
  const int lane = gt_lane();
  const int warp = gt_warp_id();
  const int nwarps = gt_warps_per_block();
  v = gt_warp_sum(v);
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  float total = 0.0f;
  if (warp == 0) {
    float w = lane < nwarps ? smem[lane] : 0.0f;
    total = gt_warp_sum(w);
  }
  __syncthreads();
  return total;
}

// ---------------------------------------------------------------------------
// Online softmax statistics: m = max so far, s = sum of exp(x - m).
// NaN and infinities follow the two-pass reference: a NaN anywhere makes s
// NaN; a +Inf makes s NaN (exp(Inf - Inf)); -Inf contributes 0, and a row
// of only -Inf keeps m = -Inf, s = 0, so exp(x - m) / s is NaN as in the
// reference.
struct GtMaxSum {
  float m;
  float s;
};

__device__ __forceinline__ GtMaxSum gt_ms_empty() {
  GtMaxSum r;
  r.m = -INFINITY;
  r.s = 0.0f;
  return r;
}

// gt_ms_push adds x to the statistics.
__device__ __forceinline__ void gt_ms_push(GtMaxSum& a, float x) {
  if (x > a.m) {
    // exp(x - x) is 1 unless x = +Inf, where the reference gets NaN.
    a.s = a.s * expf(a.m - x) + (x == INFINITY ? NAN : 1.0f);
    a.m = x;
  } else if (!(x == -INFINITY && a.m == -INFINITY)) {
    a.s += expf(x - a.m);  // NaN x gives NaN s
  }
}

// gt_ms_merge combines two partial statistics.
__device__ __forceinline__ GtMaxSum gt_ms_merge(GtMaxSum a, GtMaxSum b) {
  GtMaxSum r;
  r.m = a.m > b.m ? a.m : b.m;
  if (r.m == -INFINITY) {
    r.s = a.s + b.s;  // both rows so far empty or -Inf: 0 (or NaN)
  } else {
    r.s = a.s * expf(a.m - r.m) + b.s * expf(b.m - r.m);
  }
  return r;
}

// gt_warp_ms combines the warp's statistics and broadcasts them.
__device__ __forceinline__ GtMaxSum gt_warp_ms(GtMaxSum a) {
  for (int off = GT_WARP / 2; off > 0; off >>= 1) {
    GtMaxSum b;
    b.m = __shfl_down_sync(GT_FULL_MASK, a.m, off);
    b.s = __shfl_down_sync(GT_FULL_MASK, a.s, off);
    a = gt_ms_merge(a, b);
  }
  a.m = __shfl_sync(GT_FULL_MASK, a.m, 0);
  a.s = __shfl_sync(GT_FULL_MASK, a.s, 0);
  return a;
}

// ---------------------------------------------------------------------------
// Dropout.

// gt_dropout_uniform is kernels.DropoutUniform(seed, i): SplitMix64 of
// seed + i*golden, top 24 bits over 2^24 (exact in float32).
__device__ __forceinline__ float gt_dropout_uniform(unsigned long long seed, long long i) {
  unsigned long long z = seed + (unsigned long long)i * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (float)(unsigned int)(z >> 40) * (1.0f / 16777216.0f);
}
