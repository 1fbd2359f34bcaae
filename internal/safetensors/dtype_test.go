package safetensors

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// f16Value is the float64 value of a binary16 bit pattern, from the IEEE 754
// definition (the reference F16ToF32 is checked against).
func f16Value(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	switch e {
	case 0:
		return sign * m * math.Ldexp(1, -24)
	case 0x1f:
		if m == 0 {
			return sign * math.Inf(1)
		}
		return math.NaN()
	}
	return sign * (1024 + m) * math.Ldexp(1, e-25)
}

func TestF16ToF32Exhaustive(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		got := F16ToF32(uint16(h))
		want := f16Value(uint16(h))
		if math.IsNaN(want) {
			b := math.Float32bits(got)
			if !math.IsNaN(float64(got)) || b>>31 != uint32(h>>15) || (b>>13)&0x3ff != uint32(h&0x3ff) {
				t.Fatalf("F16ToF32(%#04x) = %#08x, want a NaN of the same sign and payload", h, b)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != (h&0x8000 != 0) {
			t.Fatalf("F16ToF32(%#04x) = %v, want %v", h, got, want)
		}
		// Every binary16 value is a float32 that narrows back to itself.
		if back := F32ToF16(got); back != uint16(h) {
			t.Fatalf("F32ToF16(F16ToF32(%#04x)) = %#04x", h, back)
		}
	}
}

func TestBF16Exhaustive(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		got := BF16ToF32(uint16(h))
		if math.Float32bits(got) != uint32(h)<<16 {
			t.Fatalf("BF16ToF32(%#04x) = %#08x", h, math.Float32bits(got))
		}
		back := F32ToBF16(got)
		if math.IsNaN(float64(got)) {
			if !math.IsNaN(float64(BF16ToF32(back))) {
				t.Fatalf("F32ToBF16(NaN %#04x) = %#04x, not a NaN", h, back)
			}
			continue
		}
		if back != uint16(h) {
			t.Fatalf("F32ToBF16(BF16ToF32(%#04x)) = %#04x", h, back)
		}
	}
}

// nearest16 rounds |x| to nearest-even among the 16-bit patterns 0..inf,
// where value(inf) is the next power of two past the largest finite value
// (that is how IEEE 754 decides overflow). It is the slow reference.
func nearest16(x float32, values []float64) uint16 {
	sign := uint16(0)
	if math.Signbit(float64(x)) {
		sign = 0x8000
	}
	a := math.Abs(float64(x))
	i := sort.SearchFloat64s(values, a) // values[i-1] < a <= values[i]
	if i == len(values) {
		return sign | uint16(len(values)-1)
	}
	if values[i] == a || i == 0 {
		return sign | uint16(i)
	}
	lo, hi := a-values[i-1], values[i]-a
	switch {
	case lo < hi:
		return sign | uint16(i-1)
	case hi < lo:
		return sign | uint16(i)
	case (i-1)&1 == 0:
		return sign | uint16(i-1)
	}
	return sign | uint16(i)
}

// rounding tables: values[b] for the non-negative patterns up to Inf.
func f16Table() []float64 {
	v := make([]float64, 0x7c01)
	for b := range 0x7c00 {
		v[b] = f16Value(uint16(b))
	}
	v[0x7c00] = 65536
	return v
}

func bf16Table() []float64 {
	v := make([]float64, 0x7f81)
	for b := range 0x7f80 {
		v[b] = float64(BF16ToF32(uint16(b)))
	}
	v[0x7f80] = math.Ldexp(1, 128)
	return v
}

// roundingInputs returns float32 values that stress round to nearest even:
// every midpoint between neighbouring 16-bit values, a float32 ulp either
// side of it, and random bit patterns.
func roundingInputs(values []float64, rng *rand.Rand) []float32 {
	var xs []float32
	for i := 0; i+1 < len(values); i++ {
		mid := float32((values[i] + values[i+1]) / 2) // exact: few significant bits
		if math.IsInf(float64(mid), 0) {
			continue
		}
		xs = append(xs, mid, -mid,
			math.Nextafter32(mid, float32(math.Inf(1))),
			math.Nextafter32(mid, float32(math.Inf(-1))))
	}
	for range 1 << 20 {
		xs = append(xs, math.Float32frombits(rng.Uint32()))
	}
	return append(xs, 0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32)
}

