//go:build goexperiment.simd && amd64

package cpufallback

import (
	"simd/archsimd"
	"unsafe"
)

// AVX2 + FMA forms of vec.go's primitives (see there). Each ends with
// VZEROUPPER (avx_simd.go says why). Tails shorter than a vector take the
// plain-Go form. Read the assembly after a change (go build -gcflags=-S):
// no legacy-SSE instruction (XORPS, MOVUPS, MOVSS without the V) may sit
// between AVX instructions, or every call pays an SSE/AVX transition;
// BenchmarkGELUVec against BenchmarkGELUGo shows it (about 8x faster when
// right, 2x slower when not).

// exp8 returns e^x per lane for x in [-87, 88]; below that it returns 0
// (the true value is under 1.7e-38), above it e^88 (callers need only "very
// large" there: GELU's σ), and NaN for NaN. Method: x = k·ln2 + r with
// |r| <= ln2/2 (Cody-Waite, ln2 split so that k·ln2hi is exact), e^r by its
// Taylor polynomial of degree 7 (truncation below 6e-9), 2^k from exponent
// bits. Error: a few float32 ulps.
func exp8(x archsimd.Float32x8) archsimd.Float32x8 {
	lo := archsimd.BroadcastFloat32x8(-87)
	hi := archsimd.BroadcastFloat32x8(88)
	xc := x.Max(lo).Min(hi)
	k := xc.Mul(archsimd.BroadcastFloat32x8(1.44269504088896341)).RoundToEven()
	r := k.MulAdd(archsimd.BroadcastFloat32x8(-0.693359375), xc)
	r = k.MulAdd(archsimd.BroadcastFloat32x8(2.12194440e-4), r)
	p := archsimd.BroadcastFloat32x8(1.0 / 5040)
	p = p.MulAdd(r, archsimd.BroadcastFloat32x8(1.0/720))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x8(1.0/120))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x8(1.0/24))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x8(1.0/6))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x8(0.5))
	one := archsimd.BroadcastFloat32x8(1)
	p = p.MulAdd(r, one)
	p = p.MulAdd(r, one)
	two := k.ConvertToInt32().Add(archsimd.BroadcastInt32x8(127)).ShiftAllLeft(23).AsFloat32x8()
	e := p.Mul(two)
	// Not BroadcastFloat32x8(0): the compiler makes that a legacy-SSE XORPS,
	// which costs a state transition per call when the upper halves are
	// dirty (as they are here); one-one is VEX.
	e = e.Merge(one.Sub(one), x.GreaterEqual(lo)) // x < -87 (and NaN) -> 0
	return e.Merge(x, x.Equal(x))                 // NaN -> NaN
}

func vexpShift(p, s []float32, scale, shift float32) float64 {
	if !gemmAVX2 || len(p) < 8 {
		return expShiftGo(p, s, scale, shift)
	}
	s = s[:len(p)]
	// Floats needed after the vector loop stay in memory (an array of 2 is
	// not kept in registers): a float live across the loop is otherwise
	// reloaded inside it with a legacy-SSE MOVSS or MOVSD (exp8's call
	// clobbers every register), and every pass pays an SSE/AVX transition.
	keep := [2]float32{scale, shift}
	vs := archsimd.BroadcastFloat32x8(scale)
	vh := archsimd.BroadcastFloat32x8(shift)
	one := archsimd.BroadcastFloat32x8(1)
	acc := one.Sub(one) // see exp8 for why not BroadcastFloat32x8(0)
	n8 := len(p) &^ 7
	for i := 0; i < n8; i += 8 {
		e := exp8(archsimd.LoadFloat32x8Slice(s[i:]).Mul(vs).Sub(vh))
		acc = acc.Add(e)
		e.StoreSlice(p[i:])
	}
	var lanes [8]float32
	acc.Store(&lanes)
	archsimd.ClearAVXUpperBits()
	z := expShiftGo(p[n8:], s[n8:], keep[0], keep[1])
	for _, v := range lanes {
		z += float64(v)
	}
	return z
}

