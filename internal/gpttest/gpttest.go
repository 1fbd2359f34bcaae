// Package gpttest checks gotrain's GPT-2 end to end against a PyTorch run,
// as llm.c's test_gpt2 does: the same weights and batch must give the same
// logits, loss, parameter gradients and parameters after two AdamW steps.
// One check serves every backend: the pure-Go one, the CUDA kernels
// emulated on the CPU and the real device.
//
// The reference is a safetensors file written by nn/testdata/gpt2_pytorch.py
// (see there for its tensors). Its metadata holds the model's configuration
// (vocab, context, layers, heads, channels), the batch (batch, seq) and the
// AdamW settings (lr, beta1, beta2, eps, weight_decay).
//
// Dimensions: B batch, T sequence, C channels, V vocabulary, NH heads.
package gpttest

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/gotrain/gotrain/graph"
	"github.com/gotrain/gotrain/internal/safetensors"
	"github.com/gotrain/gotrain/kernels"
	"github.com/gotrain/gotrain/nn"
)

// Tolerances, each on the scaled difference of a tensor (see compare): the
// largest |got − ref| divided by the largest |ref| of that tensor. Dividing
// by the tensor's own magnitude, rather than element by element, keeps
// entries near zero (most of a gradient) from turning float32 rounding into
// large relative errors, while a wrong rule, which moves the large entries
// too, is still caught by orders of magnitude.
const (
	// TolForward bounds the logits and the loss.
	TolForward = 1e-5
	// TolGrad bounds every parameter gradient.
	TolGrad = 1e-4
	// TolStep bounds the parameters after two AdamW steps, except those
	// whose gradient is below TinyGrad·eps (see CheckPyTorchFixture).
	TolStep = 1e-4
	// TinyGrad·eps is the gradient below which an entry's AdamW steps are
	// ill-conditioned: at |g| = 1000·eps, eps still changes the first
	// step by 1e-3 of itself.
	TinyGrad = 1000
)

// fixture is the reference run.
type fixture struct {
	file         *safetensors.File
	cfg          nn.GPTConfig
	B, T         int
	opt          nn.AdamW
	tokens, tgts []int32
	names        []string // the parameters, "transformer.*", in file order
}

func metaInt(f *safetensors.File, key string) (int, error) {
	v, ok := f.Metadata[key]
	if !ok {
		return 0, fmt.Errorf("metadata has no %q", key)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("metadata %q = %q: want a positive integer", key, v)
	}
	return n, nil
}

func metaF32(f *safetensors.File, key string) (float32, error) {
	v, ok := f.Metadata[key]
	if !ok {
		return 0, fmt.Errorf("metadata has no %q", key)
	}
	x, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("metadata %q = %q: %v", key, v, err)
	}
	return float32(x), nil
}

func load(path string) (*fixture, error) {
	f, err := safetensors.Read(path)
	if err != nil {
		return nil, err
	}
	fx := &fixture{file: f}
	ints := []struct {
		key string
		dst *int
	}{
		{"vocab", &fx.cfg.Vocab}, {"context", &fx.cfg.Context}, {"layers", &fx.cfg.Layers},
		{"heads", &fx.cfg.Heads}, {"channels", &fx.cfg.Channels}, {"batch", &fx.B}, {"seq", &fx.T},
	}
	for _, m := range ints {
		if *m.dst, err = metaInt(f, m.key); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	floats := []struct {
		key string
		dst *float32
	}{
		{"lr", &fx.opt.LR}, {"beta1", &fx.opt.Beta1}, {"beta2", &fx.opt.Beta2},
		{"eps", &fx.opt.Eps}, {"weight_decay", &fx.opt.WeightDecay},
	}
	for _, m := range floats {
		if *m.dst, err = metaF32(f, m.key); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if fx.tokens, err = fx.i32("tokens", fx.B, fx.T); err != nil {
		return nil, err
	}
	if fx.tgts, err = fx.i32("targets", fx.B, fx.T); err != nil {
		return nil, err
	}
	for _, name := range f.Names() {
		if strings.HasPrefix(name, "transformer.") {
			fx.names = append(fx.names, name)
		}
	}
	return fx, nil
}

func (fx *fixture) i32(name string, B, T int) ([]int32, error) {
	t, ok := fx.file.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("%s: no tensor %q", fx.file.Path, name)
	}
	if len(t.Shape) != 2 || t.Shape[0] != B || t.Shape[1] != T {
		return nil, fmt.Errorf("%s: %q is %v, want [%d %d]", fx.file.Path, name, t.Shape, B, T)
	}
	return t.I32()
}

// f32 returns a float32 tensor of the fixture, which must have n elements.
func (fx *fixture) f32(name string, n int) ([]float32, error) {
	t, ok := fx.file.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("%s: no tensor %q", fx.file.Path, name)
	}
	if t.F32 == nil || len(t.F32) != n {
		return nil, fmt.Errorf("%s: %q is %v %v, want %d float32 values", fx.file.Path, name, t.DType, t.Shape, n)
	}
	return t.F32, nil
}

