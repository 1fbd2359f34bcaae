package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// hf builds a safetensors file by hand, as another tool would: the length
// prefix, the header padded with spaces to 8 bytes, then data.
func hf(header string, data []byte) []byte {
	h := []byte(header)
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(out, h...)
	return append(out, data...)
}

// le32 returns the little-endian bytes of float32 values.
func le32(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func read(data []byte) (*File, error) {
	return ReadFrom(bytes.NewReader(data), int64(len(data)))
}

func mustRead(t *testing.T, data []byte) *File {
	t.Helper()
	f, err := read(data)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// sampleTensors holds one tensor of every dtype, a scalar and an empty one,
// with values that exercise rounding.
func sampleTensors() []Tensor {
	return []Tensor{
		{Name: "wte.weight", DType: F32, Shape: []int{3, 2}, F32: []float32{1, -2.5, 3.25, float32(math.Inf(-1)), 1e-40, -0.0}},
		{Name: "h.0.ln_1.weight", DType: F16, Shape: []int{4}, F32: []float32{1, 1 + 0x1p-11, 65520, 0x1p-25}},
		{Name: "h.0.ln_1.bias", DType: BF16, Shape: []int{2, 2}, F32: []float32{1 + 0x1p-8, 1 + 3*0x1p-8, 3.14159, -1e30}},
		FromI32("tokens", []int{2, 2}, []int32{1, -1, math.MaxInt32, math.MinInt32}),
		FromI64("step", []int{}, []int64{123456789012}),
		FromU8("mask", []int{5}, []uint8{0, 1, 2, 254, 255}),
		{Name: "empty", DType: F32, Shape: []int{0, 7}, F32: []float32{}},
		{Name: "scale", DType: F32, Shape: []int{}, F32: []float32{0.5}},
	}
}

// sameFloats compares bit patterns, any NaN matching any NaN.
func sameFloats(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool {
		return math.Float32bits(x) == math.Float32bits(y) || (x != x && y != y)
	})
}

// wantErr checks that err is a *FormatError wrapping sentinel whose message
// contains every fragment.
func wantErr(t *testing.T, err error, sentinel error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", sentinel)
	}
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %q (%T) is not a *FormatError", err, err)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Errorf("error %q wraps %v, want %v", err, fe.Err, sentinel)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
}
