package cpufallback

import (
	"math"
	"sync"

	"github.com/gotrain/gotrain/kernels"
)

// Causal self-attention, FlashAttention style, on the CPU.
//
// Forward: each query row (b, h, t) is one unit of work. Its scores against
// keys 0..t are computed attnTile at a time into a stack array and folded
// into out with the online softmax (running maximum m and sum z, the
// accumulator rescaled when m grows), so nothing of size T is stored. Rows
// cost t+1 key visits; units are ordered so that every contiguous range of
// them mixes short and long rows (0, T-1, 1, T-2, ... within each (b, h)),
// which balances the pool's contiguous chunks.
//
// Backward: each (b, h) is one unit. For each key t2 it walks the queries
// t >= t2, recomputing p = exp(s - lse[t]) and ds = p·(dp - D[t]), and
// accumulating dk and dv of t2 in a local sum (added to dqkv once) and dq of
// every query in a per-chunk [T, HS] scratch (added to dqkv at the end of
// the (b, h)). Every gradient element receives one += of its complete sum,
// in an order fixed by the loop, so the result is deterministic and does
// not depend on the number of workers. The scratch comes from a package
// sync.Pool (the pool's task has no field for it) and only grows, so
// steady-state calls allocate nothing; a garbage collection may empty the
// pool, which costs one allocation on the next call.
//
// Exponentials use exp64 (below), not math.Exp: see there why.

// attnTile is the number of scores the forward holds on the stack at a time.
const attnTile = 128

// attnGrainWork is the work (multiply-adds, counting an exp as 16) below
// which a chunk is not worth a worker.
const attnGrainWork = 1 << 16

// attnScratch is the backward's per-call scratch: for each chunk, dq
// [T, HS], D [T], dk and dv [HS].
type attnScratch struct{ buf []float32 }

var attnScratchPool = sync.Pool{New: func() any { return new(attnScratch) }}

// attnRowWork is the approximate work of an average query row.
func attnRowWork(T, HS int) int { return max(1, (T+1)/2) * (2*HS + 16) }

// AttentionForward implements kernels.Attention.
func (b *Backend) AttentionForward(out, lse, qkv kernels.Buffer, B, T, NH, HS int) error {
	const op = "attention_forward"
	nqkv, nout, nlse, err := kernels.CheckAttention(op, B, T, NH, HS)
	if err != nil {
		return err
	}
	os, err := f32(op, "out", out, nout)
	if err != nil {
		return err
	}
	ls, err := f32(op, "lse", lse, nlse)
	if err != nil {
		return err
	}
	qs, err := f32(op, "qkv", qkv, nqkv)
	if err != nil || nlse == 0 {
		return err
	}
	t := b.pool.task(attentionRows)
	t.f[0], t.f[1], t.f[2] = os, ls, qs
	t.n[0], t.n[1], t.n[2] = T, NH, HS
	t.s[0] = float32(1 / math.Sqrt(float64(HS)))
	b.pool.run(t, nlse, max(1, attnGrainWork/attnRowWork(T, HS)))
	return nil
}

// attentionRows computes query rows [lo, hi) in the balanced order.
func attentionRows(t *task, _, lo, hi int) {
	out, lse, qkv := t.f[0], t.f[1], t.f[2]
	T, NH, HS := t.n[0], t.n[1], t.n[2]
	scale := t.s[0]
	C := NH * HS
	C3 := 3 * C
	var sc [attnTile]float32
	for u := lo; u < hi; u++ {
		bh, j := u/T, u%T
		tq := j / 2
		if j%2 == 1 {
			tq = T - 1 - j/2
		}
		bb, h := bh/NH, bh%NH
		base := bb*T*C3 + h*HS // q of position 0 of this (b, h)
		q := qkv[base+tq*C3 : base+tq*C3+HS]
		o := out[(bb*T+tq)*C+h*HS : (bb*T+tq)*C+h*HS+HS]
		var m float32
		var z float64
		for j0 := 0; j0 <= tq; j0 += attnTile {
			s := sc[:min(attnTile, tq+1-j0)]
			mt := float32(math.Inf(-1))
			for jj := range s {
				k := base + C + (j0+jj)*C3
				v := dot32(q, qkv[k:k+HS]) * scale
				s[jj] = v
				if v > mt {
					mt = v
				}
			}
			switch {
			case j0 == 0:
				m = mt
				clear(o)
			case mt > m:
				r := exp64(float64(m) - float64(mt))
				z *= r
				scal32(o, float32(r))
				m = mt
			}
			mf := float64(m)
			for jj, v := range s {
				p := float32(exp64(float64(v) - mf))
				z += float64(p)
				vo := base + 2*C + (j0+jj)*C3
				axpy32(o, p, qkv[vo:vo+HS])
			}
		}
		scal32(o, float32(1/z))
		lse[bh*T+tq] = float32(float64(m) + math.Log(z))
	}
}

