package nn_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/cpufallback"
	"github.com/gotrain/gotrain/graph"
	"github.com/gotrain/gotrain/internal/safetensors"
	"github.com/gotrain/gotrain/nn"
	"github.com/gotrain/gotrain/nn/tokenizer"
)

var ckptGPT = nn.GPTConfig{Vocab: 260, Context: 8, Layers: 2, Heads: 2, Channels: 8}

// trainProgram compiles a GPT for training as `gotrain gpt train` does:
// AdamW with weight decay, a cosine schedule with warmup and clipping.
func trainProgram(t *testing.T, cfg nn.GPTConfig, B, T int, seed uint64) *graph.Program {
	g := graph.New()
	_, _, loss := nn.BuildGPT(g, cfg, B, T)
	p, err := graph.Compile(g, cpufallback.New(2), graph.Config{
		Loss: loss, Optimizer: nn.AdamW{LR: 1e-2, WeightDecay: 0.1},
		Schedule: nn.CosineWarmup{Warmup: 3, Total: 12, MinFactor: 0.1}, ClipNorm: 1, Seed: seed,
	})
	require.NoError(t, err)
	return p
}

// batchAt is the batch of a step: a pure function of the step, as the data
// loader's batches are of its position.
func batchAt(step, B, T, V int) (toks, tgts []int32) {
	rng := rand.New(rand.NewPCG(uint64(step), 99))
	return randTokens(rng, B*T, V), randTokens(rng, B*T, V)
}

func runSteps(t *testing.T, p *graph.Program, n, B, T, V int) []float32 {
	var losses []float32
	for i := 0; i < n; i++ {
		toks, tgts := batchAt(p.StepCount(), B, T, V)
		require.NoError(t, p.FeedI32("tokens", toks))
		require.NoError(t, p.FeedI32("targets", tgts))
		l, err := p.Step()
		require.NoError(t, err)
		losses = append(losses, l)
	}
	return losses
}

func saveTiny(t *testing.T, dir string, p *graph.Program, meta map[string]string) {
	tok, err := tokenizer.Train(strings.NewReader("func main() { fmt.Println(\"hello\") }\n"), 257, tokenizer.TrainOptions{})
	require.NoError(t, err)
	require.NoError(t, nn.SaveCheckpoint(dir, p.StepCount(), p, nn.CheckpointExtra{Config: ckptGPT, Tokenizer: tok, Metadata: meta}))
}

// TestCheckpointResumeBitIdentical: N steps, save, load into a fresh
// program (initialised from another seed), M steps gives the same float32
// losses, bit for bit, as N+M steps in one run.
func TestCheckpointResumeBitIdentical(t *testing.T) {
	const B, T, N, M = 2, 8, 5, 6
	V := ckptGPT.Vocab
	straight := runSteps(t, trainProgram(t, ckptGPT, B, T, 1), N+M, B, T, V)

	first := trainProgram(t, ckptGPT, B, T, 1)
	head := runSteps(t, first, N, B, T, V)
	dir := t.TempDir()
	saveTiny(t, dir, first, map[string]string{"data.pos": "5"})

	ck, err := nn.OpenCheckpoint(dir)
	require.NoError(t, err)
	assert.Equal(t, N, ck.Step)
	assert.Equal(t, ckptGPT, ck.Config)
	assert.Equal(t, "5", ck.Metadata["data.pos"])
	require.NotNil(t, ck.Tokenizer)
	assert.True(t, ck.HasTrainState())

	fresh := trainProgram(t, ckptGPT, B, T, 2)
	require.NoError(t, ck.Restore(fresh))
	assert.Equal(t, N, fresh.StepCount())
	assert.Equal(t, first.LR(), fresh.LR())
	tail := runSteps(t, fresh, M, B, T, V)

	resumed := append(head, tail...)
	for i := range straight {
		assert.Equal(t, math.Float32bits(straight[i]), math.Float32bits(resumed[i]),
			"step %d: straight loss %v, resumed %v", i+1, straight[i], resumed[i])
	}
}

