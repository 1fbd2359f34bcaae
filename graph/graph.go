package graph

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/gotrain/gotrain/kernels"
)

// Shape is a tensor's dimensions, outermost first.
type Shape []int

// Size is the number of elements.
func (s Shape) Size() int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

func (s Shape) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// Equal reports whether s and t have the same dimensions.
func (s Shape) Equal(t Shape) bool {
	if len(s) != len(t) {
		return false
	}
	for i := range s {
		if s[i] != t[i] {
			return false
		}
	}
	return true
}

// rowsCols views a shape as a matrix: all leading dimensions are rows, the
// last is columns.
func (s Shape) rowsCols() (int, int) {
	if len(s) == 0 {
		return 1, 1
	}
	c := s[len(s)-1]
	return s.Size() / max(c, 1), c
}

// Init fills a parameter's initial values. fanIn and fanOut are those of a
// weight matrix [fanIn, fanOut] (for vectors both are the length).
type Init func(rng *rand.Rand, dst []float32, fanIn, fanOut int)

// Node is a value in a graph: an input, a parameter or the result of an op.
type Node struct {
	g     *Graph
	id    int
	op    *opDef
	name  string
	shape Shape
	dtype kernels.DType
	in    []*Node

	// Attributes, by op.
	f       float32 // dropout p, scale alpha, penalty lambda
	init    Init    // params
	frozen  bool    // params excluded from training
	noDecay bool    // params excluded from weight decay
	ta, tb  bool    // matmul: transposed operands
	heads   int     // attention
}

// Name is the node's name: given by Named, or the op and its index.
func (n *Node) Name() string {
	if n.name != "" {
		return n.name
	}
	return fmt.Sprintf("%s#%d", n.op.name, n.id)
}

// Op is the name of the op that produces n ("matmul", "input", ...).
func (n *Node) Op() string { return n.op.name }

// Shape is the node's shape (do not modify it).
func (n *Node) Shape() Shape { return n.shape }

// DType is the node's element type.
func (n *Node) DType() kernels.DType { return n.dtype }

// Named sets the node's name, used in errors and to find outputs.
func (n *Node) Named(name string) *Node {
	n.name = name
	return n
}

// Freeze marks a parameter as not trainable: it gets no gradient and no
// update (transfer learning: fine-tune the rest).
func (n *Node) Freeze() *Node {
	if n.op == opParam {
		n.frozen = true
	}
	return n
}

// NoDecay excludes a parameter from the optimizer's weight decay (biases,
// norms and embeddings in GPT-2 training).
func (n *Node) NoDecay() *Node {
	if n.op == opParam {
		n.noDecay = true
	}
	return n
}

// Decays reports whether the optimizer's weight decay applies to a
// parameter.
func (n *Node) Decays() bool { return n.op == opParam && !n.noDecay }

// Frozen reports whether a parameter is frozen.
func (n *Node) Frozen() bool { return n.frozen }

func (n *Node) describe() string {
	return fmt.Sprintf("%s %q %v %v", n.op.name, n.Name(), n.shape, n.dtype)
}

// Graph is a model under construction. Ops are added with its methods; the
// first error is kept (Err) and makes later ops no-ops.
type Graph struct {
	nodes  []*Node
	params map[string]*Node
	inputs map[string]*Node
	err    error
	bad    *Node // returned by ops once err is set
}

// New returns an empty graph.
func New() *Graph {
	g := &Graph{params: map[string]*Node{}, inputs: map[string]*Node{}}
	g.bad = &Node{g: g, id: -1, op: opInvalid, shape: Shape{0}, dtype: kernels.F32}
	return g
}

// Err returns the first error met while building the graph.
func (g *Graph) Err() error { return g.err }

// Nodes returns the graph's nodes in the order they were added.
func (g *Graph) Nodes() []*Node { return g.nodes }

// Params returns the graph's parameters in the order they were added.
func (g *Graph) Params() []*Node {
	var ps []*Node
	for _, n := range g.nodes {
		if n.op == opParam {
			ps = append(ps, n)
		}
	}
	return ps
}

// Errorf records an error found while building (by a layer checking its
// own arguments), if none is recorded yet.
func (g *Graph) Errorf(format string, args ...any) { g.fail(format, args...) }

func (g *Graph) fail(format string, args ...any) *Node {
	if g.err == nil {
		g.err = fmt.Errorf("graph: "+format, args...)
	}
	return g.bad
}

// ok checks that the inputs of an op are valid nodes of this graph.
func (g *Graph) ok(op string, in ...*Node) bool {
	if g.err != nil {
		return false
	}
	for i, n := range in {
		if n == nil {
			g.fail("%s: input %d is nil", op, i)
			return false
		}
		if n.g != g {
			g.fail("%s: input %d (%s) belongs to another graph", op, i, n.describe())
			return false
		}
	}
	return true
}

