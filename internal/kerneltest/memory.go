package kerneltest

import (
	"fmt"
	"testing"

	"github.com/gotrain/gotrain/kernels"
)

// Fill checks Fill: x[i] = v for i < n.
func Fill(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	for _, n := range elemSizes {
		for _, v := range []float32{0, -1.5, 3.25e7} {
			name := fmt.Sprintf("fill n=%d v=%g", n, v)
			x := h.out(n)
			h.run(name, func() error { return b.Fill(x, v, n) })
			want := make([]float32, n)
			for i := range want {
				want[i] = v
			}
			compareExact(t, name, h.read(name, x), want)
		}
	}
}

// Copy checks Copy: dst[i] = src[i] for i < n.
func Copy(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	r := newRand(2)
	for _, n := range elemSizes {
		name := fmt.Sprintf("copy n=%d", n)
		x := normal(r, n, 1)
		src, dst := h.in(x), h.out(n)
		h.run(name, func() error { return b.Copy(dst, src, n) })
		compareExact(t, name, h.read(name, dst), x)
		compareExact(t, name+" src", h.read(name+" src", src), x)
	}
}

// Axpy checks Axpy: y[i] += alpha*x[i], on whole buffers and on views at an
// offset into a larger buffer (elements outside the view stay untouched).
func Axpy(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	r := newRand(3)
	for _, n := range elemSizes {
		for _, alpha := range []float32{1, -0.75, 0} {
			name := fmt.Sprintf("axpy n=%d alpha=%g", n, alpha)
			x, y0 := uniform(r, n, -1, 1), uniform(r, n, -1, 1)
			xb, yb := h.in(x), h.in(y0)
			h.run(name, func() error { return b.Axpy(yb, alpha, xb, n) })
			contrib := make([]float64, n)
			for i := range contrib {
				contrib[i] = float64(alpha) * float64(x[i])
			}
			compareAccum(t, name, h.read(name, yb), y0, contrib, 1e-7, 1e-6)
		}

		// Views: y and x live at offsets 3 and 1 of larger buffers.
		name := fmt.Sprintf("axpy view n=%d", n)
		const off = 3
		x, y0 := uniform(r, n+2, -1, 1), uniform(r, n+2*off, -1, 1)
		xb, yb := h.in(x), h.in(y0)
		xv, err := b.View(xb, 1, n)
		if err != nil {
			t.Fatalf("%s: view: %v", name, err)
		}
		yv, err := b.View(yb, off, n)
		if err != nil {
			t.Fatalf("%s: view: %v", name, err)
		}
		if xv.Len() != n || yv.Len() != n {
			t.Fatalf("%s: views have %d and %d elements, want %d", name, xv.Len(), yv.Len(), n)
		}
		h.run(name, func() error { return b.Axpy(yv, 2, xv, n) })
		contrib := make([]float64, n+2*off)
		for i := 0; i < n; i++ {
			contrib[off+i] = 2 * float64(x[1+i])
		}
		compareAccum(t, name, h.read(name, yb), y0, contrib, 1e-7, 1e-6)
	}
}