// AttentionBackward implements kernels.Attention.
func (b *Backend) AttentionBackward(dqkv, dout, qkv, out, lse kernels.Buffer, B, T, NH, HS int) error {
	const op = "attention_backward"
	nqkv, nout, nlse, err := kernels.CheckAttention(op, B, T, NH, HS)
	if err != nil {
		return err
	}
	dqs, err := optF32(op, "dqkv", dqkv, nqkv)
	if err != nil {
		return err
	}
	ds, err := f32(op, "dout", dout, nout)
	if err != nil {
		return err
	}
	qs, err := f32(op, "qkv", qkv, nqkv)
	if err != nil {
		return err
	}
	os, err := f32(op, "out", out, nout)
	if err != nil {
		return err
	}
	ls, err := f32(op, "lse", lse, nlse)
	if err != nil || dqs == nil || nlse == 0 {
		return err
	}
	units := B * NH
	k := min(b.pool.workers, units, maxChunks)
	per := T*HS + T + 2*HS
	sc := attnScratchPool.Get().(*attnScratch)
	if len(sc.buf) < k*per {
		sc.buf = make([]float32, k*per)
	}
	t := b.pool.task(attentionBackwardHeads)
	t.f[0], t.f[1], t.f[2], t.f[3], t.f[4], t.f[5] = dqs, ds, qs, os, ls, sc.buf[:k*per]
	t.n[0], t.n[1], t.n[2] = T, NH, HS
	t.s[0] = float32(1 / math.Sqrt(float64(HS)))
	if k <= 1 {
		attentionBackwardHeads(t, 0, 0, units)
	} else {
		b.pool.runChunks(t, units, k)
	}
	t.f[5] = nil
	attnScratchPool.Put(sc)
	return nil
}

// attentionBackwardHeads adds the gradients of (b, h) pairs [lo, hi).
func attentionBackwardHeads(t *task, chunk, lo, hi int) {
	dqkv, dout, qkv, out, lse := t.f[0], t.f[1], t.f[2], t.f[3], t.f[4]
	T, NH, HS := t.n[0], t.n[1], t.n[2]
	scale := t.s[0]
	C := NH * HS
	C3 := 3 * C
	per := T*HS + T + 2*HS
	sc := t.f[5][chunk*per : (chunk+1)*per]
	dq, D := sc[:T*HS], sc[T*HS:T*HS+T]
	dk, dv := sc[T*HS+T:T*HS+T+HS], sc[T*HS+T+HS:per]
	for bh := lo; bh < hi; bh++ {
		bb, h := bh/NH, bh%NH
		qb := bb*T*C3 + h*HS // q of position 0
		kb, vb := qb+C, qb+2*C
		ob := bb*T*C + h*HS // out and dout of position 0
		ls := lse[bh*T : bh*T+T]
		clear(dq)
		for tq := range D {
			o := ob + tq*C
			D[tq] = float32(dot64(dout[o:o+HS], out[o:o+HS]))
		}
		for t2 := 0; t2 < T; t2++ {
			k := qkv[kb+t2*C3 : kb+t2*C3+HS]
			v := qkv[vb+t2*C3 : vb+t2*C3+HS]
			clear(dk)
			clear(dv)
			for tq := t2; tq < T; tq++ {
				q := qkv[qb+tq*C3 : qb+tq*C3+HS]
				do := dout[ob+tq*C : ob+tq*C+HS]
				s, dp := dot2x32(q, k, do, v)
				p := float32(exp64(float64(s*scale) - float64(ls[tq])))
				g := p * (dp - D[tq]) * scale
				axpy32(dq[tq*HS:tq*HS+HS], g, k)
				axpy2x32(dk, g, q, dv, p, do)
			}
			accumulate(dqkv[kb+t2*C3:kb+t2*C3+HS], dk)
			accumulate(dqkv[vb+t2*C3:vb+t2*C3+HS], dv)
		}
		for tq := 0; tq < T; tq++ {
			accumulate(dqkv[qb+tq*C3:qb+tq*C3+HS], dq[tq*HS:tq*HS+HS])
		}
	}
}

