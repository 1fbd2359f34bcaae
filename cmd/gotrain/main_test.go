package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/device"
)

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpAndVersion(t *testing.T) {
	code, out, _ := runCmd("-h")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "gotrain <command> [flags]")
	assert.Contains(t, out, "mnist")

	code, out, _ = runCmd("version")
	assert.Equal(t, 0, code)
	assert.Regexp(t, `^gotrain v\S+ .*\(go1\.\d+`, out)

	code, out, _ = runCmd("mnist", "-h")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "-epochs")

	code, out, _ = runCmd("help", "mnist")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "-batch")
}

func TestBadUsage(t *testing.T) {
	code, _, errs := runCmd()
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, "Commands:")

	code, _, errs = runCmd("frobnicate")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, `unknown command "frobnicate"`)

	code, _, errs = runCmd("mnist", "-epochs", "x")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, `invalid value "x" for flag -epochs`)

	code, _, errs = runCmd("mnist", "-model", "784-10-3")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, `-model "784-10-3": want 784 inputs first and 10 classes last`)
}

// TestMNISTShortRun trains 150 steps and checks the reported accuracy: well
// above chance (10%), as any working model gets.
func TestMNISTShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("loads MNIST")
	}
	code, out, errs := runCmd("mnist", "-epochs", "1", "-max-steps", "150", "-model", "784-64-10", "-lr", "3e-3")
	require.Equal(t, 0, code, "stderr: %s", errs)
	assert.Contains(t, errs, "epoch 1/1 [")
	assert.Contains(t, errs, "ex/s")
	m := regexp.MustCompile(`final test accuracy ([\d.]+)%`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	acc, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	assert.Greater(t, acc, 85.0, out)
	assert.True(t, strings.Contains(out, "memory: training activations"), out)
}

func TestInfo(t *testing.T) {
	code, out, _ := runCmd("info")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "cpu: ")
	switch device.Compiled {
	case "none":
		assert.Contains(t, out, "cuda: none: device: this gotrain was built without CUDA support; build with -tags cuda")
	case "cudaemu":
		assert.Contains(t, out, "cudaemu (the CUDA kernels emulated on the CPU)")
	}
}
