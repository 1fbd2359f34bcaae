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
