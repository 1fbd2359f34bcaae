package tokenizer

import (
	"bytes"
	"fmt"
	"sync/atomic"
)

// EndOfText is GPT-2's end-of-text special token.
const EndOfText = "<|endoftext|>"

// merge is one entry of the merge table: the pair it joins (packed as
// left<<32 | right in the map key), its rank (line order in merges.txt, 0
// first) and the token it makes.
type merge struct {
	rank   int32
	result int32
}

func pairKey(left, right int32) uint64 { return uint64(uint32(left))<<32 | uint64(uint32(right)) }

// Tokenizer is a byte-level BPE tokenizer. It is safe for concurrent use.
type Tokenizer struct {
	tokens  [][]byte         // id -> the bytes of the token
	ids     map[string]int32 // bytes of a token -> id
	byteID  [256]int32       // byte -> id of its one-byte token
	merges  map[uint64]merge // pair -> rank and result
	order   [][2]int32       // rank -> pair, for Save
	special map[string]int32 // special tokens, by text
	eot     int32            // id of EndOfText
	wellOrd bool             // see checkOrder
	cache   atomic.Pointer[pieceCache]
}

// Cache limits: pieces longer than maxCachedPiece bytes are not cached, and
// the cache holds at most defaultCacheEntries pieces (see pieceCache).
const (
	maxCachedPiece      = 64
	defaultCacheEntries = 1 << 17
)

// newTokenizer starts a tokenizer from its tokens, indexed by id; the
// caller then adds the merges in rank order (addMerge) and calls finish.
// Errors do not name a file; callers add it.
func newTokenizer(tokens [][]byte) (*Tokenizer, error) {
	t := &Tokenizer{
		tokens:  tokens,
		ids:     make(map[string]int32, len(tokens)),
		merges:  make(map[uint64]merge),
		special: make(map[string]int32),
		eot:     -1,
	}
	t.cache.Store(newPieceCache(defaultCacheEntries))
	for id, tok := range tokens {
		if prev, dup := t.ids[string(tok)]; dup {
			return nil, fmt.Errorf("tokens %d and %d are both %q", prev, id, tok)
		}
		t.ids[string(tok)] = int32(id)
	}
	for b := 0; b < 256; b++ {
		id, ok := t.ids[string([]byte{byte(b)})]
		if !ok {
			return nil, fmt.Errorf("no token for byte 0x%02x (%q in GPT-2's text form)", b, byteToRune[b])
		}
		t.byteID[b] = id
	}
	return t, nil
}

// addMerge appends the merge of left and right to the table, with the next
// rank.
func (t *Tokenizer) addMerge(left, right int32) error {
	k := pairKey(left, right)
	if m, dup := t.merges[k]; dup {
		return fmt.Errorf("merge %q %q repeats the merge of rank %d", t.tokens[left], t.tokens[right], m.rank)
	}
	joined := make([]byte, 0, len(t.tokens[left])+len(t.tokens[right]))
	joined = append(append(joined, t.tokens[left]...), t.tokens[right]...)
	res, ok := t.ids[string(joined)]
	if !ok {
		return fmt.Errorf("merge %q %q makes %q, which is not in the vocabulary", t.tokens[left], t.tokens[right], joined)
	}
	t.merges[k] = merge{rank: int32(len(t.order)), result: res}
	t.order = append(t.order, [2]int32{left, right})
	return nil
}

// finish sets the special tokens (adding EndOfText at the end if the
// vocabulary lacks it) and checks the order of the merges.
func (t *Tokenizer) finish() {
	id, ok := t.ids[EndOfText]
	if !ok {
		id = int32(len(t.tokens))
		t.tokens = append(t.tokens, []byte(EndOfText))
		t.ids[EndOfText] = id
	}
	t.eot = id
	t.special[EndOfText] = id
	t.wellOrd = t.checkOrder()
}

// checkOrder reports whether every merge's two parts are made only by merges
// of lower rank (or are bytes or never made). Files written by training, as
// GPT-2's, are so ordered; then the fast heap-based merge of long pieces
// gives the same result as GPT-2's pass-by-pass one (see bpeHeap).
func (t *Tokenizer) checkOrder() bool {
	lastMade := make(map[int32]int32, len(t.order)) // token -> highest rank that makes it
	for _, m := range t.merges {
		if r, ok := lastMade[m.result]; !ok || m.rank > r {
			lastMade[m.result] = m.rank
		}
	}
	for rank, p := range t.order {
		for _, part := range p {
			if r, ok := lastMade[part]; ok && r >= int32(rank) {
				return false
			}
		}
	}
	return true
}

