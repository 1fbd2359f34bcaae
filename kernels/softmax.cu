// softmax.cu: row-wise softmax of a [rows, cols] row-major matrix, forward
// and backward (kernels.Softmax).
//
// Algorithm (one warp per row):
//   forward:  one read pass keeps each lane's online statistics (running max
//             m, sum s of exp(x - m), rescaled when m grows), the warp
//             merges them by a shuffle tree and broadcasts (m, s); a second
//             pass writes y = exp(x - m) * (1/s). The row max is subtracted
//             before every exp.
//   backward: d = sum_c dy*y by per-lane sums and a shuffle tree, then
//             dx += y * (dy - d).
// Lane l owns columns l, l+32, ... (float4 groups when cols % 4 == 0 and
// every matrix is 16-byte aligned) in both passes, so y may be x.
//
// Launch: ROWS, blockDim = (256,1,1) (any multiple of 32 works): warp w of
// block b takes rows b*8 + w, b*8 + w + 8*gridDim.x, ...; any gridDim.x.
// Constraints: rows, cols >= 0; a null dx is skipped. No atomics, no
// shared memory.
#include "common.cuh"

extern "C" __global__ void softmax_forward_f32(float* y, const float* x, int rows, int cols) {
  const bool vec = (cols & 3) == 0 && gt_aligned16(y, x);
  const long long ld = cols;
  for (long long r = gt_first_row(); r < rows; r += gt_row_stride()) {
    const float* xr = x + r * ld;
    float* yr = y + r * ld;
    GtMaxSum st = gt_ms_empty();
    gt_row_visit(cols, vec, [&](int, float v) { gt_ms_push(st, v); }, xr);
    st = gt_warp_ms(st);
    const float m = st.m;
    const float inv = 1.0f / st.s;
    gt_row_map(yr, cols, vec, [m, inv](int, float v) { return expf(v - m) * inv; }, xr);
  }
}

extern "C" __global__ void softmax_backward_f32(float* dx, const float* dy, const float* y, int rows, int cols) {
  if (dx == nullptr) return;
  const bool vec = (cols & 3) == 0 && gt_aligned16(dx, dy, y);
  const long long ld = cols;
  for (long long r = gt_first_row(); r < rows; r += gt_row_stride()) {
    const float* dyr = dy + r * ld;
    const float* yr = y + r * ld;
    float* dxr = dx + r * ld;
    float part = 0.0f;
    gt_row_visit(cols, vec, [&](int, float g, float p) { part += g * p; }, dyr, yr);
    const float d = gt_warp_sum(part);
    gt_row_map(dxr, cols, vec, [d](int, float acc, float g, float p) { return acc + p * (g - d); }, dxr, dyr, yr);
  }
}
