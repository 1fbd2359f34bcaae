package cpufallback_test

// The transformer kernels of the shared suite (internal/kerneltest) on the
// pure-Go backend, their allocation check and their benchmarks.

import (
	"fmt"
	"testing"

	"github.com/gotrain/gotrain/cpufallback"
	"github.com/gotrain/gotrain/internal/kerneltest"
	"github.com/gotrain/gotrain/kernels"
)

func TestEmbeddingForward(t *testing.T)     { kerneltest.EmbeddingForward(t, cpufallback.New(0)) }
func TestEmbeddingBackward(t *testing.T)    { kerneltest.EmbeddingBackward(t, cpufallback.New(0)) }
func TestLayerNormForward(t *testing.T)     { kerneltest.LayerNormForward(t, cpufallback.New(0)) }
func TestLayerNormBackward(t *testing.T)    { kerneltest.LayerNormBackward(t, cpufallback.New(0)) }
func TestAttentionForward(t *testing.T)     { kerneltest.AttentionForward(t, cpufallback.New(0)) }
func TestAttentionBackward(t *testing.T)    { kerneltest.AttentionBackward(t, cpufallback.New(0)) }
func TestClassifier(t *testing.T)           { kerneltest.ClassifierForwardBackward(t, cpufallback.New(0)) }
func TestTransformerBadInputs(t *testing.T) { kerneltest.TransformerBadInputs(t, cpufallback.New(0)) }

// TestTransformerSerial runs the transformer tests on one worker.
func TestTransformerSerial(t *testing.T) { kerneltest.RunTransformer(t, cpufallback.New(1)) }

// TestTransformerManyWorkers runs them split across more workers than cores.
func TestTransformerManyWorkers(t *testing.T) { kerneltest.RunTransformer(t, cpufallback.New(5)) }

// gpt is a small GPT-2 configuration for the allocation test and the
// benchmarks: B=8, T=128, NH=4, HS=32 (C=128), V=512.
type gpt struct{ B, T, NH, HS, V int }

func (g gpt) C() int { return g.NH * g.HS }

// transformerBufs allocates the buffers of one layer's kernels, filled with
// small deterministic values.
type transformerBufs struct {
	tokens, labels                    kernels.Buffer
	wte, wpe, dwte, dwpe              kernels.Buffer
	x, out, dout, dx, w, bias, dw, db kernels.Buffer
	mean, rstd                        kernels.Buffer
	qkv, dqkv, att, datt, lse         kernels.Buffer
	logits, losses                    kernels.Buffer
}

func newTransformerBufs(b *cpufallback.Backend, g gpt) *transformerBufs {
	C, BT := g.C(), g.B*g.T
	f := func(n int, seed int) kernels.Buffer {
		x, _ := b.Alloc(kernels.F32, n)
		s := x.(*cpufallback.Buffer).F
		for i := range s {
			s[i] = float32((i*seed)%23)*0.05 - 0.5
		}
		return x
	}
	ints := func(n, mod int) kernels.Buffer {
		x, _ := b.Alloc(kernels.I32, n)
		s := x.(*cpufallback.Buffer).I
		for i := range s {
			s[i] = int32((i * 7) % mod)
		}
		return x
	}
	return &transformerBufs{
		tokens: ints(BT, g.V), labels: ints(BT, g.V),
		wte: f(g.V*C, 3), wpe: f(g.T*C, 5), dwte: f(g.V*C, 1), dwpe: f(g.T*C, 1),
		x: f(BT*C, 7), out: f(BT*C, 1), dout: f(BT*C, 11), dx: f(BT*C, 1),
		w: f(C, 13), bias: f(C, 17), dw: f(C, 1), db: f(C, 1),
		mean: f(BT, 1), rstd: f(BT, 1),
		qkv: f(BT*3*C, 19), dqkv: f(BT*3*C, 1), att: f(BT*C, 1), datt: f(BT*C, 29), lse: f(g.B*g.NH*g.T, 1),
		logits: f(BT*g.V, 31), losses: f(BT, 1),
	}
}

func (tb *transformerBufs) kernels(b *cpufallback.Backend, g gpt) []struct {
	name string
	fn   func() error
} {
	C, BT := g.C(), g.B*g.T
	return []struct {
		name string
		fn   func() error
	}{
		{"EmbeddingForward", func() error { return b.EmbeddingForward(tb.out, tb.tokens, tb.wte, tb.wpe, g.B, g.T, C) }},
		{"EmbeddingBackward", func() error { return b.EmbeddingBackward(tb.dwte, tb.dwpe, tb.dout, tb.tokens, g.B, g.T, C) }},
		{"LayerNormForward", func() error {
			return b.LayerNormForward(tb.out, tb.mean, tb.rstd, tb.x, tb.w, tb.bias, BT, C, 1e-5)
		}},
		{"LayerNormBackward", func() error {
			return b.LayerNormBackward(tb.dx, tb.dw, tb.db, tb.dout, tb.x, tb.w, tb.mean, tb.rstd, BT, C)
		}},
		{"AttentionForward", func() error { return b.AttentionForward(tb.att, tb.lse, tb.qkv, g.B, g.T, g.NH, g.HS) }},
		{"AttentionBackward", func() error {
			return b.AttentionBackward(tb.dqkv, tb.datt, tb.qkv, tb.att, tb.lse, g.B, g.T, g.NH, g.HS)
		}},
		{"ClassifierForwardBackward", func() error {
			return b.ClassifierForwardBackward(tb.losses, tb.logits, tb.labels, 1/float32(BT), BT, g.V)
		}},
	}
}

var smallGPT = gpt{B: 8, T: 128, NH: 4, HS: 32, V: 512}

// TestTransformerNoAllocs checks that the transformer kernels allocate
// nothing per call once warm (the attention backward's scratch included).
func TestTransformerNoAllocs(t *testing.T) {
	g := gpt{B: 2, T: 64, NH: 4, HS: 32, V: 100}
	for _, threads := range []int{1, 3} {
		b := cpufallback.New(threads)
		tb := newTransformerBufs(b, g)
		for _, k := range tb.kernels(b, g) {
			if err := k.fn(); err != nil {
				t.Fatalf("%s: %v", k.name, err)
			}
			if a := testing.AllocsPerRun(10, func() { _ = k.fn() }); a != 0 {
				t.Errorf("%s (threads=%d): %v allocations per call, want 0", k.name, threads, a)
			}
		}
	}
}

// BenchmarkTransformer times each kernel at smallGPT on 1 and all threads.
// The attention's flop count: QKᵀ and P·V over the causal half,
// 2 · B·NH·T(T+1)/2 · HS multiply-adds forward; the backward does 5 such
// products.
func BenchmarkTransformer(bm *testing.B) {
	g := smallGPT
	for _, threads := range []int{1, 0} {
		b := cpufallback.New(threads)
		tb := newTransformerBufs(b, g)
		for _, k := range tb.kernels(b, g) {
			bm.Run(fmt.Sprintf("%s/threads=%d", k.name, b.Threads()), func(bm *testing.B) {
				if err := k.fn(); err != nil {
					bm.Fatal(err)
				}
				bm.ReportAllocs()
				for bm.Loop() {
					_ = k.fn()
				}
			})
		}
	}
}
