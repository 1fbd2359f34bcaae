package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRoundTrip writes one tensor of every dtype and reads it back: F32 and
// the integers exactly, F16 and BF16 as the nearest-even narrowing of the
// values given.
func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.safetensors")
	in := sampleTensors()
	meta := map[string]string{"format": "pt", "step": "100", "quote\"and\\slash\n": "ünïcode ✓", KeyDataCRC: "stale"}
	if err := Write(path, in, meta); err != nil {
		t.Fatal(err)
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != path {
		t.Errorf("Path = %q", f.Path)
	}
	for k, v := range meta {
		if k != KeyDataCRC && f.Metadata[k] != v {
			t.Errorf("metadata[%q] = %q, want %q", k, f.Metadata[k], v)
		}
	}
	if len(f.Metadata[KeyDataCRC]) != 8 || len(f.Metadata[KeyHeaderCRC]) != 8 || len(f.Metadata) != len(meta)+1 {
		t.Errorf("metadata = %v", f.Metadata)
	}
	if len(f.Tensors) != len(in) {
		t.Fatalf("%d tensors, want %d", len(f.Tensors), len(in))
	}
	for _, want := range in {
		got, ok := f.Lookup(want.Name)
		if !ok {
			t.Fatalf("tensor %s missing", want.Name)
		}
		if got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) {
			t.Errorf("tensor %s: %s %v, want %s %v", want.Name, got.DType, got.Shape, want.DType, want.Shape)
		}
		exp := slices.Clone(want.F32)
		for i, x := range exp {
			switch want.DType {
			case F16:
				exp[i] = F16ToF32(F32ToF16(x))
			case BF16:
				exp[i] = BF16ToF32(F32ToBF16(x))
			}
		}
		if !sameFloats(got.F32, exp) || !bytes.Equal(got.Raw, want.Raw) {
			t.Errorf("tensor %s: F32 %v Raw %v, want %v %v", want.Name, got.F32, got.Raw, exp, want.Raw)
		}
		if (got.F32 == nil) != !want.DType.IsFloat() || (got.Raw == nil) != want.DType.IsFloat() {
			t.Errorf("tensor %s: F32 set %v, Raw set %v", want.Name, got.F32 != nil, got.Raw != nil)
		}
	}
	// Spot checks of the narrowing, written out.
	h, _ := f.Lookup("h.0.ln_1.weight")
	if !slices.Equal(h.F32, []float32{1, 1, float32(math.Inf(1)), 0}) {
		t.Errorf("F16 values %v, want [1 1 +Inf 0] (ties to even, overflow)", h.F32)
	}
	b, _ := f.Lookup("h.0.ln_1.bias")
	if !slices.Equal(b.F32, []float32{1, 1 + 2*0x1p-7, 3.140625, -0x1.94p+99}) {
		t.Errorf("BF16 values %v", b.F32)
	}
	if v, _ := f.Tensors[0].I32(); v != nil && f.Tensors[0].DType != I32 {
		t.Error("I32 on a tensor of another dtype returned values")
	}
	if _, err := b.I64(); err == nil {
		t.Error("I64 on a BF16 tensor: no error")
	}
}

// TestWriteLayout checks the bytes Write produces against the spec and
// Hugging Face's writer: header padded with spaces to 8 bytes, tensors by
// element size then name, each aligned to its element size, contiguous.
func TestWriteLayout(t *testing.T) {
	data, err := Marshal(sampleTensors(), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(data)
	if n%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}
	hdr := data[8 : 8+n]
	if trimmed := bytes.TrimRight(hdr, " "); trimmed[len(trimmed)-1] != '}' || len(hdr)-len(trimmed) >= 8 {
		t.Errorf("header not padded with < 8 spaces: %q", hdr)
	}
	if !bytes.HasPrefix(hdr, []byte(`{"__metadata__":{"gotrain.crc32c":"`)) {
		t.Errorf("header starts %q", hdr[:40])
	}
	f := mustRead(t, data)
	// I64 first, then the 4-byte dtypes by name (F32 and I32 mixed; the
	// empty F32 tensor among them), then the 2-byte ones, then U8.
	want := []string{"step", "empty", "scale", "tokens", "wte.weight", "h.0.ln_1.bias", "h.0.ln_1.weight", "mask"}
	if got := f.Names(); !slices.Equal(got, want) {
		t.Errorf("data order %v, want %v", got, want)
	}
	entries, _, ferr := parseHeader(hdr)
	if ferr != nil {
		t.Fatal(ferr)
	}
	for _, e := range entries {
		if e.begin%uint64(e.dtype.Size()) != 0 {
			t.Errorf("tensor %s at offset %d is not aligned to %d", e.name, e.begin, e.dtype.Size())
		}
	}
	// Deterministic: the same input gives the same bytes.
	again, _ := Marshal(sampleTensors(), nil)
	if !bytes.Equal(data, again) {
		t.Error("Marshal is not deterministic")
	}
}

