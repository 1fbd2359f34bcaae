package cpufallback

import (
	"runtime"
	"sync"
)

// maxChunks bounds how many pieces one parallel call is split into.
const maxChunks = 64

// task carries one kernel's arguments to the workers. It is a plain struct
// with a top-level function, not a closure, so that dispatching it allocates
// nothing: each Backend owns one task and reuses it for every kernel.
type task struct {
	fn func(t *task, chunk, lo, hi int)
	f  [8][]float32
	i  [2][]int32
	n  [6]int
	s  [8]float32
	u  uint64
	b  bool
	// part holds one partial result per chunk, for reductions.
	part [maxChunks]float64
	// mm is the GEMM's own state (see matmul.go).
	mm *gemmState
}

type span struct {
	t             *task
	chunk, lo, hi int
}

// pool is a fixed set of worker goroutines that run chunks of a task.
type pool struct {
	workers int
	work    chan span
	wg      sync.WaitGroup
	t       task
}

func newPool(workers int) *pool {
	p := &pool{workers: workers, work: make(chan span, maxChunks)}
	for w := 1; w < workers; w++ {
		go p.loop()
	}
	return p
}

func (p *pool) loop() {
	for s := range p.work {
		clearUpper()
		s.t.fn(s.t, s.chunk, s.lo, s.hi)
		p.wg.Done()
	}
}

// task returns the pool's task, cleared, for the caller to fill in.
func (p *pool) task(fn func(t *task, chunk, lo, hi int)) *task {
	mm := p.t.mm
	p.t = task{fn: fn, mm: mm}
	return &p.t
}

// run splits [0, n) into at most chunks pieces of at least grain elements,
// runs them on the workers and the calling goroutine, and returns the
// number of chunks used. Chunk c covers [c*n/k, (c+1)*n/k).
func (p *pool) run(t *task, n, grain int) int {
	if n <= 0 {
		return 0
	}
	if grain < 1 {
		grain = 1
	}
	k := min(p.workers, (n+grain-1)/grain, maxChunks)
	if k <= 1 {
		clearUpper()
		t.fn(t, 0, 0, n)
		return 1
	}
	return p.runChunks(t, n, k)
}

// runChunks runs exactly k chunks of [0, n) (k <= maxChunks).
func (p *pool) runChunks(t *task, n, k int) int {
	p.wg.Add(k - 1)
	for c := 1; c < k; c++ {
		p.work <- span{t: t, chunk: c, lo: c * n / k, hi: (c + 1) * n / k}
	}
	// A worker woken by the send sits in this P's run slot until the idle
	// P steals it, which can take ~100 µs on a VM; yielding once hands it
	// over at once (measured: 2 threads no faster than 1 at n=192 without).
	runtime.Gosched()
	clearUpper()
	t.fn(t, 0, 0, n/k)
	p.wg.Wait()
	return k
}

// sumParts adds the partial results of the first k chunks in order, so a
// reduction's result does not depend on scheduling.
func (t *task) sumParts(k int) float64 {
	var s float64
	for c := 0; c < k; c++ {
		s += t.part[c]
	}
	return s
}
