package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestReadHandBuilt reads files as Hugging Face's writer and other tools lay
// them out, built byte by byte here.
func TestReadHandBuilt(t *testing.T) {
	// The example of the reference implementation's documentation: no
	// metadata, header not padded.
	data := make([]byte, 16)
	binary.LittleEndian.PutUint32(data[4:], 7)
	raw := append(binary.LittleEndian.AppendUint64(nil, 60), `{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}`...)
	raw = append(raw, data...)
	f := mustRead(t, raw)
	v, err := f.Tensors[0].I32()
	if err != nil || f.Tensors[0].Name != "test" || !slices.Equal(v, []int32{0, 7, 0, 0}) || len(f.Metadata) != 0 {
		t.Fatalf("got %+v %v, %v", f.Tensors[0], v, err)
	}

	// transformers' layout: __metadata__ first, spaces and newlines between
	// tokens, keys in any order, F16 and BF16 data.
	hdr := `{"__metadata__": {"format": "pt"},
	  "h.0.attn.c_attn.bias": {"shape": [3], "dtype": "F16", "data_offsets": [8, 14]},
	  "wpe.weight": {"data_offsets": [0, 8], "dtype": "BF16", "shape": [2, 2]},
	  "lm": {"dtype": "F32", "shape": [0], "data_offsets": [14, 14]}
	}`
	var d []byte
	for _, h := range []uint16{0x3f80, 0xc000, 0x7f80, 0x0001} { // BF16 1, -2, +Inf, tiny subnormal
		d = binary.LittleEndian.AppendUint16(d, h)
	}
	for _, h := range []uint16{0x3c00, 0xfbff, 0x0001} { // F16 1, -65504, 2^-24
		d = binary.LittleEndian.AppendUint16(d, h)
	}
	f = mustRead(t, hf(hdr, d))
	if !slices.Equal(f.Names(), []string{"wpe.weight", "h.0.attn.c_attn.bias", "lm"}) {
		t.Errorf("names in file order = %v", f.Names())
	}
	if f.Metadata["format"] != "pt" {
		t.Errorf("metadata = %v", f.Metadata)
	}
	w, _ := f.Lookup("wpe.weight")
	if !sameFloats(w.F32, []float32{1, -2, BF16ToF32(0x7f80), 0x1p-133}) || !slices.Equal(w.Shape, []int{2, 2}) {
		t.Errorf("wpe.weight = %v %v", w.Shape, w.F32)
	}
	b, _ := f.Lookup("h.0.attn.c_attn.bias")
	if !slices.Equal(b.F32, []float32{1, -65504, 0x1p-24}) {
		t.Errorf("bias = %v", b.F32)
	}
	if _, ok := f.Lookup("nope"); ok {
		t.Error("Lookup found a tensor that is not there")
	}

	// Header padded with other JSON whitespace, and "__metadata__": null.
	raw = append(binary.LittleEndian.AppendUint64(nil, 32), "{\"__metadata__\":null}\n\t\r        "...)
	if f = mustRead(t, raw); len(f.Tensors) != 0 || f.Metadata == nil {
		t.Errorf("empty file: %+v", f)
	}
}

