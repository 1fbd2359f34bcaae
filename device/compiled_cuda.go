//go:build cuda

package device

// Compiled reports which driver this binary was built with.
const Compiled = "cuda"
