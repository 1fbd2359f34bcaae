package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
)

func loadFixture(t testing.TB) *Tokenizer {
	t.Helper()
	tok, err := LoadGPT2Files("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestByteTable(t *testing.T) {
	// Known entries of GPT-2's bytes_to_unicode and of its vocabulary.
	if byteToRune[' '] != 'Ġ' || byteToRune['\n'] != 'Ċ' || byteToRune['a'] != 'a' || byteToRune[0] != 'Ā' || byteToRune[0xAD] != 'Ń' {
		t.Fatalf("byteToRune: ' '=%q '\\n'=%q 'a'=%q 0=%q 0xAD=%q", byteToRune[' '], byteToRune['\n'], byteToRune['a'], byteToRune[0], byteToRune[0xAD])
	}
	if byteOrder[0] != '!' || byteOrder[220] != ' ' || byteOrder[198] != '\n' || byteOrder[255] != 0xAD {
		t.Fatalf("byteOrder: 0=%q 220=%q 198=%q 255=%q", byteOrder[0], byteOrder[220], byteOrder[198], byteOrder[255])
	}
	seen := map[rune]bool{}
	for _, r := range byteToRune {
		if seen[r] {
			t.Fatalf("rune %q twice", r)
		}
		seen[r] = true
	}
}

func TestLoadFixture(t *testing.T) {
	tok := loadFixture(t)
	if tok.VocabSize() != 292 || tok.NumMerges() != 35 {
		t.Fatalf("VocabSize %d, NumMerges %d, want 292, 35", tok.VocabSize(), tok.NumMerges())
	}
	if tok.EOT() != 291 || !bytes.Equal(tok.Token(291), []byte(EndOfText)) {
		t.Fatalf("EOT %d %q", tok.EOT(), tok.Token(tok.EOT()))
	}
	if id, ok := tok.SpecialID(EndOfText); !ok || id != 291 {
		t.Fatalf("SpecialID = %d, %v", id, ok)
	}
	if id, _ := tok.ID([]byte(" ")); id != 220 {
		t.Fatalf("ID(' ') = %d, want 220 as in GPT-2", id)
	}
	if id, _ := tok.ID([]byte("\n")); id != 198 {
		t.Fatalf("ID('\\n') = %d, want 198 as in GPT-2", id)
	}
	if !tok.wellOrd {
		t.Fatal("fixture merges should be well ordered")
	}
}

func tokStrings(tok *Tokenizer, ids []int32) []string {
	var out []string
	for _, id := range ids {
		out = append(out, string(tok.Token(id)))
	}
	return out
}

// TestEncodeHand checks merges worked out by hand from testdata/merges.txt.
func TestEncodeHand(t *testing.T) {
	tok := loadFixture(t)
	cases := []struct {
		in   string
		want []string
	}{
		{"hello world", []string{"hello", " world"}},
		// "e r" has a lower rank than "h e".
		{"her", []string{"h", "er"}},
		{"the", []string{"t", "he"}},
		{" the", []string{" the"}},
		// Overlapping pairs merge left to right: "a a" (rank 20) makes
		// aa aa a, then "aa a" (21) beats "aa aa" (22).
		{"aaaaa", []string{"aa", "aaa"}},
		{"aaaa", []string{"aaaa"}},
		{"aaa", []string{"aaa"}},
		{"don't", []string{"don", "'t"}},
		{"   x", []string{"  ", " ", "x"}},
		{"café", []string{"c", "a", "f", "é"}},
	}
	for _, c := range cases {
		if got := tokStrings(tok, tok.EncodeString(c.in)); !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestEncodeGolden compares with GPT-2's algorithm run in Python
// (testdata/gen_fixture.py).
func TestEncodeGolden(t *testing.T) {
	tok := loadFixture(t)
	f, err := os.Open("testdata/encode_golden.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var c struct {
			Text string  `json:"text"`
			IDs  []int32 `json:"ids"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		n++
		for _, cache := range []int{0, 1 << 10} {
			tok.SetCacheSize(cache)
			got := tok.EncodeString(c.Text)
			if !slices.Equal(got, c.IDs) && len(got)+len(c.IDs) > 0 {
				t.Errorf("cache %d: Encode(%q) = %v, want %v", cache, c.Text, got, c.IDs)
			}
			// Twice: the second comes from the cache.
			if got2 := tok.EncodeString(c.Text); !slices.Equal(got, got2) {
				t.Errorf("cache %d: Encode(%q) twice: %v then %v", cache, c.Text, got, got2)
			}
		}
		back, err := tok.Decode(c.IDs)
		if err != nil || string(back) != c.Text {
			t.Errorf("Decode(%v) = %q, %v, want %q", c.IDs, back, err, c.Text)
		}
	}
	if n < 20 {
		t.Fatalf("read %d golden cases", n)
	}
}

func TestEncodeSpecial(t *testing.T) {
	tok := loadFixture(t)
	got := tok.EncodeSpecial([]byte("hello<|endoftext|>world<|endoftext|>"))
	h, w := tok.EncodeString("hello"), tok.EncodeString("world")
	want := slices.Concat(h, []int32{tok.EOT()}, w, []int32{tok.EOT()})
	if !slices.Equal(got, want) {
		t.Fatalf("EncodeSpecial = %v, want %v", got, want)
	}
	if slices.Contains(tok.EncodeString("<|endoftext|>"), tok.EOT()) {
		t.Fatal("Encode must not produce the EOT id from text")
	}
}

func TestDecodeErrors(t *testing.T) {
	tok := loadFixture(t)
	if _, err := tok.Decode([]int32{1, 2, 292}); err == nil || !strings.Contains(err.Error(), "ids[2] = 292") {
		t.Fatalf("Decode out of range: %v", err)
	}
	if _, err := tok.Decode([]int32{-1}); err == nil {
		t.Fatal("Decode(-1): no error")
	}
}

// TestHeapMatchesSimple checks the O(n log n) merge of long pieces against
// GPT-2's loop, on random strings over a small alphabet so that many merges
// apply, with a trained merge table.
func TestHeapMatchesSimple(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alpha := []byte("aab ")
	var corpus []byte
	for range 20000 {
		corpus = append(corpus, alpha[rng.IntN(len(alpha))])
	}
	tok, err := Train(bytes.NewReader(corpus), 400, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !tok.wellOrd {
		t.Fatal("trained merges are not well ordered")
	}
	for range 300 {
		n := 1 + rng.IntN(300)
		piece := make([]byte, n)
		for i := range piece {
			piece[i] = "ab"[rng.IntN(2)]
		}
		ids := make([]int32, n)
		for i, b := range piece {
			ids[i] = tok.byteID[b]
		}
		a := tok.bpeSimple(slices.Clone(ids))
		b := tok.bpeHeap(slices.Clone(ids))
		if !slices.Equal(a, b) {
			t.Fatalf("piece %q: simple %v, heap %v", piece, a, b)
		}
	}
}

// TestIllOrdered checks that a merge table whose merges use tokens made by
// later merges is detected, and that long pieces then use GPT-2's loop,
// since the heap merge would differ: in "abcbc" GPT-2 merges both "b c"
// (rank 2) first, giving "abc" "bc"; the heap merges the first "b c", then
// "a bc" (rank 0) and "abc b" (rank 1), which takes the b of the second
// "b c", giving "abcb" "c".
func TestIllOrdered(t *testing.T) {
	toks := make([][]byte, 256)
	for id, b := range byteOrder {
		toks[id] = []byte{b}
	}
	for _, s := range []string{"bc", "abc", "abcb"} {
		toks = append(toks, []byte(s))
	}
	tk, err := newTokenizer(toks)
	if err != nil {
		t.Fatal(err)
	}
	id := func(s string) int32 { i, _ := tk.ID([]byte(s)); return i }
	for _, p := range [][2]string{{"a", "bc"}, {"abc", "b"}, {"b", "c"}} {
		if err := tk.addMerge(id(p[0]), id(p[1])); err != nil {
			t.Fatal(err)
		}
	}
	tk.finish()
	if tk.wellOrd {
		t.Fatal("ill-ordered merges not detected")
	}
	piece := []byte(strings.Repeat("abcbc", 20))
	ids := make([]int32, len(piece))
	for i, b := range piece {
		ids[i] = tk.byteID[b]
	}
	want := tk.bpeSimple(slices.Clone(ids))
	if got := tokStrings(tk, want[:2]); !slices.Equal(got, []string{"abc", "bc"}) {
		t.Fatalf("GPT-2's loop: %q, want abc bc", got)
	}
	if heap := tk.bpeHeap(slices.Clone(ids)); slices.Equal(heap, want) {
		t.Fatal("the heap merge should differ on this table")
	}
	if got := tk.Encode(piece); !slices.Equal(got, want) {
		t.Fatalf("Encode = %v, want GPT-2's loop %v", got, want)
	}
}

func TestLoadErrors(t *testing.T) {
	good, err := os.ReadFile("testdata/vocab.json")
	if err != nil {
		t.Fatal(err)
	}
	goodMerges, err := os.ReadFile("testdata/merges.txt")
	if err != nil {
		t.Fatal(err)
	}
	// A vocabulary with one entry per line, to check line numbers.
	tok := loadFixture(t)
	var lined bytes.Buffer
	if err := tok.WriteVocab(&lined); err != nil {
		t.Fatal(err)
	}
	linedS := lined.String()
	cases := []struct {
		name, vocab, merges, want string
	}{
		{"syntax", "{\n\"a\": 0,\n\"b\" 1}", string(goodMerges), "vocab.json:3:"},
		{"not object", "[1]", string(goodMerges), "vocab.json:1:2: want a JSON object"},
		{"bad id", strings.Replace(linedS, `"#": 2`, `"#": "x"`, 1), string(goodMerges), "vocab.json:4: token \"#\": want an integer id"},
		{"dup id", strings.Replace(linedS, `"#": 2`, `"#": 1`, 1), string(goodMerges), "vocab.json:4: token \"#\": id 1 is already token"},
		{"bad rune", strings.Replace(linedS, `"#": 2`, `"# ": 2`, 1), string(goodMerges), "vocab.json:4: token \"# \": rune U+0020"},
		{"gap", strings.Replace(linedS, `"#": 2`, `"#": 5000`, 1), string(goodMerges), "vocab.json:4: token \"#\": id 5000, want ids 0..291"},
		{"dup token", strings.Replace(linedS, `"#": 2,`, `"#": 2, "#": 3,`, 1), string(goodMerges), "vocab.json:4: token \"#\" appears twice"},
		{"missing byte", `{"a": 0}`, "", "vocab.json: no token for byte 0x00"},
		{"merge fields", string(good), "#version: 0.2\nĠ t\nab\n", "merges.txt:3: want two tokens"},
		{"merge unknown", string(good), "#version: 0.2\nĠ t\nĠt zz\n", "merges.txt:3: token \"zz\" is not in the vocabulary"},
		{"merge result", string(good), "#version: 0.2\nq z\n", "merges.txt:2: merge \"q\" \"z\" makes \"qz\", which is not in the vocabulary"},
		{"merge dup", string(good), "#version: 0.2\nĠ t\n\nĠ t\n", "merges.txt:4: merge \" \" \"t\" repeats the merge of rank 0"},
		{"merge rune", string(good), "#version: 0.2\n\t t\n", "merges.txt:2: token \"\\t\": rune U+0009"},
	}
	for _, c := range cases {
		_, err := LoadGPT2(strings.NewReader(c.vocab), strings.NewReader(c.merges))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
	if _, err := LoadGPT2Files(t.TempDir()); err == nil || !strings.Contains(err.Error(), "vocab.json") {
		t.Errorf("missing files: %v", err)
	}
}

// TestSaveLoad checks that Save and LoadGPT2Files give back the same
// tokenizer, and that loading GPT-2's one-line vocab.json then saving gives
// the same tokens and merges.
func TestSaveLoad(t *testing.T) {
	a := loadFixture(t)
	dir := t.TempDir()
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	b, err := LoadGPT2Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	sameTokenizer(t, a, b)
	m1, _ := os.ReadFile("testdata/merges.txt")
	m2, _ := os.ReadFile(dir + "/merges.txt")
	if !bytes.Equal(m1, m2) {
		t.Errorf("merges.txt differs after Save:\n%s\n---\n%s", m1, m2)
	}
}

func sameTokenizer(t *testing.T, a, b *Tokenizer) {
	t.Helper()
	if a.VocabSize() != b.VocabSize() || a.EOT() != b.EOT() || !slices.Equal(a.order, b.order) || a.wellOrd != b.wellOrd {
		t.Fatalf("tokenizers differ: vocab %d/%d eot %d/%d merges %d/%d", a.VocabSize(), b.VocabSize(), a.EOT(), b.EOT(), len(a.order), len(b.order))
	}
	for id := range a.VocabSize() {
		if !bytes.Equal(a.Token(int32(id)), b.Token(int32(id))) {
			t.Fatalf("token %d: %q vs %q", id, a.Token(int32(id)), b.Token(int32(id)))
		}
	}
}

// TestConcurrentEncode encodes from several goroutines at once with a small
// cache, so that entries are added, frozen and dropped concurrently (run
// with -race).
func TestConcurrentEncode(t *testing.T) {
	tok, err := fuzzTok()
	if err != nil {
		t.Fatal(err)
	}
	text := randomCorpus(rand.New(rand.NewPCG(9, 9)), 20000)
	tok.SetCacheSize(0)
	want := tok.Encode(text)
	tok.SetCacheSize(300)
	defer tok.SetCacheSize(defaultCacheEntries)
	errs := make(chan error)
	for range 4 {
		go func() {
			for range 3 {
				if got := tok.Encode(text); !slices.Equal(got, want) {
					errs <- fmt.Errorf("concurrent Encode differs from the uncached one")
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
