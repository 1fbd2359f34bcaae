package cpufallback

import (
	"math"

	"github.com/gotrain/gotrain/kernels"
)

// unary validates the (y, x) pair of an elementwise forward kernel and runs
// fn over it: t.f[0] is y, t.f[1] is x.
func (b *Backend) unary(op string, y, x kernels.Buffer, n, grain int, fn func(t *task, chunk, lo, hi int)) error {
	if err := checkN(op, n); err != nil {
		return err
	}
	ys, err := f32(op, "y", y, n)
	if err != nil {
		return err
	}
	xs, err := f32(op, "x", x, n)
	if err != nil {
		return err
	}
	t := b.pool.task(fn)
	t.f[0], t.f[1] = ys, xs
	b.pool.run(t, n, grain)
	return nil
}

// unaryBackward validates the (dx, dy, in) triple of an elementwise backward
// kernel, where in is the forward input or output named what, and runs fn
// over it unless dx is nil: t.f[0] is dx, t.f[1] is dy, t.f[2] is in.
func (b *Backend) unaryBackward(op string, dx, dy, in kernels.Buffer, what string, n, grain int, fn func(t *task, chunk, lo, hi int)) error {
	if err := checkN(op, n); err != nil {
		return err
	}
	dxs, err := optF32(op, "dx", dx, n)
	if err != nil {
		return err
	}
	dys, err := f32(op, "dy", dy, n)
	if err != nil {
		return err
	}
	ins, err := f32(op, what, in, n)
	if err != nil || dxs == nil {
		return err
	}
	t := b.pool.task(fn)
	t.f[0], t.f[1], t.f[2] = dxs, dys, ins
	b.pool.run(t, n, grain)
	return nil
}

// ReLUForward implements kernels.Activations.
func (b *Backend) ReLUForward(y, x kernels.Buffer, n int) error {
	return b.unary("relu_forward", y, x, n, grainElementwise, reluRange)
}

func reluRange(t *task, _, lo, hi int) {
	y, x := t.f[0][lo:hi], t.f[1][lo:hi]
	x = x[:len(y)]
	for i, v := range x {
		y[i] = max(v, 0) // NaN stays NaN, as in the reference
	}
}

// ReLUBackward implements kernels.Activations.
func (b *Backend) ReLUBackward(dx, dy, x kernels.Buffer, n int) error {
	return b.unaryBackward("relu_backward", dx, dy, x, "x", n, grainElementwise, reluBackwardRange)
}

func reluBackwardRange(t *task, _, lo, hi int) {
	dx, dy, x := t.f[0][lo:hi], t.f[1][lo:hi], t.f[2][lo:hi]
	dy, x = dy[:len(dx)], x[:len(dx)]
	for i, v := range x {
		if v > 0 {
			dx[i] += dy[i]
		}
	}
}

// GELU constants: sqrt(2/π) and the cubic coefficient.
const (
	geluC = 0.7978845608028654 // math.Sqrt(2 / math.Pi)
	geluA = 0.044715
)

// blk is the length of the float64 scratch blocks on the stack in which the
// transcendental kernels compute. Converting float32 to float64 inside the
// loop that calls exp would make every element wait for the previous one:
// CVTSS2SD writes only the low lane of its register, so it depends on the
// register's last value, often the previous exp's result. Widening a block
// first, then computing, then narrowing keeps the elements independent.
const blk = 128

// widen sets dst[i] = float64(src[i]) for i < len(src) <= len(dst).
func widen(dst []float64, src []float32) {
	dst = dst[:len(src)]
	i := 0
	for ; i+4 <= len(src); i += 4 {
		s, d := src[i:i+4:i+4], dst[i:i+4:i+4]
		a, b, c, e := float64(s[0]), float64(s[1]), float64(s[2]), float64(s[3])
		d[0], d[1], d[2], d[3] = a, b, c, e
	}
	for ; i < len(src); i++ {
		dst[i] = float64(src[i])
	}
}

// narrow sets dst[i] = float32(src[i]) for i < len(dst) <= len(src).
func narrow(dst []float32, src []float64) {
	src = src[:len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		s, d := src[i:i+4:i+4], dst[i:i+4:i+4]
		a, b, c, e := float32(s[0]), float32(s[1]), float32(s[2]), float32(s[3])
		d[0], d[1], d[2], d[3] = a, b, c, e
	}
	for ; i < len(dst); i++ {
		dst[i] = float32(src[i])
	}
}

// accumulateProduct sets dx[i] += dy[i] * float32(d[i]).
func accumulateProduct(dx, dy []float32, d []float64) {
	dy, d = dy[:len(dx)], d[:len(dx)]
	for i, v := range d {
		dx[i] += dy[i] * float32(v)
	}
}

