package cpufallback

import (
	"testing"

	"github.com/gotrain/gotrain/kernels"
)

// TestNoAllocs checks that kernels allocate nothing per call once warm.
func TestNoAllocs(t *testing.T) {
	const n = 100003
	const rows, cols = 1009, 99
	b := New(4)
	buf := func(k int) kernels.Buffer {
		x, _ := b.Alloc(kernels.F32, k)
		f := x.(*Buffer).F
		for i := range f {
			f[i] = float32(i%17)*0.1 - 0.8
		}
		return x
	}
	x, y, dx, dy, m, v := buf(n), buf(n), buf(n), buf(n), buf(n), buf(n)
	for i := range m.(*Buffer).F {
		v.(*Buffer).F[i] = float32(i%5) * 0.01
	}
	one := buf(1)
	logits, probs, losses := buf(rows*cols), buf(rows*cols), buf(rows)
	labels, _ := b.Alloc(kernels.I32, rows)
	for i := range labels.(*Buffer).I {
		labels.(*Buffer).I[i] = int32(i % cols)
	}
	hp := kernels.AdamParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: 3}
	cases := []struct {
		name string
		fn   func() error
	}{
		{"GELUForward", func() error { return b.GELUForward(y, x, n) }},
		{"GELUBackward", func() error { return b.GELUBackward(dx, dy, x, n) }},
		{"CrossEntropyForward", func() error { return b.CrossEntropyForward(losses, probs, logits, labels, rows, cols) }},
		{"CrossEntropyBackward", func() error { return b.CrossEntropyBackward(logits, losses, probs, labels, rows, cols) }},
		{"SoftmaxForward", func() error { return b.SoftmaxForward(probs, logits, rows, cols) }},
		{"AdamWUpdate", func() error { return b.AdamWUpdate(y, dy, m, v, hp, n) }},
		{"SGDUpdate", func() error {
			return b.SGDUpdate(y, dy, m, kernels.SGDParams{LR: 0.1, Momentum: 0.9, Nesterov: true}, n)
		}},
		{"SumForward", func() error { return b.SumForward(one, x, n) }},
		{"MSEForward", func() error { return b.MSEForward(one, x, y, n) }},
		{"SumSquares", func() error { return b.SumSquares(one, x, n) }},
		{"DropoutForward", func() error { return b.DropoutForward(y, m, x, 0.3, 7, n) }},
		{"BiasAddBackward", func() error { return b.BiasAddBackward(losses, logits, cols, rows) }},
		{"BiasAddBackwardNarrow", func() error { return b.BiasAddBackward(one, x, n, 1) }},
		{"ArgMax", func() error { return b.ArgMax(labels, logits, rows, cols) }},
	}
	for _, c := range cases {
		if err := c.fn(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if a := testing.AllocsPerRun(20, func() { _ = c.fn() }); a != 0 {
			t.Errorf("%s: %v allocations per call, want 0", c.name, a)
		}
	}
}
