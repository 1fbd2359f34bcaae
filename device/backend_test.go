//go:build cuda || cudaemu

// These tests run on the emulated device (make test, tag cudaemu) and on a
// real GPU (the gpu-bundle, tag cuda).

package device_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/cpufallback"
	"github.com/gotrain/gotrain/device"
	"github.com/gotrain/gotrain/graph"
	"github.com/gotrain/gotrain/internal/kerneltest"
	"github.com/gotrain/gotrain/internal/mnist"
	"github.com/gotrain/gotrain/kernels"
	"github.com/gotrain/gotrain/nn"
)

func open(t testing.TB) *device.Backend {
	b, err := device.Open(0)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	return b
}

// TestKernelSuite runs the shared kernel suite on the device.
func TestKernelSuite(t *testing.T) {
	b := open(t)
	t.Logf("device: %+v", b.Info())
	kerneltest.Run(t, b)
	require.NoError(t, b.Sync())
}

// TestMNISTMatchesCPU trains the MNIST MLP for a few steps on the device
// and on the CPU fallback from the same initial weights and batches: the
// losses must agree within 1e-4.
func TestMNISTMatchesCPU(t *testing.T) {
	train, _, err := mnist.Load("")
	require.NoError(t, err)
	const batch, steps = 64, 8
	sizes := []int{784, 256, 128, 10}
	run := func(be kernels.Backend) []float32 {
		g := graph.New()
		x := g.Input("x", kernels.F32, batch, 784)
		y := g.Input("y", kernels.I32, batch)
		logits := nn.NewMLP(g, "mlp", sizes, nn.ReLU, 0).Forward(g, x)
		loss := nn.SoftmaxCrossEntropy(g, logits, y)
		p, err := graph.Compile(g, be, graph.Config{Loss: loss, Optimizer: nn.Adam{LR: 1e-3}, ClipNorm: 5, Seed: 42})
		require.NoError(t, err)
		var losses []float32
		for s := 0; s < steps; s++ {
			lo := s * batch
			require.NoError(t, p.FeedF32("x", train.Images[lo*784:(lo+batch)*784]))
			require.NoError(t, p.FeedI32("y", train.Labels[lo:lo+batch]))
			l, err := p.Step()
			require.NoError(t, err)
			losses = append(losses, l)
		}
		return losses
	}
	want := run(cpufallback.New(0))
	got := run(open(t))
	for i := range want {
		t.Logf("step %d: cpu %.7f device %.7f", i+1, want[i], got[i])
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-4 {
			t.Errorf("step %d: loss %v on the device, %v on the cpu (|diff| %.2g > 1e-4)", i+1, got[i], want[i], d)
		}
	}
}

// TestHostCopies: copies to and from host memory of any kind and size. A
// float32 field of a struct that also holds a pointer is Go memory that
// cgo may not be handed (the first H200 run died there, reading the loss
// into graph.Program's field); sizes around and past the driver's copy
// chunk (4 MiB), odd ones included, must arrive whole.
func TestHostCopies(t *testing.T) {
	b := open(t)
	for _, n := range []int{1, 3, 1<<20 - 1, 1 << 20, 1<<20 + 3, 3<<20 + 5} {
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(i%9973) - 0.5*float32(i%7)
		}
		buf, err := b.Alloc(kernels.F32, n)
		require.NoError(t, err)
		require.NoError(t, b.WriteF32(buf, src))
		got := make([]float32, n)
		require.NoError(t, b.ReadF32(got, buf))
		require.Equal(t, src, got, "n=%d", n)
		require.NoError(t, b.Free(buf))
	}

	var holder struct {
		next *int
		v    [3]float32
		i    [2]int32
	}
	x := 7
	holder.next = &x
	buf, err := b.Alloc(kernels.F32, 3)
	require.NoError(t, err)
	defer b.Free(buf)
	holder.v = [3]float32{1.5, -2, 3.25}
	require.NoError(t, b.WriteF32(buf, holder.v[:]))
	holder.v = [3]float32{}
	require.NoError(t, b.ReadF32(holder.v[:], buf))
	require.Equal(t, [3]float32{1.5, -2, 3.25}, holder.v)

	ibuf, err := b.Alloc(kernels.I32, 2)
	require.NoError(t, err)
	defer b.Free(ibuf)
	holder.i = [2]int32{-4, 1 << 30}
	require.NoError(t, b.WriteI32(ibuf, holder.i[:]))
	holder.i = [2]int32{}
	require.NoError(t, b.ReadI32(holder.i[:], ibuf))
	require.Equal(t, [2]int32{-4, 1 << 30}, holder.i)
	require.Equal(t, 7, *holder.next)
}
