//go:build cudaemu && !cuda

// emu.cpp: the runtime of the CUDA-on-CPU emulator (build tag cudaemu).
//
// It compiles gotrain's kernels (kernels/*.cu) with kernels/emu/cuda_emu.h,
// whose opening comment explains the execution model, and provides:
//
//   - fibers: each CUDA thread of a block runs on its own small stack
//     (64 KiB, GTEMU_STACK_KIB) with a hand-written x86-64 context switch
//     (ucontext elsewhere, or with -DGTEMU_UCONTEXT). Stacks are kept per
//     OS thread and reused; a thread that runs to the end without waiting
//     hands its stack to the next, so a kernel without barriers touches one
//     stack and switches context twice per block.
//   - the block scheduler: a barrier releases its waiters when the last
//     live participant arrives (or exits) by queueing them; a fiber that
//     parks switches straight to the next queued fiber, else starts the
//     next thread; when nothing can run while threads remain, that is a
//     deadlock, reported as an error.
//   - a pool of OS threads (GTEMU_THREADS, default min(hardware threads, 8))
//     that take blocks one at a time; the calling thread is one of them.
//   - the kernel table: name -> a launcher that unpacks cuLaunchKernel-style
//     arguments (an array of pointers to each value) into the kernel's
//     typed parameters, built from GOTRAIN_KERNELS in kernels.cuh.
//   - a reference strided-batched SGEMM with cuBLAS's semantics.
//
// Launches are synchronous and one at a time (a mutex): the Go driver is
// a stream, and every call has finished when it returns.

#include "emu.h"

#include "../kernels/emu/cuda_emu.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#if !defined(__x86_64__) || defined(GTEMU_UCONTEXT)
#define GTEMU_USE_UCONTEXT 1
#include <ucontext.h>
#endif

namespace gtemu {

__thread const Thread* cur_thread = nullptr;
__thread uint3 cur_block_idx;
__thread uint3 cur_block_dim;
__thread uint3 cur_grid_dim;

// errorf formats a message into a std::string.
static std::string errorf(const char* format, ...) __attribute__((format(printf, 1, 2)));
static std::string errorf(const char* format, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, format);
  vsnprintf(buf, sizeof buf, format, ap);
  va_end(ap);
  return buf;
}

static void set_error(char* err, int errlen, const std::string& msg) {
  if (err != nullptr && errlen > 0) snprintf(err, (size_t)errlen, "%s", msg.c_str());
}

static long env_long(const char* name, long def, long lo, long hi) {
  const char* s = getenv(name);
  if (s == nullptr || *s == 0) return def;
  char* end;
  const long v = strtol(s, &end, 10);
  if (*end != 0 || v < lo || v > hi) return def;
  return v;
}

// ---------------------------------------------------------------------------
// Context switching.

