package nn

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gorgonia.org/tensor"

	"github.com/gotrain/gotrain/graph"
	"github.com/gotrain/gotrain/internal/safetensors"
	"github.com/gotrain/gotrain/nn/tokenizer"
)

// A checkpoint is a directory laid out as a Hugging Face GPT-2 model, plus
// one file of training state:
//
//	model.safetensors        the weights, float32, Hugging Face's names and
//	                         layouts ("transformer.h.0.attn.c_attn.weight"
//	                         [C, 3C], ...); the output layer is tied to wte,
//	                         so there is no lm_head.weight, as in the files
//	                         transformers writes for GPT2LMHeadModel
//	config.json              GPT-2's config keys (vocab_size/n_vocab,
//	                         n_positions/n_ctx, n_embd, n_layer, n_head)
//	vocab.json, merges.txt   the tokenizer, in GPT-2's format
//	train_state.safetensors  the optimizer's state per parameter
//	                         (adam.m.<name>, adam.v.<name>), and in its
//	                         metadata the step, the checksum of the
//	                         weights it belongs with, and the caller's
//	                         metadata (data position, RNG state, flags)
//
// Every file is replaced atomically (written to a temporary file, synced,
// renamed). train_state.safetensors is written last and names the data
// checksum of model.safetensors, so a crash between the two writes, or
// files of two different saves side by side, is detected when the
// checkpoint is opened.
const (
	WeightsFile    = "model.safetensors"
	TrainStateFile = "train_state.safetensors"
	ConfigFile     = "config.json"
)

// Metadata keys of train_state.safetensors that SaveCheckpoint owns.
const (
	metaFormat     = "gotrain.format"
	metaStep       = "gotrain.step"
	metaStates     = "gotrain.optimizer_states"
	metaWeightsCRC = "gotrain.weights_crc32c"
	trainStateV1   = "train_state/1"
)

// CheckpointExtra is what SaveCheckpoint writes besides the program's
// parameters and optimizer state.
type CheckpointExtra struct {
	// Config is written to config.json when non-zero.
	Config GPTConfig
	// Tokenizer is written to vocab.json and merges.txt when non-nil.
	Tokenizer *tokenizer.Tokenizer
	// Metadata is stored in train_state.safetensors (keys starting with
	// "gotrain." are reserved).
	Metadata map[string]string
}

// stateNames names a parameter's optimizer state tensors by their count:
// Adam's two moments, a momentum buffer, or numbered buffers otherwise.
func stateNames(name string, n int) []string {
	switch n {
	case 0:
		return nil
	case 1:
		return []string{"momentum." + name}
	case 2:
		return []string{"adam.m." + name, "adam.v." + name}
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("state%d.%s", i, name)
	}
	return out
}

