//go:build goexperiment.simd && amd64

package cpufallback

import (
	"math/rand"
	"testing"

	"github.com/gotrain/gotrain/kernels"
)

// TestMatMulGenericFallback runs products through the generic micro-kernel
// that the archsimd build uses on CPUs without AVX2 and FMA.
func TestMatMulGenericFallback(t *testing.T) {
	defer func(v, w bool) { gemmAVX2, gemmAVX512 = v, w }(gemmAVX2, gemmAVX512)
	gemmAVX2, gemmAVX512 = false, false
	matMulShapes(t)
}

// TestMatMulAVX2Fallback runs products through the AVX2 micro-kernel (two
// 4×16 halves per tile) that CPUs without AVX-512 use.
func TestMatMulAVX2Fallback(t *testing.T) {
	if !gemmAVX2 {
		t.Skip("no AVX2 and FMA")
	}
	defer func(w bool) { gemmAVX512 = w }(gemmAVX512)
	gemmAVX512 = false
	matMulShapes(t)
}

// matMulShapes checks products of odd shapes, every transposition, against
// the float64 reference.
func matMulShapes(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	be := New(2)
	for _, s := range [][3]int{{1, 1, 1}, {5, 17, 257}, {66, 130, 300}, {9, 33, 70}} {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				p := kernels.MatMulParams{M: s[0], N: s[1], K: s[2], TransA: ta, TransB: tb, Alpha: 0.5, Beta: -1}
				runMatMul(t, be, r, p, false)
			}
		}
	}
}

// BenchmarkGemmMicro compares the archsimd micro-kernels (AVX-512 where the
// CPU has it; AVX2 as two 4×16 halves) with the generic Go one on one
// packed 4×32 tile (kc = 256): the archsimd kernels should be
// several times faster. A much slower AVX2 figure means it fell into the
// AVX-SSE transition penalty (a legacy-SSE instruction while the upper
// halves of the Y registers are dirty). FLOPs per call: 2·4·32·256.
func BenchmarkGemmMicro(b *testing.B) {
	if !gemmAVX2 {
		b.Skip("no AVX2 and FMA")
	}
	const kc = 256
	r := rand.New(rand.NewSource(6))
	a, bb := randSlice(r, kc*gemmMR), randSlice(r, kc*gemmNR)
	c := make([]float32, gemmMR*gemmNR)
	for _, k := range []struct {
		name string
		f    func()
	}{
		{"avx512", func() {
			if gemmAVX512 {
				ab := [2]float32{1, 0.5}
				gemmMicroAVX512(kc, &a[0], &bb[0], &c[0], gemmNR, &ab, true)
			}
		}},
		{"avx2", func() {
			ab := [2]float32{1, 0.5}
			gemmMicroAVX2(kc, &a[0], &bb[0], &c[0], gemmNR, &ab, true)
			gemmMicroAVX2(kc, &a[0], &bb[16], &c[16], gemmNR, &ab, true)
		}},
		{"generic", func() { gemmMicroGeneric(kc, &a[0], &bb[0], &c[0], gemmNR, 1, 0.5) }},
	} {
		b.Run(k.name, func(b *testing.B) {
			for b.Loop() {
				k.f()
			}
			b.ReportMetric(2*gemmMR*gemmNR*kc*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
