package textdata

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/nn/tokenizer"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	for name, text := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	}
}

func TestLoadSplitsByFile(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{}
	for i := 0; i < 45; i++ {
		files[fmt.Sprintf("d%d/f%02d.go", i%3, i)] = fmt.Sprintf("package f%d\n", i)
	}
	files["notes.txt"] = "not Go"
	files[".git/x.go"] = "hidden"
	writeFiles(t, dir, files)

	c, err := Load(Options{Paths: []string{dir}, Ext: ".go"})
	require.NoError(t, err)
	assert.Len(t, c.TrainFiles, 43)
	assert.Len(t, c.ValFiles, 2) // files 20 and 40 of 45
	all := append(append([]string(nil), c.TrainFiles...), c.ValFiles...)
	assert.True(t, slices.IsSorted(c.TrainFiles))
	for _, f := range all {
		assert.True(t, strings.HasSuffix(f, ".go"), f)
		assert.NotContains(t, f, ".git")
	}
	sorted, err := List(Options{Paths: []string{dir}, Ext: ".go"})
	require.NoError(t, err)
	assert.Equal(t, []string{sorted[19], sorted[39]}, c.ValFiles)
	assert.Equal(t, int64(len(files[strings.TrimPrefix(c.ValFiles[0], dir+"/")])+len(files[strings.TrimPrefix(c.ValFiles[1], dir+"/")])), c.ValBytes)
	assert.Equal(t, c.Fingerprint(), func() string { c2, _ := Load(Options{Paths: []string{dir}, Ext: ".go"}); return c2.Fingerprint() }())

	c, err = Load(Options{Paths: []string{dir}, Ext: ".go", ValEvery: 5})
	require.NoError(t, err)
	assert.Len(t, c.ValFiles, 9)

	// Few files: the last one is validation. Without Ext, every text file.
	small := t.TempDir()
	writeFiles(t, small, map[string]string{"a.txt": "alpha\n", "b.md": "beta\n", "c.bin": "\x00\x01binary"})
	c, err = Load(Options{Paths: []string{small}})
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Join(small, "a.txt")}, c.TrainFiles)
	assert.Equal(t, []string{filepath.Join(small, "b.md")}, c.ValFiles, "the binary file is skipped")

	// One file is split at a line break near the end.
	one := filepath.Join(t.TempDir(), "one.txt")
	require.NoError(t, os.WriteFile(one, []byte(strings.Repeat("line of text\n", 100)), 0o644))
	c, err = Load(Options{Paths: []string{one}, ValEvery: 10})
	require.NoError(t, err)
	assert.Equal(t, int64(1300), c.TrainBytes+c.ValBytes)
	assert.Equal(t, int64(130), c.ValBytes)
	assert.True(t, strings.HasPrefix(string(c.Val[0]), "line"))
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(Options{Paths: []string{dir}, Ext: ".go"})
	assert.ErrorContains(t, err, "no .go files in "+dir)
	_, err = Load(Options{Paths: []string{filepath.Join(dir, "missing")}})
	assert.ErrorContains(t, err, "no such file or directory")
	_, err = Load(Options{Paths: []string{dir}, ValEvery: 1})
	assert.ErrorContains(t, err, "ValEvery 1: want at least 2")
	tiny := filepath.Join(dir, "tiny.txt")
	require.NoError(t, os.WriteFile(tiny, []byte("x"), 0o644))
	_, err = Load(Options{Paths: []string{tiny}})
	assert.ErrorContains(t, err, "too small to split")
}

func TestGoSources(t *testing.T) {
	src, err := GoSources()
	if err != nil {
		t.Skip(err)
	}
	files, err := List(Options{})
	require.NoError(t, err)
	assert.Greater(t, len(files), 1000)
	assert.True(t, slices.IsSorted(files))
	assert.Contains(t, files, filepath.Join(src, "fmt", "print.go"))
}

func testTokenizer(t *testing.T) *tokenizer.Tokenizer {
	tok, err := tokenizer.Train(strings.NewReader(strings.Repeat("func main() { return x + y }\n", 50)), 280, tokenizer.TrainOptions{})
	require.NoError(t, err)
	return tok
}

func TestEncode(t *testing.T) {
	tok := testTokenizer(t)
	docs := [][]byte{[]byte("func a() {}\n"), []byte("return x\n"), []byte("")}
	one := Encode(tok, docs, 1)
	assert.Equal(t, one, Encode(tok, docs, 4), "the same for any number of workers")
	assert.Equal(t, 3, one.Docs)
	assert.Equal(t, int64(21), one.Bytes)
	var want []int32
	for _, d := range docs {
		want = append(append(want, tok.Encode(d)...), tok.EOT())
	}
	assert.Equal(t, want, one.IDs)
}

