package safetensors

import (
	"math"
	"slices"
	"testing"
)

// TestReferenceFile reads testdata/reference.safetensors, laid out by
// testdata/gen_reference.py (not by this package) with values rounded and
// widened by numpy (float16) and torch (bfloat16), and checks that gotrain
// reads the layout and agrees with both libraries bit for bit.
func TestReferenceFile(t *testing.T) {
	f, err := Read("testdata/reference.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string, dtype DType, shape ...int) *Tensor {
		t.Helper()
		x, ok := f.Lookup(name)
		if !ok {
			t.Fatalf("tensor %s missing; file has %v", name, f.Names())
		}
		if x.DType != dtype || !slices.Equal(x.Shape, shape) {
			t.Fatalf("tensor %s: %s %v, want %s %v", name, x.DType, x.Shape, dtype, shape)
		}
		return x
	}
	if f.Metadata["format"] != "pt" || f.Metadata["source"] != "gen_reference.py" || len(f.Metadata) != 2 {
		t.Errorf("metadata = %v", f.Metadata)
	}
	src := get("src", F32, 1431).F32

	sameBits := func(what string, got, want []float32) {
		t.Helper()
		bad := 0
		for i := range want {
			g, w := math.Float32bits(got[i]), math.Float32bits(want[i])
			if g != w && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i]))) {
				t.Errorf("%s[%d] (source %g): got %#08x (%g), reference %#08x (%g)", what, i, src[min(i, len(src)-1)], g, got[i], w, want[i])
				if bad++; bad == 10 {
					t.FailNow()
				}
			}
		}
	}
	// Reading: F16 and BF16 widened by gotrain equal numpy's and torch's.
	asF16 := get("as_f16", F16, 1431)
	sameBits("as_f16 read", asF16.F32, get("as_f16_widened", F32, 1431).F32)
	asBF16 := get("as_bf16", BF16, 1431)
	sameBits("as_bf16 read", asBF16.F32, get("as_bf16_widened", F32, 1431).F32)
	table := get("f16_table", F16, 3146)
	sameBits("f16_table read", table.F32, get("f16_table_widened", F32, 3146).F32)

	// Writing: gotrain's narrowing of src equals numpy's and torch's.
	for i, x := range src {
		if got, want := F32ToF16(x), F32ToF16(asF16.F32[i]); got != want && !math.IsNaN(float64(x)) {
			t.Errorf("F32ToF16(%g = %#08x) = %#04x, numpy gives %#04x", x, math.Float32bits(x), got, want)
		}
		if got, want := F32ToBF16(x), F32ToBF16(asBF16.F32[i]); got != want && !math.IsNaN(float64(x)) {
			t.Errorf("F32ToBF16(%g = %#08x) = %#04x, torch gives %#04x", x, math.Float32bits(x), got, want)
		}
	}

	i32, err := get("i32", I32, 2, 3).I32()
	if err != nil || !slices.Equal(i32, []int32{1, -2, 3, math.MaxInt32, math.MinInt32, 0}) {
		t.Errorf("i32 = %v, %v", i32, err)
	}
	i64, err := get("i64", I64, 3).I64()
	if err != nil || !slices.Equal(i64, []int64{math.MaxInt64, math.MinInt64, -1}) {
		t.Errorf("i64 = %v, %v", i64, err)
	}
	u8, err := get("u8", U8, 5).U8()
	if err != nil || !slices.Equal(u8, []uint8{0, 1, 127, 128, 255}) {
		t.Errorf("u8 = %v, %v", u8, err)
	}
	if s := get("scalar", F32).F32; !slices.Equal(s, []float32{2.5}) {
		t.Errorf("scalar = %v", s)
	}
	if e := get("empty", F32, 0, 4).F32; len(e) != 0 {
		t.Errorf("empty = %v", e)
	}

	// What gotrain writes from it reads back identically.
	data, err := Marshal(f.Tensors, f.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	g := mustRead(t, data)
	for i := range f.Tensors {
		a := &f.Tensors[i]
		b, ok := g.Lookup(a.Name)
		if !ok || b.DType != a.DType || !slices.Equal(a.Shape, b.Shape) || !slices.Equal(a.Raw, b.Raw) {
			t.Fatalf("tensor %s changed in a rewrite", a.Name)
		}
		sameBits(a.Name+" rewritten", b.F32, a.F32)
	}
}
