package textdata

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// DefaultValEvery is the default split: every 20th file to validation.
const DefaultValEvery = 20

// Options says what to read.
type Options struct {
	// Paths are files and directories; empty means GoSources().
	Paths []string
	// Ext selects the files taken from directories by the end of their
	// name (".go"); "" takes every file that does not look binary (no NUL
	// byte in its first 8 KiB). With no Paths, ".go" is used.
	Ext string
	// ValEvery sends every ValEvery-th file to validation; 0 means
	// DefaultValEvery. It must be at least 2.
	ValEvery int
}

// Corpus is the text of a set of files, split into training and validation.
type Corpus struct {
	Root       string   // the directory read when Paths was empty, else ""
	TrainFiles []string // paths, in corpus order
	ValFiles   []string
	Train, Val [][]byte // the files' contents, one per path
	TrainBytes int64
	ValBytes   int64
}

// GoSources returns $(go env GOROOT)/src: GOROOT from the environment, else
// from the go command, else the one this binary was built with.
func GoSources() (string, error) {
	root := os.Getenv("GOROOT")
	if root == "" {
		if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
			root = strings.TrimSpace(string(out))
		}
	}
	if root == "" {
		root = runtime.GOROOT() //nolint:staticcheck // the last resort, when no go command is installed
	}
	if root == "" {
		return "", errors.New("textdata: cannot find GOROOT (set $GOROOT, install the go command, or pass the data paths)")
	}
	src := filepath.Join(root, "src")
	if st, err := os.Stat(src); err != nil || !st.IsDir() {
		return "", fmt.Errorf("textdata: GOROOT %s has no src directory (pass the data paths instead)", root)
	}
	return src, nil
}

// List returns the files Load would read, sorted.
func List(opts Options) ([]string, error) {
	paths, ext := opts.Paths, opts.Ext
	if len(paths) == 0 {
		src, err := GoSources()
		if err != nil {
			return nil, err
		}
		paths, ext = []string{src}, ".go"
	}
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("textdata: %w", err)
		}
		if !st.IsDir() {
			files = append(files, filepath.Clean(p))
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() {
				if path != p && strings.HasPrefix(name, ".") {
					return fs.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ext) {
				return nil
			}
			files = append(files, path)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("textdata: walking %s: %w", p, err)
		}
	}
	slices.Sort(files)
	files = slices.Compact(files)
	if len(files) == 0 {
		if ext != "" {
			return nil, fmt.Errorf("textdata: no %s files in %s", ext, strings.Join(paths, ", "))
		}
		return nil, fmt.Errorf("textdata: no files in %s", strings.Join(paths, ", "))
	}
	return files, nil
}

// Load reads and splits the corpus (see the package doc).
func Load(opts Options) (*Corpus, error) {
	every := opts.ValEvery
	if every == 0 {
		every = DefaultValEvery
	}
	if every < 2 {
		return nil, fmt.Errorf("textdata: ValEvery %d: want at least 2 (one file in every ValEvery to validation)", every)
	}
	files, err := List(opts)
	if err != nil {
		return nil, err
	}
	c := &Corpus{}
	if len(opts.Paths) == 0 {
		c.Root, _ = GoSources()
	}
	skipBinary := opts.Ext == "" && len(opts.Paths) > 0
	var kept []string
	var texts [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("textdata: %w", err)
		}
		if skipBinary && bytes.IndexByte(b[:min(len(b), 8192)], 0) >= 0 {
			continue
		}
		kept = append(kept, f)
		texts = append(texts, b)
	}
	if len(kept) == 0 {
		return nil, fmt.Errorf("textdata: every file in %s looks binary", strings.Join(opts.Paths, ", "))
	}
	if len(kept) == 1 {
		train, val := splitText(texts[0], every)
		if len(train) == 0 || len(val) == 0 {
			return nil, fmt.Errorf("textdata: %s (%d bytes) is too small to split into training and validation", kept[0], len(texts[0]))
		}
		c.TrainFiles, c.Train = kept, [][]byte{train}
		c.ValFiles, c.Val = kept, [][]byte{val}
	} else {
		anyVal := len(kept) >= every
		for i, f := range kept {
			if (anyVal && (i+1)%every == 0) || (!anyVal && i == len(kept)-1) {
				c.ValFiles, c.Val = append(c.ValFiles, f), append(c.Val, texts[i])
			} else {
				c.TrainFiles, c.Train = append(c.TrainFiles, f), append(c.Train, texts[i])
			}
		}
	}
	for _, t := range c.Train {
		c.TrainBytes += int64(len(t))
	}
	for _, t := range c.Val {
		c.ValBytes += int64(len(t))
	}
	if c.TrainBytes == 0 || c.ValBytes == 0 {
		return nil, fmt.Errorf("textdata: %d training bytes and %d validation bytes: both splits need text", c.TrainBytes, c.ValBytes)
	}
	return c, nil
}

// splitText cuts one text about 1/every from its end, after a line break
// when there is one in the last half of the text.
func splitText(b []byte, every int) (train, val []byte) {
	cut := len(b) - len(b)/every
	if i := bytes.LastIndexByte(b[:cut], '\n'); i >= len(b)/2 {
		cut = i + 1
	}
	return b[:cut], b[cut:]
}

// Fingerprint identifies the training split by its file names and sizes (a
// key for caching what is derived from it, such as a trained tokenizer).
func (c *Corpus) Fingerprint() string {
	h := fnv.New64a()
	for i, f := range c.TrainFiles {
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(c.Train[i]))
	}
	return fmt.Sprintf("%016x", h.Sum64())
}
