package nn_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/graph"
	"github.com/gotrain/gotrain/kernels"
	"github.com/gotrain/gotrain/nn"
)

func TestCosineWarmup(t *testing.T) {
	s := nn.CosineWarmup{Warmup: 10, Total: 110, MinFactor: 0.1}
	assert.InDelta(t, 0.1, s.LR(1, 1), 1e-7)
	assert.InDelta(t, 1.0, s.LR(10, 1), 1e-7)
	assert.InDelta(t, 0.55, s.LR(60, 1), 1e-6) // halfway down the cosine
	assert.InDelta(t, 0.1, s.LR(110, 1), 1e-7)
	assert.InDelta(t, 0.1, s.LR(500, 1), 1e-7)
	for step := 11; step < 110; step++ {
		assert.LessOrEqual(t, s.LR(step+1, 1), s.LR(step, 1), "step %d", step)
	}
}

func TestStepLR(t *testing.T) {
	s := nn.StepLR{StepSize: 3, Gamma: 0.5}
	want := []float32{1, 1, 1, 0.5, 0.5, 0.5, 0.25}
	for i, w := range want {
		assert.InDelta(t, w, s.LR(i+1, 1), 1e-7, "step %d", i+1)
	}
	assert.Equal(t, float32(0.3), nn.ConstantLR{}.LR(99, 0.3))
}

func TestInitialisersHaveTheirVariance(t *testing.T) {
	const fanIn, fanOut, n = 400, 100, 40000
	cases := map[string]struct {
		init graph.Init
		std  float64
	}{
		"xavier-uniform":  {nn.XavierUniform(), math.Sqrt(2.0 / (fanIn + fanOut))},
		"xavier-normal":   {nn.XavierNormal(), math.Sqrt(2.0 / (fanIn + fanOut))},
		"kaiming-uniform": {nn.KaimingUniform(), math.Sqrt(2.0 / fanIn)},
		"kaiming-normal":  {nn.KaimingNormal(), math.Sqrt(2.0 / fanIn)},
	}
	for name, c := range cases {
		dst := make([]float32, n)
		c.init(rand.New(rand.NewPCG(1, 2)), dst, fanIn, fanOut)
		var s, s2 float64
		for _, v := range dst {
			s += float64(v)
			s2 += float64(v) * float64(v)
		}
		mean := s / n
		std := math.Sqrt(s2/n - mean*mean)
		assert.InDelta(t, 0, mean, 3*c.std/math.Sqrt(n), name)
		assert.InEpsilon(t, c.std, std, 0.02, name)
	}
}

func TestMLPShapesAndNames(t *testing.T) {
	g := graph.New()
	x := g.Input("x", kernels.F32, 4, 784)
	m := nn.NewMLP(g, "mlp", []int{784, 256, 128, 10}, nn.ReLU, 0.1)
	out := m.Forward(g, x)
	require.NoError(t, g.Err())
	assert.Equal(t, graph.Shape{4, 10}, out.Shape())
	var names []string
	for _, p := range g.Params() {
		names = append(names, p.Name())
	}
	assert.Equal(t, []string{"mlp.0.weight", "mlp.0.bias", "mlp.1.weight", "mlp.1.bias", "mlp.2.weight", "mlp.2.bias"}, names)
	assert.Len(t, m.Weights(), 3)

	g = graph.New()
	nn.NewMLP(g, "bad", []int{3}, nn.ReLU, 0)
	assert.EqualError(t, g.Err(), `graph: mlp "bad": sizes [3]: want at least [in, out]`)

	_, err := nn.ActivationByName("swish")
	assert.EqualError(t, err, `nn: unknown activation "swish" (want relu, gelu, tanh or sigmoid)`)
}
