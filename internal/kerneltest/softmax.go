package kerneltest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gotrain/gotrain/kernels"
)

// logits returns rows×cols values ~ N(0, 9), with every fourth row (from row
// 1) shifted by +100, where exp overflows float32 unless the row maximum is
// subtracted, and every fourth (from row 2) scaled by 30, where most exp
// underflow.
func logits(r *rand.Rand, rows, cols int) []float32 {
	x := normal(r, rows*cols, 3)
	for rr := 0; rr < rows; rr++ {
		row := x[rr*cols : (rr+1)*cols]
		for c := range row {
			switch rr % 4 {
			case 1:
				row[c] += 100
			case 2:
				row[c] *= 30
			}
		}
	}
	return x
}

// softmaxRow returns the float64 softmax of x, its maximum and its log-sum-exp.
func softmaxRow(x []float64) (y []float64, lse float64) {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, v)
	}
	var s float64
	y = make([]float64, len(x))
	for c, v := range x {
		y[c] = math.Exp(v - m)
		s += y[c]
	}
	for c := range y {
		y[c] /= s
	}
	return y, m + math.Log(s)
}

// softmaxTol is the tolerance of a float32 softmax output p over cols columns.
func softmaxTol(p float64, cols int) float64 {
	return 1e-7 + (1e-5+2*u*float64(cols))*math.Abs(p)
}

// SoftmaxForward checks the row-wise softmax, including rows where exp
// overflows or underflows without the max subtraction.
func SoftmaxForward(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	r := newRand(40)
	for _, sz := range rowSizes {
		rows, cols := sz[0], sz[1]
		name := fmt.Sprintf("softmax_forward rows=%d cols=%d", rows, cols)
		x := logits(r, rows, cols)
		xb, yb := h.in(x), h.out(rows*cols)
		h.run(name, func() error { return b.SoftmaxForward(yb, xb, rows, cols) })
		x64 := to64(x)
		want := make([]float64, 0, rows*cols)
		for rr := 0; rr < rows; rr++ {
			y, _ := softmaxRow(x64[rr*cols : (rr+1)*cols])
			want = append(want, y...)
		}
		compare(t, name, h.read(name, yb), want, func(i int) float64 { return softmaxTol(want[i], cols) })
	}
}

// SoftmaxBackward checks dx += y∘(dy - Σ dy∘y) per row from the output y, and
// finite differences of L = Σ dy∘softmax(x).
func SoftmaxBackward(t *testing.T, b kernels.Backend) {
	h := newHarness(t, b)
	r := newRand(41)
	for _, sz := range rowSizes {
		rows, cols := sz[0], sz[1]
		name := fmt.Sprintf("softmax_backward rows=%d cols=%d", rows, cols)
		x := logits(r, rows, cols)
		x64 := to64(x)
		y := make([]float32, 0, rows*cols)
		for rr := 0; rr < rows; rr++ {
			yr, _ := softmaxRow(x64[rr*cols : (rr+1)*cols])
			for _, v := range yr {
				y = append(y, float32(v))
			}
		}
		dy, dx0 := uniform(r, rows*cols, -1, 1), uniform(r, rows*cols, -1, 1)
		dyb, yb, dxb := h.in(dy), h.in(y), h.in(dx0)
		h.run(name, func() error { return b.SoftmaxBackward(dxb, dyb, yb, rows, cols) })
		got := h.read(name, dxb)

		contrib := make([]float64, rows*cols)
		for rr := 0; rr < rows; rr++ {
			var d float64
			for c := 0; c < cols; c++ {
				d += float64(dy[rr*cols+c]) * float64(y[rr*cols+c])
			}
			for c := 0; c < cols; c++ {
				i := rr*cols + c
				contrib[i] = float64(y[i]) * (float64(dy[i]) - d)
			}
		}
		compareAccum(t, name, got, dx0, contrib, 1e-6, 1e-4)

		loss := func(i int, v float64) float64 {
			rr, c0 := i/cols, i%cols
			row := append([]float64(nil), x64[rr*cols:(rr+1)*cols]...)
			row[c0] = v
			sm, _ := softmaxRow(row)
			var s float64
			for c, p := range sm {
				s += float64(dy[rr*cols+c]) * p
			}
			return s
		}
		checkFD(t, name, x64, contribution(got, dx0), fdIndices(r, rows*cols, nil), loss, 1e-5, 1e-3)
	}
}