// gelu8 returns, per lane, s = σ(2u) = 0.5(1+tanh(u)), 1-s and du/dx for
// GELU's u = √(2/π)(x + 0.044715x³).
func gelu8(v archsimd.Float32x8) (s, sm, du archsimd.Float32x8) {
	one := archsimd.BroadcastFloat32x8(1)
	cC := archsimd.BroadcastFloat32x8(-2 * geluC)
	x2 := v.Mul(v)
	m2u := x2.MulAdd(archsimd.BroadcastFloat32x8(geluA), one).Mul(v).Mul(cC) // -2u
	e := exp8(m2u)
	s = one.Div(one.Add(e))
	sm = e.Mul(s)
	du = x2.MulAdd(archsimd.BroadcastFloat32x8(3*geluA*geluC), archsimd.BroadcastFloat32x8(geluC))
	return s, sm, du
}

func geluVec(y, x []float32) {
	if !gemmAVX2 {
		geluGo(y, x)
		return
	}
	x = x[:len(y)]
	i := 0
	for ; i+8 <= len(y); i += 8 {
		v := archsimd.LoadFloat32x8Slice(x[i:])
		s, _, _ := gelu8(v)
		v.Mul(s).StoreSlice(y[i:])
	}
	archsimd.ClearAVXUpperBits()
	geluGo(y[i:], x[i:])
}

func geluBackwardVec(dx, dy, x []float32) {
	if !gemmAVX2 {
		geluBackwardGo(dx, dy, x)
		return
	}
	dy, x = dy[:len(dx)], x[:len(dx)]
	two := archsimd.BroadcastFloat32x8(2)
	i := 0
	for ; i+8 <= len(dx); i += 8 {
		v := archsimd.LoadFloat32x8Slice(x[i:])
		s, sm, du := gelu8(v)
		g := two.Mul(v).Mul(s).Mul(sm).MulAdd(du, s) // s + 2·x·s·(1-s)·du
		d := archsimd.LoadFloat32x8Slice(dx[i:])
		archsimd.LoadFloat32x8Slice(dy[i:]).MulAdd(g, d).StoreSlice(dx[i:])
	}
	archsimd.ClearAVXUpperBits()
	geluBackwardGo(dx[i:], dy[i:], x[i:])
}

// ldv and stv load and store 8 floats at p[i] without a bounds check; the
// callers check the whole range first.
func ldv(p []float32, i int) archsimd.Float32x8 {
	return archsimd.LoadFloat32x8((*[8]float32)(unsafe.Pointer(unsafe.SliceData(p[i:]))))
}

func matvecT(s, x, m []float32, ld int) {
	n, k := len(s), len(x)
	if !gemmAVX2 || n < 8 || k == 0 {
		matvecTGo(s, x, m, ld)
		return
	}
	_ = m[(k-1)*ld+n-1] // bounds, once
	mp := unsafe.Pointer(unsafe.SliceData(m))
	at := func(d, j int) archsimd.Float32x8 {
		return archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(mp, 4*(d*ld+j))))
	}
	j := 0
	for ; j+32 <= n; j += 32 {
		b := archsimd.BroadcastFloat32x8(x[0])
		a0, a1, a2, a3 := at(0, j).Mul(b), at(0, j+8).Mul(b), at(0, j+16).Mul(b), at(0, j+24).Mul(b)
		for d := 1; d < k; d++ {
			b = archsimd.BroadcastFloat32x8(x[d])
			a0 = at(d, j).MulAdd(b, a0)
			a1 = at(d, j+8).MulAdd(b, a1)
			a2 = at(d, j+16).MulAdd(b, a2)
			a3 = at(d, j+24).MulAdd(b, a3)
		}
		a0.StoreSlice(s[j:])
		a1.StoreSlice(s[j+8:])
		a2.StoreSlice(s[j+16:])
		a3.StoreSlice(s[j+24:])
	}
	for ; j+8 <= n; j += 8 {
		a := at(0, j).Mul(archsimd.BroadcastFloat32x8(x[0]))
		for d := 1; d < k; d++ {
			a = at(d, j).MulAdd(archsimd.BroadcastFloat32x8(x[d]), a)
		}
		a.StoreSlice(s[j:])
	}
	archsimd.ClearAVXUpperBits()
	for ; j < n; j++ {
		var v float32
		for d, xd := range x {
			v += xd * m[d*ld+j]
		}
		s[j] = v
	}
}