#if GTEMU_USE_UCONTEXT
struct Context {
  ucontext_t uc;
};
static void context_init(Context* c, char* stack, size_t size, void (*entry)()) {
  getcontext(&c->uc);
  c->uc.uc_stack.ss_sp = stack;
  c->uc.uc_stack.ss_size = size;
  c->uc.uc_link = nullptr;
  makecontext(&c->uc, entry, 0);
}
static void context_switch(Context* from, Context* to) { swapcontext(&from->uc, &to->uc); }
#else
struct Context {
  void* sp;  // the stack pointer, with the callee-saved registers pushed
};
extern "C" void gtemu_swap(void** save_sp, void* sp);
extern "C" void gtemu_fiber_start();
// gtemu_swap pushes the System V callee-saved registers, saves the stack
// pointer, switches to the other and pops its registers. (MXCSR and the
// x87 control word are callee-saved too, but no kernel changes them.)
// gtemu_fiber_start is where a new fiber's first switch returns to: it
// calls the entry function left in r12, which never returns.
asm(R"(
  .text
  .globl gtemu_swap
  .hidden gtemu_swap
  .type gtemu_swap, @function
gtemu_swap:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size gtemu_swap, .-gtemu_swap

  .globl gtemu_fiber_start
  .hidden gtemu_fiber_start
  .type gtemu_fiber_start, @function
gtemu_fiber_start:
  callq *%r12
  ud2
  .size gtemu_fiber_start, .-gtemu_fiber_start
)");
static void context_init(Context* c, char* stack, size_t size, void (*entry)()) {
  // The frame gtemu_swap pops: r15 r14 r13 r12 rbx rbp, then the return
  // address. After the ret, rsp = top (16-byte aligned), so the call in
  // gtemu_fiber_start enters entry with the ABI's alignment.
  const uintptr_t top = (reinterpret_cast<uintptr_t>(stack) + size) & ~uintptr_t(15);
  void** sp = reinterpret_cast<void**>(top - 7 * sizeof(void*));
  for (int i = 0; i < 6; i++) sp[i] = nullptr;  // rbp = 0 ends the frame chain
  sp[3] = reinterpret_cast<void*>(entry);       // r12
  sp[6] = reinterpret_cast<void*>(gtemu_fiber_start);
  c->sp = sp;
}
static void context_switch(Context* from, Context* to) { gtemu_swap(&from->sp, to->sp); }
#endif

// ---------------------------------------------------------------------------
// Fibers and the block scheduler.
//
// There is no scheduler loop as such: a fiber that parks at a barrier
// switches straight to the next fiber that can run (one released by a
// barrier first, in the order released, else the next thread not yet
// started, on a fresh stack), and a fiber that finishes starts the next
// unstarted thread in place, on its own stack, without any switch. The
// scheduler context (run_block) only starts the first thread and gets
// control back when no fiber can run: either all have finished, or the
// rest wait at barriers that can never complete (a deadlock).

enum State : uint8_t { kNew, kRunnable, kRunning, kWaitBlock, kWaitWarp, kDone };

struct Fiber {
  Thread t;
  State state;
  char* stack;  // its stack (lowest usable address), nullptr until it starts
  Context ctx;
  // The pending warp collective and its outcome.
  unsigned wmask;
  int wsrc;
  int wpred;
  uint64_t win;
  WarpResult wres;
  int bres;  // __syncthreads_count's result
};

// Kernel is an entry of the kernel table.
struct Kernel {
  const char* name;
  int arity;                       // number of parameters
  void (*invoke)(void* const* a);  // calls the kernel with *a[0], *a[1], ...
};

// Worker is an OS thread's block runner: the fibers of its current block
// and its stacks.
struct Worker {
  std::vector<Fiber> fibers;
  uint3 layout = {0, 0, 0};   // the block shape fibers[i].t was computed for
  std::vector<int> ready;     // ring of released fibers, capacity n
  int ready_head = 0, ready_len = 0;
  int next_new = 0;           // the next thread to start
  std::vector<char*> free_stacks;  // LIFO
  std::vector<char*> all_stacks;
  char* zombie = nullptr;  // the stack of a fiber that has just finished, to reclaim
  size_t stack_size = 0;
  size_t guard = 0;
  Context sched;  // run_block's context
  Fiber* cur = nullptr;
  const Kernel* kernel = nullptr;
  void* const* args = nullptr;
  int n = 0;         // threads in the block
  int live = 0;      // threads that have not finished
  int arrived = 0;   // threads waiting at __syncthreads
  int count = 0;     // of those, how many passed a non-zero pred
  bool no_stack = false;  // a stack could not be mapped
  unsigned warp_live[32];
  unsigned warp_waiting[32];

  ~Worker() {
    for (char* s : all_stacks) munmap(s - guard, stack_size + guard);
  }

