// memory.cu: fill, copy and axpy (kernels.Memory).
//
// Algorithm: one grid-stride pass over n elements; where every pointer is
// 16-byte aligned (checked at run time) the bulk moves as float4 and the
// last n % 4 elements as scalars, else everything is scalar.
//
// Launch: ELEMENTWISE, blockDim = (256,1,1), any gridDim.x (grid-stride).
// Constraints: n >= 0; dst and src of copy_f32 do not overlap partially
// (dst == src is harmless); y == x in axpy_f32 computes y += alpha*y.
#include "common.cuh"

// fill_f32: x[i] = v for i < n.
extern "C" __global__ void fill_f32(float* x, float v, int n) {
  const float4 v4 = make_float4(v, v, v, v);
  gt_grid_loop(
      n, gt_aligned16(x), [&](long long k) { gt_st4(x, k, v4); },
      [&](long long i) { x[i] = v; });
}

// copy_f32: dst[i] = src[i] for i < n.
extern "C" __global__ void copy_f32(float* dst, const float* src, int n) {
  gt_map(dst, n, [](float s) { return s; }, src);
}

// axpy_f32: y[i] += alpha * x[i] for i < n.
extern "C" __global__ void axpy_f32(float* y, float alpha, const float* x, int n) {
  gt_map(y, n, [alpha](float yi, float xi) { return yi + alpha * xi; }, y, x);
}
