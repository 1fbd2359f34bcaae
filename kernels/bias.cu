// bias.cu: the bias add of a [rows, cols] row-major matrix and its gradient.
//
// bias_add_f32 (ELEMENTWISE over rows*cols, blockDim = (256,1,1), any
// gridDim.x): y[r,c] = x[r,c] + bias[c]. Float4 path when y, x and bias are
// 16-byte aligned and cols % 4 == 0 (so no float4 straddles a row); the
// column of each thread's element is tracked incrementally across the
// grid-stride loop (one modulo per thread, not per element). y may be x.
//
// bias_add_backward_f32 (COLUMNS, blockDim = (256,1,1), gridDim.x =
// ceil(cols/256), grid-stride over columns so any grid is correct):
// dbias[c] += sum_r dy[r,c]. One thread owns a column and walks the rows in
// order with four accumulators (rows r = 0,1,2,3 mod 4) summed in a fixed
// order, so the result is deterministic; a warp's loads of one row are
// coalesced. A null dbias is skipped.
// Constraint: rows, cols >= 0. Note the COLUMNS shape gives few blocks when
// cols is small and rows large (bandwidth-bound by parallelism, not bytes).
#include "common.cuh"

extern "C" __global__ void bias_add_f32(float* y, const float* x, const float* bias, int rows, int cols) {
  const long long n = (long long)rows * (long long)cols;
  if (n <= 0) return;
  const long long start = gt_global_tid();
  const long long stride = gt_grid_stride();
  if ((cols & 3) == 0 && gt_aligned16(y, x, bias)) {
    const long long n4 = n >> 2;
    const long long c4s = cols >> 2;  // float4 groups per row
    long long c = start % c4s;        // group column of this thread's k
    const long long step = stride % c4s;
    for (long long k = start; k < n4; k += stride) {
      const float4 xv = gt_ld4(x, k);
      const float4 bv = gt_ld4(bias, c);
      gt_st4(y, k, make_float4(xv.x + bv.x, xv.y + bv.y, xv.z + bv.z, xv.w + bv.w));
      c += step;
      if (c >= c4s) c -= c4s;
    }
    return;
  }
  long long c = start % cols;
  const long long step = stride % cols;
  for (long long i = start; i < n; i += stride) {
    y[i] = x[i] + bias[c];
    c += step;
    if (c >= cols) c -= cols;
  }
}

extern "C" __global__ void bias_add_backward_f32(float* dbias, const float* dy, int rows, int cols) {
  if (dbias == nullptr) return;
  const long long ld = cols;
  for (long long c = gt_global_tid(); c < cols; c += gt_grid_stride()) {
    const float* p = dy + c;
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
      a0 += p[0];
      a1 += p[ld];
      a2 += p[2 * ld];
      a3 += p[3 * ld];
      p += 4 * ld;
    }
    for (; r < rows; r++) {
      a0 += p[0];
      p += ld;
    }
    dbias[c] += (a0 + a1) + (a2 + a3);
  }
}
