package kerneltest

import (
	"fmt"
	"math"
	"testing"

	"github.com/gotrain/gotrain/kernels"
)

// gemmRef computes the contract's MatMul in float64 from float32 operands. It
// returns C and, per element, the tolerance for a float32 GEMM: twice the
// worst-case error of a float32 dot product of length K, plus the rounding
// of Beta·C.
func gemmRef(a, b, c []float32, p kernels.MatMulParams) (want, tol []float64) {
	M, N, K := p.M, p.N, p.K
	nb := p.Batches()
	want = make([]float64, nb*M*N)
	tol = make([]float64, nb*M*N)
	alpha, beta := float64(p.Alpha), float64(p.Beta)
	for bt := 0; bt < nb; bt++ {
		A, B := a[bt*M*K:], b[bt*K*N:]
		for i := 0; i < M; i++ {
			for j := 0; j < N; j++ {
				var s, sa float64
				for l := 0; l < K; l++ {
					var av, bv float64
					if p.TransA {
						av = float64(A[l*M+i])
					} else {
						av = float64(A[i*K+l])
					}
					if p.TransB {
						bv = float64(B[j*K+l])
					} else {
						bv = float64(B[l*N+j])
					}
					s += av * bv
					sa += math.Abs(av * bv)
				}
				o := bt*M*N + i*N + j
				w := alpha * s
				e := math.Abs(alpha) * sa
				if beta != 0 {
					w += beta * float64(c[o])
					e += math.Abs(beta * float64(c[o]))
				}
				want[o] = w
				tol[o] = 1e-6 + 2*u*float64(K+4)*e
			}
		}
	}
	return want, tol
}

// MatMul checks the GEMM C = Alpha·op(A)·op(B) + Beta·C for every
// combination of TransA and TransB, Batch 1 and 3, Alpha = 1, Beta = 0 with C
// pre-filled with NaN (which must not propagate), non-trivial Alpha and Beta,
// and K = 0.
func MatMul(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	r := newRand(10)
	type coef struct{ alpha, beta float32 }
	for _, sz := range gemmSizes {
		M, N, K := sz[0], sz[1], sz[2]
		for _, batch := range []int{1, 3} {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				for _, s := range []coef{{1, 0}, {0.75, -0.5}} {
					p := kernels.MatMulParams{Batch: batch, M: M, N: N, K: K, TransA: tr[0], TransB: tr[1], Alpha: s.alpha, Beta: s.beta}
					name := "matmul " + p.String()
					a := uniform(r, batch*M*K, -1, 1)
					bm := uniform(r, batch*K*N, -1, 1)
					var cb kernels.Buffer
					var c []float32
					if s.beta == 0 {
						cb = h.out(batch * M * N) // NaN: must not be read
					} else {
						c = uniform(r, batch*M*N, -1, 1)
						cb = h.in(c)
					}
					ab, bb := h.in(a), h.in(bm)
					h.run(name, func() error { return b.MatMul(cb, ab, bb, p) })
					want, tol := gemmRef(a, bm, c, p)
					compare(t, name, h.read(name, cb), want, func(i int) float64 { return tol[i] })
					compareExact(t, name+" A", h.read(name+" A", ab), a)
				}
			}
		}
	}

	// Batch 0 means 1.
	{
		p := kernels.MatMulParams{M: 5, N: 4, K: 3, Alpha: 1}
		name := "matmul " + p.String() + " (Batch 0)"
		a, bm := uniform(r, 15, -1, 1), uniform(r, 12, -1, 1)
		cb := h.out(20)
		h.run(name, func() error { return b.MatMul(cb, h.in(a), h.in(bm), p) })
		want, tol := gemmRef(a, bm, nil, p)
		compare(t, name, h.read(name, cb), want, func(i int) float64 { return tol[i] })
	}

	// K = 0: C = Beta·C (and 0 when Beta is 0, even over NaN).
	for _, beta := range []float32{0, 0.5} {
		p := kernels.MatMulParams{Batch: 2, M: 3, N: 4, K: 0, Alpha: 1, Beta: beta}
		name := "matmul " + p.String()
		var cb kernels.Buffer
		var c []float32
		if beta == 0 {
			cb = h.out(24)
		} else {
			c = uniform(r, 24, -1, 1)
			cb = h.in(c)
		}
		h.run(name, func() error { return b.MatMul(cb, h.in(nil), h.in(nil), p) })
		want, tol := gemmRef(nil, nil, c, p)
		compare(t, name, h.read(name, cb), want, func(i int) float64 { return tol[i] })
	}
}

