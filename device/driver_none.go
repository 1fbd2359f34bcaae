//go:build !cuda && !cudaemu

// This file is built when neither the cuda nor the cudaemu tag is set: the
// binary links no CUDA library and Open reports ErrNoCUDA.

package device

func openDriver(ordinal int) (driver, error) { return nil, ErrNoCUDA }

// Compiled reports which driver this binary was built with.
const Compiled = "none"
