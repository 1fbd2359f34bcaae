package graph_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/cpufallback"
	"github.com/gotrain/gotrain/graph"
	"github.com/gotrain/gotrain/kernels"
	"github.com/gotrain/gotrain/nn"
)

func backend() kernels.Backend { return cpufallback.New(2) }

func randF32(rng *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * scale)
	}
	return x
}

func randLabels(rng *rand.Rand, n, classes int) []int32 {
	y := make([]int32, n)
	for i := range y {
		y[i] = int32(rng.IntN(classes))
	}
	return y
}

// model is a small graph with its feeds, for gradient checks.
type model struct {
	g     *graph.Graph
	loss  *graph.Node
	feedF map[string][]float32
	feedI map[string][]int32
}

func (m *model) feed(t *testing.T, p *graph.Program) {
	for k, v := range m.feedF {
		require.NoError(t, p.FeedF32(k, v))
	}
	for k, v := range m.feedI {
		require.NoError(t, p.FeedI32(k, v))
	}
}

// checkGradients compares every parameter gradient of the program with
// central finite differences of the loss, on a sample of coordinates. The
// loss is computed in float32, so h is large and the tolerance loose; a
// wrong rule is off by far more.
func checkGradients(t *testing.T, m *model, training bool) {
	t.Helper()
	be := backend()
	p, err := graph.Compile(m.g, be, graph.Config{Loss: m.loss, Training: training, Seed: 7})
	require.NoError(t, err)
	lossAt := func() float64 {
		p.SetStepCount(0) // same dropout mask every time
		m.feed(t, p)
		l, err := p.Step()
		require.NoError(t, err)
		return float64(l)
	}
	lossAt()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, name := range p.ParamNames() {
		pt, err := p.Param(name)
		require.NoError(t, err)
		vals := pt.Float32s()
		grad := make([]float32, len(vals))
		lossAt()
		require.NoError(t, p.Grad(name, grad))
		idx := rng.Perm(len(vals))
		if len(idx) > 12 {
			idx = idx[:12]
		}
		const h = 1e-2
		for _, i := range idx {
			orig := vals[i]
			vals[i] = orig + h
			require.NoError(t, p.SetParam(name, pt))
			lp := lossAt()
			vals[i] = orig - h
			require.NoError(t, p.SetParam(name, pt))
			lm := lossAt()
			vals[i] = orig
			require.NoError(t, p.SetParam(name, pt))
			fd := (lp - lm) / (2 * h)
			got := float64(grad[i])
			tol := 2e-3 + 3e-2*math.Abs(fd)
			if math.Abs(got-fd) > tol {
				t.Errorf("%s[%d]: backward %.6g, finite difference %.6g (|diff| %.3g > %.3g)", name, i, got, fd, math.Abs(got-fd), tol)
			}
		}
	}
}

func classifier(act nn.Activation, dropout float32) *model {
	rng := rand.New(rand.NewPCG(1, 2))
	const b, in, classes = 6, 5, 4
	g := graph.New()
	x := g.Input("x", kernels.F32, b, in)
	y := g.Input("y", kernels.I32, b)
	mlp := nn.NewMLP(g, "mlp", []int{in, 7, classes}, act, dropout)
	loss := nn.SoftmaxCrossEntropy(g, mlp.Forward(g, x), y)
	return &model{g: g, loss: loss,
		feedF: map[string][]float32{"x": randF32(rng, b*in, 1)},
		feedI: map[string][]int32{"y": randLabels(rng, b, classes)}}
}

func TestGradientsCrossEntropyEveryActivation(t *testing.T) {
	for _, act := range []nn.Activation{nn.ReLU, nn.GELU, nn.Tanh, nn.Sigmoid} {
		t.Run(act.Name, func(t *testing.T) { checkGradients(t, classifier(act, 0), false) })
	}
}

func TestGradientsWithDropout(t *testing.T) {
	checkGradients(t, classifier(nn.Tanh, 0.3), true)
}

