package kerneltest

import (
	"fmt"
	"math"
	"testing"

	"github.com/gotrain/gotrain/kernels"
)

// dropoutMask is the contract's mask in float32.
func dropoutMask(p float32, seed uint64, n int) []float32 {
	m := make([]float32, n)
	scale := 1 / (1 - p)
	for i := range m {
		if kernels.DropoutUniform(seed, i) >= p {
			m[i] = scale
		}
	}
	return m
}

// DropoutForward checks inverted dropout: the mask must keep exactly the
// elements kernels.DropoutUniform keeps, with value 1/(1-p); y = x·mask; and
// the kept fraction is near 1-p.
func DropoutForward(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	r := newRand(70)
	for _, n := range elemSizes {
		for k, p := range []float32{0, 0.1, 0.5, 0.9} {
			seed := uint64(1000*n + k)
			name := fmt.Sprintf("dropout_forward n=%d p=%g seed=%d", n, p, seed)
			x := uniform(r, n, -2, 2)
			xb, yb, mb := h.in(x), h.out(n), h.out(n)
			h.run(name, func() error { return b.DropoutForward(yb, mb, xb, p, seed, n) })
			gotM, gotY := h.read(name+" mask", mb), h.read(name+" y", yb)

			wantM := dropoutMask(p, seed, n)
			// Which elements are kept must match exactly; the kept value to
			// within the rounding of 1/(1-p).
			bad, kept := 0, 0
			for i := range wantM {
				if gotM[i] != 0 {
					kept++
				}
				if (gotM[i] == 0) != (wantM[i] == 0) {
					if bad < maxReport {
						t.Errorf("%s: mask[%d] = %v, want %v (DropoutUniform = %v)", name, i, gotM[i], wantM[i], kernels.DropoutUniform(seed, i))
					}
					bad++
				}
			}
			if bad > maxReport {
				t.Errorf("%s: %d of %d mask elements kept/dropped wrongly", name, bad, n)
			}
			compareAR(t, name+" mask", gotM, to64(wantM), 0, 4*u)
			wantY := make([]float64, n)
			for i := range wantY {
				wantY[i] = float64(x[i]) * float64(wantM[i])
			}
			compareAR(t, name+" y", gotY, wantY, 0, 6*u)

			if n >= 1000 {
				frac := float64(kept) / float64(n)
				sd := math.Sqrt(float64(p) * float64(1-p) / float64(n))
				if math.Abs(frac-float64(1-p)) > 5*sd+1/float64(n) {
					t.Errorf("%s: kept fraction %.4f, want %.4f ± %.4f", name, frac, 1-p, 5*sd)
				}
			}
		}
	}
}

// DropoutBackward checks dx += dy·mask and finite differences of
// L = Σ dy·x·mask.
func DropoutBackward(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	r := newRand(71)
	for _, n := range elemSizes {
		for _, p := range []float32{0, 0.3} {
			name := fmt.Sprintf("dropout_backward n=%d p=%g", n, p)
			mask := dropoutMask(p, uint64(n), n)
			dy, dx0 := uniform(r, n, -1, 1), uniform(r, n, -1, 1)
			dxb, dyb, mb := h.in(dx0), h.in(dy), h.in(mask)
			h.run(name, func() error { return b.DropoutBackward(dxb, dyb, mb, n) })
			got := h.read(name, dxb)
			contrib := make([]float64, n)
			for i := range contrib {
				contrib[i] = float64(dy[i]) * float64(mask[i])
			}
			compareAccum(t, name, got, dx0, contrib, 1e-7, 4*u)
			loss := func(i int, v float64) float64 { return float64(dy[i]) * v * float64(mask[i]) }
			checkFD(t, name, to64(uniform(r, n, -1, 1)), contribution(got, dx0), fdIndices(r, n, nil), loss, 1e-5, 1e-4)
		}
	}
}
