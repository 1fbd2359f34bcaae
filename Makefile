# gotrain's build. Needs only Go (1.26) and gcc.
GO ?= go

.PHONY: all build test vet demo bench fmt

all: build test

build:
	$(GO) build ./...

vet:
	$(GO) vet ./...

# vet, then every test.
test: vet
	$(GO) test ./...

# Train the MNIST MLP 784-256-128-10 on the CPU for 3 epochs.
demo:
	$(GO) run ./cmd/gotrain mnist

bench:
	$(GO) test -run '^$$' -bench . ./bench/

fmt:
	gofmt -l -w $$(git ls-files '*.go')
