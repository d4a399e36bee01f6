//go:build !purego

package sparse

import "github.com/compressq/compressq/compress/internal/cpu"

// The kernels declared below are generated with avo by the separate module
// in asm/ (so this module does not depend on avo).
//go:generate go run -C asm . -out ../kernels_amd64.s

// cpuAsm reports whether the CPU and OS support the AVX2+FMA kernels; read
// once at start-up.
var cpuAsm = cpu.AVX2 && cpu.FMA

// csrStrip64 computes, for the nnz entries of one sparse row, the 64-wide
// strip c[0:64] = Σ_t val[t]·b[col[t]·ldb : col[t]·ldb+64] (ldb in
// elements), overwriting c. It needs AVX2 and FMA. Reference loop:
//
//	for j := 0; j < 64; j++ {
//		var s float32
//		for t := 0; t < nnz; t++ {
//			s += val[t] * b[col[t]*ldb+j]
//		}
//		c[j] = s
//	}
//
//go:noescape
func csrStrip64(val *float32, col *int32, nnz int, b *float32, ldb int, c *float32)

// csrStrip8 is csrStrip64 for an 8-wide strip.
//
//go:noescape
func csrStrip8(val *float32, col *int32, nnz int, b *float32, ldb int, c *float32)

// csrSpMV computes y[i] = Σ_{p ∈ [rowPtr[i], rowPtr[i+1])} val[p]·x[col[p]]
// for i < rows, eight entries at a time with VGATHERDPS and the rest with
// scalar FMAs. rowPtr points at rows+1 pointers; col and val at the start of
// the whole matrix's arrays. It needs AVX2 and FMA.
//
//go:noescape
func csrSpMV(rowPtr *int32, col *int32, val *float32, rows int, x *float32, y *float32)

// bsrStrip64 computes the 64-wide strip of one row ii of a block row:
// c[0:64] = Σ_{p<nblocks} Σ_{jj<bc} val[p·vstride+jj]·b[(col[p]·bc+jj)·ldb : +64],
// overwriting c, where val points at row ii of the first block and vstride
// is the block size R·C. Every row col[p]·bc+jj must exist in b. It needs
// AVX2 and FMA.
//
//go:noescape
func bsrStrip64(val *float32, vstride int, col *int32, nblocks int, bc int, b *float32, ldb int, c *float32)

// bsrDot8 returns Σ_{p<nblocks} Σ_{jj<8} val[p·vstride+jj]·x[col[p]·8+jj]
// for one row of a block row with 8-wide blocks. It needs AVX2 and FMA.
//
//go:noescape
func bsrDot8(val *float32, vstride int, col *int32, nblocks int, x *float32) float32

// bsrAsm reports whether a's blocks can go to the assembly: no partial
// last block column (whose B rows would not exist).
func bsrAsm(a *BSR[float32]) bool { return useAsm && a.cols%a.c == 0 && a.NNZ() > 0 }

func spmmBSRRows(a *BSR[float32], b []float32, n, ldb int, c []float32, ldc, lo, hi int) {
	if !bsrAsm(a) || n < 64 {
		spmmBSRRowsGo(a, b, n, ldb, c, ldc, lo, hi)
		return
	}
	r, cc := a.r, a.c
	for bi := lo; bi < hi; bi++ {
		p0, p1 := a.rowPtr[bi], a.rowPtr[bi+1]
		rows := min(r, a.rows-bi*r)
		for ii := range rows {
			row := c[(bi*r+ii)*ldc : (bi*r+ii)*ldc+n]
			if p0 == p1 {
				clear(row)
				continue
			}
			j := 0
			for ; j+64 <= n; j += 64 {
				bsrStrip64(&a.val[int(p0)*r*cc+ii*cc], r*cc, &a.colIdx[p0], int(p1-p0), cc, &b[j], ldb, &row[j])
			}
			if j < n {
				tail := row[j:]
				clear(tail)
				for p := p0; p < p1; p++ {
					blk := a.val[int(p)*r*cc+ii*cc:][:cc]
					for jj, v := range blk {
						axpyF32(v, b[(int(a.colIdx[p])*cc+jj)*ldb+j:][:len(tail)], tail)
					}
				}
			}
		}
	}
}