func TestCheckpointFiles(t *testing.T) {
	dir := t.TempDir()
	p := trainProgram(t, ckptGPT, 2, 8, 1)
	runSteps(t, p, 2, 2, 8, ckptGPT.Vocab)
	saveTiny(t, dir, p, nil)
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	require.NoError(t, err)
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	assert.ElementsMatch(t, []string{"config.json", "merges.txt", "model.safetensors", "train_state.safetensors", "vocab.json"}, names, "no temporary files left")

	w, err := safetensors.Read(filepath.Join(dir, nn.WeightsFile))
	require.NoError(t, err)
	assert.Equal(t, "pt", w.Metadata["format"])
	wte, ok := w.Lookup("transformer.wte.weight")
	require.True(t, ok)
	assert.Equal(t, []int{260, 8}, wte.Shape)
	_, ok = w.Lookup("transformer.h.1.attn.c_attn.weight")
	assert.True(t, ok)
	st, err := safetensors.Read(filepath.Join(dir, nn.TrainStateFile))
	require.NoError(t, err)
	_, ok = st.Lookup("adam.m.transformer.h.0.mlp.c_fc.weight")
	assert.True(t, ok)
	_, ok = st.Lookup("adam.v.transformer.ln_f.bias")
	assert.True(t, ok)
	assert.Equal(t, "2", st.Metadata["gotrain.step"])

	cfg, err := nn.ReadGPTConfig(filepath.Join(dir, nn.ConfigFile))
	require.NoError(t, err)
	assert.Equal(t, ckptGPT, cfg)
	raw, err := os.ReadFile(filepath.Join(dir, nn.ConfigFile))
	require.NoError(t, err)
	for _, k := range []string{`"n_vocab": 260`, `"vocab_size": 260`, `"n_ctx": 8`, `"n_positions": 8`, `"n_layer": 2`, `"n_head": 2`, `"n_embd": 8`, `"model_type": "gpt2"`} {
		assert.Contains(t, string(raw), k)
	}

	assert.ErrorContains(t, nn.SaveCheckpoint(dir, 2, p, nn.CheckpointExtra{Metadata: map[string]string{"gotrain.step": "9"}}), "reserved")
}

// TestCheckpointRejectsCorruption: a flipped byte or a truncated file is
// rejected when the checkpoint is opened, and nothing is loaded.
func TestCheckpointRejectsCorruption(t *testing.T) {
	src := t.TempDir()
	p := trainProgram(t, ckptGPT, 2, 8, 1)
	runSteps(t, p, 2, 2, 8, ckptGPT.Vocab)
	saveTiny(t, src, p, nil)

	clone := func(t *testing.T) string {
		dir := t.TempDir()
		entries, err := os.ReadDir(src)
		require.NoError(t, err)
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(src, e.Name()))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644))
		}
		return dir
	}
	edit := func(t *testing.T, path string, f func([]byte) []byte) {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, f(b), 0o644))
	}
	for _, file := range []string{nn.WeightsFile, nn.TrainStateFile} {
		t.Run("flip "+file, func(t *testing.T) {
			dir := clone(t)
			edit(t, filepath.Join(dir, file), func(b []byte) []byte { b[len(b)-7] ^= 0x10; return b })
			_, err := nn.OpenCheckpoint(dir)
			require.Error(t, err)
			assert.True(t, errors.Is(err, safetensors.ErrChecksum), "%v", err)
			assert.Contains(t, err.Error(), file)
		})
		t.Run("truncate "+file, func(t *testing.T) {
			dir := clone(t)
			edit(t, filepath.Join(dir, file), func(b []byte) []byte { return b[:len(b)-100] })
			_, err := nn.OpenCheckpoint(dir)
			require.Error(t, err)
			assert.True(t, errors.Is(err, safetensors.ErrTruncated), "%v", err)
		})
	}
	t.Run("mixed saves", func(t *testing.T) {
		dir := clone(t)
		runSteps(t, p, 1, 2, 8, ckptGPT.Vocab)
		other := t.TempDir()
		saveTiny(t, other, p, nil)
		b, err := os.ReadFile(filepath.Join(other, nn.WeightsFile))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, nn.WeightsFile), b, 0o644))
		_, err = nn.OpenCheckpoint(dir)
		assert.ErrorContains(t, err, "files of two different saves")
	})
	t.Run("bad config", func(t *testing.T) {
		dir := clone(t)
		require.NoError(t, os.WriteFile(filepath.Join(dir, nn.ConfigFile), []byte(`{"n_embd": 8, "n_layer": 2, "n_head": 3, "n_vocab": 260, "n_ctx": 8}`), 0o644))
		_, err := nn.OpenCheckpoint(dir)
		assert.ErrorContains(t, err, "config.json")
	})
	t.Run("shape mismatch", func(t *testing.T) {
		ck, err := nn.OpenCheckpoint(clone(t))
		require.NoError(t, err)
		other := ckptGPT
		other.Vocab = 262
		q := trainProgram(t, other, 2, 8, 3)
		before, err := q.Param("transformer.wte.weight")
		require.NoError(t, err)
		err = ck.Restore(q)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "tensor transformer.wte.weight: shape [260 8] in the file, the model expects [262 8]")
		after, err := q.Param("transformer.wte.weight")
		require.NoError(t, err)
		assert.Equal(t, before.Float32s(), after.Float32s(), "a failed restore changes nothing")
		assert.Equal(t, 0, q.StepCount())
	})
	t.Run("other optimizer", func(t *testing.T) {
		ck, err := nn.OpenCheckpoint(clone(t))
		require.NoError(t, err)
		q := gptProgram(t, ckptGPT, 2, 8, nn.SGD{LR: 0.1, Momentum: 0.9})
		assert.ErrorContains(t, ck.Restore(q), "the optimizer kept 2 buffers per parameter, this program's keeps 1")
	})
}

