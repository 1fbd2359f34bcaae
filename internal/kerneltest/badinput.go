package kerneltest

import (
	"errors"
	"strings"
	"testing"

	"github.com/gotrain/gotrain/kernels"
)

// normalize lower-cases s and drops separators, so that the method name
// "CrossEntropyForward" matches an op named "cross_entropy_forward".
func normalize(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '_', '-', ' ':
			return -1
		}
		return r
	}, strings.ToLower(s))
}

func isPanic(err error) bool {
	var p *panicError
	return errors.As(err, &p)
}

// BadInputs checks that kernels given a buffer that is too short, of the
// wrong dtype or nil where it is required, or a negative size, return an
// error that wraps kernels.ErrShape and names the kernel, without panicking.
func BadInputs(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	f := func(n int) kernels.Buffer { return h.alloc(kernels.F32, n) }
	i := func(n int) kernels.Buffer { return h.alloc(kernels.I32, n) }
	adam := kernels.AdamParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1}
	cases := []struct {
		method, what string
		call         func() error
	}{
		{"Fill", "short x", func() error { return b.Fill(f(5), 1, 6) }},
		{"Fill", "negative n", func() error { return b.Fill(f(5), 1, -1) }},
		{"Fill", "int32 x", func() error { return b.Fill(i(5), 1, 5) }},
		{"Copy", "int32 src", func() error { return b.Copy(f(8), i(8), 8) }},
		{"Axpy", "short x", func() error { return b.Axpy(f(8), 1, f(7), 8) }},
		{"MatMul", "short C", func() error { return b.MatMul(f(5), f(6), f(9), kernels.MatMulParams{M: 2, N: 3, K: 3, Alpha: 1}) }},
		{"MatMul", "A short for the batch", func() error {
			return b.MatMul(f(18), f(6), f(27), kernels.MatMulParams{Batch: 3, M: 2, N: 3, K: 3, Alpha: 1})
		}},
		{"MatMul", "int32 B", func() error { return b.MatMul(f(6), f(6), i(9), kernels.MatMulParams{M: 2, N: 3, K: 3, Alpha: 1}) }},
		{"MatMul", "negative M", func() error { return b.MatMul(f(6), f(6), f(9), kernels.MatMulParams{M: -1, N: 3, K: 3, Alpha: 1}) }},
		{"BiasAdd", "short bias", func() error { return b.BiasAdd(f(6), f(6), f(2), 2, 3) }},
		{"BiasAddBackward", "short dy", func() error { return b.BiasAddBackward(f(3), f(5), 2, 3) }},
		{"Add", "short b", func() error { return b.Add(f(4), f(4), f(3), 4) }},
		{"AddBackward", "short da", func() error { return b.AddBackward(f(3), nil, f(4), 4) }},
		{"Mul", "int32 y", func() error { return b.Mul(i(4), f(4), f(4), 4) }},
		{"MulBackward", "int32 b", func() error { return b.MulBackward(f(4), f(4), f(4), f(4), i(4), 4) }},
		{"Scale", "short y", func() error { return b.Scale(f(3), f(4), 2, 4) }},
		{"ScaleBackward", "short dy", func() error { return b.ScaleBackward(f(4), f(3), 2, 4) }},
		{"ReLUForward", "short x", func() error { return b.ReLUForward(f(4), f(3), 4) }},
		{"ReLUBackward", "short x", func() error { return b.ReLUBackward(f(4), f(4), f(3), 4) }},
		{"GELUForward", "short y", func() error { return b.GELUForward(f(3), f(4), 4) }},
		{"GELUBackward", "int32 dx", func() error { return b.GELUBackward(i(4), f(4), f(4), 4) }},
		{"TanhForward", "short x", func() error { return b.TanhForward(f(4), f(3), 4) }},
		{"TanhBackward", "short y", func() error { return b.TanhBackward(f(4), f(4), f(3), 4) }},
		{"SigmoidForward", "int32 x", func() error { return b.SigmoidForward(f(4), i(4), 4) }},
		{"SigmoidBackward", "short dy", func() error { return b.SigmoidBackward(f(4), f(3), f(4), 4) }},
		{"SoftmaxForward", "short x", func() error { return b.SoftmaxForward(f(6), f(5), 2, 3) }},
		{"SoftmaxBackward", "short dy", func() error { return b.SoftmaxBackward(f(6), f(5), f(6), 2, 3) }},
		{"CrossEntropyForward", "float32 labels", func() error { return b.CrossEntropyForward(f(2), f(6), f(6), f(2), 2, 3) }},
		{"CrossEntropyForward", "short losses", func() error { return b.CrossEntropyForward(f(1), f(6), f(6), i(2), 2, 3) }},
		{"CrossEntropyBackward", "short labels", func() error { return b.CrossEntropyBackward(f(6), f(2), f(6), i(1), 2, 3) }},
		{"MSEForward", "empty loss", func() error { return b.MSEForward(f(0), f(4), f(4), 4) }},
		{"MSEBackward", "empty dloss", func() error { return b.MSEBackward(f(4), f(0), f(4), f(4), 4) }},
		{"SumForward", "empty y", func() error { return b.SumForward(f(0), f(4), 4) }},
		{"SumBackward", "short dx", func() error { return b.SumBackward(f(3), f(1), 4) }},
		{"MeanForward", "short x", func() error { return b.MeanForward(f(1), f(3), 4) }},
		{"MeanBackward", "empty dy", func() error { return b.MeanBackward(f(4), f(0), 4) }},
		{"ArgMax", "float32 out", func() error { return b.ArgMax(f(2), f(6), 2, 3) }},
		{"ArgMax", "short x", func() error { return b.ArgMax(i(2), f(5), 2, 3) }},
		{"DropoutForward", "short mask", func() error { return b.DropoutForward(f(4), f(3), f(4), 0.5, 1, 4) }},
		{"DropoutBackward", "int32 mask", func() error { return b.DropoutBackward(f(4), f(4), i(4), 4) }},
		{"L1Forward", "empty out", func() error { return b.L1Forward(f(0), f(4), 1, 4) }},
		{"L1Backward", "short w", func() error { return b.L1Backward(f(4), f(1), f(3), 1, 4) }},
		{"L2Forward", "short w", func() error { return b.L2Forward(f(1), f(3), 1, 4) }},
		{"L2Backward", "empty dout", func() error { return b.L2Backward(f(4), f(0), f(4), 1, 4) }},
		{"SumSquares", "empty acc", func() error { return b.SumSquares(f(0), f(4), 4) }},
		{"ClipByGlobalNorm", "empty sumSq", func() error { return b.ClipByGlobalNorm(f(4), f(0), 1, 4) }},
		{"SGDUpdate", "nil vel with momentum", func() error {
			return b.SGDUpdate(f(4), f(4), nil, kernels.SGDParams{LR: 0.1, Momentum: 0.9}, 4)
		}},
		{"SGDUpdate", "short grad", func() error { return b.SGDUpdate(f(4), f(3), nil, kernels.SGDParams{LR: 0.1}, 4) }},
		{"AdamUpdate", "short v", func() error { return b.AdamUpdate(f(4), f(4), f(4), f(3), adam, 4) }},
		{"AdamWUpdate", "int32 m", func() error { return b.AdamWUpdate(f(4), f(4), i(4), f(4), adam, 4) }},
	}
	for _, c := range cases {
		err := catch(c.call)
		switch {
		case err == nil:
			t.Errorf("%s with %s: no error", c.method, c.what)
		case isPanic(err):
			t.Errorf("%s with %s: %v", c.method, c.what, err)
		default:
			if !errors.Is(err, kernels.ErrShape) {
				t.Errorf("%s with %s: error %q does not wrap kernels.ErrShape", c.method, c.what, err)
			}
			if !strings.Contains(normalize(err.Error()), normalize(c.method)) {
				t.Errorf("%s with %s: error %q does not name the kernel", c.method, c.what, err)
			}
		}
	}
	// A backend may report a bad launch at Sync instead; either way the
	// error must not linger into the next test.
	_ = b.Sync()

	// A failed Fill leaves its buffer alone.
	x := []float32{1, 2, 3, 4, 5}
	xb := h.in(x)
	if err := catch(func() error { return b.Fill(xb, 9, len(x)+guard+1) }); err == nil {
		t.Errorf("Fill past the end of the buffer: no error")
	}
	compareExact(t, "fill after error", h.read("fill after error", xb), x)
}
