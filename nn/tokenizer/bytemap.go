package tokenizer

// GPT-2 stores tokens in vocab.json and merges.txt as text, not bytes: each
// byte is written as one printable rune, so that no token holds whitespace,
// control characters or invalid UTF-8. The table is GPT-2's bytes_to_unicode:
// the 188 bytes that are printable in Latin-1 ('!'..'~', '¡'..'¬', '®'..'ÿ')
// stand for themselves, and the other 68 bytes, in increasing order, are
// written as U+0100, U+0101, ... (so ' ' is 'Ġ' U+0120 and '\n' is 'Ċ'
// U+010A).
//
// byteOrder lists the bytes in the order of that table (the printable ones
// first); GPT-2's vocabulary gives id i to the byte byteOrder[i], and
// trained tokenizers do the same, so the 256 byte tokens have GPT-2's ids.

var (
	byteToRune [256]rune     // byte -> rune in vocab.json / merges.txt
	runeToByte map[rune]byte // inverse of byteToRune
	byteOrder  [256]byte     // id i (< 256) of a GPT-2 vocabulary is byte byteOrder[i]
)

func init() {
	printable := func(b int) bool {
		return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
	}
	n := 0
	for b := 0; b < 256; b++ {
		if printable(b) {
			byteToRune[b] = rune(b)
			byteOrder[n] = byte(b)
			n++
		}
	}
	extra := 0
	for b := 0; b < 256; b++ {
		if !printable(b) {
			byteToRune[b] = rune(256 + extra)
			byteOrder[n] = byte(b)
			n++
			extra++
		}
	}
	runeToByte = make(map[rune]byte, 256)
	for b, r := range byteToRune {
		runeToByte[r] = byte(b)
	}
}

// encodeTokenText writes the bytes of a token in GPT-2's text form.
func encodeTokenText(dst []byte, tok []byte) []byte {
	for _, b := range tok {
		r := byteToRune[b]
		if r < 0x80 {
			dst = append(dst, byte(r))
		} else {
			dst = append(dst, string(r)...)
		}
	}
	return dst
}

// decodeTokenText turns a token's GPT-2 text form back into bytes. It
// returns the offending rune and false if the text holds a rune outside the
// table.
func decodeTokenText(s string) ([]byte, rune, bool) {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		b, ok := runeToByte[r]
		if !ok {
			return nil, r, false
		}
		out = append(out, b)
	}
	return out, 0, true
}
