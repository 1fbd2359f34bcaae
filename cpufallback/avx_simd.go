//go:build goexperiment.simd && amd64

package cpufallback

import "simd/archsimd"

// clearUpper zeroes the upper halves of the AVX registers (VZEROUPPER).
// With GOEXPERIMENT=simd something (a signal handler saving vector state,
// or AVX code without VZEROUPPER) can leave them dirty, and then every
// legacy-SSE instruction, as in math.Exp, runs up to 100x slower until the
// next VZEROUPPER. Kernels clear them at the start of every chunk.
func clearUpper() { archsimd.ClearAVXUpperBits() }
