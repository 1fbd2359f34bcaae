package kerneltest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gotrain/gotrain/kernels"
)

// activation describes an elementwise non-linearity for the shared forward
// and backward checks.
type activation struct {
	op   string
	seed uint64
	// gen returns n inputs.
	gen func(r *rand.Rand, n int) []float32
	// f is the float64 forward.
	f func(x float64) float64
	// deriv is the contract's derivative given the input x and the float32
	// output y (the backward of Tanh and Sigmoid takes y, the others x).
	deriv func(x, y float64) float64
	// usesY says the backward kernel takes the forward output, not the input.
	usesY bool
	// kink says finite differences must not be taken at x.
	kink func(x float32) bool
}

func (a activation) forward(t *testing.T, b kernels.Backend, kern func(y, x kernels.Buffer, n int) error) {
	h := newHarness(t, b)
	r := newRand(a.seed)
	for _, n := range elemSizes {
		name := fmt.Sprintf("%s_forward n=%d", a.op, n)
		x := a.gen(r, n)
		xb, yb := h.in(x), h.out(n)
		h.run(name, func() error { return kern(yb, xb, n) })
		want := make([]float64, n)
		for i := range want {
			want[i] = a.f(float64(x[i]))
		}
		compareAR(t, name, h.read(name, yb), want, 1e-6, 1e-5)
		compareExact(t, name+" x", h.read(name+" x", xb), x)
	}
}

func (a activation) backward(t *testing.T, b kernels.Backend, kern func(dx, dy, xy kernels.Buffer, n int) error) {
	h := newHarness(t, b)
	r := newRand(a.seed + 1000)
	for _, n := range elemSizes {
		name := fmt.Sprintf("%s_backward n=%d", a.op, n)
		x := a.gen(r, n)
		y := make([]float32, n)
		for i := range y {
			y[i] = float32(a.f(float64(x[i])))
		}
		dy, dx0 := uniform(r, n, -1, 1), uniform(r, n, -1, 1)
		arg := x
		if a.usesY {
			arg = y
		}
		dyb, argb, dxb := h.in(dy), h.in(arg), h.in(dx0)
		h.run(name, func() error { return kern(dxb, dyb, argb, n) })
		got := h.read(name, dxb)
		contrib := make([]float64, n)
		for i := range contrib {
			contrib[i] = float64(dy[i]) * a.deriv(float64(x[i]), float64(y[i]))
		}
		compareAccum(t, name, got, dx0, contrib, 1e-6, 1e-5)

		x64 := to64(x)
		var skip func(int) bool
		if a.kink != nil {
			skip = func(i int) bool { return a.kink(x[i]) }
		}
		loss := func(i int, v float64) float64 { return float64(dy[i]) * a.f(v) }
		checkFD(t, name, x64, contribution(got, dx0), fdIndices(r, n, skip), loss, 1e-5, 1e-3)
	}
}

// withSpecials returns gen's values with the given specials written at the
// start (as far as they fit).
func withSpecials(gen func(r *rand.Rand, n int) []float32, specials ...float32) func(r *rand.Rand, n int) []float32 {
	return func(r *rand.Rand, n int) []float32 {
		x := gen(r, n)
		if n > 1 {
			copy(x[1:], specials)
		}
		return x
	}
}

var negZero = float32(math.Copysign(0, -1))

var relu = activation{
	op:   "relu",
	seed: 30,
	gen: withSpecials(func(r *rand.Rand, n int) []float32 {
		x := uniform(r, n, -2, 2)
		awayFromZero(x, 1e-3)
		return x
	}, 0, negZero, 1e-30, -1e-30),
	f: func(x float64) float64 { return max(x, 0) },
	deriv: func(x, _ float64) float64 {
		if x > 0 {
			return 1
		}
		return 0
	},
	kink: func(x float32) bool { return math.Abs(float64(x)) < 1e-3 },
}

const sqrt2OverPi = 0.7978845608028654 // sqrt(2/π)

func geluRef(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(sqrt2OverPi*(x+0.044715*x*x*x)))
}

var gelu = activation{
	op:   "gelu",
	seed: 31,
	gen: withSpecials(func(r *rand.Rand, n int) []float32 { return normal(r, n, 2) },
		0, 10, -10, -5, 1e-4),
	f: geluRef,
	deriv: func(x, _ float64) float64 {
		t := math.Tanh(sqrt2OverPi * (x + 0.044715*x*x*x))
		du := sqrt2OverPi * (1 + 3*0.044715*x*x)
		return 0.5*(1+t) + 0.5*x*(1-t*t)*du
	},
}

var tanhAct = activation{
	op:    "tanh",
	seed:  32,
	gen:   withSpecials(func(r *rand.Rand, n int) []float32 { return normal(r, n, 2) }, 0, 20, -20, 1e-4),
	f:     math.Tanh,
	deriv: func(_, y float64) float64 { return 1 - y*y },
	usesY: true,
}

func sigmoidRef(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

var sigmoid = activation{
	op:    "sigmoid",
	seed:  33,
	gen:   withSpecials(func(r *rand.Rand, n int) []float32 { return normal(r, n, 3) }, 0, 30, -30, 100, -100),
	f:     sigmoidRef,
	deriv: func(_, y float64) float64 { return y * (1 - y) },
	usesY: true,
}

// ReLUForward checks y = max(x, 0), including x = ±0 and tiny ±x.
func ReLUForward(t *testing.T, b kernels.Backend) { relu.forward(t, b, b.ReLUForward) }

// ReLUBackward checks dx += dy·[x > 0] (0 at x = 0), and finite differences
// away from the kink.
func ReLUBackward(t *testing.T, b kernels.Backend) { relu.backward(t, b, b.ReLUBackward) }

// GELUForward checks the tanh-approximate GELU.
func GELUForward(t *testing.T, b kernels.Backend) { gelu.forward(t, b, b.GELUForward) }

// GELUBackward checks the GELU derivative from the input x.
func GELUBackward(t *testing.T, b kernels.Backend) { gelu.backward(t, b, b.GELUBackward) }

// TanhForward checks y = tanh(x), saturating at ±20.
func TanhForward(t *testing.T, b kernels.Backend) { tanhAct.forward(t, b, b.TanhForward) }

// TanhBackward checks dx += dy·(1 - y²) from the output y.
func TanhBackward(t *testing.T, b kernels.Backend) { tanhAct.backward(t, b, b.TanhBackward) }

// SigmoidForward checks y = 1/(1 + exp(-x)), with no NaN at ±100.
func SigmoidForward(t *testing.T, b kernels.Backend) { sigmoid.forward(t, b, b.SigmoidForward) }

// SigmoidBackward checks dx += dy·y·(1 - y) from the output y.
func SigmoidBackward(t *testing.T, b kernels.Backend) { sigmoid.backward(t, b, b.SigmoidBackward) }
