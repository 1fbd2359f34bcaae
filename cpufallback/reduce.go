package cpufallback

import (
	"fmt"
	"math"

	"github.com/gotrain/gotrain/kernels"
)

// Reductions accumulate one float64 partial per chunk in t.part and add the
// partials in chunk order (task.sumParts), so a result depends only on the
// input and the number of threads, never on scheduling.

// SumForward implements kernels.Reductions.
func (b *Backend) SumForward(y, x kernels.Buffer, n int) error {
	const op = "sum_forward"
	s, err := b.sum(op, y, x, n)
	if err != nil {
		return err
	}
	s.out[0] = float32(s.v)
	return nil
}

// MeanForward implements kernels.Reductions. n = 0 gives 0/0 = NaN, as the
// reference loop does.
func (b *Backend) MeanForward(y, x kernels.Buffer, n int) error {
	const op = "mean_forward"
	s, err := b.sum(op, y, x, n)
	if err != nil {
		return err
	}
	s.out[0] = float32(s.v / float64(n))
	return nil
}

type sumResult struct {
	out []float32
	v   float64
}

// sum validates a (y, x) reduction and returns y and Σ x[i] in float64.
func (b *Backend) sum(op string, y, x kernels.Buffer, n int) (sumResult, error) {
	if err := checkN(op, n); err != nil {
		return sumResult{}, err
	}
	ys, err := f32(op, "y", y, 1)
	if err != nil {
		return sumResult{}, err
	}
	xs, err := f32(op, "x", x, n)
	if err != nil {
		return sumResult{}, err
	}
	t := b.pool.task(sumRange)
	t.f[0] = xs
	k := b.pool.run(t, n, grainElementwise)
	return sumResult{ys, t.sumParts(k)}, nil
}

func sumRange(t *task, chunk, lo, hi int) {
	x := t.f[0][lo:hi]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		s0 += float64(v[0])
		s1 += float64(v[1])
		s2 += float64(v[2])
		s3 += float64(v[3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	t.part[chunk] = (s0 + s1) + (s2 + s3)
}

// SumBackward implements kernels.Reductions.
func (b *Backend) SumBackward(dx, dy kernels.Buffer, n int) error {
	return b.broadcastBackward("sum_backward", dx, dy, n, false)
}

// MeanBackward implements kernels.Reductions.
func (b *Backend) MeanBackward(dx, dy kernels.Buffer, n int) error {
	return b.broadcastBackward("mean_backward", dx, dy, n, true)
}

// broadcastBackward adds dy[0] (divided by n when mean) to every dx[i].
func (b *Backend) broadcastBackward(op string, dx, dy kernels.Buffer, n int, mean bool) error {
	if err := checkN(op, n); err != nil {
		return err
	}
	dxs, err := optF32(op, "dx", dx, n)
	if err != nil {
		return err
	}
	dys, err := f32(op, "dy", dy, 1)
	if err != nil || dxs == nil || n == 0 {
		return err
	}
	g := dys[0]
	if mean {
		g /= float32(n)
	}
	t := b.pool.task(addScalarRange)
	t.f[0], t.s[0] = dxs, g
	b.pool.run(t, n, grainElementwise)
	return nil
}

func addScalarRange(t *task, _, lo, hi int) {
	x, v := t.f[0][lo:hi], t.s[0]
	for i := range x {
		x[i] += v
	}
}

// ArgMax implements kernels.Reductions. Comparisons are x > best, so a NaN
// is never chosen over an earlier element (unless it is the first).
func (b *Backend) ArgMax(out, x kernels.Buffer, rows, cols int) error {
	const op = "argmax"
	n, err := rowDims(op, rows, cols)
	if err != nil {
		return err
	}
	if rows > 0 && cols == 0 {
		return fmt.Errorf("argmax: rows = %d, cols = 0: an empty row has no maximum: %w", rows, kernels.ErrShape)
	}
	if cols > math.MaxInt32 {
		return fmt.Errorf("argmax: cols = %d: indices do not fit int32: %w", cols, kernels.ErrShape)
	}
	os, err := i32(op, "out", out, rows)
	if err != nil {
		return err
	}
	xs, err := f32(op, "x", x, n)
	if err != nil {
		return err
	}
	t := b.pool.task(argMaxRows)
	t.i[0], t.f[0], t.n[0] = os, xs, cols
	b.pool.run(t, rows, rowGrain(cols))
	return nil
}

func argMaxRows(t *task, _, lo, hi int) {
	out, x, cols := t.i[0], t.f[0], t.n[0]
	for r := lo; r < hi; r++ {
		row := x[r*cols : (r+1)*cols]
		best, bi := row[0], 0
		for c, v := range row {
			if v > best {
				best, bi = v, c
			}
		}
		out[r] = int32(bi)
	}
}
