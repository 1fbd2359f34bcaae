package kerneltest

import (
	"fmt"
	"math"
	"testing"

	"github.com/gotrain/gotrain/kernels"
)

// penalty describes L1 or L2: out[0] = lambda·Σ term(w), dw += dout·lambda·dterm(w).
type penalty struct {
	op    string
	seed  uint64
	term  func(w float64) float64
	dterm func(w float64) float64
	kink  bool
}

var l1 = penalty{
	op: "l1", seed: 80,
	term: math.Abs,
	dterm: func(w float64) float64 {
		switch {
		case w > 0:
			return 1
		case w < 0:
			return -1
		}
		return 0
	},
	kink: true,
}

var l2 = penalty{
	op: "l2", seed: 81,
	term:  func(w float64) float64 { return w * w / 2 },
	dterm: func(w float64) float64 { return w },
}

// weights returns n weights away from 0, with a few exact zeros (sign(0) = 0).
func (pn penalty) weights(seed uint64, n int) []float32 {
	w := uniform(newRand(seed), n, -1, 1)
	awayFromZero(w, 1e-2)
	for i := 3; i < n; i += 97 {
		w[i] = 0
	}
	return w
}

func (pn penalty) forward(t *testing.T, b kernels.Backend, kern func(out, w kernels.Buffer, lambda float32, n int) error) {
	h := newHarness(t, b)
	for k, n := range elemSizes {
		for _, lambda := range []float32{1, 0.01} {
			name := fmt.Sprintf("%s_forward n=%d lambda=%g", pn.op, n, lambda)
			w := pn.weights(pn.seed+uint64(k), n)
			wb, ob := h.in(w), h.out(1)
			h.run(name, func() error { return kern(ob, wb, lambda, n) })
			terms := make([]float64, n)
			var s float64
			for i, v := range w {
				terms[i] = pn.term(float64(v))
				s += terms[i]
			}
			want := float64(lambda) * s
			tol := float64(lambda)*sumTol(terms) + 4*u*want
			compare(t, name, h.read(name, ob), []float64{want}, func(int) float64 { return tol })
		}
	}
}

func (pn penalty) backward(t *testing.T, b kernels.Backend, kern func(dw, dout, w kernels.Buffer, lambda float32, n int) error) {
	h := newHarness(t, b)
	r := newRand(pn.seed + 100)
	for k, n := range elemSizes {
		for _, c := range []struct{ lambda, dout float32 }{{1, 1}, {0.01, -3}} {
			name := fmt.Sprintf("%s_backward n=%d lambda=%g dout=%g", pn.op, n, c.lambda, c.dout)
			w, dw0 := pn.weights(pn.seed+uint64(k), n), uniform(r, n, -1, 1)
			dwb, db, wb := h.in(dw0), h.in([]float32{c.dout}), h.in(w)
			h.run(name, func() error { return kern(dwb, db, wb, c.lambda, n) })
			got := h.read(name, dwb)
			contrib := make([]float64, n)
			for i := range contrib {
				contrib[i] = float64(c.dout) * float64(c.lambda) * pn.dterm(float64(w[i]))
			}
			compareAccum(t, name, got, dw0, contrib, 1e-8, 4*u)
			loss := func(i int, v float64) float64 { return float64(c.dout) * float64(c.lambda) * pn.term(v) }
			var skip func(int) bool
			if pn.kink {
				skip = func(i int) bool { return w[i] == 0 }
			}
			checkFD(t, name, to64(w), contribution(got, dw0), fdIndices(r, n, skip), loss, 1e-6, 1e-3)
		}
	}
}

// L1Forward checks out[0] = lambda·Σ|w|.
func L1Forward(t *testing.T, b kernels.Backend) { l1.forward(t, b, b.L1Forward) }

// L1Backward checks dw += dout·lambda·sign(w), sign(0) = 0.
func L1Backward(t *testing.T, b kernels.Backend) { l1.backward(t, b, b.L1Backward) }

// L2Forward checks out[0] = lambda/2·Σ w².
func L2Forward(t *testing.T, b kernels.Backend) { l2.forward(t, b, b.L2Forward) }

// L2Backward checks dw += dout·lambda·w.
func L2Backward(t *testing.T, b kernels.Backend) { l2.backward(t, b, b.L2Backward) }

// SumSquares checks acc[0] += Σ x², accumulating onto a non-zero acc.
func SumSquares(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	r := newRand(82)
	for _, n := range elemSizes {
		for _, acc0 := range []float32{0, 3.5} {
			name := fmt.Sprintf("sum_squares n=%d acc=%g", n, acc0)
			x := uniform(r, n, -1, 1)
			xb, ab := h.in(x), h.in([]float32{acc0})
			h.run(name, func() error { return b.SumSquares(ab, xb, n) })
			terms := make([]float64, n+1)
			terms[0] = float64(acc0)
			for i, v := range x {
				terms[i+1] = float64(v) * float64(v)
			}
			var want float64
			for _, v := range terms {
				want += v
			}
			tol := sumTol(terms) + 2*u*want
			compare(t, name, h.read(name, ab), []float64{want}, func(int) float64 { return tol })
		}
	}
}

// ClipByGlobalNorm checks x *= maxNorm/(sqrt(sumSq)+1e-6) when that is below
// 1, leaves x bitwise untouched otherwise (also when sumSq is 0), and that
// SumSquares followed by ClipByGlobalNorm gives a norm of maxNorm.
func ClipByGlobalNorm(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	r := newRand(83)
	for _, n := range elemSizes {
		x := uniform(r, n, -1, 1)
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		norm := math.Sqrt(ss)
		for _, c := range []struct {
			what    string
			sumSq   float32
			maxNorm float32
		}{
			{"clip", float32(ss), float32(norm / 2)},
			{"clip hard", float32(ss), 1e-3},
			{"no clip", float32(ss), float32(norm * 2)},
			{"zero norm", 0, 1},
		} {
			name := fmt.Sprintf("clip_by_global_norm n=%d %s", n, c.what)
			xb, sb := h.in(x), h.in([]float32{c.sumSq})
			h.run(name, func() error { return b.ClipByGlobalNorm(xb, sb, c.maxNorm, n) })
			got := h.read(name, xb)
			s := float64(c.maxNorm) / (math.Sqrt(float64(c.sumSq)) + 1e-6)
			if s >= 1 {
				compareExact(t, name, got, x)
			} else {
				want := make([]float64, n)
				for i := range want {
					want[i] = float64(x[i]) * s
				}
				compareAR(t, name, got, want, 0, 8*u)
			}
			compareExact(t, name+" sumSq", h.read(name+" sumSq", sb), []float32{c.sumSq})
		}

		// On the device: acc = 0; acc += Σx²; clip to maxNorm = norm/3.
		name := fmt.Sprintf("clip_by_global_norm n=%d after sum_squares", n)
		xb, ab := h.in(x), h.in([]float32{7})
		maxNorm := float32(norm / 3)
		h.run(name+" fill", func() error { return b.Fill(ab, 0, 1) })
		h.run(name+" sum_squares", func() error { return b.SumSquares(ab, xb, n) })
		h.run(name, func() error { return b.ClipByGlobalNorm(xb, ab, maxNorm, n) })
		got := to64(h.read(name, xb))
		var gs float64
		for _, v := range got {
			gs += v * v
		}
		if math.Abs(math.Sqrt(gs)-float64(maxNorm)) > 1e-4*float64(maxNorm)+1e-6 {
			t.Errorf("%s: norm after clipping %.7g, want %.7g", name, math.Sqrt(gs), maxNorm)
		}
	}
}
