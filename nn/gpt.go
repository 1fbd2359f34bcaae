package nn

import (
	"fmt"
	"math"

	"github.com/gotrain/gotrain/graph"
	"github.com/gotrain/gotrain/kernels"
)

// GPTConfig sizes a GPT-2-style decoder-only transformer.
type GPTConfig struct {
	Vocab    int // V: vocabulary size
	Context  int // maxT: longest sequence (rows of the position embedding)
	Layers   int // L
	Heads    int // NH
	Channels int // C, a multiple of Heads
}

// GPT2Small is the 124M-parameter GPT-2 (gpt2-124m).
var GPT2Small = GPTConfig{Vocab: 50257, Context: 1024, Layers: 12, Heads: 12, Channels: 768}

func (c GPTConfig) validate() error {
	if c.Vocab < 1 || c.Context < 1 || c.Layers < 1 || c.Heads < 1 || c.Channels < 1 || c.Channels%c.Heads != 0 {
		return fmt.Errorf("gpt: config %+v: want positive sizes with Channels a multiple of Heads", c)
	}
	return nil
}

// Params is the number of parameters (the output projection is tied to the
// token embedding).
func (c GPTConfig) Params() int {
	C, L := c.Channels, c.Layers
	perLayer := 2*C + C*3*C + 3*C + C*C + C + 2*C + C*4*C + 4*C + 4*C*C + C
	return c.Vocab*C + c.Context*C + L*perLayer + 2*C
}

// GPTLayer holds one transformer block's parameters, named as Hugging Face's
// GPT-2 ("transformer.h.<i>.attn.c_attn.weight" [C, 3C], ...).
type GPTLayer struct {
	LN1W, LN1B           *graph.Node // [C]
	AttnW, AttnB         *graph.Node // [C, 3C], [3C]
	AttnProjW, AttnProjB *graph.Node // [C, C], [C]
	LN2W, LN2B           *graph.Node // [C]
	FcW, FcB             *graph.Node // [C, 4C], [4C]
	FcProjW, FcProjB     *graph.Node // [4C, C], [C]
}

// GPT is a GPT-2 model in a graph: token and position embeddings, Layers
// pre-norm blocks (causal self-attention and a GELU MLP, each with a
// residual connection), a final layer norm, and the output projection tied
// to the token embedding.
type GPT struct {
	Config     GPTConfig
	WTE, WPE   *graph.Node // [V, C], [maxT, C]
	Layers     []GPTLayer
	LNFW, LNFB *graph.Node // [C]
}

// NewGPT adds a GPT's parameters with GPT-2's initialisation (as llm.c):
// weights N(0, 0.02²), the two residual projections of each block scaled by
// 1/sqrt(2L), position embeddings N(0, 0.01²), biases 0, layer norms 1 and
// 0. Biases, norms and embeddings are excluded from weight decay.
func NewGPT(g *graph.Graph, cfg GPTConfig) *GPT {
	m := &GPT{Config: cfg}
	if err := cfg.validate(); err != nil {
		g.Errorf("%v", err)
		return m
	}
	C, L := cfg.Channels, cfg.Layers
	std := Normal(0.02)
	resid := Normal(0.02 / math.Sqrt(2*float64(L)))
	ones, zeros := Constant(1), Zeros()
	param := func(name string, init graph.Init, decay bool, shape ...int) *graph.Node {
		p := g.Param(name, init, shape...)
		if !decay {
			p.NoDecay()
		}
		return p
	}
	m.WTE = param("transformer.wte.weight", std, false, cfg.Vocab, C)
	m.WPE = param("transformer.wpe.weight", Normal(0.01), false, cfg.Context, C)
	for l := 0; l < L; l++ {
		p := fmt.Sprintf("transformer.h.%d.", l)
		m.Layers = append(m.Layers, GPTLayer{
			LN1W:      param(p+"ln_1.weight", ones, false, C),
			LN1B:      param(p+"ln_1.bias", zeros, false, C),
			AttnW:     param(p+"attn.c_attn.weight", std, true, C, 3*C),
			AttnB:     param(p+"attn.c_attn.bias", zeros, false, 3*C),
			AttnProjW: param(p+"attn.c_proj.weight", resid, true, C, C),
			AttnProjB: param(p+"attn.c_proj.bias", zeros, false, C),
			LN2W:      param(p+"ln_2.weight", ones, false, C),
			LN2B:      param(p+"ln_2.bias", zeros, false, C),
			FcW:       param(p+"mlp.c_fc.weight", std, true, C, 4*C),
			FcB:       param(p+"mlp.c_fc.bias", zeros, false, 4*C),
			FcProjW:   param(p+"mlp.c_proj.weight", resid, true, 4*C, C),
			FcProjB:   param(p+"mlp.c_proj.bias", zeros, false, C),
		})
	}
	m.LNFW = param("transformer.ln_f.weight", ones, false, C)
	m.LNFB = param("transformer.ln_f.bias", zeros, false, C)
	return m
}

// Forward maps int32 tokens [B, T] to logits [B·T, V].
func (m *GPT) Forward(g *graph.Graph, tokens *graph.Node) *graph.Node {
	if len(m.Layers) == 0 || len(tokens.Shape()) != 2 {
		g.Errorf("gpt: forward of tokens %v: want a built model and tokens [B, T]", tokens.Shape())
		return tokens
	}
	B, T := tokens.Shape()[0], tokens.Shape()[1]
	C, NH := m.Config.Channels, m.Config.Heads
	linear := func(x, w, b *graph.Node) *graph.Node { return g.BiasAdd(g.MatMul(x, w), b) }
	x := g.Reshape(g.Embedding(tokens, m.WTE, m.WPE), B*T, C) // residual stream [BT, C]
	for _, l := range m.Layers {
		h := g.LayerNorm(x, l.LN1W, l.LN1B)
		qkv := g.Reshape(linear(h, l.AttnW, l.AttnB), B, T, 3*C)
		a := g.Reshape(g.Attention(qkv, NH), B*T, C)
		x = g.Add(x, linear(a, l.AttnProjW, l.AttnProjB))
		h = g.LayerNorm(x, l.LN2W, l.LN2B)
		f := g.GELU(linear(h, l.FcW, l.FcB))
		x = g.Add(x, linear(f, l.FcProjW, l.FcProjB))
	}
	x = g.LayerNorm(x, m.LNFW, m.LNFB)
	return g.MatMulT(x, m.WTE, false, true).Named("logits")
}

// BuildGPT adds a GPT for a batch [B, T]: inputs "tokens" and "targets"
// (int32 [B, T]), and returns the model, the logits [B·T, V] and the mean
// next-token loss through the fused classifier.
func BuildGPT(g *graph.Graph, cfg GPTConfig, B, T int) (m *GPT, logits, loss *graph.Node) {
	tokens := g.Input("tokens", kernels.I32, B, T)
	targets := g.Input("targets", kernels.I32, B, T)
	m = NewGPT(g, cfg)
	logits = m.Forward(g, tokens)
	loss = g.ClassifierLoss(logits, g.Reshape(targets, B*T)).Named("loss")
	return m, logits, loss
}
