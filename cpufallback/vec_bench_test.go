package cpufallback

import "testing"

func BenchmarkGELUVec(b *testing.B) {
	x := make([]float32, 4096)
	y := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i%200)/50 - 2
	}
	b.SetBytes(8 * 4096)
	for b.Loop() {
		geluVec(y, x)
	}
}

func BenchmarkGELUGo(b *testing.B) {
	x := make([]float32, 4096)
	y := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i%200)/50 - 2
	}
	b.SetBytes(8 * 4096)
	for b.Loop() {
		geluGo(y, x)
	}
}
