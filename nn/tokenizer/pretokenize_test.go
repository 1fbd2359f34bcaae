package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// pieces splits s and returns the pieces as strings.
func pieces(s string) []string {
	var out []string
	for p := range Pieces([]byte(s)) {
		out = append(out, string(p))
	}
	return out
}

// TestPiecesTable checks splits derived by hand from GPT-2's regular
// expression (see the comment in pretokenize.go).
func TestPiecesTable(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" ", []string{" "}},
		{"   ", []string{"   "}},
		{"hello world", []string{"hello", " world"}},
		// A run of spaces before a word gives all but one space; the last
		// joins the word.
		{"hello   world", []string{"hello", "  ", " world"}},
		{"   x", []string{"  ", " x"}},
		// Trailing white space is one piece (\s+(?!\S) at the end).
		{"a   ", []string{"a", "   "}},
		{"a \n ", []string{"a", " \n "}},
		// Newlines: a run followed by a word loses its last rune, which is
		// then a piece of its own (\s+), since only ' ' joins a word.
		{"a\nb", []string{"a", "\n", "b"}},
		{"a\n\nb", []string{"a", "\n", "\n", "b"}},
		{"a\n\n\nb", []string{"a", "\n\n", "\n", "b"}},
		{"a\n b", []string{"a", "\n", " b"}},
		{"a \nb", []string{"a", " ", "\n", "b"}},
		{"\tfoo", []string{"\t", "foo"}},
		{"\t\tfoo", []string{"\t", "\t", "foo"}},
		{"\t foo", []string{"\t", " foo"}},
		{"x\r\ny", []string{"x", "\r", "\n", "y"}},
		// Contractions are lower case only, and take precedence anywhere.
		{"don't", []string{"don", "'t"}},
		{"DON'T", []string{"DON", "'", "T"}},
		{"it'S", []string{"it", "'", "S"}},
		{"we're you've they'll he'd I'm", []string{"we", "'re", " you", "'ve", " they", "'ll", " he", "'d", " I", "'m"}},
		{"'sup", []string{"'s", "up"}},
		{"''s", []string{"''", "s"}},
		{" 's", []string{" '", "s"}},
		{"'l", []string{"'", "l"}},
		// Letters, numbers and others are separate runs; ' ' joins any.
		{"abc123def", []string{"abc", "123", "def"}},
		{"x = -1.5", []string{"x", " =", " -", "1", ".", "5"}},
		{"f(x) {", []string{"f", "(", "x", ")", " {"}},
		{"a.b.c", []string{"a", ".", "b", ".", "c"}},
		{"\"hi\",\n", []string{"\"", "hi", "\",", "\n"}},
		// Unicode: é is a letter, ² and Ⅻ numbers, a combining accent and
		// an emoji are "other"; U+00A0 and U+3000 are white space but only
		// ' ' joins the next piece.
		{"café été", []string{"café", " été"}},
		{"x² Ⅻ", []string{"x", "²", " Ⅻ"}},
		{"e\u0301t", []string{"e", "\u0301", "t"}},
		{"a 😀😀!", []string{"a", " 😀😀!"}},
		{"a\u00a0b", []string{"a", "\u00a0", "b"}},
		{"a\u00a0 b", []string{"a", "\u00a0", " b"}},
		{"a \u00a0b", []string{"a", " ", "\u00a0", "b"}},
		{"中文 字", []string{"中文", " 字"}},
		// U+001C..U+001F are not white space for \s.
		{"a\x1cb", []string{"a", "\x1c", "b"}},
		// Invalid UTF-8 bytes are "other" runes of one byte.
		{"a\xff\xfe b", []string{"a", "\xff\xfe", " b"}},
		{" \xc3", []string{" \xc3"}},
		{"\xc3\xa9", []string{"é"}},
	}
	for _, c := range cases {
		if got := pieces(c.in); !slices.Equal(got, c.want) {
			t.Errorf("pieces(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestPiecesGolden compares with the splits of GPT-2's regular expression
// by Python's regex module (testdata/gen_pretokenize_golden.py).
func TestPiecesGolden(t *testing.T) {
	f, err := os.Open("testdata/pretokenize_golden.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n, bad := 0, 0
	for sc.Scan() {
		var c struct {
			Text   string   `json:"text"`
			Pieces []string `json:"pieces"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		n++
		if got := pieces(c.Text); !slices.Equal(got, c.Pieces) && !(len(got) == 0 && len(c.Pieces) == 0) {
			bad++
			if bad <= 10 {
				t.Errorf("pieces(%q) = %q, want %q", c.Text, got, c.Pieces)
			}
		}
	}
	if n < 500 {
		t.Fatalf("read %d golden cases, want >= 500", n)
	}
	if bad > 0 {
		t.Errorf("%d of %d golden cases differ", bad, n)
	}
}

// chunkedPieces splits text as Train does, reading chunk bytes at a time.
func chunkedPieces(text []byte, chunk int) []string {
	var out []string
	buf := []byte{}
	for len(text) > 0 || len(buf) > 0 {
		k := min(chunk, len(text))
		buf = append(buf, text[:k]...)
		text = text[k:]
		eof := len(text) == 0
		pos := 0
		for pos < len(buf) {
			n := pieceLen(buf[pos:])
			if !eof && pos+n+chunkMargin > len(buf) {
				break
			}
			out = append(out, string(buf[pos:pos+n]))
			pos += n
		}
		buf = append(buf[:0], buf[pos:]...)
		if eof {
			break
		}
	}
	return out
}

// TestPiecesChunked checks that splitting a stream in chunks, keeping
// pieces that end within chunkMargin of a chunk's end for the next chunk,
// gives the same pieces as splitting the whole text.
func TestPiecesChunked(t *testing.T) {
	texts := []string{
		"hello   world\n\n\tfoo don't 'll '",
		strings.Repeat("a \u3000\u3000\u3000b\n\n 'r 're 'l 'll x²😀\xff ", 20),
		strings.Repeat(" ", 50) + "x" + strings.Repeat("\n", 30),
	}
	for _, s := range texts {
		want := pieces(s)
		for chunk := 1; chunk <= 40; chunk++ {
			if got := chunkedPieces([]byte(s), chunk); !slices.Equal(got, want) {
				t.Fatalf("chunk %d of %q: %q, want %q", chunk, s, got, want)
			}
		}
	}
}
