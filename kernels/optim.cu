// optim.cu: SGD (momentum, Nesterov, L2 weight decay) and Adam / AdamW
// updates (kernels.Optimizers), PyTorch semantics in float32.
//
// Algorithm: one grid-stride pass updating every state buffer in place,
// float4 loads and stores on the aligned bulk when every pointer used is
// 16-byte aligned (run-time check), scalar otherwise and for the tail.
//   sgd:  g = grad + wd*p; with momentum: vel = mom*vel + g, and
//         g = nesterov ? g + mom*vel : vel; p -= lr*g. vel is not touched
//         (and may be null) when momentum == 0.
//   adam: decoupled (AdamW): p -= lr*wd*p first; else g += wd*p. Then
//         m = b1*m + (1-b1)g, v = b2*v + (1-b2)g^2,
//         p -= lr * (m/bc1) / (sqrt(v/bc2) + eps), with bc1 = 1 - b1^step and
//         bc2 = 1 - b2^step from the host (float64, rounded).
//
// Launch: ELEMENTWISE, blockDim = (256,1,1), any gridDim.x.
// Constraints: n >= 0; hyper-parameters validated by the host.
#include "common.cuh"

// gt_sgd_step updates one parameter (and its velocity when momentum != 0).
__device__ __forceinline__ void gt_sgd_step(float& p, float grad, float& vel, float lr, float mom, float wd,
                                            bool momentum, bool nesterov) {
  float g = grad + wd * p;
  if (momentum) {
    const float v = mom * vel + g;
    vel = v;
    g = nesterov ? g + mom * v : v;
  }
  p = p - lr * g;
}

extern "C" __global__ void sgd_update_f32(float* param, const float* grad, float* vel, float lr, float momentum,
                                          float weight_decay, int nesterov, int n) {
  const bool use_mom = momentum != 0.0f && vel != nullptr;
  const bool nest = nesterov != 0;
  if (!use_mom) {
    gt_map(param, n, [lr, weight_decay](float p, float g) { return p - lr * (g + weight_decay * p); }, param, grad);
    return;
  }
  gt_grid_loop(
      n, gt_aligned16(param, grad, vel),
      [&](long long k) {
        float4 p = gt_ld4(param, k);
        const float4 g = gt_ld4(grad, k);
        float4 v = gt_ld4(vel, k);
        gt_sgd_step(p.x, g.x, v.x, lr, momentum, weight_decay, true, nest);
        gt_sgd_step(p.y, g.y, v.y, lr, momentum, weight_decay, true, nest);
        gt_sgd_step(p.z, g.z, v.z, lr, momentum, weight_decay, true, nest);
        gt_sgd_step(p.w, g.w, v.w, lr, momentum, weight_decay, true, nest);
        gt_st4(vel, k, v);
        gt_st4(param, k, p);
      },
      [&](long long i) {
        float p = param[i];
        float v = vel[i];
        gt_sgd_step(p, grad[i], v, lr, momentum, weight_decay, true, nest);
        vel[i] = v;
        param[i] = p;
      });
}

// GtAdam holds one Adam step's constants.
struct GtAdam {
  float lr, b1, b2, c1, c2, eps, wd, bc1, bc2;
  bool decoupled;
};

// gt_adam_step updates one parameter and its moments.
__device__ __forceinline__ void gt_adam_step(const GtAdam& h, float& p, float grad, float& m, float& v) {
  float x = p;
  float g = grad;
  if (h.decoupled) {
    x -= h.lr * h.wd * x;
  } else {
    g += h.wd * x;
  }
  const float mi = h.b1 * m + h.c1 * g;
  const float vi = h.b2 * v + h.c2 * g * g;
  m = mi;
  v = vi;
  const float mhat = mi / h.bc1;
  const float vhat = vi / h.bc2;
  p = x - h.lr * mhat / (sqrtf(vhat) + h.eps);
}

extern "C" __global__ void adam_update_f32(float* param, const float* grad, float* m, float* v, float lr, float beta1,
                                           float beta2, float eps, float weight_decay, float bc1, float bc2,
                                           int decoupled, int n) {
  GtAdam h;
  h.lr = lr;
  h.b1 = beta1;
  h.b2 = beta2;
  h.c1 = 1.0f - beta1;
  h.c2 = 1.0f - beta2;
  h.eps = eps;
  h.wd = weight_decay;
  h.bc1 = bc1;
  h.bc2 = bc2;
  h.decoupled = decoupled != 0;
  gt_grid_loop(
      n, gt_aligned16(param, grad, m, v),
      [&](long long k) {
        float4 p4 = gt_ld4(param, k);
        const float4 g4 = gt_ld4(grad, k);
        float4 m4 = gt_ld4(m, k);
        float4 v4 = gt_ld4(v, k);
        gt_adam_step(h, p4.x, g4.x, m4.x, v4.x);
        gt_adam_step(h, p4.y, g4.y, m4.y, v4.y);
        gt_adam_step(h, p4.z, g4.z, m4.z, v4.z);
        gt_adam_step(h, p4.w, g4.w, m4.w, v4.w);
        gt_st4(m, k, m4);
        gt_st4(v, k, v4);
        gt_st4(param, k, p4);
      },
      [&](long long i) {
        float p = param[i];
        float mi = m[i];
        float vi = v[i];
        gt_adam_step(h, p, grad[i], mi, vi);
        m[i] = mi;
        v[i] = vi;
        param[i] = p;
      });
}