// dot32 returns Σ a[i]*b[i] in float32, in four lanes (len(b) >= len(a)).
func dot32(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		p, q := a[i:i+4:i+4], b[i:i+4:i+4]
		s0 += p[0] * q[0]
		s1 += p[1] * q[1]
		s2 += p[2] * q[2]
		s3 += p[3] * q[3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// dot2x32 returns dot32(a, b) and dot32(c, d) in one pass (all of len(a)).
func dot2x32(a, b, c, d []float32) (float32, float32) {
	b, c, d = b[:len(a)], c[:len(a)], d[:len(a)]
	var s0, s1, s2, s3, t0, t1, t2, t3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		p, q := a[i:i+4:i+4], b[i:i+4:i+4]
		x, y := c[i:i+4:i+4], d[i:i+4:i+4]
		s0 += p[0] * q[0]
		s1 += p[1] * q[1]
		s2 += p[2] * q[2]
		s3 += p[3] * q[3]
		t0 += x[0] * y[0]
		t1 += x[1] * y[1]
		t2 += x[2] * y[2]
		t3 += x[3] * y[3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
		t0 += c[i] * d[i]
	}
	return (s0 + s1) + (s2 + s3), (t0 + t1) + (t2 + t3)
}

// axpy32 sets y[i] += a*x[i] (len(x) >= len(y)).
func axpy32(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	i := 0
	for ; i+4 <= len(y); i += 4 {
		p, q := y[i:i+4:i+4], x[i:i+4:i+4]
		p[0] += a * q[0]
		p[1] += a * q[1]
		p[2] += a * q[2]
		p[3] += a * q[3]
	}
	for ; i < len(y); i++ {
		y[i] += a * x[i]
	}
}

// axpy2x32 sets y[i] += a*x[i] and z[i] += b*w[i] in one pass (all of
// len(y)).
func axpy2x32(y []float32, a float32, x, z []float32, b float32, w []float32) {
	x, z, w = x[:len(y)], z[:len(y)], w[:len(y)]
	for i := range y {
		y[i] += a * x[i]
		z[i] += b * w[i]
	}
}

// scal32 sets y[i] *= a.
func scal32(y []float32, a float32) {
	for i := range y {
		y[i] *= a
	}
}

// exp64 returns e^x with a relative error below 1e-11 (measured against
// math.Exp: 9.5e-12), results below the smallest normal float64 (x <= -708)
// flushed to 0. It is plain Go on purpose: with GOEXPERIMENT=simd, Go 1.26's
// math.Exp (assembly that mixes legacy SSE with VEX FMA instructions) ran
// about 100 times slower on the build machine (≈800 ns per call instead of
// 6-11 ns) whenever the AVX upper state had been left dirty, which happens
// at random points (it stays dirty until the next VZEROUPPER); plain Go
// arithmetic is unaffected. This one takes about 6 ns in either build.
//
// Method: x = k·ln2 + r with |r| <= ln2/2 (Cody-Waite, ln2 split in two so
// that k·ln2hi is exact), e^r by its Taylor polynomial of degree 9
// (truncation error r¹⁰/10! < 7e-12) evaluated by Estrin's scheme for a
// short dependency chain, and 2^k assembled from its exponent bits.
func exp64(x float64) float64 {
	const (
		log2e = 1.44269504088896340736
		ln2hi = 6.93147180369123816490e-01 // 0x3fe62e42fee00000: k·ln2hi is exact for |k| < 2²¹
		ln2lo = 1.90821492927058770002e-10
	)
	if !(x > -708) {
		if x != x {
			return x // NaN
		}
		return 0
	}
	if x > 709.7 {
		return math.Inf(1)
	}
	t := x * log2e
	var ki int64
	if t >= 0 {
		ki = int64(t + 0.5)
	} else {
		ki = int64(t - 0.5)
	}
	k := float64(ki)
	r := (x - k*ln2hi) - k*ln2lo
	r2 := r * r
	r4 := r2 * r2
	a0 := 1 + r
	a1 := 1.0/2 + r*(1.0/6)
	a2 := 1.0/24 + r*(1.0/120)
	a3 := 1.0/720 + r*(1.0/5040)
	a4 := 1.0/40320 + r*(1.0/362880)
	p := (a0 + r2*a1) + r4*((a2+r2*a3)+r4*a4)
	if ki > 1023 { // x in (709.09, 709.7]: 2^k itself overflows
		return p * 2 * math.Float64frombits(uint64(ki-1+1023)<<52)
	}
	return p * math.Float64frombits(uint64(ki+1023)<<52)
}
