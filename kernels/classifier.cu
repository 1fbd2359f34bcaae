// classifier.cu: GPT-2's fused classifier (kernels.Classifier): softmax
// cross-entropy of each row of logits [rows, V] and its gradient, written
// in place over the logits, so the probabilities are never stored.
//
// classifier_forward_backward_f32 (ROWS: blockDim = (256,1,1), one warp per
// row, grid-stride over rows, any gridDim.x): a read pass keeps per-lane
// online (max m, sum s of exp(x - m)) statistics and picks up the label's
// logit xl on the lane that owns that column; shuffle trees merge and
// broadcast them; lane 0 writes losses[r] = (m - xl) + log(s), NaN for a
// label outside [0, V) (so for every row when V = 0); a second pass
// overwrites each logit x by scale * (p - [c == label]) with
// p = exp(x - m) / s, the label's column as scale*(p - 1) (exact when
// p >= 1/2). Each column is read and then written by the same lane, and xl
// comes out of the reduction before any write. float4 accesses when
// V % 4 == 0 and logits is 16-byte aligned. No shared memory, no atomics.
//
// Constraints: rows, V >= 0, rows*V < 2^31 (the launcher checks).
#include "common.cuh"

extern "C" __global__ void classifier_forward_backward_f32(float* losses, float* logits, const int* labels, float scale,
                                                           int rows, int V) {
  const bool vec = (V & 3) == 0 && gt_aligned16(logits);
  const long long ld = V;
  for (long long r = gt_first_row(); r < rows; r += gt_row_stride()) {
    float* xr = logits + r * ld;
    const int label = labels[r];
    const bool ok = label >= 0 && label < V;
    GtMaxSum st = gt_ms_empty();
    float xl = 0.0f;  // the label's logit, on the lane that owns it
    gt_row_visit(
        V, vec,
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
    gt_row_map(
        xr, V, vec,
        [m, inv, label, scale](int c, float v) {
          const float p = expf(v - m) * inv;
          return scale * (c == label ? p - 1.0f : p);
        },
        xr);
  }
}
