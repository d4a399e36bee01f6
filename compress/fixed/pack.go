package fixed

import (
	"fmt"
	"unsafe"
)

// Packed-B geometry shared by every implementation.
const (
	panelCols  = 32                 // columns per packed panel
	groupK     = 4                  // consecutive k per group (one VPDPBUSD lane)
	groupBytes = panelCols * groupK // bytes per group within a panel
	alignBytes = 64                 // alignment of packed data (one cache line)
)

// PackedB is an int8 weight matrix B of shape [K, N] packed once for GEMM.
// It is read-only after packing and safe for concurrent use.
//
// Layout: the columns are cut into panels of 32 (the last one zero-padded)
// and K into groups of 4 consecutive k (the last one zero-padded to
// Kg = ⌈K/4⌉ groups). Panel p occupies Kg·128 bytes; within it, group g holds
// for each of the 32 columns its 4 weights of that group:
//
//	data[p·Kg·128 + g·128 + j·4 + t] = B[4g+t][32p+j]   (t < 4, j < 32)
//
// so one 64-byte load gives 16 columns × 4 k, the operand of VPDPBUSD. The
// packing also stores the column sums Σ_k B[k][j] used for the activation
// zero point.
type PackedB struct {
	k, n, kg, panels int
	data             []int8  // panels·kg·groupBytes bytes, 64-byte aligned
	colSum           []int32 // Σ_k B[k][j] for j < panels·32 (0 in padding)
}

// K returns the number of rows of B (the reduction length).
func (p *PackedB) K() int { return p.k }

// N returns the number of columns of B (the output width).
func (p *PackedB) N() int { return p.n }

// ColSums returns Σ_k B[k][j] for each column j < N. The slice is shared
// with p and must not be modified.
func (p *PackedB) ColSums() []int32 { return p.colSum[:p.n:p.n] }

// panel returns the packed bytes of panel q.
func (p *PackedB) panel(q int) []int8 {
	sz := p.kg * groupBytes
	return p.data[q*sz : (q+1)*sz]
}

// PackB packs B, an int8 matrix of shape [k, n] stored row-major with row
// stride ldb ≥ n, for GEMM. Models pack each weight matrix once. PackB panics
// if a dimension is negative, ldb is too small or b is too short.
func PackB(b []int8, k, n, ldb int) *PackedB {
	checkI8("PackB", "B", k, n, b, ldb)
	return pack(k, n, func(kk, j int) int8 { return b[kk*ldb+j] })
}

// PackBT packs B from its transpose: bt is Bᵀ, an int8 matrix of shape
// [n, k] stored row-major with row stride ldbt ≥ k — the [out, in] layout of
// a fully connected layer's weights, so GEMM computes A·btᵀ. PackBT panics if
// a dimension is negative, ldbt is too small or bt is too short.
func PackBT(bt []int8, n, k, ldbt int) *PackedB {
	checkI8("PackBT", "Bᵀ", n, k, bt, ldbt)
	return pack(k, n, func(kk, j int) int8 { return bt[j*ldbt+kk] })
}

// pack builds a PackedB of shape [k, n] from the element accessor at.
func pack(k, n int, at func(kk, j int) int8) *PackedB {
	p := &PackedB{k: k, n: n, kg: (k + groupK - 1) / groupK, panels: (n + panelCols - 1) / panelCols}
	p.data = alignedI8(p.panels * p.kg * groupBytes)
	p.colSum = make([]int32, p.panels*panelCols)
	for q := 0; q < p.panels; q++ {
		dst := p.panel(q)
		for jj := 0; jj < panelCols; jj++ {
			j := q*panelCols + jj
			if j >= n {
				break
			}
			var sum int32
			for kk := 0; kk < k; kk++ {
				v := at(kk, j)
				dst[(kk/groupK)*groupBytes+jj*groupK+kk%groupK] = v
				sum += int32(v)
			}
			p.colSum[j] = sum
		}
	}
	return p
}

// alignedI8 returns a zeroed slice of n int8 whose first element is
// alignBytes-aligned, so full-width vector loads never split cache lines.
func alignedI8(n int) []int8 {
	buf := make([]int8, n+alignBytes)
	off := 0
	if r := int(uintptr(unsafe.Pointer(unsafe.SliceData(buf))) % alignBytes); r != 0 {
		off = alignBytes - r
	}
	return buf[off : off+n : off+n]
}

// checkI8 panics unless s holds a rows×cols row-major matrix with row stride
// ld.
func checkI8(fn, name string, rows, cols int, s []int8, ld int) {
	checkShape(fn, name, rows, cols, len(s), ld)
}

// checkShape panics unless a slice of length n holds a rows×cols row-major
// matrix with row stride ld.
func checkShape(fn, name string, rows, cols, n, ld int) {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("fixed: %s: negative dimension of %s: %d×%d", fn, name, rows, cols))
	}
	if ld < max(1, cols) {
		panic(fmt.Sprintf("fixed: %s: row stride of %s %d < max(1, %d columns)", fn, name, ld, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; n < need {
		panic(fmt.Sprintf("fixed: %s: len(%s)=%d < %d for %d×%d with stride %d", fn, name, n, need, rows, cols, ld))
	}
}

// UnpackT returns Bᵀ, the [N, K] row-major matrix PackBT would pack into
// p (the [out, in] layout of a fully connected layer's weights).
func (p *PackedB) UnpackT() []int8 {
	bt := make([]int8, p.n*p.k)
	for j := range p.n {
		panel, jj := p.panel(j/panelCols), j%panelCols
		for kk := range p.k {
			bt[j*p.k+kk] = panel[(kk/groupK)*groupBytes+jj*groupK+kk%groupK]
		}
	}
	return bt
}
