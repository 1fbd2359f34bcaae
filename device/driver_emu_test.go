//go:build cudaemu && !cuda

// Self-tests of the CUDA-on-CPU emulator: the test kernels of
// kernels/emu/testdata/emu_selftest.cu and the reference SGEMM, through the
// driver interface, against plain Go loops.

package device

import (
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/gotrain/gotrain/kernels/emu"
)

// harness is a driver with test helpers that fail the test on any error.
type harness struct {
	t testing.TB
	d driver
}

func newEmu(t testing.TB) *harness {
	d, err := openDriver(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.close() })
	return &harness{t: t, d: d}
}

func (e *harness) allocBytes(bytes int64) ptr {
	e.t.Helper()
	p, err := e.d.alloc(bytes)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *harness) f32(v []float32) ptr {
	e.t.Helper()
	p := e.allocBytes(int64(4 * max(len(v), 1)))
	if len(v) > 0 {
		if err := e.d.htod(p, unsafe.Pointer(&v[0]), int64(4*len(v))); err != nil {
			e.t.Fatal(err)
		}
	}
	return p
}

func (e *harness) i32(v []int32) ptr {
	e.t.Helper()
	p := e.allocBytes(int64(4 * max(len(v), 1)))
	if len(v) > 0 {
		if err := e.d.htod(p, unsafe.Pointer(&v[0]), int64(4*len(v))); err != nil {
			e.t.Fatal(err)
		}
	}
	return p
}