  // take_stack returns a stack, mapping a new one (with a guard page
  // below it, so an overflow faults instead of corrupting) when none is free.
  char* take_stack() {
    if (!free_stacks.empty()) {
      char* s = free_stacks.back();
      free_stacks.pop_back();
      return s;
    }
    if (stack_size == 0) {
      guard = (size_t)sysconf(_SC_PAGESIZE);
      stack_size = (size_t)env_long("GTEMU_STACK_KIB", 64, 16, 1 << 20) << 10;
      stack_size = (stack_size + guard - 1) / guard * guard;
    }
    void* m = mmap(nullptr, stack_size + guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    mprotect(m, guard, PROT_NONE);
    char* s = static_cast<char*>(m) + guard;
    all_stacks.push_back(s);
    return s;
  }

  void reap() {
    if (zombie != nullptr) free_stacks.push_back(zombie);
    zombie = nullptr;
  }

  void make_ready(Fiber& f) {
    f.state = kRunnable;
    ready[(ready_head + ready_len++) % n] = (int)f.t.linear;
  }

  Fiber* pop_ready() {
    if (ready_len == 0) return nullptr;
    Fiber* f = &fibers[ready[ready_head]];
    ready_head = (ready_head + 1) % n;
    ready_len--;
    return f;
  }

  void set_running(Fiber& f) {
    f.state = kRunning;
    cur = &f;
    cur_thread = &f.t;
  }
};

static __thread Worker* tl_worker = nullptr;
static thread_local std::unique_ptr<Worker> tl_worker_owner;  // frees the stacks at thread exit

static Worker& worker() {
  if (tl_worker == nullptr) {
    tl_worker_owner.reset(new Worker);
    tl_worker = tl_worker_owner.get();
  }
  return *tl_worker;
}

static void fiber_main();

// switch_away saves the running context in *save and runs the next fiber
// that can: a released one, else a new thread on a fresh stack, else the
// scheduler. It returns when *save is resumed.
static void switch_away(Worker& w, Context* save) {
  Fiber* g = w.pop_ready();
  if (g == nullptr && w.next_new < w.n && !w.no_stack) {
    Fiber& f = w.fibers[w.next_new];
    if ((f.stack = w.take_stack()) != nullptr) {
      w.next_new++;
      // Stagger the stack tops by 64 bytes per thread: at the same
      // offset in every page, the fibers' frames would all compete for
      // the same few L1 cache sets.
      context_init(&f.ctx, f.stack, w.stack_size - 64 * (f.t.linear % 64), fiber_main);
      g = &f;
    } else {
      w.no_stack = true;  // run_block reports it
    }
  }
  if (g != nullptr) {
    w.set_running(*g);
    context_switch(save, &g->ctx);
  } else if (save != &w.sched) {
    context_switch(save, &w.sched);
  }
  w.reap();
}

// release_block lets every thread waiting at __syncthreads go on.
static void release_block(Worker& w) {
  for (int i = 0; i < w.n; i++) {
    Fiber& f = w.fibers[i];
    if (f.state == kWaitBlock) {
      f.bres = w.count;
      if (&f == w.cur) {
        f.state = kRunning;
      } else {
        w.make_ready(f);
      }
    }
  }
  w.arrived = 0;
  w.count = 0;
}

// try_complete finishes the warp collective of warp wi with mask if every
// live lane of mask waits in it with that mask: it computes each
// participant's result and releases them.
static bool try_complete(Worker& w, unsigned wi, unsigned mask) {
  const unsigned need = mask & w.warp_live[wi];
  if ((w.warp_waiting[wi] & need) != need) return false;
  Fiber* lanes = &w.fibers[wi * 32];
  unsigned ballot = 0;
  for (unsigned m = need; m != 0; m &= m - 1) {
    const Fiber& f = lanes[__builtin_ctz(m)];
    if (f.wmask != mask) return false;
    if (f.wpred) ballot |= 1u << __builtin_ctz(m);
  }
  for (unsigned m = need; m != 0; m &= m - 1) {
    Fiber& f = lanes[__builtin_ctz(m)];
    const int s = f.wsrc;
    const bool ok = s >= 0 && s < 32 && ((need >> s) & 1u);
    f.wres.value = ok ? lanes[s].win : f.win;
    f.wres.ballot = ballot;
    f.wres.members = need;
    if (&f == w.cur) {
      f.state = kRunning;
    } else {
      w.make_ready(f);
    }
  }
  w.warp_waiting[wi] &= ~need;
  return true;
}

// park suspends the running fiber until a barrier releases it.
static void park(Worker& w, Fiber& f) {
  switch_away(w, &f.ctx);
  // Whoever resumed us has made us the running fiber.
}

int sync_block(int pred) {
  Worker& w = *tl_worker;
  Fiber& f = *w.cur;
  w.arrived++;
  w.count += pred;
  f.state = kWaitBlock;
  if (w.arrived == w.live) {
    release_block(w);
  } else {
    park(w, f);
  }
  return f.bres;
}

WarpResult warp_collective(unsigned mask, uint64_t value, int src, int pred) {
  Worker& w = *tl_worker;
  Fiber& f = *w.cur;
  const unsigned wi = f.t.linear >> 5;
  mask |= 1u << (f.t.linear & 31);
  f.wmask = mask;
  f.win = value;
  f.wsrc = src;
  f.wpred = pred;
  f.state = kWaitWarp;
  w.warp_waiting[wi] |= 1u << (f.t.linear & 31);
  if (!try_complete(w, wi, mask)) park(w, f);
  return f.wres;
}

unsigned live_lanes() {
  const Worker& w = *tl_worker;
  return w.warp_live[cur_thread->linear >> 5];
}

// exited accounts for a finished thread: it no longer holds back the
// block barrier or its warp's collectives.
static void exited(Worker& w, Fiber& f) {
  f.state = kDone;
  w.live--;
  const unsigned wi = f.t.linear >> 5;
  w.warp_live[wi] &= ~(1u << (f.t.linear & 31));
  if (w.arrived > 0 && w.arrived == w.live) release_block(w);
  for (unsigned pending = w.warp_waiting[wi]; pending != 0; pending &= w.warp_waiting[wi]) {
    const unsigned l = __builtin_ctz(pending);
    try_complete(w, wi, w.fibers[wi * 32 + l].wmask);
    pending &= ~(1u << l);
  }
}

// fiber_main is the bottom of every fiber's stack. It runs the kernel as
// its thread; when that returns it runs the next unstarted thread on the
// same stack, if no released thread is waiting to run, else hands the
// stack over for reclaiming and switches away for good.
static void fiber_main() {
  Worker& w = *tl_worker;
  w.reap();
  for (;;) {
    w.kernel->invoke(w.args);
    Fiber& f = *w.cur;
    exited(w, f);
    char* stack = f.stack;
    f.stack = nullptr;
    if (w.ready_len == 0 && w.next_new < w.n) {
      Fiber& g = w.fibers[w.next_new++];
      g.stack = stack;
      w.set_running(g);
      continue;
    }
    w.zombie = stack;
    switch_away(w, &f.ctx);  // never resumed
    __builtin_trap();
  }
}

// deadlock describes who waits where.
static std::string deadlock(const Worker& w) {
  int at_block = 0, at_warp = 0, first_warp = -1;
  for (int i = 0; i < w.n; i++) {
    const Fiber& f = w.fibers[i];
    if (f.state == kWaitBlock) at_block++;
    if (f.state == kWaitWarp) {
      at_warp++;
      if (first_warp < 0) first_warp = i;
    }
  }
  std::string s = errorf(
      "deadlock in block (%u,%u,%u): of %d threads, %d exited, %d wait at __syncthreads, %d at a warp "
      "collective",
      cur_block_idx.x, cur_block_idx.y, cur_block_idx.z, w.n, w.n - w.live, at_block, at_warp);
  if (first_warp >= 0) {
    const Fiber& f = w.fibers[first_warp];
    const unsigned wi = f.t.linear >> 5;
    const unsigned missing = f.wmask & w.warp_live[wi] & ~w.warp_waiting[wi];
    s += errorf(" (thread (%u,%u,%u), warp %u, mask 0x%08x: lanes 0x%08x have not arrived", f.t.idx.x, f.t.idx.y,
                f.t.idx.z, wi, f.wmask, missing);
    if (missing == 0) s += " but wait with another mask";
    s += ")";
  }
  s += "; a barrier or warp collective is reached by only some of the threads it waits for";
  return s;
}

// Launch is one kernel launch.
struct Launch {
  const Kernel* kernel;
  void* const* args;
  uint3 grid, block;
};

// run_block runs block number b (x fastest) of the launch on this OS thread.
static bool run_block(Worker& w, const Launch& L, uint64_t b, std::string* err) {
  cur_grid_dim = L.grid;
  cur_block_dim = L.block;
  cur_block_idx.x = (unsigned)(b % L.grid.x);
  cur_block_idx.y = (unsigned)(b / L.grid.x % L.grid.y);
  cur_block_idx.z = (unsigned)(b / ((uint64_t)L.grid.x * L.grid.y));
  w.kernel = L.kernel;
  w.args = L.args;
  const int n = (int)(L.block.x * L.block.y * L.block.z);
  if ((int)w.fibers.size() < n) {
    w.fibers.resize(n);
    w.ready.resize(n);
    w.layout = {0, 0, 0};
  }
  if (w.layout.x != L.block.x || w.layout.y != L.block.y || w.layout.z != L.block.z) {
    for (int i = 0; i < n; i++) {
      Thread& t = w.fibers[i].t;
      t.idx.x = (unsigned)i % L.block.x;
      t.idx.y = (unsigned)i / L.block.x % L.block.y;
      t.idx.z = (unsigned)i / (L.block.x * L.block.y);
      t.linear = (unsigned)i;
    }
    w.layout = L.block;
  }
  for (int i = 0; i < n; i++) {
    w.fibers[i].state = kNew;
    w.fibers[i].stack = nullptr;
  }
  w.n = n;
  w.live = n;
  w.arrived = 0;
  w.count = 0;
  w.ready_head = w.ready_len = 0;
  w.next_new = 0;
  w.no_stack = false;
  for (int i = 0; i < 32; i++) {
    const int lanes = std::min(std::max(n - 32 * i, 0), 32);
    w.warp_live[i] = lanes == 32 ? ~0u : (1u << lanes) - 1;
    w.warp_waiting[i] = 0;
  }
  switch_away(w, &w.sched);  // returns when no fiber can run
  bool ok = w.live == 0;
  if (!ok) {
    if (w.no_stack) {
      *err = errorf("out of memory mapping a %zu-byte fiber stack for thread %d of block (%u,%u,%u)", w.stack_size,
                    w.next_new, cur_block_idx.x, cur_block_idx.y, cur_block_idx.z);
    } else {
      *err = deadlock(w);
    }
    // Abandon the parked fibers: their stacks are only memory.
    for (int i = 0; i < n; i++) {
      Fiber& f = w.fibers[i];
      if (f.stack != nullptr) w.free_stacks.push_back(f.stack);
      f.stack = nullptr;
    }
  }
  w.cur = nullptr;
  cur_thread = nullptr;
  return ok;
}

// ---------------------------------------------------------------------------
// The thread pool.

// Pool runs the tasks of one job at a time on its OS threads and the
// caller's. Workers are started on first use and never stopped.
class Pool {
 public:
  static Pool& get() {
    static Pool* p = new Pool;  // never destroyed: its workers may still wait on it at exit
    return *p;
  }

