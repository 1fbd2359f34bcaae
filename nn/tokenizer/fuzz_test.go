package tokenizer

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

var fuzzTok = sync.OnceValues(func() (*Tokenizer, error) {
	corpus := randomCorpus(rand.New(rand.NewPCG(7, 8)), 50000)
	corpus = append(corpus, strings.Repeat(" ", 200)+strings.Repeat("ab", 200)...)
	return Train(bytes.NewReader(corpus), 500, TrainOptions{})
})

// FuzzRoundTrip checks, for any byte string, that the pieces cover it and
// do not depend on how it is chunked, and that Decode(Encode(b)) == b with
// a trained tokenizer and with the GPT-2-format fixture, and that the heap
// merge of long pieces agrees with GPT-2's loop. `go test` runs the
// seeds below and those in testdata/fuzz/FuzzRoundTrip; `go test -fuzz
// FuzzRoundTrip` searches for more.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{
		"", " ", "hello world", "   x  \n\n\ty", "don't DON'T 'll'", "\xff\xfe\xc3",
		"\xc3\xa9t\xc3\xa9", "😀 \xf0\x9f\x98", "<|endoftext|>", strings.Repeat("ab", 100),
		strings.Repeat(" ", 100) + "x", "\u3000\u00a0\u2028 x", "x²Ⅻ½", "func main() {\n\treturn\n}\n",
	} {
		f.Add([]byte(s))
	}
	trained, err := fuzzTok()
	if err != nil {
		f.Fatal(err)
	}
	fixture := loadFixture(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var joined []byte
		var ps []string
		for p := range Pieces(data) {
			if len(p) == 0 {
				t.Fatalf("empty piece in %q", data)
			}
			joined = append(joined, p...)
			ps = append(ps, string(p))
		}
		if !bytes.Equal(joined, data) {
			t.Fatalf("pieces of %q join to %q", data, joined)
		}
		// chunkedPieces rescans a piece that spans chunks: quadratic in the
		// length of a piece, so only short inputs.
		for _, chunk := range []int{1, 5} {
			if len(data) > 2048 {
				break
			}
			if got := chunkedPieces(data, chunk); !slices.Equal(got, ps) {
				t.Fatalf("chunk %d of %q: %q, want %q", chunk, data, got, ps)
			}
		}
		// The heap merge agrees with GPT-2's loop on every piece.
		for _, p := range ps {
			if len(p) > 4096 {
				continue // bpeSimple is quadratic
			}
			ids := make([]int32, len(p))
			for i := range len(p) {
				ids[i] = trained.byteID[p[i]]
			}
			a := trained.bpeSimple(slices.Clone(ids))
			if b := trained.bpeHeap(ids); !slices.Equal(a, b) {
				t.Fatalf("piece %q: simple %v, heap %v", p, a, b)
			}
		}
		for _, tok := range []*Tokenizer{trained, fixture} {
			ids := tok.Encode(data)
			back, err := tok.Decode(ids)
			if err != nil || !bytes.Equal(back, data) {
				t.Fatalf("Decode(Encode(%q)) = %q, %v", data, back, err)
			}
		}
	})
}
