package cpufallback

import (
	"testing"

	"github.com/gotrain/gotrain/kernels"
)

// BenchmarkAttention: the default GPT's attention (B=8, T=128, NH=4,
// HS=32) on one thread; FLOP/s counts the causal half of QKᵀ and PV.
func BenchmarkAttention(b *testing.B) {
	const B, T, NH, HS = 8, 128, 4, 32
	be := New(1)
	buf := func(n int) kernels.Buffer {
		x, err := be.Alloc(kernels.F32, n)
		if err != nil {
			b.Fatal(err)
		}
		s := x.(*Buffer).F
		for i := range s {
			s[i] = float32(i%17)/17 - 0.5
		}
		return x
	}
	qkv, out, lse := buf(B*T*3*NH*HS), buf(B*T*NH*HS), buf(B*NH*T)
	dqkv, dout := buf(B*T*3*NH*HS), buf(B*T*NH*HS)
	flop := float64(2 * 2 * B * NH * T * (T + 1) / 2 * HS)
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			if err := be.AttentionForward(out, lse, qkv, B, T, NH, HS); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("backward", func(b *testing.B) {
		for b.Loop() {
			if err := be.AttentionBackward(dqkv, dout, qkv, out, lse, B, T, NH, HS); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(2.5*flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}