// geluSig returns, for the GELU tanh approximation at x, s = 0.5*(1+tanh(u))
// = σ(2u) and sm = 1-s = 0.5*(1-tanh(u)), both without cancellation or
// overflow, and du/dx.
func geluSig(x float64) (s, sm, du float64) {
	x2 := x * x
	u := geluC * (x + geluA*x2*x)
	du = geluC * (1 + 3*geluA*x2)
	if u >= 0 {
		e := exp64(-2 * u) // in (0, 1]
		s = 1 / (1 + e)
		sm = e * s
	} else {
		e := exp64(2 * u) // in [0, 1)
		sm = 1 / (1 + e)
		s = e * sm
	}
	return s, sm, du
}

// GELUForward implements kernels.Activations. It computes
// y = 0.5·x·(1+tanh(u)) as x·σ(2u) in float64.
func (b *Backend) GELUForward(y, x kernels.Buffer, n int) error {
	return b.unary("gelu_forward", y, x, n, grainTranscendental, geluRange)
}

func geluRange(t *task, _, lo, hi int) {
	geluVec(t.f[0][lo:hi], t.f[1][lo:hi])
}

// GELUBackward implements kernels.Activations. The derivative is computed in
// float64, using 0.5(1+t) = s and 0.5·x·(1-t²) = 2·x·s·(1-s).
func (b *Backend) GELUBackward(dx, dy, x kernels.Buffer, n int) error {
	return b.unaryBackward("gelu_backward", dx, dy, x, "x", n, grainTranscendental, geluBackwardRange)
}

func geluBackwardRange(t *task, _, lo, hi int) {
	geluBackwardVec(t.f[0][lo:hi], t.f[1][lo:hi], t.f[2][lo:hi])
}

// TanhForward implements kernels.Activations, with tanh64.
func (b *Backend) TanhForward(y, x kernels.Buffer, n int) error {
	return b.unary("tanh_forward", y, x, n, grainTranscendental, tanhRange)
}

func tanhRange(t *task, _, lo, hi int) {
	y, x := t.f[0][lo:hi], t.f[1][lo:hi]
	var buf [blk]float64
	for i0 := 0; i0 < len(x); i0 += blk {
		xb := x[i0:min(i0+blk, len(x))]
		b := buf[:len(xb)]
		widen(b, xb)
		for i, v := range b {
			b[i] = tanh64(v)
		}
		narrow(y[i0:i0+len(b)], b)
	}
}

// TanhBackward implements kernels.Activations. 1-y² is computed as
// (1-y)(1+y), which is exact in its subtraction near |y| = 1.
func (b *Backend) TanhBackward(dx, dy, y kernels.Buffer, n int) error {
	return b.unaryBackward("tanh_backward", dx, dy, y, "y", n, grainElementwise, tanhBackwardRange)
}

func tanhBackwardRange(t *task, _, lo, hi int) {
	dx, dy, y := t.f[0][lo:hi], t.f[1][lo:hi], t.f[2][lo:hi]
	dy, y = dy[:len(dx)], y[:len(dx)]
	for i, v := range y {
		dx[i] += dy[i] * ((1 - v) * (1 + v))
	}
}

// SigmoidForward implements kernels.Activations.
func (b *Backend) SigmoidForward(y, x kernels.Buffer, n int) error {
	return b.unary("sigmoid_forward", y, x, n, grainTranscendental, sigmoidRange)
}

func sigmoidRange(t *task, _, lo, hi int) {
	y, x := t.f[0][lo:hi], t.f[1][lo:hi]
	var buf [blk]float64
	for i0 := 0; i0 < len(x); i0 += blk {
		xb := x[i0:min(i0+blk, len(x))]
		b := buf[:len(xb)]
		widen(b, xb)
		for i, v := range b {
			b[i] = 1 / (1 + exp64(-v))
		}
		narrow(y[i0:i0+len(b)], b)
	}
}

// SigmoidBackward implements kernels.Activations.
func (b *Backend) SigmoidBackward(dx, dy, y kernels.Buffer, n int) error {
	return b.unaryBackward("sigmoid_backward", dx, dy, y, "y", n, grainElementwise, sigmoidBackwardRange)
}

func sigmoidBackwardRange(t *task, _, lo, hi int) {
	dx, dy, y := t.f[0][lo:hi], t.f[1][lo:hi], t.f[2][lo:hi]
	dy, y = dy[:len(dx)], y[:len(dx)]
	for i, v := range y {
		dx[i] += dy[i] * (v * (1 - v))
	}
}

// tanh64 is tanh through exp64 (math.Tanh calls math.Exp, whose assembly is
// slow after AVX code: see exp64): tanh|v| = (1-e)/(1+e) with e = exp(-2|v|).
func tanh64(v float64) float64 {
	a := math.Abs(v)
	if a > 20 { // tanh is 1 to float64 precision
		return math.Copysign(1, v)
	}
	e := exp64(-2 * a)
	return math.Copysign((1-e)/(1+e), v)
}