func (e *harness) readF32(p ptr, n int) []float32 {
	e.t.Helper()
	v := make([]float32, n)
	if err := e.d.dtoh(unsafe.Pointer(&v[0]), p, int64(4*n)); err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *harness) readI32(p ptr, n int) []int32 {
	e.t.Helper()
	v := make([]int32, n)
	if err := e.d.dtoh(unsafe.Pointer(&v[0]), p, int64(4*n)); err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *harness) fn(name string) function {
	e.t.Helper()
	f, err := e.d.function(name)
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

// run launches and fails the test on error.
func (e *harness) run(name string, grid, block dim3, a *args) {
	e.t.Helper()
	if err := e.d.launch(e.fn(name), grid, block, a); err != nil {
		e.t.Fatal(err)
	}
}

func d1(x uint32) dim3 { return dim3{x, 1, 1} }

// TestEmuSourcesFresh fails when the kernel sources changed after `go
// generate ./kernels/emu`: this test binary may then run stale kernels (see
// package emu).
func TestEmuSourcesFresh(t *testing.T) {
	h, err := emu.HashSources("../kernels")
	if err != nil {
		t.Fatal(err)
	}
	if h != emu.SourcesHash {
		t.Fatalf("kernel sources changed since the emulator's hash was generated (%.12s, generated %.12s): run `go generate ./kernels/emu`, or the cudaemu build keeps running the kernels it compiled before", h, emu.SourcesHash)
	}
}

func TestEmuAllKernelsPresent(t *testing.T) {
	e := newEmu(t)
	for _, name := range kernelNames {
		if _, err := e.d.function(name); err != nil {
			t.Error(err)
		}
	}
	t.Logf("%s: %s", e.d.name(), e.d.info().Name)
}

func TestEmuBlockSum(t *testing.T) {
	e := newEmu(t)
	r := rand.New(rand.NewPCG(1, 2))
	const n = 100003
	x := make([]float32, n)
	for i := range x {
		x[i] = r.Float32()*2 - 1
	}
	px := e.f32(x)
	for _, c := range []struct{ grid, block int }{{37, 256}, {5, 1024}, {64, 32}, {1, 64}} {
		out := e.f32(make([]float32, c.grid))
		e.run("emu_block_sum", d1(uint32(c.grid)), d1(uint32(c.block)), new(args).p(out).p(px).i(n))
		got := e.readF32(out, c.grid)
		want := make([]float64, c.grid)
		for i, v := range x {
			want[i%(c.grid*c.block)/c.block] += float64(v)
		}
		for b := range want {
			if d := math.Abs(float64(got[b]) - want[b]); d > 1e-3 {
				t.Errorf("grid %d block %d: partial %d = %v, want %v", c.grid, c.block, b, got[b], want[b])
			}
		}
	}
}

func TestEmuScan(t *testing.T) {
	e := newEmu(t)
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct{ grid, block int }{{3, 1024}, {4, 96}, {2, 1}, {1, 33}} {
		in := make([]int32, c.grid*c.block)
		for i := range in {
			in[i] = int32(r.IntN(100) - 50)
		}
		out := e.i32(make([]int32, len(in)))
		e.run("emu_scan", d1(uint32(c.grid)), d1(uint32(c.block)), new(args).p(out).p(e.i32(in)))
		got := e.readI32(out, len(in))
		for b := 0; b < c.grid; b++ {
			var s int32
			for i := b * c.block; i < (b+1)*c.block; i++ {
				s += in[i]
				if got[i] != s {
					t.Fatalf("grid %d block %d: out[%d] = %d, want %d", c.grid, c.block, i, got[i], s)
				}
			}
		}
	}
}

// shflSrc is the lane a CUDA shuffle of mode (0 idx, 1 up, 2 down, 3 xor)
// reads for lane l, or l itself where CUDA returns the caller's own value.
func shflSrc(mode, l, arg, width int) int {
	group := l &^ (width - 1)
	switch mode {
	case 0:
		return group | (arg & (width - 1))
	case 1:
		if l&(width-1) >= arg {
			return l - arg
		}
	case 2:
		if l&(width-1)+arg < width {
			return l + arg
		}
	case 3:
		if s := l ^ arg; s < group+width {
			return s
		}
	}
	return l
}

func TestEmuShuffle(t *testing.T) {
	e := newEmu(t)
	const grid, bx, by = 2, 64, 2 // 128 threads, 4 warps per block
	const total = grid * bx * by
	out := e.i32(make([]int32, total))
	value := func(gid int) int32 { return int32(1000*(gid/(bx*by)) + gid) }
	cases := []struct{ mode, arg, width int }{
		{0, 0, 32}, {0, 5, 32}, {0, 31, 32}, {0, 37, 32}, {0, 3, 8}, {0, 13, 16},
		{1, 1, 32}, {1, 5, 32}, {1, 16, 32}, {1, 2, 8},
		{2, 1, 32}, {2, 16, 32}, {2, 31, 32}, {2, 3, 4},
		{3, 1, 32}, {3, 16, 32}, {3, 31, 32}, {3, 4, 8}, {3, 8, 8}, {3, 2, 2},
		{4, 3, 32}, {4, 1, 32}, {5, 7, 32}, {5, 40, 32}, {6, 32, 32}, {6, 31, 32}, {7, 9, 32},
	}
	for _, c := range cases {
		e.run("emu_shuffle", d1(grid), dim3{bx, by, 1}, new(args).p(out).i(c.mode).i(c.arg).i(c.width))
		got := e.readI32(out, total)
		for gid := 0; gid < total; gid++ {
			l := gid % 32
			var want int32
			switch c.mode {
			case 0, 1, 2, 3:
				want = value(gid - l + shflSrc(c.mode, l, c.arg, c.width))
			case 4:
				for k := 0; k < 32; k++ {
					if k%c.arg == 0 {
						want |= int32(uint32(1) << k)
					}
				}
			case 5:
				if c.arg < 32 {
					want = 1
				}
			case 6:
				if c.arg >= 32 {
					want = 1
				}
			case 7:
				want = int32(math.Float32bits(float32(value(gid-l+c.arg%32)) + 0.5))
			}
			if got[gid] != want {
				t.Fatalf("mode %d arg %d width %d: thread %d (lane %d) got %d, want %d", c.mode, c.arg, c.width, gid, l, got[gid], want)
			}
		}
	}
}

func TestEmuPartialExit(t *testing.T) {
	e := newEmu(t)
	const block = 100 // the last warp has 4 lanes
	for _, n := range []int{100, 70, 33, 32, 5, 1} {
		buf := func() ptr { return e.i32(make([]int32, block)) }
		out, all, far, sums, rev := buf(), buf(), buf(), buf(), buf()
		e.run("emu_partial_exit", d1(3), d1(block), new(args).p(out).p(all).p(far).p(sums).p(rev).i(n))
		gotOut, gotAll, gotFar := e.readI32(out, n), e.readI32(all, n), e.readI32(far, n)
		gotSums, gotRev := e.readI32(sums, n), e.readI32(rev, n)
		for w := 0; w*32 < n; w++ {
			lanes := min(n-32*w, 32)
			live := uint32(1)<<lanes - 1
			if lanes == 32 {
				live = ^uint32(0)
			}
			// The butterfly of the kernel, over the live lanes only.
			v := make([]int32, 32)
			for l := 0; l < lanes; l++ {
				v[l] = int32(32*w + l)
			}
			for o := 16; o > 0; o >>= 1 {
				next := append([]int32(nil), v...)
				for l := 0; l < lanes; l++ {
					if live>>(l^o)&1 != 0 {
						next[l] += v[l^o]
					}
				}
				v = next
			}
			for l := 0; l < lanes; l++ {
				tid := 32*w + l
				if uint32(gotOut[tid]) != live {
					t.Errorf("n=%d: thread %d: ballot %#x, want %#x", n, tid, uint32(gotOut[tid]), live)
				}
				if gotAll[tid] != 1 {
					t.Errorf("n=%d: thread %d: __all_sync(1) = %d, want 1", n, tid, gotAll[tid])
				}
				wantFar := int32(tid) // lane 31 has exited: our own value
				if lanes == 32 {
					wantFar = int32(32*w + 31)
				}
				if gotFar[tid] != wantFar {
					t.Errorf("n=%d: thread %d: shuffle from lane 31 gave %d, want %d", n, tid, gotFar[tid], wantFar)
				}
				if gotSums[tid] != v[l] {
					t.Errorf("n=%d: thread %d: butterfly sum %d, want %d", n, tid, gotSums[tid], v[l])
				}
				if want := int32(7 * (n - 1 - tid)); gotRev[tid] != want {
					t.Errorf("n=%d: thread %d: rev %d, want %d", n, tid, gotRev[tid], want)
				}
			}
		}
	}
}

func TestEmuDeadlock(t *testing.T) {
	e := newEmu(t)
	out := e.i32(make([]int32, 1+256))
	for mode := 0; mode < 2; mode++ {
		err := e.d.launch(e.fn("emu_deadlock"), d1(4), d1(256), new(args).p(out).i(mode))
		if err == nil || !strings.Contains(err.Error(), "deadlock") {
			t.Fatalf("mode %d: got %v, want a deadlock error", mode, err)
		}
		t.Logf("mode %d: %v", mode, err)
	}
	e.run("emu_deadlock", d1(4), d1(256), new(args).p(out).i(2))
	if got := e.readI32(out, 1)[0]; got != 1 {
		t.Errorf("mode 2: out[0] = %d, want 1", got)
	}
	// The emulator recovers: a normal launch still works.
	TestEmuScan(t)
}

func TestEmuAtomics(t *testing.T) {
	e := newEmu(t)
	isum, fsum, imax := e.i32([]int32{0}), e.f32([]float32{0}), e.i32([]int32{-1})
	// 8M additions of each (exact in float32: 0.5 * 2^23 < 2^24), from
	// blocks running on every OS thread of the emulator.
	grid, block, reps := dim3{500, 2, 1}, dim3{64, 2, 1}, 64
	e.run("emu_atomics", grid, block, new(args).p(isum).p(fsum).p(imax).i(reps))
	adds := 500 * 2 * 64 * 2 * reps
	if got := e.readI32(isum, 1)[0]; got != int32(adds) {
		t.Errorf("int atomicAdd: %d, want %d", got, adds)
	}
	if got := e.readF32(fsum, 1)[0]; got != float32(adds)/2 {
		t.Errorf("float atomicAdd: %v, want %v", got, adds/2)
	}
	if got := e.readI32(imax, 1)[0]; got != 499 {
		t.Errorf("atomicMax: %d, want 499", got)
	}
}

func TestEmuCoords(t *testing.T) {
	e := newEmu(t)
	grid, block := dim3{3, 2, 2}, dim3{8, 4, 2}
	nb, nt := 3*2*2, 8*4*2
	out, dims := e.i32(make([]int32, 6*nb*nt)), e.i32(make([]int32, 6))
	e.run("emu_coords", grid, block, new(args).p(out).p(dims))
	got := e.readI32(out, 6*nb*nt)
	for b := 0; b < nb; b++ {
		for th := 0; th < nt; th++ {
			want := []int32{int32(th % 8), int32(th / 8 % 4), int32(th / 32), int32(b % 3), int32(b / 3 % 2), int32(b / 6)}
			o := got[6*(b*nt+th):]
			for k := range want {
				if o[k] != want[k] {
					t.Fatalf("block %d thread %d: coords %v, want %v", b, th, o[:6], want)
				}
			}
		}
	}
	if got, want := e.readI32(dims, 6), []int32{8, 4, 2, 3, 2, 2}; !equalI32(got, want) {
		t.Errorf("blockDim, gridDim = %v, want %v", got, want)
	}
}

func equalI32(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEmuSyncCount(t *testing.T) {
	e := newEmu(t)
	out := e.i32(make([]int32, 3))
	for _, c := range []struct{ block, k int }{{200, 3}, {200, 1}, {1024, 1000}} {
		e.run("emu_sync_count", d1(2), d1(uint32(c.block)), new(args).p(out).i(c.k))
		count := (c.block + c.k - 1) / c.k
		want := []int32{int32(count), 0, 1}
		if count == c.block {
			want[1] = 1
		}
		if got := e.readI32(out, 3); !equalI32(got, want) {
			t.Errorf("block %d k %d: count, and, or = %v, want %v", c.block, c.k, got, want)
		}
	}
}

func TestEmuErrors(t *testing.T) {
	e := newEmu(t)
	if _, err := e.d.function("no_such_kernel"); err == nil || !strings.Contains(err.Error(), "no_such_kernel") {
		t.Errorf("unknown kernel: %v", err)
	}
	out := e.i32(make([]int32, 4))
	f := e.fn("emu_sync_count")
	for _, c := range []struct {
		grid, block dim3
		a           *args
		want        string
	}{
		{d1(1), d1(32), new(args).p(out), "takes 2 arguments, 1 were packed"},
		{d1(1), d1(2048), new(args).p(out).i(1), "invalid block (2048,1,1)"},
		{d1(1), dim3{32, 32, 2}, new(args).p(out).i(1), "invalid block (32,32,2)"},
		{d1(0), d1(32), new(args).p(out).i(1), "invalid grid (0,1,1)"},
		{dim3{1, 70000, 1}, d1(32), new(args).p(out).i(1), "invalid grid (1,70000,1)"},
	} {
		err := e.d.launch(f, c.grid, c.block, c.a)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "emu_sync_count<<<") {
			t.Errorf("got %v, want an error naming the kernel and saying %q", err, c.want)
		}
	}
	if err := e.d.free(out + 4); err == nil {
		t.Error("free of a pointer inside an allocation: no error")
	}
	if err := e.d.free(out); err != nil {
		t.Error(err)
	}
	if err := e.d.free(out); err == nil {
		t.Error("double free: no error")
	}
	if _, err := e.d.alloc(1 << 62); err == nil || !strings.Contains(err.Error(), "out of memory") {
		t.Errorf("huge alloc: %v", err)
	}
	e.d.close()
	if err := e.d.sync(); err == nil {
		t.Error("sync after close: no error")
	}
}

func TestEmuMemory(t *testing.T) {
	e := newEmu(t)
	free0, total, err := e.d.memInfo()
	if err != nil || total <= 0 || free0 != total {
		t.Fatalf("memInfo = %d, %d, %v", free0, total, err)
	}
	p := e.allocBytes(1000)
	if uintptr(p)%256 != 0 {
		t.Errorf("alloc returned %#x, not 256-byte aligned", uintptr(p))
	}
	if free1, _, _ := e.d.memInfo(); free1 != free0-1000 {
		t.Errorf("free after a 1000-byte alloc = %d, want %d", free1, free0-1000)
	}
	v := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	e.d.htod(p, unsafe.Pointer(&v[0]), 32)
	e.d.dtod(p+4, p, 16) // overlapping: memmove semantics
	if got, want := e.readF32(p, 8), []float32{1, 1, 2, 3, 4, 6, 7, 8}; !equalF32(got, want) {
		t.Errorf("overlapping dtod: %v, want %v", got, want)
	}
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// gemmRef is the reference loop of gemmArgs on host slices: C(i,j) =
// alpha·Σ_p op(A)(i,p)·op(B)(p,j) + beta·C(i,j), float32 accumulation in
// increasing p, column-major.
func gemmRef(g gemmArgs, a, b, c []float32) {
	for bi := 0; bi < g.batch; bi++ {
		A, B, C := a[int64(bi)*g.strideA:], b[int64(bi)*g.strideB:], c[int64(bi)*g.strideC:]
		for j := 0; j < g.n; j++ {
			for i := 0; i < g.m; i++ {
				var acc float32
				for p := 0; p < g.k; p++ {
					var av, bv float32
					if g.transA {
						av = A[p+i*g.lda]
					} else {
						av = A[i+p*g.lda]
					}
					if g.transB {
						bv = B[j+p*g.ldb]
					} else {
						bv = B[p+j*g.ldb]
					}
					acc += float32(av * bv) // the conversion forbids fusing into an FMA
				}
				if g.beta == 0 {
					C[i+j*g.ldc] = float32(g.alpha * acc)
				} else {
					C[i+j*g.ldc] = float32(g.alpha*acc) + float32(g.beta*C[i+j*g.ldc])
				}
			}
		}
	}
}

func TestEmuGemm(t *testing.T) {
	e := newEmu(t)
	r := rand.New(rand.NewPCG(5, 6))
	const guard = -12345.5
	sizes := [][3]int{{1, 1, 1}, {7, 5, 3}, {17, 13, 29}, {33, 1, 65}, {64, 70, 24}, {5, 9, 0}, {130, 3, 7}}
	for _, s := range sizes {
		for tr := 0; tr < 4; tr++ {
			for _, beta := range []float32{0, 0.5} {
				m, n, k := s[0], s[1], s[2]
				g := gemmArgs{transA: tr&1 != 0, transB: tr&2 != 0, m: m, n: n, k: k, alpha: 1.5, beta: beta, batch: 3}
				rowsA, colsA, rowsB, colsB := m, k, k, n
				if g.transA {
					rowsA, colsA = k, m
				}
				if g.transB {
					rowsB, colsB = n, k
				}
				g.lda, g.ldb, g.ldc = rowsA+2, max(rowsB, 1)+1, m+3
				g.strideA = int64(g.lda*colsA + 5)
				g.strideB = int64(g.ldb*colsB + 1)
				g.strideC = int64(g.ldc*n + 7)
				fill := func(n int64) []float32 {
					v := make([]float32, n)
					for i := range v {
						v[i] = r.Float32()*2 - 1
					}
					return v
				}
				a, b := fill(g.strideA*3), fill(g.strideB*3)
				c := make([]float32, g.strideC*3)
				for i := range c {
					c[i] = guard
				}
				for bi := 0; bi < 3; bi++ {
					for j := 0; j < n; j++ {
						for i := 0; i < m; i++ {
							if beta == 0 {
								c[int64(bi)*g.strideC+int64(i+j*g.ldc)] = float32(math.NaN()) // must not be read
							} else {
								c[int64(bi)*g.strideC+int64(i+j*g.ldc)] = r.Float32()
							}
						}
					}
				}
				g.a, g.b, g.c = e.f32(a), e.f32(b), e.f32(c)
				want := append([]float32(nil), c...)
				gemmRef(g, a, b, want)
				if err := e.d.gemm(g); err != nil {
					t.Fatal(err)
				}
				got := e.readF32(g.c, len(c))
				for i := range got {
					ok := got[i] == want[i]
					if runtime.GOARCH != "amd64" { // elsewhere g++ may contract into FMAs
						ok = math.Abs(float64(got[i]-want[i])) <= 1e-5*float64(k+1)
					}
					if !ok {
						t.Fatalf("m=%d n=%d k=%d transA=%v transB=%v beta=%v: C[%d] = %v, want %v (guard %v)",
							m, n, k, g.transA, g.transB, beta, i, got[i], want[i], float32(guard))
					}
				}
			}
		}
	}
	// cuBLAS's argument checks.
	bad := gemmArgs{m: 4, n: 4, k: 4, lda: 3, ldb: 4, ldc: 4, batch: 1, a: 256, b: 256, c: 256}
	if err := e.d.gemm(bad); err == nil || !strings.Contains(err.Error(), "lda < 4") {
		t.Errorf("lda 3 for m 4: %v", err)
	}
}

// BenchmarkEmuLaunch times launches of 100k elements with 256-thread
// blocks: emu_axpy (one element per thread, 391 blocks), the real
// fill_f32 (ELEMENTWISE grid: 98 blocks, float4 grid-stride) and
// reduce_partials_f32 (49 blocks with shuffles and barriers).
func BenchmarkEmuLaunch(b *testing.B) {
	const n = 100_000
	e := newEmu(b)
	x, y := e.f32(make([]float32, n)), e.f32(make([]float32, n))
	partials := e.f32(make([]float32, 1024))
	var a args
	cases := []struct {
		name string
		grid int
		pack func()
	}{
		{"emu_axpy", (n + 255) / 256, func() { a.reset().p(y).f(0.5).p(x).i(n) }},
		{"fill_f32", elementwiseGrid(n), func() { a.reset().p(y).f(1).i(n) }},
		{"reduce_partials_f32", (n + 8*256 - 1) / (8 * 256), func() { a.reset().p(partials).p(x).p(x).i(n).i(0) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			f := e.fn(c.name)
			b.SetBytes(4 * n)
			for b.Loop() {
				c.pack()
				if err := e.d.launch(f, d1(uint32(c.grid)), d1(256), &a); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEmuGemm times the reference SGEMM at 256³.
func BenchmarkEmuGemm(b *testing.B) {
	const s = 256
	e := newEmu(b)
	m := e.f32(make([]float32, s*s))
	for _, tr := range []struct{ a, b bool }{{false, false}, {true, false}} {
		g := gemmArgs{transA: tr.a, transB: tr.b, m: s, n: s, k: s, alpha: 1, a: m, b: m, c: e.f32(make([]float32, s*s)), lda: s, ldb: s, ldc: s, batch: 1}
		name := "NN"
		if tr.a {
			name = "TN"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if err := e.d.gemm(g); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(2*s*s*s*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
