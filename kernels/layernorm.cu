// layernorm.cu: layer normalisation over the C channels of each row, with a
// per-channel weight and bias, forward and backward (kernels.LayerNorm).
// x, out, dout, dx are [rows, C]; weight, bias, dweight, dbias [C]; mean and
// rstd [rows].
//
// layernorm_forward_f32 (ROWS: blockDim = (256,1,1), one warp per row,
// grid-stride over rows, any gridDim.x): three passes over the row, which
// stays in L1/L2 between them: the sum (per-lane partials, a shuffle tree)
// gives the mean m; the sum of (x - m)^2 the biased variance v (two passes,
// so no cancellation for rows whose mean is large next to their spread);
// s = 1/sqrt(v + eps); lane 0 saves m and s; the third pass writes
// out = (x - m)*s*weight + bias. C = 0 gives m = 0/0 = NaN, as the
// contract's loop.
//
// layernorm_backward_f32 (ROWS): dx only. Per row, the shuffle sums of
// dnorm = weight*dout and of dnorm*norm, norm = (x - m)*s, give their means
// gm and gnm, then dx += s*(dnorm - gm - norm*gnm).
//
// dweight and dbias, deterministically (no atomics), in two kernels:
// layernorm_backward_partials_f32 (blockDim = (256,1,1), any gridDim.x)
// splits the rows into `groups` groups of ceil(rows/groups) consecutive rows
// and the channels into blocks of 256; block (g, channel block) has one
// thread per channel, which sums norm*dout and dout over the group's rows in
// increasing order (coalesced across the warp) and writes them to
// partials[0][g][c] and partials[1][g][c] (partials is [2, groups, C]);
// layernorm_backward_finish_f32 (COLUMNS: blockDim = (256,1,1), one thread
// per channel, any gridDim.x) adds sum_g partials[.][g][c], g in increasing
// order, to dweight[c] and dbias[c] (a null one is skipped). The result
// depends only on rows, C and groups, never on the grid or on timing.
//
// In every kernel a lane (thread) reads each element before it writes the
// same element, so out may be x, and dx may be dout.
// Constraints: rows, C >= 0, rows*C < 2^31, groups >= 1, eps finite >= 0
// (the launcher checks).
#include "common.cuh"

extern "C" __global__ void layernorm_forward_f32(float* out, float* mean, float* rstd, const float* x,
                                                 const float* weight, const float* bias, int rows, int C, float eps) {
  const bool vec = (C & 3) == 0 && gt_aligned16(out, x, weight, bias);
  const long long ld = C;
  const float fc = (float)C;
  for (long long r = gt_first_row(); r < rows; r += gt_row_stride()) {
    const float* xr = x + r * ld;
    float sum = 0.0f;
    gt_row_visit(C, vec, [&](int, float v) { sum += v; }, xr);
    const float m = gt_warp_sum(sum) / fc;
    float sq = 0.0f;
    gt_row_visit(
        C, vec,
        [&](int, float v) {
          const float d = v - m;
          sq += d * d;
        },
        xr);
    const float s = 1.0f / sqrtf(gt_warp_sum(sq) / fc + eps);
    if (gt_lane() == 0) {
      mean[r] = m;
      rstd[r] = s;
    }
    gt_row_map(out + r * ld, C, vec, [m, s](int, float v, float w, float b) { return (v - m) * s * w + b; }, xr,
               weight, bias);
  }
}

extern "C" __global__ void layernorm_backward_f32(float* dx, const float* dout, const float* x, const float* weight,
                                                  const float* mean, const float* rstd, int rows, int C) {
  if (dx == nullptr) return;
  const bool vec = (C & 3) == 0 && gt_aligned16(dx, dout, x, weight);
  const long long ld = C;
  const float fc = (float)C;
  for (long long r = gt_first_row(); r < rows; r += gt_row_stride()) {
    const float* dr = dout + r * ld;
    const float* xr = x + r * ld;
    float* dxr = dx + r * ld;
    const float m = mean[r];
    const float s = rstd[r];
    float a = 0.0f;  // sum of dnorm
    float an = 0.0f; // sum of dnorm*norm
    gt_row_visit(
        C, vec,
        [&](int, float d, float v, float w) {
          const float dn = w * d;
          a += dn;
          an += dn * ((v - m) * s);
        },
        dr, xr, weight);
    const float gm = gt_warp_sum(a) / fc;
    const float gnm = gt_warp_sum(an) / fc;
    gt_row_map(
        dxr, C, vec,
        [m, s, gm, gnm](int, float acc, float d, float v, float w) {
          const float norm = (v - m) * s;
          return acc + s * (w * d - gm - norm * gnm);
        },
        dxr, dr, xr, weight);
  }
}

extern "C" __global__ void layernorm_backward_partials_f32(float* partials, const float* dout, const float* x,
                                                           const float* mean, const float* rstd, int rows, int C,
                                                           int groups) {
  const long long ld = C;
  const long long cblocks = (C + (long long)blockDim.x - 1) / blockDim.x;
  const long long per = (rows + (long long)groups - 1) / groups;
  for (long long blk = blockIdx.x; blk < (long long)groups * cblocks; blk += gridDim.x) {
    const long long g = blk / cblocks;
    const long long c = (blk % cblocks) * blockDim.x + threadIdx.x;
    if (c >= C) continue;
    const long long r1 = min(g * per + per, (long long)rows);
    float aw = 0.0f, ab = 0.0f;
    for (long long r = g * per; r < r1; ++r) {
      const float d = dout[r * ld + c];
      aw += (x[r * ld + c] - mean[r]) * rstd[r] * d;
      ab += d;
    }
    partials[g * ld + c] = aw;
    partials[(groups + g) * ld + c] = ab;
  }
}

extern "C" __global__ void layernorm_backward_finish_f32(float* dweight, float* dbias, const float* partials,
                                                         int groups, int C) {
  const long long ld = C;
  for (long long c = gt_global_tid(); c < C; c += gt_grid_stride()) {
    if (dweight != nullptr) {
      float s = 0.0f;
      for (int g = 0; g < groups; ++g) s += partials[g * ld + c];
      dweight[c] += s;
    }
    if (dbias != nullptr) {
      float s = 0.0f;
      for (int g = 0; g < groups; ++g) s += partials[(groups + g) * ld + c];
      dbias[c] += s;
    }
  }
}
