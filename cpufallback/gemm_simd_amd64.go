//go:build goexperiment.simd && amd64

package cpufallback

import (
	"simd/archsimd"
	"unsafe"
)

// The archsimd micro-kernels (GOEXPERIMENT=simd). Their twin for other
// builds is gemm_plain.go.
//
// The tile is 4 × 32. On CPUs with AVX-512 it is 8 Float32x16
// accumulators: each step of k loads two vectors of the B panel, broadcasts
// four elements of the A panel and issues 8 FMAs (121 GFLOP/s on one core
// of the build machine in L1, against 73 for the AVX2 kernel; whole GEMMs
// reach 90-98). On AVX2 + FMA CPUs the 4 × 16 kernel below does each half
// of the tile: 8 Float32x8 accumulators, two B vectors, four broadcasts, 8
// FMAs. Wider AVX2 tiles (6 × 16, 3 × 24) measured slower: archsimd's
// MulAdd maps to VFMADD213PS, which overwrites a multiplicand, so the
// register allocator needs spare registers for copies, and with 12
// accumulators it spills.
//
// Keep the loops' register pressure as it is and read the assembly
// (go build -gcflags=-S) after any change: the compiler spills 128-bit
// values with legacy-SSE MOVUPS, and a k loop unrolled twice that spilled
// its broadcast sources so ran 100x slower (see gemmMicroAVX2).
// BenchmarkGemmMicro shows it.

const (
	gemmMR = 4  // rows of the micro-tile
	gemmNR = 32 // columns of the micro-tile
)

// gemmAVX2 says the CPU runs the archsimd kernels; without AVX2 and FMA
// the generic Go kernel is used instead. gemmAVX512 picks the AVX-512
// kernel (4 × 32 in 8 Float32x16 accumulators, twice the AVX2 kernel's
// width); without it the AVX2 kernel does the tile as two 4 × 16 halves.
var (
	gemmAVX2   = archsimd.X86.AVX2() && archsimd.X86.FMA()
	gemmAVX512 = gemmAVX2 && archsimd.X86.AVX512()
)

// gemmMicro computes the MR × NR tile at c (row stride ldc) as
// alpha·Σ_l a[l·MR+i]·b[l·NR+j] + beta·c, reading c only when beta != 0.
// a and b are packed panels of kc × MR and kc × NR floats.
func gemmMicro(kc int, a, b, c *float32, ldc int, alpha, beta float32) {
	switch {
	case gemmAVX512:
		ab := [2]float32{alpha, beta}
		gemmMicroAVX512(kc, a, b, c, ldc, &ab, beta != 0)
	case gemmAVX2:
		ab := [2]float32{alpha, beta}
		gemmMicroAVX2(kc, a, b, c, ldc, &ab, beta != 0)
		gemmMicroAVX2(kc, a, (*float32)(unsafe.Add(unsafe.Pointer(b), 64)), (*float32)(unsafe.Add(unsafe.Pointer(c), 64)), ldc, &ab, beta != 0)
	default:
		gemmMicroGeneric(kc, a, b, c, ldc, alpha, beta)
	}
}

func ld8(p unsafe.Pointer, off uintptr) archsimd.Float32x8 {
	return archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(p, off)))
}

func st8(v archsimd.Float32x8, p unsafe.Pointer, off uintptr) {
	v.Store((*[8]float32)(unsafe.Add(p, off)))
}

