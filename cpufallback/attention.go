package cpufallback

import (
	"math"
	"sync"

	"github.com/gotrain/gotrain/kernels"
)

// Causal self-attention on the CPU.
//
// The unit of work is one (batch, head) pair, whose K (and, backward, V)
// rows are first copied transposed into a per-chunk scratch, kt[d·T+j] =
// K[j][d]. Then every loop over keys runs along a contiguous row of kt, so
// the scores of a query, s[j] = Σ_d q[d]·K[j][d] for j <= t, are HS axpys
// of length t+1 (vaxpy: 8 keys per AVX2 instruction) with no horizontal
// sums; likewise dp, and the gradients of K and V are accumulated
// transposed. Softmax rows are computed whole (T floats of scratch), not
// tiled: a CPU has the cache for it.
//
// Forward, for each query t: s as above, m = max s, p = e^(scale·(s-m)),
// out = Σ_j p[j]·V[j] / Σ p, lse = scale·m + log Σ p.
//
// Backward, for each query t: p = e^(scale·s - lse[t]) recomputed, dp[j] =
// dout[t]·V[j], ds = p·(dp - D[t])·scale with D[t] = dout[t]·out[t]; then
// dq[t] = Σ_j ds[j]·K[j], dK[j] += ds[j]·q[t] and dV[j] += p[j]·dout[t].
// dq is added to dqkv per query, dK and dV once per (b, h) at the end.
// Every gradient element receives one += of its complete sum, in an order
// fixed by the loops, so the result is deterministic and does not depend on
// the number of workers.
//
// The scratch comes from a package sync.Pool (the pool's task has no field
// for it) and only grows, so steady-state calls allocate nothing; a garbage
// collection may empty the pool, which costs one allocation on the next
// call. Exponentials use vexpShift (vec.go).

// attnScratch is a call's per-chunk scratch.
type attnScratch struct{ buf []float32 }

var attnScratchPool = sync.Pool{New: func() any { return new(attnScratch) }}

// attnScratchFor returns k chunks of per floats each from the pool; give it
// back with attnScratchPool.Put.
func attnScratchFor(k, per int) *attnScratch {
	sc := attnScratchPool.Get().(*attnScratch)
	if len(sc.buf) < k*per {
		sc.buf = make([]float32, k*per)
	}
	return sc
}

// attnForwardScratch and attnBackwardScratch are the floats one chunk needs.
func attnForwardScratch(T, HS int) int  { return T*HS + T }
func attnBackwardScratch(T, HS int) int { return 4*T*HS + 2*T + HS }

// transposeRows sets dst[d·T+j] = src[base+j·stride+d] for j < T, d < HS.
func transposeRows(dst, src []float32, base, stride, T, HS int) {
	for j := 0; j < T; j++ {
		row := src[base+j*stride : base+j*stride+HS]
		for d, v := range row {
			dst[d*T+j] = v
		}
	}
}

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
	units := B * NH
	k := min(b.pool.workers, units, maxChunks)
	per := attnForwardScratch(T, HS)
	sc := attnScratchFor(k, per)
	t := b.pool.task(attentionForwardHeads)
	t.f[0], t.f[1], t.f[2], t.f[3] = os, ls, qs, sc.buf[:k*per]
	t.n[0], t.n[1], t.n[2] = T, NH, HS
	t.s[0] = float32(1 / math.Sqrt(float64(HS)))
	if k <= 1 {
		clearUpper()
		attentionForwardHeads(t, 0, 0, units)
	} else {
		b.pool.runChunks(t, units, k)
	}
	t.f[3] = nil
	attnScratchPool.Put(sc)
	return nil
}

