// emu_selftest.cu: kernels that test the CUDA-on-CPU emulator itself
// (device/driver_emu_test.go). They are compiled only into the cudaemu
// build, by device/emu.cpp, and registered from GTEMU_SELFTEST_KERNELS.
// Each states the launch shape the test uses.

#define GTEMU_SELFTEST_KERNELS(X)                                                         \
  X(emu_block_sum) X(emu_scan) X(emu_shuffle) X(emu_partial_exit) X(emu_deadlock)       \
  X(emu_atomics) X(emu_coords) X(emu_axpy) X(emu_sync_count)

// emu_block_sum: out[blockIdx.x] = sum of the block's grid-stride share of
// x[0:n]: per-thread sums, a __shfl_xor_sync butterfly in each warp, warp
// totals through shared memory, then warp 0 alone reduces them with
// __shfl_down_sync. Any blockDim.x that is a multiple of 32.
__global__ void emu_block_sum(float* out, const float* x, int n) {
  __shared__ float warp_sums[32];
  float v = 0.0f;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) v += x[i];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < (int)(blockDim.x / 32) ? warp_sums[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    if (lane == 0) out[blockIdx.x] = v;
  }
}

// emu_scan: out[blockIdx.x*blockDim.x + t] = sum_{s<=t} in[...+s], a
// Hillis-Steele inclusive scan over shared memory with a barrier between
// every read and write: wrong as soon as __syncthreads lets one thread run
// ahead. blockDim.x <= 1024, one element per thread.
__global__ void emu_scan(int* out, const int* in) {
  __shared__ int buf[2][1024];
  const int t = threadIdx.x, base = blockIdx.x * blockDim.x;
  int cur = 0;
  buf[cur][t] = in[base + t];
  __syncthreads();
  for (int d = 1; d < (int)blockDim.x; d <<= 1) {
    const int v = buf[cur][t] + (t >= d ? buf[cur][t - d] : 0);
    buf[1 - cur][t] = v;
    cur = 1 - cur;
    __syncthreads();
  }
  out[base + t] = buf[cur][t];
}

// emu_shuffle: each thread's value is v = 1000*blockIdx.x + global thread
// index; out[gid] is, by mode: 0 __shfl_sync(v, arg, width), 1
// __shfl_up_sync(v, arg, width), 2 __shfl_down_sync, 3 __shfl_xor_sync, 4
// __ballot_sync(lane % arg == 0), 5 __any_sync(lane == arg), 6
// __all_sync(lane < arg), 7 the float shuffle __shfl_sync((float)v + 0.5f,
// arg) bit-cast to int. 2-D blocks are fine: lanes follow the linear index.
__global__ void emu_shuffle(int* out, int mode, int arg, int width) {
  const int t = threadIdx.x + threadIdx.y * blockDim.x;
  const int gid = blockIdx.x * blockDim.x * blockDim.y + t;
  const int lane = t % 32;
  const int v = 1000 * (int)blockIdx.x + gid;
  int r = 0;
  switch (mode) {
    case 0:
      r = __shfl_sync(0xffffffffu, v, arg, width);
      break;
    case 1:
      r = __shfl_up_sync(0xffffffffu, v, arg, width);
      break;
    case 2:
      r = __shfl_down_sync(0xffffffffu, v, arg, width);
      break;
    case 3:
      r = __shfl_xor_sync(0xffffffffu, v, arg, width);
      break;
    case 4:
      r = (int)__ballot_sync(0xffffffffu, lane % arg == 0);
      break;
    case 5:
      r = __any_sync(0xffffffffu, lane == arg);
      break;
    case 6:
      r = __all_sync(0xffffffffu, lane < arg);
      break;
    case 7:
      r = __float_as_int(__shfl_sync(0xffffffffu, (float)v + 0.5f, arg));
      break;
  }
  out[gid] = r;
}

