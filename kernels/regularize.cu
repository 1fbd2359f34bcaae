// regularize.cu: gradients of the L1 and L2 penalties and global-norm
// clipping (kernels.Regularizers). The forwards (L1, L2, SumSquares) are
// reduce.cu's REDUCE pair with GT_REDUCE_ABS / GT_REDUCE_SUMSQ.
//
// Algorithm: each thread reads the device scalar once (dout[0] or
// sumsq[0]), then one grid-stride pass with float4 loads and stores on the
// aligned bulk when every pointer is 16-byte aligned (run-time check),
// scalar otherwise and for the tail.
//   l1: dw[i] += g*sign(w[i]) with g = dout[0]*lambda, sign(0) = 0, and a NaN
//       weight giving a NaN gradient (as the CPU reference);
//   l2: dw[i] += g*w[i];
//   clip: s = maxnorm / (sqrt(sumsq[0]) + 1e-6), computed in double as the
//       CPU reference and rounded; if s < 1 (false for a NaN norm), x[i] *= s.
//
// Launch: SCALAR-IN, ELEMENTWISE shape: blockDim = (256,1,1), any gridDim.x.
// Constraints: n >= 0; maxnorm >= 0 (host-checked); a null dw is skipped.
#include "common.cuh"

extern "C" __global__ void l1_backward_f32(float* dw, const float* dout, const float* w, float lambda, int n) {
  if (dw == nullptr || n <= 0) return;
  const float g = dout[0] * lambda;
  gt_map(dw, n,
         [g](float acc, float v) {
           if (v > 0.0f) return acc + g;
           if (v < 0.0f) return acc - g;
           return acc + v;  // +-0 adds 0 (acc + 0 == acc up to the sign of 0); NaN adds NaN
         },
         dw, w);
}

extern "C" __global__ void l2_backward_f32(float* dw, const float* dout, const float* w, float lambda, int n) {
  if (dw == nullptr || n <= 0) return;
  const float g = dout[0] * lambda;
  gt_map(dw, n, [g](float acc, float v) { return acc + g * v; }, dw, w);
}

extern "C" __global__ void clip_by_global_norm_f32(float* x, const float* sumsq, float maxnorm, int n) {
  if (n <= 0) return;
  const double sd = (double)maxnorm / (sqrt((double)sumsq[0]) + 1e-6);
  if (!(sd < 1.0)) return;
  const float s = (float)sd;
  gt_map(x, n, [s](float v) { return v * s; }, x);
}
