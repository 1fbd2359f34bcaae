// attention.cu: causal multi-head self-attention, FlashAttention style
// (kernels.Attention), in fp32 on the CUDA cores (no tensor cores, no PTX).
//
// Layout: qkv is [B, T, 3C] (C = NH*HS; q, k, v of head h are channels
// h*HS.., C + h*HS.., 2C + h*HS..), out and dout [B, T, C], lse and D
// [B, NH, T]. For one (b, h): s(t, t2) = q_t . k_t2 / sqrt(HS) for t2 <= t.
//
// Forward (attention_forward_hsN_f32). A block of 4 warps owns a tile of
// ROWS = 4*R queries of one (b, h) (warp w: queries w*R .. w*R+R-1 of the
// tile) and walks the key tiles of NC keys from key 0 to its last query:
// Q stays in shared memory, each K and V tile is loaded into shared memory
// once for the whole block. For every (query, key tile) the warp computes
// the NC scores (lane l takes key l % NC; with NC = 16, lanes l and l + 16
// each sum half of the HS products and a shuffle adds the halves), masks
// keys after the query (-inf), and folds them into the online softmax: the
// running maximum m (warp max by xor shuffles, so every lane agrees), the
// rescale factor exp(m_old - m_new) applied to the running sum and to the
// output accumulator, the probabilities exp(s - m) published in the warp's
// slice of shared memory; then lane l adds sum_j p_j * v_j to its HS/32
// output channels l*HS/32 .. (float4/float2 reads of V). After the last tile
// it writes out = acc / sum and lse = m + log(sum). Nothing of size T*T
// exists anywhere; the causal mask skips every key tile after the diagonal.
//
// Backward: P and dP are recomputed from lse, never stored.
//   attention_backward_dot_f32 (ROWS: blockDim = (256,1,1), one warp per
//     (b, t, h)): D = dout . out of that head, the softmax backward's row
//     term (= sum_t2 p*dp), into a scratch [B, NH, T] the launcher provides.
//   attention_backward_kv_hsN_f32: a block owns a tile of ROWS keys (warp
//     w: keys w*R ..) and walks the query tiles of NC queries from the
//     diagonal to T: Q, dO, lse and D of each query tile in shared memory;
//     per (key, query) p = exp(s - lse), dp = dO . v, ds = p*(dp - D)/sqrt(HS);
//     then dV += sum_q p*dO and dK += sum_q ds*q in registers (lane l owns
//     channels l*HS/32 ..), added once to dqkv at the end.
//   attention_backward_q_hsN_f32: a block owns a tile of ROWS queries and
//     walks the key tiles up to the diagonal: K and V in shared memory, ds
//     as above, dQ += sum_k ds*k in registers, added once to dqkv.
// dK/dV and dQ come from two kernels so that every element of dqkv is
// owned by exactly one thread, which sums its terms in a fixed order and
// adds the total once: no atomics, and the same bits on every run and for
// any grid.
//
// Launch: blockDim = (128,1,1) (4 warps; the tiles assume it), any
// gridDim.x: blocks take (b, h, tile) items grid-stride, the most expensive
// tiles first (the last query tiles, the first key tiles). Variants, chosen
// by the launcher from HS (ROWS x NC, static shared memory in bytes; the
// limit is 48 KiB = 49152):
//   forward  hs32: 32 x 32 (17920), hs64: 32 x 32 (30208), hs128: 32 x 16 (35840)
//   kv       hs32: 32 x 32 (26880), hs64: 32 x 32 (43264), hs128: 16 x 16 (35968)
//   q        hs32: 32 x 32 (22528), hs64: 32 x 32 (38912), hs128: 16 x 16 (34816)
// (sm_90, nvcc 11.8 -O3: 67-103 registers, no spills.)
// The per-warp buffers of p and ds are [NC][R] (column-major in the warp's
// rows), so that the accumulation loops read the R values of one key or
// query with R/4 float4 broadcast reads instead of R scalar reads, which
// made those loops shared-memory bound.
// All shared memory is static (__shared__ arrays sized for HS = N, each row
// padded by 4 floats so that float4 rows stay aligned and lanes reading
// consecutive rows hit different banks). Rows past T and channels past HS
// are loaded as zeros: dot products over N channels are then exact, and
// keys past T are masked by causality, so any T works.
//
// Constraints: 1 <= HS <= N for the _hsN variant; B*T*3C < 2^31 (the
// launcher checks). No atomics.
#include "common.cuh"

