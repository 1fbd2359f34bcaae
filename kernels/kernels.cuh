// kernels.cuh: the C interface of gotrain's CUDA kernels, one prototype per
// kernel, shared by the .cu files (which define them), the CUDA-on-CPU
// emulator (which registers them by name from GOTRAIN_KERNELS) and package
// device (which launches them by name with cuLaunchKernel's argument
// packing: an array of pointers to each argument's value, in order).
//
// The reference semantics of each kernel are the doc comments of the Go
// contract in package kernels; names are the contract's method names in
// snake_case with a dtype suffix. GEMMs are not here: cuBLAS does them.
//
// Launch conventions (package device computes these; each .cu file repeats
// what it assumes, and a kernel never reads or writes out of bounds for any
// grid, so only the block shape is a hard constraint):
//
//   ELEMENTWISE  blockDim = (256,1,1), any gridDim.x; grid-stride loops over
//                n, with 16-byte float4 loads/stores on the aligned bulk and a
//                scalar tail.
//   ROWS         blockDim = (256,1,1): one warp per row, 8 rows per block,
//                gridDim.x = ceil(rows/8) (grid-stride over rows).
//   COLUMNS      blockDim = (256,1,1): one thread per column, gridDim.x =
//                ceil(cols/256); each thread loops over the rows (coalesced
//                across the warp), so sums are deterministic.
//   REDUCE       two kernels, no atomics: reduce_partials_f32 with
//                blockDim = (256,1,1) and gridDim.x = G <= 1024 writes one
//                partial per block (warp shuffles, then shared memory across
//                warps), then reduce_finish_f32 with blockDim = (1024,1,1),
//                gridDim = (1,1,1) sums the G partials in a fixed order.
//   SCALAR-IN    backward kernels of scalar ops read dy[0] from device
//                memory; ELEMENTWISE shape.
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

// Reduction modes of reduce_partials_f32.
#define GT_REDUCE_SUM 0     // x[i]
#define GT_REDUCE_SUMSQ 1   // x[i]^2
#define GT_REDUCE_ABS 2     // |x[i]|
#define GT_REDUCE_SQDIFF 3  // (x[i] - t[i])^2

// Every kernel, for X-macro registration: X(name).
#define GOTRAIN_KERNELS(X)                                                       \
  X(fill_f32) X(copy_f32) X(axpy_f32)                                            \
  X(bias_add_f32) X(bias_add_backward_f32)                                       \
  X(add_f32) X(add_backward_f32) X(mul_f32) X(mul_backward_f32)                  \
  X(scale_f32) X(scale_backward_f32)                                             \
  X(relu_forward_f32) X(relu_backward_f32) X(gelu_forward_f32)                   \
  X(gelu_backward_f32) X(tanh_forward_f32) X(tanh_backward_f32)                  \
  X(sigmoid_forward_f32) X(sigmoid_backward_f32)                                 \
  X(softmax_forward_f32) X(softmax_backward_f32)                                 \
  X(cross_entropy_forward_f32) X(cross_entropy_backward_f32)                     \
  X(mse_backward_f32) X(scalar_backward_f32) X(argmax_f32)                       \
  X(dropout_forward_f32) X(dropout_backward_f32)                                 \
  X(l1_backward_f32) X(l2_backward_f32) X(clip_by_global_norm_f32)               \
  X(sgd_update_f32) X(adam_update_f32)                                           \
  X(reduce_partials_f32) X(reduce_finish_f32)                                    \
  GOTRAIN_TRANSFORMER_KERNELS(X)

// The transformer kernels (kernels.Transformer), listed apart so that
// package device can load them as a group: X(name).
#define GOTRAIN_TRANSFORMER_KERNELS(X)                                           \
  X(embedding_forward_f32) X(embedding_backward_wte_f32)                         \
  X(embedding_backward_wpe_f32)                                                  \
  X(layernorm_forward_f32) X(layernorm_backward_f32)                             \
  X(layernorm_backward_partials_f32) X(layernorm_backward_finish_f32)            \
  X(attention_forward_hs32_f32) X(attention_forward_hs64_f32)                    \
  X(attention_forward_hs128_f32) X(attention_backward_dot_f32)                   \
  X(attention_backward_kv_hs32_f32) X(attention_backward_kv_hs64_f32)            \
  X(attention_backward_kv_hs128_f32) X(attention_backward_q_hs32_f32)            \
  X(attention_backward_q_hs64_f32) X(attention_backward_q_hs128_f32)             \
  X(classifier_forward_backward_f32)

// memory.cu (ELEMENTWISE)
__global__ void fill_f32(float* x, float v, int n);
__global__ void copy_f32(float* dst, const float* src, int n);
__global__ void axpy_f32(float* y, float alpha, const float* x, int n);