  int threads() const { return nthreads_; }

  // run calls task(t) for every t < ntasks, in parallel, and returns when
  // all have returned; a task returning false stops the tasks not yet begun.
  void run(uint64_t ntasks, const std::function<bool(uint64_t)>& task) {
    Job job;
    job.n = ntasks;
    job.task = &task;
    const int helpers = (int)std::min<uint64_t>((uint64_t)(nthreads_ - 1), ntasks > 0 ? ntasks - 1 : 0);
    if (helpers > 0) {
      std::lock_guard<std::mutex> lk(mu_);
      start_workers();
      job_ = &job;
      wanted_ = helpers;
      claimed_ = finished_ = 0;
    }
    if (helpers > 0) wake_.notify_all();
    job.work();
    if (helpers > 0) {
      std::unique_lock<std::mutex> lk(mu_);
      wanted_ = 0;  // those not yet awake stay asleep
      done_.wait(lk, [this] { return finished_ == claimed_; });
      job_ = nullptr;
    }
  }

 private:
  struct Job {
    uint64_t n = 0;
    std::atomic<uint64_t> next{0};
    std::atomic<bool> stop{false};
    const std::function<bool(uint64_t)>* task = nullptr;
    void work() {
      while (!stop.load(std::memory_order_relaxed)) {
        const uint64_t t = next.fetch_add(1, std::memory_order_relaxed);
        if (t >= n) return;
        if (!(*task)(t)) stop.store(true, std::memory_order_relaxed);
      }
    }
  };