#ifndef GT_UNROLL
#if defined(__CUDACC__)
#define GT_UNROLL _Pragma("unroll")
#else
#define GT_UNROLL
#endif
#endif

// GT_ATT_WARPS is the number of warps of an attention block.
#define GT_ATT_WARPS 4

// GtAtt is the tile geometry of one kernel variant: head channels HSM (the
// largest HS it takes), R rows per warp, NC columns per step.
template <int HSM, int R, int NC>
struct GtAtt {
  enum {
    LD = HSM + 4,               // floats per shared row
    DPL = HSM / GT_WARP,        // channels per lane in the accumulators
    LEN = HSM * NC / GT_WARP,   // channels per lane in a dot product
    ROWS = GT_ATT_WARPS * R,    // rows of a block (queries, or keys for kv)
    ROWS4 = ROWS * LD / 4,      // float4s of a tile of ROWS rows
    COLS4 = NC * LD / 4,        // float4s of a tile of NC rows
    W = GT_ATT_WARPS * R * NC,  // floats of a per-warp [R][NC] buffer, all warps
  };
  static_assert(HSM % GT_WARP == 0 && GT_WARP % NC == 0 && (HSM * NC / GT_WARP) % 4 == 0, "bad attention tile");
};

// gt_att_load fills rows 0..n-1 of a shared tile (row stride HSM + 4) with
// positions t0..t0+n-1 of one head part: row j, column d is
// src[(t0+j)*stride + d] when t0+j < T and d < HS, else 0. Every thread of
// the block takes part; consecutive threads read consecutive channels.
template <int HSM>
__device__ __forceinline__ void gt_att_load(float* tile, const float* src, long long stride, int t0, int n, int T,
                                            int HS) {
  for (int i = threadIdx.x; i < n * HSM; i += blockDim.x) {
    const int j = i / HSM;
    const int d = i - j * HSM;
    const int t = t0 + j;
    tile[j * (HSM + 4) + d] = (t < T && d < HS) ? src[(long long)t * stride + d] : 0.0f;
  }
}

// gt_att_ldv loads N consecutive floats of shared memory (p aligned to N
// floats) into registers.
template <int N>
__device__ __forceinline__ void gt_att_ldv(float (&v)[N], const float* p) {
  GT_UNROLL
  for (int k = 0; k < N; ++k) v[k] = p[k];
}
template <>
__device__ __forceinline__ void gt_att_ldv<2>(float (&v)[2], const float* p) {
  const float2 t = *reinterpret_cast<const float2*>(p);
  v[0] = t.x;
  v[1] = t.y;
}
template <>
__device__ __forceinline__ void gt_att_ldv<4>(float (&v)[4], const float* p) {
  const float4 t = *reinterpret_cast<const float4*>(p);
  v[0] = t.x;
  v[1] = t.y;
  v[2] = t.z;
  v[3] = t.w;
}

// gt_att_ldr loads the N values of one column of a warp's [NC][N] buffer
// (p or ds of the warp's N rows for one key or query, N a multiple of 4)
// with float4 broadcast reads: 2 reads for N = 8 instead of 8.
template <int N>
__device__ __forceinline__ void gt_att_ldr(float (&v)[N], const float* p) {
  static_assert(N % 4 == 0, "gt_att_ldr: N must be a multiple of 4");
  GT_UNROLL
  for (int k = 0; k < N; k += 4) {
    const float4 t = *reinterpret_cast<const float4*>(p + k);
    v[k] = t.x;
    v[k + 1] = t.y;
    v[k + 2] = t.z;
    v[k + 3] = t.w;
  }
}