// SaveCheckpoint writes the program's parameters, its optimizer state and
// step, and extra to dir (created if needed); see WeightsFile for the
// layout. step is normally prog.StepCount().
func SaveCheckpoint(dir string, step int, prog *graph.Program, extra CheckpointExtra) error {
	for k := range extra.Metadata {
		if strings.HasPrefix(k, "gotrain.") {
			return fmt.Errorf("checkpoint %s: metadata key %q: keys starting with \"gotrain.\" are reserved", dir, k)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	names := prog.ParamNames()
	weights := make([]safetensors.Tensor, 0, len(names))
	var state []safetensors.Tensor
	nStates := -1
	for _, name := range names {
		p, err := prog.Param(name)
		if err != nil {
			return fmt.Errorf("checkpoint %s: %w", dir, err)
		}
		weights = append(weights, safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: []int(p.Shape()), F32: p.Float32s()})
		st, err := prog.OptimizerState(name)
		if err != nil {
			return fmt.Errorf("checkpoint %s: %w", dir, err)
		}
		if nStates >= 0 && len(st) != nStates {
			return fmt.Errorf("checkpoint %s: parameter %q has %d optimizer buffers, the others %d", dir, name, len(st), nStates)
		}
		nStates = len(st)
		for i, sn := range stateNames(name, len(st)) {
			state = append(state, safetensors.Tensor{Name: sn, DType: safetensors.F32, Shape: []int(p.Shape()), F32: st[i]})
		}
	}
	nStates = max(nStates, 0)

	if extra.Tokenizer != nil {
		if err := writeAtomic(filepath.Join(dir, tokenizer.VocabFile), extra.Tokenizer.WriteVocab); err != nil {
			return err
		}
		if err := writeAtomic(filepath.Join(dir, tokenizer.MergesFile), extra.Tokenizer.WriteMerges); err != nil {
			return err
		}
	}
	if extra.Config != (GPTConfig{}) {
		eot := -1
		if extra.Tokenizer != nil {
			eot = int(extra.Tokenizer.EOT())
		}
		if err := writeAtomic(filepath.Join(dir, ConfigFile), func(w io.Writer) error {
			return writeConfig(w, extra.Config, eot)
		}); err != nil {
			return err
		}
	}
	wpath := filepath.Join(dir, WeightsFile)
	if err := safetensors.Write(wpath, weights, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	wf, err := safetensors.Read(wpath) // the checksum Write computed, and a check of what landed on disk
	if err != nil {
		return fmt.Errorf("checkpoint %s: reading back the weights: %w", dir, err)
	}
	meta := map[string]string{
		metaFormat:     trainStateV1,
		metaStep:       strconv.Itoa(step),
		metaStates:     strconv.Itoa(nStates),
		metaWeightsCRC: wf.Metadata[safetensors.KeyDataCRC],
	}
	for k, v := range extra.Metadata {
		meta[k] = v
	}
	return safetensors.Write(filepath.Join(dir, TrainStateFile), state, meta)
}

// writeAtomic writes a file through a temporary file in its directory,
// synced and renamed over it.
func writeAtomic(path string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("checkpoint: writing %s: %w (left unchanged)", path, err)
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// hfConfig is the part of Hugging Face's GPT2Config that gotrain reads and
// writes. Reading accepts either name of each size.
type hfConfig struct {
	Architectures    []string `json:"architectures,omitempty"`
	ModelType        string   `json:"model_type,omitempty"`
	VocabSize        int      `json:"vocab_size,omitempty"`
	NVocab           int      `json:"n_vocab,omitempty"`
	NPositions       int      `json:"n_positions,omitempty"`
	NCtx             int      `json:"n_ctx,omitempty"`
	NEmbd            int      `json:"n_embd"`
	NLayer           int      `json:"n_layer"`
	NHead            int      `json:"n_head"`
	NInner           *int     `json:"n_inner"`
	Activation       string   `json:"activation_function,omitempty"`
	LayerNormEpsilon float64  `json:"layer_norm_epsilon,omitempty"`
	TieWordEmbedding *bool    `json:"tie_word_embeddings,omitempty"`
	BOSTokenID       *int     `json:"bos_token_id,omitempty"`
	EOSTokenID       *int     `json:"eos_token_id,omitempty"`
}

func writeConfig(w io.Writer, c GPTConfig, eot int) error {
	tie := true
	h := hfConfig{
		Architectures: []string{"GPT2LMHeadModel"}, ModelType: "gpt2",
		VocabSize: c.Vocab, NVocab: c.Vocab, NPositions: c.Context, NCtx: c.Context,
		NEmbd: c.Channels, NLayer: c.Layers, NHead: c.Heads,
		Activation: "gelu_new", LayerNormEpsilon: 1e-5, TieWordEmbedding: &tie,
	}
	if eot >= 0 {
		h.BOSTokenID, h.EOSTokenID = &eot, &eot
	}
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ReadGPTConfig reads a config.json in Hugging Face's GPT-2 format.
func ReadGPTConfig(path string) (GPTConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return GPTConfig{}, fmt.Errorf("checkpoint: %w", err)
	}
	var h hfConfig
	if err := json.Unmarshal(b, &h); err != nil {
		return GPTConfig{}, fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	c := GPTConfig{Vocab: h.VocabSize, Context: h.NPositions, Layers: h.NLayer, Heads: h.NHead, Channels: h.NEmbd}
	if c.Vocab == 0 {
		c.Vocab = h.NVocab
	}
	if c.Context == 0 {
		c.Context = h.NCtx
	}
	if err := c.validate(); err != nil {
		return GPTConfig{}, fmt.Errorf("checkpoint: %s: %v", path, err)
	}
	if h.NInner != nil && *h.NInner != 4*c.Channels {
		return GPTConfig{}, fmt.Errorf("checkpoint: %s: n_inner %d: gotrain's GPT has an MLP of 4·n_embd = %d", path, *h.NInner, 4*c.Channels)
	}
	if a := h.Activation; a != "" && a != "gelu_new" && a != "gelu_pytorch_tanh" {
		return GPTConfig{}, fmt.Errorf("checkpoint: %s: activation_function %q: gotrain's GPT uses GELU with the tanh approximation (gelu_new)", path, a)
	}
	if h.TieWordEmbedding != nil && !*h.TieWordEmbedding {
		return GPTConfig{}, fmt.Errorf("checkpoint: %s: tie_word_embeddings false: gotrain's GPT ties the output layer to wte", path)
	}
	return c, nil
}

// Checkpoint is a checkpoint directory, read and validated by
// OpenCheckpoint. A directory of Hugging Face's GPT-2 (model.safetensors,
// config.json, vocab.json, merges.txt) opens too, without training state.
type Checkpoint struct {
	Dir       string
	Config    GPTConfig // zero when there is no config.json
	Tokenizer *tokenizer.Tokenizer
	// Step is the number of training steps taken; 0 without training
	// state.
	Step int
	// Metadata is the caller's metadata of train_state.safetensors (the
	// keys SaveCheckpoint owns removed); empty without training state.
	Metadata map[string]string

	weights *safetensors.File
	state   *safetensors.File // nil: weights only
	nStates int
}

// HasTrainState reports whether the checkpoint holds optimizer state (so
// Restore can resume training).
func (c *Checkpoint) HasTrainState() bool { return c.state != nil }

// OpenCheckpoint reads every file of a checkpoint directory and validates
// it (safetensors structure and checksums, the config, the tokenizer, and
// that the training state belongs with the weights). It changes nothing;
// Restore or LoadWeights copy the values into a program.
func OpenCheckpoint(dir string) (*Checkpoint, error) {
	c := &Checkpoint{Dir: dir, Metadata: map[string]string{}}
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("checkpoint: %s is not a directory", dir)
	}
	var err error
	if c.weights, err = safetensors.Read(filepath.Join(dir, WeightsFile)); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); err == nil {
		if c.Config, err = ReadGPTConfig(filepath.Join(dir, ConfigFile)); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, tokenizer.VocabFile)); err == nil {
		if c.Tokenizer, err = tokenizer.LoadGPT2Files(dir); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", dir, err)
		}
		if c.Config.Vocab != 0 && c.Tokenizer.VocabSize() > c.Config.Vocab {
			return nil, fmt.Errorf("checkpoint %s: the tokenizer has %d tokens, more than the model's vocabulary of %d", dir, c.Tokenizer.VocabSize(), c.Config.Vocab)
		}
	}
	spath := filepath.Join(dir, TrainStateFile)
	if _, err := os.Stat(spath); err != nil {
		return c, nil
	}
	if c.state, err = safetensors.Read(spath); err != nil {
		return nil, err
	}
	m := c.state.Metadata
	if m[metaFormat] != trainStateV1 {
		return nil, fmt.Errorf("checkpoint %s: %s is %q, want %q", spath, metaFormat, m[metaFormat], trainStateV1)
	}
	if c.Step, err = strconv.Atoi(m[metaStep]); err != nil || c.Step < 0 {
		return nil, fmt.Errorf("checkpoint %s: step %q: want a count >= 0", spath, m[metaStep])
	}
	if c.nStates, err = strconv.Atoi(m[metaStates]); err != nil || c.nStates < 0 {
		return nil, fmt.Errorf("checkpoint %s: optimizer states %q: want a count >= 0", spath, m[metaStates])
	}
	if got, want := m[metaWeightsCRC], c.weights.Metadata[safetensors.KeyDataCRC]; got != want {
		return nil, fmt.Errorf("checkpoint %s: the training state belongs with weights of checksum %s, but %s has %s (files of two different saves?)",
			dir, got, WeightsFile, want)
	}
	for k, v := range m {
		if !strings.HasPrefix(k, "gotrain.") {
			c.Metadata[k] = v
		}
	}
	return c, nil
}

