package cpufallback

import (
	"fmt"
	"runtime"

	"github.com/gotrain/gotrain/kernels"
)

// Buffer is a host buffer. Exactly one of F and I is set, by dtype.
type Buffer struct {
	F []float32
	I []int32
}

// DType implements kernels.Buffer.
func (b *Buffer) DType() kernels.DType {
	if b.I != nil {
		return kernels.I32
	}
	return kernels.F32
}

// Len implements kernels.Buffer.
func (b *Buffer) Len() int {
	if b.I != nil {
		return len(b.I)
	}
	return len(b.F)
}

// Backend is the pure-Go implementation of kernels.Backend.
type Backend struct {
	pool *pool
}

var _ kernels.Backend = (*Backend)(nil)

// New returns a backend that runs kernels on threads goroutines; threads <= 0
// means runtime.GOMAXPROCS(0).
func New(threads int) *Backend {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return &Backend{pool: newPool(threads)}
}

// Threads is the number of goroutines kernels are split across.
func (b *Backend) Threads() int { return b.pool.workers }

// Name implements kernels.Backend.
func (b *Backend) Name() string { return "cpu" }

// Alloc implements kernels.Backend.
func (b *Backend) Alloc(dt kernels.DType, n int) (kernels.Buffer, error) {
	if n < 0 {
		return nil, fmt.Errorf("cpu: alloc %d elements of %v: negative size", n, dt)
	}
	switch dt {
	case kernels.F32:
		return &Buffer{F: make([]float32, n)}, nil
	case kernels.I32:
		// A zero-length int32 buffer still needs a non-nil slice to keep its dtype.
		return &Buffer{I: make([]int32, n, max(n, 1))}, nil
	}
	return nil, fmt.Errorf("cpu: alloc %d elements: unsupported dtype %v", n, dt)
}

// View implements kernels.Backend.
func (b *Backend) View(buf kernels.Buffer, off, n int) (kernels.Buffer, error) {
	h, ok := buf.(*Buffer)
	if !ok || h == nil {
		return nil, fmt.Errorf("cpu: view of %T: not a cpu buffer", buf)
	}
	if off < 0 || n < 0 || off+n > h.Len() {
		return nil, fmt.Errorf("cpu: view [%d:%d] of a %d-element buffer: out of range", off, off+n, h.Len())
	}
	if h.I != nil {
		return &Buffer{I: h.I[off : off+n : max(off+n, off+1)]}, nil
	}
	return &Buffer{F: h.F[off : off+n]}, nil
}

// Free implements kernels.Backend; host memory is left to the garbage
// collector.
func (b *Backend) Free(buf kernels.Buffer) error { return nil }

// WriteF32 implements kernels.Backend.
func (b *Backend) WriteF32(dst kernels.Buffer, src []float32) error {
	d, err := f32("write", "dst", dst, len(src))
	if err != nil {
		return err
	}
	copy(d, src)
	return nil
}

// WriteI32 implements kernels.Backend.
func (b *Backend) WriteI32(dst kernels.Buffer, src []int32) error {
	d, err := i32("write", "dst", dst, len(src))
	if err != nil {
		return err
	}
	copy(d, src)
	return nil
}

// ReadF32 implements kernels.Backend.
func (b *Backend) ReadF32(dst []float32, src kernels.Buffer) error {
	s, err := f32("read", "src", src, len(dst))
	if err != nil {
		return err
	}
	copy(dst, s)
	return nil
}

// ReadI32 implements kernels.Backend.
func (b *Backend) ReadI32(dst []int32, src kernels.Buffer) error {
	s, err := i32("read", "src", src, len(dst))
	if err != nil {
		return err
	}
	copy(dst, s)
	return nil
}

// Sync implements kernels.Backend. Kernels here are synchronous.
func (b *Backend) Sync() error { return nil }

// f32 checks buf and returns its first n float32 elements.
func f32(op, what string, buf kernels.Buffer, n int) ([]float32, error) {
	if err := kernels.CheckF32(op, what, buf, n); err != nil {
		return nil, err
	}
	h, ok := buf.(*Buffer)
	if !ok {
		return nil, fmt.Errorf("%s: %s is a %T, not a cpu buffer", op, what, buf)
	}
	return h.F[:n], nil
}

// optF32 is f32 for an optional gradient output: nil gives a nil slice.
func optF32(op, what string, buf kernels.Buffer, n int) ([]float32, error) {
	if buf == nil {
		return nil, nil
	}
	if h, ok := buf.(*Buffer); ok && h == nil {
		return nil, nil
	}
	return f32(op, what, buf, n)
}

// i32 checks buf and returns its first n int32 elements.
func i32(op, what string, buf kernels.Buffer, n int) ([]int32, error) {
	if err := kernels.CheckI32(op, what, buf, n); err != nil {
		return nil, err
	}
	h, ok := buf.(*Buffer)
	if !ok {
		return nil, fmt.Errorf("%s: %s is a %T, not a cpu buffer", op, what, buf)
	}
	return h.I[:n], nil
}