func TestWriteRejects(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.safetensors")
	ok := Tensor{Name: "a", DType: F32, Shape: []int{1}, F32: []float32{1}}
	for _, c := range []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
		substr  string
	}{
		{"duplicate", []Tensor{ok, ok}, nil, "tensor a: name given twice"},
		{"empty name", []Tensor{{DType: F32, Shape: []int{}, F32: []float32{1}}}, nil, "empty name"},
		{"reserved name", []Tensor{{Name: "__metadata__", DType: F32, Shape: []int{}, F32: []float32{1}}}, nil, "reserved"},
		{"bad UTF-8 name", []Tensor{{Name: "a\xff", DType: F32, Shape: []int{}, F32: []float32{1}}}, nil, "not valid UTF-8"},
		{"unknown dtype", []Tensor{{Name: "a", DType: "F8", Shape: []int{1}, Raw: []byte{1}}}, nil, `unknown dtype "F8"`},
		{"unsupported dtype", []Tensor{{Name: "a", DType: "F64", Shape: []int{1}, Raw: make([]byte, 8)}}, nil, "not supported"},
		{"too few values", []Tensor{{Name: "a", DType: BF16, Shape: []int{2, 3}, F32: make([]float32, 5)}}, nil, "tensor a: shape [2 3] needs 6 values, F32 holds 5"},
		{"too many bytes", []Tensor{{Name: "a", DType: I64, Shape: []int{1}, Raw: make([]byte, 9)}}, nil, "needs 8 bytes, Raw holds 9"},
		{"Raw on a float", []Tensor{{Name: "a", DType: F16, Shape: []int{1}, F32: []float32{1}, Raw: []byte{0, 0}}}, nil, "Raw is set"},
		{"F32 on an int", []Tensor{{Name: "a", DType: I32, Shape: []int{1}, F32: []float32{1}, Raw: make([]byte, 4)}}, nil, "F32 is set"},
		{"negative dim", []Tensor{{Name: "a", DType: F32, Shape: []int{-1}}}, nil, "negative"},
		{"bad UTF-8 metadata", []Tensor{ok}, map[string]string{"k": "\xff"}, "valid UTF-8"},
	} {
		err := Write(path, c.tensors, c.meta)
		if err == nil || !strings.Contains(err.Error(), c.substr) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming %s and saying %q", c.name, err, path, c.substr)
		}
		if _, err := Marshal(c.tensors, c.meta); err == nil {
			t.Errorf("%s: Marshal accepted it", c.name)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("rejected writes left files: %v", ents)
	}
}

// errWriter fails once more than limit bytes have been written.
type errWriter struct {
	w     io.Writer
	limit int
}

var errInjected = errors.New("injected failure")

func (e *errWriter) Write(p []byte) (int, error) {
	if len(p) > e.limit {
		n, _ := e.w.Write(p[:e.limit])
		e.limit = 0
		return n, errInjected
	}
	e.limit -= len(p)
	return e.w.Write(p)
}

// TestWriteAtomic injects a failure at every stage of Write and checks that
// the previous checkpoint is intact and no temporary file is left.
func TestWriteAtomic(t *testing.T) {
	defer func() { hookWriter, hookStage = nil, nil }()
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	old := []Tensor{{Name: "old", DType: F32, Shape: []int{2}, F32: []float32{1, 2}}}
	if err := Write(path, old, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	newT := sampleTensors()
	size := len(must(Marshal(newT, nil)))

	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, errInjected) {
			t.Fatalf("%s: error %v, want the injected one", what, err)
		}
		if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "left unchanged") {
			t.Errorf("%s: error %q does not say the checkpoint was left unchanged", what, err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
			t.Fatalf("%s: the previous checkpoint changed", what)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Fatalf("%s: directory holds %v, want only the checkpoint", what, ents)
		}
	}
	for _, limit := range []int{0, 1, 8, 100, size / 2, size - 1} {
		hookWriter = func(w io.Writer) io.Writer { return &errWriter{w, limit} }
		check(fmt.Sprintf("write failing after %d of %d bytes", limit, size), Write(path, newT, nil))
	}
	hookWriter = nil
	for _, s := range []string{"sync", "close", "rename"} {
		hookStage = func(stage string) error {
			if stage == s {
				return errInjected
			}
			return nil
		}
		check("failing "+s, Write(path, newT, nil))
	}

	// A failure after the rename: the new file is in place, complete, and
	// keeps the mode of the one it replaced.
	hookStage = func(stage string) error {
		if stage == "syncdir" {
			return errInjected
		}
		return nil
	}
	if err := Write(path, newT, nil); !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "written, but") {
		t.Fatalf("failing syncdir: %v", err)
	}
	hookStage = nil
	f, err := Read(path)
	if err != nil || len(f.Tensors) != len(newT) {
		t.Fatalf("after syncdir failure: %v", err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want the replaced file's 0600", st.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %v", ents)
	}

	// A failed first write leaves nothing at all.
	fresh := filepath.Join(dir, "fresh.safetensors")
	hookWriter = func(w io.Writer) io.Writer { return &errWriter{w, 10} }
	if err := Write(fresh, newT, nil); !errors.Is(err, errInjected) {
		t.Fatalf("fresh: %v", err)
	}
	hookWriter = nil
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed first write left %s: %v", fresh, err)
	}
	if err := Write(fresh, newT, nil); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(fresh); st.Mode().Perm() != 0o644 {
		t.Errorf("new file mode %v, want 0644", st.Mode().Perm())
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	if err := Write(filepath.Join(dir, "no", "such", "dir.safetensors"), nil, nil); err == nil || !strings.Contains(err.Error(), "temporary file") {
		t.Errorf("missing directory: %v", err)
	}
	if err := Write(dir, nil, nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("target is a directory: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