  Pool() {
    long hw = (long)std::thread::hardware_concurrency();
    if (hw < 1) hw = 1;
    nthreads_ = (int)env_long("GTEMU_THREADS", std::min(hw, 8L), 1, 256);
  }

  void start_workers() {  // with mu_ held
    if (started_) return;
    started_ = true;
    for (int i = 1; i < nthreads_; i++) std::thread([this] { loop(); }).detach();
  }

  void loop() {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      wake_.wait(lk, [this] { return wanted_ > 0; });
      wanted_--;
      claimed_++;
      Job* j = job_;
      lk.unlock();
      j->work();
      lk.lock();
      if (++finished_ == claimed_) done_.notify_all();
    }
  }

  int nthreads_ = 1;
  bool started_ = false;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  Job* job_ = nullptr;
  int wanted_ = 0, claimed_ = 0, finished_ = 0;
};

// One launch or GEMM at a time.
static std::mutex launch_mu;

// ---------------------------------------------------------------------------
// Reference SGEMM, column-major (cuBLAS's cublasSgemmStridedBatched).

struct Gemm {
  bool ta, tb;
  int m, n, k;
  float alpha, beta;
  const float *a, *b;
  float* c;
  int lda, ldb, ldc;
  long long sa, sb, sc;
};

// gemm_columns computes columns [j0, j1) of batch bi. Each C(i,j) is the
// dot product of row i of op(A) and column j of op(B), accumulated in
// float in increasing p; for op(A) = A the loop runs as column updates
// (the same operations in the same order, but reading A contiguously).
static void gemm_columns(const Gemm& g, int bi, int j0, int j1) {
  static thread_local std::vector<float> acc, bcol;
  if ((int)acc.size() < g.m) acc.resize(g.m);
  if ((int)bcol.size() < g.k) bcol.resize(g.k);
  const float* A = g.a + bi * g.sa;
  const float* B = g.b + bi * g.sb;
  float* C = g.c + bi * g.sc;
  for (int j = j0; j < j1; j++) {
    for (int p = 0; p < g.k; p++) bcol[p] = g.tb ? B[j + (long long)p * g.ldb] : B[p + (long long)j * g.ldb];
    if (!g.ta) {
      std::fill(acc.begin(), acc.begin() + g.m, 0.0f);
      for (int p = 0; p < g.k; p++) {
        const float* ap = A + (long long)p * g.lda;
        const float bp = bcol[p];
        float* __restrict__ out = acc.data();
        for (int i = 0; i < g.m; i++) out[i] += ap[i] * bp;
      }
    } else {
      for (int i = 0; i < g.m; i++) {
        const float* ai = A + (long long)i * g.lda;
        float s = 0.0f;
        for (int p = 0; p < g.k; p++) s += ai[p] * bcol[p];
        acc[i] = s;
      }
    }
    float* cj = C + (long long)j * g.ldc;
    if (g.beta == 0.0f) {
      for (int i = 0; i < g.m; i++) cj[i] = g.alpha * acc[i];
    } else {
      for (int i = 0; i < g.m; i++) cj[i] = g.alpha * acc[i] + g.beta * cj[i];
    }
  }
}

}  // namespace gtemu