// hfName maps a tensor name of a Hugging Face GPT-2 file to gotrain's: the
// "transformer." prefix added when the file lacks it (files saved from
// GPT2Model), the causal-mask buffers (h.<i>.attn.bias and
// attn.masked_bias, 4-D) and the tied lm_head.weight skipped ("").
func hfName(name string) string {
	n := name
	if !strings.HasPrefix(n, "transformer.") && !strings.HasPrefix(n, "lm_head.") {
		n = "transformer." + n
	}
	if n == "lm_head.weight" || strings.HasSuffix(n, ".attn.bias") || strings.HasSuffix(n, ".attn.masked_bias") {
		return ""
	}
	return n
}

// Param returns a weight by its gotrain name (the file may lack the
// "transformer." prefix), so that a Sampler reads a checkpoint directly.
func (c *Checkpoint) Param(name string) (*tensor.Dense, error) {
	t, ok := c.weights.Lookup(name)
	if !ok {
		t, ok = c.weights.Lookup(strings.TrimPrefix(name, "transformer."))
	}
	if !ok || !t.DType.IsFloat() || len(t.Shape) == 0 {
		return nil, fmt.Errorf("checkpoint %s: no float tensor %s", c.weights.Path, name)
	}
	return tensor.New(tensor.WithShape(t.Shape...), tensor.WithBacking(t.F32)), nil
}