// bias.cu: y[r,c] = x[r,c] + bias[c] (ELEMENTWISE over rows*cols);
// dbias[c] += sum_r dy[r,c] (COLUMNS).
__global__ void bias_add_f32(float* y, const float* x, const float* bias, int rows, int cols);
__global__ void bias_add_backward_f32(float* dbias, const float* dy, int rows, int cols);

// elementwise.cu (ELEMENTWISE). A null gradient pointer is skipped.
__global__ void add_f32(float* y, const float* a, const float* b, int n);
__global__ void add_backward_f32(float* da, float* db, const float* dy, int n);
__global__ void mul_f32(float* y, const float* a, const float* b, int n);
__global__ void mul_backward_f32(float* da, float* db, const float* dy, const float* a, const float* b, int n);
__global__ void scale_f32(float* y, const float* x, float alpha, int n);
__global__ void scale_backward_f32(float* dx, const float* dy, float alpha, int n);

// activation.cu (ELEMENTWISE). tanh and sigmoid backward take the output y.
__global__ void relu_forward_f32(float* y, const float* x, int n);
__global__ void relu_backward_f32(float* dx, const float* dy, const float* x, int n);
__global__ void gelu_forward_f32(float* y, const float* x, int n);
__global__ void gelu_backward_f32(float* dx, const float* dy, const float* x, int n);
__global__ void tanh_forward_f32(float* y, const float* x, int n);
__global__ void tanh_backward_f32(float* dx, const float* dy, const float* y, int n);
__global__ void sigmoid_forward_f32(float* y, const float* x, int n);
__global__ void sigmoid_backward_f32(float* dx, const float* dy, const float* y, int n);

// softmax.cu (ROWS)
__global__ void softmax_forward_f32(float* y, const float* x, int rows, int cols);
__global__ void softmax_backward_f32(float* dx, const float* dy, const float* y, int rows, int cols);

// loss.cu. cross_entropy_* are ROWS; a label outside [0, cols) gives a NaN
// loss (forward) and matches no column (backward). mse_backward_f32 is
// SCALAR-IN: dpred[i] += dloss[0] * 2 * (pred[i] - target[i]) / n.
// The forwards of MSE, sum, mean, L1, L2 and SumSquares are REDUCE.
__global__ void cross_entropy_forward_f32(float* losses, float* probs, const float* logits, const int* labels, int rows, int cols);
__global__ void cross_entropy_backward_f32(float* dlogits, const float* dlosses, const float* probs, const int* labels, int rows, int cols);
__global__ void mse_backward_f32(float* dpred, const float* dloss, const float* pred, const float* target, int n);

// reduce.cu. REDUCE: partials[blockIdx.x] = sum over the block's grid-stride
// share of mode(x[i], t[i]) (t is read only by GT_REDUCE_SQDIFF);
// out[0] = (accumulate ? out[0] : 0) + scale * sum_{i<count} partials[i].
// scalar_backward_f32 (SCALAR-IN): dx[i] += dy[0] * scale (sum: 1, mean: 1/n).
// argmax_f32 (ROWS): out[r] = first index of the row maximum.
__global__ void reduce_partials_f32(float* partials, const float* x, const float* t, int n, int mode);
__global__ void reduce_finish_f32(float* out, const float* partials, int count, float scale, int accumulate);
__global__ void scalar_backward_f32(float* dx, const float* dy, float scale, int n);
__global__ void argmax_f32(int* out, const float* x, int rows, int cols);

// dropout.cu (ELEMENTWISE). The keep test is kernels.DropoutUniform(seed, i)
// >= p, the same SplitMix64 hash in 64-bit integer arithmetic.
__global__ void dropout_forward_f32(float* y, float* mask, const float* x, float p, unsigned long long seed, int n);
__global__ void dropout_backward_f32(float* dx, const float* dy, const float* mask, int n);

// regularize.cu (SCALAR-IN, ELEMENTWISE).
// l1: dw[i] += dout[0] * lambda * sign(w[i]);  l2: dw[i] += dout[0] * lambda * w[i].
// clip: s = maxnorm / (sqrt(sumsq[0]) + 1e-6); if s < 1, x[i] *= s.
__global__ void l1_backward_f32(float* dw, const float* dout, const float* w, float lambda, int n);
__global__ void l2_backward_f32(float* dw, const float* dout, const float* w, float lambda, int n);
__global__ void clip_by_global_norm_f32(float* x, const float* sumsq, float maxnorm, int n);

