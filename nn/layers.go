package nn

import (
	"fmt"

	"github.com/gotrain/gotrain/graph"
)

// Activation is an elementwise non-linearity.
type Activation struct {
	Name  string
	Apply func(g *graph.Graph, x *graph.Node) *graph.Node
}

// The activations.
var (
	ReLU    = Activation{"relu", (*graph.Graph).ReLU}
	GELU    = Activation{"gelu", (*graph.Graph).GELU}
	Tanh    = Activation{"tanh", (*graph.Graph).Tanh}
	Sigmoid = Activation{"sigmoid", (*graph.Graph).Sigmoid}
)

// ActivationByName returns "relu", "gelu", "tanh" or "sigmoid".
func ActivationByName(name string) (Activation, error) {
	switch name {
	case "relu":
		return ReLU, nil
	case "gelu":
		return GELU, nil
	case "tanh":
		return Tanh, nil
	case "sigmoid":
		return Sigmoid, nil
	}
	return Activation{}, fmt.Errorf("nn: unknown activation %q (want relu, gelu, tanh or sigmoid)", name)
}

// Softmax normalises the last dimension.
func Softmax(g *graph.Graph, x *graph.Node) *graph.Node { return g.Softmax(x) }

// Dropout zeroes elements with probability p while training.
func Dropout(g *graph.Graph, x *graph.Node, p float32) *graph.Node { return g.Dropout(x, p) }

// Linear is y = x·W + b with W [in, out] and b [out].
type Linear struct {
	W, B    *graph.Node
	In, Out int
}

// LinearOption configures a Linear.
type LinearOption func(*linearConfig)

type linearConfig struct {
	weight, bias graph.Init
	noBias       bool
}

// WithInit sets the weight initialiser (default: PyTorch's nn.Linear init).
func WithInit(init graph.Init) LinearOption { return func(c *linearConfig) { c.weight = init } }

// WithBiasInit sets the bias initialiser.
func WithBiasInit(init graph.Init) LinearOption { return func(c *linearConfig) { c.bias = init } }

// NoBias drops the bias.
func NoBias() LinearOption { return func(c *linearConfig) { c.noBias = true } }

// NewLinear adds the parameters "<name>.weight" [in, out] and "<name>.bias"
// [out].
func NewLinear(g *graph.Graph, name string, in, out int, opts ...LinearOption) *Linear {
	c := linearConfig{weight: torchLinear(in), bias: torchLinear(in)}
	for _, o := range opts {
		o(&c)
	}
	l := &Linear{In: in, Out: out}
	l.W = g.Param(name+".weight", c.weight, in, out)
	if !c.noBias {
		l.B = g.Param(name+".bias", c.bias, out)
	}
	return l
}

// Forward applies the layer to x [B, in].
func (l *Linear) Forward(g *graph.Graph, x *graph.Node) *graph.Node {
	y := g.MatMul(x, l.W)
	if l.B != nil {
		y = g.BiasAdd(y, l.B)
	}
	return y
}

// MLP is a stack of Linear layers with an activation (and optional dropout)
// between them; the last layer has neither.
type MLP struct {
	Layers  []*Linear
	Act     Activation
	Dropout float32
}

// NewMLP adds layers "<name>.0", "<name>.1", ... for sizes
// [in, hidden..., out]. Hidden weights use Kaiming (He) uniform init for
// ReLU and GELU, Xavier (Glorot) uniform otherwise; biases start at 0.
func NewMLP(g *graph.Graph, name string, sizes []int, act Activation, dropout float32) *MLP {
	m := &MLP{Act: act, Dropout: dropout}
	if len(sizes) < 2 {
		g.Errorf("mlp %q: sizes %v: want at least [in, out]", name, sizes)
		return m
	}
	init := XavierUniform()
	if act.Name == "relu" || act.Name == "gelu" {
		init = KaimingUniform()
	}
	for i := 0; i+1 < len(sizes); i++ {
		w := init
		if i+2 == len(sizes) {
			w = XavierUniform() // the output layer feeds a loss, not a ReLU
		}
		m.Layers = append(m.Layers, NewLinear(g, fmt.Sprintf("%s.%d", name, i), sizes[i], sizes[i+1], WithInit(w), WithBiasInit(Zeros())))
	}
	return m
}

// Forward applies the MLP to x [B, in] and returns the logits [B, out].
func (m *MLP) Forward(g *graph.Graph, x *graph.Node) *graph.Node {
	for i, l := range m.Layers {
		x = l.Forward(g, x)
		if i+1 < len(m.Layers) {
			if m.Act.Apply != nil {
				x = m.Act.Apply(g, x)
			}
			if m.Dropout > 0 {
				x = g.Dropout(x, m.Dropout)
			}
		}
	}
	return x
}

// Weights returns the weight matrices (for L1/L2 penalties, which usually
// spare biases).
func (m *MLP) Weights() []*graph.Node {
	var ws []*graph.Node
	for _, l := range m.Layers {
		ws = append(ws, l.W)
	}
	return ws
}
