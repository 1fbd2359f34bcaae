package cpufallback

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gotrain/gotrain/kernels"
)

// Quick checks of the non-GEMM kernels against float64 loops; the full
// suite is internal/kerneltest.

func fbuf(f []float32) *Buffer { return &Buffer{F: f} }

func randf(r *rand.Rand, n int, s float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * s)
	}
	return x
}

func clone(x []float32) []float32 { return append([]float32(nil), x...) }

func near(t *testing.T, name string, got []float32, want []float64, tol float64) {
	t.Helper()
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= tol*(1+math.Abs(want[i]))) {
			t.Fatalf("%s[%d] = %v, want %v (diff %g)", name, i, got[i], want[i], d)
		}
	}
}

func TestSanity(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, threads := range []int{1, 3} {
		b := New(threads)
		for _, n := range []int{0, 1, 7, 100003} {
			x, a, dy := randf(r, n, 2), randf(r, n, 1), randf(r, n, 1)
			dx0 := randf(r, n, 1)
			y := make([]float32, n)
			want := make([]float64, n)
			un := func(name string, fn func(y, x kernels.Buffer, n int) error, ref func(float64) float64, tol float64) {
				if err := fn(fbuf(y), fbuf(x), n); err != nil {
					t.Fatal(err)
				}
				for i := range want {
					want[i] = ref(float64(x[i]))
				}
				near(t, name, y, want, tol)
			}
			gelu := func(v float64) float64 {
				return 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
			}
			un("relu", b.ReLUForward, func(v float64) float64 { return max(v, 0) }, 0)
			un("gelu", b.GELUForward, gelu, 2e-7)
			un("tanh", b.TanhForward, math.Tanh, 1e-7)
			un("sigmoid", b.SigmoidForward, func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }, 1e-7)
			// GELU backward against a central difference in float64.
			dx := clone(dx0)
			if err := b.GELUBackward(fbuf(dx), fbuf(dy), fbuf(x), n); err != nil {
				t.Fatal(err)
			}
			for i := range want {
				v, h := float64(x[i]), 1e-5
				want[i] = float64(dx0[i]) + float64(dy[i])*(gelu(v+h)-gelu(v-h))/(2*h)
			}
			near(t, "gelu_backward", dx, want, 1e-6)
			// Mul backward with one nil gradient.
			dx = clone(dx0)
			if err := b.MulBackward(nil, fbuf(dx), fbuf(dy), fbuf(a), fbuf(x), n); err != nil {
				t.Fatal(err)
			}
			for i := range want {
				want[i] = float64(dx0[i]) + float64(dy[i])*float64(a[i])
			}
			near(t, "mul_backward", dx, want, 1e-6)
			// Reductions.
			one := []float32{5}
			var s, sq, ab, mse float64
			for i := range x {
				v := float64(x[i])
				s, sq, ab = s+v, sq+v*v, ab+math.Abs(v)
				d := v - float64(a[i])
				mse += d * d
			}
			check1 := func(name string, err error, w float64) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				near(t, name, one, []float64{w}, 1e-6)
			}
			check1("sum", b.SumForward(fbuf(one), fbuf(x), n), s)
			check1("l1", b.L1Forward(fbuf(one), fbuf(x), 0.5, n), 0.5*ab)
			check1("l2", b.L2Forward(fbuf(one), fbuf(x), 0.5, n), 0.25*sq)
			one[0] = 3
			check1("sum_squares", b.SumSquares(fbuf(one), fbuf(x), n), 3+sq)
			if n > 0 {
				check1("mean", b.MeanForward(fbuf(one), fbuf(x), n), s/float64(n))
				check1("mse", b.MSEForward(fbuf(one), fbuf(x), fbuf(a), n), mse/float64(n))
			}
			// Dropout: the mask is the reference hash's.
			mask := make([]float32, n)
			if err := b.DropoutForward(fbuf(y), fbuf(mask), fbuf(x), 0.25, 42, n); err != nil {
				t.Fatal(err)
			}
			for i := range want {
				want[i] = 0
				if kernels.DropoutUniform(42, i) >= 0.25 {
					want[i] = float64(x[i]) / 0.75
				}
			}
			near(t, "dropout", y, want, 1e-7)
			// AdamW against the reference loop in float64.
			p, m, v := clone(x), randf(r, n, 0.1), randf(r, n, 0.1)
			for i := range v {
				v[i] *= v[i]
			}
			h := kernels.AdamParams{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1, Step: 5}
			wantP := make([]float64, n)
			for i := range wantP {
				pp, g := float64(p[i]), float64(dy[i])
				pp -= float64(h.LR) * float64(h.WeightDecay) * pp
				b1, b2 := float64(h.Beta1), float64(h.Beta2)
				mm := b1*float64(m[i]) + (1-b1)*g
				vv := b2*float64(v[i]) + (1-b2)*g*g
				mh, vh := mm/(1-math.Pow(b1, 5)), vv/(1-math.Pow(b2, 5))
				wantP[i] = pp - float64(h.LR)*mh/(math.Sqrt(vh)+float64(h.Eps))
			}
			if err := b.AdamWUpdate(fbuf(p), fbuf(dy), fbuf(m), fbuf(v), h, n); err != nil {
				t.Fatal(err)
			}
			near(t, "adamw", p, wantP, 1e-6)
		}
		// Row-wise kernels, including a narrow tall bias gradient.
		for _, d := range [][2]int{{3, 5}, {1000, 77}, {40000, 3}, {2, 70000}} {
			rows, cols := d[0], d[1]
			x, dy := randf(r, rows*cols, 3), randf(r, rows*cols, 1)
			probs := make([]float32, rows*cols)
			losses := make([]float32, rows)
			labels := make([]int32, rows)
			for i := range labels {
				labels[i] = int32(r.IntN(cols))
			}
			labels[0] = int32(cols) // out of range: NaN loss
			if err := b.CrossEntropyForward(fbuf(losses), fbuf(probs), fbuf(x), &Buffer{I: labels}, rows, cols); err != nil {
				t.Fatal(err)
			}
			wantP := make([]float64, rows*cols)
			wantL := make([]float64, rows)
			for i := 0; i < rows; i++ {
				row := x[i*cols : (i+1)*cols]
				m := math.Inf(-1)
				for _, v := range row {
					m = max(m, float64(v))
				}
				var s float64
				for _, v := range row {
					s += math.Exp(float64(v) - m)
				}
				for c, v := range row {
					wantP[i*cols+c] = math.Exp(float64(v)-m) / s
				}
				if i > 0 {
					wantL[i] = m + math.Log(s) - float64(row[labels[i]])
				}
			}
			if !math.IsNaN(float64(losses[0])) {
				t.Fatalf("loss with label out of range = %v, want NaN", losses[0])
			}
			near(t, "probs", probs, wantP, 1e-6)
			near(t, "losses", losses[1:], wantL[1:], 1e-6)
			db0 := randf(r, cols, 1)
			db := clone(db0)
			if err := b.BiasAddBackward(fbuf(db), fbuf(dy), rows, cols); err != nil {
				t.Fatal(err)
			}
			wantB := make([]float64, cols)
			for c := range wantB {
				wantB[c] = float64(db0[c])
				for i := 0; i < rows; i++ {
					wantB[c] += float64(dy[i*cols+c])
				}
			}
			near(t, "dbias", db, wantB, 1e-5)
		}
	}
}