// gt_att_dots sets s[r] = sum_d a[r][d] * b[d] over the HSM channels, for
// the warp's R rows a (row stride HSM + 4, broadcast reads) and the lane's
// column b. Lane l sums the channels of its part l / NC, then xor shuffles
// add the parts; float addition is commutative, so every lane of a column
// gets the same bits.
template <int HSM, int R, int NC>
__device__ __forceinline__ void gt_att_dots(float (&s)[R], const float* a, const float* b) {
  typedef GtAtt<HSM, R, NC> K;
  const int off = (gt_lane() / NC) * K::LEN;
  a += off;
  b += off;
  GT_UNROLL
  for (int r = 0; r < R; ++r) s[r] = 0.0f;
  for (int d = 0; d < K::LEN; d += 4) {
    const float4 y = *reinterpret_cast<const float4*>(b + d);
    GT_UNROLL
    for (int r = 0; r < R; ++r) {
      const float4 x = *reinterpret_cast<const float4*>(a + r * K::LD + d);
      s[r] += (x.x * y.x + x.y * y.y) + (x.z * y.z + x.w * y.w);
    }
  }
  GT_UNROLL
  for (int o = NC; o < GT_WARP; o <<= 1) {
    GT_UNROLL
    for (int r = 0; r < R; ++r) s[r] += __shfl_xor_sync(GT_FULL_MASK, s[r], o);
  }
}

// gt_att_warp_max returns the maximum of v over the warp to every lane (xor
// shuffles; fmaxf ignores NaN, which the exponentials then propagate).
__device__ __forceinline__ float gt_att_warp_max(float v) {
  for (int o = GT_WARP / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(GT_FULL_MASK, v, o));
  return v;
}

// ---------------------------------------------------------------------------
// Forward.

