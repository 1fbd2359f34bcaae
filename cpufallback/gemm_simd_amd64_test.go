//go:build goexperiment.simd && amd64

package cpufallback

import (
	"math/rand"
	"testing"
	"time"

	"github.com/gotrain/gotrain/kernels"
)

// TestMatMulGenericFallback runs products through the generic micro-kernel
// that the archsimd build uses on CPUs without AVX2 and FMA.
func TestMatMulGenericFallback(t *testing.T) {
	defer func(v bool) { gemmAVX2 = v }(gemmAVX2)
	gemmAVX2 = false
	r := rand.New(rand.NewSource(5))
	be := New(2)
	for _, s := range [][3]int{{1, 1, 1}, {5, 17, 257}, {66, 130, 300}} {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				p := kernels.MatMulParams{M: s[0], N: s[1], K: s[2], TransA: ta, TransB: tb, Alpha: 0.5, Beta: -1}
				runMatMul(t, be, r, p, false)
			}
		}
	}
}

// TestGemmMicroAVX2NotSlow guards against the archsimd kernel falling into
// the AVX-SSE transition penalty (a legacy-SSE instruction while the upper
// halves of the Y registers are dirty), which made it 100x slower than
// normal and several times slower than the generic Go kernel. Both kernels
// run interleaved, so a busy machine slows both alike.
func TestGemmMicroAVX2NotSlow(t *testing.T) {
	if !gemmAVX2 {
		t.Skip("no AVX2 and FMA")
	}
	const kc = 256
	r := rand.New(rand.NewSource(6))
	a, b := randSlice(r, kc*gemmMR), randSlice(r, kc*gemmNR)
	c := make([]float32, gemmMR*gemmNR)
	best := func(f func()) time.Duration {
		d := time.Duration(1 << 62)
		for rep := 0; rep < 5; rep++ {
			st := time.Now()
			for i := 0; i < 200; i++ {
				f()
			}
			d = min(d, time.Since(st))
		}
		return d
	}
	var avx, generic time.Duration
	for try := 0; try < 3; try++ {
		avx = best(func() { gemmMicro(kc, &a[0], &b[0], &c[0], gemmNR, 1, 0.5) })
		generic = best(func() { gemmMicroGeneric(kc, &a[0], &b[0], &c[0], gemmNR, 1, 0.5) })
		if 2*avx < generic {
			return
		}
	}
	t.Errorf("AVX2 micro-kernel took %v, generic Go %v: want it at least twice as fast", avx, generic)
}