// attentionForwardHeads computes the (b, h) pairs [lo, hi).
func attentionForwardHeads(t *task, chunk, lo, hi int) {
	out, lse, qkv := t.f[0], t.f[1], t.f[2]
	T, NH, HS := t.n[0], t.n[1], t.n[2]
	scale := t.s[0]
	C := NH * HS
	C3 := 3 * C
	per := attnForwardScratch(T, HS)
	sc := t.f[3][chunk*per : (chunk+1)*per]
	kt, s := sc[:T*HS], sc[T*HS:]
	for bh := lo; bh < hi; bh++ {
		bb, h := bh/NH, bh%NH
		qb := bb*T*C3 + h*HS // q of position 0 of this (b, h)
		vb := qb + 2*C
		transposeRows(kt, qkv, qb+C, C3, T, HS)
		for tq := 0; tq < T; tq++ {
			n := tq + 1
			q := qkv[qb+tq*C3 : qb+tq*C3+HS]
			st := s[:n]
			matvecT(st, q, kt, T)
			m := rowMax(st)
			z := vexpShift(st, st, scale, m*scale)
			o := out[(bb*T+tq)*C+h*HS : (bb*T+tq)*C+h*HS+HS]
			clear(o)
			gemvRows(o, st, qkv, vb, C3)
			inv := float32(1 / z)
			for i := range o {
				o[i] *= inv
			}
			lse[bh*T+tq] = float32(float64(m*scale) + math.Log(z))
		}
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
	per := attnBackwardScratch(T, HS)
	sc := attnScratchFor(k, per)
	t := b.pool.task(attentionBackwardHeads)
	t.f[0], t.f[1], t.f[2], t.f[3], t.f[4], t.f[5] = dqs, ds, qs, os, ls, sc.buf[:k*per]
	t.n[0], t.n[1], t.n[2] = T, NH, HS
	t.s[0] = float32(1 / math.Sqrt(float64(HS)))
	if k <= 1 {
		clearUpper()
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
	per := attnBackwardScratch(T, HS)
	sc := t.f[5][chunk*per : (chunk+1)*per]
	kt, vt := sc[:T*HS], sc[T*HS:2*T*HS]
	dkt, dvt := sc[2*T*HS:3*T*HS], sc[3*T*HS:4*T*HS]
	p, dp := sc[4*T*HS:4*T*HS+T], sc[4*T*HS+T:4*T*HS+2*T]
	dq := sc[4*T*HS+2*T : per]
	for bh := lo; bh < hi; bh++ {
		bb, h := bh/NH, bh%NH
		qb := bb*T*C3 + h*HS // q of position 0
		kb, vb := qb+C, qb+2*C
		ob := bb*T*C + h*HS // out and dout of position 0
		transposeRows(kt, qkv, kb, C3, T, HS)
		transposeRows(vt, qkv, vb, C3, T, HS)
		clear(dkt)
		clear(dvt)
		for tq := 0; tq < T; tq++ {
			n := tq + 1
			q := qkv[qb+tq*C3 : qb+tq*C3+HS]
			do := dout[ob+tq*C : ob+tq*C+HS]
			D := float32(dot64(do, out[ob+tq*C:ob+tq*C+HS]))
			pt, dpt := p[:n], dp[:n]
			matvecT(pt, q, kt, T)
			matvecT(dpt, do, vt, T)
			vexpShift(pt, pt, scale, lse[bh*T+tq])
			for j, pj := range pt {
				dpt[j] = pj * (dpt[j] - D) * scale // ds
			}
			clear(dq)
			gemvRows(dq, dpt, qkv, kb, C3)
			accumulate(dqkv[qb+tq*C3:qb+tq*C3+HS], dq)
			ger(dkt, T, q, dpt)
			ger(dvt, T, do, pt)
		}
		for j := 0; j < T; j++ {
			dk := dqkv[kb+j*C3 : kb+j*C3+HS]
			dv := dqkv[vb+j*C3 : vb+j*C3+HS]
			for d := range HS {
				dk[d] += dkt[d*T+j]
				dv[d] += dvt[d*T+j]
			}
		}
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
