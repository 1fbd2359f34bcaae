//go:build cuda

// This file is built with the cuda tag only, so that builds without CUDA
// neither need nor carry the fatbin.

package kernels

import _ "embed"

// Fatbin is gen_kernels.fatbin: every kernel of kernels.cuh compiled by
// nvcc from all.cu, with SASS for sm_80, sm_86, sm_89 and sm_90 and PTX for
// compute_90 (see cuda.mk). Package device loads it with
// cuModuleLoadDataEx. Regenerate it with `make kernels`; CI checks it with
// `make check-fatbin`.
//
//go:embed gen_kernels.fatbin
var Fatbin []byte