func TestGradientsMSEWithSoftmaxAndPenalties(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const b, in, out = 5, 4, 3
	g := graph.New()
	x := g.Input("x", kernels.F32, b, in)
	target := g.Input("target", kernels.F32, b, out)
	mlp := nn.NewMLP(g, "mlp", []int{in, 6, out}, nn.GELU, 0)
	pred := nn.Softmax(g, mlp.Forward(g, x))
	loss := nn.MSE(g, pred, target)
	loss = g.Add(loss, nn.L2Penalty(g, mlp.Weights(), 0.05))
	loss = g.Add(loss, nn.L1Penalty(g, mlp.Weights(), 0.01))
	m := &model{g: g, loss: loss, feedF: map[string][]float32{"x": randF32(rng, b*in, 1), "target": randF32(rng, b*out, 0.3)}}
	checkGradients(t, m, false)
}

func TestGradientsElementwiseAndReductions(t *testing.T) {
	// loss = mean(sigmoid(x·W) ⊙ (x·W)) + 0.5·sum(tanh(W)) + scale: exercises
	// fan-out (x·W used twice), mul, sum, mean and scale.
	rng := rand.New(rand.NewPCG(8, 9))
	g := graph.New()
	x := g.Input("x", kernels.F32, 3, 4)
	w := g.Param("w", nn.Normal(0.5), 4, 5)
	h := g.MatMul(x, w)
	loss := g.Mean(g.Mul(g.Sigmoid(h), h))
	loss = g.Add(loss, g.Scale(g.Sum(g.Tanh(w)), 0.5))
	m := &model{g: g, loss: loss, feedF: map[string][]float32{"x": randF32(rng, 12, 1)}}
	checkGradients(t, m, false)
}

func TestMemoryPlanReusesBuffers(t *testing.T) {
	g := graph.New()
	x := g.Input("x", kernels.F32, 128, 784)
	y := g.Input("y", kernels.I32, 128)
	mlp := nn.NewMLP(g, "mlp", []int{784, 256, 256, 128, 10}, nn.ReLU, 0.1)
	loss := nn.SoftmaxCrossEntropy(g, mlp.Forward(g, x), y)
	p, err := graph.Compile(g, backend(), graph.Config{Loss: loss, Optimizer: nn.Adam{LR: 1e-3}, Training: true})
	require.NoError(t, err)
	mem := p.Memory()
	t.Logf("memory plan: %v", mem)
	assert.Greater(t, mem.PlannedPeak, int64(0))
	assert.Less(t, mem.PlannedPeak, mem.PlannedSum, "the plan must reuse buffers")
	// Parameters 784·256+256 + 256·256+256 + 256·128+128 + 128·10+10, with
	// gradients and Adam's two moments: 4 copies.
	params := int64(784*256+256+256*256+256+256*128+128+128*10+10) * 4
	assert.GreaterOrEqual(t, mem.Persistent, 4*params)
}

func TestStepAllocatesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	g := graph.New()
	x := g.Input("x", kernels.F32, 64, 100)
	y := g.Input("y", kernels.I32, 64)
	mlp := nn.NewMLP(g, "mlp", []int{100, 64, 10}, nn.GELU, 0.2)
	loss := nn.SoftmaxCrossEntropy(g, mlp.Forward(g, x), y)
	loss = g.Add(loss, nn.L2Penalty(g, mlp.Weights(), 1e-4))
	p, err := graph.Compile(g, backend(), graph.Config{Loss: loss, Optimizer: nn.AdamW{LR: 1e-3, WeightDecay: 0.01},
		Schedule: nn.CosineWarmup{Warmup: 2, Total: 100}, ClipNorm: 1, Training: true})
	require.NoError(t, err)
	xs, ys := randF32(rng, 64*100, 1), randLabels(rng, 64, 10)
	step := func() {
		if err := p.FeedF32("x", xs); err != nil {
			t.Fatal(err)
		}
		if err := p.FeedI32("y", ys); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Step(); err != nil {
			t.Fatal(err)
		}
	}
	step()
	assert.Zero(t, testing.AllocsPerRun(20, step), "allocations per training step")
}

