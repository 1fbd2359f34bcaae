package cpufallback

import (
	"fmt"
	"math"

	"github.com/gotrain/gotrain/kernels"
)

// L1Forward implements kernels.Regularizers; the sum is in float64.
func (b *Backend) L1Forward(out, w kernels.Buffer, lambda float32, n int) error {
	s, err := b.reduceTo("l1_forward", "out", out, "w", w, n, absRange)
	if err != nil {
		return err
	}
	s.out[0] = float32(float64(lambda) * s.v)
	return nil
}

// L2Forward implements kernels.Regularizers; the sum is in float64.
func (b *Backend) L2Forward(out, w kernels.Buffer, lambda float32, n int) error {
	s, err := b.reduceTo("l2_forward", "out", out, "w", w, n, sqRange)
	if err != nil {
		return err
	}
	s.out[0] = float32(float64(lambda) / 2 * s.v)
	return nil
}

// SumSquares implements kernels.Regularizers: acc[0] += Σ x[i]², the sum in
// float64.
func (b *Backend) SumSquares(acc, x kernels.Buffer, n int) error {
	s, err := b.reduceTo("sum_squares", "acc", acc, "x", x, n, sqRange)
	if err != nil {
		return err
	}
	s.out[0] = float32(float64(s.out[0]) + s.v)
	return nil
}

// reduceTo validates a reduction of x into the 1-element out and returns
// out and the sum of fn's per-chunk partials.
func (b *Backend) reduceTo(op, outName string, out kernels.Buffer, xName string, x kernels.Buffer, n int, fn func(t *task, chunk, lo, hi int)) (sumResult, error) {
	if err := checkN(op, n); err != nil {
		return sumResult{}, err
	}
	os, err := f32(op, outName, out, 1)
	if err != nil {
		return sumResult{}, err
	}
	xs, err := f32(op, xName, x, n)
	if err != nil {
		return sumResult{}, err
	}
	t := b.pool.task(fn)
	t.f[0] = xs
	k := b.pool.run(t, n, grainElementwise)
	return sumResult{os, t.sumParts(k)}, nil
}

func absRange(t *task, chunk, lo, hi int) {
	x := t.f[0][lo:hi]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		s0 += math.Abs(float64(v[0]))
		s1 += math.Abs(float64(v[1]))
		s2 += math.Abs(float64(v[2]))
		s3 += math.Abs(float64(v[3]))
	}
	for ; i < len(x); i++ {
		s0 += math.Abs(float64(x[i]))
	}
	t.part[chunk] = (s0 + s1) + (s2 + s3)
}

func sqRange(t *task, chunk, lo, hi int) {
	x := t.f[0][lo:hi]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		a, b, c, d := float64(v[0]), float64(v[1]), float64(v[2]), float64(v[3])
		s0 += a * a
		s1 += b * b
		s2 += c * c
		s3 += d * d
	}
	for ; i < len(x); i++ {
		v := float64(x[i])
		s0 += v * v
	}
	t.part[chunk] = (s0 + s1) + (s2 + s3)
}

// L1Backward implements kernels.Regularizers (sign(0) = 0; a NaN weight
// gives a NaN gradient).
func (b *Backend) L1Backward(dw, dout, w kernels.Buffer, lambda float32, n int) error {
	const op = "l1_backward"
	if err := checkN(op, n); err != nil {
		return err
	}
	dws, err := optF32(op, "dw", dw, n)
	if err != nil {
		return err
	}
	ds, err := f32(op, "dout", dout, 1)
	if err != nil {
		return err
	}
	ws, err := f32(op, "w", w, n)
	if err != nil || dws == nil {
		return err
	}
	t := b.pool.task(l1BackwardRange)
	t.f[0], t.f[1], t.s[0] = dws, ws, ds[0]*lambda
	b.pool.run(t, n, grainElementwise)
	return nil
}

func l1BackwardRange(t *task, _, lo, hi int) {
	dw, w, g := t.f[0][lo:hi], t.f[1][lo:hi], t.s[0]
	w = w[:len(dw)]
	for i, v := range w {
		switch {
		case v > 0:
			dw[i] += g
		case v < 0:
			dw[i] -= g
		case v != v:
			dw[i] += v
		}
	}
}

// L2Backward implements kernels.Regularizers.
func (b *Backend) L2Backward(dw, dout, w kernels.Buffer, lambda float32, n int) error {
	const op = "l2_backward"
	if err := checkN(op, n); err != nil {
		return err
	}
	dws, err := optF32(op, "dw", dw, n)
	if err != nil {
		return err
	}
	ds, err := f32(op, "dout", dout, 1)
	if err != nil {
		return err
	}
	ws, err := f32(op, "w", w, n)
	if err != nil || dws == nil {
		return err
	}
	// dw += (dout[0]*lambda) * w is Axpy's loop.
	t := b.pool.task(axpyRange)
	t.f[0], t.f[1], t.s[0] = dws, ws, ds[0]*lambda
	b.pool.run(t, n, grainElementwise)
	return nil
}

// ClipByGlobalNorm implements kernels.Regularizers. The factor is computed
// in float64 and applied in float32; maxNorm must be >= 0.
func (b *Backend) ClipByGlobalNorm(x, sumSq kernels.Buffer, maxNorm float32, n int) error {
	const op = "clip_by_global_norm"
	if !(maxNorm >= 0) {
		return fmt.Errorf("%s: maxNorm = %v: want a value >= 0 (+Inf never clips)", op, maxNorm)
	}
	if err := checkN(op, n); err != nil {
		return err
	}
	xs, err := f32(op, "x", x, n)
	if err != nil {
		return err
	}
	ss, err := f32(op, "sumSq", sumSq, 1)
	if err != nil {
		return err
	}
	s := float64(maxNorm) / (math.Sqrt(float64(ss[0])) + 1e-6)
	if !(s < 1) { // also a NaN norm: the reference loop leaves x alone
		return nil
	}
	t := b.pool.task(scaleRange) // x = s*x
	t.f[0], t.f[1], t.s[0] = xs, xs, float32(s)
	b.pool.run(t, n, grainElementwise)
	return nil
}
