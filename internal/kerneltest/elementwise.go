package kerneltest

import (
	"fmt"
	"testing"

	"github.com/gotrain/gotrain/kernels"
)

// binaryForward checks y = f(a, b) elementwise.
func binaryForward(t *testing.T, b kernels.Backend, op string, seed uint64,
	kern func(y, a, b kernels.Buffer, n int) error, f func(a, b float64) float64) {
	h := newHarness(t, b)
	r := newRand(seed)
	for _, n := range elemSizes {
		name := fmt.Sprintf("%s n=%d", op, n)
		x1, x2 := uniform(r, n, -2, 2), uniform(r, n, -2, 2)
		ab, bb, yb := h.in(x1), h.in(x2), h.out(n)
		h.run(name, func() error { return kern(yb, ab, bb, n) })
		want := make([]float64, n)
		for i := range want {
			want[i] = f(float64(x1[i]), float64(x2[i]))
		}
		compareAR(t, name, h.read(name, yb), want, 1e-7, 2*u)
	}
}

// Add checks y[i] = a[i] + b[i].
func Add(t *testing.T, b kernels.Backend) {
	binaryForward(t, b, "add", 20, b.Add, func(x, y float64) float64 { return x + y })
}

// Mul checks y[i] = a[i] * b[i].
func Mul(t *testing.T, b kernels.Backend) {
	binaryForward(t, b, "mul", 21, b.Mul, func(x, y float64) float64 { return x * y })
}

// binaryBackward checks the backward of y = f(a, b): da += dy·∂f/∂a and
// db += dy·∂f/∂b, with either gradient nil, against the reference and finite
// differences of L = Σ dy·f(a, b).
func binaryBackward(t *testing.T, b kernels.Backend, op string, seed uint64,
	kern func(da, db, dy, a, b kernels.Buffer, n int) error,
	f func(a, b float64) float64, dfa, dfb func(a, b float64) float64) {
	h := newHarness(t, b)
	r := newRand(seed)
	for _, n := range elemSizes {
		for _, which := range []string{"both", "da only", "db only"} {
			name := fmt.Sprintf("%s n=%d %s", op, n, which)
			x1, x2, dy := uniform(r, n, -2, 2), uniform(r, n, -2, 2), uniform(r, n, -1, 1)
			da0, db0 := uniform(r, n, -1, 1), uniform(r, n, -1, 1)
			ab, bb, dyb := h.in(x1), h.in(x2), h.in(dy)
			var dab, dbb kernels.Buffer
			if which != "db only" {
				dab = h.in(da0)
			}
			if which != "da only" {
				dbb = h.in(db0)
			}
			h.run(name, func() error { return kern(dab, dbb, dyb, ab, bb, n) })
			a64, b64 := to64(x1), to64(x2)
			if dab != nil {
				got := h.read(name+" da", dab)
				contrib := make([]float64, n)
				for i := range contrib {
					contrib[i] = float64(dy[i]) * dfa(a64[i], b64[i])
				}
				compareAccum(t, name+" da", got, da0, contrib, 1e-7, 4*u)
				loss := func(i int, v float64) float64 { return float64(dy[i]) * f(v, b64[i]) }
				checkFD(t, name+" da", a64, contribution(got, da0), fdIndices(r, n, nil), loss, 1e-5, 1e-4)
			}
			if dbb != nil {
				got := h.read(name+" db", dbb)
				contrib := make([]float64, n)
				for i := range contrib {
					contrib[i] = float64(dy[i]) * dfb(a64[i], b64[i])
				}
				compareAccum(t, name+" db", got, db0, contrib, 1e-7, 4*u)
				loss := func(i int, v float64) float64 { return float64(dy[i]) * f(a64[i], v) }
				checkFD(t, name+" db", b64, contribution(got, db0), fdIndices(r, n, nil), loss, 1e-5, 1e-4)
			}
		}
		// Both gradients nil: nothing to do, and no error.
		name := fmt.Sprintf("%s n=%d both nil", op, n)
		x1, x2, dy := h.in(uniform(r, n, -1, 1)), h.in(uniform(r, n, -1, 1)), h.in(uniform(r, n, -1, 1))
		h.run(name, func() error { return kern(nil, nil, dy, x1, x2, n) })
	}
}

// AddBackward checks da += dy, db += dy (either may be nil).
func AddBackward(t *testing.T, b kernels.Backend) {
	binaryBackward(t, b, "add_backward", 22,
		func(da, db, dy, _, _ kernels.Buffer, n int) error { return b.AddBackward(da, db, dy, n) },
		func(x, y float64) float64 { return x + y },
		func(x, y float64) float64 { return 1 },
		func(x, y float64) float64 { return 1 })
}

// MulBackward checks da += dy·b, db += dy·a (either may be nil).
func MulBackward(t *testing.T, b kernels.Backend) {
	binaryBackward(t, b, "mul_backward", 23, b.MulBackward,
		func(x, y float64) float64 { return x * y },
		func(x, y float64) float64 { return y },
		func(x, y float64) float64 { return x })
}

// Scale checks y[i] = alpha·x[i].
func Scale(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	r := newRand(24)
	for _, n := range elemSizes {
		for _, alpha := range []float32{0.3, -2, 0} {
			name := fmt.Sprintf("scale n=%d alpha=%g", n, alpha)
			x := uniform(r, n, -2, 2)
			xb, yb := h.in(x), h.out(n)
			h.run(name, func() error { return b.Scale(yb, xb, alpha, n) })
			want := make([]float64, n)
			for i := range want {
				want[i] = float64(alpha) * float64(x[i])
			}
			compareAR(t, name, h.read(name, yb), want, 1e-7, 2*u)
		}
	}
}

// ScaleBackward checks dx += alpha·dy, and finite differences of
// L = Σ dy·alpha·x.
func ScaleBackward(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	r := newRand(25)
	for _, n := range elemSizes {
		for _, alpha := range []float32{0.3, -2} {
			name := fmt.Sprintf("scale_backward n=%d alpha=%g", n, alpha)
			dy, dx0 := uniform(r, n, -1, 1), uniform(r, n, -1, 1)
			dyb, dxb := h.in(dy), h.in(dx0)
			h.run(name, func() error { return b.ScaleBackward(dxb, dyb, alpha, n) })
			got := h.read(name, dxb)
			contrib := make([]float64, n)
			for i := range contrib {
				contrib[i] = float64(alpha) * float64(dy[i])
			}
			compareAccum(t, name, got, dx0, contrib, 1e-7, 4*u)
			x := to64(uniform(r, n, -1, 1))
			loss := func(i int, v float64) float64 { return float64(dy[i]) * float64(alpha) * v }
			checkFD(t, name, x, contribution(got, dx0), fdIndices(r, n, nil), loss, 1e-5, 1e-4)
		}
	}
}
