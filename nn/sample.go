package nn

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"unicode/utf8"

	"gorgonia.org/tensor"

	"github.com/gotrain/gotrain/graph"
	"github.com/gotrain/gotrain/nn/tokenizer"
)

// ParamSource gives a parameter's values by name; *graph.Program is one.
type ParamSource interface {
	Param(name string) (*tensor.Dense, error)
}

// samplerLayer is one block's weights on the host, in the graph's layouts
// (Linear weights [in, out]), and its key/value cache.
type samplerLayer struct {
	ln1w, ln1b   []float32 // (C)
	attnW, attnB []float32 // (C, 3C), (3C)
	projW, projB []float32 // (C, C), (C)
	ln2w, ln2b   []float32 // (C)
	fcW, fcB     []float32 // (C, 4C), (4C)
	fcpW, fcpB   []float32 // (4C, C), (C)
	k, v         []float32 // (maxT, C): keys and values of the cached positions
}

// Sampler runs a GPT one token at a time on the host with a key/value
// cache: each new token computes only its own position's queries, keys and
// values, and attends over the cached keys and values of the earlier
// positions. It copies the weights once (NewSampler) and computes in
// float32 as the graph does (layer norm statistics in float64), so its
// logits agree with the graph's forward pass to rounding. A Sampler is used
// from one goroutine.
type Sampler struct {
	cfg                  GPTConfig
	wte, wpe, lnfW, lnfB []float32 // (V, C), (maxT, C), (C), (C)
	layers               []samplerLayer
	pos                  int // positions in the cache

	x, h, qkv, att, fc []float32 // (C), (C), (3C), (C), (4C)
	scores, logits     []float32 // (maxT), (V)
	probs              []float64 // (V)
	order              []int32   // (V)
}

// NewSampler copies the weights of a GPT of config cfg from src (a Program
// holding a model built by NewGPT, or anything with the same parameter
// names), checking each one's size.
func NewSampler(src ParamSource, cfg GPTConfig) (*Sampler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	C, V, maxT := cfg.Channels, cfg.Vocab, cfg.Context
	s := &Sampler{cfg: cfg}
	var err error
	get := func(name string, size int) []float32 {
		if err != nil {
			return nil
		}
		t, e := src.Param(name)
		if e != nil {
			err = fmt.Errorf("sampler: %w", e)
			return nil
		}
		v := t.Float32s()
		if len(v) != size {
			err = fmt.Errorf("sampler: parameter %q has %d values %v, want %d for config %+v", name, len(v), graph.Shape(t.Shape()), size, cfg)
			return nil
		}
		return v
	}
	s.wte = get("transformer.wte.weight", V*C)
	s.wpe = get("transformer.wpe.weight", maxT*C)
	for l := 0; l < cfg.Layers; l++ {
		p := fmt.Sprintf("transformer.h.%d.", l)
		s.layers = append(s.layers, samplerLayer{
			ln1w: get(p+"ln_1.weight", C), ln1b: get(p+"ln_1.bias", C),
			attnW: get(p+"attn.c_attn.weight", C*3*C), attnB: get(p+"attn.c_attn.bias", 3*C),
			projW: get(p+"attn.c_proj.weight", C*C), projB: get(p+"attn.c_proj.bias", C),
			ln2w: get(p+"ln_2.weight", C), ln2b: get(p+"ln_2.bias", C),
			fcW: get(p+"mlp.c_fc.weight", C*4*C), fcB: get(p+"mlp.c_fc.bias", 4*C),
			fcpW: get(p+"mlp.c_proj.weight", 4*C*C), fcpB: get(p+"mlp.c_proj.bias", C),
			k: make([]float32, maxT*C), v: make([]float32, maxT*C),
		})
	}
	s.lnfW = get("transformer.ln_f.weight", C)
	s.lnfB = get("transformer.ln_f.bias", C)
	if err != nil {
		return nil, err
	}
	s.x, s.h, s.qkv, s.att, s.fc = make([]float32, C), make([]float32, C), make([]float32, 3*C), make([]float32, C), make([]float32, 4*C)
	s.scores, s.logits = make([]float32, maxT), make([]float32, V)
	s.probs, s.order = make([]float64, V), make([]int32, V)
	return s, nil
}

// Config is the model's configuration.
func (s *Sampler) Config() GPTConfig { return s.cfg }

// Len is the number of positions in the cache.
func (s *Sampler) Len() int { return s.pos }

// Reset empties the cache.
func (s *Sampler) Reset() { s.pos = 0 }

