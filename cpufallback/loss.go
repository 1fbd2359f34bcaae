package cpufallback

import (
	"math"

	"github.com/gotrain/gotrain/kernels"
)

// CrossEntropyForward implements kernels.Losses. probs may alias logits: the
// label's logit is read before the row is overwritten.
func (b *Backend) CrossEntropyForward(losses, probs, logits, labels kernels.Buffer, rows, cols int) error {
	const op = "cross_entropy_forward"
	n, err := rowDims(op, rows, cols)
	if err != nil {
		return err
	}
	ls, err := f32(op, "losses", losses, rows)
	if err != nil {
		return err
	}
	ps, err := f32(op, "probs", probs, n)
	if err != nil {
		return err
	}
	xs, err := f32(op, "logits", logits, n)
	if err != nil {
		return err
	}
	lbs, err := i32(op, "labels", labels, rows)
	if err != nil {
		return err
	}
	t := b.pool.task(crossEntropyRows)
	t.f[0], t.f[1], t.f[2], t.i[0], t.n[0] = ls, ps, xs, lbs, cols
	b.pool.run(t, rows, rowGrain(cols))
	return nil
}

func crossEntropyRows(t *task, _, lo, hi int) {
	losses, probs, logits, labels, cols := t.f[0], t.f[1], t.f[2], t.i[0], t.n[0]
	nan := float32(math.NaN())
	for r := lo; r < hi; r++ {
		if cols == 0 { // no class is in range
			losses[r] = nan
			continue
		}
		x := logits[r*cols : (r+1)*cols]
		label := int(labels[r])
		var xl float32
		ok := label >= 0 && label < cols
		if ok {
			xl = x[label]
		}
		m, s := softmaxRow(probs[r*cols:(r+1)*cols], x)
		if ok {
			losses[r] = float32(float64(m) + math.Log(s) - float64(xl))
		} else {
			losses[r] = nan
		}
	}
}

// CrossEntropyBackward implements kernels.Losses. As in the reference loop,
// a label out of range matches no column (no out-of-bounds access).
func (b *Backend) CrossEntropyBackward(dlogits, dlosses, probs, labels kernels.Buffer, rows, cols int) error {
	const op = "cross_entropy_backward"
	n, err := rowDims(op, rows, cols)
	if err != nil {
		return err
	}
	dxs, err := optF32(op, "dlogits", dlogits, n)
	if err != nil {
		return err
	}
	dls, err := f32(op, "dlosses", dlosses, rows)
	if err != nil {
		return err
	}
	ps, err := f32(op, "probs", probs, n)
	if err != nil {
		return err
	}
	lbs, err := i32(op, "labels", labels, rows)
	if err != nil || dxs == nil || n == 0 {
		return err
	}
	t := b.pool.task(crossEntropyBackwardRows)
	t.f[0], t.f[1], t.f[2], t.i[0], t.n[0] = dxs, dls, ps, lbs, cols
	b.pool.run(t, rows, rowGrain(cols))
	return nil
}

func crossEntropyBackwardRows(t *task, _, lo, hi int) {
	cols := t.n[0]
	for r := lo; r < hi; r++ {
		dx := t.f[0][r*cols : (r+1)*cols]
		p := t.f[2][r*cols : (r+1)*cols]
		p = p[:len(dx)]
		dl := t.f[1][r]
		label := int(t.i[0][r])
		ok := label >= 0 && label < cols
		var old float32
		if ok {
			old = dx[label]
		}
		for c, v := range p {
			dx[c] += dl * v
		}
		if ok { // redo the label's column as dl*(p-1), without cancellation
			dx[label] = old + dl*(p[label]-1)
		}
	}
}

// MSEForward implements kernels.Losses; the sum is accumulated in float64.
// n = 0 gives 0/0 = NaN, as the reference loop does.
func (b *Backend) MSEForward(loss, pred, target kernels.Buffer, n int) error {
	const op = "mse_forward"
	if err := checkN(op, n); err != nil {
		return err
	}
	out, err := f32(op, "loss", loss, 1)
	if err != nil {
		return err
	}
	ps, err := f32(op, "pred", pred, n)
	if err != nil {
		return err
	}
	ts, err := f32(op, "target", target, n)
	if err != nil {
		return err
	}
	t := b.pool.task(sqDiffRange)
	t.f[0], t.f[1] = ps, ts
	k := b.pool.run(t, n, grainElementwise)
	out[0] = float32(t.sumParts(k) / float64(n))
	return nil
}

func sqDiffRange(t *task, chunk, lo, hi int) {
	p, q := t.f[0][lo:hi], t.f[1][lo:hi]
	q = q[:len(p)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(p); i += 4 {
		pp, qq := p[i:i+4:i+4], q[i:i+4:i+4]
		d0 := float64(pp[0]) - float64(qq[0])
		d1 := float64(pp[1]) - float64(qq[1])
		d2 := float64(pp[2]) - float64(qq[2])
		d3 := float64(pp[3]) - float64(qq[3])
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(p); i++ {
		d := float64(p[i]) - float64(q[i])
		s0 += d * d
	}
	t.part[chunk] = (s0 + s1) + (s2 + s3)
}

// MSEBackward implements kernels.Losses.
func (b *Backend) MSEBackward(dpred, dloss, pred, target kernels.Buffer, n int) error {
	const op = "mse_backward"
	if err := checkN(op, n); err != nil {
		return err
	}
	dps, err := optF32(op, "dpred", dpred, n)
	if err != nil {
		return err
	}
	dl, err := f32(op, "dloss", dloss, 1)
	if err != nil {
		return err
	}
	ps, err := f32(op, "pred", pred, n)
	if err != nil {
		return err
	}
	ts, err := f32(op, "target", target, n)
	if err != nil || dps == nil || n == 0 {
		return err
	}
	t := b.pool.task(mseBackwardRange)
	t.f[0], t.f[1], t.f[2] = dps, ps, ts
	t.s[0] = float32(float64(dl[0]) * 2 / float64(n))
	b.pool.run(t, n, grainElementwise)
	return nil
}

func mseBackwardRange(t *task, _, lo, hi int) {
	dp, p, q := t.f[0][lo:hi], t.f[1][lo:hi], t.f[2][lo:hi]
	p, q = p[:len(dp)], q[:len(dp)]
	k := t.s[0]
	for i := range dp {
		dp[i] += k * (p[i] - q[i])
	}
}
