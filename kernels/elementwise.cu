// elementwise.cu: add, mul and scale and their gradients (kernels.Elementwise).
//
// Algorithm: one grid-stride pass; float4 loads and stores on the aligned
// bulk when every pointer involved is 16-byte aligned (checked at run time
// per call), scalar otherwise and for the n % 4 tail.
//
// Launch: ELEMENTWISE, blockDim = (256,1,1), any gridDim.x.
// Constraints: n >= 0. A null gradient output (da, db, dx) is skipped.
// Outputs may alias inputs elementwise (y == a, da == db: each gradient is
// accumulated in turn, as the reference's two loops do).
#include "common.cuh"

// add_f32: y[i] = a[i] + b[i].
extern "C" __global__ void add_f32(float* y, const float* a, const float* b, int n) {
  gt_map(y, n, [](float ai, float bi) { return ai + bi; }, a, b);
}

// add_backward_f32: da[i] += dy[i]; db[i] += dy[i].
extern "C" __global__ void add_backward_f32(float* da, float* db, const float* dy, int n) {
  const auto acc = [](float g, float d) { return g + d; };
  if (da != nullptr) gt_map(da, n, acc, da, dy);
  if (db != nullptr) gt_map(db, n, acc, db, dy);
}

// mul_f32: y[i] = a[i] * b[i].
extern "C" __global__ void mul_f32(float* y, const float* a, const float* b, int n) {
  gt_map(y, n, [](float ai, float bi) { return ai * bi; }, a, b);
}

// mul_backward_f32: da[i] += dy[i] * b[i]; db[i] += dy[i] * a[i].
extern "C" __global__ void mul_backward_f32(float* da, float* db, const float* dy, const float* a,
                                            const float* b, int n) {
  const auto acc = [](float g, float d, float other) { return g + d * other; };
  if (da != nullptr) gt_map(da, n, acc, da, dy, b);
  if (db != nullptr) gt_map(db, n, acc, db, dy, a);
}

// scale_f32: y[i] = alpha * x[i].
extern "C" __global__ void scale_f32(float* y, const float* x, float alpha, int n) {
  gt_map(y, n, [alpha](float xi) { return alpha * xi; }, x);
}

// scale_backward_f32: dx[i] += alpha * dy[i].
extern "C" __global__ void scale_backward_f32(float* dx, const float* dy, float alpha, int n) {
  if (dx == nullptr) return;
  gt_map(dx, n, [alpha](float g, float d) { return g + alpha * d; }, dx, dy);
}