// ---------------------------------------------------------------------------
// The kernels. A kernel of GOTRAIN_KERNELS whose file is missing is a weak
// undefined symbol, reported by gtemu_lookup rather than failing the link.

#include "../kernels/kernels.cuh"

#define GTEMU_PRAGMA(x) _Pragma(#x)
#define GTEMU_WEAK(name) GTEMU_PRAGMA(weak name)
GOTRAIN_KERNELS(GTEMU_WEAK)

#if __has_include("../kernels/all.cu")
#include "../kernels/all.cu"
#else
#if __has_include("../kernels/memory.cu")
#include "../kernels/memory.cu"
#endif
#if __has_include("../kernels/bias.cu")
#include "../kernels/bias.cu"
#endif
#if __has_include("../kernels/elementwise.cu")
#include "../kernels/elementwise.cu"
#endif
#if __has_include("../kernels/activation.cu")
#include "../kernels/activation.cu"
#endif
#if __has_include("../kernels/softmax.cu")
#include "../kernels/softmax.cu"
#endif
#if __has_include("../kernels/loss.cu")
#include "../kernels/loss.cu"
#endif
#if __has_include("../kernels/reduce.cu")
#include "../kernels/reduce.cu"
#endif
#if __has_include("../kernels/dropout.cu")
#include "../kernels/dropout.cu"
#endif
#if __has_include("../kernels/regularize.cu")
#include "../kernels/regularize.cu"
#endif
#if __has_include("../kernels/optim.cu")
#include "../kernels/optim.cu"
#endif
#endif