func spmvBSRRows(a *BSR[float32], x, y []float32, lo, hi int) {
	if !bsrAsm(a) || a.c != 8 {
		spmvBSRRowsGo(a, x, y, lo, hi)
		return
	}
	r := a.r
	for bi := lo; bi < hi; bi++ {
		p0, p1 := a.rowPtr[bi], a.rowPtr[bi+1]
		for ii := range min(r, a.rows-bi*r) {
			if p0 == p1 {
				y[bi*r+ii] = 0
				continue
			}
			y[bi*r+ii] = bsrDot8(&a.val[int(p0)*r*8+ii*8], r*8, &a.colIdx[p0], int(p1-p0), &x[0])
		}
	}
}

func spmmCSRRows(a *CSR[float32], b []float32, n, ldb int, c []float32, ldc, lo, hi int) {
	if !useAsm || n < 8 {
		spmmCSRRowsGo(a, b, n, ldb, c, ldc, lo, hi)
		return
	}
	for i := lo; i < hi; i++ {
		p0, p1 := a.rowPtr[i], a.rowPtr[i+1]
		row := c[i*ldc : i*ldc+n]
		if p0 == p1 {
			clear(row)
			continue
		}
		vals, cols := &a.val[p0], &a.colIdx[p0]
		nnz := int(p1 - p0)
		j := 0
		for ; j+64 <= n; j += 64 {
			csrStrip64(vals, cols, nnz, &b[j], ldb, &row[j])
		}
		for ; j+8 <= n; j += 8 {
			csrStrip8(vals, cols, nnz, &b[j], ldb, &row[j])
		}
		if j < n {
			tail := row[j:]
			clear(tail)
			for p := p0; p < p1; p++ {
				axpyF32(a.val[p], b[int(a.colIdx[p])*ldb+j:][:len(tail)], tail)
			}
		}
	}
}

func spmvCSRRows(a *CSR[float32], x, y []float32, lo, hi int) {
	if !useAsm || a.NNZ() == 0 || hi == lo {
		spmvCSRRowsGo(a, x, y, lo, hi)
		return
	}
	csrSpMV(&a.rowPtr[lo], &a.colIdx[0], &a.val[0], hi-lo, &x[0], &y[lo])
}

// nm24KBlock is how many 2:4 groups one pass of nm24Rows64 covers: the
// 4·16 rows × 64 columns of B they select from (16 KiB) stay in L1 while
// every row of A visits them, instead of each row streaming all of B from
// L2. The kernels prefetch the 128 bytes of values (16 groups) of the row
// four rows ahead, so the two must change together.
const nm24KBlock = 16

// nm24Rows64 computes the 64-column strip of rows consecutive rows of a
// 2:4 matrix over groups groups: for r < rows and j < 64,
//
//	c[r·ldc+j] (+)= Σ_{q<groups} Σ_s val[r·2gs+2q+s]·b[(4q+pos_s(idx[r·gs+q]))·ldb+j]
//
// where pos_0(x) = x&3 and pos_1(x) = x>>2&3, adding to c when acc ≠ 0 and
// overwriting it otherwise. gs is the groups per row of the whole matrix
// (the row stride of idx, half that of val). Every selected row of b must
// exist. It needs AVX2 and FMA.
//
//go:noescape
func nm24Rows64(val *float32, idx *uint8, gs int, rows int, groups int, b *float32, ldb int, c *float32, ldc int, acc int)

// nm24Rows8 is nm24Rows64 for an 8-column strip.
//
//go:noescape
func nm24Rows8(val *float32, idx *uint8, gs int, rows int, groups int, b *float32, ldb int, c *float32, ldc int, acc int)