// result is one compared tensor.
type result struct {
	name           string
	n              int
	maxRef, maxAbs float64 // largest |ref| and |got − ref|
	at             int     // where |got − ref| is largest
	got, ref       float64 // the values there
	scaled, tol    float64
	note           string
}

// compare measures got against ref: scaled is max|got − ref| / max|ref|
// (max|got − ref| itself when ref is all zeros). A NaN or Inf in got is an
// infinite difference. skip, when not nil, leaves out the entries where it
// is true.
func compare(name string, got, ref []float32, tol float64, skip func(i int) bool) result {
	r := result{name: name, tol: tol, at: -1}
	for i := range ref {
		if skip != nil && skip(i) {
			continue
		}
		r.n++
		d := math.Abs(float64(got[i]) - float64(ref[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		if r.at < 0 || d > r.maxAbs {
			r.maxAbs, r.at, r.got, r.ref = d, i, float64(got[i]), float64(ref[i])
		}
		r.maxRef = max(r.maxRef, math.Abs(float64(ref[i])))
	}
	r.scaled = r.maxAbs
	if r.maxRef > 0 {
		r.scaled = r.maxAbs / r.maxRef
	}
	return r
}

func (r result) ok() bool { return r.scaled <= r.tol }

// report logs a table of results and fails for each one out of tolerance.
func report(t *testing.T, title string, rs []result) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n  %-40s %7s %11s %11s %9s %7s  %s\n", title, "tensor", "n", "max|ref|", "max|diff|", "scaled", "tol", "worst at: got / ref")
	for _, r := range rs {
		mark := "ok"
		if !r.ok() {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "  %-40s %7d %11.4g %11.4g %9.2e %7.0e  [%d]: %.8g / %.8g %s%s\n",
			r.name, r.n, r.maxRef, r.maxAbs, r.scaled, r.tol, r.at, r.got, r.ref, mark, r.note)
	}
	t.Log(b.String())
	for _, r := range rs {
		if !r.ok() {
			t.Errorf("%s %s: max |got - ref| = %.4g at element %d (got %.8g, PyTorch %.8g), %.2e of max |ref| %.4g; want <= %.0e",
				title, r.name, r.maxAbs, r.at, r.got, r.ref, r.scaled, r.maxRef, r.tol)
		}
	}
}

// program compiles the training graph (BuildGPT) on be, with opt (nil:
// gradients only), and loads the fixture's weights into it.
func (fx *fixture) program(t *testing.T, be kernels.Backend, opt graph.Optimizer) *graph.Program {
	t.Helper()
	g := graph.New()
	_, _, loss := nn.BuildGPT(g, fx.cfg, fx.B, fx.T)
	p, err := graph.Compile(g, be, graph.Config{Loss: loss, Optimizer: opt, Seed: 1})
	if err != nil {
		t.Fatalf("compile the GPT %+v for [%d %d]: %v", fx.cfg, fx.B, fx.T, err)
	}
	fx.setParams(t, p)
	return p
}

// setParams copies every weight of the fixture into p, and checks that the
// fixture and the model have the same parameters.
func (fx *fixture) setParams(t *testing.T, p *graph.Program) {
	t.Helper()
	inFile := map[string]bool{}
	for _, name := range fx.names {
		inFile[name] = true
		shape := p.ParamShape(name)
		if shape == nil {
			t.Fatalf("fixture weight %q is not a parameter of the model", name)
		}
		w, err := fx.f32(name, shape.Size())
		if err != nil {
			t.Fatal(err)
		}
		ft, _ := fx.file.Lookup(name)
		if !graph.Shape(ft.Shape).Equal(shape) {
			t.Fatalf("fixture weight %q is %v, the model's is %v", name, ft.Shape, shape)
		}
		host := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float32(nil), w...)))
		if err := p.SetParam(name, host); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range p.ParamNames() {
		if !inFile[name] {
			t.Fatalf("parameter %q of the model is not in the fixture", name)
		}
	}
}

