package nn_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/cpufallback"
	"github.com/gotrain/gotrain/graph"
	"github.com/gotrain/gotrain/nn"
)

var tinyGPT = nn.GPTConfig{Vocab: 23, Context: 8, Layers: 2, Heads: 2, Channels: 8}

func gptProgram(t *testing.T, cfg nn.GPTConfig, B, T int, opt graph.Optimizer) *graph.Program {
	g := graph.New()
	_, _, loss := nn.BuildGPT(g, cfg, B, T)
	p, err := graph.Compile(g, cpufallback.New(2), graph.Config{Loss: loss, Optimizer: opt, Seed: 5})
	require.NoError(t, err)
	return p
}

func randTokens(rng *rand.Rand, n, v int) []int32 {
	x := make([]int32, n)
	for i := range x {
		x[i] = int32(rng.IntN(v))
	}
	return x
}

func TestGPTParamCount(t *testing.T) {
	g := graph.New()
	nn.NewGPT(g, nn.GPT2Small)
	n := 0
	for _, p := range g.Params() {
		n += p.Shape().Size()
	}
	assert.Equal(t, 124439808, n) // GPT-2 small, as Hugging Face counts it
	assert.Equal(t, n, nn.GPT2Small.Params())
}

// TestGPTGradients compares every coordinate of every parameter's gradient
// with central finite differences of the loss (float32 loss, so a loose
// tolerance; a wrong rule is off by far more). The step is small because
// the residual stream starts near 0.02 in size and the layer norms divide
// by it: h = 1e-2 is already far from linear there.
func TestGPTGradients(t *testing.T) {
	const B, T = 2, 5
	rng := rand.New(rand.NewPCG(1, 2))
	p := gptProgram(t, tinyGPT, B, T, nil)
	toks, tgts := randTokens(rng, B*T, tinyGPT.Vocab), randTokens(rng, B*T, tinyGPT.Vocab)
	lossAt := func() float64 {
		require.NoError(t, p.FeedI32("tokens", toks))
		require.NoError(t, p.FeedI32("targets", tgts))
		l, err := p.Step()
		require.NoError(t, err)
		return float64(l)
	}
	l0 := lossAt()
	assert.InDelta(t, math.Log(float64(tinyGPT.Vocab)), l0, 0.3, "initial loss near log V")
	checked := 0
	for _, name := range p.ParamNames() {
		pt, err := p.Param(name)
		require.NoError(t, err)
		vals := pt.Float32s()
		grad := make([]float32, len(vals))
		lossAt()
		require.NoError(t, p.Grad(name, grad))
		for i := range vals {
			orig := vals[i]
			const h = 2e-3
			vals[i] = orig + h
			require.NoError(t, p.SetParam(name, pt))
			lp := lossAt()
			vals[i] = orig - h
			require.NoError(t, p.SetParam(name, pt))
			lm := lossAt()
			vals[i] = orig
			require.NoError(t, p.SetParam(name, pt))
			fd := (lp - lm) / (2 * h)
			if d := math.Abs(float64(grad[i]) - fd); d > 1e-3+5e-2*math.Abs(fd) {
				t.Errorf("%s[%d]: backward %.6g, finite difference %.6g", name, i, grad[i], fd)
			}
			checked++
		}
	}
	t.Logf("checked %d coordinates of %d parameters", checked, len(p.ParamNames()))
}

// TestGPTLearnsASequence: a tiny GPT must memorise a fixed batch.
func TestGPTLearnsASequence(t *testing.T) {
	const B, T = 4, 8
	rng := rand.New(rand.NewPCG(3, 4))
	p := gptProgram(t, tinyGPT, B, T, nn.AdamW{LR: 1e-2, WeightDecay: 0.1})
	toks := randTokens(rng, B*(T+1), tinyGPT.Vocab)
	in, tg := make([]int32, B*T), make([]int32, B*T)
	for b := 0; b < B; b++ {
		copy(in[b*T:], toks[b*(T+1):b*(T+1)+T])
		copy(tg[b*T:], toks[b*(T+1)+1:(b+1)*(T+1)])
	}
	var first, last float32
	for s := 0; s < 150; s++ {
		require.NoError(t, p.FeedI32("tokens", in))
		require.NoError(t, p.FeedI32("targets", tg))
		l, err := p.Step()
		require.NoError(t, err)
		if s == 0 {
			first = l
		}
		last = l
	}
	t.Logf("loss %.3f -> %.3f", first, last)
	assert.Less(t, last, float32(0.5))
	assert.Zero(t, testing.AllocsPerRun(5, func() {
		p.FeedI32("tokens", in)
		p.FeedI32("targets", tg)
		p.Step()
	}), "allocations per GPT step")
}

func TestGPTBadTokens(t *testing.T) {
	p := gptProgram(t, tinyGPT, 1, 3, nil)
	err := p.FeedI32("tokens", []int32{1, 23, 2})
	assert.EqualError(t, err, `graph: feed "tokens": label 23 at row 1 is out of range [0, 23) for op embedding (wte "transformer.wte.weight" [23 8])`)
	err = p.FeedI32("targets", []int32{1, -1, 2})
	assert.EqualError(t, err, `graph: feed "targets": label -1 at row 1 is out of range [0, 23) for op classifier (logits "logits" [3 23])`)
}
