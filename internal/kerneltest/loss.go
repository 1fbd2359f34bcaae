package kerneltest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gotrain/gotrain/kernels"
)

// ceLabels returns a label per row in [0, cols); with bad, rows 1 and 2 (when
// they exist) get the out-of-range labels -1 and cols.
func ceLabels(r *rand.Rand, rows, cols int, bad bool) []int32 {
	l := make([]int32, rows)
	for i := range l {
		l[i] = int32(r.IntN(cols))
	}
	if bad && rows >= 3 {
		l[1], l[2] = -1, int32(cols)
	}
	return l
}

func validLabel(l int32, cols int) bool { return l >= 0 && int(l) < cols }

// CrossEntropyForward checks the fused softmax cross-entropy: probs is the
// softmax and losses[r] the negative log-likelihood of labels[r], NaN for an
// out-of-range label (that row only, without a crash).
func CrossEntropyForward(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	r := newRand(50)
	for _, sz := range rowSizes {
		rows, cols := sz[0], sz[1]
		name := fmt.Sprintf("cross_entropy_forward rows=%d cols=%d", rows, cols)
		x := logits(r, rows, cols)
		labels := ceLabels(r, rows, cols, true)
		xb, lb := h.in(x), h.inI32(labels)
		lossb, probb := h.out(rows), h.out(rows*cols)
		h.run(name, func() error { return b.CrossEntropyForward(lossb, probb, xb, lb, rows, cols) })

		x64 := to64(x)
		wantP := make([]float64, 0, rows*cols)
		wantL := make([]float64, rows)
		for rr := 0; rr < rows; rr++ {
			row := x64[rr*cols : (rr+1)*cols]
			p, lse := softmaxRow(row)
			wantP = append(wantP, p...)
			if validLabel(labels[rr], cols) {
				wantL[rr] = lse - row[labels[rr]]
			} else {
				wantL[rr] = math.NaN()
			}
		}
		compareAR(t, name+" losses", h.read(name+" losses", lossb), wantL, 5e-5, 2e-5)
		compare(t, name+" probs", h.read(name+" probs", probb), wantP, func(i int) float64 { return softmaxTol(wantP[i], cols) })
		compareExact(t, name+" logits", h.read(name+" logits", xb), x)
	}
}

// CrossEntropyBackward checks dlogits += dlosses[r]·(probs - onehot(label))
// and finite differences of L = Σ_r dlosses[r]·loss_r(logits). Rows with an
// out-of-range label must not crash or write out of bounds; their gradient is
// not checked.
func CrossEntropyBackward(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	r := newRand(51)
	for _, sz := range rowSizes {
		rows, cols := sz[0], sz[1]
		name := fmt.Sprintf("cross_entropy_backward rows=%d cols=%d", rows, cols)
		x := logits(r, rows, cols)
		x64 := to64(x)
		labels := ceLabels(r, rows, cols, true)
		probs := make([]float32, 0, rows*cols)
		for rr := 0; rr < rows; rr++ {
			p, _ := softmaxRow(x64[rr*cols : (rr+1)*cols])
			for _, v := range p {
				probs = append(probs, float32(v))
			}
		}
		dl, dx0 := uniform(r, rows, -1, 1), uniform(r, rows*cols, -1, 1)
		dxb, dlb, pb, lb := h.in(dx0), h.in(dl), h.in(probs), h.inI32(labels)
		h.run(name, func() error { return b.CrossEntropyBackward(dxb, dlb, pb, lb, rows, cols) })
		all := h.read(name, dxb)

		// Keep the rows with valid labels.
		var got, pre []float32
		var contrib, xv []float64
		var rowOf []int
		for rr := 0; rr < rows; rr++ {
			if !validLabel(labels[rr], cols) {
				continue
			}
			for c := 0; c < cols; c++ {
				i := rr*cols + c
				oh := 0.0
				if c == int(labels[rr]) {
					oh = 1
				}
				got = append(got, all[i])
				pre = append(pre, dx0[i])
				contrib = append(contrib, float64(dl[rr])*(float64(probs[i])-oh))
				xv = append(xv, x64[i])
				rowOf = append(rowOf, rr)
			}
		}
		compareAccum(t, name, got, pre, contrib, 1e-6, 1e-5)

		loss := func(k int, v float64) float64 {
			rr, c0 := rowOf[k], k%cols
			row := append([]float64(nil), x64[rr*cols:(rr+1)*cols]...)
			row[c0] = v
			_, lse := softmaxRow(row)
			return float64(dl[rr]) * (lse - row[labels[rr]])
		}
		checkFD(t, name, xv, contribution(got, pre), fdIndices(r, len(xv), nil), loss, 1e-5, 1e-3)
	}
}

// MSEForward checks loss[0] = Σ (pred - target)² / n.
func MSEForward(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	r := newRand(52)
	for _, n := range elemSizes {
		name := fmt.Sprintf("mse_forward n=%d", n)
		p, tg := uniform(r, n, -1, 1), uniform(r, n, -1, 1)
		pb, tb, lb := h.in(p), h.in(tg), h.out(1)
		h.run(name, func() error { return b.MSEForward(lb, pb, tb, n) })
		terms := make([]float64, n)
		var s float64
		for i := range terms {
			d := float64(p[i]) - float64(tg[i])
			terms[i] = d * d
			s += terms[i]
		}
		want := s / float64(n)
		compare(t, name, h.read(name, lb), []float64{want}, func(int) float64 { return sumTol(terms)/float64(n) + 2*u*want })
	}
}

// MSEBackward checks dpred += dloss[0]·2·(pred - target)/n and finite
// differences of L = dloss·MSE(pred).
func MSEBackward(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	r := newRand(53)
	for _, n := range elemSizes {
		for _, dl := range []float32{1, -0.7} {
			name := fmt.Sprintf("mse_backward n=%d dloss=%g", n, dl)
			p, tg, dp0 := uniform(r, n, -1, 1), uniform(r, n, -1, 1), uniform(r, n, -1, 1)
			dpb, dlb, pb, tb := h.in(dp0), h.in([]float32{dl}), h.in(p), h.in(tg)
			h.run(name, func() error { return b.MSEBackward(dpb, dlb, pb, tb, n) })
			got := h.read(name, dpb)
			contrib := make([]float64, n)
			for i := range contrib {
				contrib[i] = float64(dl) * 2 * (float64(p[i]) - float64(tg[i])) / float64(n)
			}
			compareAccum(t, name, got, dp0, contrib, 1e-9, 1e-5)
			loss := func(i int, v float64) float64 {
				d := v - float64(tg[i])
				return float64(dl) * d * d / float64(n)
			}
			checkFD(t, name, to64(p), contribution(got, dp0), fdIndices(r, n, nil), loss, 1e-6, 1e-3)
		}
	}
}