func (fx *fixture) feed(t *testing.T, p *graph.Program, targets bool) {
	t.Helper()
	if err := p.FeedI32("tokens", fx.tokens); err != nil {
		t.Fatal(err)
	}
	if targets {
		if err := p.FeedI32("targets", fx.tgts); err != nil {
			t.Fatal(err)
		}
	}
}

// CheckPyTorchFixture loads the reference at path and checks gotrain's GPT-2
// on be against it:
//
//  1. the logits, from a forward-only program built with nn.NewGPT and
//     Forward (no fused classifier, which overwrites its logits with their
//     gradient), sharing the parameters of the training program;
//  2. the loss and every parameter's gradient, from one step of the
//     training program of nn.BuildGPT without an optimizer;
//  3. the two losses and the parameters after two steps of a training
//     program with the fixture's nn.AdamW.
//
// It logs a table of the largest difference per tensor and fails, naming
// the tensor, for each one out of tolerance (TolForward, TolGrad, TolStep).
//
// Entries with a tiny gradient are checked loosely after the AdamW steps.
// Adam's first update is g/(|g|+eps), about ±1 whatever |g| is: where |g|
// is within a few orders of eps, float32 rounding of g, harmless in the
// gradient table, moves the parameter by a visible fraction of lr. (One
// weight of the fixture has a gradient of 1.5e-7; the pure-Go backend's is
// about 1e-8 off, 1e-7 of that tensor's largest gradient, and the weight
// ends 5e-5 away from PyTorch's after two steps, 1.5e-4 of the tensor.) So
// an entry whose reference gradient is below TinyGrad·eps is only checked
// to have moved no more than two Adam steps can (2·lr, plus the decay);
// the others must match within TolStep. The key bias (the middle third of
// c_attn.bias) is always among them: its gradient is zero in exact
// arithmetic, since adding a constant to every key adds the same amount to
// each score of a softmax row, so in float32 it is rounding noise (about
// 1e-9), and Adam turns that noise into steps of up to lr in either
// implementation.
func CheckPyTorchFixture(t *testing.T, be kernels.Backend, path string) {
	t.Helper()
	fx, err := load(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, B, T := fx.cfg, fx.B, fx.T
	t.Logf("%s: GPT-2 V=%d maxT=%d L=%d NH=%d C=%d, batch [%d %d], on %s",
		path, cfg.Vocab, cfg.Context, cfg.Layers, cfg.Heads, cfg.Channels, B, T, be.Name())

	// 1 and 2: logits, loss, gradients.
	train := fx.program(t, be, nil)
	fg := graph.New()
	m := nn.NewGPT(fg, cfg)
	logitsNode := m.Forward(fg, fg.Input("tokens", kernels.I32, B, T))
	fwd, err := graph.Compile(fg, be, graph.Config{Outputs: []*graph.Node{logitsNode}, Shared: train})
	if err != nil {
		t.Fatalf("compile the forward-only GPT: %v", err)
	}
	fx.feed(t, fwd, false)
	if err := fwd.Forward(); err != nil {
		t.Fatalf("forward: %v", err)
	}
	logits := make([]float32, B*T*cfg.Vocab)
	if err := fwd.ReadF32(logitsNode, logits); err != nil {
		t.Fatal(err)
	}
	refLogits, err := fx.f32("logits", len(logits))
	if err != nil {
		t.Fatal(err)
	}
	refLoss, err := fx.f32("loss", 1)
	if err != nil {
		t.Fatal(err)
	}
	fx.feed(t, train, true)
	loss, err := train.Step()
	if err != nil {
		t.Fatalf("training step: %v", err)
	}
	forward := []result{
		compare("logits", logits, refLogits, TolForward, nil),
		compare("loss", []float32{loss}, refLoss, TolForward, nil),
	}
	report(t, "forward", forward)

	var grads []result
	for _, name := range fx.names {
		n := train.ParamShape(name).Size()
		ref, err := fx.f32("grad."+name, n)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, n)
		if err := train.Grad(name, got); err != nil {
			t.Fatal(err)
		}
		grads = append(grads, compare(name, got, ref, TolGrad, nil))
	}
	report(t, "gradients", grads)

	// 3: two AdamW steps.
	opt := fx.opt
	step := fx.program(t, be, opt)
	var steps []result
	for s := 1; s <= 2; s++ {
		fx.feed(t, step, true)
		l, err := step.Step()
		if err != nil {
			t.Fatalf("AdamW step %d: %v", s, err)
		}
		ref, err := fx.f32(fmt.Sprintf("step%d.loss", s), 1)
		if err != nil {
			t.Fatal(err)
		}
		steps = append(steps, compare(fmt.Sprintf("loss of step %d", s), []float32{l}, ref, TolForward, nil))
	}
	for _, name := range fx.names {
		pt, err := step.Param(name)
		if err != nil {
			t.Fatal(err)
		}
		got := pt.Float32s()
		ref, err := fx.f32("step2."+name, len(got))
		if err != nil {
			t.Fatal(err)
		}
		init, err := fx.f32(name, len(got))
		if err != nil {
			t.Fatal(err)
		}
		grad, err := fx.f32("grad."+name, len(got))
		if err != nil {
			t.Fatal(err)
		}
		steps = append(steps, fx.compareStep(t, name, got, ref, init, grad))
	}
	report(t, "AdamW, 2 steps", steps)
}

