package kerneltest

import (
	"fmt"
	"testing"

	"github.com/gotrain/gotrain/kernels"
)

// reduceForward checks y[0] = scale·Σ x.
func reduceForward(t *testing.T, b kernels.Backend, op string, seed uint64, mean bool, kern func(y, x kernels.Buffer, n int) error) {
	h := newHarness(t, b)
	r := newRand(seed)
	for _, n := range elemSizes {
		for _, shift := range []float64{0, 3} {
			name := fmt.Sprintf("%s n=%d mean(x)≈%g", op, n, shift)
			x := uniform(r, n, shift-1, shift+1)
			xb, yb := h.in(x), h.out(1)
			h.run(name, func() error { return kern(yb, xb, n) })
			terms := to64(x)
			var s float64
			for _, v := range terms {
				s += v
			}
			tol := sumTol(terms) + 2*u*abs(s)
			if mean {
				s /= float64(n)
				tol /= float64(n)
			}
			compare(t, name, h.read(name, yb), []float64{s}, func(int) float64 { return tol })
		}
	}
}

// reduceBackward checks dx[i] += scale·dy[0] and finite differences of
// L = dy·scale·Σ x.
func reduceBackward(t *testing.T, b kernels.Backend, op string, seed uint64, mean bool, kern func(dx, dy kernels.Buffer, n int) error) {
	h := newHarness(t, b)
	r := newRand(seed)
	for _, n := range elemSizes {
		for _, dy := range []float32{1, -2.5} {
			name := fmt.Sprintf("%s n=%d dy=%g", op, n, dy)
			dx0 := uniform(r, n, -1, 1)
			dxb, dyb := h.in(dx0), h.in([]float32{dy})
			h.run(name, func() error { return kern(dxb, dyb, n) })
			got := h.read(name, dxb)
			scale := 1.0
			if mean {
				scale = 1 / float64(n)
			}
			contrib := make([]float64, n)
			for i := range contrib {
				contrib[i] = float64(dy) * scale
			}
			compareAccum(t, name, got, dx0, contrib, 1e-9, 4*u)
			loss := func(i int, v float64) float64 { return float64(dy) * scale * v }
			checkFD(t, name, to64(uniform(r, n, -1, 1)), contribution(got, dx0), fdIndices(r, n, nil), loss, 1e-6, 1e-3)
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// SumForward checks y[0] = Σ x.
func SumForward(t *testing.T, b kernels.Backend) {
	reduceForward(t, b, "sum_forward", 60, false, b.SumForward)
}

// SumBackward checks dx[i] += dy[0].
func SumBackward(t *testing.T, b kernels.Backend) {
	reduceBackward(t, b, "sum_backward", 61, false, b.SumBackward)
}

// MeanForward checks y[0] = Σ x / n.
func MeanForward(t *testing.T, b kernels.Backend) {
	reduceForward(t, b, "mean_forward", 62, true, b.MeanForward)
}

// MeanBackward checks dx[i] += dy[0] / n.
func MeanBackward(t *testing.T, b kernels.Backend) {
	reduceBackward(t, b, "mean_backward", 63, true, b.MeanBackward)
}

// ArgMax checks out[r] = the first c maximising x[r,c], on random rows and on
// rows of small integers full of ties (including rows all equal).
func ArgMax(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	r := newRand(64)
	for _, sz := range rowSizes {
		rows, cols := sz[0], sz[1]
		for _, ties := range []bool{false, true} {
			name := fmt.Sprintf("argmax rows=%d cols=%d ties=%v", rows, cols, ties)
			x := normal(r, rows*cols, 2)
			if ties {
				for i := range x {
					x[i] = float32(r.IntN(4)) - 2
				}
				if rows > 1 { // one row all equal: the answer is 0
					for c := 0; c < cols; c++ {
						x[cols+c] = -7
					}
				}
			}
			poison := make([]int32, rows)
			for i := range poison {
				poison[i] = -7
			}
			xb, ob := h.in(x), h.inI32(poison)
			h.run(name, func() error { return b.ArgMax(ob, xb, rows, cols) })
			got := h.readI32(name, ob)
			bad := 0
			for rr := 0; rr < rows; rr++ {
				want := 0
				for c := 1; c < cols; c++ {
					if x[rr*cols+c] > x[rr*cols+want] {
						want = c
					}
				}
				if int(got[rr]) != want {
					if bad < maxReport {
						t.Errorf("%s: out[%d] = %d, want %d", name, rr, got[rr], want)
					}
					bad++
				}
			}
			if bad > maxReport {
				t.Errorf("%s: %d of %d rows wrong", name, bad, rows)
			}
		}
	}
}
