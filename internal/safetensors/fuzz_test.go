package safetensors

import (
	"encoding/binary"
	"errors"
	"os"
	"slices"
	"testing"
)

// FuzzRead feeds arbitrary bytes to ReadFrom. It must never panic; it
// either returns a *FormatError or a File whose tensors are consistent and
// that survives a write and re-read unchanged.
//
//	go test -run '^$' -fuzz FuzzRead ./internal/safetensors/
func FuzzRead(f *testing.F) {
	seeds, err := sampleFileBytes()
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range seeds {
		f.Add(seed)
	}
	if ref, err := os.ReadFile("testdata/reference.safetensors"); err == nil {
		f.Add(ref)
	}
	f.Add(hf(`{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}`, make([]byte, 16)))
	f.Add(hf(`{"__metadata__":null,"a":{"dtype":"F16","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"BF16","shape":[],"data_offsets":[0,2]}}`, []byte{0x80, 0x3f}))
	f.Add(hf(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, le32(1, 2, 3)))
	f.Add(hf(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, le32(1, 2)))
	f.Add(binary.LittleEndian.AppendUint64(nil, 1<<63))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := read(data)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || file != nil {
				t.Fatalf("error %v (%T) with file %v", err, err, file != nil)
			}
			return
		}
		total := 0
		writable := true
		for i := range file.Tensors {
			x := &file.Tensors[i]
			n := x.NumElements()
			if x.DType.IsFloat() && len(x.F32) != n || !x.DType.IsFloat() && len(x.Raw) != n*x.DType.Size() {
				t.Fatalf("tensor %s: %d values / %d bytes for shape %v", x.Name, len(x.F32), len(x.Raw), x.Shape)
			}
			if y, ok := file.Lookup(x.Name); !ok || y != x {
				t.Fatalf("Lookup(%q) broken", x.Name)
			}
			total += n * x.DType.Size()
			writable = writable && x.Name != "" // Write refuses empty names
		}
		if hdr := 8 + int(binary.LittleEndian.Uint64(data)); total != len(data)-hdr {
			t.Fatalf("tensors hold %d bytes, the data section %d", total, len(data)-hdr)
		}
		if !writable {
			return
		}
		again, err := Marshal(file.Tensors, file.Metadata)
		if err != nil {
			t.Fatalf("a valid file does not write back: %v", err)
		}
		back, err := read(again)
		if err != nil {
			t.Fatalf("a rewritten file does not read back: %v", err)
		}
		for i := range file.Tensors {
			x := &file.Tensors[i]
			y, ok := back.Lookup(x.Name)
			if !ok || y.DType != x.DType || !slices.Equal(y.Shape, x.Shape) || !slices.Equal(y.Raw, x.Raw) || !sameFloats(y.F32, x.F32) {
				t.Fatalf("tensor %q changed in a rewrite", x.Name)
			}
		}
	})
}
