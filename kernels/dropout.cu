// dropout.cu: inverted dropout with a counter-based mask (kernels.Dropout).
//
// Algorithm: element i is kept when gt_dropout_uniform(seed, i) >= p, the
// SplitMix64 hash of kernels.DropoutUniform bit for bit (64-bit integer
// arithmetic on the global index i, so the mask depends on neither the grid
// nor the backend); mask[i] = keep ? 1/(1-p) : 0 and y[i] = x[i]*mask[i].
// The backward is dx[i] += dy[i]*mask[i]. One grid-stride pass, float4 loads
// and stores on the aligned bulk when every pointer is 16-byte aligned
// (run-time check), scalar otherwise and for the tail.
//
// Launch: ELEMENTWISE, blockDim = (256,1,1), any gridDim.x.
// Constraints: 0 <= p < 1 (checked by the host); n >= 0; y may be x; a
// null dx is skipped.
#include "common.cuh"

extern "C" __global__ void dropout_forward_f32(float* y, float* mask, const float* x, float p,
                                               unsigned long long seed, int n) {
  const float scale = 1.0f / (1.0f - p);
  const auto m_of = [seed, p, scale](long long i) { return gt_dropout_uniform(seed, i) >= p ? scale : 0.0f; };
  gt_grid_loop(
      n, gt_aligned16(y, mask, x),
      [&](long long k) {
        const long long i = k << 2;
        const float4 m = make_float4(m_of(i), m_of(i + 1), m_of(i + 2), m_of(i + 3));
        const float4 v = gt_ld4(x, k);
        gt_st4(mask, k, m);
        gt_st4(y, k, make_float4(v.x * m.x, v.y * m.y, v.z * m.z, v.w * m.w));
      },
      [&](long long i) {
        const float m = m_of(i);
        const float v = x[i];
        mask[i] = m;
        y[i] = v * m;
      });
}

extern "C" __global__ void dropout_backward_f32(float* dx, const float* dy, const float* mask, int n) {
  if (dx == nullptr) return;
  gt_map(dx, n, [](float g, float d, float m) { return g + d * m; }, dx, dy, mask);
}
