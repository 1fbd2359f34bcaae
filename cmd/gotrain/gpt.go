package main

// gotrain gpt: a GPT-2 language model end to end.
//
//	train   read the corpus (internal/textdata: files sorted, every 20th to
//	        validation), train or reuse a byte-level BPE (cached in -ckpt),
//	        tokenise, then train with AdamW and a cosine schedule on random
//	        windows [B, T+1]; every -eval-every steps measure the loss on a
//	        fixed set of validation windows; at the end measure bits per byte
//	        on -val-tokens tokens of windows spread over the split, next to
//	        gzip -9 on the whole validation text, and save a checkpoint
//	        (nn.SaveCheckpoint, Hugging Face's layout). -resume restores the
//	        weights, AdamW's moments, the step, the data position and the
//	        flags, so a resumed run takes the same steps as an uninterrupted
//	        one, bit for bit.
//	sample  stream text from a checkpoint with nn.Sampler (the host, a KV
//	        cache), which reads the checkpoint's weights directly.
//	eval    the end-of-training measurement, for any checkpoint.
//
// Bits per byte = loss (nats/token) · predicted tokens / (bytes · ln 2),
// where bytes are the text bytes of the predicted tokens (end-of-text
// separators count 0 bytes, but their loss counts).

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gotrain/gotrain/cpufallback"
	"github.com/gotrain/gotrain/device"
	"github.com/gotrain/gotrain/graph"
	"github.com/gotrain/gotrain/internal/plot"
	"github.com/gotrain/gotrain/internal/progress"
	"github.com/gotrain/gotrain/internal/textdata"
	"github.com/gotrain/gotrain/kernels"
	"github.com/gotrain/gotrain/nn"
	"github.com/gotrain/gotrain/nn/tokenizer"
)

// gptPresets are the model sizes of -preset. tiny is about 1M parameters
// (V = 2048 from a BPE trained on the data, C = 128, L = 4, NH = 4,
// T = 128): it beats gzip -9 on the Go sources within minutes on two CPU
// cores.
var gptPresets = map[string]nn.GPTConfig{
	"tiny":      {Vocab: 2048, Context: 128, Layers: 4, Heads: 4, Channels: 128},
	"small":     {Vocab: 8192, Context: 256, Layers: 6, Heads: 6, Channels: 384},
	"gpt2-124m": nn.GPT2Small,
}

const gptPresetNames = "tiny, small or gpt2-124m"

// tokenizerKeyFile caches a trained tokenizer in the checkpoint folder: it
// holds what the tokenizer was trained from, so a run on other data or
// with another vocabulary size trains a new one.
const tokenizerKeyFile = "tokenizer.key"