// Step appends token id at the next position and returns the logits [V] of
// the token after it. The slice is overwritten by the next Step. It fails
// when the cache holds Context positions already, or id is out of range.
func (s *Sampler) Step(id int32) ([]float32, error) {
	cfg := s.cfg
	C, NH, t := cfg.Channels, cfg.Heads, s.pos
	if t >= cfg.Context {
		return nil, fmt.Errorf("sampler: step at position %d: the context holds %d positions", t, cfg.Context)
	}
	if id < 0 || int(id) >= cfg.Vocab {
		return nil, fmt.Errorf("sampler: token %d is out of range [0, %d)", id, cfg.Vocab)
	}
	HS := C / NH
	scale := float32(1 / math.Sqrt(float64(HS)))
	x := s.x
	for c := 0; c < C; c++ {
		x[c] = s.wte[int(id)*C+c] + s.wpe[t*C+c]
	}
	for i := range s.layers {
		l := &s.layers[i]
		layerNorm(s.h, x, l.ln1w, l.ln1b)
		matVec(s.qkv, s.h, l.attnW, l.attnB)
		copy(l.k[t*C:(t+1)*C], s.qkv[C:2*C])
		copy(l.v[t*C:(t+1)*C], s.qkv[2*C:3*C])
		for h := 0; h < NH; h++ {
			q := s.qkv[h*HS : (h+1)*HS]
			m := float32(math.Inf(-1))
			for t2 := 0; t2 <= t; t2++ {
				sc := dot(q, l.k[t2*C+h*HS:t2*C+(h+1)*HS]) * scale
				s.scores[t2] = sc
				m = max(m, sc)
			}
			var z float32
			for t2 := 0; t2 <= t; t2++ {
				e := float32(math.Exp(float64(s.scores[t2] - m)))
				s.scores[t2] = e
				z += e
			}
			out := s.att[h*HS : (h+1)*HS]
			clear(out)
			for t2 := 0; t2 <= t; t2++ {
				p := s.scores[t2] / z
				vv := l.v[t2*C+h*HS : t2*C+(h+1)*HS]
				for i := range out {
					out[i] += p * vv[i]
				}
			}
		}
		matVecAdd(x, s.att, l.projW, l.projB)
		layerNorm(s.h, x, l.ln2w, l.ln2b)
		matVec(s.fc, s.h, l.fcW, l.fcB)
		for i, v := range s.fc {
			s.fc[i] = gelu(v)
		}
		matVecAdd(x, s.fc, l.fcpW, l.fcpB)
	}
	layerNorm(s.h, x, s.lnfW, s.lnfB)
	for v := range s.logits {
		s.logits[v] = dot(s.h, s.wte[v*C:(v+1)*C])
	}
	s.pos++
	return s.logits, nil
}

// layerNorm: out = (x-μ)/sqrt(σ²+1e-5)·w + b, the biased variance.
func layerNorm(out, x, w, b []float32) {
	var sum float64
	for _, v := range x {
		sum += float64(v)
	}
	mean := sum / float64(len(x))
	var ss float64
	for _, v := range x {
		d := float64(v) - mean
		ss += d * d
	}
	rstd := float32(1 / math.Sqrt(ss/float64(len(x))+1e-5))
	m := float32(mean)
	for i, v := range x {
		out[i] = (v-m)*rstd*w[i] + b[i]
	}
}

// matVec: y = x·W + b, W [len(x), len(y)].
func matVec(y, x, w, b []float32) {
	copy(y, b)
	matVecAdd(y, x, w, nil)
}

// matVecAdd: y += x·W + b (b may be nil).
func matVecAdd(y, x, w, b []float32) {
	n := len(y)
	for i, xi := range x {
		row := w[i*n : (i+1)*n]
		for j, wij := range row {
			y[j] += xi * wij
		}
	}
	for j, bj := range b {
		y[j] += bj
	}
}

