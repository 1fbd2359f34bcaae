package kernels

import (
	"errors"
	"fmt"
)

// DType is the element type of a Buffer.
type DType uint8

const (
	F32 DType = iota + 1 // float32
	I32                  // int32 (class labels, argmax indices)
)

func (d DType) String() string {
	switch d {
	case F32:
		return "float32"
	case I32:
		return "int32"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Size is the size of one element in bytes.
func (d DType) Size() int {
	switch d {
	case F32, I32:
		return 4
	}
	return 0
}

// Buffer is a handle to memory owned by a Backend. It may live on a device;
// its contents are reached only through the Backend's copy methods.
type Buffer interface {
	DType() DType
	// Len is the number of elements.
	Len() int
}

// Backend is a place where kernels run: it owns memory and implements the
// contract. A Backend is used from one goroutine at a time, like a CUDA
// stream; kernels issued on it run in order.
type Backend interface {
	Kernels

	// Name identifies the backend ("cpu", "cuda:0", "cudaemu").
	Name() string
	// Alloc returns a buffer of n elements of dtype dt. Its contents are
	// unspecified.
	Alloc(dt DType, n int) (Buffer, error)
	// View returns a buffer aliasing elements [off, off+n) of b.
	View(b Buffer, off, n int) (Buffer, error)
	// Free releases a buffer returned by Alloc. Views need no Free.
	Free(b Buffer) error
	// WriteF32 copies src from the host into dst[0:len(src)].
	WriteF32(dst Buffer, src []float32) error
	// WriteI32 copies src from the host into dst[0:len(src)].
	WriteI32(dst Buffer, src []int32) error
	// ReadF32 copies src[0:len(dst)] to the host.
	ReadF32(dst []float32, src Buffer) error
	// ReadI32 copies src[0:len(dst)] to the host.
	ReadI32(dst []int32, src Buffer) error
	// Sync waits for all issued work and returns the first error it raised.
	Sync() error
}

// MatMulParams describes a (batched) GEMM for Kernels.MatMul.
type MatMulParams struct {
	Batch   int // number of independent products; 0 means 1
	M, N, K int
	// TransA says A is stored as [K, M] (so op(A) = Aᵀ); otherwise [M, K].
	TransA bool
	// TransB says B is stored as [N, K] (so op(B) = Bᵀ); otherwise [K, N].
	TransB bool
	Alpha  float32
	Beta   float32
}

// Batches returns the number of products, treating 0 as 1.
func (p MatMulParams) Batches() int {
	if p.Batch <= 0 {
		return 1
	}
	return p.Batch
}

func (p MatMulParams) String() string {
	ta, tb := "", ""
	if p.TransA {
		ta = "ᵀ"
	}
	if p.TransB {
		tb = "ᵀ"
	}
	return fmt.Sprintf("batch=%d M=%d N=%d K=%d C=%g·A%s·B%s+%g·C", p.Batches(), p.M, p.N, p.K, p.Alpha, ta, tb, p.Beta)
}

// SGDParams are the hyper-parameters of one SGDUpdate, as PyTorch's SGD
// (dampening 0).
type SGDParams struct {
	LR          float32
	Momentum    float32
	Nesterov    bool
	WeightDecay float32 // L2, added to the gradient
}

// AdamParams are the hyper-parameters of one AdamUpdate or AdamWUpdate.
type AdamParams struct {
	LR, Beta1, Beta2, Eps float32
	WeightDecay           float32 // L2 (Adam) or decoupled (AdamW)
	Step                  int     // 1-based step number, for bias correction
}

// ErrShape is wrapped by every error that reports buffers or dimensions that
// do not fit a kernel.
var ErrShape = errors.New("shape mismatch")

// CheckF32 returns an error unless b is a float32 buffer of at least n
// elements. op and what name the kernel and the argument. Backends call it
// (and CheckI32) before launching.
func CheckF32(op, what string, b Buffer, n int) error {
	return check(op, what, b, n, F32)
}

// CheckI32 is CheckF32 for int32 buffers.
func CheckI32(op, what string, b Buffer, n int) error {
	return check(op, what, b, n, I32)
}

func check(op, what string, b Buffer, n int, dt DType) error {
	if n < 0 {
		return fmt.Errorf("%s: %s: negative size %d: %w", op, what, n, ErrShape)
	}
	if b == nil {
		return fmt.Errorf("%s: %s is nil, want a %v buffer of %d elements: %w", op, what, dt, n, ErrShape)
	}
	if b.DType() != dt {
		return fmt.Errorf("%s: %s has dtype %v, want %v: %w", op, what, b.DType(), dt, ErrShape)
	}
	if b.Len() < n {
		return fmt.Errorf("%s: %s has %d elements, want at least %d: %w", op, what, b.Len(), n, ErrShape)
	}
	return nil
}

// CheckOptF32 is CheckF32 for an optional (possibly nil) gradient output.
func CheckOptF32(op, what string, b Buffer, n int) error {
	if b == nil {
		return nil
	}
	return CheckF32(op, what, b, n)
}

// DropoutUniform is the random number that decides whether element i is kept
// by DropoutForward with the given seed: a uniform float32 in [0, 1) from a
// counter-based hash (SplitMix64 of seed and i), so that every backend draws
// the same mask without sharing generator state.
func DropoutUniform(seed uint64, i int) float32 {
	z := seed + uint64(i)*0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	z ^= z >> 31
	return float32(z>>40) / (1 << 24)
}