// optim.cu (ELEMENTWISE), PyTorch semantics as the contract. vel may be null
// when momentum is 0. bc1 = 1 - beta1^step and bc2 = 1 - beta2^step are
// computed on the host in float64 and rounded; decoupled != 0 is AdamW.
__global__ void sgd_update_f32(float* param, const float* grad, float* vel, float lr, float momentum, float weight_decay, int nesterov, int n);
__global__ void adam_update_f32(float* param, const float* grad, float* m, float* v, float lr, float beta1, float beta2, float eps, float weight_decay, float bc1, float bc2, int decoupled, int n);

// embedding.cu. embedding_forward_f32 (ROWS over BT = B*T rows of C):
// out[r,:] = wte[tokens[r],:] + wpe[r % T,:], NaN for a token outside
// [0, V). embedding_backward_wte_f32 (blockDim = (128,1,1), any gridDim.x):
// dwte[tok,:] += dout[r,:] for r in increasing order, by one lane per
// (token, channel), no atomics. embedding_backward_wpe_f32 (ELEMENTWISE over
// T*C): dwpe[t,c] += sum_b dout[b,t,c], b in increasing order.
__global__ void embedding_forward_f32(float* out, const int* tokens, const float* wte, const float* wpe, int BT, int T, int C, int V);
__global__ void embedding_backward_wte_f32(float* dwte, const float* dout, const int* tokens, int BT, int C, int V);
__global__ void embedding_backward_wpe_f32(float* dwpe, const float* dout, int B, int T, int C);

// layernorm.cu. layernorm_forward_f32 and layernorm_backward_f32 (dx only)
// are ROWS over rows of C. The parameter gradients:
// layernorm_backward_partials_f32 (blockDim = (256,1,1), any gridDim.x)
// writes partials[0][g][c] = sum of norm*dout and partials[1][g][c] = sum
// of dout over the rows of group g (groups of ceil(rows/groups) rows, in
// order); layernorm_backward_finish_f32 (COLUMNS) adds sum_g, g in order, to
// dweight and dbias (either may be null).
__global__ void layernorm_forward_f32(float* out, float* mean, float* rstd, const float* x, const float* weight, const float* bias, int rows, int C, float eps);
__global__ void layernorm_backward_f32(float* dx, const float* dout, const float* x, const float* weight, const float* mean, const float* rstd, int rows, int C);
__global__ void layernorm_backward_partials_f32(float* partials, const float* dout, const float* x, const float* mean, const float* rstd, int rows, int C, int groups);
__global__ void layernorm_backward_finish_f32(float* dweight, float* dbias, const float* partials, int groups, int C);

// attention.cu: causal self-attention, FlashAttention style, blockDim =
// (128,1,1), any gridDim.x. The _hsN variants take head sizes HS <= N
// (N = 32, 64, 128). attention_backward_dot_f32 (ROWS over B*T*NH rows of
// HS) writes D[(b*NH+h)*T+t] = dout . out of that head; the kv kernels add
// dK and dV (one block per key tile, looping over query tiles), the q
// kernels add dQ (one block per query tile, looping over key tiles).
__global__ void attention_forward_hs32_f32(float* out, float* lse, const float* qkv, int B, int T, int NH, int HS);
__global__ void attention_forward_hs64_f32(float* out, float* lse, const float* qkv, int B, int T, int NH, int HS);
__global__ void attention_forward_hs128_f32(float* out, float* lse, const float* qkv, int B, int T, int NH, int HS);
__global__ void attention_backward_dot_f32(float* D, const float* dout, const float* out, int B, int T, int NH, int HS);
__global__ void attention_backward_kv_hs32_f32(float* dqkv, const float* dout, const float* qkv, const float* lse, const float* D, int B, int T, int NH, int HS);
__global__ void attention_backward_kv_hs64_f32(float* dqkv, const float* dout, const float* qkv, const float* lse, const float* D, int B, int T, int NH, int HS);
__global__ void attention_backward_kv_hs128_f32(float* dqkv, const float* dout, const float* qkv, const float* lse, const float* D, int B, int T, int NH, int HS);
__global__ void attention_backward_q_hs32_f32(float* dqkv, const float* dout, const float* qkv, const float* lse, const float* D, int B, int T, int NH, int HS);
__global__ void attention_backward_q_hs64_f32(float* dqkv, const float* dout, const float* qkv, const float* lse, const float* D, int B, int T, int NH, int HS);
__global__ void attention_backward_q_hs128_f32(float* dqkv, const float* dout, const float* qkv, const float* lse, const float* D, int B, int T, int NH, int HS);

// classifier.cu (ROWS over rows of V): losses[r] = logsumexp - logit of the
// label (NaN for a label outside [0, V)); the row of logits is overwritten
// by scale * (softmax - onehot).
__global__ void classifier_forward_backward_f32(float* losses, float* logits, const int* labels, float scale, int rows, int V);

#ifdef __cplusplus
}
#endif
