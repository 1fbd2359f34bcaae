package cpufallback

import (
	"fmt"
	"unsafe"

	"github.com/gotrain/gotrain/kernels"
)

// The GEMM follows the BLIS / GotoBLAS loop nest. For one region of C (a
// batch, a range of rows and a range of columns) it runs
//
//	for jc in columns, step gemmNC:          B block (kc × nc) lives in L2/L3
//	  for pc in 0..K, step gemmKC:
//	    pack op(B)[pc:pc+kc, jc:jc+nc] into panels of gemmNR columns
//	    for ic in rows, step gemmMC:         A block (mc × kc) lives in L2
//	      pack op(A)[ic:ic+mc, pc:pc+kc] into panels of gemmMR rows
//	      for each B panel (kc × NR, stays in L1):
//	        for each A panel (MR × kc):
//	          micro-kernel: C[MR×NR] = alpha·Apanel·Bpanel + beta'·C
//
// where beta' is the caller's Beta for the first K block and 1 after it, so
// C is read only when Beta != 0. Packing copies op(A) and op(B) into
// contiguous, zero-padded panels, so transposed operands cost nothing
// extra in the inner loop and edge tiles need no special kernel.
//
// Parallelism: each product's C is cut into a gm × gn grid of regions
// (rows in whole MR panels, columns in whole NR panels), chosen to balance
// the work and limit re-packing; regions of all batches are the units the
// pool's chunks take. Each chunk packs into its own scratch, so workers
// never share writable memory except disjoint parts of C.
//
// The micro-kernel (gemmMR × gemmNR, gemmMicro) lives in gemm_simd_amd64.go
// (AVX2 + FMA through simd/archsimd, built with GOEXPERIMENT=simd) and
// gemm_plain.go (plain Go, every other build).

// Cache blocking. A block of op(A) is gemmMC × gemmKC floats (96 KiB) and
// is re-read from L2 by every B panel; a B panel is gemmKC × gemmNR floats
// (24 KiB with NR=16) and stays in L1 while the A panels stream past it. K
// is cut into equal blocks of at most gemmKC (784 = 3 × 262, not
// 384+384+16). Measured on the 2-core build machine at n=512 and 1024,
// KC from 256 to 512 and MC from 64 to 128 were within noise of each other;
// KC=384 leaves room in a 32 KiB L1 (Zen 3) for the streaming A panels.
const (
	gemmKC = 384
	gemmMC = 64
	gemmNC = 2048
)

// gemmMinParallel is the work (batch·M·N·K multiply-adds) below which a
// product runs on the calling goroutine alone: about gemmParallelMicros of
// single-core time at the build's kernel speed (gemmMACsPerMicro, in
// gemm_simd_amd64.go or gemm_plain.go). Below it, waking a worker costs
// more than it saves (see gemmRegions). Every chunk gets at least half of it.
const (
	gemmParallelMicros = 100
	gemmMinParallel    = gemmParallelMicros * gemmMACsPerMicro
)

// gemmState is the GEMM's reusable state: the current product's operands
// and one packing scratch per chunk. It lives in the pool's task (task.mm)
// and grows only when a bigger product than any before needs more scratch,
// so steady-state calls allocate nothing.
type gemmState struct {
	a, b, c     []float32 // whole buffers, all batches
	m, n, k     int
	transA      bool
	transB      bool
	alpha, beta float32
	gm, gn      int // region grid per product
	pm, pn      int // panels: ceil(M/MR), ceil(N/NR)
	scratch     [maxChunks]gemmScratch
}

// gemmScratch is one chunk's packing buffers.
type gemmScratch struct {
	a []float32 // A block: ceil(mc/MR) panels of kc × MR
	b []float32 // B block: ceil(nc/NR) panels of kc × NR
	t [gemmMR * gemmNR]float32
}