func TestErrors(t *testing.T) {
	b := New(2)
	x := fbuf(make([]float32, 10))
	lab := &Buffer{I: make([]int32, 2)}
	for name, err := range map[string]error{
		"short":    b.Add(x, x, fbuf(make([]float32, 9)), 10),
		"dtype":    b.ReLUForward(x, lab, 2),
		"negative": b.SoftmaxForward(x, x, -1, 2),
		"labels":   b.CrossEntropyForward(x, x, x, x, 2, 5),
		"nil":      b.SumForward(nil, x, 10),
	} {
		if !errors.Is(err, kernels.ErrShape) {
			t.Errorf("%s: err = %v, want ErrShape", name, err)
		}
	}
	for name, err := range map[string]error{
		"dropout p": b.DropoutForward(x, x, x, 1, 0, 10),
		"step":      b.AdamUpdate(x, x, x, x, kernels.AdamParams{Beta1: 0.9, Beta2: 0.99}, 10),
		"vel":       b.SGDUpdate(x, x, nil, kernels.SGDParams{LR: 1, Momentum: 0.9}, 10),
		"maxNorm":   b.ClipByGlobalNorm(x, x, float32(math.NaN()), 10),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// TestDropoutHash checks dropoutRange's inlined hash and integer threshold
// against kernels.DropoutUniform, including p on a k/2²⁴ boundary.
func TestDropoutHash(t *testing.T) {
	b := New(2)
	const n = 50000
	x := make([]float32, n)
	for i := range x {
		x[i] = 1
	}
	y, mask := make([]float32, n), make([]float32, n)
	for _, seed := range []uint64{0, 1, 0xdeadbeef, math.MaxUint64} {
		u := kernels.DropoutUniform(seed, 12345)
		for _, p := range []float32{0, 1e-9, 0.1, 0.5, 0.999, u, math.Nextafter32(u, 0), math.Nextafter32(u, 1)} {
			if err := b.DropoutForward(fbuf(y), fbuf(mask), fbuf(x), p, seed, n); err != nil {
				t.Fatal(err)
			}
			for i := range mask {
				var want float32
				if kernels.DropoutUniform(seed, i) >= p {
					want = 1 / (1 - p)
				}
				if mask[i] != want || y[i] != want {
					t.Fatalf("seed %d p %v: mask[%d] = %v, y = %v, want %v", seed, p, i, mask[i], y[i], want)
				}
			}
		}
	}
}