// A linearly separable problem: every optimizer must drive the loss down.
func TestOptimizersLearn(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const b, in = 64, 8
	xs := randF32(rng, b*in, 1)
	ys := make([]int32, b)
	for i := range ys {
		if xs[i*in]+xs[i*in+1] > 0 {
			ys[i] = 1
		}
	}
	for name, opt := range map[string]graph.Optimizer{
		"sgd":          nn.SGD{LR: 0.1},
		"sgd-momentum": nn.SGD{LR: 0.05, Momentum: 0.9},
		"sgd-nesterov": nn.SGD{LR: 0.05, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-4},
		"adam":         nn.Adam{LR: 0.01},
		"adamw":        nn.AdamW{LR: 0.01, WeightDecay: 0.01},
	} {
		t.Run(name, func(t *testing.T) {
			g := graph.New()
			x := g.Input("x", kernels.F32, b, in)
			y := g.Input("y", kernels.I32, b)
			mlp := nn.NewMLP(g, "mlp", []int{in, 16, 2}, nn.ReLU, 0)
			loss := nn.SoftmaxCrossEntropy(g, mlp.Forward(g, x), y)
			p, err := graph.Compile(g, backend(), graph.Config{Loss: loss, Optimizer: opt, Seed: 1})
			require.NoError(t, err)
			var first, last float32
			for i := 0; i < 100; i++ {
				require.NoError(t, p.FeedF32("x", xs))
				require.NoError(t, p.FeedI32("y", ys))
				last, err = p.Step()
				require.NoError(t, err)
				if i == 0 {
					first = last
				}
			}
			assert.Less(t, last, first/4, "loss after 100 steps (first %v)", first)
		})
	}
}

func TestFrozenParamsDoNotChange(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	g := graph.New()
	x := g.Input("x", kernels.F32, 8, 4)
	y := g.Input("y", kernels.I32, 8)
	l0 := nn.NewLinear(g, "base", 4, 6)
	l0.W.Freeze()
	l0.B.Freeze()
	head := nn.NewLinear(g, "head", 6, 3)
	loss := nn.SoftmaxCrossEntropy(g, head.Forward(g, g.ReLU(l0.Forward(g, x))), y)
	p, err := graph.Compile(g, backend(), graph.Config{Loss: loss, Optimizer: nn.SGD{LR: 0.5}})
	require.NoError(t, err)
	before, _ := p.Param("base.weight")
	headBefore, _ := p.Param("head.weight")
	for range 3 {
		require.NoError(t, p.FeedF32("x", randF32(rng, 32, 1)))
		require.NoError(t, p.FeedI32("y", randLabels(rng, 8, 3)))
		_, err := p.Step()
		require.NoError(t, err)
	}
	after, _ := p.Param("base.weight")
	headAfter, _ := p.Param("head.weight")
	assert.Equal(t, before.Float32s(), after.Float32s(), "frozen weight changed")
	assert.NotEqual(t, headBefore.Float32s(), headAfter.Float32s(), "trainable weight did not change")
	assert.Error(t, p.Grad("base.weight", make([]float32, 24)))
}

