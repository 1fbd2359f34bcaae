package tokenizer

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func mergeStrings(tok *Tokenizer) []string {
	var out []string
	for _, p := range tok.order {
		out = append(out, string(tok.Token(p[0]))+"|"+string(tok.Token(p[1])))
	}
	return out
}

func TestTrainHand(t *testing.T) {
	// Pieces: "ab" once, " ab" and " cd" three times each. Counts: a b 4,
	// then c d, " " a, " " c 3 each: ties go to the smaller ids ('c' < ' ').
	tok, err := Train(strings.NewReader("ab ab ab ab cd cd cd"), 300, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a|b", "c|d", " |ab", " |cd"}
	if got := mergeStrings(tok); !slices.Equal(got, want) {
		t.Fatalf("merges %q, want %q", got, want)
	}
	if tok.VocabSize() != 261 || tok.EOT() != 260 {
		t.Fatalf("VocabSize %d EOT %d, want 261, 260", tok.VocabSize(), tok.EOT())
	}
	if got := tokStrings(tok, tok.EncodeString("ab cd abcd")); !slices.Equal(got, []string{"ab", " cd", " ab", "cd"}) {
		t.Fatalf("Encode: %q", got)
	}
	if tok, err := Train(strings.NewReader(""), 300, TrainOptions{}); err != nil || tok.VocabSize() != 257 {
		t.Fatalf("empty corpus: %v", err)
	}
	if _, err := Train(strings.NewReader("x"), 256, TrainOptions{}); err == nil {
		t.Fatal("vocabSize 256: no error")
	}
}

// naiveTrain is the reference: recount every pair over all words before
// each merge.
func naiveTrain(corpus []byte, vocabSize int) [][2]int32 {
	var byteID [256]int32
	for id, b := range byteOrder {
		byteID[b] = int32(id)
	}
	count := map[string]int64{}
	for p := range Pieces(corpus) {
		count[string(p)]++
	}
	var words [][]int32
	var counts []int64
	for p, c := range count {
		w := make([]int32, len(p))
		for i := range len(p) {
			w[i] = byteID[p[i]]
		}
		words = append(words, w)
		counts = append(counts, c)
	}
	var order [][2]int32
	next := int32(256)
	for int(next) < vocabSize-1 {
		pairs := map[uint64]int64{}
		for wi, w := range words {
			for i := 0; i+1 < len(w); i++ {
				pairs[pairKey(w[i], w[i+1])] += counts[wi]
			}
		}
		var best uint64
		var bn int64
		for k, n := range pairs {
			if n > bn || (n == bn && k < best) {
				best, bn = k, n
			}
		}
		if bn < 2 {
			break
		}
		l, r := int32(best>>32), int32(uint32(best))
		order = append(order, [2]int32{l, r})
		for wi, w := range words {
			out := 0
			for i := 0; i < len(w); out++ {
				if i+1 < len(w) && w[i] == l && w[i+1] == r {
					w[out] = next
					i += 2
				} else {
					w[out] = w[i]
					i++
				}
			}
			words[wi] = w[:out]
		}
		next++
	}
	return order
}

func randomCorpus(rng *rand.Rand, n int) []byte {
	words := []string{"a", "aa", "ab", "ba", "abc", "func", "the", "é", "x²", "😀", "'s", "don't", "\xff"}
	seps := []string{" ", " ", " ", "  ", "\n", "\n\n", "\t", ".", ", ", "("}
	var b []byte
	for len(b) < n {
		b = append(b, words[rng.IntN(len(words))]...)
		b = append(b, seps[rng.IntN(len(seps))]...)
	}
	return b
}

// TestTrainMatchesNaive checks the incremental trainer against naiveTrain
// merge by merge, and that the chunk size does not matter.
func TestTrainMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 5 {
		corpus := randomCorpus(rng, 3000+trial*2000)
		if trial == 4 {
			// Real text, if GOROOT is there.
			if corpus = goSource(0, 100<<10); len(corpus) == 0 {
				continue
			}
		}
		want := naiveTrain(corpus, 400)
		for _, chunk := range []int{0, 37} {
			tok, err := Train(bytes.NewReader(corpus), 400, TrainOptions{ChunkSize: chunk})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tok.order, want) {
				n := 0
				for n < min(len(want), len(tok.order)) && want[n] == tok.order[n] {
					n++
				}
				t.Fatalf("trial %d chunk %d: %d merges, naive %d; first difference at %d", trial, chunk, len(tok.order), len(want), n)
			}
			if !tok.wellOrd {
				t.Fatal("trained merges not well ordered")
			}
			back, err := tok.Decode(tok.Encode(corpus))
			if err != nil || !bytes.Equal(back, corpus) {
				t.Fatalf("round trip of the corpus failed: %v", err)
			}
		}
	}
}

// TestTrainSaveLoad checks that a trained tokenizer saved in GPT-2's format
// loads as the same tokenizer and encodes the same.
func TestTrainSaveLoad(t *testing.T) {
	corpus := randomCorpus(rand.New(rand.NewPCG(5, 6)), 20000)
	a, err := Train(bytes.NewReader(corpus), 300, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.VocabSize() != 300 || a.EOT() != 299 {
		t.Fatalf("VocabSize %d EOT %d, want 300, 299", a.VocabSize(), a.EOT())
	}
	dir := t.TempDir()
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	b, err := LoadGPT2Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	sameTokenizer(t, a, b)
	if !slices.Equal(a.Encode(corpus), b.Encode(corpus)) {
		t.Fatal("encodings differ after Save/Load")
	}
}