// MatMul implements kernels.MatMul.
func (b *Backend) MatMul(c, a, bb kernels.Buffer, p kernels.MatMulParams) error {
	const op = "matmul"
	if p.M < 0 || p.N < 0 || p.K < 0 || p.Batch < 0 {
		return fmt.Errorf("%s %v: negative dimension: %w", op, p, kernels.ErrShape)
	}
	batch := p.Batches()
	na, nb, nc := batch*p.M*p.K, batch*p.K*p.N, batch*p.M*p.N
	as, err := f32(op, "a", a, na)
	if err != nil {
		return matmulErr(p, "a", a, na)
	}
	bs, err := f32(op, "b", bb, nb)
	if err != nil {
		return matmulErr(p, "b", bb, nb)
	}
	cs, err := f32(op, "c", c, nc)
	if err != nil {
		return matmulErr(p, "c", c, nc)
	}
	if p.M == 0 || p.N == 0 {
		return nil
	}
	if p.K == 0 {
		scaleC(cs, p.Beta)
		return nil
	}
	t := b.pool.task(gemmRegions)
	if t.mm == nil {
		t.mm = new(gemmState)
	}
	s := t.mm
	s.a, s.b, s.c = as, bs, cs
	s.m, s.n, s.k = p.M, p.N, p.K
	s.transA, s.transB = p.TransA, p.TransB
	s.alpha, s.beta = p.Alpha, p.Beta
	s.pm, s.pn = (p.M+gemmMR-1)/gemmMR, (p.N+gemmNR-1)/gemmNR
	units, chunks := s.plan(batch, b.pool.workers)
	if chunks <= 1 {
		gemmRegions(t, 0, 0, units)
	} else {
		b.pool.runChunks(t, units, chunks)
	}
	// Drop the references so the pool does not keep the caller's buffers alive.
	s.a, s.b, s.c = nil, nil, nil
	return nil
}

// matmulErr reports a bad buffer with the product's parameters and the
// length it needed. It runs only on the error path, so its string building
// costs nothing in steady state.
func matmulErr(p kernels.MatMulParams, what string, buf kernels.Buffer, n int) error {
	_, err := f32("matmul "+p.String(), what, buf, n)
	return err
}

// scaleC sets c = beta·c, writing zeros without reading c when beta is 0.
func scaleC(c []float32, beta float32) {
	if beta == 0 {
		clear(c)
		return
	}
	if beta == 1 {
		return
	}
	for i := range c {
		c[i] *= beta
	}
}