func dot(a, b []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// gelu is GELU with the tanh approximation, as the graph's.
func gelu(x float32) float32 {
	const k = 0.7978845608028654 // sqrt(2/π)
	xf := float64(x)
	return float32(0.5 * xf * (1 + math.Tanh(k*(xf+0.044715*xf*xf*xf))))
}

// SampleOptions tunes Generate.
type SampleOptions struct {
	// MaxNewTokens bounds the tokens generated; 0 means 256.
	MaxNewTokens int
	// Temperature divides the logits; 0 (or less) picks the most likely
	// token every time (greedy decoding).
	Temperature float64
	// TopK keeps only the K most likely tokens; 0 keeps all.
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probability
	// reaches TopP (nucleus sampling); 0 or >= 1 keeps all.
	TopP float64
	// Seed seeds the draws: the same seed, prompt and model give the same
	// text.
	Seed uint64
	// Stop ends generation when the generated text contains one of these
	// strings; the text from the stop string on is not emitted.
	Stop []string
	// IgnoreEOT keeps generating after the end-of-text token (which is
	// then emitted as text); by default it ends generation.
	IgnoreEOT bool
}

// Generate continues prompt (an empty one starts from the end-of-text
// token, as GPT-2 does unconditionally) and streams the generated text to
// emit as it is decoded: pieces are whole UTF-8 characters, and text that
// might begin a stop string is held back until it is known not to. It
// returns the generated tokens (the prompt excluded). Generation ends after
// MaxNewTokens tokens, at the end-of-text token, or at a stop string. When
// the context fills, the cache is rebuilt from the last half of the
// context and generation goes on. An error from emit ends it and is
// returned.
func (s *Sampler) Generate(tok *tokenizer.Tokenizer, prompt []int32, opts SampleOptions, emit func(text []byte) error) ([]int32, error) {
	if tok == nil {
		return nil, errors.New("sampler: generate: nil tokenizer")
	}
	if opts.TopK < 0 || opts.TopP < 0 || math.IsNaN(opts.Temperature) || math.IsNaN(opts.TopP) || opts.MaxNewTokens < 0 {
		return nil, fmt.Errorf("sampler: generate: options %+v: want TopK, TopP and MaxNewTokens >= 0", opts)
	}
	maxNew := opts.MaxNewTokens
	if maxNew == 0 {
		maxNew = 256
	}
	eot := tok.EOT()
	if len(prompt) == 0 {
		prompt = []int32{eot}
	}
	limit := min(s.cfg.Vocab, tok.VocabSize()) // sample only tokens the tokenizer can decode
	history := append([]int32(nil), prompt...)
	if len(history) > s.cfg.Context-1 {
		history = history[len(history)-(s.cfg.Context-1):]
	}
	s.Reset()
	var logits []float32
	var err error
	for _, id := range history {
		if logits, err = s.Step(id); err != nil {
			return nil, err
		}
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x73616d706c65)) // "sample"
	var out []int32
	var pending []byte
	stopped := false
	for len(out) < maxNew && !stopped {
		id := s.pick(logits[:limit], opts, rng)
		out = append(out, id)
		if id == eot && !opts.IgnoreEOT {
			break
		}
		pending = append(pending, tok.Token(id)...)
		var ready []byte
		ready, pending, stopped = splitPending(pending, opts.Stop)
		if len(ready) > 0 {
			if err := emit(ready); err != nil {
				return out, err
			}
		}
		if stopped || len(out) == maxNew {
			break
		}
		history = append(history, id)
		if s.pos == s.cfg.Context {
			keep := history[len(history)-max(s.cfg.Context/2, 1):]
			s.Reset()
			for _, k := range keep[:len(keep)-1] {
				if _, err := s.Step(k); err != nil {
					return out, err
				}
			}
		}
		if logits, err = s.Step(id); err != nil {
			return out, err
		}
	}
	if !stopped && len(pending) > 0 {
		if err := emit(pending); err != nil {
			return out, err
		}
	}
	return out, nil
}

// splitPending returns the part of pending that can be emitted, the part
// held back, and whether a stop string was found (then ready is the text
// before it and nothing is held). Held back: a suffix that is a proper
// prefix of a stop string, and an incomplete UTF-8 sequence at the end.
func splitPending(pending []byte, stops []string) (ready, rest []byte, stopped bool) {
	cut := -1
	for _, st := range stops {
		if st == "" {
			continue
		}
		if i := bytes.Index(pending, []byte(st)); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	if cut >= 0 {
		return pending[:cut], nil, true
	}
	hold := 0
	for _, st := range stops {
		for n := min(len(st)-1, len(pending)); n > hold; n-- {
			if bytes.HasSuffix(pending, []byte(st[:n])) {
				hold = n
				break
			}
		}
	}
	// An incomplete UTF-8 sequence at the end (at most 3 bytes of one).
	for n := 1; n <= 3 && n <= len(pending); n++ {
		b := pending[len(pending)-n]
		if b < 0x80 {
			break
		}
		if utf8.RuneStart(b) {
			if !utf8.FullRune(pending[len(pending)-n:]) {
				hold = max(hold, n)
			}
			break
		}
	}
	k := len(pending) - hold
	ready = append([]byte(nil), pending[:k]...)
	rest = append(pending[:0], pending[k:]...)
	return ready, rest, false
}

// pick draws the next token from logits with the options' temperature,
// top-k and top-p.
func (s *Sampler) pick(logits []float32, o SampleOptions, rng *rand.Rand) int32 {
	if o.Temperature <= 0 {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		return int32(best)
	}
	V := len(logits)
	m := float32(math.Inf(-1))
	for _, v := range logits {
		m = max(m, v)
	}
	probs := s.probs[:V]
	for i, v := range logits {
		probs[i] = math.Exp(float64(v-m) / o.Temperature)
	}
	cand := s.order[:V]
	for i := range cand {
		cand[i] = int32(i)
	}
	if (o.TopK > 0 && o.TopK < V) || (o.TopP > 0 && o.TopP < 1) {
		slices.SortFunc(cand, func(a, b int32) int {
			switch {
			case probs[a] > probs[b]:
				return -1
			case probs[a] < probs[b]:
				return 1
			}
			return int(a - b)
		})
		if o.TopK > 0 && o.TopK < len(cand) {
			cand = cand[:o.TopK]
		}
		if o.TopP > 0 && o.TopP < 1 {
			var total float64
			for _, i := range cand {
				total += probs[i]
			}
			var cum float64
			for k, i := range cand {
				cum += probs[i]
				if cum >= o.TopP*total {
					cand = cand[:k+1]
					break
				}
			}
		}
	}
	var total float64
	for _, i := range cand {
		total += probs[i]
	}
	u := rng.Float64() * total
	for _, i := range cand {
		u -= probs[i]
		if u < 0 {
			return i
		}
	}
	return cand[len(cand)-1]
}