// emu_partial_exit: threads t >= n return at once (blockDim.x need not be a
// multiple of 32). The others then: out[t] = __ballot_sync(full mask, 1),
// the lanes still running; all[t] = __all_sync(full mask, 1) (true: the
// exited lanes do not vote); far[t] = __shfl_sync of t from lane 31, which
// is t itself when lane 31 has exited; a __shfl_xor_sync(__activemask())
// butterfly sum of t over the live lanes of the warp into sums[t]; and,
// across a barrier, rev[t] = the value thread n-1-t put in shared memory.
__global__ void emu_partial_exit(int* out, int* all, int* far, int* sums, int* rev, int n) {
  __shared__ int s[1024];
  const int t = threadIdx.x;
  if (t >= n) return;
  out[t] = (int)__ballot_sync(0xffffffffu, 1);
  all[t] = __all_sync(0xffffffffu, 1);
  far[t] = __shfl_sync(0xffffffffu, t, 31);
  const unsigned live = __activemask();
  int v = t;
  for (int o = 16; o > 0; o >>= 1) {
    const int w = __shfl_xor_sync(live, v, o);
    if ((live >> ((t % 32) ^ o)) & 1u) v += w;  // only partners that exist
  }
  sums[t] = v;
  s[t] = 7 * t;
  __syncthreads();
  rev[t] = s[n - 1 - t];
}

// emu_deadlock: barriers that cannot complete. mode 0: thread 0 waits at
// __syncthreads while the rest of its warp waits at __syncwarp. mode 1:
// every lane but 5 shuffles with the full mask while lane 5 waits at
// __syncthreads. mode 2: no deadlock (only some threads reach a barrier,
// the others exit), so the launch must succeed and set out[0] = 1.
__global__ void emu_deadlock(int* out, int mode) {
  const int t = threadIdx.x;
  if (mode == 0) {
    if (t == 0) {
      __syncthreads();
    } else {
      __syncwarp();
    }
  } else if (mode == 1) {
    if (t % 32 != 5) {
      out[1 + t] = __shfl_sync(0xffffffffu, t, 0);
    } else {
      __syncthreads();
    }
  } else {
    if (t < 10) {
      __syncthreads();
      if (t == 0) out[0] = 1;
    }
  }
}

// emu_atomics: every thread of the grid adds 1 to isum[0] and 0.5f to
// fsum[0], reps times, and thread 0 of each block atomicMax(imax,
// blockIdx.x).
__global__ void emu_atomics(int* isum, float* fsum, int* imax, int reps) {
  for (int r = 0; r < reps; r++) {
    atomicAdd(isum, 1);
    atomicAdd(fsum, 0.5f);
  }
  if (threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0) atomicMax(imax, (int)blockIdx.x);
}

// emu_coords: for 3-D grids and blocks, out[6*g .. 6*g+5] = threadIdx.xyz,
// blockIdx.xyz, where g is the global linear thread index (x fastest,
// threads before blocks); dims[0..5] = blockDim.xyz, gridDim.xyz.
__global__ void emu_coords(int* out, int* dims) {
  const int tpb = blockDim.x * blockDim.y * blockDim.z;
  const int b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  int* o = out + 6 * (b * tpb + t);
  o[0] = threadIdx.x;
  o[1] = threadIdx.y;
  o[2] = threadIdx.z;
  o[3] = blockIdx.x;
  o[4] = blockIdx.y;
  o[5] = blockIdx.z;
  if (b == 0 && t == 0) {
    dims[0] = blockDim.x;
    dims[1] = blockDim.y;
    dims[2] = blockDim.z;
    dims[3] = gridDim.x;
    dims[4] = gridDim.y;
    dims[5] = gridDim.z;
  }
}

// emu_axpy: y[i] += a*x[i], one element per thread, no barriers (the
// launch-overhead benchmark).
__global__ void emu_axpy(float* y, float a, const float* x, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] += a * x[i];
}

// emu_sync_count: out[0..2] = __syncthreads_count, _and, _or of
// (threadIdx.x % k == 0), written by thread 0.
__global__ void emu_sync_count(int* out, int k) {
  const int p = threadIdx.x % k == 0;
  const int c = __syncthreads_count(p);
  const int a = __syncthreads_and(p);
  const int o = __syncthreads_or(p);
  if (threadIdx.x == 0) {
    out[0] = c;
    out[1] = a;
    out[2] = o;
  }
}
