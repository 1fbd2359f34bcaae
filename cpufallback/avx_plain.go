//go:build !(goexperiment.simd && amd64)

package cpufallback

// clearUpper is a no-op without Go's SIMD experiment (see avx_simd.go).
func clearUpper() {}