template <int HSM, int R, int NC>
__device__ __forceinline__ void gt_attention_forward(float* out, float* lse, const float* qkv, int B, int T, int NH,
                                                     int HS, float* sq, float* sk, float* sv, float* sp) {
  typedef GtAtt<HSM, R, NC> K;
  const int lane = gt_lane();
  const int warp = gt_warp_id();
  const int col = lane % NC;     // the key of this lane in a key tile
  const bool owner = lane < NC;  // the lane that publishes its key's values
  const long long C = (long long)NH * HS;
  const long long C3 = 3 * C;
  const float scale = 1.0f / sqrtf((float)HS);
  const long long heads = (long long)B * NH;
  const int tiles = (T + K::ROWS - 1) / K::ROWS;
  const float* myq = sq + warp * R * K::LD;  // the warp's query rows
  float* wp = sp + warp * R * NC;             // the warp's probabilities [R][NC]
  for (long long item = blockIdx.x; item < heads * tiles; item += gridDim.x) {
    const long long bh = item % heads;
    const long long b = bh / NH;
    const int h = (int)(bh % NH);
    const int q0 = (tiles - 1 - (int)(item / heads)) * K::ROWS;  // the longest rows first
    const int qend = min(q0 + K::ROWS, T);                       // past the tile's last query
    const float* base = qkv + b * T * C3 + (long long)h * HS;
    __syncthreads();  // the previous item is done with sq
    gt_att_load<HSM>(sq, base, C3, q0, K::ROWS, T, HS);
    float m[R], l[R], o[R][K::DPL];
    GT_UNROLL
    for (int r = 0; r < R; ++r) {
      m[r] = -INFINITY;
      l[r] = 0.0f;
      GT_UNROLL
      for (int k = 0; k < K::DPL; ++k) o[r][k] = 0.0f;
    }
    for (int k0 = 0; k0 < qend; k0 += NC) {
      __syncthreads();  // sq is loaded; every warp is done with the previous K, V
      gt_att_load<HSM>(sk, base + C, C3, k0, NC, T, HS);
      gt_att_load<HSM>(sv, base + 2 * C, C3, k0, NC, T, HS);
      __syncthreads();
      float s[R];
      gt_att_dots<HSM, R, NC>(s, myq, sk + col * K::LD);
      const int key = k0 + col;
      GT_UNROLL
      for (int r = 0; r < R; ++r) {
        const int tq = q0 + warp * R + r;
        const float x = key <= tq ? s[r] * scale : -INFINITY;
        // Key 0 is in the first tile of every row, so m is finite from
        // then on (for finite inputs) and alpha = exp(-inf) = 0 at first.
        const float mn = fmaxf(m[r], gt_att_warp_max(x));
        const float alpha = expf(m[r] - mn);
        const float p = expf(x - mn);
        l[r] = l[r] * alpha + (owner ? p : 0.0f);
        GT_UNROLL
        for (int k = 0; k < K::DPL; ++k) o[r][k] *= alpha;
        if (owner) wp[col * R + r] = p;
        m[r] = mn;
      }
      __syncwarp();
      for (int j = 0; j < NC; ++j) {
        float v[K::DPL], pj[R];
        gt_att_ldv(v, sv + j * K::LD + lane * K::DPL);
        gt_att_ldr(pj, wp + j * R);
        GT_UNROLL
        for (int r = 0; r < R; ++r) {
          GT_UNROLL
          for (int k = 0; k < K::DPL; ++k) o[r][k] += pj[r] * v[k];
        }
      }
    }
    GT_UNROLL
    for (int r = 0; r < R; ++r) {
      const int tq = q0 + warp * R + r;
      const float L = gt_warp_sum(l[r]);
      if (tq < T) {
        float* orow = out + (b * T + tq) * C + (long long)h * HS;
        const float inv = 1.0f / L;
        GT_UNROLL
        for (int k = 0; k < K::DPL; ++k) {
          const int d = lane * K::DPL + k;
          if (d < HS) orow[d] = o[r][k] * inv;
        }
        if (lane == 0) lse[bh * T + tq] = m[r] + logf(L);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Backward.

extern "C" __global__ void attention_backward_dot_f32(float* D, const float* dout, const float* out, int B, int T,
                                                      int NH, int HS) {
  const long long rows = (long long)B * T * NH;  // row (b*T + t)*NH + h of [B*T*NH, HS]
  const bool vec = (HS & 3) == 0 && gt_aligned16(dout, out);
  const long long ld = HS;
  for (long long r = gt_first_row(); r < rows; r += gt_row_stride()) {
    float a = 0.0f;
    gt_row_visit(HS, vec, [&](int, float g, float o) { a += g * o; }, dout + r * ld, out + r * ld);
    a = gt_warp_sum(a);
    if (gt_lane() == 0) {
      const long long bt = r / NH;
      const long long h = r % NH;
      const long long b = bt / T;
      const long long t = bt % T;
      D[(b * NH + h) * T + t] = a;
    }
  }
}

template <int HSM, int R, int NC>
__device__ __forceinline__ void gt_attention_backward_kv(float* dqkv, const float* dout, const float* qkv,
                                                         const float* lse, const float* D, int B, int T, int NH, int HS,
                                                         float* sk, float* sv, float* sq, float* sdo, float* sl,
                                                         float* sd, float* sp, float* sds) {
  typedef GtAtt<HSM, R, NC> K;
  const int lane = gt_lane();
  const int warp = gt_warp_id();
  const int col = lane % NC;  // the query of this lane in a query tile
  const bool owner = lane < NC;
  const long long C = (long long)NH * HS;
  const long long C3 = 3 * C;
  const float scale = 1.0f / sqrtf((float)HS);
  const long long heads = (long long)B * NH;
  const int tiles = (T + K::ROWS - 1) / K::ROWS;
  const float* myk = sk + warp * R * K::LD;  // the warp's key rows
  const float* myv = sv + warp * R * K::LD;
  float* wp = sp + warp * R * NC;  // the warp's p [R][NC]
  float* wds = sds + warp * R * NC; // and ds
  for (long long item = blockIdx.x; item < heads * tiles; item += gridDim.x) {
    const long long bh = item % heads;
    const long long b = bh / NH;
    const int h = (int)(bh % NH);
    const int k0 = (int)(item / heads) * K::ROWS;  // the first keys have the most queries: first
    const float* base = qkv + b * T * C3 + (long long)h * HS;
    const float* obase = dout + b * T * C + (long long)h * HS;
    const float* lrow = lse + bh * T;
    const float* drow = D + bh * T;
    __syncthreads();  // the previous item is done with sk, sv
    gt_att_load<HSM>(sk, base + C, C3, k0, K::ROWS, T, HS);
    gt_att_load<HSM>(sv, base + 2 * C, C3, k0, K::ROWS, T, HS);
    float dk[R][K::DPL], dv[R][K::DPL];
    GT_UNROLL
    for (int r = 0; r < R; ++r) {
      GT_UNROLL
      for (int k = 0; k < K::DPL; ++k) dk[r][k] = dv[r][k] = 0.0f;
    }
    for (int q0 = k0 / NC * NC; q0 < T; q0 += NC) {
      __syncthreads();  // sk, sv are loaded; every warp is done with the previous Q, dO
      gt_att_load<HSM>(sq, base, C3, q0, NC, T, HS);
      gt_att_load<HSM>(sdo, obase, C, q0, NC, T, HS);
      if (threadIdx.x < NC) {
        const int t = q0 + threadIdx.x;
        sl[threadIdx.x] = t < T ? lrow[t] : 0.0f;
        sd[threadIdx.x] = t < T ? drow[t] : 0.0f;
      }
      __syncthreads();
      float s[R], dp[R];
      gt_att_dots<HSM, R, NC>(s, myk, sq + col * K::LD);
      gt_att_dots<HSM, R, NC>(dp, myv, sdo + col * K::LD);
      const int tq = q0 + col;
      const float lq = sl[col];
      const float dq = sd[col];
      GT_UNROLL
      for (int r = 0; r < R; ++r) {
        const int key = k0 + warp * R + r;
        float p = 0.0f, ds = 0.0f;
        if (tq < T && tq >= key) {
          p = expf(s[r] * scale - lq);
          ds = p * (dp[r] - dq) * scale;
        }
        if (owner) {
          wp[col * R + r] = p;
          wds[col * R + r] = ds;
        }
      }
      __syncwarp();
      for (int j = 0; j < NC; ++j) {
        float g[K::DPL], x[K::DPL], pj[R], dsj[R];
        gt_att_ldv(g, sdo + j * K::LD + lane * K::DPL);
        gt_att_ldv(x, sq + j * K::LD + lane * K::DPL);
        gt_att_ldr(pj, wp + j * R);
        gt_att_ldr(dsj, wds + j * R);
        GT_UNROLL
        for (int r = 0; r < R; ++r) {
          GT_UNROLL
          for (int k = 0; k < K::DPL; ++k) {
            dv[r][k] += pj[r] * g[k];
            dk[r][k] += dsj[r] * x[k];
          }
        }
      }
    }
    GT_UNROLL
    for (int r = 0; r < R; ++r) {
      const int key = k0 + warp * R + r;
      if (key < T) {
        float* row = dqkv + (b * T + key) * C3 + (long long)h * HS;
        GT_UNROLL
        for (int k = 0; k < K::DPL; ++k) {
          const int d = lane * K::DPL + k;
          if (d < HS) {
            row[C + d] += dk[r][k];
            row[2 * C + d] += dv[r][k];
          }
        }
      }
    }
  }
}

template <int HSM, int R, int NC>
__device__ __forceinline__ void gt_attention_backward_q(float* dqkv, const float* dout, const float* qkv,
                                                        const float* lse, const float* D, int B, int T, int NH, int HS,
                                                        float* sq, float* sdo, float* sk, float* sv, float* sds) {
  typedef GtAtt<HSM, R, NC> K;
  const int lane = gt_lane();
  const int warp = gt_warp_id();
  const int col = lane % NC;  // the key of this lane in a key tile
  const bool owner = lane < NC;
  const long long C = (long long)NH * HS;
  const long long C3 = 3 * C;
  const float scale = 1.0f / sqrtf((float)HS);
  const long long heads = (long long)B * NH;
  const int tiles = (T + K::ROWS - 1) / K::ROWS;
  const float* myq = sq + warp * R * K::LD;  // the warp's query rows
  const float* mydo = sdo + warp * R * K::LD;
  float* wds = sds + warp * R * NC;  // the warp's ds [R][NC]
  for (long long item = blockIdx.x; item < heads * tiles; item += gridDim.x) {
    const long long bh = item % heads;
    const long long b = bh / NH;
    const int h = (int)(bh % NH);
    const int q0 = (tiles - 1 - (int)(item / heads)) * K::ROWS;  // the longest rows first
    const int qend = min(q0 + K::ROWS, T);
    const float* base = qkv + b * T * C3 + (long long)h * HS;
    const float* obase = dout + b * T * C + (long long)h * HS;
    __syncthreads();  // the previous item is done with sq, sdo
    gt_att_load<HSM>(sq, base, C3, q0, K::ROWS, T, HS);
    gt_att_load<HSM>(sdo, obase, C, q0, K::ROWS, T, HS);
    float lr[R], dr[R], dq[R][K::DPL];
    GT_UNROLL
    for (int r = 0; r < R; ++r) {
      const int tq = q0 + warp * R + r;
      lr[r] = tq < T ? lse[bh * T + tq] : 0.0f;
      dr[r] = tq < T ? D[bh * T + tq] : 0.0f;
      GT_UNROLL
      for (int k = 0; k < K::DPL; ++k) dq[r][k] = 0.0f;
    }
    for (int k0 = 0; k0 < qend; k0 += NC) {
      __syncthreads();  // sq, sdo are loaded; every warp is done with the previous K, V
      gt_att_load<HSM>(sk, base + C, C3, k0, NC, T, HS);
      gt_att_load<HSM>(sv, base + 2 * C, C3, k0, NC, T, HS);
      __syncthreads();
      float s[R], dp[R];
      gt_att_dots<HSM, R, NC>(s, myq, sk + col * K::LD);
      gt_att_dots<HSM, R, NC>(dp, mydo, sv + col * K::LD);
      const int key = k0 + col;
      GT_UNROLL
      for (int r = 0; r < R; ++r) {
        const int tq = q0 + warp * R + r;
        float ds = 0.0f;
        if (tq < T && key <= tq) {
          const float p = expf(s[r] * scale - lr[r]);
          ds = p * (dp[r] - dr[r]) * scale;
        }
        if (owner) wds[col * R + r] = ds;
      }
      __syncwarp();
      for (int j = 0; j < NC; ++j) {
        float x[K::DPL], dsj[R];
        gt_att_ldv(x, sk + j * K::LD + lane * K::DPL);
        gt_att_ldr(dsj, wds + j * R);
        GT_UNROLL
        for (int r = 0; r < R; ++r) {
          GT_UNROLL
          for (int k = 0; k < K::DPL; ++k) dq[r][k] += dsj[r] * x[k];
        }
      }
    }
    GT_UNROLL
    for (int r = 0; r < R; ++r) {
      const int tq = q0 + warp * R + r;
      if (tq < T) {
        float* row = dqkv + (b * T + tq) * C3 + (long long)h * HS;
        GT_UNROLL
        for (int k = 0; k < K::DPL; ++k) {
          const int d = lane * K::DPL + k;
          if (d < HS) row[d] += dq[r][k];
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Entry points: one per kernel and head-size bound, each owning its static
// shared memory (float4 arrays, so rows are 16-byte aligned).

#define GT_ATT_SMEM_LIMIT (48 * 1024)

#define GT_ATT_FORWARD(NAME, HSM, R, NC)                                                                  \
  extern "C" __global__ void NAME(float* out, float* lse, const float* qkv, int B, int T, int NH, int HS) { \
    typedef GtAtt<HSM, R, NC> K;                                                                         \
    static_assert(16 * (K::ROWS4 + 2 * K::COLS4) + 4 * K::W <= GT_ATT_SMEM_LIMIT, "shared memory");     \
    __shared__ float4 sq[K::ROWS4];                                                                      \
    __shared__ float4 sk[K::COLS4];                                                                      \
    __shared__ float4 sv[K::COLS4];                                                                      \
    __shared__ float4 sp[K::W / 4];                                                                      \
    gt_attention_forward<HSM, R, NC>(out, lse, qkv, B, T, NH, HS, reinterpret_cast<float*>(sq),         \
                                     reinterpret_cast<float*>(sk), reinterpret_cast<float*>(sv),        \
                                     reinterpret_cast<float*>(sp));                                      \
  }

#define GT_ATT_BACKWARD_KV(NAME, HSM, R, NC)                                                             \
  extern "C" __global__ void NAME(float* dqkv, const float* dout, const float* qkv, const float* lse,     \
                                  const float* D, int B, int T, int NH, int HS) {                        \
    typedef GtAtt<HSM, R, NC> K;                                                                         \
    static_assert(16 * (2 * K::ROWS4 + 2 * K::COLS4) + 4 * (2 * NC + 2 * K::W) <= GT_ATT_SMEM_LIMIT,    \
                  "shared memory");                                                                      \
    __shared__ float4 sk[K::ROWS4];                                                                      \
    __shared__ float4 sv[K::ROWS4];                                                                      \
    __shared__ float4 sq[K::COLS4];                                                                      \
    __shared__ float4 sdo[K::COLS4];                                                                     \
    __shared__ float sl[NC];                                                                             \
    __shared__ float sd[NC];                                                                             \
    __shared__ float4 sp[K::W / 4];                                                                      \
    __shared__ float4 sds[K::W / 4];                                                                     \
    gt_attention_backward_kv<HSM, R, NC>(dqkv, dout, qkv, lse, D, B, T, NH, HS,                          \
                                         reinterpret_cast<float*>(sk), reinterpret_cast<float*>(sv),     \
                                         reinterpret_cast<float*>(sq), reinterpret_cast<float*>(sdo),    \
                                         sl, sd, reinterpret_cast<float*>(sp),                           \
                                         reinterpret_cast<float*>(sds));                                 \
  }

#define GT_ATT_BACKWARD_Q(NAME, HSM, R, NC)                                                              \
  extern "C" __global__ void NAME(float* dqkv, const float* dout, const float* qkv, const float* lse,     \
                                  const float* D, int B, int T, int NH, int HS) {                        \
    typedef GtAtt<HSM, R, NC> K;                                                                         \
    static_assert(16 * (2 * K::ROWS4 + 2 * K::COLS4) + 4 * K::W <= GT_ATT_SMEM_LIMIT, "shared memory"); \
    __shared__ float4 sq[K::ROWS4];                                                                      \
    __shared__ float4 sdo[K::ROWS4];                                                                     \
    __shared__ float4 sk[K::COLS4];                                                                      \
    __shared__ float4 sv[K::COLS4];                                                                      \
    __shared__ float4 sds[K::W / 4];                                                                     \
    gt_attention_backward_q<HSM, R, NC>(dqkv, dout, qkv, lse, D, B, T, NH, HS,                           \
                                        reinterpret_cast<float*>(sq), reinterpret_cast<float*>(sdo),     \
                                        reinterpret_cast<float*>(sk), reinterpret_cast<float*>(sv),      \
                                        reinterpret_cast<float*>(sds));                                  \
  }

// Name, HS bound, rows per warp, columns per step. ROWS = 4 * R must match
// attentionVariants in device/transformer.go.
GT_ATT_FORWARD(attention_forward_hs32_f32, 32, 8, 32)
GT_ATT_FORWARD(attention_forward_hs64_f32, 64, 8, 32)
GT_ATT_FORWARD(attention_forward_hs128_f32, 128, 8, 16)
GT_ATT_BACKWARD_KV(attention_backward_kv_hs32_f32, 32, 8, 32)
GT_ATT_BACKWARD_KV(attention_backward_kv_hs64_f32, 64, 8, 32)
GT_ATT_BACKWARD_KV(attention_backward_kv_hs128_f32, 128, 4, 16)
GT_ATT_BACKWARD_Q(attention_backward_q_hs32_f32, 32, 8, 32)
GT_ATT_BACKWARD_Q(attention_backward_q_hs64_f32, 64, 8, 32)
GT_ATT_BACKWARD_Q(attention_backward_q_hs128_f32, 128, 4, 16)