// paramTargets allocates host storage for every parameter of prog.
func paramTargets(prog *graph.Program) map[string]safetensors.Target {
	into := map[string]safetensors.Target{}
	for _, name := range prog.ParamNames() {
		shape := prog.ParamShape(name)
		into[name] = safetensors.Target{Shape: append([]int(nil), shape...), Data: make([]float32, shape.Size())}
	}
	return into
}

// readWeights validates the weights against prog and returns them, without
// touching prog.
func (c *Checkpoint) readWeights(prog *graph.Program) (map[string]safetensors.Target, error) {
	into := paramTargets(prog)
	if err := c.weights.Load(into, &safetensors.LoadOptions{Rename: hfName}); err != nil {
		return nil, err
	}
	if lm, ok := c.weights.Lookup("lm_head.weight"); ok {
		wte, ok := into["transformer.wte.weight"]
		if !ok || !slices.Equal(lm.Shape, wte.Shape) || !slices.Equal(lm.F32, wte.Data) {
			return nil, fmt.Errorf("checkpoint %s: lm_head.weight differs from transformer.wte.weight: gotrain's GPT ties them, so an untied output layer cannot be loaded", c.weights.Path)
		}
	}
	return into, nil
}

func setParams(prog *graph.Program, vals map[string]safetensors.Target) error {
	for _, name := range prog.ParamNames() {
		t := vals[name]
		if err := prog.SetParam(name, tensor.New(tensor.WithShape(t.Shape...), tensor.WithBacking(t.Data))); err != nil {
			return err
		}
	}
	return nil
}

// LoadWeights copies the checkpoint's weights into prog, after checking
// that every parameter is there with its shape (a Hugging Face file's names
// may lack the "transformer." prefix; its attention masks and tied lm_head
// are skipped). The step and optimizer state are left as they are. On error
// prog is unchanged.
func (c *Checkpoint) LoadWeights(prog *graph.Program) error {
	vals, err := c.readWeights(prog)
	if err != nil {
		return err
	}
	return setParams(prog, vals)
}

// Restore puts the checkpoint's weights, optimizer state and step into prog
// to resume training: everything is checked against prog first (every
// parameter and state tensor present, none extra, shapes, the number of
// optimizer buffers), and on error prog is unchanged.
func (c *Checkpoint) Restore(prog *graph.Program) error {
	if c.state == nil {
		return fmt.Errorf("checkpoint %s: no %s: it holds weights only (LoadWeights loads them)", c.Dir, TrainStateFile)
	}
	vals, err := c.readWeights(prog)
	if err != nil {
		return err
	}
	states := map[string][][]float32{}
	into := map[string]safetensors.Target{}
	for _, name := range prog.ParamNames() {
		cur, err := prog.OptimizerState(name)
		if err != nil {
			return err
		}
		if len(cur) != c.nStates {
			return fmt.Errorf("checkpoint %s: the optimizer kept %d buffers per parameter, this program's keeps %d (a different optimizer?)", c.state.Path, c.nStates, len(cur))
		}
		shape := prog.ParamShape(name)
		bufs := make([][]float32, len(cur))
		for i, sn := range stateNames(name, len(cur)) {
			bufs[i] = make([]float32, shape.Size())
			into[sn] = safetensors.Target{Shape: append([]int(nil), shape...), Data: bufs[i]}
		}
		states[name] = bufs
	}
	if err := c.state.Load(into, nil); err != nil {
		return err
	}
	if err := setParams(prog, vals); err != nil {
		return err
	}
	for _, name := range prog.ParamNames() {
		if err := prog.SetOptimizerState(name, states[name]); err != nil {
			return err
		}
	}
	prog.SetStepCount(c.Step)
	return nil
}

// CheckpointExists reports whether dir holds a model.safetensors.
func CheckpointExists(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, WeightsFile))
	return err == nil && st.Mode().IsRegular()
}
