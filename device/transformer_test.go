//go:build cuda || cudaemu

// The transformer kernels of the shared suite (internal/kerneltest) on the
// device: emulated (make test, tag cudaemu) and on a real GPU (the
// gpu-bundle, tag cuda).

package device_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/cpufallback"
	"github.com/gotrain/gotrain/device"
	"github.com/gotrain/gotrain/internal/kerneltest"
	"github.com/gotrain/gotrain/kernels"
)

// TestTransformerSuite runs the transformer kernels' suite on the device.
func TestTransformerSuite(t *testing.T) {
	b := open(t)
	kerneltest.RunTransformer(t, b)
	require.NoError(t, b.Sync())
}

// TestAttentionHeadSizeLimit checks that a head size above the attention
// kernels' static tiles is an error, not a wrong answer.
func TestAttentionHeadSizeLimit(t *testing.T) {
	b := open(t)
	const B, T, NH, HS = 1, 2, 1, 129
	alloc := func(n int) kernels.Buffer {
		buf, err := b.Alloc(kernels.F32, n)
		require.NoError(t, err)
		return buf
	}
	qkv, out, lse := alloc(B*T*3*NH*HS), alloc(B*T*NH*HS), alloc(B*NH*T)
	err := b.AttentionForward(out, lse, qkv, B, T, NH, HS)
	require.Error(t, err)
	require.True(t, errors.Is(err, kernels.ErrShape), "%v", err)
	require.ErrorContains(t, err, "attention_forward")
	err = b.AttentionBackward(alloc(B*T*3*NH*HS), out, qkv, out, lse, B, T, NH, HS)
	require.ErrorContains(t, err, "HS = 129")
}

// peer runs the same kernel on the device and on the CPU fallback from the
// same inputs and compares every output buffer.
type peer struct {
	t   *testing.T
	dev *device.Backend
	cpu *cpufallback.Backend
}

// bufs uploads each input to both backends.
func (p *peer) bufs(in ...[]float32) (dev, cpu []kernels.Buffer) {
	for _, x := range in {
		d, err := p.dev.Alloc(kernels.F32, len(x))
		require.NoError(p.t, err)
		require.NoError(p.t, p.dev.WriteF32(d, x))
		c, err := p.cpu.Alloc(kernels.F32, len(x))
		require.NoError(p.t, err)
		require.NoError(p.t, p.cpu.WriteF32(c, x))
		dev, cpu = append(dev, d), append(cpu, c)
	}
	return dev, cpu
}

func (p *peer) ints(x []int32) (dev, cpu kernels.Buffer) {
	d, err := p.dev.Alloc(kernels.I32, len(x))
	require.NoError(p.t, err)
	require.NoError(p.t, p.dev.WriteI32(d, x))
	c, err := p.cpu.Alloc(kernels.I32, len(x))
	require.NoError(p.t, err)
	require.NoError(p.t, p.cpu.WriteI32(c, x))
	return d, c
}

// compare checks |dev - cpu| <= tol·(1 + |cpu|) for the named buffers.
func (p *peer) compare(name string, tol float64, dev, cpu []kernels.Buffer, names ...string) {
	p.t.Helper()
	for i, nm := range names {
		n := cpu[i].Len()
		got, want := make([]float32, n), make([]float32, n)
		require.NoError(p.t, p.dev.ReadF32(got, dev[i]))
		require.NoError(p.t, p.cpu.ReadF32(want, cpu[i]))
		bad := 0
		for j := range want {
			d := math.Abs(float64(got[j]) - float64(want[j]))
			if !(d <= tol*(1+math.Abs(float64(want[j])))) && !(math.IsNaN(float64(got[j])) && math.IsNaN(float64(want[j]))) {
				if bad++; bad <= 5 {
					p.t.Errorf("%s %s[%d] = %v on the device, %v on the cpu", name, nm, j, got[j], want[j])
				}
			}
		}
	}
}

