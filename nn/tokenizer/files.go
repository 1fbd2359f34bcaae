package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// File names of a tokenizer in GPT-2's format.
const (
	VocabFile  = "vocab.json"
	MergesFile = "merges.txt"
)

// LoadGPT2 reads a tokenizer in GPT-2's format: vocab.json, a JSON object
// from each token's text form to its id (ids 0..n-1, each once), and
// merges.txt, an optional "#version" line then one merge per line, two
// token texts separated by a space, in rank order. Errors name the file
// ("vocab.json" or "merges.txt") and the line.
func LoadGPT2(vocabJSON, mergesTXT io.Reader) (*Tokenizer, error) {
	return load(VocabFile, vocabJSON, MergesFile, mergesTXT)
}

// LoadGPT2Files reads dir/vocab.json and dir/merges.txt (see LoadGPT2).
func LoadGPT2Files(dir string) (*Tokenizer, error) {
	vp, mp := filepath.Join(dir, VocabFile), filepath.Join(dir, MergesFile)
	vf, err := os.Open(vp)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	defer vf.Close()
	mf, err := os.Open(mp)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	defer mf.Close()
	return load(vp, bufio.NewReader(vf), mp, bufio.NewReader(mf))
}

func load(vocabName string, vocab io.Reader, mergesName string, merges io.Reader) (*Tokenizer, error) {
	tokens, err := readVocab(vocabName, vocab)
	if err != nil {
		return nil, err
	}
	t, err := newTokenizer(tokens)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", vocabName, err)
	}
	if err := t.readMerges(mergesName, merges); err != nil {
		return nil, err
	}
	t.finish()
	return t, nil
}

// lineAt returns the 1-based line and column of byte offset off in data.
func lineAt(data []byte, off int64) (int, int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := 1 + bytes.Count(before, []byte{'\n'})
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// readVocab parses vocab.json into the tokens' bytes, indexed by id.
func readVocab(name string, r io.Reader) ([][]byte, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	// Syntax errors give line:column; errors in an entry give the line of
	// the entry's key.
	failAt := func(off int64, format string, args ...any) error {
		line, col := lineAt(data, off)
		return fmt.Errorf("tokenizer: %s:%d:%d: %s", name, line, col, fmt.Sprintf(format, args...))
	}
	fail := func(off int64, format string, args ...any) error {
		line, _ := lineAt(data, off)
		return fmt.Errorf("tokenizer: %s:%d: %s", name, line, fmt.Sprintf(format, args...))
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, failAt(dec.InputOffset(), "%v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, failAt(dec.InputOffset(), "want a JSON object of token -> id, found %v", tok)
	}
	type entry struct {
		tok []byte
		off int64
	}
	byID := map[int64]entry{}
	seen := map[string]int64{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, failAt(dec.InputOffset(), "%v", err)
		}
		off := dec.InputOffset() // just after the key
		key, ok := kt.(string)
		if !ok {
			return nil, fail(off, "want a token string, found %v", kt)
		}
		vt, err := dec.Token()
		if err != nil {
			return nil, failAt(dec.InputOffset(), "token %q: %v", key, err)
		}
		num, ok := vt.(json.Number)
		if !ok {
			return nil, fail(off, "token %q: want an integer id, found %v", key, vt)
		}
		id, err := strconv.ParseInt(string(num), 10, 32)
		if err != nil || id < 0 {
			return nil, fail(off, "token %q: id %s is not an integer in [0, 2^31)", key, num)
		}
		if _, dup := seen[key]; dup {
			return nil, fail(off, "token %q appears twice", key)
		}
		seen[key] = id
		b, bad, ok := decodeTokenText(key)
		if !ok {
			return nil, fail(off, "token %q: rune %U is not in GPT-2's byte-to-unicode table", key, bad)
		}
		if prev, dup := byID[id]; dup {
			pl, _ := lineAt(data, prev.off)
			return nil, fail(off, "token %q: id %d is already token %q (line %d)", key, id, encodeTokenText(nil, prev.tok), pl)
		}
		byID[id] = entry{b, off}
	}
	if _, err := dec.Token(); err != nil {
		return nil, failAt(dec.InputOffset(), "%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, failAt(dec.InputOffset(), "unexpected data after the JSON object")
	}
	tokens := make([][]byte, len(byID))
	badID, bad := int64(-1), entry{off: -1}
	for id, e := range byID {
		if id >= int64(len(tokens)) {
			if bad.off < 0 || e.off < bad.off {
				badID, bad = id, e // report the first in the file
			}
			continue
		}
		tokens[id] = e.tok
	}
	if bad.off >= 0 {
		return nil, fail(bad.off, "token %q: id %d, want ids 0..%d with none missing", encodeTokenText(nil, bad.tok), badID, len(tokens)-1)
	}
	return tokens, nil
}

// readMerges parses merges.txt into t's merge table.
func (t *Tokenizer) readMerges(name string, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSuffix(sc.Text(), "\r")
		if s == "" || (line == 1 && strings.HasPrefix(s, "#version")) {
			continue
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("tokenizer: %s:%d: %s", name, line, fmt.Sprintf(format, args...))
		}
		a, b, ok := strings.Cut(s, " ")
		if !ok || a == "" || b == "" || strings.Contains(b, " ") {
			return fail("want two tokens separated by one space, found %q", s)
		}
		var pair [2]int32
		for i, part := range [2]string{a, b} {
			raw, bad, ok := decodeTokenText(part)
			if !ok {
				return fail("token %q: rune %U is not in GPT-2's byte-to-unicode table", part, bad)
			}
			id, ok := t.ids[string(raw)]
			if !ok {
				return fail("token %q is not in the vocabulary", part)
			}
			pair[i] = id
		}
		if err := t.addMerge(pair[0], pair[1]); err != nil {
			return fail("%v", err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("tokenizer: %s:%d: %w", name, line+1, err)
	}
	return nil
}

// WriteVocab writes vocab.json: one token a line, in id order.
func (t *Tokenizer) WriteVocab(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("{\n")
	var text []byte
	for id, tok := range t.tokens {
		text = encodeTokenText(text[:0], tok)
		q, err := marshalString(string(text))
		if err != nil {
			return err
		}
		bw.Write(q)
		bw.WriteString(": ")
		bw.WriteString(strconv.Itoa(id))
		if id+1 < len(t.tokens) {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

// marshalString quotes s as a JSON string, leaving '<', '>' and '&' as they
// are.
func marshalString(s string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// WriteMerges writes merges.txt: "#version: 0.2", then one merge a line in
// rank order.
func (t *Tokenizer) WriteMerges(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("#version: 0.2\n")
	var line []byte
	for _, p := range t.order {
		line = encodeTokenText(line[:0], t.tokens[p[0]])
		line = append(line, ' ')
		line = encodeTokenText(line, t.tokens[p[1]])
		line = append(line, '\n')
		bw.Write(line)
	}
	return bw.Flush()
}

// Save writes dir/vocab.json and dir/merges.txt, creating dir if needed;
// LoadGPT2Files reads them back.
func (t *Tokenizer) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("tokenizer: Save: %w", err)
	}
	write := func(name string, f func(io.Writer) error) (err error) {
		p := filepath.Join(dir, name)
		fh, err := os.Create(p)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := fh.Close(); err == nil {
				err = cerr
			}
		}()
		return f(fh)
	}
	if err := write(VocabFile, t.WriteVocab); err != nil {
		return fmt.Errorf("tokenizer: Save: %w", err)
	}
	if err := write(MergesFile, t.WriteMerges); err != nil {
		return fmt.Errorf("tokenizer: Save: %w", err)
	}
	return nil
}