// MatMulBackward checks the backward of C = A·B as the contract states it,
// two more products with Beta = 1: dA += dC·Bᵀ and dB += Aᵀ·dC, against the
// float64 reference and against finite differences of L = Σ dC∘(A·B).
func MatMulBackward(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	r := newRand(11)
	for _, sz := range gemmSizes {
		M, N, K := sz[0], sz[1], sz[2]
		name := fmt.Sprintf("matmul backward M=%d N=%d K=%d", M, N, K)
		a, bm, dc := uniform(r, M*K, -1, 1), uniform(r, K*N, -1, 1), uniform(r, M*N, -1, 1)
		da0, db0 := uniform(r, M*K, -1, 1), uniform(r, K*N, -1, 1)
		ab, bb, dcb := h.in(a), h.in(bm), h.in(dc)
		dab, dbb := h.in(da0), h.in(db0)
		pA := kernels.MatMulParams{M: M, N: K, K: N, TransB: true, Alpha: 1, Beta: 1}
		pB := kernels.MatMulParams{M: K, N: N, K: M, TransA: true, Alpha: 1, Beta: 1}
		h.run(name+" dA", func() error { return b.MatMul(dab, dcb, bb, pA) })
		h.run(name+" dB", func() error { return b.MatMul(dbb, ab, dcb, pB) })
		da, db := h.read(name+" dA", dab), h.read(name+" dB", dbb)

		// Reference: the same products in float64.
		wantA, tolA := gemmRef(dc, bm, da0, pA)
		compare(t, name+" dA", da, wantA, func(i int) float64 { return tolA[i] })
		wantB, tolB := gemmRef(a, dc, db0, pB)
		compare(t, name+" dB", db, wantB, func(i int) float64 { return tolB[i] })

		// Finite differences of L(A, B) = Σ_ij dC[i,j]·(A·B)[i,j].
		a64, b64, dc64 := to64(a), to64(bm), to64(dc)
		lossA := func(idx int, v float64) float64 { // the row of C that A[i,·] feeds
			i, l0 := idx/K, idx%K
			var s float64
			for j := 0; j < N; j++ {
				var c float64
				for l := 0; l < K; l++ {
					av := a64[i*K+l]
					if l == l0 {
						av = v
					}
					c += av * b64[l*N+j]
				}
				s += dc64[i*N+j] * c
			}
			return s
		}
		lossB := func(idx int, v float64) float64 { // the column of C that B[·,j] feeds
			l0, j := idx/N, idx%N
			var s float64
			for i := 0; i < M; i++ {
				var c float64
				for l := 0; l < K; l++ {
					bv := b64[l*N+j]
					if l == l0 {
						bv = v
					}
					c += a64[i*K+l] * bv
				}
				s += dc64[i*N+j] * c
			}
			return s
		}
		checkFD(t, name+" dA", a64, contribution(da, da0), fdIndices(r, M*K, nil), lossA, 1e-5*math.Sqrt(float64(N)), 1e-3)
		checkFD(t, name+" dB", b64, contribution(db, db0), fdIndices(r, K*N, nil), lossB, 1e-5*math.Sqrt(float64(M)), 1e-3)
	}
}

// BiasAdd checks y[r,c] = x[r,c] + bias[c].
func BiasAdd(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	r := newRand(12)
	for _, sz := range rowSizes {
		rows, cols := sz[0], sz[1]
		name := fmt.Sprintf("bias_add rows=%d cols=%d", rows, cols)
		x, bias := uniform(r, rows*cols, -1, 1), uniform(r, cols, -1, 1)
		xb, biasb, yb := h.in(x), h.in(bias), h.out(rows*cols)
		h.run(name, func() error { return b.BiasAdd(yb, xb, biasb, rows, cols) })
		want := make([]float64, rows*cols)
		for i := range want {
			want[i] = float64(x[i]) + float64(bias[i%cols])
		}
		compareAR(t, name, h.read(name, yb), want, 1e-7, 2*u)
		compareExact(t, name+" bias", h.read(name+" bias", biasb), bias)
	}
}

// BiasAddBackward checks dbias[c] += Σ_r dy[r,c], and against finite
// differences of L = Σ w∘(x + bias) (with dy = w).
func BiasAddBackward(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	r := newRand(13)
	for _, sz := range rowSizes {
		rows, cols := sz[0], sz[1]
		name := fmt.Sprintf("bias_add_backward rows=%d cols=%d", rows, cols)
		dy, db0 := uniform(r, rows*cols, -1, 1), uniform(r, cols, -1, 1)
		dyb, dbb := h.in(dy), h.in(db0)
		h.run(name, func() error { return b.BiasAddBackward(dbb, dyb, rows, cols) })
		got := h.read(name, dbb)
		contrib := make([]float64, cols)
		tol := make([]float64, cols)
		for c := 0; c < cols; c++ {
			terms := make([]float64, rows)
			for rr := 0; rr < rows; rr++ {
				terms[rr] = float64(dy[rr*cols+c])
				contrib[c] += terms[rr]
			}
			tol[c] = sumTol(terms) + 2*u*math.Abs(float64(db0[c])+contrib[c])
		}
		want := make([]float64, cols)
		for c := range want {
			want[c] = float64(db0[c]) + contrib[c]
		}
		compare(t, name, got, want, func(i int) float64 { return tol[i] })

		// L(bias) = Σ_r,c dy[r,c]·(x[r,c] + bias[c]); only column c depends on bias[c].
		bias := to64(uniform(r, cols, -1, 1))
		loss := func(c int, v float64) float64 {
			var s float64
			for rr := 0; rr < rows; rr++ {
				s += float64(dy[rr*cols+c]) * v
			}
			return s
		}
		checkFD(t, name, bias, contribution(got, db0), fdIndices(r, cols, nil), loss, 1e-5*math.Sqrt(float64(rows)), 1e-4)
	}
}
