package cpufallback

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The vector primitives against float64 math, at lengths around the vector
// width, with the edge values each one documents.
func TestVecExpShift(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 7, 8, 9, 16, 31, 100} {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rng.NormFloat64() * 30)
		}
		if n > 3 {
			s[0], s[1], s[2] = -1e30, float32(math.Inf(-1)), 5
		}
		const scale, shift = 0.7, 3.5
		p := make([]float32, n)
		z := vexpShift(p, s, scale, shift)
		var zr float64
		for i, v := range s {
			want := math.Exp(float64(v*scale) - shift)
			zr += want
			if want < 1e-37 {
				require.LessOrEqual(t, float64(p[i]), 2e-37, "n=%d i=%d s=%g", n, i, v)
				continue
			}
			require.InEpsilon(t, want, float64(p[i]), 2e-6, "n=%d i=%d s=%g", n, i, v)
		}
		if n > 0 {
			require.InEpsilon(t, zr, z, 2e-6, "n=%d: sum", n)
		}
	}
	nan := []float32{1, 2, 3, 4, 5, 6, 7, float32(math.NaN()), 1}
	p := make([]float32, len(nan))
	require.True(t, math.IsNaN(vexpShift(p, nan, 1, 0)))
	require.True(t, math.IsNaN(float64(p[7])))
}

func TestVecGELU(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 8, 13, 64, 1001} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 4)
		}
		x[0] = -30
		if n > 9 {
			x[8], x[9] = 0, 40
		}
		y := make([]float32, n)
		geluVec(y, x)
		dy := make([]float32, n)
		dx := make([]float32, n)
		for i := range dy {
			dy[i] = float32(rng.NormFloat64())
			dx[i] = 0.25
		}
		geluBackwardVec(dx, dy, x)
		for i, v := range x {
			xf := float64(v)
			u := geluC * (xf + geluA*xf*xf*xf)
			th := math.Tanh(u)
			want := 0.5 * xf * (1 + th)
			require.InDelta(t, want, float64(y[i]), 2e-6*max(1, math.Abs(want)), "n=%d x=%g", n, v)
			d := 0.5*(1+th) + 0.5*xf*(1-th*th)*geluC*(1+3*geluA*xf*xf)
			require.InDelta(t, 0.25+float64(dy[i])*d, float64(dx[i]), 4e-6*max(1, math.Abs(d)), "n=%d x=%g: backward", n, v)
		}
	}
	x := []float32{1, 2, 3, 4, 5, 6, 7, float32(math.NaN()), 1}
	y := make([]float32, len(x))
	geluVec(y, x)
	require.True(t, math.IsNaN(float64(y[7])), "NaN in, NaN out")
}

// matvecT, gemvRows and ger against their loops, at sizes around the
// vector blocks (8 and 32).
func TestVecMatrix(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	r := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	for _, n := range []int{1, 7, 8, 9, 31, 32, 33, 45, 64, 100} {
		for _, k := range []int{1, 3, 8, 32} {
			ld := n + 5
			m := r(k*(n+8) + 40)
			x := r(k)
			s := r(n)
			matvecT(s, x, m, ld)
			for j := range s {
				var want float64
				for d := range x {
					want += float64(x[d]) * float64(m[d*ld+j])
				}
				require.InDelta(t, want, float64(s[j]), 1e-5*float64(k), "matvecT n=%d k=%d j=%d", n, k, j)
			}

			a := r(k)
			y := r(n)
			y0 := append([]float32(nil), y...)
			const base = 3
			gemvRows(y, a, m, base, n+7)
			for i := range y {
				want := float64(y0[i])
				for j := range a {
					want += float64(a[j]) * float64(m[base+j*(n+7)+i])
				}
				require.InDelta(t, want, float64(y[i]), 1e-5*float64(k), "gemvRows n=%d k=%d i=%d", n, k, i)
			}

			m0 := append([]float32(nil), m...)
			ger(m, ld, x, y)
			for d := range x {
				for j := range ld {
					want := m0[d*ld+j]
					if j < n {
						want += x[d] * y[j]
					}
					require.InDelta(t, float64(want), float64(m[d*ld+j]), 1e-6*max(1, math.Abs(float64(want))), "ger n=%d k=%d d=%d j=%d", n, k, d, j)
				}
			}
		}
	}
}