// TestLoadHuggingFaceWeights loads a file laid out as Hugging Face's GPT-2
// model.safetensors: names without "transformer.", the causal-mask
// buffers, and a tied lm_head.weight; an untied one is refused.
func TestLoadHuggingFaceWeights(t *testing.T) {
	src := trainProgram(t, ckptGPT, 1, 4, 7)
	var ts []safetensors.Tensor
	var wte []float32
	for _, name := range src.ParamNames() {
		v, err := src.Param(name)
		require.NoError(t, err)
		hf := name[len("transformer."):]
		ts = append(ts, safetensors.Tensor{Name: hf, DType: safetensors.F32, Shape: []int(v.Shape()), F32: v.Float32s()})
		if hf == "wte.weight" {
			wte = v.Float32s()
		}
	}
	mask := make([]float32, 64)
	ts = append(ts,
		safetensors.Tensor{Name: "h.0.attn.bias", DType: safetensors.F32, Shape: []int{1, 1, 8, 8}, F32: mask},
		safetensors.Tensor{Name: "h.1.attn.masked_bias", DType: safetensors.F32, Shape: []int{}, F32: []float32{-1e4}},
		safetensors.Tensor{Name: "lm_head.weight", DType: safetensors.F32, Shape: []int{260, 8}, F32: wte})
	dir := t.TempDir()
	require.NoError(t, safetensors.Write(filepath.Join(dir, nn.WeightsFile), ts, nil))
	require.NoError(t, os.WriteFile(filepath.Join(dir, nn.ConfigFile),
		[]byte(`{"model_type": "gpt2", "vocab_size": 260, "n_positions": 8, "n_ctx": 8, "n_embd": 8, "n_layer": 2, "n_head": 2, "activation_function": "gelu_new"}`), 0o644))

	ck, err := nn.OpenCheckpoint(dir)
	require.NoError(t, err)
	assert.Equal(t, ckptGPT, ck.Config)
	assert.False(t, ck.HasTrainState())
	dst := trainProgram(t, ckptGPT, 1, 4, 8)
	assert.ErrorContains(t, ck.Restore(dst), "holds weights only")
	require.NoError(t, ck.LoadWeights(dst))
	for _, name := range src.ParamNames() {
		a, _ := src.Param(name)
		b, _ := dst.Param(name)
		assert.Equal(t, a.Float32s(), b.Float32s(), name)
	}

	untied := append([]float32(nil), wte...)
	untied[3]++
	ts[len(ts)-1].F32 = untied
	require.NoError(t, safetensors.Write(filepath.Join(dir, nn.WeightsFile), ts, nil))
	ck, err = nn.OpenCheckpoint(dir)
	require.NoError(t, err)
	assert.ErrorContains(t, ck.LoadWeights(dst), "lm_head.weight differs from transformer.wte.weight")
}
