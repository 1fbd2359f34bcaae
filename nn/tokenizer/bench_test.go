package tokenizer

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// goSource returns about n bytes of Go source from GOROOT/src (whole files,
// in walk order), skipping the first skip bytes; nil if GOROOT is not found.
func goSource(skip, n int) []byte {
	root := runtime.GOROOT()
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		root = strings.TrimSpace(string(out))
	}
	var buf []byte
	seen := 0
	filepath.WalkDir(filepath.Join(root, "src"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || len(buf) >= n {
			return fs.SkipAll
		}
		if d.IsDir() && d.Name() == "testdata" {
			return fs.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		if seen < skip {
			seen += len(b)
			return nil
		}
		buf = append(buf, b...)
		return nil
	})
	return buf
}

var benchTok = sync.OnceValues(func() (*Tokenizer, error) {
	return Train(bytes.NewReader(goSource(0, 4<<20)), 4096, TrainOptions{})
})

// BenchmarkEncode encodes 4 MB of Go source not seen in training with a
// 4096-token tokenizer trained on 4 MB of Go source. Warm: the piece cache
// is kept between iterations (the steady state of a data loader); Cold: it
// is emptied before each.
func BenchmarkEncode(b *testing.B) {
	tok, err := benchTok()
	if err != nil {
		b.Fatal(err)
	}
	text := goSource(4<<20, 4<<20)
	if len(text) == 0 {
		b.Skip("no Go source found")
	}
	for _, warm := range []bool{true, false} {
		name := "Cold"
		if warm {
			name = "Warm"
		}
		b.Run(name, func(b *testing.B) {
			tok.SetCacheSize(defaultCacheEntries)
			ids := tok.Encode(text)
			b.SetBytes(int64(len(text)))
			b.ResetTimer()
			for b.Loop() {
				if !warm {
					b.StopTimer()
					tok.SetCacheSize(defaultCacheEntries)
					b.StartTimer()
				}
				ids = tok.AppendEncode(ids[:0], text)
			}
			b.ReportMetric(float64(len(text))/float64(len(ids)), "bytes/token")
		})
	}
}

// BenchmarkPieces measures the pre-tokeniser alone.
func BenchmarkPieces(b *testing.B) {
	text := goSource(0, 4<<20)
	if len(text) == 0 {
		b.Skip("no Go source found")
	}
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		n := 0
		for range Pieces(text) {
			n++
		}
	}
}

// BenchmarkDecode decodes the tokens of 4 MB of Go source.
func BenchmarkDecode(b *testing.B) {
	tok, err := benchTok()
	if err != nil {
		b.Fatal(err)
	}
	text := goSource(4<<20, 4<<20)
	ids := tok.Encode(text)
	out := make([]byte, 0, len(text))
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		out, _ = tok.AppendDecode(out[:0], ids)
	}
}

// BenchmarkTrain trains a 4096-token vocabulary on 20 MB of Go source (run
// with -benchtime=1x).
func BenchmarkTrain(b *testing.B) {
	text := goSource(0, 20<<20)
	if len(text) < 20<<20 {
		b.Skipf("only %d bytes of Go source", len(text))
	}
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := Train(bytes.NewReader(text), 4096, TrainOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