// plan chooses the region grid and returns the number of work units (regions
// over all batches) and of chunks to run them in. It also sizes every
// chunk's scratch, before any worker starts.
func (s *gemmState) plan(batch, workers int) (units, chunks int) {
	work := batch * s.m * s.n * s.k
	want := 1
	if work >= gemmMinParallel && workers > 1 {
		want = min(workers, maxChunks, max(1, work/(gemmMinParallel/2)))
	}
	// Cut each product into per regions so that the batch·per units
	// divide evenly among the chunks: 3 products on 2 chunks become 6
	// halves, not 2 + 1 products.
	s.gm, s.gn = 1, 1
	if per := want / gcd(batch, want); per > 1 {
		s.gm, s.gn = splitGrid(per, s.pm, s.pn)
	}
	units = batch * s.gm * s.gn
	chunks = min(want, units)

	// Scratch for the largest region: rows and columns rounded up to panels.
	rows := min((s.pm+s.gm-1)/s.gm*gemmMR, (gemmMC+gemmMR-1)/gemmMR*gemmMR)
	cols := min((s.pn+s.gn-1)/s.gn*gemmNR, (gemmNC+gemmNR-1)/gemmNR*gemmNR)
	kc := min(s.k, gemmKC)
	for i := 0; i < max(chunks, 1); i++ {
		sc := &s.scratch[i]
		if len(sc.a) < rows*kc {
			sc.a = make([]float32, rows*kc)
		}
		if len(sc.b) < cols*kc {
			sc.b = make([]float32, cols*kc)
		}
	}
	return units, chunks
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// splitGrid factors parts into gm × gn regions of a pm × pn panel grid,
// minimising the cost of the largest region: its multiply-adds (MR·NR per
// panel pair, about 16 per cycle vectorised) plus the packing copies of its
// rows and columns (about one per cycle).
func splitGrid(parts, pm, pn int) (gm, gn int) {
	gm, gn = 1, 1
	best := -1.0
	for g := 1; g <= parts; g++ {
		if parts%g != 0 {
			continue
		}
		h := parts / g
		if g > pm || h > pn {
			continue
		}
		rows := float64((pm + g - 1) / g * gemmMR)
		cols := float64((pn + h - 1) / h * gemmNR)
		cost := rows*cols/16 + rows + cols
		if best < 0 || cost < best {
			best, gm, gn = cost, g, h
		}
	}
	if best < 0 && parts > 1 {
		// Too few panels for that many parts: use fewer.
		return splitGrid(parts-1, pm, pn)
	}
	return gm, gn
}

// gemmRegions is the task function: it computes units [lo, hi), each one
// region of one product, with chunk's scratch. (The pool yields before
// chunk 0 so the workers start at once: see runChunks.)
func gemmRegions(t *task, chunk, lo, hi int) {
	s := t.mm
	sc := &s.scratch[chunk]
	per := s.gm * s.gn
	for u := lo; u < hi; u++ {
		bt, r := u/per, u%per
		ri, rj := r/s.gn, r%s.gn
		i0 := ri * s.pm / s.gm * gemmMR
		i1 := min((ri+1)*s.pm/s.gm*gemmMR, s.m)
		j0 := rj * s.pn / s.gn * gemmNR
		j1 := min((rj+1)*s.pn/s.gn*gemmNR, s.n)
		if i0 >= i1 || j0 >= j1 {
			continue
		}
		s.region(sc, bt, i0, i1, j0, j1)
	}
}

// region computes C[i0:i1, j0:j1] of product bt.
func (s *gemmState) region(sc *gemmScratch, bt, i0, i1, j0, j1 int) {
	m, n, k := s.m, s.n, s.k
	a := s.a[bt*m*k : (bt+1)*m*k]
	b := s.b[bt*k*n : (bt+1)*k*n]
	c := s.c[bt*m*n : (bt+1)*m*n]
	lda, ldb := k, n
	if s.transA {
		lda = m
	}
	if s.transB {
		ldb = k
	}
	for jc := j0; jc < j1; jc += gemmNC {
		nc := min(gemmNC, j1-jc)
		nk := (k + gemmKC - 1) / gemmKC
		for kb := 0; kb < nk; kb++ {
			pc := kb * k / nk
			kc := (kb+1)*k/nk - pc
			beta := s.beta
			if kb > 0 {
				beta = 1
			}
			packB(sc.b, b, ldb, s.transB, pc, kc, jc, nc)
			for ic := i0; ic < i1; ic += gemmMC {
				mc := min(gemmMC, i1-ic)
				packA(sc.a, a, lda, s.transA, ic, mc, pc, kc)
				macroKernel(sc, c[ic*n+jc:], n, mc, nc, kc, s.alpha, beta)
			}
		}
	}
}

// macroKernel multiplies a packed mc × kc block of A by a packed kc × nc
// block of B into c (row stride ldc): c = alpha·A·B + beta·c.
func macroKernel(sc *gemmScratch, c []float32, ldc, mc, nc, kc int, alpha, beta float32) {
	ap, bp := sc.a, sc.b
	for jr := 0; jr < nc; jr += gemmNR {
		nr := min(gemmNR, nc-jr)
		bpan := bp[jr*kc : jr*kc+kc*gemmNR]
		for ir := 0; ir < mc; ir += gemmMR {
			mr := min(gemmMR, mc-ir)
			apan := ap[ir*kc : ir*kc+kc*gemmMR]
			off := ir*ldc + jr
			if mr == gemmMR && nr == gemmNR {
				// Full tile: the kernel reads and writes C in place. Check
				// the last element it touches, once, here.
				_ = c[off+(gemmMR-1)*ldc+gemmNR-1]
				gemmMicro(kc, &apan[0], &bpan[0], &c[off], ldc, alpha, beta)
				continue
			}
			// Edge tile: compute into scratch, then merge the valid part.
			gemmMicro(kc, &apan[0], &bpan[0], &sc.t[0], gemmNR, alpha, 0)
			for i := 0; i < mr; i++ {
				row := c[off+i*ldc : off+i*ldc+nr]
				t := sc.t[i*gemmNR : i*gemmNR+nr]
				if beta == 0 {
					copy(row, t)
					continue
				}
				for j := range row {
					row[j] = t[j] + beta*row[j]
				}
			}
		}
	}
}

// packA packs rows [i0, i0+mc) and columns [l0, l0+kc) of op(A) into dst as
// ceil(mc/MR) panels, each kc × MR (element (i, l) of a panel at l·MR+i).
// Rows past mc are zero. op(A)(i, l) is a[i·lda+l], or a[l·lda+i] when trans.
func packA(dst, a []float32, lda int, trans bool, i0, mc, l0, kc int) {
	full := mc / gemmMR * gemmMR // rows in whole panels
	if trans {
		// Row l of Aᵀ holds column l of op(A): read it once, left to right,
		// and drop MR elements into each panel.
		for l := 0; l < kc; l++ {
			src := a[(l0+l)*lda+i0 : (l0+l)*lda+i0+mc]
			for p := 0; p < full; p += gemmMR {
				*(*[gemmMR]float32)(dst[p*kc+l*gemmMR:]) = *(*[gemmMR]float32)(src[p:])
			}
			if full < mc {
				d := (*[gemmMR]float32)(dst[full*kc+l*gemmMR:])
				for r := range d {
					d[r] = 0
					if full+r < mc {
						d[r] = src[full+r]
					}
				}
			}
		}
		return
	}
	for p := 0; p < mc; p += gemmMR {
		d := dst[p*kc : p*kc+kc*gemmMR]
		mr := min(gemmMR, mc-p)
		if gemmMR == 4 && mr == 4 {
			// Read the panel's four rows side by side and write each
			// step of k as one contiguous group.
			o := (i0+p)*lda + l0
			r0 := a[o : o+kc]
			r1 := a[o+lda : o+lda+kc]
			r2 := a[o+2*lda : o+2*lda+kc]
			r3 := a[o+3*lda : o+3*lda+kc]
			for l := range r0 {
				x := d[l*4 : l*4+4]
				x[0], x[1], x[2], x[3] = r0[l], r1[l], r2[l], r3[l]
			}
			continue
		}
		for r := 0; r < gemmMR; r++ {
			if r >= mr {
				for l := 0; l < kc; l++ {
					d[l*gemmMR+r] = 0
				}
				continue
			}
			src := a[(i0+p+r)*lda+l0 : (i0+p+r)*lda+l0+kc]
			for l, v := range src {
				d[l*gemmMR+r] = v
			}
		}
	}
}

// packB packs rows [l0, l0+kc) and columns [j0, j0+nc) of op(B) into dst as
// ceil(nc/NR) panels, each kc × NR (element (l, j) of a panel at l·NR+j).
// Columns past nc are zero. op(B)(l, j) is b[l·ldb+j], or b[j·ldb+l] when
// trans.
func packB(dst, b []float32, ldb int, trans bool, l0, kc, j0, nc int) {
	full := nc / gemmNR * gemmNR // columns in whole panels
	if !trans {
		// Read each row of B once, left to right, and drop NR elements
		// into each panel.
		for l := 0; l < kc; l++ {
			src := b[(l0+l)*ldb+j0 : (l0+l)*ldb+j0+nc]
			for q := 0; q < full; q += gemmNR {
				d, s := dst[q*kc+l*gemmNR:q*kc+l*gemmNR+gemmNR], src[q:q+gemmNR]
				// Four elements at a time: a 64-byte array copy would
				// call memmove.
				for j := 0; j < gemmNR; j += 4 {
					*(*[4]float32)(d[j:]) = *(*[4]float32)(s[j:])
				}
			}
			if full < nc {
				d := (*[gemmNR]float32)(dst[full*kc+l*gemmNR:])
				n := copy(d[:], src[full:])
				clear(d[n:])
			}
		}
		return
	}
	for q := 0; q < nc; q += gemmNR {
		d := dst[q*kc : q*kc+kc*gemmNR]
		nr := min(gemmNR, nc-q)
		for j := 0; j < gemmNR; j++ {
			if j >= nr {
				for l := 0; l < kc; l++ {
					d[l*gemmNR+j] = 0
				}
				continue
			}
			src := b[(j0+q+j)*ldb+l0 : (j0+q+j)*ldb+l0+kc]
			for l, v := range src {
				d[l*gemmNR+j] = v
			}
		}
	}
}

// gemmMicroGeneric is gemmMicro in plain loops, for any MR × NR: the
// fallback of the archsimd build on CPUs without AVX2 and FMA, and a
// reference for the tests.
func gemmMicroGeneric(kc int, a, b, c *float32, ldc int, alpha, beta float32) {
	as := unsafe.Slice(a, kc*gemmMR)
	bs := unsafe.Slice(b, kc*gemmNR)
	cs := unsafe.Slice(c, (gemmMR-1)*ldc+gemmNR)
	var acc [gemmMR * gemmNR]float32
	for l := 0; l < kc; l++ {
		bl := bs[l*gemmNR : l*gemmNR+gemmNR]
		for i, x := range as[l*gemmMR : l*gemmMR+gemmMR] {
			row := acc[i*gemmNR : i*gemmNR+gemmNR]
			for j, y := range bl {
				row[j] += x * y
			}
		}
	}
	for i := 0; i < gemmMR; i++ {
		row := cs[i*ldc : i*ldc+gemmNR]
		for j := range row {
			v := alpha * acc[i*gemmNR+j]
			if beta != 0 {
				v += beta * row[j]
			}
			row[j] = v
		}
	}
}
