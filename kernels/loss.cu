// loss.cu: fused softmax cross-entropy (forward, backward) and the MSE
// gradient (kernels.Losses). The MSE forward is reduce.cu's
// reduce_partials_f32 (GT_REDUCE_SQDIFF) + reduce_finish_f32 (scale 1/n).
//
// cross_entropy_forward_f32 (ROWS: blockDim = (256,1,1), one warp per row,
// grid-stride over rows, any gridDim.x): a read pass keeps per-lane online
// (max m, sum s of exp(x - m)) and picks up the label's logit xl (the lane
// owning that column); a shuffle tree merges and broadcasts them; lane 0
// writes losses[r] = (m - xl) + log(s) (log-sum-exp, never log 0), NaN for
// a label outside [0, cols) or cols == 0; a second pass writes
// probs = exp(x - m) / s. Every column is read and written by the same lane,
// and xl comes out of the reduction (a data dependence), so probs may be
// logits.
//
// cross_entropy_backward_f32 (ROWS): dlogits[r,c] += dlosses[r] *
// (probs[r,c] - [c == labels[r]]); the label column is computed as
// dl*(p - 1), without cancellation; a label out of range matches no column.
// A null dlogits is skipped.
//
// mse_backward_f32 (SCALAR-IN, ELEMENTWISE shape: blockDim = (256,1,1), any
// gridDim.x): dpred[i] += k * (pred[i] - target[i]) with k = dloss[0]*2/n
// computed once per thread in double and rounded, as the CPU reference.
// float4 path when all pointers are 16-byte aligned. A null dpred is skipped.
// No atomics anywhere.
#include "common.cuh"

extern "C" __global__ void cross_entropy_forward_f32(float* losses, float* probs, const float* logits,
                                                     const int* labels, int rows, int cols) {
  const bool vec = (cols & 3) == 0 && gt_aligned16(probs, logits);
  const long long ld = cols;
  for (long long r = gt_first_row(); r < rows; r += gt_row_stride()) {
    const float* xr = logits + r * ld;
    float* pr = probs + r * ld;
    const int label = labels[r];
    const bool ok = label >= 0 && label < cols;
    GtMaxSum st = gt_ms_empty();
    float xl = 0.0f;  // the label's logit, on the lane that owns it
    gt_row_visit(cols, vec,
                 [&](int c, float v) {
                   gt_ms_push(st, v);
                   if (c == label) xl = v;
                 },
                 xr);
    st = gt_warp_ms(st);
    xl = gt_warp_sum(xl);  // exactly one lane holds a non-zero term
    if (gt_lane() == 0) losses[r] = ok ? (st.m - xl) + logf(st.s) : NAN;
    const float m = st.m;
    const float inv = 1.0f / st.s;
    gt_row_map(pr, cols, vec, [m, inv](int, float v) { return expf(v - m) * inv; }, xr);
  }
}

extern "C" __global__ void cross_entropy_backward_f32(float* dlogits, const float* dlosses, const float* probs,
                                                      const int* labels, int rows, int cols) {
  if (dlogits == nullptr) return;
  const bool vec = (cols & 3) == 0 && gt_aligned16(dlogits, probs);
  const long long ld = cols;
  for (long long r = gt_first_row(); r < rows; r += gt_row_stride()) {
    float* dr = dlogits + r * ld;
    const float* pr = probs + r * ld;
    const int label = labels[r];
    const float dl = dlosses[r];
    gt_row_map(dr, cols, vec,
               [label, dl](int c, float g, float p) { return g + dl * (c == label ? p - 1.0f : p); },
               dr, pr);
  }
}

extern "C" __global__ void mse_backward_f32(float* dpred, const float* dloss, const float* pred,
                                            const float* target, int n) {
  if (dpred == nullptr || n <= 0) return;
  const float k = (float)((double)dloss[0] * 2.0 / (double)n);
  gt_map(dpred, n, [k](float g, float p, float t) { return g + k * (p - t); }, dpred, pred, target);
}