func runGPT(args []string, stdout, stderr io.Writer) error {
	usage := func(w io.Writer) {
		fmt.Fprintf(w, `Usage: gotrain gpt <train|sample|eval> [flags]

Trains a GPT-2 language model (by default about 1M parameters on the Go
standard library's sources), samples text from a checkpoint, or evaluates
one on held-out text (loss, perplexity, bits per byte next to gzip -9).

	gotrain gpt train [flags]    train, printing validation loss and bits per byte
	gotrain gpt sample [flags]   stream text generated from a checkpoint
	gotrain gpt eval [flags]     evaluate a checkpoint on the validation split

Run "gotrain gpt <subcommand> -h" for its flags.
`)
	}
	if len(args) == 0 {
		usage(stderr)
		return errUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return flag.ErrHelp
	case "train":
		return runGPTTrain(args[1:], stdout, stderr)
	case "sample":
		return runGPTSample(args[1:], stdout, stderr)
	case "eval":
		return runGPTEval(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "gotrain gpt: unknown subcommand %q: want train, sample or eval\n\n", args[0])
	usage(stderr)
	return errUsage
}

type gptTrainConfig struct {
	preset                         string
	layers, heads, channels, vocab int
	data, ext                      string
	valEvery                       int
	tokenizer                      string
	batch, seq                     int
	steps, stopAfter               int
	lr, minLR, wd, clip            float64
	warmup                         int
	seed                           uint64
	threads                        int
	device                         string
	ckpt                           string
	resume                         bool
	saveEvery                      int
	evalEvery, evalBatches         int
	valTokens                      int
	logPath, plotPath              string
	peakTFLOPS                     float64
	profile                        int
}

// resumeFlags are the flags a resumed run takes from the checkpoint unless
// they are given again, so that it continues exactly: metadata key, flag.
var resumeFlags = [][2]string{
	{"train.batch", "batch"}, {"train.seq", "seq"}, {"train.steps", "steps"},
	{"train.lr", "lr"}, {"train.min_lr", "min-lr"}, {"train.warmup", "warmup"},
	{"train.wd", "wd"}, {"train.clip", "clip"}, {"train.seed", "seed"},
	{"data.paths", "data"}, {"data.ext", "ext"}, {"data.val_every", "val-every"},
	{"eval.every", "eval-every"}, {"eval.batches", "eval-batches"}, {"eval.val_tokens", "val-tokens"},
	{"train.save_every", "save-every"},
}

func runGPTTrain(args []string, stdout, stderr io.Writer) error {
	var c gptTrainConfig
	fs := flag.NewFlagSet("gpt train", flag.ContinueOnError)
	fs.StringVar(&c.preset, "preset", "tiny", "model size: "+gptPresetNames)
	fs.IntVar(&c.layers, "layers", 0, "transformer blocks (0: the preset's)")
	fs.IntVar(&c.heads, "heads", 0, "attention heads (0: the preset's)")
	fs.IntVar(&c.channels, "channels", 0, "model width C (0: the preset's)")
	fs.IntVar(&c.vocab, "vocab", 0, "vocabulary of the BPE tokenizer trained on the data (0: the preset's)")
	fs.StringVar(&c.data, "data", "", "comma-separated files and folders of text (default: every .go file under $(go env GOROOT)/src)")
	fs.StringVar(&c.ext, "ext", "", "take only files ending in this from -data folders (default: .go for the Go sources, all text files otherwise)")
	fs.IntVar(&c.valEvery, "val-every", textdata.DefaultValEvery, "every n-th file goes to the validation split")
	fs.StringVar(&c.tokenizer, "tokenizer", "", "folder with a GPT-2 tokenizer (vocab.json, merges.txt) to use instead of training one")
	fs.IntVar(&c.batch, "batch", 8, "sequences per batch (B)")
	fs.IntVar(&c.seq, "seq", 0, "tokens per sequence (T; 0: the preset's context)")
	fs.IntVar(&c.steps, "steps", 6000, "training steps (the cosine schedule ends there)")
	fs.IntVar(&c.stopAfter, "stop-after", 0, "stop after this step (0: at -steps), saving a checkpoint to -resume from")
	fs.Float64Var(&c.lr, "lr", 4e-3, "peak learning rate (AdamW, betas 0.9 and 0.95)")
	fs.Float64Var(&c.minLR, "min-lr", 0.1, "final learning rate, as a fraction of -lr")
	fs.IntVar(&c.warmup, "warmup", 200, "linear warmup steps")
	fs.Float64Var(&c.wd, "wd", 0.1, "decoupled weight decay of the matrices (not of biases, norms and embeddings)")
	fs.Float64Var(&c.clip, "clip", 1, "clip gradients to this global norm (0: off)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed for initialisation and batch sampling")
	fs.IntVar(&c.threads, "threads", 0, "CPU threads (0: all cores)")
	fs.StringVar(&c.device, "device", "", "where to train: cpu or cuda (default: cuda when built with it and a GPU is present, else cpu)")
	fs.StringVar(&c.ckpt, "ckpt", "gpt-ckpt", "checkpoint folder (also caches the trained tokenizer)")
	fs.BoolVar(&c.resume, "resume", false, "continue the run saved in -ckpt: weights, optimizer, step, data position and flags")
	fs.IntVar(&c.saveEvery, "save-every", 0, "also save a checkpoint every n steps (0: only at the end)")
	fs.IntVar(&c.evalEvery, "eval-every", 250, "measure the validation loss every n steps (0: only at the end)")
	fs.IntVar(&c.evalBatches, "eval-batches", 8, "batches of validation windows for the evaluations during training")
	fs.IntVar(&c.valTokens, "val-tokens", 1<<18, "validation tokens for the final evaluation, in windows spread over the split (0: all)")
	fs.StringVar(&c.logPath, "log", "", "write every step (step, loss, lr, tokens/s, elapsed, val_loss) to this file: JSON lines if it ends in .jsonl, else CSV")
	fs.StringVar(&c.plotPath, "plot", "", "write the loss curves to this PNG file")
	fs.Float64Var(&c.peakTFLOPS, "peak-tflops", 0, "the device's peak TFLOP/s for MFU (0: known GPUs only)")
	fs.IntVar(&c.profile, "profile", 0, "time each op over this many steps after the first (synchronising after each: slower steps) and print where the time went")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gotrain gpt train [flags]\n\nTrains a GPT-2 on text (default: the Go sources), with a BPE tokenizer trained on the\ntraining split, and reports the validation loss in bits per byte next to gzip -9.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return trainGPT(&c, fs, set, stdout, stderr)
}

// splitPaths parses -data.
func splitPaths(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (c *gptTrainConfig) modelConfig() (nn.GPTConfig, error) {
	cfg, ok := gptPresets[c.preset]
	if !ok {
		return cfg, fmt.Errorf("-preset %q: want %s", c.preset, gptPresetNames)
	}
	for _, o := range []struct {
		name string
		v    int
		dst  *int
	}{{"layers", c.layers, &cfg.Layers}, {"heads", c.heads, &cfg.Heads}, {"channels", c.channels, &cfg.Channels}, {"vocab", c.vocab, &cfg.Vocab}, {"seq", c.seq, &cfg.Context}} {
		if o.v < 0 {
			return cfg, fmt.Errorf("-%s %d: want a positive size (or 0 for the preset's)", o.name, o.v)
		}
		if o.v > 0 {
			*o.dst = o.v
		}
	}
	if cfg.Channels%cfg.Heads != 0 {
		return cfg, fmt.Errorf("-channels %d is not a multiple of -heads %d", cfg.Channels, cfg.Heads)
	}
	if cfg.Vocab < 257 {
		return cfg, fmt.Errorf("-vocab %d: a byte-level BPE needs at least 257 tokens (256 bytes and end of text)", cfg.Vocab)
	}
	return cfg, nil
}

func (c *gptTrainConfig) check() error {
	switch {
	case c.batch < 1:
		return fmt.Errorf("-batch %d: want at least 1", c.batch)
	case c.steps < 1:
		return fmt.Errorf("-steps %d: want at least 1", c.steps)
	case c.stopAfter < 0:
		return fmt.Errorf("-stop-after %d: want 0 (off) or a step", c.stopAfter)
	case !(c.lr > 0) || math.IsInf(c.lr, 0):
		return fmt.Errorf("-lr %v: want a positive learning rate", c.lr)
	case c.minLR < 0 || c.minLR > 1:
		return fmt.Errorf("-min-lr %v: want a fraction of -lr in [0, 1]", c.minLR)
	case c.warmup < 0 || c.wd < 0 || c.clip < 0:
		return fmt.Errorf("-warmup, -wd and -clip must be >= 0")
	case c.saveEvery < 0 || c.evalEvery < 0 || c.evalBatches < 1 || c.valTokens < 0:
		return fmt.Errorf("-save-every, -eval-every and -val-tokens must be >= 0 and -eval-batches >= 1")
	case c.valEvery < 2:
		return fmt.Errorf("-val-every %d: want at least 2", c.valEvery)
	}
	return nil
}

// gptMeta is what a checkpoint records of a run besides the model.
func (c *gptTrainConfig) meta(pos uint64, fingerprint, tokSource string) map[string]string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	return map[string]string{
		"train.batch": strconv.Itoa(c.batch), "train.seq": strconv.Itoa(c.seq), "train.steps": strconv.Itoa(c.steps),
		"train.lr": f(c.lr), "train.min_lr": f(c.minLR), "train.warmup": strconv.Itoa(c.warmup),
		"train.wd": f(c.wd), "train.clip": f(c.clip), "train.seed": strconv.FormatUint(c.seed, 10),
		"data.paths": c.data, "data.ext": c.ext, "data.val_every": strconv.Itoa(c.valEvery),
		"data.pos": strconv.FormatUint(pos, 10), "data.seed": strconv.FormatUint(c.seed, 10),
		"data.fingerprint": fingerprint, "tokenizer.source": tokSource,
		"eval.every": strconv.Itoa(c.evalEvery), "eval.batches": strconv.Itoa(c.evalBatches),
		"eval.val_tokens": strconv.Itoa(c.valTokens), "train.save_every": strconv.Itoa(c.saveEvery),
	}
}

// loadCorpus reads -data, saying what it read.
func loadCorpus(data, ext string, valEvery int, stdout io.Writer) (*textdata.Corpus, error) {
	t0 := time.Now()
	corpus, err := textdata.Load(textdata.Options{Paths: splitPaths(data), Ext: ext, ValEvery: valEvery})
	if err != nil {
		return nil, err
	}
	where := data
	if where == "" {
		where = corpus.Root + " (*.go)"
	}
	fmt.Fprintf(stdout, "data: %s: %d training files (%.1f MB), %d validation files (%.1f MB), read in %v\n",
		where, len(corpus.TrainFiles), float64(corpus.TrainBytes)/1e6, len(corpus.ValFiles), float64(corpus.ValBytes)/1e6,
		time.Since(t0).Round(time.Millisecond))
	return corpus, nil
}

// gptTokenizer returns the run's tokenizer: GPT-2's files from -tokenizer,
// the one cached in the checkpoint folder if it was trained on the same
// data with the same size, or a new one trained on the training split (and
// cached). It also returns a description of its source.
func gptTokenizer(c *gptTrainConfig, vocab int, corpus *textdata.Corpus, stdout io.Writer) (*tokenizer.Tokenizer, string, error) {
	if c.tokenizer != "" {
		tok, err := tokenizer.LoadGPT2Files(c.tokenizer)
		if err != nil {
			return nil, "", err
		}
		fmt.Fprintf(stdout, "tokenizer: %s, %d tokens\n", c.tokenizer, tok.VocabSize())
		return tok, "files " + c.tokenizer, nil
	}
	key := fmt.Sprintf("bpe vocab=%d data=%s", vocab, corpus.Fingerprint())
	if b, err := os.ReadFile(filepath.Join(c.ckpt, tokenizerKeyFile)); err == nil && strings.TrimSpace(string(b)) == key {
		if tok, err := tokenizer.LoadGPT2Files(c.ckpt); err == nil {
			fmt.Fprintf(stdout, "tokenizer: BPE of %d tokens cached in %s\n", tok.VocabSize(), c.ckpt)
			return tok, key, nil
		}
	}
	t0 := time.Now()
	readers := make([]io.Reader, len(corpus.Train))
	for i, t := range corpus.Train {
		readers[i] = bytes.NewReader(t)
	}
	tok, err := tokenizer.Train(io.MultiReader(readers...), vocab, tokenizer.TrainOptions{})
	if err != nil {
		return nil, "", err
	}
	fmt.Fprintf(stdout, "tokenizer: trained a BPE of %d tokens on the training split in %v\n", tok.VocabSize(), time.Since(t0).Round(time.Millisecond))
	if err := os.MkdirAll(c.ckpt, 0o755); err != nil {
		return nil, "", err
	}
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{tokenizer.VocabFile, tok.WriteVocab}, {tokenizer.MergesFile, tok.WriteMerges},
		{tokenizerKeyFile, func(w io.Writer) error { _, err := io.WriteString(w, key+"\n"); return err }},
	} {
		if err := writeFileAtomic(filepath.Join(c.ckpt, f.name), f.write); err != nil {
			return nil, "", err
		}
	}
	return tok, key, nil
}

