package tokenizer

import (
	"errors"
	"fmt"
	"io"
	"slices"
)

// TrainOptions tunes Train. The zero value is the default.
type TrainOptions struct {
	// MinFrequency stops training when the most frequent pair occurs fewer
	// times; 0 means 2 (a pair seen once is never merged).
	MinFrequency int
	// ChunkSize is how many bytes of the corpus are read at a time; 0 means
	// 1 MiB.
	ChunkSize int
}

// Train learns a byte-level BPE tokenizer of vocabSize tokens from corpus:
// 256 byte tokens (with GPT-2's ids), vocabSize-257 merges and
// "<|endoftext|>" last. If no pair occurs MinFrequency times before that,
// training stops early and the vocabulary is smaller (VocabSize tells).
//
// The corpus is split by the pre-tokeniser and merges never cross pieces,
// as in GPT-2. Each distinct piece is a "word" with its count. Training then
// repeats: take the most frequent adjacent pair of tokens over all words
// (ties go to the pair of smaller ids, left then right), make it a token,
// and rewrite the words that hold it. Pair counts are kept in a map and
// updated only where a merge changes a word; a max-heap with lazy deletion
// finds the most frequent pair, and each pair keeps the list of words it
// may occur in, so a merge touches only those words.
func Train(corpus io.Reader, vocabSize int, opts TrainOptions) (*Tokenizer, error) {
	if vocabSize < 257 {
		return nil, fmt.Errorf("tokenizer: Train: vocabSize %d, want >= 257 (256 bytes and %q)", vocabSize, EndOfText)
	}
	minFreq := int64(opts.MinFrequency)
	if minFreq <= 0 {
		minFreq = 2
	}
	chunk := opts.ChunkSize
	if chunk <= 0 {
		chunk = 1 << 20
	}
	chunk = max(chunk, 4*chunkMargin)

	// Count the pieces.
	pieceIdx := map[string]int32{}
	var words [][]int32 // piece -> its tokens (bytes at first)
	var counts []int64  // piece -> occurrences
	var byteID [256]int32
	for id, b := range byteOrder {
		byteID[b] = int32(id)
	}
	add := func(p []byte) {
		if i, ok := pieceIdx[string(p)]; ok {
			counts[i]++
			return
		}
		pieceIdx[string(p)] = int32(len(words))
		w := make([]int32, len(p))
		for k, b := range p {
			w[k] = byteID[b]
		}
		words = append(words, w)
		counts = append(counts, 1)
	}
	buf := make([]byte, 0, chunk)
	for eof := false; !eof; {
		n, err := io.ReadFull(corpus, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			eof = true
		} else if err != nil {
			return nil, fmt.Errorf("tokenizer: Train: reading the corpus: %w", err)
		}
		pos := 0
		for pos < len(buf) {
			n := pieceLen(buf[pos:])
			if !eof && pos+n+chunkMargin > len(buf) {
				break // the piece may go on in the next chunk
			}
			add(buf[pos : pos+n])
			pos += n
		}
		rest := copy(buf, buf[pos:])
		buf = buf[:rest]
		if rest > cap(buf)/2 {
			// A single piece longer than half the buffer: grow it.
			buf = slices.Grow(buf, cap(buf))
		}
	}
	pieceIdx = nil

	tokens := make([][]byte, 256, vocabSize)
	for id, b := range byteOrder {
		tokens[id] = []byte{b}
	}
	tr := trainer{
		words:  words,
		counts: counts,
		pairs:  map[uint64]int64{},
		where:  map[uint64][]int32{},
		stamp:  make([]int32, len(words)),
	}
	tr.countPairs()

	var order [][2]int32
	for len(tokens) < vocabSize-1 {
		key, n, ok := tr.best()
		if !ok || n < minFreq {
			break
		}
		left, right := int32(key>>32), int32(uint32(key))
		id := int32(len(tokens))
		tok := make([]byte, 0, len(tokens[left])+len(tokens[right]))
		tokens = append(tokens, append(append(tok, tokens[left]...), tokens[right]...))
		order = append(order, [2]int32{left, right})
		tr.merge(key, left, right, id, int32(len(order)))
	}

	t, err := newTokenizer(tokens)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: Train: %w", err)
	}
	for _, p := range order {
		if err := t.addMerge(p[0], p[1]); err != nil {
			return nil, fmt.Errorf("tokenizer: Train: %w", err)
		}
	}
	t.finish()
	return t, nil
}

