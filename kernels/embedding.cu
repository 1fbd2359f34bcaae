// embedding.cu: GPT-2's token + position embedding, forward and backward
// (kernels.Embedding). tokens is int [B*T], wte [V, C], wpe [>= T, C], out
// and dout [B*T, C]; r = b*T + t names a row of out.
//
// embedding_forward_f32 (ROWS: blockDim = (256,1,1), one warp per row,
// grid-stride over the B*T rows, any gridDim.x): out[r,:] = wte[tok,:] +
// wpe[r % T,:], float4 accesses when C % 4 == 0 and every matrix is 16-byte
// aligned. A token outside [0, V) gives a row of NaN and reads no wte row.
//
// embedding_backward_wte_f32 (blockDim = (128,1,1), any gridDim.x):
// deterministic without atomics, by ownership. The work is split into units
// of (a slab of GT_EMB_SLAB = 16 consecutive tokens) x (GT_EMB_CHANNELS =
// 128 consecutive channels); each warp takes units grid-stride and owns its
// unit's dwte elements alone. Lane l owns channels c0 + l + 32k (k < 4) of
// every token of the slab and accumulates them in the warp's slice of
// shared memory. The warp walks all B*T positions in increasing order, 32
// at a time: each lane reads one token, a ballot marks the positions whose
// token is in the slab, and for each marked position (lowest first) every
// lane adds its channels of that dout row to the token's accumulators,
// which the token's first hit starts from its dwte row. At the end the
// lanes store the accumulators of the tokens they met; rows of tokens
// absent from the batch are neither read nor written. So each dwte[tok, c]
// receives dout[r, c] for r in increasing order, one float32 addition at a
// time: the contract's loop, bit for bit, on any grid. No lane ever touches
// another lane's accumulators, so there is no barrier.
// Cost: every unit reads all B*T tokens (coalesced and cached) and does
// B*T/32 ballot steps, (V/16)*(C/128)*(B*T/32) in all, plus one read of
// each dout row per channel group. That is small next to the rest of a
// step for small vocabularies; for GPT-2's V = 50257 and B*T = 8192 it is
// about 5M warp steps. (Bucketing the positions by token first, as llm.c
// does on the host, would remove the V factor; it needs a deterministic
// device sort, not done here.)
//
// embedding_backward_wpe_f32 (ELEMENTWISE shape: blockDim = (256,1,1), any
// gridDim.x, float4 when T*C % 4 == 0 and both pointers are 16-byte
// aligned): dwpe[t,c] += sum_b dout[b,t,c], the sum taken in float32 over b
// in increasing order by the one thread that owns (t, c).
//
// Constraints: B, T, C, V >= 0 with B*T*C and V*C below 2^31 (the launcher
// checks); a null dwte or dwpe is skipped by not launching its kernel.
#include "common.cuh"

// GT_EMB_SLAB is the number of tokens of a unit, GT_EMB_CHANNELS its number
// of channels (4 per lane), GT_EMB_WARPS the warps of a block.
#define GT_EMB_SLAB 16
#define GT_EMB_CHANNELS 128
#define GT_EMB_WARPS 4

extern "C" __global__ void embedding_forward_f32(float* out, const int* tokens, const float* wte, const float* wpe,
                                                 int BT, int T, int C, int V) {
  const bool vec = (C & 3) == 0 && gt_aligned16(out, wte, wpe);
  const long long ld = C;
  for (long long r = gt_first_row(); r < BT; r += gt_row_stride()) {
    const int tok = tokens[r];
    float* o = out + r * ld;
    const float* p = wpe + (r % T) * ld;
    if (tok >= 0 && tok < V) {
      gt_row_map(o, C, vec, [](int, float w, float q) { return w + q; }, wte + (long long)tok * ld, p);
    } else {
      gt_row_map(o, C, vec, [](int, float) { return NAN; }, p);
    }
  }
}

extern "C" __global__ void embedding_backward_wte_f32(float* dwte, const float* dout, const int* tokens, int BT, int C,
                                                      int V) {
  // acc[w][j][l + 32k]: warp w's accumulator of token v0 + j, channel
  // c0 + l + 32k.
  __shared__ float acc[GT_EMB_WARPS][GT_EMB_SLAB][GT_EMB_CHANNELS];
  const int lane = gt_lane();
  const int warp = gt_warp_id();
  float(*a)[GT_EMB_CHANNELS] = acc[warp];
  const long long groups = (C + GT_EMB_CHANNELS - 1) / GT_EMB_CHANNELS;
  const long long units = (long long)((V + GT_EMB_SLAB - 1) / GT_EMB_SLAB) * groups;
  const long long ld = C;
  for (long long u = (long long)blockIdx.x * GT_EMB_WARPS + warp; u < units;
       u += (long long)gridDim.x * GT_EMB_WARPS) {
    const int v0 = (int)(u / groups) * GT_EMB_SLAB;
    const int c0 = (int)(u % groups) * GT_EMB_CHANNELS;
    const int nv = min(GT_EMB_SLAB, V - v0);
    unsigned seen = 0u;  // tokens of the slab met so far (the same on every lane)
    for (long long base = 0; base < BT; base += GT_WARP) {
      const long long r = base + lane;
      const int tok = r < BT ? tokens[r] : -1;
      unsigned hits = __ballot_sync(GT_FULL_MASK, tok >= v0 && tok < v0 + nv);
      while (hits != 0u) {
        const int i = __ffs((int)hits) - 1;
        hits &= hits - 1u;
        const int j = __shfl_sync(GT_FULL_MASK, tok, i) - v0;
        const float* d = dout + (base + i) * ld;
        // The first hit of a token starts its accumulators from dwte, so the
        // additions are the contract's, in its order.
        const float* init = (seen >> j & 1u) ? nullptr : dwte + (long long)(v0 + j) * ld;
        seen |= 1u << j;
        for (int k = 0; k < GT_EMB_CHANNELS / GT_WARP; ++k) {
          const int c = c0 + lane + GT_WARP * k;
          if (c < C) {
            float& acc_c = a[j][lane + GT_WARP * k];
            acc_c = (init != nullptr ? init[c] : acc_c) + d[c];
          }
        }
      }
    }
    for (int j = 0; j < nv; ++j) {
      if (!(seen >> j & 1u)) continue;
      float* row = dwte + (long long)(v0 + j) * ld;
      for (int k = 0; k < GT_EMB_CHANNELS / GT_WARP; ++k) {
        const int c = c0 + lane + GT_WARP * k;
        if (c < C) row[c] = a[j][lane + GT_WARP * k];
      }
    }
  }
}

extern "C" __global__ void embedding_backward_wpe_f32(float* dwpe, const float* dout, int B, int T, int C) {
  const long long n = (long long)T * C;
  const bool vec = (n & 3) == 0 && gt_aligned16(dwpe, dout);
  gt_grid_loop(
      n, vec,
      [&](long long k) {
        float4 s = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        for (int b = 0; b < B; ++b) {
          const float4 v = gt_ld4(dout + b * n, k);
          s.x += v.x;
          s.y += v.y;
          s.z += v.z;
          s.w += v.w;
        }
        float4 w = gt_ld4(dwpe, k);
        w.x += s.x;
        w.y += s.y;
        w.z += s.z;
        w.w += s.w;
        gt_st4(dwpe, k, w);
      },
      [&](long long i) {
        float s = 0.0f;
        for (int b = 0; b < B; ++b) s += dout[b * n + i];
        dwpe[i] += s;
      });
}