// writeFileAtomic writes path through a temporary file renamed over it.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	err = errors.Join(write(w), w.Flush(), f.Chmod(0o644), f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// encodeSplits tokenises both splits, saying how long it took.
func encodeSplits(tok *tokenizer.Tokenizer, corpus *textdata.Corpus, stdout io.Writer) (train, val *textdata.Tokens) {
	t0 := time.Now()
	train = textdata.Encode(tok, corpus.Train, 0)
	val = textdata.Encode(tok, corpus.Val, 0)
	fmt.Fprintf(stdout, "tokens: %s training, %s validation (%.2f bytes/token), encoded in %v\n",
		thousands(float64(len(train.IDs))), thousands(float64(len(val.IDs))), float64(train.Bytes)/float64(len(train.IDs)),
		time.Since(t0).Round(time.Millisecond))
	return train, val
}

// evalSet is a fixed set of validation windows, in whole batches.
type evalSet struct {
	w               *textdata.Windows
	bytes           int64 // text bytes the windows predict
	tokens, targets []int32
}

// newEvalSet spreads about want tokens' worth of windows (a multiple of B,
// at least B) over ids; want 0 takes the whole split end to end.
func newEvalSet(ids []int32, tok *tokenizer.Tokenizer, B, T, want int) (*evalSet, error) {
	n := (len(ids) - 1) / T
	if want > 0 {
		n = min(n, max(want/T, 1))
	}
	n = max(n/B, 1) * B
	w, err := textdata.NewWindows(ids, T, n)
	if err != nil {
		return nil, fmt.Errorf("validation split: %w", err)
	}
	return &evalSet{w: w, bytes: w.TargetBytes(tok), tokens: make([]int32, B*T), targets: make([]int32, B*T)}, nil
}