func randn(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// TestTransformerMatchesCPU compares the transformer kernels with the CPU
// fallback at sizes the suite does not use: head sizes that are not
// multiples of 4 or fill only part of a variant's tile, sequence lengths
// one off the tile sizes, a classifier row length that takes the float4
// path.
func TestTransformerMatchesCPU(t *testing.T) {
	p := &peer{t: t, dev: open(t), cpu: cpufallback.New(0)}
	r := rand.New(rand.NewPCG(7, 11))
	for _, sz := range [][4]int{{2, 33, 3, 5}, {1, 31, 2, 33}, {1, 65, 1, 96}, {2, 17, 2, 127}, {1, 129, 1, 64}} {
		B, T, NH, HS := sz[0], sz[1], sz[2], sz[3]
		C := NH * HS
		name := fmt.Sprintf("attention B=%d T=%d NH=%d HS=%d", B, T, NH, HS)
		qkv, dout, d0 := randn(r, B*T*3*C), randn(r, B*T*C), randn(r, B*T*3*C)
		dv, cp := p.bufs(qkv, make([]float32, B*T*C), make([]float32, B*NH*T), dout, d0)
		require.NoError(t, p.dev.AttentionForward(dv[1], dv[2], dv[0], B, T, NH, HS))
		require.NoError(t, p.cpu.AttentionForward(cp[1], cp[2], cp[0], B, T, NH, HS))
		p.compare(name, 1e-5, dv[1:3], cp[1:3], "out", "lse")
		require.NoError(t, p.dev.AttentionBackward(dv[4], dv[3], dv[0], dv[1], dv[2], B, T, NH, HS))
		require.NoError(t, p.cpu.AttentionBackward(cp[4], cp[3], cp[0], cp[1], cp[2], B, T, NH, HS))
		p.compare(name, 1e-4, dv[4:], cp[4:], "dqkv")
	}
	for _, sz := range [][2]int{{5, 64}, {70, 1024}} {
		rows, V := sz[0], sz[1]
		name := fmt.Sprintf("classifier rows=%d V=%d", rows, V)
		labels := make([]int32, rows)
		for i := range labels {
			labels[i] = int32(r.IntN(V))
		}
		dl, cl := p.ints(labels)
		dv, cp := p.bufs(randn(r, rows*V), make([]float32, rows))
		require.NoError(t, p.dev.ClassifierForwardBackward(dv[1], dv[0], dl, 0.5, rows, V))
		require.NoError(t, p.cpu.ClassifierForwardBackward(cp[1], cp[0], cl, 0.5, rows, V))
		p.compare(name, 1e-5, dv, cp, "dlogits", "losses")
	}
	for _, sz := range [][2]int{{200, 64}, {33, 7}} {
		rows, C := sz[0], sz[1]
		name := fmt.Sprintf("layernorm rows=%d C=%d", rows, C)
		x, w, bias, dout := randn(r, rows*C), randn(r, C), randn(r, C), randn(r, rows*C)
		dv, cp := p.bufs(x, w, bias, make([]float32, rows*C), make([]float32, rows), make([]float32, rows),
			dout, randn(r, rows*C), randn(r, C), randn(r, C))
		require.NoError(t, p.dev.LayerNormForward(dv[3], dv[4], dv[5], dv[0], dv[1], dv[2], rows, C, 1e-5))
		require.NoError(t, p.cpu.LayerNormForward(cp[3], cp[4], cp[5], cp[0], cp[1], cp[2], rows, C, 1e-5))
		p.compare(name, 1e-5, dv[3:6], cp[3:6], "out", "mean", "rstd")
		require.NoError(t, p.dev.LayerNormBackward(dv[7], dv[8], dv[9], dv[6], dv[0], dv[1], dv[4], dv[5], rows, C))
		require.NoError(t, p.cpu.LayerNormBackward(cp[7], cp[8], cp[9], cp[6], cp[0], cp[1], cp[4], cp[5], rows, C))
		p.compare(name, 1e-4, dv[7:], cp[7:], "dx", "dweight", "dbias")
	}
}

// TestTransformerNoAllocs checks that the launchers allocate no Go memory
// per call once warm (the scratch blocks come from the allocator's cache).
// It runs on the emulated device only: what it measures is the launchers,
// and the real driver's own allocations are not this file's business.
func TestTransformerNoAllocs(t *testing.T) {
	b := open(t)
	if !b.Info().Emulated {
		t.Skip("measured on the emulated device only")
	}
	const B, T, NH, HS, V = 2, 16, 2, 32, 50
	C, BT := NH*HS, B*T
	f := func(n int) kernels.Buffer {
		buf, err := b.Alloc(kernels.F32, n)
		require.NoError(t, err)
		require.NoError(t, b.Fill(buf, 0.01, n))
		return buf
	}
	toks, err := b.Alloc(kernels.I32, BT)
	require.NoError(t, err)
	require.NoError(t, b.WriteI32(toks, make([]int32, BT)))
	wte, wpe, x, out, w, bias := f(V*C), f(T*C), f(BT*C), f(BT*C), f(C), f(C)
	mean, rstd, qkv, dqkv, lse, logits, losses := f(BT), f(BT), f(BT*3*C), f(BT*3*C), f(B*NH*T), f(BT*V), f(BT)
	calls := []struct {
		name string
		fn   func() error
	}{
		{"EmbeddingForward", func() error { return b.EmbeddingForward(out, toks, wte, wpe, B, T, C) }},
		{"EmbeddingBackward", func() error { return b.EmbeddingBackward(wte, wpe, x, toks, B, T, C) }},
		{"LayerNormForward", func() error { return b.LayerNormForward(out, mean, rstd, x, w, bias, BT, C, 1e-5) }},
		{"LayerNormBackward", func() error { return b.LayerNormBackward(out, w, bias, x, x, w, mean, rstd, BT, C) }},
		{"AttentionForward", func() error { return b.AttentionForward(out, lse, qkv, B, T, NH, HS) }},
		{"AttentionBackward", func() error { return b.AttentionBackward(dqkv, x, qkv, out, lse, B, T, NH, HS) }},
		{"ClassifierForwardBackward", func() error { return b.ClassifierForwardBackward(losses, logits, toks, 1, BT, V) }},
	}
	for _, c := range calls {
		require.NoError(t, c.fn(), c.name)
		if a := testing.AllocsPerRun(5, func() { _ = c.fn() }); a != 0 {
			t.Errorf("%s: %v allocations per call, want 0", c.name, a)
		}
	}
	require.NoError(t, b.Sync())
}

// BenchmarkTransformerKernels times each transformer kernel at GPT-2 124M's
// per-layer sizes (B=8, T=1024, NH=12, HS=64, V=50257) on a GPU, or at a
// toy size on the emulated device, synchronising inside the loop.
// Attention reports TFLOP/s for 2 products of B·NH·T(T+1)/2·HS multiply-adds
// forward and 5 backward (counting only the causal half).
func BenchmarkTransformerKernels(bm *testing.B) {
	b := open(bm)
	B, T, NH, HS, V := 8, 1024, 12, 64, 50257
	if b.Info().Emulated {
		B, T, NH, HS, V = 1, 64, 2, 32, 512
	}
	C, BT := NH*HS, B*T
	f := func(n int) kernels.Buffer {
		buf, err := b.Alloc(kernels.F32, n)
		require.NoError(bm, err)
		require.NoError(bm, b.Fill(buf, 0.01, n))
		return buf
	}
	r := rand.New(rand.NewPCG(1, 2))
	tokv := make([]int32, BT)
	for i := range tokv {
		tokv[i] = int32(r.IntN(V))
	}
	toks, err := b.Alloc(kernels.I32, BT)
	require.NoError(bm, err)
	require.NoError(bm, b.WriteI32(toks, tokv))
	wte, wpe, x, out, w, bias := f(V*C), f(T*C), f(BT*C), f(BT*C), f(C), f(C)
	mean, rstd, qkv, dqkv, lse, logits, losses := f(BT), f(BT), f(BT*3*C), f(BT*3*C), f(B*NH*T), f(BT*V), f(BT)
	attn := 2 * float64(B*NH) * float64(T*(T+1)/2) * float64(HS) // flops of one causal product
	calls := []struct {
		name  string
		flops float64
		fn    func() error
	}{
		{"EmbeddingForward", 0, func() error { return b.EmbeddingForward(out, toks, wte, wpe, B, T, C) }},
		{"EmbeddingBackward", 0, func() error { return b.EmbeddingBackward(wte, wpe, x, toks, B, T, C) }},
		{"LayerNormForward", 0, func() error { return b.LayerNormForward(out, mean, rstd, x, w, bias, BT, C, 1e-5) }},
		{"LayerNormBackward", 0, func() error { return b.LayerNormBackward(out, w, bias, x, x, w, mean, rstd, BT, C) }},
		{"AttentionForward", 2 * attn, func() error { return b.AttentionForward(out, lse, qkv, B, T, NH, HS) }},
		{"AttentionBackward", 5 * attn, func() error { return b.AttentionBackward(dqkv, x, qkv, out, lse, B, T, NH, HS) }},
		{"ClassifierForwardBackward", 0, func() error { return b.ClassifierForwardBackward(losses, logits, toks, 1, BT, V) }},
	}
	for _, c := range calls {
		bm.Run(c.name, func(bm *testing.B) {
			require.NoError(bm, c.fn())
			require.NoError(bm, b.Sync())
			for bm.Loop() {
				if err := c.fn(); err != nil {
					bm.Fatal(err)
				}
				if err := b.Sync(); err != nil {
					bm.Fatal(err)
				}
			}
			if c.flops > 0 {
				bm.ReportMetric(c.flops*float64(bm.N)/bm.Elapsed().Seconds()/1e12, "TFLOP/s")
			}
		})
	}
}
