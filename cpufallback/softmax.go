package cpufallback

import (
	"github.com/gotrain/gotrain/kernels"
)

// SoftmaxForward implements kernels.Softmax. Exponentials and the row sum
// are computed in float64; y may alias x.
func (b *Backend) SoftmaxForward(y, x kernels.Buffer, rows, cols int) error {
	const op = "softmax_forward"
	n, err := rowDims(op, rows, cols)
	if err != nil {
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
	if n == 0 {
		return nil
	}
	t := b.pool.task(softmaxRows)
	t.f[0], t.f[1], t.n[0] = ys, xs, cols
	b.pool.run(t, rows, rowGrain(cols))
	return nil
}

func softmaxRows(t *task, _, lo, hi int) {
	y, x, cols := t.f[0], t.f[1], t.n[0]
	for r := lo; r < hi; r++ {
		softmaxRow(y[r*cols:(r+1)*cols], x[r*cols:(r+1)*cols])
	}
}

// softmaxRow writes the softmax of x (len(x) > 0) to y, which may alias x,
// and returns the row maximum m and the sum s of exp(x-m). The exponentials
// and s are float64 (in blocks: see blk); the final scaling is float32.
func softmaxRow(y, x []float32) (m float32, s float64) {
	y = y[:len(x)]
	m = rowMax(x)
	mf := float64(m)
	var buf [blk]float64
	for i0 := 0; i0 < len(x); i0 += blk {
		xb := x[i0:min(i0+blk, len(x))]
		b := buf[:len(xb)]
		widen(b, xb)
		for i, v := range b {
			b[i] = exp64(v - mf)
		}
		for _, e := range b {
			s += e
		}
		narrow(y[i0:i0+len(b)], b)
	}
	inv := float32(1 / s)
	for i := range y {
		y[i] *= inv
	}
	return m, s
}

// rowMax returns the maximum of x (len(x) > 0), in four independent lanes.
// It skips NaNs after the first element; a NaN still makes the softmax row
// NaN, through its exponential in the sum.
func rowMax(x []float32) float32 {
	m0 := x[0]
	m1, m2, m3 := m0, m0, m0
	i := 1
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		if v[0] > m0 {
			m0 = v[0]
		}
		if v[1] > m1 {
			m1 = v[1]
		}
		if v[2] > m2 {
			m2 = v[2]
		}
		if v[3] > m3 {
			m3 = v[3]
		}
	}
	for ; i < len(x); i++ {
		if x[i] > m0 {
			m0 = x[i]
		}
	}
	if m1 > m0 {
		m0 = m1
	}
	if m2 > m0 {
		m0 = m2
	}
	if m3 > m0 {
		m0 = m3
	}
	return m0
}

// SoftmaxBackward implements kernels.Softmax.
func (b *Backend) SoftmaxBackward(dx, dy, y kernels.Buffer, rows, cols int) error {
	const op = "softmax_backward"
	n, err := rowDims(op, rows, cols)
	if err != nil {
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
	ys, err := f32(op, "y", y, n)
	if err != nil || dxs == nil || n == 0 {
		return err
	}
	t := b.pool.task(softmaxBackwardRows)
	t.f[0], t.f[1], t.f[2], t.n[0] = dxs, dys, ys, cols
	b.pool.run(t, rows, rowGrain(cols))
	return nil
}

func softmaxBackwardRows(t *task, _, lo, hi int) {
	cols := t.n[0]
	for r := lo; r < hi; r++ {
		dx := t.f[0][r*cols : (r+1)*cols]
		dy := t.f[1][r*cols : (r+1)*cols]
		y := t.f[2][r*cols : (r+1)*cols]
		dy, y = dy[:len(dx)], y[:len(dx)]
		d := float32(dot64(dy, y))
		for c, v := range y {
			dx[c] += v * (dy[c] - d)
		}
	}
}

// dot64 returns Σ a[i]*b[i] accumulated in float64 (len(b) >= len(a)).
func dot64(a, b []float32) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		p, q := a[i:i+4:i+4], b[i:i+4:i+4]
		s0 += float64(p[0]) * float64(q[0])
		s1 += float64(p[1]) * float64(q[1])
		s2 += float64(p[2]) * float64(q[2])
		s3 += float64(p[3]) * float64(q[3])
	}
	for ; i < len(a); i++ {
		s0 += float64(a[i]) * float64(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}