// trainer holds the state of Train's merge loop.
type trainer struct {
	words  [][]int32           // distinct pieces, as tokens
	counts []int64             // occurrences of each word
	pairs  map[uint64]int64    // pair -> occurrences over all words
	where  map[uint64][]int32  // pair -> words it may occur in (a superset; may repeat)
	heap   []heapPair          // max-heap by count, then smaller pair
	stamp  []int32             // word -> last merge that visited it
	fresh  map[uint64]struct{} // pairs made by the current merge
}

type heapPair struct {
	n   int64
	key uint64
}

func (a heapPair) before(b heapPair) bool { return a.n > b.n || (a.n == b.n && a.key < b.key) }

func (tr *trainer) countPairs() {
	for w, toks := range tr.words {
		c := tr.counts[w]
		for i := 0; i+1 < len(toks); i++ {
			k := pairKey(toks[i], toks[i+1])
			tr.pairs[k] += c
			tr.addWhere(k, int32(w))
		}
	}
	for k, n := range tr.pairs {
		tr.heap = append(tr.heap, heapPair{n, k})
	}
	for i := len(tr.heap)/2 - 1; i >= 0; i-- {
		tr.down(i)
	}
	tr.fresh = map[uint64]struct{}{}
}

func (tr *trainer) addWhere(k uint64, w int32) {
	l := tr.where[k]
	if len(l) == 0 || l[len(l)-1] != w {
		tr.where[k] = append(l, w)
	}
}

// best pops the most frequent pair, skipping and refreshing stale entries.
func (tr *trainer) best() (uint64, int64, bool) {
	for len(tr.heap) > 0 {
		top := tr.pop()
		cur := tr.pairs[top.key]
		if cur == top.n {
			return top.key, cur, true
		}
		if cur > 0 {
			tr.push(heapPair{cur, top.key})
		}
	}
	return 0, 0, false
}

// merge replaces every occurrence of (left, right) by id in the words that
// hold it, left to right, and updates the pair counts. stamp is a number
// unique to this merge (> 0).
func (tr *trainer) merge(key uint64, left, right, id, stamp int32) {
	list := tr.where[key]
	delete(tr.where, key)
	delete(tr.pairs, key)
	clear(tr.fresh)
	for _, w := range list {
		if tr.stamp[w] == stamp {
			continue
		}
		tr.stamp[w] = stamp
		toks := tr.words[w]
		c := tr.counts[w]
		out := 0
		for r := 0; r < len(toks); out++ {
			if r+1 < len(toks) && toks[r] == left && toks[r+1] == right {
				// Pairs with the neighbours change: (p, left) becomes (p, id)
				// and (right, n) becomes (id, n). The left neighbour is read
				// from the output, so it is id if the previous pair merged.
				if out > 0 {
					p := toks[out-1]
					tr.sub(pairKey(p, left), c)
					tr.addFresh(pairKey(p, id), c, int32(w))
				}
				if r+2 < len(toks) {
					n := toks[r+2]
					tr.sub(pairKey(right, n), c)
					tr.addFresh(pairKey(id, n), c, int32(w))
				}
				toks[out] = id
				r += 2
			} else {
				toks[out] = toks[r]
				r++
			}
		}
		tr.words[w] = toks[:out]
	}
	for k := range tr.fresh {
		if n := tr.pairs[k]; n > 0 {
			tr.push(heapPair{n, k})
		}
	}
}

func (tr *trainer) sub(k uint64, c int64) {
	if n := tr.pairs[k] - c; n > 0 {
		tr.pairs[k] = n
	} else {
		delete(tr.pairs, k)
	}
}

func (tr *trainer) addFresh(k uint64, c int64, w int32) {
	tr.pairs[k] += c
	tr.addWhere(k, w)
	tr.fresh[k] = struct{}{}
}

func (tr *trainer) push(x heapPair) {
	tr.heap = append(tr.heap, x)
	i := len(tr.heap) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !x.before(tr.heap[p]) {
			break
		}
		tr.heap[i] = tr.heap[p]
		i = p
	}
	tr.heap[i] = x
}

func (tr *trainer) pop() heapPair {
	top := tr.heap[0]
	last := len(tr.heap) - 1
	tr.heap[0] = tr.heap[last]
	tr.heap = tr.heap[:last]
	if last > 0 {
		tr.down(0)
	}
	return top
}

func (tr *trainer) down(i int) {
	h := tr.heap
	x := h[i]
	for {
		c := 2*i + 1
		if c >= len(h) {
			break
		}
		if c+1 < len(h) && h[c+1].before(h[c]) {
			c++
		}
		if !h[c].before(x) {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = x
}