// predicted is the number of tokens the set's windows predict.
func (e *evalSet) predicted() int { return e.w.Len() * e.w.T }

// loss runs the forward-only program over the set and returns the mean
// loss per token, in nats.
func (e *evalSet) loss(p *graph.Program, loss *graph.Node) (float64, error) {
	B := len(e.tokens) / e.w.T
	var sum float64
	var out [1]float32
	batches := 0
	for first := 0; first < e.w.Len(); first += B {
		e.w.Batch(first, e.tokens, e.targets)
		if err := p.FeedI32("tokens", e.tokens); err != nil {
			return 0, err
		}
		if err := p.FeedI32("targets", e.targets); err != nil {
			return 0, err
		}
		if err := p.Forward(); err != nil {
			return 0, err
		}
		if err := p.ReadF32(loss, out[:]); err != nil {
			return 0, err
		}
		sum += float64(out[0])
		batches++
	}
	return sum / float64(batches), nil
}

// bitsPerByte converts a mean loss in nats per token to bits per byte of
// the text the set predicts.
func (e *evalSet) bitsPerByte(loss float64) float64 {
	return loss * float64(e.predicted()) / (float64(e.bytes) * math.Ln2)
}

// gzipBitsPerByte is what gzip -9 (compress/gzip, BestCompression) takes
// per byte of the documents, concatenated: 8·compressed/raw.
func gzipBitsPerByte(docs [][]byte) (float64, int64, int64) {
	var cw countWriter
	zw, _ := gzip.NewWriterLevel(&cw, gzip.BestCompression)
	var raw int64
	for _, d := range docs {
		zw.Write(d)
		raw += int64(len(d))
	}
	zw.Close()
	return 8 * float64(cw.n) / float64(raw), raw, cw.n
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// buildEval compiles a forward-only program computing the mean loss of a
// batch [B, T], sharing train's parameters (or with its own when train is
// nil).
func buildEval(be kernels.Backend, cfg nn.GPTConfig, B, T int, train *graph.Program) (*graph.Program, *graph.Node, error) {
	g := graph.New()
	_, _, loss := nn.BuildGPT(g, cfg, B, T)
	p, err := graph.Compile(g, be, graph.Config{Outputs: []*graph.Node{loss}, Shared: train})
	return p, loss, err
}

// peakFLOPS is the dense TF32 tensor-core peak of GPUs gotrain's GEMMs run
// on (cuBLAS with TF32), for MFU; 0 when unknown.
func peakFLOPS(be kernels.Backend, override float64) float64 {
	if override > 0 {
		return override * 1e12
	}
	d, ok := be.(interface{ Info() device.Info })
	if !ok || d.Info().Emulated {
		return 0
	}
	name := d.Info().Name
	for _, p := range []struct {
		sub   string
		flops float64
	}{
		{"H200", 494.7e12}, {"H100 PCIe", 378e12}, {"H100", 494.7e12}, {"A100", 156e12},
		{"L40S", 183e12}, {"L4", 60e12}, {"A10", 62.5e12}, {"RTX 4090", 82.6e12}, {"RTX 3090", 35.6e12},
	} {
		if strings.Contains(name, p.sub) {
			return p.flops
		}
	}
	return 0
}

// stepLog writes one record per training step, as CSV or JSON lines.
type stepLog struct {
	f     *os.File
	w     *bufio.Writer
	jsonl bool
}

func openStepLog(path string, appendTo bool) (*stepLog, error) {
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if appendTo {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, err
	}
	l := &stepLog{f: f, w: bufio.NewWriter(f), jsonl: strings.HasSuffix(path, ".jsonl") || strings.HasSuffix(path, ".json")}
	if st, err := f.Stat(); err == nil && st.Size() == 0 && !l.jsonl {
		l.w.WriteString("step,loss,lr,tokens_per_s,elapsed_s,val_loss\n")
	}
	return l, nil
}

// record writes a step; valLoss is NaN when there was no evaluation. The
// loss is written with the shortest decimal that reads back to the same
// float32, so logs of two runs compare bit for bit.
func (l *stepLog) record(step int, loss, lr float32, tokPerSec, elapsed, valLoss float64) {
	b := l.w.AvailableBuffer()
	f32 := func(b []byte, v float32) []byte { return strconv.AppendFloat(b, float64(v), 'g', -1, 32) }
	if l.jsonl {
		b = append(b, `{"step":`...)
		b = strconv.AppendInt(b, int64(step), 10)
		b = append(b, `,"loss":`...)
		b = f32(b, loss)
		b = append(b, `,"lr":`...)
		b = f32(b, lr)
		b = append(b, `,"tokens_per_s":`...)
		b = strconv.AppendFloat(b, tokPerSec, 'f', 1, 64)
		b = append(b, `,"elapsed_s":`...)
		b = strconv.AppendFloat(b, elapsed, 'f', 3, 64)
		if !math.IsNaN(valLoss) {
			b = append(b, `,"val_loss":`...)
			b = strconv.AppendFloat(b, valLoss, 'g', 8, 64)
		}
		b = append(b, "}\n"...)
	} else {
		b = strconv.AppendInt(b, int64(step), 10)
		b = append(b, ',')
		b = f32(b, loss)
		b = append(b, ',')
		b = f32(b, lr)
		b = append(b, ',')
		b = strconv.AppendFloat(b, tokPerSec, 'f', 1, 64)
		b = append(b, ',')
		b = strconv.AppendFloat(b, elapsed, 'f', 3, 64)
		b = append(b, ',')
		if !math.IsNaN(valLoss) {
			b = strconv.AppendFloat(b, valLoss, 'g', 8, 64)
		}
		b = append(b, '\n')
	}
	l.w.Write(b)
}

func (l *stepLog) close() error { return errors.Join(l.w.Flush(), l.f.Close()) }

func trainGPT(c *gptTrainConfig, fs *flag.FlagSet, set map[string]bool, stdout, stderr io.Writer) error {
	var ck *nn.Checkpoint
	var cfg nn.GPTConfig
	if c.resume {
		var err error
		if ck, err = nn.OpenCheckpoint(c.ckpt); err != nil {
			return fmt.Errorf("-resume: %w", err)
		}
		if !ck.HasTrainState() || ck.Config == (nn.GPTConfig{}) || ck.Tokenizer == nil {
			return fmt.Errorf("-resume: %s holds no training state, config or tokenizer to resume from", c.ckpt)
		}
		for _, kv := range resumeFlags {
			if v, ok := ck.Metadata[kv[0]]; ok && !set[kv[1]] {
				if err := fs.Set(kv[1], v); err != nil {
					return fmt.Errorf("-resume: %s: %s %q: %w", c.ckpt, kv[0], v, err)
				}
			}
		}
		cfg = ck.Config
		for _, name := range []string{"preset", "layers", "heads", "channels", "vocab", "tokenizer"} {
			if set[name] {
				return fmt.Errorf("-resume: -%s: the model and tokenizer come from the checkpoint in %s", name, c.ckpt)
			}
		}
		if c.seq == 0 {
			c.seq = cfg.Context
		}
	} else {
		var err error
		if cfg, err = c.modelConfig(); err != nil {
			return err
		}
		if c.seq == 0 {
			c.seq = cfg.Context
		}
	}
	if err := c.check(); err != nil {
		return err
	}
	if c.seq > cfg.Context {
		return fmt.Errorf("-seq %d: longer than the model's context of %d", c.seq, cfg.Context)
	}
	if c.stopAfter == 0 || c.stopAfter > c.steps {
		c.stopAfter = c.steps
	}
	B, T := c.batch, c.seq

	corpus, err := loadCorpus(c.data, c.ext, c.valEvery, stdout)
	if err != nil {
		return err
	}
	var tok *tokenizer.Tokenizer
	tokSource := ""
	if ck != nil {
		tok, tokSource = ck.Tokenizer, ck.Metadata["tokenizer.source"]
		if fp := ck.Metadata["data.fingerprint"]; fp != "" && fp != corpus.Fingerprint() {
			fmt.Fprintf(stderr, "gotrain gpt train: warning: the training files differ from those of the checkpoint; the run will not continue exactly\n")
		}
	} else {
		if tok, tokSource, err = gptTokenizer(c, cfg.Vocab, corpus, stdout); err != nil {
			return err
		}
		cfg.Vocab = tok.VocabSize()
	}
	trainTok, valTok := encodeSplits(tok, corpus, stdout)
	loader, err := textdata.NewLoader(trainTok.IDs, B, T, c.seed)
	if err != nil {
		return fmt.Errorf("training split: %w", err)
	}
	finalSet, err := newEvalSet(valTok.IDs, tok, B, T, c.valTokens)
	if err != nil {
		return err
	}
	midSet, err := newEvalSet(valTok.IDs, tok, B, T, c.evalBatches*B*T)
	if err != nil {
		return err
	}

	be, closeBackend, err := openBackend(c.device, c.threads)
	if err != nil {
		return err
	}
	defer closeBackend()
	where := be.Name()
	if cpu, ok := be.(*cpufallback.Backend); ok {
		where = fmt.Sprintf("cpu with %d threads", cpu.Threads())
	}
	g := graph.New()
	_, _, loss := nn.BuildGPT(g, cfg, B, T)
	prog, err := graph.Compile(g, be, graph.Config{
		Loss: loss, Optimizer: nn.AdamW{LR: float32(c.lr), Beta2: 0.95, WeightDecay: float32(c.wd)},
		Schedule: nn.CosineWarmup{Warmup: c.warmup, Total: c.steps, MinFactor: float32(c.minLR)},
		ClipNorm: float32(c.clip), Seed: c.seed,
	})
	if err != nil {
		return err
	}
	evalProg, evalLoss, err := buildEval(be, cfg, B, T, prog)
	if err != nil {
		return err
	}
	if ck != nil {
		if err := ck.Restore(prog); err != nil {
			return err
		}
		pos, err := strconv.ParseUint(ck.Metadata["data.pos"], 10, 64)
		if err != nil {
			return fmt.Errorf("-resume: %s: data.pos %q: %w", c.ckpt, ck.Metadata["data.pos"], err)
		}
		loader.SetPos(pos)
		fmt.Fprintf(stdout, "resumed from %s at step %d\n", c.ckpt, prog.StepCount())
	}
	params := cfg.Params()
	fmt.Fprintf(stdout, "model: GPT-2 V=%d T=%d C=%d L=%d NH=%d, %s parameters; batch %d×%d = %s tokens/step; %s\n",
		cfg.Vocab, cfg.Context, cfg.Channels, cfg.Layers, cfg.Heads, thousands(float64(params)), B, T, thousands(float64(B*T)), where)
	fmt.Fprintf(stdout, "memory: training %v\n", prog.Memory())

	var log *stepLog
	if c.logPath != "" {
		if log, err = openStepLog(c.logPath, c.resume); err != nil {
			return err
		}
		defer log.close()
	}
	save := func() error {
		return nn.SaveCheckpoint(c.ckpt, prog.StepCount(), prog, nn.CheckpointExtra{
			Config: cfg, Tokenizer: tok, Metadata: c.meta(loader.Pos(), corpus.Fingerprint(), tokSource),
		})
	}
	peak := peakFLOPS(be, c.peakTFLOPS)
	trainCurve := plot.Series{Name: "train loss (moving average)"}
	ema := math.NaN() // the train loss's exponential moving average, over the whole run
	valCurve := plot.Series{Name: "validation loss"}
	start := time.Now()
	tokPerStep := float64(B * T)
	var profile []graph.OpTime
	for prog.StepCount() < c.stopAfter {
		from := prog.StepCount()
		to := c.stopAfter
		if c.evalEvery > 0 {
			to = min(to, (from/c.evalEvery+1)*c.evalEvery)
		}
		bar := progress.New(stderr, to-from, fmt.Sprintf("steps %d-%d", from+1, to)).Rate(tokPerStep, "tok")
		segStart := time.Now()
		var sum float64
		for s := from; s < to; s++ {
			toks, tgts := loader.Next()
			if err := prog.FeedI32("tokens", toks); err != nil {
				return err
			}
			if err := prog.FeedI32("targets", tgts); err != nil {
				return err
			}
			lr := prog.LR()
			if c.profile > 0 && prog.StepCount() == 1 {
				prog.SetProfile(true)
			}
			t0 := time.Now()
			l, err := prog.Step()
			if err != nil {
				return err
			}
			if c.profile > 0 && prog.StepCount() == 1+c.profile {
				profile = prog.Profile()
				prog.SetProfile(false)
			}
			dt := time.Since(t0).Seconds()
			sum += float64(l)
			if math.IsNaN(ema) {
				ema = float64(l)
			}
			ema = 0.95*ema + 0.05*float64(l)
			step := prog.StepCount()
			trainCurve.X = append(trainCurve.X, float64(step))
			trainCurve.Y = append(trainCurve.Y, ema)
			if log != nil && step < to {
				log.record(step, l, lr, tokPerStep/dt, time.Since(start).Seconds(), math.NaN())
			}
			if peak > 0 {
				mfu := 100 * 6 * float64(params) * float64(step-from) * tokPerStep / time.Since(segStart).Seconds() / peak
				bar.Update(s+1-from, progress.Metric{Name: "loss", Value: ema}, progress.Metric{Name: "MFU%", Value: mfu})
			} else {
				bar.Update(s+1-from, progress.Metric{Name: "loss", Value: ema})
			}
			if s+1 == to {
				val := math.NaN()
				if c.evalEvery > 0 && (to%c.evalEvery == 0 || to == c.stopAfter) {
					if val, err = midSet.loss(evalProg, evalLoss); err != nil {
						return err
					}
					valCurve.X = append(valCurve.X, float64(step))
					valCurve.Y = append(valCurve.Y, val)
				}
				if log != nil {
					log.record(step, l, lr, tokPerStep/dt, time.Since(start).Seconds(), val)
				}
				bar.Done()
				el := time.Since(segStart).Seconds()
				line := fmt.Sprintf("step %d/%d  train loss %.4f", step, c.steps, sum/float64(to-from))
				if !math.IsNaN(val) {
					line += fmt.Sprintf("  val loss %.4f (%.3f bits/byte)", val, midSet.bitsPerByte(val))
				}
				line += fmt.Sprintf("  lr %.2e  %s tok/s  %.1fs", lr, thousands(float64(to-from)*tokPerStep/el), time.Since(start).Seconds())
				fmt.Fprintln(stdout, line)
			}
			if c.saveEvery > 0 && step%c.saveEvery == 0 && step < c.stopAfter {
				if err := save(); err != nil {
					return err
				}
			}
		}
		if log != nil {
			log.w.Flush()
		}
	}
	trained := time.Since(start)
	if profile != nil {
		printProfile(stdout, profile, c.profile)
	}

	t0 := time.Now()
	val, err := finalSet.loss(evalProg, evalLoss)
	if err != nil {
		return err
	}
	bpb := finalSet.bitsPerByte(val)
	gz, raw, packed := gzipBitsPerByte(corpus.Val)
	fmt.Fprintf(stdout, "validation: loss %.4f nats/token, perplexity %.2f, %.3f bits/byte (%s tokens, %s bytes, in %v)\n",
		val, math.Exp(val), bpb, thousands(float64(finalSet.predicted())), thousands(float64(finalSet.bytes)), time.Since(t0).Round(time.Millisecond))
	verdict := "gotrain beats gzip -9"
	if bpb >= gz {
		verdict = "gzip -9 is still better"
	}
	fmt.Fprintf(stdout, "gzip -9 on the validation text: %.3f bits/byte (%s -> %s bytes); model %.3f bits/byte: %s\n",
		gz, thousands(float64(raw)), thousands(float64(packed)), bpb, verdict)
	if err := save(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "trained %d steps (%s tokens) in %.1fs, %s tok/s; checkpoint saved to %s\n",
		prog.StepCount(), thousands(float64(prog.StepCount())*tokPerStep), trained.Seconds(),
		thousands(float64(len(trainCurve.X))*tokPerStep/trained.Seconds()), c.ckpt)
	if c.plotPath != "" {
		series := []plot.Series{trainCurve}
		if len(valCurve.X) > 0 {
			series = append(series, valCurve)
		}
		if err := plot.LossCurve(c.plotPath, fmt.Sprintf("GPT %d-layer %d-wide, loss (nats/token)", cfg.Layers, cfg.Channels), series...); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "loss curves written to %s\n", c.plotPath)
	}
	return nil
}

