// Package tokenizer is a byte-level BPE tokenizer, as GPT-2's: it reads and
// writes GPT-2's vocab.json and merges.txt, and trains new vocabularies from
// a corpus in the same format, so a trained tokenizer and GPT-2's are one
// type.
//
// # Encoding
//
// Text is a byte string, not necessarily valid UTF-8. Encode first splits
// it into pieces with GPT-2's pre-tokenisation regular expression
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// implemented as a hand-written scanner (Go's regexp has no lookahead; see
// pretokenize.go for the rules, and Pieces). Tokens never cross pieces. Each
// piece starts as one token per byte and is merged as GPT-2's encoder.py
// does: repeatedly take the adjacent pair of lowest rank in merges.txt and
// merge all its occurrences, left to right, until no pair has a merge.
// Pieces of more than 48 bytes use an equivalent heap-based loop, O(n log n)
// instead of O(n²), when the merge table is ordered as training writes it
// (each merge uses only tokens made by earlier merges; GPT-2's is).
//
// The tokens of each piece (up to 64 bytes) are cached: a data loader
// reading source code or prose meets the same pieces over and over, and a
// cache hit is one map look-up. Reads of the cache take no lock; a Tokenizer
// is safe for concurrent use.
//
// Decode concatenates the tokens' bytes, so Decode(Encode(b)) == b for every
// byte string b, including invalid UTF-8 (a stray byte is a piece or part
// of one, and every byte has a token).
//
// # Tokens and files
//
// A token is a byte string; the 256 single bytes are always tokens. In
// vocab.json and merges.txt each byte is written as one printable rune by
// GPT-2's bytes_to_unicode table (' ' is 'Ġ', '\n' is 'Ċ'; see bytemap.go).
// vocab.json maps each token's text to its id (ids 0..V-1, each once);
// merges.txt lists the merges, two token texts a line, in rank order,
// after an optional "#version" line. The special token "<|endoftext|>" is
// id 50256 in GPT-2's files; if a vocabulary lacks it, it is added as the
// last id. Encode treats "<|endoftext|>" in text as ordinary text;
// EncodeSpecial turns it into the special id, and EOT returns that id for
// callers that join documents.
//
// # Training
//
// Train counts the corpus's pieces (reading it in chunks, so it need not be
// in memory), then repeatedly merges the most frequent adjacent pair of
// tokens within pieces, weighted by the pieces' counts, until the
// vocabulary has the size asked for: 256 byte tokens (with GPT-2's ids 0..255,
// in bytes_to_unicode order), one token per merge, then "<|endoftext|>". Pair
// counts are updated incrementally, only in the pieces a merge changes; a
// lazy max-heap finds the next pair. Ties go to the pair of smaller ids, so
// training is deterministic. Save writes the GPT-2 files.
//
// # Errors
//
// Functions return errors, never panic. A malformed vocab.json or merges.txt
// gives an error naming the file and the line (and column, for JSON syntax
// errors). Decode of an id out of range is an error naming its position.
//
// # Unicode
//
// \s is Unicode's White_Space, as in Python's regex module (so U+001C..
// U+001F are not white space). \p{L} and \p{N} come from Go's Unicode tables
// (15.0.0); Python's regex module has newer ones, so the rare characters
// assigned since are "other" here and may split differently than in
// GPT-2's Python code.
package tokenizer