// compareStep compares the parameters after two AdamW steps, leaving the
// entries with a tiny reference gradient out of the measure (they are
// checked against Adam's bound on a step instead; see CheckPyTorchFixture).
func (fx *fixture) compareStep(t *testing.T, name string, got, ref, init, grad []float32) result {
	t.Helper()
	opt := fx.opt
	tiny := float64(TinyGrad) * float64(opt.Eps)
	isTiny := func(i int) bool { return math.Abs(float64(grad[i])) < tiny }
	loose, moved := 0, 0.0
	for i := range ref {
		if !isTiny(i) {
			continue
		}
		// Each step moves a parameter by at most lr·(|m̂|/(sqrt(v̂)+eps)
		// + wd·|p|), and |m̂|/sqrt(v̂) <= 1.001 in the first two steps.
		lr, wd := float64(opt.LR), float64(opt.WeightDecay)
		limit := 2 * lr * (1.001 + wd*(math.Abs(float64(init[i]))+2*lr))
		d := math.Abs(float64(got[i]) - float64(init[i]))
		if !(d <= limit) {
			t.Errorf("AdamW, 2 steps %s: entry %d, with a tiny gradient %.3g, moved by %.4g, more than two steps can (%.4g)",
				name, i, grad[i], d, limit)
		}
		loose++
		moved = max(moved, d)
	}
	res := compare(name, got, ref, TolStep, isTiny)
	if loose > 0 {
		res.note = fmt.Sprintf(" (%d entries with |grad| < %.0e only bounded: moved <= %.3g)", loose, tiny, moved)
	}
	return res
}
