package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gptCorpus writes a small corpus of Go-like files (about 60 KB) to a
// temporary folder.
func gptCorpus(t *testing.T) string {
	dir := t.TempDir()
	for i := 0; i < 24; i++ {
		var b strings.Builder
		fmt.Fprintf(&b, "package p%d\n\nimport \"fmt\"\n\n", i)
		for j := 0; j < 12; j++ {
			fmt.Fprintf(&b, "// F%d_%d returns x scaled by %d, or prints it.\nfunc F%d_%d(x int) int {\n\tif x > %d {\n\t\treturn x * %d\n\t}\n\tfmt.Println(\"value\", x, %q)\n\treturn x + %d\n}\n\n",
				i, j, j+2, i, j, i*j, j+2, fmt.Sprint("s", i+j), i+j)
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d.go", i)), []byte(b.String()), 0o644))
	}
	return dir
}

// tinyTrain is a model small enough that a few steps take well under a
// second.
func tinyTrain(data, ckpt string, extra ...string) []string {
	return append([]string{"gpt", "train", "-data", data, "-ckpt", ckpt, "-vocab", "300", "-layers", "1", "-heads", "2",
		"-channels", "16", "-seq", "16", "-batch", "4", "-steps", "6", "-warmup", "2", "-lr", "1e-2",
		"-eval-every", "3", "-eval-batches", "2", "-threads", "2", "-device", "cpu"}, extra...)
}

// logColumns returns the step, loss, lr and val_loss columns of a CSV log.
func logColumns(t *testing.T, path string) []string {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Equal(t, "step,loss,lr,tokens_per_s,elapsed_s,val_loss", lines[0])
	var out []string
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		require.Len(t, f, 6, l)
		out = append(out, strings.Join([]string{f[0], f[1], f[2], f[5]}, ","))
	}
	return out
}

var finalLoss = regexp.MustCompile(`validation: loss ([\d.]+) nats/token, perplexity [\d.]+, ([\d.]+) bits/byte`)

func TestGPTTrainResumeSampleEval(t *testing.T) {
	data := gptCorpus(t)
	tmp := t.TempDir()
	straight, split := filepath.Join(tmp, "a"), filepath.Join(tmp, "b")

	code, out, errs := runCmd(tinyTrain(data, straight, "-log", filepath.Join(tmp, "a.csv"), "-plot", filepath.Join(tmp, "a.png"))...)
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errs, out)
	assert.Contains(t, out, "23 training files")
	assert.Contains(t, out, "tokenizer: trained a BPE of 300 tokens")
	assert.Contains(t, out, "step 3/6  train loss")
	assert.Contains(t, out, "val loss")
	assert.Contains(t, out, "gzip -9 on the validation text:")
	assert.Contains(t, errs, "tok/s")
	m := finalLoss.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	for _, f := range []string{"model.safetensors", "train_state.safetensors", "config.json", "vocab.json", "merges.txt"} {
		assert.FileExists(t, filepath.Join(straight, f))
	}
	assert.FileExists(t, filepath.Join(tmp, "a.png"))

	// Stop after 3 of the 6 steps, resume: the log must match the straight
	// run's bit for bit (losses are written as the shortest exact float32).
	code, out, errs = runCmd(tinyTrain(data, split, "-log", filepath.Join(tmp, "b.csv"), "-stop-after", "3")...)
	require.Equal(t, 0, code, "stderr: %s", errs)
	assert.Contains(t, out, "trained 3 steps")
	code, out, errs = runCmd("gpt", "train", "-resume", "-ckpt", split, "-log", filepath.Join(tmp, "b.csv"), "-threads", "2", "-device", "cpu")
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errs, out)
	assert.Contains(t, out, "resumed from "+split+" at step 3")
	assert.Contains(t, out, "trained 6 steps")
	a, b := logColumns(t, filepath.Join(tmp, "a.csv")), logColumns(t, filepath.Join(tmp, "b.csv"))
	require.Len(t, a, 6)
	assert.Equal(t, a, b, "resumed run's steps, losses, learning rates and validation losses")
	m2 := finalLoss.FindStringSubmatch(out)
	require.NotNil(t, m2, out)
	assert.Equal(t, m[1], m2[1], "final validation loss")

	// A fresh run in the same folder reuses the trained tokenizer.
	code, out, _ = runCmd(tinyTrain(data, straight, "-steps", "1", "-eval-every", "0")...)
	require.Equal(t, 0, code)
	assert.Contains(t, out, "tokenizer: BPE of 300 tokens cached in")

	// Sampling is deterministic for a seed and continues the prompt.
	args := []string{"gpt", "sample", "-ckpt", split, "-prompt", "func F", "-n", "30", "-seed", "7", "-ignore-eot"}
	code, s1, errs := runCmd(args...)
	require.Equal(t, 0, code, errs)
	assert.True(t, strings.HasPrefix(s1, "func F"), s1)
	assert.Greater(t, len(s1), len("func F\n"))
	assert.Contains(t, errs, "30 tokens in")
	_, s2, _ := runCmd(args...)
	assert.Equal(t, s1, s2)
	code, greedy, _ := runCmd("gpt", "sample", "-ckpt", split, "-prompt", "func F", "-n", "30", "-temperature", "0", "-stop", `\n`)
	require.Equal(t, 0, code)
	assert.Equal(t, 1, strings.Count(greedy, "\n"), "stops at the first newline: %q", greedy)

	// eval measures the same windows as the end of training.
	code, out, errs = runCmd("gpt", "eval", "-ckpt", split, "-batch", "4", "-device", "cpu")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, fmt.Sprintf("validation loss %s nats/token", m2[1]))
	assert.Contains(t, out, m2[2]+" bits/byte")
	assert.Contains(t, out, "step 6")
	assert.Contains(t, out, "gzip -9 on the validation text:")
}

