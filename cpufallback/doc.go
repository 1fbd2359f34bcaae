// Package cpufallback implements the kernels contract in pure Go.
//
// Each kernel follows the reference loop in its doc comment in package
// kernels, split across cores by a fixed pool of worker goroutines. The
// GEMM is cache-blocked: panels of A and B are packed into contiguous
// scratch and multiplied by a register-blocked micro-kernel.
//
// Buffers live in host memory ([]float32 or []int32). A Backend is used from
// one goroutine at a time; its kernels run synchronously, so Sync only
// reports success. After the first call of each size, kernels allocate
// nothing: the pool's tasks and the GEMM's packing scratch are reused.
//
// Files are split by op family, as in package kernels: memory.go, matmul.go,
// elementwise.go, activation.go, softmax.go, loss.go, reduce.go,
// dropout.go, regularize.go, optim.go.
package cpufallback
