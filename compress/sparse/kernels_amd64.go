//go:build !purego

package sparse

import "golang.org/x/sys/cpu"

// cpuAsm reports whether the CPU and OS support the AVX2+FMA kernels; read
// once at start-up.
var cpuAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

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

// nm24Strip64 computes the 64-wide strip c[0:64] of one 2:4 row over its
// first groups groups: with x = idx[q], the slots of group q are
// (val[2q], column 4q + x&3) and (val[2q+1], column 4q + x>>2&3), and
// c[j] = Σ_q Σ_s val[2q+s]·b[column·ldb+j], overwriting c. Every column
// must be a valid row of b. It needs AVX2 and FMA.
//
//go:noescape
func nm24Strip64(val *float32, idx *uint8, groups int, b *float32, ldb int, c *float32)

// nm24Strip8 is nm24Strip64 for an 8-wide strip.
//
//go:noescape
func nm24Strip8(val *float32, idx *uint8, groups int, b *float32, ldb int, c *float32)

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

// nm24Block4x16 computes a 4-row × 16-column tile of a 2:4 SpMM over the
// first groups full groups, overwriting it: for r < 4 and j < 16,
// c[r·ldc+j] = Σ_q Σ_s val[r·2gs+2q+s]·b[(4q + pos_s(idx[r·gs+q]))·ldb+j]. The
// four rows share each group's four rows of b, which stay in L1 while they
// are used. It needs AVX2 and FMA.
//
//go:noescape
func nm24Block4x16(val *float32, idx *uint8, gs int, groups int, b *float32, ldb int, c *float32, ldc int)

func spmmNM24Rows(a *NM24[float32], b []float32, n, ldb int, c []float32, ldc, lo, hi int) {
	full := a.cols / 4
	if !useAsm || n < 8 || full == 0 {
		spmmNM24RowsGo(a, b, n, ldb, c, ldc, lo, hi)
		return
	}
	g := a.Groups()
	if n >= 16 {
		n16 := n &^ 15
		for ; lo+4 <= hi; lo += 4 {
			for j := 0; j < n16; j += 16 {
				nm24Block4x16(&a.val[2*lo*g], &a.idx[lo*g], g, full, &b[j], ldb, &c[lo*ldc+j], ldc)
			}
			for i := lo; i < lo+4; i++ {
				row := c[i*ldc : i*ldc+n]
				if n16 < n {
					tail := row[n16:]
					clear(tail)
					for q := range full {
						k := i*g + q
						for s := range 2 {
							if v := a.val[2*k+s]; v != 0 {
								axpyF32(v, b[(4*q+int(a.idx[k]>>(2*s)&3))*ldb+n16:][:len(tail)], tail)
							}
						}
					}
				}
				if full < g {
					k := i*g + full
					for s := range 2 {
						if v := a.val[2*k+s]; v != 0 {
							axpyF32(v, b[(4*full+int(a.idx[k]>>(2*s)&3))*ldb:][:n], row)
						}
					}
				}
			}
		}
	}
	for i := lo; i < hi; i++ {
		row := c[i*ldc : i*ldc+n]
		vals, idx := &a.val[2*i*g], &a.idx[i*g]
		j := 0
		for ; j+64 <= n; j += 64 {
			nm24Strip64(vals, idx, full, &b[j], ldb, &row[j])
		}
		for ; j+8 <= n; j += 8 {
			nm24Strip8(vals, idx, full, &b[j], ldb, &row[j])
		}
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