func runGPTSample(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gpt sample", flag.ContinueOnError)
	ckpt := fs.String("ckpt", "gpt-ckpt", "checkpoint folder (gotrain's, or Hugging Face's GPT-2 with config.json, vocab.json and merges.txt)")
	prompt := fs.String("prompt", "", "text to continue (default: start a new document)")
	n := fs.Int("n", 200, "tokens to generate at most")
	temp := fs.Float64("temperature", 0.8, "sampling temperature (0: always the most likely token)")
	topK := fs.Int("top-k", 40, "sample from the k most likely tokens (0: all)")
	topP := fs.Float64("top-p", 0.95, "sample from the most likely tokens that make up this probability (1: all)")
	seed := fs.Uint64("seed", 1, "seed of the draws")
	stop := fs.String("stop", "", `stop when the text contains this (Go escapes allowed: "\n\n")`)
	ignoreEOT := fs.Bool("ignore-eot", false, "keep going past the end-of-text token")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gotrain gpt sample [flags]\n\nStreams text generated by a checkpoint's model, on the CPU with a key/value cache.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	switch {
	case *n < 1:
		return fmt.Errorf("-n %d: want at least 1", *n)
	case *temp < 0 || math.IsNaN(*temp):
		return fmt.Errorf("-temperature %v: want >= 0", *temp)
	case *topK < 0:
		return fmt.Errorf("-top-k %d: want >= 0", *topK)
	case !(*topP > 0) || *topP > 1:
		return fmt.Errorf("-top-p %v: want a probability in (0, 1]", *topP)
	}
	stopText := *stop
	if strings.Contains(stopText, `\`) {
		s, err := strconv.Unquote(`"` + stopText + `"`)
		if err != nil {
			return fmt.Errorf("-stop %q: bad escape: %w", stopText, err)
		}
		stopText = s
	}
	ck, err := nn.OpenCheckpoint(*ckpt)
	if err != nil {
		return err
	}
	if ck.Config == (nn.GPTConfig{}) || ck.Tokenizer == nil {
		return fmt.Errorf("%s: a checkpoint to sample from needs config.json, vocab.json and merges.txt", *ckpt)
	}
	s, err := nn.NewSampler(ck, ck.Config)
	if err != nil {
		return err
	}
	opts := nn.SampleOptions{MaxNewTokens: *n, Temperature: *temp, TopK: *topK, TopP: *topP, Seed: *seed, IgnoreEOT: *ignoreEOT}
	if stopText != "" {
		opts.Stop = []string{stopText}
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	w.WriteString(*prompt)
	t0 := time.Now()
	out, err := s.Generate(ck.Tokenizer, ck.Tokenizer.EncodeString(*prompt), opts, func(text []byte) error {
		if _, err := w.Write(text); err != nil {
			return err
		}
		return w.Flush()
	})
	w.WriteString("\n")
	if err != nil {
		return err
	}
	w.Flush()
	d := time.Since(t0)
	fmt.Fprintf(stderr, "%d tokens in %.2fs (%.1f tok/s)\n", len(out), d.Seconds(), float64(len(out))/d.Seconds())
	return nil
}

func runGPTEval(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gpt eval", flag.ContinueOnError)
	ckpt := fs.String("ckpt", "gpt-ckpt", "checkpoint folder")
	data := fs.String("data", "", "comma-separated files and folders (default: the checkpoint's training data, or the Go sources)")
	ext := fs.String("ext", "", "take only files ending in this from -data folders")
	valEvery := fs.Int("val-every", 0, "every n-th file is validation (default: the checkpoint's, or 20)")
	valTokens := fs.Int("val-tokens", 0, "validation tokens, in windows spread over the split (0: all)")
	batch := fs.Int("batch", 16, "windows per forward pass")
	seq := fs.Int("seq", 0, "tokens per window (default: the checkpoint's training length, or its context)")
	threads := fs.Int("threads", 0, "CPU threads (0: all cores)")
	dev := fs.String("device", "", "cpu or cuda (default: cuda when built with it and a GPU is present, else cpu)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gotrain gpt eval [flags]\n\nPrints a checkpoint's validation loss, perplexity and bits per byte, next to gzip -9's.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if *batch < 1 || *valTokens < 0 || *seq < 0 || *valEvery < 0 || *valEvery == 1 {
		return fmt.Errorf("-batch must be >= 1, -val-tokens and -seq >= 0, -val-every 0 or >= 2")
	}
	ck, err := nn.OpenCheckpoint(*ckpt)
	if err != nil {
		return err
	}
	cfg := ck.Config
	if cfg == (nn.GPTConfig{}) || ck.Tokenizer == nil {
		return fmt.Errorf("%s: a checkpoint to evaluate needs config.json, vocab.json and merges.txt", *ckpt)
	}
	meta := ck.Metadata
	if *data == "" && *ext == "" {
		*data, *ext = meta["data.paths"], meta["data.ext"]
	}
	if *valEvery == 0 {
		*valEvery = textdata.DefaultValEvery
		if v, err := strconv.Atoi(meta["data.val_every"]); err == nil {
			*valEvery = v
		}
	}
	T := *seq
	if T == 0 {
		T = cfg.Context
		if v, err := strconv.Atoi(meta["train.seq"]); err == nil && v > 0 && v <= cfg.Context {
			T = v
		}
	}
	if T > cfg.Context {
		return fmt.Errorf("-seq %d: longer than the model's context of %d", T, cfg.Context)
	}
	corpus, err := loadCorpus(*data, *ext, *valEvery, stdout)
	if err != nil {
		return err
	}
	t0 := time.Now()
	val := textdata.Encode(ck.Tokenizer, corpus.Val, 0)
	fmt.Fprintf(stdout, "tokens: %s validation, encoded in %v\n", thousands(float64(len(val.IDs))), time.Since(t0).Round(time.Millisecond))
	set, err := newEvalSet(val.IDs, ck.Tokenizer, *batch, T, *valTokens)
	if err != nil {
		return err
	}
	be, closeBackend, err := openBackend(*dev, *threads)
	if err != nil {
		return err
	}
	defer closeBackend()
	p, loss, err := buildEval(be, cfg, *batch, T, nil)
	if err != nil {
		return err
	}
	if err := ck.LoadWeights(p); err != nil {
		return err
	}
	t0 = time.Now()
	l, err := set.loss(p, loss)
	if err != nil {
		return err
	}
	bpb := set.bitsPerByte(l)
	gz, raw, packed := gzipBitsPerByte(corpus.Val)
	fmt.Fprintf(stdout, "validation loss %.4f nats/token, perplexity %.2f, %.3f bits/byte (%s tokens, %s bytes, in %v, step %d)\n",
		l, math.Exp(l), bpb, thousands(float64(set.predicted())), thousands(float64(set.bytes)), time.Since(t0).Round(time.Millisecond), ck.Step)
	fmt.Fprintf(stdout, "gzip -9 on the validation text: %.3f bits/byte (%s -> %s bytes)\n", gz, thousands(float64(raw)), thousands(float64(packed)))
	return nil
}

// printProfile prints where the profiled steps' time went, by op and pass.
func printProfile(w io.Writer, prof []graph.OpTime, steps int) {
	var total time.Duration
	for _, o := range prof {
		total += o.Time
	}
	fmt.Fprintf(w, "profile of %d steps (each op synchronised, so %.1f ms/step here is more than a real step):\n",
		steps, float64(total.Microseconds())/1e3/float64(steps))
	fmt.Fprintf(w, "  %-28s %8s %12s %7s\n", "op", "calls", "ms/step", "share")
	for _, o := range prof {
		fmt.Fprintf(w, "  %-28s %8d %12.3f %6.1f%%\n", o.Op, o.Calls/steps,
			float64(o.Time.Microseconds())/1e3/float64(steps), 100*float64(o.Time)/float64(total))
	}
}
