package bench

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gotrain/gotrain/cpufallback"
	"github.com/gotrain/gotrain/kernels"
)

// threadCounts are the pool sizes every benchmark runs with.
var threadCounts = []int{1, 2}

// BenchmarkMatMul times C = A·B for square fp32 matrices of the named sizes
// (n = 256, 512, 1024) on cpufallback. One product is 2·n³ FLOPs (n³
// multiply-adds), so GFLOP/s = 2·n³ / seconds per product / 1e9. At n=1024
// each operand is 4 MiB, larger than L2, so repeats do not run from cache.
func BenchmarkMatMul(b *testing.B) {
	for _, s := range namedSizes {
		for _, threads := range threadCounts {
			b.Run(fmt.Sprintf("%s_n=%d/threads=%d", s.Name, s.N, threads), func(b *testing.B) {
				p := kernels.MatMulParams{M: s.N, N: s.N, K: s.N, Alpha: 1}
				benchMatMul(b, cpufallback.New(threads), p)
			})
		}
	}
}

// BenchmarkMatMulMLP times the products of one training step of the MNIST
// MLP (784-256-128-10, batch 128): each layer's forward Y = X·W, its input
// gradient dX = dY·Wᵀ and its weight gradient dW += Xᵀ·dY. These small and
// skinny shapes, with transposed operands, are where a step spends its GEMM
// time. FLOPs per product: 2·M·N·K.
func BenchmarkMatMulMLP(b *testing.B) {
	const batch = 128
	sizes := []int{784, 256, 128, 10}
	type shape struct {
		name string
		p    kernels.MatMulParams
	}
	var shapes []shape
	for i := 0; i+1 < len(sizes); i++ {
		in, out := sizes[i], sizes[i+1]
		shapes = append(shapes,
			shape{fmt.Sprintf("fwd_%dx%dx%d", batch, in, out), kernels.MatMulParams{M: batch, N: out, K: in, Alpha: 1}},
			shape{fmt.Sprintf("dX_%dx%dx%dT", batch, out, in), kernels.MatMulParams{M: batch, N: in, K: out, TransB: true, Alpha: 1}},
			shape{fmt.Sprintf("dW_%dTx%dx%d", in, batch, out), kernels.MatMulParams{M: in, N: out, K: batch, TransA: true, Alpha: 1, Beta: 1}},
		)
	}
	for _, s := range shapes {
		for _, threads := range threadCounts {
			b.Run(fmt.Sprintf("%s/threads=%d", s.name, threads), func(b *testing.B) {
				benchMatMul(b, cpufallback.New(threads), s.p)
			})
		}
	}
}

// benchMatMul runs p on be, reporting GFLOP/s = 2·batch·M·N·K / seconds.
func benchMatMul(b *testing.B, be *cpufallback.Backend, p kernels.MatMulParams) {
	bt := p.Batches()
	rng := rand.New(rand.NewPCG(1, 2))
	buf := func(n int) kernels.Buffer {
		x, err := be.Alloc(kernels.F32, n)
		if err != nil {
			b.Fatal(err)
		}
		h := make([]float32, n)
		for i := range h {
			h[i] = rng.Float32()*2 - 1
		}
		if err := be.WriteF32(x, h); err != nil {
			b.Fatal(err)
		}
		return x
	}
	ka, kb := p.M*p.K, p.K*p.N
	a, bb, c := buf(bt*ka), buf(bt*kb), buf(bt*p.M*p.N)
	if err := be.MatMul(c, a, bb, p); err != nil { // warm up: size the scratch
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := be.MatMul(c, a, bb, p); err != nil {
			b.Fatal(err)
		}
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	flops := 2 * float64(bt) * float64(p.M) * float64(p.N) * float64(p.K)
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkMatMulGPT times the products of one training step of the default
// GPT (gotrain gpt train: B·T = 1024 rows, C = 128, vocabulary 2048): for
// each linear layer (qkv 128→384, attention projection 128→128, MLP
// 128→512 and 512→128) and the tied output layer, the forward product and
// the two gradients, as graph.Compile issues them. FLOPs: 2·M·N·K.
func BenchmarkMatMulGPT(b *testing.B) {
	const rows, C, V = 1024, 128, 2048
	type shape struct {
		name string
		p    kernels.MatMulParams
	}
	var shapes []shape
	for _, l := range [][2]int{{C, 3 * C}, {C, C}, {C, 4 * C}, {4 * C, C}} {
		in, out := l[0], l[1]
		shapes = append(shapes,
			shape{fmt.Sprintf("fwd_%dx%dx%d", rows, out, in), kernels.MatMulParams{M: rows, N: out, K: in, Alpha: 1}},
			shape{fmt.Sprintf("dX_%dx%dx%dT", rows, in, out), kernels.MatMulParams{M: rows, N: in, K: out, TransB: true, Alpha: 1, Beta: 1}},
			shape{fmt.Sprintf("dW_%dTx%dx%d", in, out, rows), kernels.MatMulParams{M: in, N: out, K: rows, TransA: true, Alpha: 1, Beta: 1}},
		)
	}
	shapes = append(shapes,
		shape{"logits_1024x2048x128T", kernels.MatMulParams{M: rows, N: V, K: C, TransB: true, Alpha: 1}},
		shape{"dX_1024x128x2048", kernels.MatMulParams{M: rows, N: C, K: V, Alpha: 1, Beta: 1}},
		shape{"dWte_2048Tx128x1024", kernels.MatMulParams{M: V, N: C, K: rows, TransA: true, Alpha: 1, Beta: 1}},
	)
	for _, s := range shapes {
		for _, threads := range threadCounts {
			b.Run(fmt.Sprintf("%s/threads=%d", s.name, threads), func(b *testing.B) {
				benchMatMul(b, cpufallback.New(threads), s.p)
			})
		}
	}
}
