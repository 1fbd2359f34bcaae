// reduce.cu: deterministic full reductions, the broadcast gradients of sum
// and mean, and the row argmax (kernels.Reductions; also the forwards of
// MSE, L1, L2 and SumSquares).
//
// REDUCE, two kernels, no atomics:
//   reduce_partials_f32 (blockDim = (256,1,1), any multiple of 32 up to
//   1024; gridDim.x = G <= 1024): each thread sums mode(x[i], t[i]) over its
//   grid-stride share (float4 loads when x and t are 16-byte aligned), the
//   block sums its threads by a warp shuffle tree then across warps through
//   a __shared__ float[32], and thread 0 writes partials[blockIdx.x].
//   reduce_finish_f32 (blockDim = (1024,1,1), gridDim = (1,1,1)): thread j
//   sums partials j, j+1024, ... in order, then the same block sum; thread 0
//   writes out[0] = (accumulate ? out[0] : 0) + scale * total. The result
//   depends only on the data and G, never on scheduling. Sums are float32.
//
// scalar_backward_f32 (SCALAR-IN, ELEMENTWISE shape): dx[i] += dy[0]*scale;
// a null dx is skipped.
//
// argmax_f32 (ROWS: blockDim = (256,1,1), one warp per row, grid-stride over
// rows): each lane keeps the first maximum of its columns (strict >, so NaN
// is never taken), the warp merges (value, index) pairs preferring the
// larger value, then the smaller index; out[r] = that index, or 0 when the
// row has no element > -Inf or x[r,0] is NaN (the reference starts from
// x[r,0] and never moves off a NaN). cols >= 1 for rows > 0.
#include "common.cuh"

// gt_reduce_term is x's (and t's) contribution under mode M.
template <int M>
__device__ __forceinline__ float gt_reduce_term(float x, float t) {
  if (M == GT_REDUCE_SUMSQ) return x * x;
  if (M == GT_REDUCE_ABS) return fabsf(x);
  if (M == GT_REDUCE_SQDIFF) {
    const float d = x - t;
    return d * d;
  }
  return x;  // GT_REDUCE_SUM
}

// gt_thread_partial sums the thread's grid-stride share of the terms.
template <int M>
__device__ __forceinline__ float gt_thread_partial(const float* x, const float* t, long long n) {
  const float* tt = M == GT_REDUCE_SQDIFF ? t : x;  // t is read only for SQDIFF
  float acc = 0.0f;
  gt_grid_loop(
      n, gt_aligned16(x, tt),
      [&](long long k) {
        const float4 a = gt_ld4(x, k);
        const float4 b = gt_ld4(tt, k);
        acc += (gt_reduce_term<M>(a.x, b.x) + gt_reduce_term<M>(a.y, b.y)) +
               (gt_reduce_term<M>(a.z, b.z) + gt_reduce_term<M>(a.w, b.w));
      },
      [&](long long i) { acc += gt_reduce_term<M>(x[i], tt[i]); });
  return acc;
}

extern "C" __global__ void reduce_partials_f32(float* partials, const float* x, const float* t, int n, int mode) {
  __shared__ float warp_sums[GT_MAX_WARPS];
  float acc;
  switch (mode) {
    case GT_REDUCE_SUMSQ:
      acc = gt_thread_partial<GT_REDUCE_SUMSQ>(x, t, n);
      break;
    case GT_REDUCE_ABS:
      acc = gt_thread_partial<GT_REDUCE_ABS>(x, t, n);
      break;
    case GT_REDUCE_SQDIFF:
      acc = gt_thread_partial<GT_REDUCE_SQDIFF>(x, t, n);
      break;
    default:
      acc = gt_thread_partial<GT_REDUCE_SUM>(x, t, n);
      break;
  }
  const float total = gt_block_sum(acc, warp_sums);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

extern "C" __global__ void reduce_finish_f32(float* out, const float* partials, int count, float scale, int accumulate) {
  __shared__ float warp_sums[GT_MAX_WARPS];
  float acc = 0.0f;
  for (int i = (int)threadIdx.x; i < count; i += (int)blockDim.x) acc += partials[i];
  const float total = gt_block_sum(acc, warp_sums);
  if (threadIdx.x == 0 && blockIdx.x == 0) {
    const float base = accumulate ? out[0] : 0.0f;
    out[0] = base + scale * total;
  }
}

extern "C" __global__ void scalar_backward_f32(float* dx, const float* dy, float scale, int n) {
  if (dx == nullptr || n <= 0) return;
  const float g = dy[0] * scale;
  gt_map(dx, n, [g](float v) { return v + g; }, dx);
}

extern "C" __global__ void argmax_f32(int* out, const float* x, int rows, int cols) {
  const bool vec = (cols & 3) == 0 && gt_aligned16(x);
  const long long ld = cols;
  const int none = 0x7fffffff;
  for (long long r = gt_first_row(); r < rows; r += gt_row_stride()) {
    const float* xr = x + r * ld;
    float best = -INFINITY;
    int bi = none;
    gt_row_visit(cols, vec,
                 [&](int c, float v) {
                   if (v > best) {
                     best = v;
                     bi = c;
                   }
                 },
                 xr);
    for (int off = GT_WARP / 2; off > 0; off >>= 1) {
      const float ov = __shfl_down_sync(GT_FULL_MASK, best, off);
      const int oi = __shfl_down_sync(GT_FULL_MASK, bi, off);
      if (ov > best || (ov == best && oi < bi)) {
        best = ov;
        bi = oi;
      }
    }
    if (gt_lane() == 0) {
      if (bi == none || (cols > 0 && isnan(xr[0]))) bi = 0;
      out[r] = bi;
    }
  }
}
