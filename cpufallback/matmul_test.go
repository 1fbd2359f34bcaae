package cpufallback

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/gotrain/gotrain/kernels"
)

// naiveMatMul is the contract's reference loop, accumulated in float64.
func naiveMatMul(c, a, b []float32, p kernels.MatMulParams) []float32 {
	out := append([]float32(nil), c...)
	m, n, k := p.M, p.N, p.K
	for bt := 0; bt < p.Batches(); bt++ {
		A, B := a[bt*m*k:], b[bt*k*n:]
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var s float64
				for l := 0; l < k; l++ {
					x := A[i*k+l]
					if p.TransA {
						x = A[l*m+i]
					}
					y := B[l*n+j]
					if p.TransB {
						y = B[j*k+l]
					}
					s += float64(x) * float64(y)
				}
				o := &out[bt*m*n+i*n+j]
				v := float64(p.Alpha) * s
				if p.Beta != 0 {
					v += float64(p.Beta) * float64(*o)
				}
				*o = float32(v)
			}
		}
	}
	return out
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// guard is appended to every C buffer; the kernel must leave it untouched.
const guard = 7

// checkClose compares got with want, |got-want| <= atol + rtol·|want|, and
// reports the first few mismatches.
func checkClose(t *testing.T, name string, got, want []float32, k int) {
	t.Helper()
	atol := 1e-5 * float64(k+1)
	const rtol = 1e-4
	bad := 0
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(w) {
			continue
		}
		if math.IsNaN(g) || math.Abs(g-w) > atol+rtol*math.Abs(w) {
			if bad < 5 {
				t.Errorf("%s: [%d] = %v, want %v", name, i, g, w)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d elements differ", name, bad, len(want))
	}
}

func runMatMul(t *testing.T, be *Backend, r *rand.Rand, p kernels.MatMulParams, poisonC bool) {
	t.Helper()
	bt := p.Batches()
	a := randSlice(r, bt*p.M*p.K)
	b := randSlice(r, bt*p.K*p.N)
	c := randSlice(r, bt*p.M*p.N+guard)
	if poisonC {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	for i := bt * p.M * p.N; i < len(c); i++ {
		c[i] = 12345
	}
	want := naiveMatMul(c[:bt*p.M*p.N], a, b, p)
	got := append([]float32(nil), c...)
	if err := be.MatMul(&Buffer{F: got}, &Buffer{F: a}, &Buffer{F: b}, p); err != nil {
		t.Fatalf("%v: %v", p, err)
	}
	name := fmt.Sprintf("threads=%d %v", be.Threads(), p)
	checkClose(t, name, got[:len(want)], want, p.K)
	for i := len(want); i < len(got); i++ {
		if got[i] != 12345 {
			t.Errorf("%s: guard element %d overwritten: %v", name, i-len(want), got[i])
		}
	}
}

func TestMatMulShapes(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	shapes := []struct{ batch, m, n, k int }{
		{1, 1, 1, 1},
		{1, 3, 5, 7},
		{1, 17, 33, 9},
		{1, 4, 16, 256},
		{1, 5, 17, 257},
		{1, 65, 130, 257}, // several K blocks, parallel
		{1, 130, 20, 300}, // skinny N
		{1, 300, 3, 70},   // N < NR
		{1, 2, 600, 600},  // M < MR, parallel over N
		{1, 5, 2100, 3},   // more than one NC block
		{3, 7, 9, 11},     // batched, serial
		{2, 70, 50, 90},   // batched, batch < threads
		{5, 33, 65, 129},  // batched, batch > threads
		{1, 128, 10, 128}, // MLP output layer
		{1, 67, 130, 400}, // two uneven K blocks (200 + 200)
	}
	betas := []struct{ alpha, beta float32 }{{1, 0}, {0.5, -1.5}, {1, 1}}
	for _, threads := range []int{1, 3} {
		be := New(threads)
		for _, s := range shapes {
			for _, ab := range betas {
				for _, ta := range []bool{false, true} {
					for _, tb := range []bool{false, true} {
						p := kernels.MatMulParams{Batch: s.batch, M: s.m, N: s.n, K: s.k,
							TransA: ta, TransB: tb, Alpha: ab.alpha, Beta: ab.beta}
						runMatMul(t, be, r, p, false)
					}
				}
			}
		}
	}
}

// TestMatMulBetaZeroIgnoresC checks that NaN in C does not reach the result
// when Beta is 0, including on edge tiles and after the first K block.
func TestMatMulBetaZeroIgnoresC(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for _, threads := range []int{1, 2} {
		be := New(threads)
		for _, s := range [][3]int{{3, 5, 7}, {66, 130, 300}, {128, 256, 784}} {
			for _, tr := range []bool{false, true} {
				p := kernels.MatMulParams{M: s[0], N: s[1], K: s[2], TransA: tr, TransB: !tr, Alpha: 1.5}
				runMatMul(t, be, r, p, true)
			}
		}
	}
}

func TestMatMulDegenerate(t *testing.T) {
	be := New(2)
	nan := float32(math.NaN())

	// K == 0: C = Beta·C, and zeros when Beta is 0 whatever C held.
	c := []float32{1, 2, 3, nan, 5, 6}
	if err := be.MatMul(&Buffer{F: c}, &Buffer{F: []float32{}}, &Buffer{F: []float32{}},
		kernels.MatMulParams{M: 2, N: 3, K: 0, Alpha: 1, Beta: 0}); err != nil {
		t.Fatal(err)
	}
	for i, v := range c {
		if v != 0 {
			t.Errorf("K=0, Beta=0: c[%d] = %v, want 0", i, v)
		}
	}
	c = []float32{1, 2, 3, 4, 5, 6}
	if err := be.MatMul(&Buffer{F: c}, &Buffer{F: []float32{}}, &Buffer{F: []float32{}},
		kernels.MatMulParams{Batch: 2, M: 1, N: 3, K: 0, Alpha: 1, Beta: 2}); err != nil {
		t.Fatal(err)
	}
	for i, v := range c {
		if v != float32(2*(i+1)) {
			t.Errorf("K=0, Beta=2: c[%d] = %v, want %v", i, v, 2*(i+1))
		}
	}

	// M or N == 0: nothing is read or written.
	c = []float32{nan}
	for _, p := range []kernels.MatMulParams{{M: 0, N: 4, K: 3, Alpha: 1}, {M: 4, N: 0, K: 3, Alpha: 1}} {
		a, b := make([]float32, p.M*p.K), make([]float32, p.K*p.N)
		if err := be.MatMul(&Buffer{F: c}, &Buffer{F: a}, &Buffer{F: b}, p); err != nil {
			t.Errorf("%v: %v", p, err)
		}
		if !math.IsNaN(float64(c[0])) {
			t.Errorf("%v wrote c", p)
		}
	}
}

func TestMatMulErrors(t *testing.T) {
	be := New(1)
	buf := func(n int) *Buffer { return &Buffer{F: make([]float32, n)} }
	p := kernels.MatMulParams{Batch: 2, M: 3, N: 4, K: 5, TransB: true, Alpha: 1}
	cases := []struct {
		name    string
		c, a, b kernels.Buffer
		p       kernels.MatMulParams
		want    string
	}{
		{"short a", buf(24), buf(29), buf(40), p, "a has 29 elements, want at least 30"},
		{"short b", buf(24), buf(30), buf(39), p, "b has 39 elements, want at least 40"},
		{"short c", buf(23), buf(30), buf(40), p, "c has 23 elements, want at least 24"},
		{"nil a", buf(24), nil, buf(40), p, "a is nil"},
		{"int32 c", &Buffer{I: make([]int32, 24)}, buf(30), buf(40), p, "c has dtype int32"},
		{"negative", buf(24), buf(30), buf(40), kernels.MatMulParams{M: -1, N: 4, K: 5}, "negative"},
	}
	for _, tc := range cases {
		err := be.MatMul(tc.c, tc.a, tc.b, tc.p)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if !errors.Is(err, kernels.ErrShape) {
			t.Errorf("%s: %v does not wrap ErrShape", tc.name, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "matmul") || !strings.Contains(msg, tc.p.String()) || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: error %q should name matmul, %q and %q", tc.name, msg, tc.p.String(), tc.want)
		}
	}
}

// mlpShapes are the products of one training step of a 784-256-128-10 MLP
// at batch 128: forward, dA = dC·Bᵀ and dB = Aᵀ·dC.
var mlpShapes = []kernels.MatMulParams{
	{M: 128, N: 256, K: 784, Alpha: 1},
	{M: 128, N: 128, K: 256, Alpha: 1},
	{M: 128, N: 10, K: 128, Alpha: 1},
	{M: 128, N: 128, K: 10, TransB: true, Alpha: 1},
	{M: 128, N: 256, K: 128, TransB: true, Alpha: 1},
	{M: 784, N: 256, K: 128, TransA: true, Alpha: 1, Beta: 1},
	{M: 256, N: 128, K: 128, TransA: true, Alpha: 1, Beta: 1},
	{M: 128, N: 10, K: 128, TransA: true, Alpha: 1, Beta: 1},
	{Batch: 4, M: 64, N: 64, K: 32, TransB: true, Alpha: 0.125},
}

func TestMatMulMLPShapes(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, threads := range []int{1, 2} {
		be := New(threads)
		for _, p := range mlpShapes {
			runMatMul(t, be, r, p, false)
		}
	}
}

// TestMatMulNoAllocs checks that steady-state calls allocate nothing.
func TestMatMulNoAllocs(t *testing.T) {
	for _, threads := range []int{1, 2, 4} {
		be := New(threads)
		for _, p := range append(mlpShapes, kernels.MatMulParams{M: 20, N: 2100, K: 400, Alpha: 1}) {
			bt := p.Batches()
			a, b, c := buf32(bt*p.M*p.K), buf32(bt*p.K*p.N), buf32(bt*p.M*p.N)
			// The first call sizes the scratch; no later call may allocate.
			if err := be.MatMul(c, a, b, p); err != nil {
				t.Fatal(err)
			}
			n := testing.AllocsPerRun(10, func() {
				if err := be.MatMul(c, a, b, p); err != nil {
					t.Fatal(err)
				}
			})
			if n != 0 {
				t.Errorf("threads=%d %v: %v allocs per call, want 0", threads, p, n)
			}
		}
	}
}

func buf32(n int) *Buffer {
	f := make([]float32, n)
	for i := range f {
		f[i] = float32(i%13)*0.1 - 0.6
	}
	return &Buffer{F: f}
}

// TestGemmMicro checks the build's micro-kernel against the generic one on
// a full tile, with C embedded in a wider row stride.
func TestGemmMicro(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for _, kc := range []int{1, 2, 3, 8, 255, 256} {
		for _, beta := range []float32{0, 1, -0.5} {
			a, b := randSlice(r, kc*gemmMR), randSlice(r, kc*gemmNR)
			const ldc = gemmNR + 3
			c := randSlice(r, gemmMR*ldc)
			want := append([]float32(nil), c...)
			gemmMicro(kc, &a[0], &b[0], &c[0], ldc, 0.75, beta)
			gemmMicroGeneric(kc, &a[0], &b[0], &want[0], ldc, 0.75, beta)
			checkClose(t, fmt.Sprintf("kc=%d beta=%v", kc, beta), c, want, kc)
		}
	}
}

func TestSplitGrid(t *testing.T) {
	for _, tc := range []struct{ parts, pm, pn int }{
		{2, 32, 16}, {2, 1, 40}, {4, 100, 100}, {3, 1, 1}, {8, 2, 3}, {64, 1000, 1},
	} {
		gm, gn := splitGrid(tc.parts, tc.pm, tc.pn)
		if gm < 1 || gn < 1 || gm > max(tc.pm, 1) || gn > max(tc.pn, 1) || gm*gn > tc.parts {
			t.Errorf("splitGrid(%d, %d, %d) = %d, %d", tc.parts, tc.pm, tc.pn, gm, gn)
		}
	}
}