func gemvRows(y, a, m []float32, base, stride int) {
	n, k := len(y), len(a)
	if !gemmAVX2 || n < 8 || k == 0 {
		gemvRowsGo(y, a, m, base, stride)
		return
	}
	_ = m[base+(k-1)*stride+n-1] // bounds, once
	mp := unsafe.Pointer(unsafe.SliceData(m))
	at := func(j, i int) archsimd.Float32x8 {
		return archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(mp, 4*(base+j*stride+i))))
	}
	i := 0
	for ; i+32 <= n; i += 32 {
		y0, y1, y2, y3 := ldv(y, i), ldv(y, i+8), ldv(y, i+16), ldv(y, i+24)
		for j, aj := range a {
			b := archsimd.BroadcastFloat32x8(aj)
			y0 = at(j, i).MulAdd(b, y0)
			y1 = at(j, i+8).MulAdd(b, y1)
			y2 = at(j, i+16).MulAdd(b, y2)
			y3 = at(j, i+24).MulAdd(b, y3)
		}
		y0.StoreSlice(y[i:])
		y1.StoreSlice(y[i+8:])
		y2.StoreSlice(y[i+16:])
		y3.StoreSlice(y[i+24:])
	}
	for ; i+8 <= n; i += 8 {
		y0 := ldv(y, i)
		for j, aj := range a {
			y0 = at(j, i).MulAdd(archsimd.BroadcastFloat32x8(aj), y0)
		}
		y0.StoreSlice(y[i:])
	}
	archsimd.ClearAVXUpperBits()
	for ; i < n; i++ {
		v := y[i]
		for j, aj := range a {
			v += aj * m[base+j*stride+i]
		}
		y[i] = v
	}
}

func ger(m []float32, ld int, x, y []float32) {
	n, k := len(y), len(x)
	if !gemmAVX2 || n < 8 || k == 0 {
		gerGo(m, ld, x, y)
		return
	}
	_ = m[(k-1)*ld+n-1] // bounds, once
	mp := unsafe.Pointer(unsafe.SliceData(m))
	at := func(d, j int) *[8]float32 { return (*[8]float32)(unsafe.Add(mp, 4*(d*ld+j))) }
	// y in registers, 32 columns at a time; x[d] broadcast per row.
	j := 0
	for ; j+32 <= n; j += 32 {
		y0, y1, y2, y3 := ldv(y, j), ldv(y, j+8), ldv(y, j+16), ldv(y, j+24)
		for d := range x {
			b := archsimd.BroadcastFloat32x8(x[d])
			p0, p1, p2, p3 := at(d, j), at(d, j+8), at(d, j+16), at(d, j+24)
			y0.MulAdd(b, archsimd.LoadFloat32x8(p0)).Store(p0)
			y1.MulAdd(b, archsimd.LoadFloat32x8(p1)).Store(p1)
			y2.MulAdd(b, archsimd.LoadFloat32x8(p2)).Store(p2)
			y3.MulAdd(b, archsimd.LoadFloat32x8(p3)).Store(p3)
		}
	}
	for ; j+8 <= n; j += 8 {
		y0 := ldv(y, j)
		for d := range x {
			p0 := at(d, j)
			y0.MulAdd(archsimd.BroadcastFloat32x8(x[d]), archsimd.LoadFloat32x8(p0)).Store(p0)
		}
	}
	archsimd.ClearAVXUpperBits()
	if j < n {
		for d, xd := range x {
			r := m[d*ld+j : d*ld+n]
			for i := range r {
				r[i] += xd * y[j+i]
			}
		}
	}
}
