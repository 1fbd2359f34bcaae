package cpufallback

// Vector primitives of the attention and GELU kernels. Each has a plain-Go
// form here (the *Go functions) and a dispatcher (vexpShift, geluVec,
// geluBackwardVec, matvecT, gemvRows, ger) that is the plain form in builds without
// GOEXPERIMENT=simd (vec_plain.go) and an AVX2 + FMA form with archsimd
// where the CPU has them (vec_simd_amd64.go). The two forms round
// differently (FMA, float32 exp), so results differ between builds in the
// last bits; within one build they are deterministic.

// axpyGo sets y[i] += a*x[i] for i < len(y) <= len(x).
func axpyGo(y []float32, a float32, x []float32) {
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

// expShiftGo sets p[i] = e^(s[i]*scale - shift) for i < len(p) <= len(s)
// and returns Σ p[i] (in float64). p may be s.
func expShiftGo(p, s []float32, scale, shift float32) float64 {
	s = s[:len(p)]
	var z float64
	for i, v := range s {
		e := float32(exp64(float64(v*scale) - float64(shift)))
		p[i] = e
		z += float64(e)
	}
	return z
}

// geluGo sets y[i] = GELU(x[i]) for i < len(y) <= len(x), in float64.
func geluGo(y, x []float32) {
	var buf [blk]float64
	for i0 := 0; i0 < len(y); i0 += blk {
		xb := x[i0:min(i0+blk, len(y))]
		b := buf[:len(xb)]
		widen(b, xb)
		for i, v := range b {
			s, _, _ := geluSig(v)
			b[i] = v * s
		}
		narrow(y[i0:i0+len(b)], b)
	}
}

// geluBackwardGo sets dx[i] += dy[i]·GELU'(x[i]) for i < len(dx), in
// float64.
func geluBackwardGo(dx, dy, x []float32) {
	var buf [blk]float64
	for i0 := 0; i0 < len(dx); i0 += blk {
		xb := x[i0:min(i0+blk, len(dx))]
		b := buf[:len(xb)]
		widen(b, xb)
		for i, v := range b {
			s, sm, du := geluSig(v)
			b[i] = s + 2*v*s*sm*du
		}
		i1 := i0 + len(b)
		accumulateProduct(dx[i0:i1], dy[i0:i1], b)
	}
}

// matvecTGo sets s[j] = Σ_d x[d]·m[d·ld+j] for j < len(s), d < len(x): a
// vector times a matrix stored transposed, rows ld apart.
func matvecTGo(s, x, m []float32, ld int) {
	clear(s)
	for d, xd := range x {
		axpyGo(s, xd, m[d*ld:d*ld+len(s)])
	}
}

// gemvRowsGo sets y[i] += Σ_j a[j]·m[base+j·stride+i] for i < len(y),
// j < len(a): a combination of rows of m.
func gemvRowsGo(y, a, m []float32, base, stride int) {
	for j, aj := range a {
		o := base + j*stride
		axpyGo(y, aj, m[o:o+len(y)])
	}
}

// gerGo sets m[d·ld+j] += x[d]·y[j] for d < len(x), j < len(y).
func gerGo(m []float32, ld int, x, y []float32) {
	for d, xd := range x {
		axpyGo(m[d*ld:d*ld+len(y)], xd, y)
	}
}