// The emulator's own test kernels (driver_emu_test.go), GTEMU_SELFTEST_KERNELS.
#include "../kernels/emu/testdata/emu_selftest.cu"

namespace gtemu {

template <class... A>
constexpr int arity(void (*)(A...)) {
  return (int)sizeof...(A);
}

template <class... A, size_t... I>
static void call(void (*k)(A...), void* const* a, std::index_sequence<I...>) {
  k(*static_cast<A*>(a[I])...);
}

// present is false for a weak kernel that no file defines.
template <class F>
static bool present(F* f) {
  return f != nullptr;
}

template <auto K>
static void invoke(void* const* a) {
  call(K, a, std::make_index_sequence<arity(K)>());
}

#define GTEMU_ENTRY(name) {#name, arity(&name), present(&name) ? &invoke<&name> : nullptr},
static const Kernel kernels[] = {GOTRAIN_KERNELS(GTEMU_ENTRY) GTEMU_SELFTEST_KERNELS(GTEMU_ENTRY)};
#undef GTEMU_ENTRY
static const int nkernels = (int)(sizeof kernels / sizeof kernels[0]);

}  // namespace gtemu

// ---------------------------------------------------------------------------
// The C interface (emu.h).

using gtemu::errorf;
using gtemu::set_error;

extern "C" int gtemu_lookup(const char* name) {
  for (int i = 0; i < gtemu::nkernels; i++) {
    if (strcmp(gtemu::kernels[i].name, name) == 0) return gtemu::kernels[i].invoke != nullptr ? i : -2;
  }
  return -1;
}

