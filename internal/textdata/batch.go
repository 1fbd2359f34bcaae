package textdata

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/gotrain/gotrain/nn/tokenizer"
)

// Tokens is a tokenised split: every document's tokens followed by the
// end-of-text token.
type Tokens struct {
	IDs   []int32
	Docs  int   // documents (files)
	Bytes int64 // raw text bytes, separators excluded
}

// Encode tokenises docs with workers goroutines (0: GOMAXPROCS) and joins
// them, each followed by tok's end-of-text token. The result is the same
// for any number of workers.
func Encode(tok *tokenizer.Tokenizer, docs [][]byte, workers int) *Tokens {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	parts := make([][]int32, len(docs))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(workers, max(len(docs), 1)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				parts[i] = tok.Encode(docs[i])
			}
		}()
	}
	for i := range docs {
		next <- i
	}
	close(next)
	wg.Wait()
	t := &Tokens{Docs: len(docs)}
	n := 0
	for i, p := range parts {
		n += len(p) + 1
		t.Bytes += int64(len(docs[i]))
	}
	t.IDs = make([]int32, 0, n)
	eot := tok.EOT()
	for _, p := range parts {
		t.IDs = append(t.IDs, p...)
		t.IDs = append(t.IDs, eot)
	}
	return t
}

// Loader serves training batches of random windows (see the package doc).
// Its buffers are reused: Next allocates nothing.
type Loader struct {
	ids     []int32
	B, T    int
	seed    uint64
	pos     uint64
	pcg     rand.PCG
	rng     *rand.Rand
	tokens  []int32 // [B, T]
	targets []int32 // [B, T]
}

// NewLoader returns a loader of batches [B, T] over ids, which must hold at
// least T+1 tokens.
func NewLoader(ids []int32, B, T int, seed uint64) (*Loader, error) {
	if B < 1 || T < 1 {
		return nil, fmt.Errorf("textdata: loader of B = %d, T = %d: want positive sizes", B, T)
	}
	if len(ids) < T+1 {
		return nil, fmt.Errorf("textdata: loader of T = %d: the split has %d tokens, want at least T+1 = %d", T, len(ids), T+1)
	}
	l := &Loader{ids: ids, B: B, T: T, seed: seed, tokens: make([]int32, B*T), targets: make([]int32, B*T)}
	l.rng = rand.New(&l.pcg)
	return l, nil
}

// Pos is the number of batches served: with the seed, the loader's state.
func (l *Loader) Pos() uint64 { return l.pos }

// SetPos makes the next batch the one the loader serves after pos batches.
func (l *Loader) SetPos(pos uint64) { l.pos = pos }

// Seed is the seed the windows are drawn from.
func (l *Loader) Seed() uint64 { return l.seed }

// Next fills and returns the next batch's tokens and targets, [B, T] each,
// row-major. The slices are reused by the next call.
func (l *Loader) Next() (tokens, targets []int32) {
	l.pcg.Seed(l.seed, l.pos^0x7465787464617461) // "textdata"
	l.pos++
	span := len(l.ids) - l.T // starts 0..len-T-1
	for b := 0; b < l.B; b++ {
		s := l.rng.IntN(span)
		copy(l.tokens[b*l.T:(b+1)*l.T], l.ids[s:s+l.T])
		copy(l.targets[b*l.T:(b+1)*l.T], l.ids[s+1:s+l.T+1])
	}
	return l.tokens, l.targets
}

// Windows is a fixed sequence of validation windows over a split.
type Windows struct {
	ids    []int32
	T      int
	Starts []int // window i is ids[Starts[i] : Starts[i]+T+1]
}

// NewWindows returns n windows of T+1 tokens spread evenly over ids, the
// first at 0 and the last at the end (overlapping when more are asked for
// than fit end to end). n <= 0, or exactly as many as fit, gives the
// end-to-end tiling (stride T), which predicts every token but the first
// once. ids must hold at least T+1 tokens.
func NewWindows(ids []int32, T, n int) (*Windows, error) {
	if T < 1 {
		return nil, fmt.Errorf("textdata: windows of T = %d: want T >= 1", T)
	}
	if len(ids) < T+1 {
		return nil, fmt.Errorf("textdata: windows of T = %d: the split has %d tokens, want at least T+1 = %d", T, len(ids), T+1)
	}
	tiled := (len(ids) - 1) / T
	w := &Windows{ids: ids, T: T}
	if n <= 0 || n == tiled {
		for i := 0; i < tiled; i++ {
			w.Starts = append(w.Starts, i*T)
		}
		return w, nil
	}
	last := len(ids) - T - 1
	for i := 0; i < n; i++ {
		s := 0
		if n > 1 {
			s = int(int64(i) * int64(last) / int64(n-1))
		}
		w.Starts = append(w.Starts, s)
	}
	return w, nil
}

// Len is the number of windows.
func (w *Windows) Len() int { return len(w.Starts) }

// Batch fills tokens and targets ([B, T] each, B = len(tokens)/T) with
// windows first, first+1, ...; windows past the end wrap around to the
// first ones. It returns how many of the rows are windows from first on
// before any wrap (the rows to count).
func (w *Windows) Batch(first int, tokens, targets []int32) int {
	B := len(tokens) / w.T
	real := 0
	for b := 0; b < B; b++ {
		i := first + b
		if i < len(w.Starts) {
			real++
		}
		s := w.Starts[i%len(w.Starts)]
		copy(tokens[b*w.T:(b+1)*w.T], w.ids[s:s+w.T])
		copy(targets[b*w.T:(b+1)*w.T], w.ids[s+1:s+w.T+1])
	}
	return real
}

// TargetBytes is the number of text bytes the windows predict: the bytes of
// every target token, special tokens (end of text) counting 0.
func (w *Windows) TargetBytes(tok *tokenizer.Tokenizer) int64 {
	eot := tok.EOT()
	var n int64
	for _, s := range w.Starts {
		for _, id := range w.ids[s+1 : s+w.T+1] {
			if id != eot {
				n += int64(len(tok.Token(id)))
			}
		}
	}
	return n
}

// Text returns the text the windows predict (their targets, end-of-text
// tokens left out), joined.
func (w *Windows) Text(tok *tokenizer.Tokenizer) []byte {
	eot := tok.EOT()
	var out []byte
	for _, s := range w.Starts {
		for _, id := range w.ids[s+1 : s+w.T+1] {
			if id != eot {
				out = append(out, tok.Token(id)...)
			}
		}
	}
	return out
}