// VocabSize returns the number of tokens, special ones included; ids are
// 0..VocabSize()-1.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// NumMerges returns the number of merges.
func (t *Tokenizer) NumMerges() int { return len(t.order) }

// EOT returns the id of the end-of-text token "<|endoftext|>" (50256 for
// GPT-2's files; the last id for a trained tokenizer).
func (t *Tokenizer) EOT() int32 { return t.eot }

// SpecialID returns the id of a special token, such as EndOfText.
func (t *Tokenizer) SpecialID(name string) (int32, bool) {
	id, ok := t.special[name]
	return id, ok
}

// Token returns the bytes of token id (nil if id is out of range). The
// caller must not modify them.
func (t *Tokenizer) Token(id int32) []byte {
	if id < 0 || int(id) >= len(t.tokens) {
		return nil
	}
	return t.tokens[id]
}

// ID returns the id of the token whose bytes are tok.
func (t *Tokenizer) ID(tok []byte) (int32, bool) {
	id, ok := t.ids[string(tok)]
	return id, ok
}

// SetCacheSize empties the cache of encoded pieces and sets how many pieces
// it holds (0 turns it off). The default is 1<<17.
func (t *Tokenizer) SetCacheSize(n int) { t.cache.Store(newPieceCache(n)) }

// Encode returns the tokens of text. Every byte string is encoded, invalid
// UTF-8 included, and Decode(Encode(text)) == text. Special tokens are not
// recognised: "<|endoftext|>" in text is encoded as ordinary text (see
// EncodeSpecial).
func (t *Tokenizer) Encode(text []byte) []int32 {
	return t.AppendEncode(make([]int32, 0, len(text)/3+1), text)
}

// EncodeString is Encode of a string.
func (t *Tokenizer) EncodeString(text string) []int32 { return t.Encode([]byte(text)) }

// AppendEncode appends the tokens of text to dst and returns it.
func (t *Tokenizer) AppendEncode(dst []int32, text []byte) []int32 {
	var scratch [maxCachedPiece]int32
	for len(text) > 0 {
		n := pieceLen(text)
		dst = t.appendPiece(dst, text[:n], scratch[:0])
		text = text[n:]
	}
	return dst
}

// EncodeSpecial is Encode, except that the texts of special tokens
// ("<|endoftext|>") become their ids; the text between them is encoded as by
// Encode.
func (t *Tokenizer) EncodeSpecial(text []byte) []int32 {
	dst := make([]int32, 0, len(text)/3+1)
	for len(text) > 0 {
		at, name := -1, ""
		for s := range t.special {
			if i := bytes.Index(text, []byte(s)); i >= 0 && (at < 0 || i < at || (i == at && len(s) > len(name))) {
				at, name = i, s
			}
		}
		if at < 0 {
			return t.AppendEncode(dst, text)
		}
		dst = t.AppendEncode(dst, text[:at])
		dst = append(dst, t.special[name])
		text = text[at+len(name):]
	}
	return dst
}

// appendPiece appends the tokens of one pre-tokeniser piece.
func (t *Tokenizer) appendPiece(dst []int32, piece []byte, scratch []int32) []int32 {
	switch len(piece) {
	case 1:
		return append(dst, t.byteID[piece[0]])
	case 2: // one look-up of the pair is cheaper than one in the cache
		a, b := t.byteID[piece[0]], t.byteID[piece[1]]
		if m, ok := t.merges[pairKey(a, b)]; ok {
			return append(dst, m.result)
		}
		return append(dst, a, b)
	}
	cache := t.cache.Load()
	cacheable := len(piece) <= maxCachedPiece && cache.cap > 0
	if cacheable {
		if ids, ok := cache.get(piece); ok {
			return append(dst, ids...)
		}
	}
	ids := scratch
	for _, b := range piece {
		ids = append(ids, t.byteID[b])
	}
	if len(ids) > heapMin && t.wellOrd {
		ids = t.bpeHeap(ids)
	} else {
		ids = t.bpeSimple(ids)
	}
	if cacheable {
		cache.put(piece, ids)
	}
	return append(dst, ids...)
}

// heapMin is the piece length (in bytes) above which pieces are merged with
// bpeHeap: the simple loop costs O(n) map look-ups per merge, O(n²) per
// piece, which is faster for short pieces and too slow for long ones.
const heapMin = 48