func TestLoader(t *testing.T) {
	ids := make([]int32, 1000)
	for i := range ids {
		ids[i] = int32(i)
	}
	const B, T = 3, 7
	l, err := NewLoader(ids, B, T, 42)
	require.NoError(t, err)
	var batches [][]int32
	for k := 0; k < 5; k++ {
		toks, tgts := l.Next()
		for b := 0; b < B; b++ {
			s := toks[b*T]
			for i := 0; i < T; i++ {
				assert.Equal(t, s+int32(i), toks[b*T+i], "a window is consecutive tokens")
				assert.Equal(t, s+int32(i)+1, tgts[b*T+i], "targets are the tokens shifted by one")
			}
		}
		batches = append(batches, slices.Clone(toks))
	}
	assert.Equal(t, uint64(5), l.Pos())
	assert.NotEqual(t, batches[0], batches[1])

	// Restoring the position replays the same batches, in a new loader too.
	l2, err := NewLoader(ids, B, T, 42)
	require.NoError(t, err)
	l2.SetPos(3)
	toks, _ := l2.Next()
	assert.Equal(t, batches[3], toks)
	l.SetPos(1)
	toks, _ = l.Next()
	assert.Equal(t, batches[1], toks)
	l3, _ := NewLoader(ids, B, T, 43)
	toks, _ = l3.Next()
	assert.NotEqual(t, batches[0], toks, "another seed")

	// Windows reach the end of the stream: the last target is ids[len-1].
	short := ids[:T+1]
	l4, err := NewLoader(short, 2, T, 1)
	require.NoError(t, err)
	toks, tgts := l4.Next()
	assert.Equal(t, short[:T], toks[:T])
	assert.Equal(t, short[1:], tgts[:T])

	assert.Zero(t, testing.AllocsPerRun(10, func() { l.Next() }))

	_, err = NewLoader(ids[:T], B, T, 1)
	assert.ErrorContains(t, err, "the split has 7 tokens, want at least T+1 = 8")
	_, err = NewLoader(ids, 0, T, 1)
	assert.ErrorContains(t, err, "want positive sizes")
}

func TestWindows(t *testing.T) {
	ids := make([]int32, 101)
	for i := range ids {
		ids[i] = int32(i)
	}
	w, err := NewWindows(ids, 10, 0)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 10, 20, 30, 40, 50, 60, 70, 80, 90}, w.Starts, "end to end: every token predicted once")
	w, err = NewWindows(ids, 10, 4)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 30, 60, 90}, w.Starts, "spread, the last one at the end")
	w, err = NewWindows(ids, 10, 12)
	require.NoError(t, err)
	assert.Len(t, w.Starts, 12, "more than fit: they overlap")
	assert.Equal(t, 90, w.Starts[11])

	w, _ = NewWindows(ids, 10, 4)
	toks, tgts := make([]int32, 3*10), make([]int32, 3*10)
	assert.Equal(t, 3, w.Batch(0, toks, tgts))
	assert.Equal(t, int32(30), toks[10])
	assert.Equal(t, int32(31), tgts[10])
	assert.Equal(t, 1, w.Batch(3, toks, tgts), "past the end the windows wrap around")
	assert.Equal(t, int32(90), toks[0])
	assert.Equal(t, int32(0), toks[10])

	_, err = NewWindows(ids[:5], 10, 1)
	assert.ErrorContains(t, err, "the split has 5 tokens, want at least T+1 = 11")
}

func TestWindowBytes(t *testing.T) {
	tok := testTokenizer(t)
	tokens := Encode(tok, [][]byte{[]byte("func main() { return x + y }\n"), []byte("return y\n")}, 1)
	w, err := NewWindows(tokens.IDs, 3, 0)
	require.NoError(t, err)
	text := w.Text(tok)
	assert.Equal(t, int64(len(text)), w.TargetBytes(tok))
	assert.NotContains(t, string(text), tokenizer.EndOfText)
	// End to end, the windows predict everything but the first token.
	all, _ := tok.Decode(tokens.IDs[1 : 1+w.Len()*3])
	assert.Equal(t, strings.ReplaceAll(string(all), tokenizer.EndOfText, ""), string(text))
}
