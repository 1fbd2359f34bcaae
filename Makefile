# gotrain's build. Needs only Go (1.26) and gcc/g++.
GO ?= go
# The CPU kernels' SIMD forms (the GEMM's AVX-512 and AVX2 micro-kernels,
# attention, GELU, exp) use Go's experimental simd/archsimd package; builds
# without the experiment use their plain-Go twins, several times slower.
export GOEXPERIMENT ?= simd

.PHONY: all build gotrain test vet demo bench fmt gen

all: build test

build:
	$(GO) build ./...

# The command-line tool, ./gotrain, with the SIMD kernels.
gotrain:
	$(GO) build -o gotrain ./cmd/gotrain

vet:
	$(GO) vet ./...
	$(GO) vet -tags cudaemu ./...

# vet, then every test: the pure-Go backend (with and without SIMD), the
# graph and the CLI, then the kernel suite and MNIST steps on the CUDA
# kernels emulated on the CPU (needs g++).
test: vet
	$(GO) test ./...
	GOEXPERIMENT= $(GO) test ./cpufallback/
	@if command -v g++ >/dev/null 2>&1; then \
		echo "$(GO) test -tags cudaemu ./device/ ./cmd/..."; \
		$(GO) test -tags cudaemu ./device/ ./cmd/...; \
	else \
		echo "make test: g++ not found: skipping the CUDA-on-CPU emulation tests (install g++ to run them)"; \
	fi

# Train the MNIST MLP 784-256-128-10 on the CPU for 3 epochs.
demo:
	$(GO) run ./cmd/gotrain mnist -device cpu

bench:
	$(GO) test -run '^$$' -bench . ./bench/

# Regenerate generated files (the emulator's hash of the kernel sources).
gen:
	$(GO) generate ./kernels/emu

fmt:
	gofmt -l -w $$(git ls-files '*.go')

-include cuda.mk