func (g *Graph) add(op *opDef, shape Shape, dt kernels.DType, in ...*Node) *Node {
	n := &Node{g: g, id: len(g.nodes), op: op, shape: append(Shape(nil), shape...), dtype: dt, in: in}
	g.nodes = append(g.nodes, n)
	return n
}

func validShape(shape []int) bool {
	for _, d := range shape {
		if d <= 0 {
			return false
		}
	}
	return true
}

// Input adds a named input of the given dtype and shape, fed before each step.
func (g *Graph) Input(name string, dt kernels.DType, shape ...int) *Node {
	if !g.ok("input") {
		return g.bad
	}
	if name == "" {
		return g.fail("input: empty name")
	}
	if _, dup := g.inputs[name]; dup {
		return g.fail("input %q: defined twice", name)
	}
	if !validShape(shape) {
		return g.fail("input %q: shape %v has a dimension below 1", name, Shape(shape))
	}
	if dt != kernels.F32 && dt != kernels.I32 {
		return g.fail("input %q: unsupported dtype %v", name, dt)
	}
	n := g.add(opInput, shape, dt)
	n.name = name
	g.inputs[name] = n
	return n
}

// Param adds a named float32 parameter initialised by init (nil means
// zeros).
func (g *Graph) Param(name string, init Init, shape ...int) *Node {
	if !g.ok("param") {
		return g.bad
	}
	if name == "" {
		return g.fail("param: empty name")
	}
	if _, dup := g.params[name]; dup {
		return g.fail("param %q: defined twice", name)
	}
	if !validShape(shape) {
		return g.fail("param %q: shape %v has a dimension below 1", name, Shape(shape))
	}
	n := g.add(opParam, shape, kernels.F32)
	n.name, n.init = name, init
	g.params[name] = n
	return n
}

func (g *Graph) wantF32(op string, ns ...*Node) bool {
	for _, n := range ns {
		if n.dtype != kernels.F32 {
			g.fail("%s: %s has dtype %v, want float32", op, n.describe(), n.dtype)
			return false
		}
	}
	return true
}

// MatMul is the matrix product a·b of a [M, K] and b [K, N], giving [M, N].
func (g *Graph) MatMul(a, b *Node) *Node {
	if !g.ok("matmul", a, b) || !g.wantF32("matmul", a, b) {
		return g.bad
	}
	if len(a.shape) != 2 || len(b.shape) != 2 {
		return g.fail("matmul: want two matrices, got a %v and b %v", a.shape, b.shape)
	}
	if a.shape[1] != b.shape[0] {
		return g.fail("matmul: inner dimensions differ: a (%s) is %v and b (%s) is %v; want b's first dimension %d",
			a.Name(), a.shape, b.Name(), b.shape, a.shape[1])
	}
	return g.add(opMatMul, Shape{a.shape[0], b.shape[1]}, kernels.F32, a, b)
}

// BiasAdd adds the vector b [C] to every row of x [..., C].
func (g *Graph) BiasAdd(x, b *Node) *Node {
	if !g.ok("bias_add", x, b) || !g.wantF32("bias_add", x, b) {
		return g.bad
	}
	_, c := x.shape.rowsCols()
	if len(b.shape) != 1 || b.shape[0] != c {
		return g.fail("bias_add: bias (%s) is %v, want [%d] to match the last dimension of x (%s) %v", b.Name(), b.shape, c, x.Name(), x.shape)
	}
	return g.add(opBiasAdd, x.shape, kernels.F32, x, b)
}

func (g *Graph) binary(op *opDef, a, b *Node) *Node {
	if !g.ok(op.name, a, b) || !g.wantF32(op.name, a, b) {
		return g.bad
	}
	if !a.shape.Equal(b.shape) {
		return g.fail("%s: shapes differ: a (%s) is %v and b (%s) is %v; want equal shapes", op.name, a.Name(), a.shape, b.Name(), b.shape)
	}
	return g.add(op, a.shape, kernels.F32, a, b)
}

// Add is a + b, elementwise, for equal shapes.
func (g *Graph) Add(a, b *Node) *Node { return g.binary(opAdd, a, b) }

// Mul is a ⊙ b, elementwise, for equal shapes.
func (g *Graph) Mul(a, b *Node) *Node { return g.binary(opMul, a, b) }

func (g *Graph) unary(op *opDef, x *Node) *Node {
	if !g.ok(op.name, x) || !g.wantF32(op.name, x) {
		return g.bad
	}
	return g.add(op, x.shape, kernels.F32, x)
}