func spmmNM24Rows(a *NM24[float32], b []float32, n, ldb int, c []float32, ldc, lo, hi int) {
	full := a.cols / 4
	if !useAsm || n < 8 || full == 0 || lo == hi {
		spmmNM24RowsGo(a, b, n, ldb, c, ldc, lo, hi)
		return
	}
	g, rows := a.Groups(), hi-lo
	j := 0
	for ; j+64 <= n; j += 64 {
		for q := 0; q < full; q += nm24KBlock {
			nm24Rows64(&a.val[2*(lo*g+q)], &a.idx[lo*g+q], g, rows, min(nm24KBlock, full-q), &b[4*q*ldb+j], ldb, &c[lo*ldc+j], ldc, q)
		}
	}
	for ; j+8 <= n; j += 8 {
		for q := 0; q < full; q += nm24KBlock {
			nm24Rows8(&a.val[2*(lo*g+q)], &a.idx[lo*g+q], g, rows, min(nm24KBlock, full-q), &b[4*q*ldb+j], ldb, &c[lo*ldc+j], ldc, q)
		}
	}
	for i := lo; i < hi; i++ {
		row := c[i*ldc : i*ldc+n]
		if j < n {
			tail := row[j:]
			clear(tail)
			for q := range full {
				k := i*g + q
				for s := range 2 {
					if v := a.val[2*k+s]; v != 0 {
						axpyF32(v, b[(4*q+int(a.idx[k]>>(2*s)&3))*ldb+j:][:len(tail)], tail)
					}
				}
			}
		}
		if full < g { // the partial last group
			k := i*g + full
			for s := range 2 {
				if v := a.val[2*k+s]; v != 0 {
					axpyF32(v, b[(4*full+int(a.idx[k]>>(2*s)&3))*ldb:][:n], row)
				}
			}
		}
	}
}

// i8nm24KBlock is how many 2:4 groups one pass of i8nm24Rows64 covers; its
// pair panel (8 groups × 6 pairs × 64 columns × 4 bytes, 12 KiB) stays in
// L1. The kernels prefetch 32 value bytes (up to 16 groups) of the row
// four rows ahead, so the block must not grow past 16 groups.
const i8nm24KBlock = 8

// i8PairSlots is the number of pair slots per group of a pair panel: one
// for each index byte x from 4 to 14 (slot x−4), of which the six valid
// ones (p0 < p1) are filled.
const i8PairSlots = 11

// i8nm24Rows64 computes the 64-column strip of rows consecutive rows of an
// int8 2:4 matrix over groups groups from a pair panel bp (see
// packPairs): with x = idx[r·gs+q] and the panel slot
// P = bp[(q·11 + x−4)·64:], for r < rows and j < 64
//
//	c[r·ldc+j] (+)= Σ_{q<groups} val[r·2gs+2q]·lo16(P[j]) + val[r·2gs+2q+1]·hi16(P[j])
//
// exactly in int32 (VPMADDWD of the two int16 weights with the int16 pair),
// adding to c when acc ≠ 0 and overwriting it otherwise. Every index byte
// must be valid (checked at construction). It needs AVX2.
//
//go:noescape
func i8nm24Rows64(val *int8, idx *uint8, gs int, rows int, groups int, bp *uint32, c *int32, ldc int, acc int)

// i8nm24Rows8 is i8nm24Rows64 for an 8-column strip (slots of 8 pairs).
//
//go:noescape
func i8nm24Rows8(val *int8, idx *uint8, gs int, rows int, groups int, bp *uint32, c *int32, ldc int, acc int)

