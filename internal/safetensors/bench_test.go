package safetensors

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// benchTensors is a GPT-2-small-like checkpoint scaled down to 16M
// parameters (64 MiB as F32), so that the benchmark fits CI's machine.
func benchTensors(dtype DType) []Tensor {
	rng := rand.New(rand.NewPCG(1, 1))
	var ts []Tensor
	for i := range 16 {
		v := make([]float32, 1<<20)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		ts = append(ts, Tensor{Name: "h." + string(rune('a'+i)) + ".weight", DType: dtype, Shape: []int{1024, 1024}, F32: v})
	}
	return ts
}

// BenchmarkWrite reports bytes of float32 parameters saved per second
// (temp file, fsync, rename, directory fsync included).
func BenchmarkWrite(b *testing.B) {
	for _, dt := range []DType{F32, BF16} {
		b.Run(string(dt), func(b *testing.B) {
			ts := benchTensors(dt)
			path := filepath.Join(b.TempDir(), "bench.safetensors")
			b.SetBytes(16 << 22)
			b.ResetTimer()
			for range b.N {
				if err := Write(path, ts, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRead reports bytes of float32 parameters loaded per second, all
// checks (CRC-32C included) done.
func BenchmarkRead(b *testing.B) {
	for _, dt := range []DType{F32, BF16} {
		b.Run(string(dt), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "bench.safetensors")
			if err := Write(path, benchTensors(dt), nil); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(16 << 22)
			b.ResetTimer()
			for range b.N {
				if _, err := Read(path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