// gemmMicroAVX2 is gemmMicro on a 4 × 16 half of the tile (b and c point
// at the half's first column; rows of the B panel are still gemmNR apart)
// for CPUs with AVX2 and FMA, with alpha and
// beta in ab and readC = (beta != 0). It loads through unsafe pointers so no
// bounds check stays in the loop; macroKernel has checked that the panels
// and the tile are in range.
//
// It must not touch a scalar float: Go encodes scalar float instructions as
// legacy SSE, and one of those in the loop while the upper halves of the Y
// registers are dirty ran the kernel 100x slower on this machine. So alpha
// and beta arrive by pointer (loaded straight into broadcasts, after the
// loop, which also leaves the loop two more registers) and the beta test is
// done by the caller.
func gemmMicroAVX2(kc int, a, b, c *float32, ldc int, ab *[2]float32, readC bool) {
	var c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float32x8
	pa, pb := unsafe.Pointer(a), unsafe.Pointer(b)
	// The pointers advance (indexing from the panel starts costs extra
	// address arithmetic in the loop, about 20% here), and the last step is
	// peeled so that they never point one past the end of a panel: such a
	// pointer breaks unsafe.Pointer's rules (checkptr under -race rejects it).
	for l := 1; l < kc; l++ {
		b0 := ld8(pb, 0)
		b1 := ld8(pb, 32)
		ap := (*[4]float32)(pa)
		x := archsimd.BroadcastFloat32x8(ap[0])
		c00 = b0.MulAdd(x, c00)
		c01 = b1.MulAdd(x, c01)
		x = archsimd.BroadcastFloat32x8(ap[1])
		c10 = b0.MulAdd(x, c10)
		c11 = b1.MulAdd(x, c11)
		x = archsimd.BroadcastFloat32x8(ap[2])
		c20 = b0.MulAdd(x, c20)
		c21 = b1.MulAdd(x, c21)
		x = archsimd.BroadcastFloat32x8(ap[3])
		c30 = b0.MulAdd(x, c30)
		c31 = b1.MulAdd(x, c31)
		pa = unsafe.Add(pa, 4*gemmMR)
		pb = unsafe.Add(pb, 4*gemmNR)
	}
	{
		b0 := ld8(pb, 0)
		b1 := ld8(pb, 32)
		ap := (*[4]float32)(pa)
		x := archsimd.BroadcastFloat32x8(ap[0])
		c00 = b0.MulAdd(x, c00)
		c01 = b1.MulAdd(x, c01)
		x = archsimd.BroadcastFloat32x8(ap[1])
		c10 = b0.MulAdd(x, c10)
		c11 = b1.MulAdd(x, c11)
		x = archsimd.BroadcastFloat32x8(ap[2])
		c20 = b0.MulAdd(x, c20)
		c21 = b1.MulAdd(x, c21)
		x = archsimd.BroadcastFloat32x8(ap[3])
		c30 = b0.MulAdd(x, c30)
		c31 = b1.MulAdd(x, c31)
	}
	va := archsimd.BroadcastFloat32x8(ab[0])
	c00, c01, c10, c11 = c00.Mul(va), c01.Mul(va), c10.Mul(va), c11.Mul(va)
	c20, c21, c30, c31 = c20.Mul(va), c21.Mul(va), c30.Mul(va), c31.Mul(va)
	r0 := unsafe.Pointer(c)
	stride := uintptr(ldc) * 4
	r1 := unsafe.Add(r0, stride)
	r2 := unsafe.Add(r1, stride)
	r3 := unsafe.Add(r2, stride)
	if readC {
		vb := archsimd.BroadcastFloat32x8(ab[1])
		c00 = ld8(r0, 0).MulAdd(vb, c00)
		c01 = ld8(r0, 32).MulAdd(vb, c01)
		c10 = ld8(r1, 0).MulAdd(vb, c10)
		c11 = ld8(r1, 32).MulAdd(vb, c11)
		c20 = ld8(r2, 0).MulAdd(vb, c20)
		c21 = ld8(r2, 32).MulAdd(vb, c21)
		c30 = ld8(r3, 0).MulAdd(vb, c30)
		c31 = ld8(r3, 32).MulAdd(vb, c31)
	}
	st8(c00, r0, 0)
	st8(c01, r0, 32)
	st8(c10, r1, 0)
	st8(c11, r1, 32)
	st8(c20, r2, 0)
	st8(c21, r2, 32)
	st8(c30, r3, 0)
	st8(c31, r3, 32)
	archsimd.ClearAVXUpperBits()
}

func ld16(p unsafe.Pointer, off uintptr) archsimd.Float32x16 {
	return archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(p, off)))
}

func st16(v archsimd.Float32x16, p unsafe.Pointer, off uintptr) {
	v.Store((*[16]float32)(unsafe.Add(p, off)))
}

