//go:build !goexperiment.simd || !amd64

package cpufallback

import "unsafe"

// The plain-Go micro-kernel, for builds without GOEXPERIMENT=simd (or off
// amd64). Its AVX2 twin is gemm_simd_amd64.go.
//
// Go does not vectorise, and amd64 has 15 usable scalar float registers, so
// the tile is 2 × 4: 8 accumulators, 4 B values, one A value and a temporary.
// Larger tiles spill to the stack and run slower. The k loop is unrolled
// twice. About 10 GFLOP/s per core in L1.

const (
	gemmMR = 2 // rows of the micro-tile
	gemmNR = 4 // columns of the micro-tile
)

// gemmAVX2 is false: this build has no vector kernel.
const gemmAVX2 = false

// gemmMicro computes the MR × NR tile at c (row stride ldc) as
// alpha·Σ_l a[l·MR+i]·b[l·NR+j] + beta·c, reading c only when beta != 0.
// a and b are packed panels of kc × MR and kc × NR floats. It reads through
// unsafe pointers, so no bounds check stays in the loop; macroKernel has
// checked that the panels and the tile are in range.
func gemmMicro(kc int, a, b, c *float32, ldc int, alpha, beta float32) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	pa, pb := unsafe.Pointer(a), unsafe.Pointer(b)
	// The pointers advance two steps at a time while at least one more step
	// follows, so they never point one past the end of a panel (that breaks
	// unsafe.Pointer's rules; checkptr under -race rejects it). The last one
	// or two steps use offsets.
	l := 0
	for ; l+2 < kc; l += 2 {
		aa := (*[4]float32)(pa)
		bb := (*[8]float32)(pb)
		b0, b1, b2, b3 := bb[0], bb[1], bb[2], bb[3]
		x := aa[0]
		c00 += x * b0
		c01 += x * b1
		c02 += x * b2
		c03 += x * b3
		x = aa[1]
		c10 += x * b0
		c11 += x * b1
		c12 += x * b2
		c13 += x * b3
		b0, b1, b2, b3 = bb[4], bb[5], bb[6], bb[7]
		x = aa[2]
		c00 += x * b0
		c01 += x * b1
		c02 += x * b2
		c03 += x * b3
		x = aa[3]
		c10 += x * b0
		c11 += x * b1
		c12 += x * b2
		c13 += x * b3
		pa = unsafe.Add(pa, 8*gemmMR)
		pb = unsafe.Add(pb, 8*gemmNR)
	}
	for ; l < kc; l++ {
		aa := (*[2]float32)(pa)
		bb := (*[4]float32)(pb)
		b0, b1, b2, b3 := bb[0], bb[1], bb[2], bb[3]
		x := aa[0]
		c00 += x * b0
		c01 += x * b1
		c02 += x * b2
		c03 += x * b3
		x = aa[1]
		c10 += x * b0
		c11 += x * b1
		c12 += x * b2
		c13 += x * b3
		if l+1 < kc {
			pa = unsafe.Add(pa, 4*gemmMR)
			pb = unsafe.Add(pb, 4*gemmNR)
		}
	}
	r0 := (*[4]float32)(unsafe.Pointer(c))
	r1 := (*[4]float32)(unsafe.Add(unsafe.Pointer(c), ldc*4))
	if beta == 0 {
		*r0 = [4]float32{alpha * c00, alpha * c01, alpha * c02, alpha * c03}
		*r1 = [4]float32{alpha * c10, alpha * c11, alpha * c12, alpha * c13}
		return
	}
	r0[0] = alpha*c00 + beta*r0[0]
	r0[1] = alpha*c01 + beta*r0[1]
	r0[2] = alpha*c02 + beta*r0[2]
	r0[3] = alpha*c03 + beta*r0[3]
	r1[0] = alpha*c10 + beta*r1[0]
	r1[1] = alpha*c11 + beta*r1[1]
	r1[2] = alpha*c12 + beta*r1[2]
	r1[3] = alpha*c13 + beta*r1[3]
}

// gemmMACsPerMicro is the kernel's single-core speed in multiply-adds per
// microsecond (about 8 GFLOP/s), for the parallel threshold.
const gemmMACsPerMicro = 4000
