package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/gotrain/gotrain/cpufallback"
	"github.com/gotrain/gotrain/graph"
	"github.com/gotrain/gotrain/kernels"
	"github.com/gotrain/gotrain/nn/tokenizer"
)

// randomizeParams gives every parameter random values of a size that makes
// the logits large (a few units), so that agreement is not trivial: layer
// norm weights around 1, everything else N(0, 0.25²).
func randomizeParams(t *testing.T, p *graph.Program, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, name := range p.ParamNames() {
		shape := p.ParamShape(name)
		v := make([]float32, shape.Size())
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.25)
			if strings.Contains(name, "ln_") && strings.HasSuffix(name, ".weight") {
				v[i] += 1
			}
		}
		require.NoError(t, p.SetParam(name, tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))))
	}
}

// TestSamplerMatchesGraph: the sampler's logits at every position of a
// prompt, computed one token at a time with the key/value cache, match the
// graph's forward pass over the whole prompt within 1e-4.
func TestSamplerMatchesGraph(t *testing.T) {
	cfg := GPTConfig{Vocab: 61, Context: 24, Layers: 3, Heads: 4, Channels: 32}
	const P = 19
	g := graph.New()
	tokens := g.Input("tokens", kernels.I32, 1, P)
	m := NewGPT(g, cfg)
	logits := m.Forward(g, tokens)
	p, err := graph.Compile(g, cpufallback.New(2), graph.Config{Outputs: []*graph.Node{logits}, Seed: 3})
	require.NoError(t, err)
	randomizeParams(t, p, 4)

	rng := rand.New(rand.NewPCG(5, 6))
	prompt := make([]int32, P)
	for i := range prompt {
		prompt[i] = int32(rng.IntN(cfg.Vocab))
	}
	require.NoError(t, p.FeedI32("tokens", prompt))
	require.NoError(t, p.Forward())
	want := make([]float32, P*cfg.Vocab)
	require.NoError(t, p.ReadF32(logits, want))

	s, err := NewSampler(p, cfg)
	require.NoError(t, err)
	var maxDiff, maxAbs float64
	for pos, id := range prompt {
		got, err := s.Step(id)
		require.NoError(t, err)
		for v := range got {
			w := float64(want[pos*cfg.Vocab+v])
			maxAbs = max(maxAbs, math.Abs(w))
			if d := math.Abs(float64(got[v]) - w); d > maxDiff {
				maxDiff = d
			}
		}
	}
	t.Logf("largest logit %.3f, largest difference %.3g", maxAbs, maxDiff)
	assert.Greater(t, maxAbs, 1.0, "the logits are large enough to test something")
	assert.Less(t, maxDiff, 1e-4)

	// The cache is full at Context positions.
	s.Reset()
	for i := 0; i < cfg.Context; i++ {
		_, err := s.Step(1)
		require.NoError(t, err)
	}
	_, err = s.Step(1)
	assert.ErrorContains(t, err, "the context holds 24 positions")
	s.Reset()
	_, err = s.Step(int32(cfg.Vocab))
	assert.ErrorContains(t, err, "token 61 is out of range [0, 61)")

	_, err = NewSampler(p, GPTConfig{Vocab: 60, Context: 24, Layers: 3, Heads: 4, Channels: 32})
	assert.ErrorContains(t, err, `parameter "transformer.wte.weight" has 1952 values [61 32], want 1920`)
}

func sampleSetup(t *testing.T) (*Sampler, *tokenizer.Tokenizer) {
	text := strings.Repeat("the cat sat on the mat. a dog ate the hat; ünïcödé ok.\n", 20)
	tok, err := tokenizer.Train(strings.NewReader(text), 300, tokenizer.TrainOptions{})
	require.NoError(t, err)
	cfg := GPTConfig{Vocab: tok.VocabSize(), Context: 16, Layers: 2, Heads: 2, Channels: 16}
	g := graph.New()
	logits := NewGPT(g, cfg).Forward(g, g.Input("tokens", kernels.I32, 1, 1))
	p, err := graph.Compile(g, cpufallback.New(1), graph.Config{Outputs: []*graph.Node{logits}, Seed: 9})
	require.NoError(t, err)
	randomizeParams(t, p, 10)
	s, err := NewSampler(p, cfg)
	require.NoError(t, err)
	return s, tok
}

