package nn_test

import (
	"testing"

	"github.com/gotrain/gotrain/cpufallback"
	"github.com/gotrain/gotrain/internal/gpttest"
)

// TestGPTMatchesPyTorch compares the GPT-2's logits, loss, gradients and
// two AdamW steps with PyTorch's (testdata/gpt2_pytorch.py).
func TestGPTMatchesPyTorch(t *testing.T) {
	gpttest.CheckPyTorchFixture(t, cpufallback.New(0), "testdata/gpt2_tiny.safetensors")
}
