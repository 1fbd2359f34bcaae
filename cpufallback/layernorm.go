package cpufallback

import (
	"math"

	"github.com/gotrain/gotrain/kernels"
)

// layerNormBlock is the number of channels whose dweight and dbias sums one
// unit of LayerNormBackward's second pass holds on the stack.
const layerNormBlock = 64

// LayerNormForward implements kernels.LayerNorm. The mean and variance of a
// row are accumulated in float64 (two passes, so no cancellation); out is
// computed in float32 from the saved float32 mean and rstd, as the backward
// sees them. out may alias x.
func (b *Backend) LayerNormForward(out, mean, rstd, x, weight, bias kernels.Buffer, rows, C int, eps float32) error {
	const op = "layernorm_forward"
	n, err := rowDims(op, rows, C)
	if err != nil {
		return err
	}
	if err := kernels.CheckHyper(op, "eps", eps); err != nil {
		return err
	}
	os, err := f32(op, "out", out, n)
	if err != nil {
		return err
	}
	ms, err := f32(op, "mean", mean, rows)
	if err != nil {
		return err
	}
	rs, err := f32(op, "rstd", rstd, rows)
	if err != nil {
		return err
	}
	xs, err := f32(op, "x", x, n)
	if err != nil {
		return err
	}
	ws, err := f32(op, "weight", weight, C)
	if err != nil {
		return err
	}
	bs, err := f32(op, "bias", bias, C)
	if err != nil || rows == 0 {
		return err
	}
	t := b.pool.task(layerNormRows)
	t.f[0], t.f[1], t.f[2], t.f[3], t.f[4], t.f[5] = os, ms, rs, xs, ws, bs
	t.n[0], t.s[0] = C, eps
	b.pool.run(t, rows, rowGrain(C))
	return nil
}

func layerNormRows(t *task, _, lo, hi int) {
	out, mean, rstd, xs, weight, bias := t.f[0], t.f[1], t.f[2], t.f[3], t.f[4], t.f[5]
	C, eps := t.n[0], float64(t.s[0])
	weight, bias = weight[:C], bias[:C]
	for r := lo; r < hi; r++ {
		x := xs[r*C : (r+1)*C]
		m := sum64(x) / float64(C)
		v := sqDev64(x, m) / float64(C)
		mf, sf := float32(m), float32(1/math.Sqrt(v+eps))
		mean[r], rstd[r] = mf, sf
		o := out[r*C : (r+1)*C]
		x, w, bb := x[:len(o)], weight[:len(o)], bias[:len(o)]
		for c := range o {
			o[c] = (x[c]-mf)*sf*w[c] + bb[c]
		}
	}
}

// sum64 returns Σ x[i] accumulated in float64.
func sum64(x []float32) float64 {
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
	return (s0 + s1) + (s2 + s3)
}

// sqDev64 returns Σ (x[i] - m)² accumulated in float64.
func sqDev64(x []float32, m float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		d0, d1, d2, d3 := float64(v[0])-m, float64(v[1])-m, float64(v[2])-m, float64(v[3])-m
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(x); i++ {
		d := float64(x[i]) - m
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

// LayerNormBackward implements kernels.LayerNorm in two passes over the
// rows: dx row by row (rows split across the workers), then dweight and
// dbias by blocks of layerNormBlock channels (blocks split across the
// workers), each summing its channels over all rows in order in float64 and
// adding the sums once. So the parameter gradients do not depend on the
// number of workers, and no two workers write the same element.
func (b *Backend) LayerNormBackward(dx, dweight, dbias, dout, x, weight, mean, rstd kernels.Buffer, rows, C int) error {
	const op = "layernorm_backward"
	n, err := rowDims(op, rows, C)
	if err != nil {
		return err
	}
	dxs, err := optF32(op, "dx", dx, n)
	if err != nil {
		return err
	}
	dws, err := optF32(op, "dweight", dweight, C)
	if err != nil {
		return err
	}
	dbs, err := optF32(op, "dbias", dbias, C)
	if err != nil {
		return err
	}
	ds, err := f32(op, "dout", dout, n)
	if err != nil {
		return err
	}
	xs, err := f32(op, "x", x, n)
	if err != nil {
		return err
	}
	ws, err := f32(op, "weight", weight, C)
	if err != nil {
		return err
	}
	ms, err := f32(op, "mean", mean, rows)
	if err != nil {
		return err
	}
	rs, err := f32(op, "rstd", rstd, rows)
	if err != nil || n == 0 {
		return err
	}
	if dxs != nil {
		t := b.pool.task(layerNormBackwardRows)
		t.f[0], t.f[1], t.f[2], t.f[3], t.f[4], t.f[5] = dxs, ds, xs, ws, ms, rs
		t.n[0] = C
		b.pool.run(t, rows, rowGrain(C))
	}
	if dws != nil || dbs != nil {
		t := b.pool.task(layerNormBackwardParams)
		t.f[0], t.f[1], t.f[2], t.f[3], t.f[4], t.f[5] = dws, dbs, ds, xs, ms, rs
		t.n[0], t.n[1] = rows, C
		blocks := (C + layerNormBlock - 1) / layerNormBlock
		b.pool.run(t, blocks, max(1, grainRows/(rows*layerNormBlock)))
	}
	return nil
}

// layerNormBackwardRows adds the input gradient of rows [lo, hi).
func layerNormBackwardRows(t *task, _, lo, hi int) {
	dxs, douts, xs, weight, mean, rstd := t.f[0], t.f[1], t.f[2], t.f[3], t.f[4], t.f[5]
	C := t.n[0]
	weight = weight[:C]
	for r := lo; r < hi; r++ {
		dx := dxs[r*C : (r+1)*C]
		d, x, w := douts[r*C:(r+1)*C], xs[r*C:(r+1)*C], weight
		d, x, w = d[:len(dx)], x[:len(dx)], w[:len(dx)]
		m, s := mean[r], rstd[r]
		var gm, gnm float64
		for c := range dx {
			dn := float64(w[c] * d[c])
			gm += dn
			gnm += dn * float64((x[c]-m)*s)
		}
		gmf, gnmf := float32(gm/float64(C)), float32(gnm/float64(C))
		for c := range dx {
			norm := (x[c] - m) * s
			dx[c] += s * (w[c]*d[c] - gmf - norm*gnmf)
		}
	}
}

// layerNormBackwardParams adds the dweight and dbias of channel blocks
// [lo, hi).
func layerNormBackwardParams(t *task, _, lo, hi int) {
	dweight, dbias, douts, xs, mean, rstd := t.f[0], t.f[1], t.f[2], t.f[3], t.f[4], t.f[5]
	rows, C := t.n[0], t.n[1]
	for blk := lo; blk < hi; blk++ {
		c0 := blk * layerNormBlock
		w := min(layerNormBlock, C-c0)
		var accW, accB [layerNormBlock]float64
		aw, ab := accW[:w], accB[:w]
		for r := 0; r < rows; r++ {
			d := douts[r*C+c0 : r*C+c0+w]
			x := xs[r*C+c0 : r*C+c0+w]
			d, x = d[:len(aw)], x[:len(aw)]
			m, s := mean[r], rstd[r]
			for j := range aw {
				aw[j] += float64((x[j] - m) * s * d[j])
				ab[j] += float64(d[j])
			}
		}
		if dweight != nil {
			dw := dweight[c0 : c0+w]
			for j, v := range aw {
				dw[j] = float32(float64(dw[j]) + v)
			}
		}
		if dbias != nil {
			db := dbias[c0 : c0+w]
			for j, v := range ab {
				db[j] = float32(float64(db[j]) + v)
			}
		}
	}
}