func generate(t *testing.T, s *Sampler, tok *tokenizer.Tokenizer, prompt string, o SampleOptions) ([]int32, []string) {
	var pieces []string
	out, err := s.Generate(tok, tok.EncodeString(prompt), o, func(b []byte) error {
		pieces = append(pieces, string(b))
		return nil
	})
	require.NoError(t, err)
	return out, pieces
}

func TestGenerate(t *testing.T) {
	s, tok := sampleSetup(t)
	o := SampleOptions{MaxNewTokens: 40, Temperature: 1, Seed: 1, IgnoreEOT: true}
	a, pa := generate(t, s, tok, "the cat", o)
	b, pb := generate(t, s, tok, "the cat", o)
	assert.Equal(t, a, b, "same seed, same tokens")
	assert.Equal(t, pa, pb)
	assert.Len(t, a, 40, "runs past the context of 16 by rebuilding the cache")
	text, err := tok.Decode(a)
	require.NoError(t, err)
	assert.Equal(t, string(text), strings.Join(pa, ""), "the streamed pieces are the decoded tokens")

	o.Seed = 2
	c, _ := generate(t, s, tok, "the cat", o)
	assert.NotEqual(t, a, c, "another seed, other tokens")

	greedy, _ := generate(t, s, tok, "the cat", SampleOptions{MaxNewTokens: 10, IgnoreEOT: true})
	top1, _ := generate(t, s, tok, "the cat", SampleOptions{MaxNewTokens: 10, Temperature: 0.8, TopK: 1, Seed: 5, IgnoreEOT: true})
	assert.Equal(t, greedy, top1, "top-k 1 is greedy")
	tinyP, _ := generate(t, s, tok, "the cat", SampleOptions{MaxNewTokens: 10, Temperature: 0.8, TopP: 1e-9, Seed: 6, IgnoreEOT: true})
	assert.Equal(t, greedy, tinyP, "a tiny top-p keeps only the most likely token")

	// A stop string from the middle of the text: generation ends there and
	// the text before it is what was emitted.
	full := string(text)
	stop := full[len(full)/2 : len(full)/2+3]
	cut := strings.Index(full, stop)
	o.Seed, o.Stop = 1, []string{stop}
	_, ps := generate(t, s, tok, "the cat", o)
	assert.Equal(t, full[:cut], strings.Join(ps, ""))

	_, err = s.Generate(tok, nil, SampleOptions{TopK: -1}, func([]byte) error { return nil })
	assert.ErrorContains(t, err, "want TopK, TopP and MaxNewTokens >= 0")
}

func TestGenerateStopsAtEOT(t *testing.T) {
	s, tok := sampleSetup(t)
	// At a high temperature every token is about as likely: over many
	// seeds EOT is drawn, and each time generation ends there, unemitted.
	hits := 0
	for seed := uint64(0); seed < 60; seed++ {
		out, pieces := generate(t, s, tok, "", SampleOptions{MaxNewTokens: 30, Temperature: 10, Seed: seed})
		for i, id := range out {
			if id == tok.EOT() {
				hits++
				assert.Equal(t, len(out)-1, i, "EOT ends generation")
				assert.NotContains(t, strings.Join(pieces, ""), tokenizer.EndOfText)
			}
		}
	}
	assert.Positive(t, hits, "EOT was drawn at least once")
}

func TestSplitPending(t *testing.T) {
	for _, c := range []struct {
		in, ready, rest string
		stops           []string
		stopped         bool
	}{
		{"hello", "hello", "", nil, false},
		{"hello wor", "hello ", "wor", []string{"world"}, false},
		{"hello world!", "hello ", "", []string{"world"}, true},
		{"abc\n\n", "abc", "", []string{"\n\n"}, true},
		{"abc\n", "abc", "\n", []string{"\n\n"}, false},
		{"caf\xc3", "caf", "\xc3", nil, false},             // half of é
		{"\xe2\x82", "", "\xe2\x82", nil, false},           // two bytes of €
		{"\xe2\x82\xac!", "\xe2\x82\xac!", "", nil, false}, // all of €
		{"bad \xff", "bad \xff", "", nil, false},           // invalid bytes pass through
	} {
		ready, rest, stopped := splitPending([]byte(c.in), c.stops)
		assert.Equal(t, c.ready, string(ready), "%q", c.in)
		assert.Equal(t, c.rest, string(rest), "%q", c.in)
		assert.Equal(t, c.stopped, stopped, "%q", c.in)
	}
}