// packPairs fills the pair panel dst for groups [q0, q0+kb) and columns
// [j0, j0+w) of B: for each group q and positions p0 < p1, slot
// (q−q0)·11 + (p0 | p1<<2) − 4 holds, for each column j, the int16 pair
// (B[4q+p0][j] − bZero, B[4q+p1][j] − bZero), low half first. Both
// differences lie in [−255, 255], and a VPMADDWD of a pair with two int8
// weights is exact.
func packPairs(dst []uint32, b []uint8, ldb int, bZero uint8, q0, kb, j0, w int) {
	z := int16(bZero)
	var rows [4][64]uint16
	for q := range kb {
		for p := range 4 {
			src := b[(4*(q0+q)+p)*ldb+j0:][:w]
			for j, x := range src {
				rows[p][j] = uint16(int16(x) - z)
			}
		}
		grp := dst[q*i8PairSlots*w : (q+1)*i8PairSlots*w]
		for p1 := 1; p1 < 4; p1++ {
			for p0 := range p1 {
				d := grp[(p0|p1<<2-4)*w:][:w]
				r0, r1 := rows[p0][:w], rows[p1][:w]
				for j := range d {
					d[j] = uint32(r0[j]) | uint32(r1[j])<<16
				}
			}
		}
	}
}

// i8PackPairs64 is packPairs for groups groups and 64 columns from b (the
// first of the groups' rows, row stride ldb bytes), zero = bZero, into dst
// (slots of 64 pairs). It needs AVX2.
//
//go:noescape
func i8PackPairs64(dst *uint32, b *uint8, ldb int, zero int, groups int)

func spmmNM24Int8Rows(a *NM24[int8], b []uint8, n, ldb int, bZero uint8, c []int32, ldc, lo, hi int) {
	full := a.cols / 4
	if !useAsm || n < 8 || full == 0 || lo == hi {
		spmmNM24Int8RowsGo(a, b, n, ldb, bZero, c, ldc, lo, hi)
		return
	}
	g, rows := a.Groups(), hi-lo
	panel := make([]uint32, i8nm24KBlock*i8PairSlots*64)
	j := 0
	for j+8 <= n {
		w := 64
		if j+64 > n {
			w = 8
		}
		for q := 0; q < full; q += i8nm24KBlock {
			kb := min(i8nm24KBlock, full-q)
			if w == 64 {
				i8PackPairs64(&panel[0], &b[4*q*ldb+j], ldb, int(bZero), kb)
				i8nm24Rows64(&a.val[2*(lo*g+q)], &a.idx[lo*g+q], g, rows, kb, &panel[0], &c[lo*ldc+j], ldc, q)
			} else {
				packPairs(panel, b, ldb, bZero, q, kb, j, w)
				i8nm24Rows8(&a.val[2*(lo*g+q)], &a.idx[lo*g+q], g, rows, kb, &panel[0], &c[lo*ldc+j], ldc, q)
			}
		}
		j += w
	}
	if j < n {
		for i := lo; i < hi; i++ {
			clear(c[i*ldc+j : i*ldc+n])
		}
		addNM24Int8(a, b, ldb, bZero, c, ldc, lo, hi, j, n, 0, full)
	}
	if full < g { // the partial last group
		addNM24Int8(a, b, ldb, bZero, c, ldc, lo, hi, 0, n, full, g)
	}
}

// i8PackRowPairs64 fills pairs slots of 64 int16 pairs: slot t holds, for
// j < 64, (b[2t·ldb+j] − zero, b[(2t+1)·ldb+j] − zero), low half first.
// It needs AVX2.
//
//go:noescape
func i8PackRowPairs64(dst *uint32, b *uint8, ldb int, zero int, pairs int)

// i8csrRows64 computes the 64-column strip of rows consecutive rows of an
// int8 CSR matrix, overwriting c, from a row-pair panel bp (see
// rowPairPanel): with P_t = bp[t·64:],
//
//	c[r·ldc+j] = Σ_{p ∈ [rowPtr[r], rowPtr[r+1])} val[p]·half(P_{col[p]/2}[j], col[p]&1)
//
// exactly in int32, one VPMADDWD per 8 columns and entry, the other half of
// the weight pair zero. col and val point at the start of the matrix's
// arrays, rowPtr at the first row's pointer. It needs AVX2.
//
//go:noescape
func i8csrRows64(rowPtr *int32, col *int32, val *int8, rows int, bp *uint32, c *int32, ldc int)

