package emu

import "testing"

// TestSourcesHashFresh fails when a kernel source changed without `go
// generate ./kernels/emu`: the cudaemu build would then run stale kernels,
// because Go's build cache does not see the files that cgo code #includes
// (golang/go#24355); SourcesHash, imported by package device, is what makes
// it recompile.
func TestSourcesHashFresh(t *testing.T) {
	h, err := HashSources("..")
	if err != nil {
		t.Fatal(err)
	}
	if h != SourcesHash {
		t.Fatalf("kernel sources changed since gen_sources.go was generated (hash %.12s, generated %.12s): run `go generate ./kernels/emu`", h, SourcesHash)
	}
}