func TestReadRejects(t *testing.T) {
	f32x2 := le32(1, 2)
	for _, c := range []struct {
		name   string
		file   []byte
		err    error
		substr []string
	}{
		{"short", []byte{1, 0, 0}, ErrTruncated, []string{"3 bytes"}},
		{"header longer than file", append(binary.LittleEndian.AppendUint64(nil, 1000), "{}      "...), ErrTruncated, []string{"header length 1000 exceeds the 8 bytes"}},
		{"header absurdly long", binary.LittleEndian.AppendUint64(nil, 1<<62), ErrFormat, []string{"exceeds the limit"}},
		{"header length 0", binary.LittleEndian.AppendUint64(nil, 0), ErrFormat, []string{"too short"}},
		{"not an object", hf(`[]`, nil), ErrFormat, []string{"does not start with '{'"}},
		{"leading space", hf(` {}`, nil), ErrFormat, []string{"does not start with '{'"}},
		{"bad JSON", hf(`{"a":{"dtype":"F32",}}`, nil), ErrFormat, []string{"tensor a: header JSON"}},
		{"unterminated", hf(`{"a":{"dtype":"F32"`, nil), ErrFormat, []string{"ends early"}},
		{"trailing garbage", hf(`{} x`, nil), ErrFormat, []string{"after its closing brace"}},
		{"two objects", hf(`{}{}`, nil), ErrFormat, []string{"after its closing brace"}},
		{"invalid UTF-8", hf("{\"a\xff\":{}}", nil), ErrFormat, []string{"not valid UTF-8", "byte 3"}},
		{"unknown dtype", hf(`{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}`, f32x2), ErrFormat, []string{"tensor a:", `unknown dtype "F33"`}},
		{"lowercase dtype", hf(`{"a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}`, f32x2), ErrFormat, []string{`unknown dtype "f32"`}},
		{"unsupported dtype", hf(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}`, f32x2), ErrFormat, []string{"F64 is valid safetensors but not supported"}},
		{"duplicate name", hf(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32x2), ErrFormat, []string{"tensor a: appears twice"}},
		{"duplicate metadata", hf(`{"__metadata__":{},"__metadata__":{}}`, nil), ErrFormat, []string{"__metadata__ twice"}},
		{"duplicate metadata key", hf(`{"__metadata__":{"k":"1","k":"2"}}`, nil), ErrFormat, []string{`key "k" twice`}},
		{"metadata value not a string", hf(`{"__metadata__":{"k":1}}`, nil), ErrFormat, []string{`["k"] must be a string`}},
		{"metadata not an object", hf(`{"__metadata__":"x"}`, nil), ErrFormat, []string{"must be an object of strings"}},
		{"duplicate field", hf(`{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32x2), ErrFormat, []string{`field "dtype" twice`}},
		{"unknown field", hf(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"offsets":[0,8]}}`, f32x2), ErrFormat, []string{`unknown field the string "offsets"`}},
		{"no dtype", hf(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, f32x2), ErrFormat, []string{"tensor a: header entry has no dtype"}},
		{"no shape", hf(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, f32x2), ErrFormat, []string{"no shape"}},
		{"no offsets", hf(`{"a":{"dtype":"F32","shape":[2]}}`, f32x2), ErrFormat, []string{"no data_offsets"}},
		{"entry not an object", hf(`{"a":[1]}`, nil), ErrFormat, []string{"tensor a: header JSON: its header entry must be an object, found an array"}},
		{"three offsets", hf(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}`, f32x2), ErrFormat, []string{"2 numbers", "found 3"}},
		{"negative dim", hf(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, f32x2), ErrFormat, []string{"non-negative integers", "-2"}},
		{"fractional dim", hf(`{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}`, f32x2), ErrFormat, []string{"2.0"}},
		{"exponent offset", hf(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8e0]}}`, f32x2), ErrFormat, []string{"8e0"}},
		{"string dim", hf(`{"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}`, f32x2), ErrFormat, []string{`the string "2"`}},
		{"huge dim", hf(`{"a":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]}}`, f32x2), ErrFormat, []string{"too large"}},
		{"overflowing shape", hf(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, f32x2), ErrFormat, []string{"63 bits"}},
		{"overflowing bytes", hf(`{"a":{"dtype":"I64","shape":[4611686018427387904],"data_offsets":[0,8]}}`, f32x2), ErrFormat, []string{"63 bits"}},
		{"wrong shape", hf(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, f32x2), ErrFormat, []string{"tensor a: shape [3] of dtype F32 needs 12 bytes but data_offsets [0,8] span 8"}},
		{"span too long", hf(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}`, f32x2), ErrFormat, []string{"tensor a: shape [1] of dtype F32 needs 4 bytes but data_offsets [0,8] span 8"}},
		{"offsets reversed", hf(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}`, f32x2), ErrFormat, []string{"end before they begin"}},
		{"overlap", hf(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, le32(1, 2, 3)), ErrFormat, []string{"tensor b: data_offsets [4,12] overlap tensor a [0,8]"}},
		{"same range twice", hf(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32x2), ErrFormat, []string{"tensor b: data_offsets [0,8] overlap tensor a [0,8]"}},
		{"empty inside another", hf(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}`, f32x2), ErrFormat, []string{"tensor z: data_offsets [4,4] overlap tensor a"}},
		{"gap", hf(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, le32(1, 2, 3)), ErrFormat, []string{"tensor b: data_offsets [8,12] leave a gap of 4 bytes after tensor a [0,4]"}},
		{"gap at start", hf(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32x2), ErrFormat, []string{"gap of 4 bytes at the start"}},
		{"trailing data", hf(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32x2), ErrFormat, []string{"cover 4 bytes but the data section holds 8"}},
		{"data without tensors", hf(`{}`, f32x2), ErrFormat, []string{"cover 0 bytes"}},
		{"offsets past the end", hf(`{"transformer.h.0.attn.c_attn.weight":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, f32x2), ErrTruncated,
			[]string{"tensor transformer.h.0.attn.c_attn.weight: data_offsets [0,16] exceed the data section of 8 bytes"}},
		{"odd name quoted", hf(`{"a b\n":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, f32x2), ErrFormat, []string{`tensor "a b\n": shape [3]`}},
		{"bad crc value", hf(`{"__metadata__":{"gotrain.crc32c":"XYZ","gotrain.header_crc32c":"00000000"}}`, nil), ErrFormat, []string{`gotrain.crc32c = "XYZ" is not 8 lowercase hex digits`}},
		{"bad header crc value", hf(`{"__metadata__":{"gotrain.crc32c":"00000000","gotrain.header_crc32c":"0000000g"}}`, nil), ErrFormat, []string{"gotrain.header_crc32c"}},
		{"data crc alone", hf(`{"__metadata__":{"gotrain.crc32c":"00000000"}}`, nil), ErrChecksum, []string{"has gotrain.crc32c but not gotrain.header_crc32c"}},
		{"header crc alone", hf(`{"__metadata__":{"gotrain.header_crc32c":"00000000"}}`, nil), ErrChecksum, []string{"has gotrain.header_crc32c but not gotrain.crc32c"}},
		{"wrong header crc", hf(`{"__metadata__":{"gotrain.crc32c":"00000000","gotrain.header_crc32c":"00000000"}}`, nil), ErrChecksum, []string{"header checksum is"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := read(c.file)
			if f != nil {
				t.Errorf("returned a File with the error")
			}
			wantErr(t, err, c.err, c.substr...)
		})
	}
}

// TestReadNamesTheFile checks the message format through Read.
func TestReadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	os.WriteFile(path, hf(`{"h.0.w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, le32(1)), 0o644)
	_, err := Read(path)
	wantErr(t, err, ErrTruncated, "checkpoint "+path+": tensor h.0.w: data_offsets [0,16] exceed the data section of 4 bytes")
	_, err = Read(filepath.Join(t.TempDir(), "missing.safetensors"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.safetensors") {
		t.Errorf("missing file: %v", err)
	}
}

// sampleFiles returns a gotrain-written file and a hand-built one without
// checksums, both small.
func sampleFiles(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := sampleFileBytes()
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func sampleFileBytes() (map[string][]byte, error) {
	mine, err := Marshal(sampleTensors(), map[string]string{"step": "12"})
	if err != nil {
		return nil, err
	}
	theirs := hf(`{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"c":{"dtype":"U8","shape":[3],"data_offsets":[12,15]}}`,
		append(le32(1, 2), 0x80, 0x3f, 0, 0xc0, 1, 2, 3))
	if _, err := read(theirs); err != nil {
		return nil, err
	}
	return map[string][]byte{"gotrain": mine, "hf": theirs}, nil
}

// TestReadTruncated cuts files at every length: each prefix must fail with
// an error, never a panic or a partial File.
func TestReadTruncated(t *testing.T) {
	for name, file := range sampleFiles(t) {
		for n := range len(file) {
			f, err := read(file[:n])
			if err == nil || f != nil {
				t.Fatalf("%s cut to %d of %d bytes: accepted", name, n, len(file))
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("%s cut to %d bytes: %v is not a FormatError", name, n, err)
			}
		}
	}
}

// TestReadHeaderCorruption flips every bit of the length prefix and the
// header of a gotrain file: every flip must be detected.
func TestReadHeaderCorruption(t *testing.T) {
	file := sampleFiles(t)["gotrain"]
	n := 8 + int(binary.LittleEndian.Uint64(file))
	kinds := map[error]int{}
	for i := range n {
		for bit := range 8 {
			bad := slices.Clone(file)
			bad[i] ^= 1 << bit
			f, err := read(bad)
			if err == nil {
				t.Fatalf("flipping bit %d of byte %d (%q -> %q) went unnoticed", bit, i, file[i], bad[i])
			}
			if f != nil {
				t.Fatal("returned a File with the error")
			}
			var fe *FormatError
			if errors.As(err, &fe) {
				kinds[fe.Err]++
			}
		}
	}
	t.Logf("%d header bit flips: %d format errors, %d truncation, %d checksum", 8*n, kinds[ErrFormat], kinds[ErrTruncated], kinds[ErrChecksum])
	if kinds[ErrChecksum] == 0 {
		t.Error("no flip was caught by the header checksum alone: is it checked?")
	}
}

// TestReadDataCorruption flips every bit of the data section: a gotrain
// file reports a checksum mismatch; a file without checksums cannot tell.
func TestReadDataCorruption(t *testing.T) {
	files := sampleFiles(t)
	file := files["gotrain"]
	start := 8 + int(binary.LittleEndian.Uint64(file))
	for i := start; i < len(file); i++ {
		for bit := range 8 {
			bad := slices.Clone(file)
			bad[i] ^= 1 << bit
			_, err := read(bad)
			wantErr(t, err, ErrChecksum, "data checksum", KeyDataCRC)
			if t.Failed() {
				t.Fatalf("byte %d bit %d", i, bit)
			}
		}
	}
	theirs := slices.Clone(files["hf"])
	theirs[len(theirs)-1] ^= 1
	if _, err := read(theirs); err != nil {
		t.Errorf("a file without checksums has no way to notice a flipped data bit, but: %v", err)
	}
}

// TestReadIOError checks that a failing reader is reported, not mistaken for
// a valid file or a truncation.
func TestReadIOError(t *testing.T) {
	file := sampleFiles(t)["gotrain"]
	boom := errors.New("disk on fire")
	for _, at := range []int64{0, 8, int64(len(file) - 1)} {
		_, err := ReadFrom(failingReader{file, at, boom}, int64(len(file)))
		if !errors.Is(err, boom) {
			t.Errorf("read error at byte %d: got %v", at, err)
		}
	}
}

type failingReader struct {
	data []byte
	at   int64
	err  error
}

func (r failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > r.at {
		n := max(0, int(r.at-off))
		copy(p, r.data[off:off+int64(n)])
		return n, r.err
	}
	return copy(p, r.data[off:]), nil
}

func ExampleFormatError() {
	_, err := read(hf(`{"h.0.attn.c_attn.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}`, make([]byte, 12)))
	fmt.Println(err)
	// Output: checkpoint: tensor h.0.attn.c_attn.weight: shape [2 2] of dtype F32 needs 16 bytes but data_offsets [0,12] span 12
}

// TestReadSizeLies covers a reader shorter than the size it was given, and
// an empty checkpoint.
func TestReadSizeLies(t *testing.T) {
	file := sampleFiles(t)["gotrain"]
	_, err := ReadFrom(bytes.NewReader(file[:len(file)-3]), int64(len(file)))
	wantErr(t, err, ErrTruncated, "file ends at byte")
	empty, err := Marshal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f := mustRead(t, empty); len(f.Tensors) != 0 || len(f.Metadata) != 2 {
		t.Errorf("empty checkpoint read as %+v", f)
	}
}
