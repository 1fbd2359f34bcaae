package tokenizer

import (
	"iter"
	"unicode"
	"unicode/utf8"
)

// The pre-tokeniser splits text into pieces with the semantics of GPT-2's
// regular expression
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// as matched by Python's regex module (alternatives tried in order, the first
// that matches wins, each quantifier greedy). Go's regexp has no lookahead, so
// it is a hand-written scanner. At the start of a piece:
//
//  1. "'" followed by s, t, m, d, "re", "ve" or "ll" (lower case only) is a
//     piece: "don't" -> "don" "'t", but "DON'T" -> "DON" "'" "T".
//  2. An optional ' ' (U+0020 only) and then a maximal run of one class:
//     letters (\p{L}), numbers (\p{N}) or "other" (neither, nor white
//     space). The class is that of the first rune after the optional space.
//  3. Otherwise the piece starts with white space. Let the maximal run of
//     white space end at e. If e is the end of the text the whole run is the
//     piece (\s+(?!\S) matches). If not, the run is followed by a non-space,
//     and \s+(?!\S) backtracks: the piece is the run without its last rune,
//     which is left to start the next piece (so "   x" -> "  " " x", and
//     "\n\nx" -> "\n" "\n" "x"). If the run is a single rune, \s+(?!\S)
//     fails and \s+ takes it alone.
//
// White space is Unicode's White_Space property (Go's unicode.IsSpace, the
// same set as \s in Python's regex module; note that U+001C..U+001F are not
// white space there). Letters and numbers are Go's unicode.IsLetter and
// unicode.IsNumber, from Go's Unicode tables (15.0.0): a character assigned
// after Unicode 15.0 is "other" here even if a newer regex module calls it a
// letter. A byte that does not start valid UTF-8 is one "other" rune of one
// byte, like U+FFFD, so every byte string splits, and the pieces, joined,
// are the text.

// Rune classes of the pre-tokeniser.
const (
	clsOther uint8 = iota
	clsLetter
	clsNumber
	clsSpace
)

// asciiClass is the class of each ASCII byte.
var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for c := 0; c < utf8.RuneSelf; c++ {
		r := rune(c)
		switch {
		case unicode.IsLetter(r):
			t[c] = clsLetter
		case unicode.IsNumber(r):
			t[c] = clsNumber
		case unicode.IsSpace(r):
			t[c] = clsSpace
		default:
			t[c] = clsOther
		}
	}
	return t
}()

// classAt returns the class and size in bytes of the rune that starts b,
// which must not be empty.
func classAt(b []byte) (uint8, int) {
	if c := b[0]; c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, n := utf8.DecodeRune(b)
	switch {
	case r == utf8.RuneError:
		return clsOther, n
	case unicode.IsLetter(r):
		return clsLetter, n
	case unicode.IsNumber(r):
		return clsNumber, n
	case unicode.IsSpace(r):
		return clsSpace, n
	}
	return clsOther, n
}

// runEnd returns the end of the maximal run of class cls in b starting at i.
func runEnd(b []byte, i int, cls uint8) int {
	for i < len(b) {
		c := b[i]
		if c < utf8.RuneSelf {
			if asciiClass[c] != cls {
				return i
			}
			i++
			continue
		}
		k, n := classAt(b[i:])
		if k != cls {
			return i
		}
		i += n
	}
	return i
}

// pieceLen returns the length in bytes of the piece that starts text, which
// must not be empty. It reads at most 8 bytes past the end of the piece (see
// chunkMargin).
func pieceLen(text []byte) int {
	c0 := text[0]
	// 1. Contractions.
	if c0 == '\'' && len(text) >= 2 {
		switch text[1] {
		case 's', 't', 'm', 'd':
			return 2
		case 'r', 'v':
			if len(text) >= 3 && text[2] == 'e' {
				return 3
			}
		case 'l':
			if len(text) >= 3 && text[2] == 'l' {
				return 3
			}
		}
	}
	// 2. Optional space, then a run of letters, numbers or others.
	if c0 == ' ' && len(text) >= 2 {
		if cls, n := classAt(text[1:]); cls != clsSpace {
			return runEnd(text, 1+n, cls)
		}
	}
	cls, n := classAt(text)
	if cls != clsSpace {
		return runEnd(text, n, cls)
	}
	// 3. White space: find the run and the start of its last rune.
	last, end := 0, n
	for end < len(text) {
		cls, n := classAt(text[end:])
		if cls != clsSpace {
			break
		}
		last = end
		end += n
	}
	if end == len(text) || last == 0 {
		return end // \s+(?!\S) at the end of the text, or \s+ of one rune
	}
	return last // \s+(?!\S), backtracked by one rune
}

// chunkMargin is how many bytes past the end of a piece pieceLen may read:
// for a run of white space, the run's last rune (at most 3 bytes) and the
// rune after it (at most 4). A piece that ends at least chunkMargin bytes
// before the end of a buffer is the same piece whatever follows the buffer.
const chunkMargin = 8

// Pieces returns the pre-tokeniser's pieces of text, in order; each is a
// sub-slice of text, and together they cover it.
func Pieces(text []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for len(text) > 0 {
			n := pieceLen(text)
			if !yield(text[:n]) {
				return
			}
			text = text[n:]
		}
	}
}

// Split returns the pre-tokeniser's pieces of text as a slice (see Pieces).
func Split(text []byte) [][]byte {
	var out [][]byte
	for p := range Pieces(text) {
		out = append(out, p)
	}
	return out
}