extern "C" int gtemu_launch(int fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                            const void* packed, int nargs, char* err, int errlen) {
  if (fn < 0 || fn >= gtemu::nkernels || gtemu::kernels[fn].invoke == nullptr) {
    set_error(err, errlen, errorf("no kernel number %d", fn));
    return 1;
  }
  const gtemu::Kernel& k = gtemu::kernels[fn];
  if (nargs != k.arity) {
    set_error(err, errlen, errorf("%s takes %d arguments, %d were packed", k.name, k.arity, nargs));
    return 1;
  }
  const uint64_t threads = (uint64_t)bx * by * bz;
  if (bx == 0 || by == 0 || bz == 0 || bx > 1024 || by > 1024 || bz > 64 || threads > 1024) {
    set_error(err, errlen,
              errorf("invalid block (%u,%u,%u): want 1 to 1024 threads, x and y <= 1024, z <= 64", bx, by, bz));
    return 1;
  }
  if (gx == 0 || gy == 0 || gz == 0 || gx > 0x7fffffffu || gy > 65535 || gz > 65535) {
    set_error(err, errlen, errorf("invalid grid (%u,%u,%u): want x in [1, 2^31-1], y and z in [1, 65535]", gx, gy, gz));
    return 1;
  }
  uint64_t slots[16];
  void* argv[16];
  memcpy(slots, packed, 8 * (size_t)nargs);
  for (int i = 0; i < nargs; i++) argv[i] = &slots[i];
  const gtemu::Launch L{&k, argv, {gx, gy, gz}, {bx, by, bz}};
  std::string first;
  std::mutex first_mu;
  std::lock_guard<std::mutex> lk(gtemu::launch_mu);
  gtemu::Pool::get().run((uint64_t)gx * gy * gz, [&](uint64_t b) {
    std::string e;
    if (gtemu::run_block(gtemu::worker(), L, b, &e)) return true;
    std::lock_guard<std::mutex> g(first_mu);
    if (first.empty()) first = e;
    return false;
  });
  if (!first.empty()) {
    set_error(err, errlen, first);
    return 1;
  }
  return 0;
}

extern "C" int gtemu_sgemm(int transa, int transb, int m, int n, int k, float alpha, uintptr_t a, int lda,
                           long long stride_a, uintptr_t b, int ldb, long long stride_b, float beta, uintptr_t c,
                           int ldc, long long stride_c, int batch, char* err, int errlen) {
  if (m < 0 || n < 0 || k < 0 || batch < 0 || ldc < std::max(1, m) || lda < 1 || ldb < 1) {
    set_error(err, errlen, errorf("sgemm: invalid m=%d n=%d k=%d batch=%d lda=%d ldb=%d ldc=%d", m, n, k, batch, lda,
                                  ldb, ldc));
    return 1;
  }
  if (m == 0 || n == 0 || batch == 0) return 0;
  const gtemu::Gemm g{transa != 0,
                      transb != 0,
                      m,
                      n,
                      k,
                      alpha,
                      beta,
                      reinterpret_cast<const float*>(a),
                      reinterpret_cast<const float*>(b),
                      reinterpret_cast<float*>(c),
                      lda,
                      ldb,
                      ldc,
                      stride_a,
                      stride_b,
                      stride_c};
  // Split each batch into column chunks of about 256K multiply-adds.
  const long long per_col = (long long)m * std::max(k, 1);
  const int cols = (int)std::max(1LL, std::min((long long)n, (1LL << 18) / per_col));
  const int chunks = (n + cols - 1) / cols;
  std::lock_guard<std::mutex> lk(gtemu::launch_mu);
  gtemu::Pool::get().run((uint64_t)batch * chunks, [&](uint64_t t) {
    const int bi = (int)(t / chunks);
    const int j0 = (int)(t % chunks) * cols;
    gtemu::gemm_columns(g, bi, j0, std::min(n, j0 + cols));
    return true;
  });
  return 0;
}

extern "C" int gtemu_threads(void) { return gtemu::Pool::get().threads(); }

extern "C" long long gtemu_host_memory(void) {
  return (long long)sysconf(_SC_PHYS_PAGES) * (long long)sysconf(_SC_PAGESIZE);
}

extern "C" uintptr_t gtemu_alloc(long long bytes) {
  const size_t n = ((size_t)std::max(bytes, 1LL) + 255) / 256 * 256;
  return reinterpret_cast<uintptr_t>(aligned_alloc(256, n));
}

extern "C" void gtemu_free(uintptr_t p) { free(reinterpret_cast<void*>(p)); }
