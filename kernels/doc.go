// Package kernels is gotrain's kernel contract: the one list of numerical
// kernels that every backend implements, and the reference semantics of each.
//
// The doc comment of every method of Kernels is the reference loop it
// computes. The pure-Go backend (package cpufallback) implements that loop
// plainly and then fast; the CUDA backend (package device) implements it on
// the GPU. One test suite (internal/kerneltest) runs against every backend and
// compares it with a float64 reference and, for every backward kernel, with
// central finite differences.
//
// # Data layout
//
// Buffers are flat arrays of one DType, owned by a Backend: host memory for
// cpufallback, device memory for CUDA. Matrices are row-major; a [rows, cols]
// matrix x has element (r, c) at x[r*cols+c]. Batched matrices are stored one
// after another. Dimension glossary, used throughout:
//
//	B     batch (rows of a minibatch)
//	M,N,K matrix dimensions of a GEMM: C[M,N] = A[M,K] · B[K,N]
//	rows  leading dimension of a row-wise op (softmax, cross-entropy, bias add)
//	cols  trailing, contiguous dimension
//	n     element count of an elementwise op
//
// # Conventions
//
//   - Forward kernels overwrite their outputs (y = f(x)).
//   - Backward kernels accumulate into their gradient outputs (dx += ...),
//     as llm.c does, so that a value used twice receives the sum of both
//     gradients. The caller zeroes gradient buffers when their life begins.
//   - A nil gradient output of a backward kernel means "not needed": that
//     part of the gradient is skipped.
//   - Scalars that the device produces and consumes (a loss, a norm) live in
//     1-element buffers, so a training step needs no host round-trip.
//   - Kernels run asynchronously on backends that can (CUDA); Backend.Sync
//     waits for them and reports any error they raised.
//
// # Errors
//
// Every kernel returns an error rather than panicking: a buffer of the wrong
// dtype or too short for the dimensions given is reported with the kernel's
// name, the dimensions and the buffer lengths. Data-dependent failures that a
// device cannot report synchronously (a label out of range) produce NaN in the
// output, never an out-of-bounds access; callers validate such inputs on the
// host (package graph does, when a batch is fed).
package kernels