// gemmMicroAVX512 is gemmMicroAVX2's scheme on the whole 4 × 32 tile with
// Float32x16 vectors: per step of k, two loads of the B panel, four
// broadcasts of the A panel and 8 FMAs on 8 independent accumulators
// (enough to cover the FMA latency on two units). The same rules hold: no
// scalar float in the loop, pointers that advance and a peeled last step.
func gemmMicroAVX512(kc int, a, b, c *float32, ldc int, ab *[2]float32, readC bool) {
	var c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float32x16
	pa, pb := unsafe.Pointer(a), unsafe.Pointer(b)
	for l := 1; l < kc; l++ {
		b0 := ld16(pb, 0)
		b1 := ld16(pb, 64)
		ap := (*[4]float32)(pa)
		x := archsimd.BroadcastFloat32x16(ap[0])
		c00 = b0.MulAdd(x, c00)
		c01 = b1.MulAdd(x, c01)
		x = archsimd.BroadcastFloat32x16(ap[1])
		c10 = b0.MulAdd(x, c10)
		c11 = b1.MulAdd(x, c11)
		x = archsimd.BroadcastFloat32x16(ap[2])
		c20 = b0.MulAdd(x, c20)
		c21 = b1.MulAdd(x, c21)
		x = archsimd.BroadcastFloat32x16(ap[3])
		c30 = b0.MulAdd(x, c30)
		c31 = b1.MulAdd(x, c31)
		pa = unsafe.Add(pa, 4*gemmMR)
		pb = unsafe.Add(pb, 4*gemmNR)
	}
	{
		b0 := ld16(pb, 0)
		b1 := ld16(pb, 64)
		ap := (*[4]float32)(pa)
		x := archsimd.BroadcastFloat32x16(ap[0])
		c00 = b0.MulAdd(x, c00)
		c01 = b1.MulAdd(x, c01)
		x = archsimd.BroadcastFloat32x16(ap[1])
		c10 = b0.MulAdd(x, c10)
		c11 = b1.MulAdd(x, c11)
		x = archsimd.BroadcastFloat32x16(ap[2])
		c20 = b0.MulAdd(x, c20)
		c21 = b1.MulAdd(x, c21)
		x = archsimd.BroadcastFloat32x16(ap[3])
		c30 = b0.MulAdd(x, c30)
		c31 = b1.MulAdd(x, c31)
	}
	va := archsimd.BroadcastFloat32x16(ab[0])
	c00, c01, c10, c11 = c00.Mul(va), c01.Mul(va), c10.Mul(va), c11.Mul(va)
	c20, c21, c30, c31 = c20.Mul(va), c21.Mul(va), c30.Mul(va), c31.Mul(va)
	r0 := unsafe.Pointer(c)
	stride := uintptr(ldc) * 4
	r1 := unsafe.Add(r0, stride)
	r2 := unsafe.Add(r1, stride)
	r3 := unsafe.Add(r2, stride)
	if readC {
		vb := archsimd.BroadcastFloat32x16(ab[1])
		c00 = ld16(r0, 0).MulAdd(vb, c00)
		c01 = ld16(r0, 64).MulAdd(vb, c01)
		c10 = ld16(r1, 0).MulAdd(vb, c10)
		c11 = ld16(r1, 64).MulAdd(vb, c11)
		c20 = ld16(r2, 0).MulAdd(vb, c20)
		c21 = ld16(r2, 64).MulAdd(vb, c21)
		c30 = ld16(r3, 0).MulAdd(vb, c30)
		c31 = ld16(r3, 64).MulAdd(vb, c31)
	}
	st16(c00, r0, 0)
	st16(c01, r0, 64)
	st16(c10, r1, 0)
	st16(c11, r1, 64)
	st16(c20, r2, 0)
	st16(c21, r2, 64)
	st16(c30, r3, 0)
	st16(c31, r3, 64)
	archsimd.ClearAVXUpperBits()
}

// gemmMACsPerMicro is the kernel's single-core speed in multiply-adds per
// microsecond (about 60 GFLOP/s), for the parallel threshold.
const gemmMACsPerMicro = 30000
