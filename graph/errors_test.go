package graph_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/gotrain/gotrain/graph"
	"github.com/gotrain/gotrain/kernels"
	"github.com/gotrain/gotrain/nn"
)

// mlpProgram is a 4-3-2 classifier on a batch of 2.
func mlpProgram(t *testing.T) (*graph.Program, *graph.Graph) {
	g := graph.New()
	x := g.Input("x", kernels.F32, 2, 4)
	y := g.Input("y", kernels.I32, 2)
	logits := nn.NewMLP(g, "mlp", []int{4, 3, 2}, nn.ReLU, 0).Forward(g, x).Named("logits")
	loss := nn.SoftmaxCrossEntropy(g, logits, y).Named("loss")
	p, err := graph.Compile(g, backend(), graph.Config{Loss: loss, Optimizer: nn.SGD{LR: 0.1}})
	require.NoError(t, err)
	return p, g
}

func TestErrorShapeMismatchAtBuild(t *testing.T) {
	g := graph.New()
	x := g.Input("x", kernels.F32, 128, 784)
	w := g.Param("fc1.weight", nil, 512, 256)
	h := g.MatMul(x, w)
	g.ReLU(h) // later ops are no-ops; the first error is kept
	_, err := graph.Compile(g, backend(), graph.Config{})
	require.Error(t, err)
	assert.EqualError(t, err, `graph: matmul: inner dimensions differ: a (x) is [128 784] and b (fc1.weight) is [512 256]; want b's first dimension 784`)

	g = graph.New()
	a := g.Input("a", kernels.F32, 3, 4)
	b := g.Param("b", nil, 5)
	g.BiasAdd(a, b)
	assert.EqualError(t, g.Err(), `graph: bias_add: bias (b) is [5], want [4] to match the last dimension of x (a) [3 4]`)
}

func TestErrorFeedWrongShape(t *testing.T) {
	p, _ := mlpProgram(t)
	err := p.FeedF32("x", make([]float32, 10))
	assert.EqualError(t, err, `graph: feed "x": got 10 elements, want 8 for shape [2 4]`)
	err = p.Feed("x", tensor.New(tensor.WithShape(4, 2), tensor.WithBacking(make([]float32, 8))))
	assert.EqualError(t, err, `graph: feed "x": got shape [4 2], want [2 4]`)
}

func TestErrorFeedWrongDType(t *testing.T) {
	p, _ := mlpProgram(t)
	err := p.Feed("x", tensor.New(tensor.WithShape(2, 4), tensor.WithBacking(make([]float64, 8))))
	assert.EqualError(t, err, `graph: feed "x": got float64 data, want float32 [2 4]`)
	err = p.FeedF32("y", []float32{0, 1})
	assert.EqualError(t, err, `graph: feed "y": got float32 data, want int32 [2]`)
	err = p.FeedF32("z", nil)
	assert.EqualError(t, err, `graph: feed "z": no such input in this program (inputs: x, y)`)
}

func TestErrorMissingFeed(t *testing.T) {
	p, _ := mlpProgram(t)
	require.NoError(t, p.FeedF32("x", make([]float32, 8)))
	_, err := p.Step()
	assert.EqualError(t, err, `graph: input "y" [2] int32 was not fed before the step`)
}

func TestErrorLabelOutOfRange(t *testing.T) {
	p, _ := mlpProgram(t)
	err := p.FeedI32("y", []int32{1, 2})
	assert.EqualError(t, err, `graph: feed "y": label 2 at row 1 is out of range [0, 2) for op cross_entropy (logits "logits" [2 2])`)
	err = p.FeedI32("y", []int32{-1, 0})
	assert.ErrorContains(t, err, `label -1 at row 0 is out of range [0, 2)`)
}

func TestErrorNaNInLoss(t *testing.T) {
	p, _ := mlpProgram(t)
	before, err := p.Param("mlp.0.weight")
	require.NoError(t, err)
	x := []float32{1, 2, float32(math.NaN()), 4, 5, 6, 7, 8}
	require.NoError(t, p.FeedF32("x", x))
	require.NoError(t, p.FeedI32("y", []int32{0, 1}))
	_, err = p.Step()
	assert.EqualError(t, err, `graph: step 1: loss "loss" is NaN: input "x" [2 4] holds NaN at element 2`)
	after, _ := p.Param("mlp.0.weight")
	assert.Equal(t, before.Float32s(), after.Float32s(), "a failed step must not update parameters")
	assert.Equal(t, 0, p.StepCount())
}

func TestErrorInfProducedByOp(t *testing.T) {
	g := graph.New()
	x := g.Input("x", kernels.F32, 2, 3)
	w := g.Param("w", nn.Constant(1), 3, 3)
	h := g.Scale(g.MatMul(x, w), 1e30).Named("huge")
	loss := g.Mean(g.Mul(h, h)).Named("loss")
	p, err := graph.Compile(g, backend(), graph.Config{Loss: loss, Optimizer: nn.SGD{LR: 0.1}})
	require.NoError(t, err)
	require.NoError(t, p.FeedF32("x", []float32{1, 1, 1, 1, 1, 1}))
	_, err = p.Step()
	assert.EqualError(t, err, `graph: step 1: loss "loss" is +Inf: first non-finite value is +Inf at element 0 of op mul "mul#4" [2 3] float32 (inputs: scale "huge" [2 3] float32; scale "huge" [2 3] float32)`)
}

func TestErrorNoGradientRule(t *testing.T) {
	g := graph.New()
	x := g.Input("x", kernels.F32, 2, 3)
	w := g.Param("w", nil, 3, 3)
	h := g.MatMul(x, w)
	idx := g.ArgMax(h)
	_ = idx
	// argmax is int32, so no float op can consume it; a loss that does not
	// depend on a trainable parameter is rejected instead.
	_, err := graph.Compile(g, backend(), graph.Config{Loss: g.Sum(x), Optimizer: nn.SGD{LR: 1}})
	assert.EqualError(t, err, `graph: compile: loss sum "sum#4" [1] float32 does not depend on any trainable parameter`)
}