func TestGPTJSONLog(t *testing.T) {
	data := gptCorpus(t)
	tmp := t.TempDir()
	log := filepath.Join(tmp, "log.jsonl")
	code, _, errs := runCmd(tinyTrain(data, filepath.Join(tmp, "c"), "-log", log, "-steps", "3", "-eval-every", "3")...)
	require.Equal(t, 0, code, errs)
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Len(t, lines, 3)
	for i, l := range lines {
		var rec map[string]float64
		require.NoError(t, json.Unmarshal([]byte(l), &rec), l)
		assert.Equal(t, float64(i+1), rec["step"])
		for _, k := range []string{"loss", "lr", "tokens_per_s", "elapsed_s"} {
			assert.Contains(t, rec, k)
		}
		_, hasVal := rec["val_loss"]
		assert.Equal(t, i == 2, hasVal, l)
	}
}

func TestGPTBadUsage(t *testing.T) {
	data := gptCorpus(t)
	tmp := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"gpt"}, 2, "Usage: gotrain gpt <train|sample|eval>"},
		{[]string{"gpt", "fly"}, 2, `unknown subcommand "fly"`},
		{[]string{"gpt", "train", "-steps", "x"}, 2, `invalid value "x" for flag -steps`},
		{[]string{"gpt", "train", "-preset", "huge"}, 1, `-preset "huge": want tiny, small or gpt2-124m`},
		{[]string{"gpt", "train", "-channels", "30", "-heads", "4"}, 1, "-channels 30 is not a multiple of -heads 4"},
		{[]string{"gpt", "train", "-vocab", "100"}, 1, "-vocab 100: a byte-level BPE needs at least 257 tokens"},
		{[]string{"gpt", "train", "-batch", "0"}, 1, "-batch 0: want at least 1"},
		{[]string{"gpt", "train", "-lr", "-1"}, 1, "-lr -1: want a positive learning rate"},
		{[]string{"gpt", "train", "-device", "tpu", "-data", data, "-ckpt", filepath.Join(tmp, "d"), "-vocab", "300", "-seq", "16"}, 1, `-device "tpu": want cpu or cuda`},
		{[]string{"gpt", "train", "-data", filepath.Join(tmp, "nothing")}, 1, "no such file or directory"},
		{[]string{"gpt", "train", "-resume", "-ckpt", filepath.Join(tmp, "none")}, 1, "-resume: checkpoint:"},
		{[]string{"gpt", "sample", "-ckpt", filepath.Join(tmp, "none")}, 1, "no such file or directory"},
		{[]string{"gpt", "sample", "-top-p", "0"}, 1, "-top-p 0: want a probability in (0, 1]"},
		{[]string{"gpt", "sample", "-n", "0"}, 1, "-n 0: want at least 1"},
		{[]string{"gpt", "eval", "-batch", "0"}, 1, "-batch must be >= 1"},
	} {
		code, out, errs := runCmd(c.args...)
		assert.Equal(t, c.code, code, "%v: %s", c.args, errs)
		assert.Contains(t, errs+out, c.msg, "%v", c.args)
	}
	code, out, _ := runCmd("gpt", "train", "-h")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "-preset")
	assert.Contains(t, out, "-val-tokens")
	code, out, _ = runCmd("help", "gpt")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "gotrain gpt sample")
}

// TestGPTProfile: -profile N times steps 2..N+1 op by op and prints one
// line per op and pass, with calls per step and the share of the time.
func TestGPTProfile(t *testing.T) {
	data := gptCorpus(t)
	tmp := t.TempDir()
	code, out, errs := runCmd(tinyTrain(data, filepath.Join(tmp, "c"), "-steps", "4", "-profile", "2", "-eval-every", "0")...)
	require.Equal(t, 0, code, errs)
	require.Contains(t, out, "profile of 2 steps")
	// One layer: qkv, attention projection, MLP in and out, and the tied
	// output layer are 5 products forward per step.
	require.Regexp(t, `(?m)^  matmul forward +5 +[\d.]+ +[\d.]+%$`, out)
	// Backward: the kernel, and the fill that zeroes the qkv gradient it
	// is the first to add to.
	require.Regexp(t, `(?m)^  attention backward +2 +[\d.]+ +[\d.]+%$`, out)
	// 16 parameters: 12 in the block, wte, wpe and ln_f's two.
	require.Regexp(t, `(?m)^  optimizer update +16 +[\d.]+ +[\d.]+%$`, out)
}
