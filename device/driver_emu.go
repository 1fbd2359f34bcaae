//go:build cudaemu && !cuda

// This file is built with the cudaemu tag: the driver runs gotrain's CUDA
// kernels on the CPU. emu.cpp compiles kernels/*.cu with g++ against
// kernels/emu/cuda_emu.h (see its opening comment for the execution model:
// blocks on a pool of OS threads, CUDA threads as fibers) and provides a
// reference column-major SGEMM in place of cuBLAS. Device memory is host
// memory, every call finishes before it returns, and an emulated device
// has as much memory as the machine.

package device

/*
#cgo CXXFLAGS: -std=c++17 -O2 -fno-strict-aliasing
#cgo LDFLAGS: -lpthread
#include <stdlib.h>
#include "emu.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	// The hash of the kernel sources emu.cpp #includes: Go's build cache
	// does not see those files, so this import is what rebuilds the
	// emulator when they change (see package emu).
	"github.com/gotrain/gotrain/kernels/emu"
)

// Compiled reports which driver this binary was built with.
const Compiled = "cudaemu"

// emuErrLen is the size of the C buffer for the emulator's error messages.
const emuErrLen = 1024

// emuDriver is the cudaemu driver. Like every driver it is used from one
// goroutine; the emulator serialises launches from several drivers.
type emuDriver struct {
	total  int64          // "device memory": the machine's
	used   int64          // bytes allocated through alloc
	allocs map[ptr]int64  // live allocations and their sizes
	errbuf *C.char        // emuErrLen bytes of C memory
	argbuf unsafe.Pointer // 8*maxArgs bytes of C memory: a launch's packed arguments
	closed bool
}

var _ driver = (*emuDriver)(nil)

// emuFunction is a kernel of the emulator's table.
type emuFunction struct {
	name  string
	index C.int
}

func (f *emuFunction) Name() string { return f.name }

func openDriver(ordinal int) (driver, error) {
	if ordinal != 0 {
		return nil, fmt.Errorf("cudaemu: device %d: the emulator has one device, 0", ordinal)
	}
	return &emuDriver{
		total:  int64(C.gtemu_host_memory()),
		allocs: map[ptr]int64{},
		errbuf: (*C.char)(C.malloc(emuErrLen)),
		argbuf: C.malloc(8 * maxArgs),
	}, nil
}

func (d *emuDriver) name() string { return "cudaemu" }

func (d *emuDriver) info() Info {
	return Info{
		Name:        fmt.Sprintf("cudaemu (CUDA kernels on %d CPU threads)", int(C.gtemu_threads())),
		MemoryBytes: d.total,
		Driver:      "cudaemu, kernel sources " + emu.SourcesHash[:12],
		CUBLAS:      "cudaemu reference SGEMM (float32 loop)",
		Emulated:    true,
	}
}

func (d *emuDriver) usable() error {
	if d.closed {
		return fmt.Errorf("cudaemu: driver used after close")
	}
	return nil
}

func (d *emuDriver) alloc(bytes int64) (ptr, error) {
	if err := d.usable(); err != nil {
		return 0, err
	}
	if bytes < 0 {
		return 0, fmt.Errorf("cudaemu: alloc %d bytes: negative size", bytes)
	}
	if bytes > d.total-d.used {
		return 0, fmt.Errorf("cudaemu: alloc %d bytes: out of memory (%d of %d bytes free)", bytes, d.total-d.used, d.total)
	}
	p := ptr(C.gtemu_alloc(C.longlong(bytes)))
	if p == 0 {
		return 0, fmt.Errorf("cudaemu: alloc %d bytes: the C allocator failed (%d of %d bytes free)", bytes, d.total-d.used, d.total)
	}
	d.allocs[p] = bytes
	d.used += bytes
	return p, nil
}

func (d *emuDriver) free(p ptr) error {
	if err := d.usable(); err != nil {
		return err
	}
	bytes, ok := d.allocs[p]
	if !ok {
		return fmt.Errorf("cudaemu: free %#x: not an allocation of this device (freed twice?)", uintptr(p))
	}
	delete(d.allocs, p)
	d.used -= bytes
	C.gtemu_free(C.uintptr_t(p))
	return nil
}

func (d *emuDriver) memInfo() (free, total int64, err error) {
	if err := d.usable(); err != nil {
		return 0, 0, err
	}
	return d.total - d.used, d.total, nil
}

func (d *emuDriver) copyCheck(op string, bytes int64) error {
	if err := d.usable(); err != nil {
		return err
	}
	if bytes < 0 {
		return fmt.Errorf("cudaemu: %s of %d bytes: negative size", op, bytes)
	}
	return nil
}

// hostBytes is device memory [p, p+n) as a byte slice. The emulator's
// device addresses are C heap addresses, never Go memory, so copies are
// Go's copy (memmove) and no Go pointer is ever handed to C (cgo's pointer
// check rejects an unsafe.Pointer into a Go object that holds pointers).
func hostBytes(p ptr, n int64) []byte {
	return unsafe.Slice((*byte)(*(*unsafe.Pointer)(unsafe.Pointer(&p))), n)
}

func (d *emuDriver) htod(dst ptr, src unsafe.Pointer, bytes int64) error {
	if err := d.copyCheck("htod", bytes); err != nil || bytes == 0 {
		return err
	}
	copy(hostBytes(dst, bytes), unsafe.Slice((*byte)(src), bytes))
	return nil
}

func (d *emuDriver) dtoh(dst unsafe.Pointer, src ptr, bytes int64) error {
	if err := d.copyCheck("dtoh", bytes); err != nil || bytes == 0 {
		return err
	}
	copy(unsafe.Slice((*byte)(dst), bytes), hostBytes(src, bytes))
	return nil
}

func (d *emuDriver) dtod(dst, src ptr, bytes int64) error {
	if err := d.copyCheck("dtod", bytes); err != nil || bytes == 0 {
		return err
	}
	copy(hostBytes(dst, bytes), hostBytes(src, bytes))
	return nil
}

func (d *emuDriver) function(name string) (function, error) {
	if err := d.usable(); err != nil {
		return nil, err
	}
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	switch i := C.gtemu_lookup(cs); i {
	case -1:
		return nil, fmt.Errorf("cudaemu: no kernel named %q (kernels.cuh's GOTRAIN_KERNELS lists them)", name)
	case -2:
		return nil, fmt.Errorf("cudaemu: kernel %s is declared in kernels.cuh but no kernels/*.cu file defines it", name)
	default:
		return &emuFunction{name: name, index: i}, nil
	}
}

func (d *emuDriver) launch(f function, grid, block dim3, a *args) error {
	if err := d.usable(); err != nil {
		return err
	}
	ef, ok := f.(*emuFunction)
	if !ok || ef == nil {
		return fmt.Errorf("cudaemu: launch of %T: not a kernel of this driver", f)
	}
	copy(unsafe.Slice((*byte)(d.argbuf), 8*maxArgs), a.buf[:8*a.n])
	rc := C.gtemu_launch(ef.index, C.uint(grid.X), C.uint(grid.Y), C.uint(grid.Z),
		C.uint(block.X), C.uint(block.Y), C.uint(block.Z),
		d.argbuf, C.int(a.n), d.errbuf, emuErrLen)
	if rc != 0 {
		return fmt.Errorf("cudaemu: %s<<<(%d,%d,%d), (%d,%d,%d)>>>: %s", ef.name,
			grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z, C.GoString(d.errbuf))
	}
	return nil
}

func (d *emuDriver) gemm(g gemmArgs) error {
	if err := d.usable(); err != nil {
		return err
	}
	if err := emuCheckGemm(g); err != nil {
		return fmt.Errorf("cudaemu: %w", err)
	}
	rc := C.gtemu_sgemm(emuBool(g.transA), emuBool(g.transB), C.int(g.m), C.int(g.n), C.int(g.k), C.float(g.alpha),
		C.uintptr_t(g.a), C.int(g.lda), C.longlong(g.strideA),
		C.uintptr_t(g.b), C.int(g.ldb), C.longlong(g.strideB),
		C.float(g.beta), C.uintptr_t(g.c), C.int(g.ldc), C.longlong(g.strideC),
		C.int(g.batch), d.errbuf, emuErrLen)
	if rc != 0 {
		return fmt.Errorf("cudaemu: %s", C.GoString(d.errbuf))
	}
	return nil
}

// check validates a GEMM the way cuBLAS does (CUBLAS_STATUS_INVALID_VALUE).
func emuCheckGemm(g gemmArgs) error {
	rowsA, rowsB := g.m, g.k // rows of A and B as stored
	if g.transA {
		rowsA = g.k
	}
	if g.transB {
		rowsB = g.n
	}
	bad := ""
	switch {
	case g.m < 0 || g.n < 0 || g.k < 0 || g.batch < 0:
		bad = "negative size"
	case g.m > emuMaxInt32 || g.n > emuMaxInt32 || g.k > emuMaxInt32 || g.batch > emuMaxInt32:
		bad = "a size over 2^31-1"
	case g.lda < max(1, rowsA):
		bad = fmt.Sprintf("lda < %d", max(1, rowsA))
	case g.ldb < max(1, rowsB):
		bad = fmt.Sprintf("ldb < %d", max(1, rowsB))
	case g.ldc < max(1, g.m):
		bad = fmt.Sprintf("ldc < %d", max(1, g.m))
	case g.lda > emuMaxInt32 || g.ldb > emuMaxInt32 || g.ldc > emuMaxInt32:
		bad = "a leading dimension over 2^31-1"
	}
	if bad == "" {
		return nil
	}
	return fmt.Errorf("sgemm transA=%v transB=%v m=%d n=%d k=%d lda=%d ldb=%d ldc=%d batch=%d: %s",
		g.transA, g.transB, g.m, g.n, g.k, g.lda, g.ldb, g.ldc, g.batch, bad)
}

const emuMaxInt32 = 1<<31 - 1

func emuBool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// sync has nothing to wait for: every call has finished when it returns,
// and returned its own error.
func (d *emuDriver) sync() error { return d.usable() }

func (d *emuDriver) close() error {
	if d.closed {
		return nil
	}
	for p := range d.allocs {
		C.gtemu_free(C.uintptr_t(p))
	}
	clear(d.allocs)
	d.used = 0
	C.free(unsafe.Pointer(d.errbuf))
	C.free(d.argbuf)
	d.errbuf, d.argbuf = nil, nil
	d.closed = true
	return nil
}
