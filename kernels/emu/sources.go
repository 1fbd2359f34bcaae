package emu

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

//go:generate go run gen_hash.go

// SourcePatterns are the files, relative to the kernels directory, that
// device/emu.cpp compiles by #include: the kernels, their headers, this
// package's emulation header and the emulator's test kernels.
var SourcePatterns = []string{"*.cu", "*.cuh", "emu/*.h", "emu/testdata/*.cu"}

// HashSources returns the hash of the files of SourcePatterns under
// kernelsDir: SHA-256 over each file's slash-separated relative name, size
// and contents, in name order.
func HashSources(kernelsDir string) (string, error) {
	var names []string
	for _, pat := range SourcePatterns {
		m, err := filepath.Glob(filepath.Join(kernelsDir, pat))
		if err != nil {
			return "", err
		}
		names = append(names, m...)
	}
	if len(names) == 0 {
		return "", fmt.Errorf("emu: no kernel sources under %s", kernelsDir)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return "", err
		}
		rel, err := filepath.Rel(kernelsDir, name)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(rel), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
