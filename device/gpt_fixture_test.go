//go:build cuda || cudaemu

package device_test

import (
	"os"
	"testing"

	"github.com/gotrain/gotrain/internal/gpttest"
)

// TestGPTMatchesPyTorch checks the GPT-2 fixture (logits, loss, every
// gradient, two AdamW steps) on the device. The GPU bundle points
// GOTRAIN_GPT_FIXTURE at its copy of the file (fp32 GEMMs: GOTRAIN_TF32=0).
func TestGPTMatchesPyTorch(t *testing.T) {
	path := os.Getenv("GOTRAIN_GPT_FIXTURE")
	if path == "" {
		path = "../nn/testdata/gpt2_tiny.safetensors"
	}
	gpttest.CheckPyTorchFixture(t, open(t), path)
}