func TestF32ToF16RoundsToNearestEven(t *testing.T) {
	values := f16Table()
	rng := rand.New(rand.NewPCG(1, 2))
	bad := 0
	for _, x := range roundingInputs(values, rng) {
		got := F32ToF16(x)
		if math.IsNaN(float64(x)) {
			if !math.IsNaN(float64(F16ToF32(got))) || got>>15 != uint16(math.Float32bits(x)>>31) {
				t.Errorf("F32ToF16(%#08x) = %#04x, want a NaN of the same sign", math.Float32bits(x), got)
				bad++
			}
		} else if want := nearest16(x, values); got != want {
			t.Errorf("F32ToF16(%g = %#08x) = %#04x, want %#04x", x, math.Float32bits(x), got, want)
			bad++
		}
		if bad >= 10 {
			t.Fatal("too many mismatches")
		}
	}
}

func TestF32ToBF16RoundsToNearestEven(t *testing.T) {
	values := bf16Table()
	rng := rand.New(rand.NewPCG(3, 4))
	bad := 0
	for _, x := range roundingInputs(values, rng) {
		got := F32ToBF16(x)
		if math.IsNaN(float64(x)) {
			if !math.IsNaN(float64(BF16ToF32(got))) || got>>15 != uint16(math.Float32bits(x)>>31) {
				t.Errorf("F32ToBF16(%#08x) = %#04x, want a NaN of the same sign", math.Float32bits(x), got)
				bad++
			}
		} else if want := nearest16(x, values); got != want {
			t.Errorf("F32ToBF16(%g = %#08x) = %#04x, want %#04x", x, math.Float32bits(x), got, want)
			bad++
		}
		if bad >= 10 {
			t.Fatal("too many mismatches")
		}
	}
}

func TestNarrowingSpecialCases(t *testing.T) {
	for _, c := range []struct {
		x      float32
		f16    uint16
		bf16   uint16
		reason string
	}{
		{65504, 0x7bff, 0x4780, "largest float16"},
		{65519.996, 0x7bff, 0x4780, "just under the float16 overflow midpoint"},
		{65520, 0x7c00, 0x4780, "float16 overflow midpoint ties to Inf"},
		{0x1p-24, 0x0001, 0x3380, "smallest float16 subnormal"},
		{0x1p-25, 0x0000, 0x3300, "half the smallest subnormal ties to 0"},
		{0x1.000002p-25, 0x0001, 0x3300, "just over half rounds up"},
		{0x1.ffcp-15, 0x0400, 0x3880, "largest subnormal midpoint rounds up to the smallest normal"},
		{1 + 0x1p-11, 0x3c00, 0x3f80, "float16 tie to even (down)"},
		{1 + 3*0x1p-11, 0x3c02, 0x3f80, "float16 tie to even (up)"},
		{1 + 0x1p-8, 0x3c04, 0x3f80, "bfloat16 tie to even (down)"},
		{1 + 3*0x1p-8, 0x3c0c, 0x3f82, "bfloat16 tie to even (up)"},
		{math.MaxFloat32, 0x7c00, 0x7f80, "float32 max overflows bfloat16 to Inf"},
	} {
		if got := F32ToF16(c.x); got != c.f16 {
			t.Errorf("%s: F32ToF16(%g) = %#04x, want %#04x", c.reason, c.x, got, c.f16)
		}
		if got := F32ToBF16(c.x); got != c.bf16 {
			t.Errorf("%s: F32ToBF16(%g) = %#04x, want %#04x", c.reason, c.x, got, c.bf16)
		}
	}
	// A NaN whose payload lies only in the low 16 bits must not become Inf.
	if got := F32ToBF16(math.Float32frombits(0x7f800001)); got&0x7f != 0x40 || got&0x7f80 != 0x7f80 {
		t.Errorf("F32ToBF16(sNaN 0x7f800001) = %#04x, want a quiet NaN", got)
	}
	if got := F32ToF16(math.Float32frombits(0xff800001)); got != 0xfe00 {
		t.Errorf("F32ToF16(-sNaN 0xff800001) = %#04x, want 0xfe00", got)
	}
}
