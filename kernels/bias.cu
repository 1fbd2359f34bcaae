// bias.cu: the bias add of a [rows, cols] row-major matrix and its gradient.
//
// bias_add_f32 (ELEMENTWISE over rows*cols, blockDim = (256,1,1), any
// gridDim.x): y[r,c] = x[r,c] + bias[c]. Float4 path when y, x and bias are
// 16-byte aligned and cols % 4 == 0 (so no float4 straddles a row); the
// column of each thread's element is tracked incrementally across the
// grid-stride loop (one modulo per thread, not per element). y may be x.
//
// bias_add_backward_f32 (COLUMN TILES, blockDim = (1024,1,1) or any
// multiple of 32 up to 1024, gridDim.x = ceil(cols/32), grid-stride over
// tiles so any grid is correct): dbias[c] += sum_r dy[r,c]. A block owns 32
// columns, one per lane; its warp w takes rows w, w+W, w+2W, ... (W warps)
// with four accumulators, so a warp's loads of a row are one coalesced
// 128-byte line and up to 4·W lines per block are in flight. The W partial
// sums of a column are then added in warp order through shared memory, so
// the result is deterministic. A null dbias is skipped.
// Constraint: rows, cols >= 0.
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
  __shared__ float part[32][33];
  if (dbias == nullptr) return;
  const int lane = threadIdx.x & 31;
  const int w = threadIdx.x >> 5;
  const int nw = blockDim.x >> 5;
  const long long step = (long long)nw * cols;
  for (long long c0 = (long long)blockIdx.x * 32; c0 < cols; c0 += (long long)gridDim.x * 32) {
    const long long c = c0 + lane;
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    if (c < cols) {
      const float* p = dy + (long long)w * cols + c;
      int r = w;
      for (; r + 3 * nw < rows; r += 4 * nw) {
        a0 += p[0];
        a1 += p[step];
        a2 += p[2 * step];
        a3 += p[3 * step];
        p += 4 * step;
      }
      for (; r < rows; r += nw) {
        a0 += p[0];
        p += step;
      }
    }
    part[w][lane] = (a0 + a1) + (a2 + a3);
    __syncthreads();
    if (w == 0 && c < cols) {
      float s = 0.0f;
      for (int i = 0; i < nw; i++) s += part[i][lane];
      dbias[c] += s;
    }
    __syncthreads();
  }
}
