package bench

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gotrain/gotrain/cpufallback"
	"github.com/gotrain/gotrain/graph"
	"github.com/gotrain/gotrain/kernels"
	"github.com/gotrain/gotrain/nn"
)

// BenchmarkMLPStep times one training step (forward, backward, Adam update)
// of the MNIST MLP 784-256-128-10 at batch 128, as `gotrain mnist` runs it,
// on 1 and 2 threads. Compare with bench/pytorch_mlp.py on the same machine.
//
// GEMM FLOPs per step: 2·B·in·out for each forward product and each of the
// two backward ones, less the first layer's input gradient, which is not
// computed: 2·B·(2·784·256 + 3·256·128 + 3·128·10) ≈ 128 MFLOP.
func BenchmarkMLPStep(b *testing.B) {
	const batch = 128
	sizes := []int{784, 256, 128, 10}
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			g := graph.New()
			x := g.Input("x", kernels.F32, batch, sizes[0])
			y := g.Input("y", kernels.I32, batch)
			logits := nn.NewMLP(g, "mlp", sizes, nn.ReLU, 0).Forward(g, x)
			loss := nn.SoftmaxCrossEntropy(g, logits, y)
			p, err := graph.Compile(g, cpufallback.New(threads), graph.Config{Loss: loss, Optimizer: nn.Adam{LR: 1e-3}})
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			xs := make([]float32, batch*sizes[0])
			for i := range xs {
				xs[i] = rng.Float32()
			}
			ys := make([]int32, batch)
			for i := range ys {
				ys[i] = int32(rng.IntN(10))
			}
			step := func() {
				if err := p.FeedF32("x", xs); err != nil {
					b.Fatal(err)
				}
				if err := p.FeedI32("y", ys); err != nil {
					b.Fatal(err)
				}
				if _, err := p.Step(); err != nil {
					b.Fatal(err)
				}
			}
			step()
			b.ResetTimer()
			for b.Loop() {
				step()
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(sec*1e3, "ms/step")
			b.ReportMetric(batch/sec, "examples/s")
			flops := 2.0 * batch * float64(2*784*256+3*256*128+3*128*10)
			b.ReportMetric(flops/sec/1e9, "GFLOP/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