// bpeSimple merges the tokens of a piece as GPT-2's encoder.py does: find
// the pair of lowest rank, merge all its occurrences from left to right,
// repeat until no pair has a merge. ids is overwritten and returned
// shortened.
func (t *Tokenizer) bpeSimple(ids []int32) []int32 {
	for len(ids) > 1 {
		best := merge{rank: -1}
		var bl, br int32
		for i := 0; i+1 < len(ids); i++ {
			if m, ok := t.merges[pairKey(ids[i], ids[i+1])]; ok && (best.rank < 0 || m.rank < best.rank) {
				best, bl, br = m, ids[i], ids[i+1]
			}
		}
		if best.rank < 0 {
			break
		}
		w := 0
		for r := 0; r < len(ids); w++ {
			if r+1 < len(ids) && ids[r] == bl && ids[r+1] == br {
				ids[w] = best.result
				r += 2
			} else {
				ids[w] = ids[r]
				r++
			}
		}
		ids = ids[:w]
	}
	return ids
}

// bpeHeap merges the tokens of a long piece in O(n log n): the tokens form a
// linked list, and a min-heap holds candidate pairs keyed by (rank,
// position of the left token). Popping the least key merges the leftmost
// occurrence of the lowest-ranked pair; stale entries (a side already merged
// away) are skipped. When merges are ordered (checkOrder), a merge made at
// rank r creates only pairs of rank > r, so all occurrences of rank r are
// merged left to right before any other: the same result as bpeSimple.
func (t *Tokenizer) bpeHeap(ids []int32) []int32 {
	n := len(ids)
	next := make([]int32, n) // -1: last; a removed token has ids[i] = -1
	prev := make([]int32, n)
	for i := range n {
		next[i], prev[i] = int32(i+1), int32(i-1)
	}
	next[n-1] = -1
	h := make(minHeap, 0, n)
	for i := 0; i+1 < n; i++ {
		if m, ok := t.merges[pairKey(ids[i], ids[i+1])]; ok {
			h.push(uint64(m.rank)<<32 | uint64(i))
		}
	}
	for len(h) > 0 {
		e := h.pop()
		rank, i := int32(e>>32), int32(uint32(e))
		j := next[i]
		if ids[i] < 0 || j < 0 {
			continue
		}
		m, ok := t.merges[pairKey(ids[i], ids[j])]
		if !ok || m.rank != rank {
			continue // stale: the pair at i has changed
		}
		ids[i] = m.result
		ids[j] = -1
		k := next[j]
		next[i] = k
		if k >= 0 {
			prev[k] = i
			if m2, ok := t.merges[pairKey(ids[i], ids[k])]; ok {
				h.push(uint64(m2.rank)<<32 | uint64(i))
			}
		}
		if p := prev[i]; p >= 0 {
			if m2, ok := t.merges[pairKey(ids[p], ids[i])]; ok {
				h.push(uint64(m2.rank)<<32 | uint64(p))
			}
		}
	}
	w := 0
	for i := int32(0); i >= 0; i = next[i] {
		ids[w] = ids[i]
		w++
	}
	return ids[:w]
}

// minHeap is a binary min-heap of uint64 keys.
type minHeap []uint64

func (h *minHeap) push(x uint64) {
	*h = append(*h, x)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p] <= x {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = x
}

func (h *minHeap) pop() uint64 {
	s := *h
	top := s[0]
	x := s[len(s)-1]
	s = s[:len(s)-1]
	*h = s
	if len(s) == 0 {
		return top
	}
	i := 0
	for {
		c := 2*i + 1
		if c >= len(s) {
			break
		}
		if c+1 < len(s) && s[c+1] < s[c] {
			c++
		}
		if x <= s[c] {
			break
		}
		s[i] = s[c]
		i = c
	}
	s[i] = x
	return top
}

// Decode returns the bytes of ids. An id out of range is an error naming
// its position.
func (t *Tokenizer) Decode(ids []int32) ([]byte, error) {
	n := 0
	for i, id := range ids {
		if id < 0 || int(id) >= len(t.tokens) {
			return nil, fmt.Errorf("tokenizer: Decode: ids[%d] = %d, want 0 <= id < %d", i, id, len(t.tokens))
		}
		n += len(t.tokens[id])
	}
	return t.AppendDecode(make([]byte, 0, n), ids)
}

// AppendDecode appends the bytes of ids to dst and returns it.
func (t *Tokenizer) AppendDecode(dst []byte, ids []int32) ([]byte, error) {
	for i, id := range ids {
		if id < 0 || int(id) >= len(t.tokens) {
			return dst, fmt.Errorf("tokenizer: Decode: ids[%d] = %d, want 0 <= id < %d", i, id, len(t.tokens))
		}
		dst = append(dst, t.tokens[id]...)
	}
	return dst, nil
}