// Scale is alpha·x.
func (g *Graph) Scale(x *Node, alpha float32) *Node {
	n := g.unary(opScale, x)
	n.f = alpha
	return n
}

// ReLU is max(x, 0).
func (g *Graph) ReLU(x *Node) *Node { return g.unary(opReLU, x) }

// GELU is GELU with the tanh approximation.
func (g *Graph) GELU(x *Node) *Node { return g.unary(opGELU, x) }

// Tanh is tanh(x).
func (g *Graph) Tanh(x *Node) *Node { return g.unary(opTanh, x) }

// Sigmoid is 1/(1+exp(-x)).
func (g *Graph) Sigmoid(x *Node) *Node { return g.unary(opSigmoid, x) }

// Softmax normalises the last dimension.
func (g *Graph) Softmax(x *Node) *Node { return g.unary(opSoftmax, x) }

// Dropout zeroes elements with probability p while training and scales the
// rest by 1/(1-p); when not training it is the identity.
func (g *Graph) Dropout(x *Node, p float32) *Node {
	if !g.ok("dropout", x) {
		return g.bad
	}
	if !(p >= 0 && p < 1) {
		return g.fail("dropout: p = %v on %s, want 0 <= p < 1", p, x.describe())
	}
	n := g.unary(opDropout, x)
	n.f = p
	return n
}

func (g *Graph) scalar(op *opDef, in ...*Node) *Node {
	return g.add(op, Shape{1}, kernels.F32, in...)
}

// Sum is the sum of all elements, a scalar [1].
func (g *Graph) Sum(x *Node) *Node {
	if !g.ok("sum", x) || !g.wantF32("sum", x) {
		return g.bad
	}
	return g.scalar(opSum, x)
}

// Mean is the mean of all elements, a scalar [1].
func (g *Graph) Mean(x *Node) *Node {
	if !g.ok("mean", x) || !g.wantF32("mean", x) {
		return g.bad
	}
	return g.scalar(opMean, x)
}

// CrossEntropy is the mean over rows of the softmax cross-entropy of logits
// [R, C] against int32 labels [R] in [0, C), fused and numerically stable.
// It returns the scalar loss.
func (g *Graph) CrossEntropy(logits, labels *Node) *Node {
	if !g.ok("cross_entropy", logits, labels) || !g.wantF32("cross_entropy", logits) {
		return g.bad
	}
	if len(logits.shape) != 2 {
		return g.fail("cross_entropy: logits (%s) are %v, want [rows, classes]", logits.Name(), logits.shape)
	}
	if labels.dtype != kernels.I32 {
		return g.fail("cross_entropy: labels (%s) have dtype %v, want int32", labels.Name(), labels.dtype)
	}
	if len(labels.shape) != 1 || labels.shape[0] != logits.shape[0] {
		return g.fail("cross_entropy: labels (%s) are %v, want [%d] to match logits (%s) %v", labels.Name(), labels.shape, logits.shape[0], logits.Name(), logits.shape)
	}
	rows := g.add(opCrossEntropyRows, Shape{logits.shape[0]}, kernels.F32, logits, labels)
	return g.scalar(opMean, rows)
}

// MSE is the mean squared error between pred and target of equal shapes, a
// scalar [1]. Only pred receives a gradient.
func (g *Graph) MSE(pred, target *Node) *Node {
	if !g.ok("mse", pred, target) || !g.wantF32("mse", pred, target) {
		return g.bad
	}
	if !pred.shape.Equal(target.shape) {
		return g.fail("mse: pred (%s) is %v and target (%s) is %v; want equal shapes", pred.Name(), pred.shape, target.Name(), target.shape)
	}
	return g.scalar(opMSE, pred, target)
}

// L1 is the penalty lambda·Σ|w|, a scalar to add to a loss.
func (g *Graph) L1(w *Node, lambda float32) *Node {
	if !g.ok("l1", w) || !g.wantF32("l1", w) {
		return g.bad
	}
	n := g.scalar(opL1, w)
	n.f = lambda
	return n
}

// L2 is the penalty lambda/2·Σw², a scalar to add to a loss.
func (g *Graph) L2(w *Node, lambda float32) *Node {
	if !g.ok("l2", w) || !g.wantF32("l2", w) {
		return g.bad
	}
	n := g.scalar(opL2, w)
	n.f = lambda
	return n
}

// ArgMax is the index of each row's maximum of x [R, C], int32 [R]. It is a
// metric: it has no gradient, and a loss that depends on it fails Compile.
func (g *Graph) ArgMax(x *Node) *Node {
	if !g.ok("argmax", x) || !g.wantF32("argmax", x) {
		return g.bad
	}
	r, _ := x.shape.rowsCols()
	return g.add(opArgMax, Shape{r}, kernels.I32, x)
}