// i8bsrRow64 computes the 64-column strip of one row of an int8 block row
// with blocks halfc·2 columns wide, overwriting c, from a row-pair panel
// bp: with P_t = bp[t·64:],
//
//	c[j] = Σ_{p<nblocks} Σ_{t<halfc} val[p·vstride+2t]·lo16(P_{col[p]·halfc+t}[j]) + val[p·vstride+2t+1]·hi16(…)
//
// exactly in int32; val points at the row's values in the first block. It
// needs AVX2.
//
//go:noescape
func i8bsrRow64(val *int8, vstride int, col *int32, nblocks int, halfc int, bp *uint32, c *int32)

// rowPairPanel fills panel with the row pairs of B's 64 columns from j0:
// slot t (t < len(panel)/64) holds, for j < 64, the int16 pair
// (B[2t][j0+j] − bZero, B[2t+1][j0+j] − bZero), with rows past k (B's
// row count) zero. Both differences lie in [−255, 255], so a VPMADDWD with
// two int8 weights is exact.
func rowPairPanel(panel []uint32, k int, b []uint8, ldb int, bZero uint8, j0 int) {
	if k >= 2 {
		i8PackRowPairs64(&panel[0], &b[j0], ldb, int(bZero), k/2)
	}
	rest := panel[k/2*64:]
	clear(rest)
	if k%2 == 1 {
		for j, x := range b[(k-1)*ldb+j0:][:64] {
			rest[j] = uint32(uint16(int16(x) - int16(bZero)))
		}
	}
}

func spmmCSRInt8(a *CSR[int8], b []uint8, n, ldb int, bZero uint8, c []int32, ldc int) {
	j := 0
	if useAsm && n >= 64 && a.NNZ() > 0 {
		panel := make([]uint32, (a.cols+1)/2*64)
		for ; j+64 <= n; j += 64 {
			rowPairPanel(panel, a.cols, b, ldb, bZero, j)
			parallelRows(a.rows, a.NNZ()*64, func(lo, hi int) {
				i8csrRows64(&a.rowPtr[lo], &a.colIdx[0], &a.val[0], hi-lo, &panel[0], &c[lo*ldc+j], ldc)
			})
		}
	}
	if j < n {
		parallelRows(a.rows, a.NNZ()*(n-j), func(lo, hi int) { spmmCSRInt8RowsGo(a, b, ldb, bZero, c, ldc, j, n, lo, hi) })
	}
}

func spmmBSRInt8(a *BSR[int8], b []uint8, n, ldb int, bZero uint8, c []int32, ldc int) {
	br, r, cc := len(a.rowPtr)-1, a.r, a.c
	j := 0
	if useAsm && n >= 64 && a.NNZ() > 0 && cc%2 == 0 {
		// Edge blocks reach past the last column: their rows of the panel
		// exist and are zero.
		panel := make([]uint32, (a.cols+cc-1)/cc*cc/2*64)
		for ; j+64 <= n; j += 64 {
			rowPairPanel(panel, a.cols, b, ldb, bZero, j)
			parallelRows(br, a.NNZ()*64, func(lo, hi int) {
				for bi := lo; bi < hi; bi++ {
					p0, p1 := a.rowPtr[bi], a.rowPtr[bi+1]
					for ii := range min(r, a.rows-bi*r) {
						row := c[(bi*r+ii)*ldc+j:][:64]
						if p0 == p1 {
							clear(row)
							continue
						}
						i8bsrRow64(&a.val[int(p0)*r*cc+ii*cc], r*cc, &a.colIdx[p0], int(p1-p0), cc/2, &panel[0], &row[0])
					}
				}
			})
		}
	}
	if j < n {
		parallelRows(br, a.NNZ()*(n-j), func(lo, hi int) { spmmBSRInt8RowsGo(a, b, ldb, bZero, c, ldc, j, n, lo, hi) })
	}
}