func TestSharedEvalProgram(t *testing.T) {
	be := backend()
	build := func(batch int) (*graph.Graph, *graph.Node, *graph.Node) {
		g := graph.New()
		x := g.Input("x", kernels.F32, batch, 4)
		y := g.Input("y", kernels.I32, batch)
		logits := nn.NewMLP(g, "mlp", []int{4, 8, 3}, nn.ReLU, 0.5).Forward(g, x)
		return g, logits, nn.SoftmaxCrossEntropy(g, logits, y)
	}
	gt, _, loss := build(16)
	train, err := graph.Compile(gt, be, graph.Config{Loss: loss, Optimizer: nn.SGD{LR: 0.1}, Training: true})
	require.NoError(t, err)
	ge, logits, _ := build(5)
	pred := ge.ArgMax(logits)
	eval, err := graph.Compile(ge, be, graph.Config{Outputs: []*graph.Node{logits, pred}, Shared: train})
	require.NoError(t, err)

	rng := rand.New(rand.NewPCG(4, 4))
	require.NoError(t, train.FeedF32("x", randF32(rng, 64, 1)))
	require.NoError(t, train.FeedI32("y", randLabels(rng, 16, 3)))
	_, err = train.Step()
	require.NoError(t, err)

	xs := randF32(rng, 20, 1)
	require.NoError(t, eval.FeedF32("x", xs))
	require.NoError(t, eval.Forward())
	got := make([]float32, 15)
	require.NoError(t, eval.ReadF32(logits, got))
	am := make([]int32, 5)
	require.NoError(t, eval.ReadI32(pred, am))

	// Recompute on the host from the trained parameters (no dropout in eval).
	w0, _ := train.Param("mlp.0.weight")
	b0, _ := train.Param("mlp.0.bias")
	w1, _ := train.Param("mlp.1.weight")
	b1, _ := train.Param("mlp.1.bias")
	for r := 0; r < 5; r++ {
		h := make([]float64, 8)
		for j := range h {
			h[j] = float64(b0.Float32s()[j])
			for k := 0; k < 4; k++ {
				h[j] += float64(xs[r*4+k]) * float64(w0.Float32s()[k*8+j])
			}
			h[j] = math.Max(h[j], 0)
		}
		best := 0
		for c := 0; c < 3; c++ {
			o := float64(b1.Float32s()[c])
			for j := range h {
				o += h[j] * float64(w1.Float32s()[j*3+c])
			}
			assert.InDelta(t, o, got[r*3+c], 1e-4, "logit [%d,%d]", r, c)
			if got[r*3+c] > got[r*3+best] {
				best = c
			}
		}
		assert.Equal(t, int32(best), am[r], "argmax row %d", r)
	}
}

// TestProfile: with profiling on, every instruction is counted under its
// op and pass, the optimizer once per parameter, and the losses are those
// of the same steps unprofiled.
func TestProfile(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	xs, ys := randF32(rng, 16*12, 1), randLabels(rng, 16, 5)
	run := func(profile bool) ([]float32, []graph.OpTime) {
		g := graph.New()
		x := g.Input("x", kernels.F32, 16, 12)
		y := g.Input("y", kernels.I32, 16)
		mlp := nn.NewMLP(g, "mlp", []int{12, 8, 5}, nn.ReLU, 0)
		loss := nn.SoftmaxCrossEntropy(g, mlp.Forward(g, x), y)
		p, err := graph.Compile(g, backend(), graph.Config{Loss: loss, Optimizer: nn.Adam{LR: 1e-2}, Training: true, Seed: 5})
		require.NoError(t, err)
		p.SetProfile(profile)
		var losses []float32
		for range 3 {
			require.NoError(t, p.FeedF32("x", xs))
			require.NoError(t, p.FeedI32("y", ys))
			l, err := p.Step()
			require.NoError(t, err)
			losses = append(losses, l)
		}
		return losses, p.Profile()
	}
	plain, none := run(false)
	assert.Nil(t, none)
	profiled, prof := run(true)
	assert.Equal(t, plain, profiled)
	calls := map[string]int{}
	for _, o := range prof {
		calls[o.Op] = o.Calls
		assert.GreaterOrEqual(t, o.Time, time.Duration(0))
	}
	t.Logf("profile: %v", prof)
	// Two linear layers: two matmuls forward per step; four parameters.
	assert.Equal(t, 2*3, calls["matmul forward"], "matmul forward calls")
	assert.Equal(t, 4*3, calls["optimizer update"], "optimizer update calls")
	assert.Positive(t, calls["matmul backward"], "matmul backward calls")
	for i := 1; i < len(prof); i++ {
		assert.GreaterOrEqual(t, prof[i-1].Time, prof[i].Time, "sorted by time")
	}
}
