//go:build !purego

package kernels

import (
	"slices"

	"github.com/compressq/compressq/compress/internal/cpu"
)

// hasAVX2FMA reports whether the CPU (and OS) support the AVX2+FMA kernels;
// read once at start-up.
var hasAVX2FMA = cpu.AVX2 && cpu.FMA

// useAsm reports whether the kernels run assembly: the CPU can, neither the
// purego tag nor COMPRESSQ_NOASM disabled assembly (compress/internal/cpu)
// and Sgemm's assembly passed its start-up self-test; implReason says why
// not. Never written after init.
var (
	useAsm     bool
	implReason string
)

// use512 reports whether Sgemm runs the AVX-512 6×32 micro-kernel where a
// tile is wider than 16 columns: useAsm holds, the CPU has AVX-512F and the
// self-test passed with it. Never written after init.
var use512 bool

func init() {
	switch {
	case cpu.Disabled() != "":
		implReason = cpu.Disabled()
	case !hasAVX2FMA:
		implReason = "the CPU lacks AVX2 or FMA"
	case !selfTest():
		implReason = "the assembly Sgemm failed its start-up self-test"
	case !elementwiseSelfTest():
		implReason = "the element-wise assembly (clamp, gather, reductions) failed its start-up self-test"
	default:
		useAsm = true
		if cpu.AVX512F {
			use512 = true
			if !selfTest() {
				use512 = false
				implReason = "the AVX-512 Sgemm kernel failed its start-up self-test; AVX2 in use"
			}
			usePad512 = use512 && padSelfTest(true)
		}
		usePadAVX2 = !usePad512 && padSelfTest(false)
	}
}

// selfTest reports whether the blocked assembly Sgemm (and, with use512,
// the indirect kernels of SgemmOffsetRows) reproduces gonum's Sgemm for
// every transpose on a small problem with edge tiles in both
// directions (13 rows: a 12-row AVX-512 tile and a 1-row one), a k that is
// not a multiple of the 8-wide packing, and beta both 0 and not. The data are small integers, so both summation orders
// give the same exact result and the comparison is bit for bit.
func selfTest() bool {
	const m, n, k = 13, 19, 13
	x := uint32(3)
	fill := func(s []float32) {
		for i := range s {
			x = x*1664525 + 1013904223
			s[i] = float32(int(x>>28) - 8)
		}
	}
	a, b, c0 := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	fill(a)
	fill(b)
	fill(c0)
	for _, beta := range []float32{0, 2} {
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				lda, ldb := k, n
				if tA {
					lda = m
				}
				if tB {
					ldb = k
				}
				got, want := slices.Clone(c0), slices.Clone(c0)
				sgemmBlocked(tA, tB, m, n, k, 3, a, lda, b, ldb, beta, got, n)
				sgemmGonum(tA, tB, m, n, k, 3, a, lda, b, ldb, beta, want, n)
				if !slices.Equal(got, want) {
					return false
				}
			}
		}
	}
	// B's rows at offsets into one buffer with the 32 floats of slack the
	// AVX-512 indirect kernels need, against gonum on the gathered B.
	buf := make([]float32, n+k+64)
	fill(buf)
	off := make([]int, k)
	g := make([]float32, k*n)
	for p := range off {
		off[p] = (5 * p) % (k + 1)
		copy(g[p*n:(p+1)*n], buf[off[p]:])
	}
	if use512 {
		for _, beta := range []float32{0, 2} {
			got, want := slices.Clone(c0), slices.Clone(c0)
			offsetRowsInPlace(m, n, k, a, k, buf, off, beta, got, n)
			sgemmGonum(false, false, m, n, k, 1, a, k, g, n, beta, want, n)
			if !slices.Equal(got, want) {
				return false
			}
		}
	}
	// The fused epilogue: every tile height, the clamp cutting both ends;
	// on AVX-512 two kept columns of every three, on AVX2 two runs of nine
	// (a group of 8 and one overlapping it).
	bias := make([]float32, m)
	fill(bias)
	stride, width := 10, 9
	if use512 {
		stride, width = 3, 2
	}
	for _, rows := range []int{m, 8, 6, 5, 4, 2, 1} {
		kept := keptColumns(n, stride, width)
		prod := make([]float32, rows*n)
		sgemmGonum(false, false, rows, n, k, 1, a, k, g, n, 0, prod, n)
		want, got := make([]float32, rows*kept), make([]float32, rows*kept)
		compactBiasClampRef(rows, n, stride, width, prod, n, bias, -40, 40, want, kept)
		ok := false
		if use512 {
			ok = sgemmOffsetRowsBiasClampFast(rows, n, k, a, k, buf, off, stride, width, bias, -40, 40, got, kept)
		} else {
			ok = offsetRowsBiasClampAVX2(rows, n, k, a, k, buf, off, stride, width, bias, -40, 40, got, kept)
		}
		if !ok || !slices.Equal(got, want) {
			return false
		}
	}
	return true
}

// sgemmKernel6x16 computes the top-left rows×cols corner (1 ≤ rows ≤ 6,
// 1 ≤ cols ≤ 16) of the 6×16 tile C = alpha·Ap·Bp + beta·C, where Ap is a
// packed 6×k panel of A (k columns of 6 values each, a[p*6+r]) and Bp a
// packed k×16 panel of B (k rows of 16 values, b[p*16+j]); c points at the
// tile's top-left element and ldc is C's row stride in elements. Only the
// rows×cols corner of C is read or written, and it is not read when beta is
// 0. It needs AVX2 and FMA. Reference loop:
//
//	for r := 0; r < rows; r++ {
//		for j := 0; j < cols; j++ {
//			var s float32
//			for p := 0; p < k; p++ {
//				s += a[p*6+r] * b[p*16+j]
//			}
//			if beta == 0 {
//				c[r*ldc+j] = alpha * s
//			} else {
//				c[r*ldc+j] = alpha*s + beta*c[r*ldc+j]
//			}
//		}
//	}
//
//go:noescape
func sgemmKernel6x16(k int, a, b, c *float32, ldc int, alpha, beta float32, rows, cols int)

// sgemmKernel6x32 is sgemmKernel6x16 on a 6×32 tile (1 ≤ rows ≤ 6,
// 1 ≤ cols ≤ 32) whose B is two packed k×16 slivers, b0 for columns 0..15
// and b1 for 16..31 (b1 is read even when cols ≤ 16). Each element is
// accumulated in the same order as by sgemmKernel6x16, so the results are
// identical. It needs AVX-512F.
//
//go:noescape
func sgemmKernel6x32(k int, a, b0, b1, c *float32, ldc int, alpha, beta float32, rows, cols int)

// sgemmKernel12x32 is sgemmKernel6x32 on a 12×32 tile (7 ≤ rows ≤ 12)
// whose A is two packed 6×k slivers, a0 for rows 0..5 and a1 for 6..11.
// It needs AVX-512F.
//
//go:noescape
func sgemmKernel12x32(k int, a0, a1, b0, b1, c *float32, ldc int, alpha, beta float32, rows, cols int)

// sgemmKernel12x32Ind is sgemmKernel12x32 (k ≥ 1) with B read in place: row
// p of the tile's B is the 32 floats at b + off[p] (all 32 are loaded;
// only cols are stored). It needs AVX-512F.
//
//go:noescape
func sgemmKernel12x32Ind(k int, a0, a1, b *float32, off *int, c *float32, ldc int, alpha, beta float32, rows, cols int)

// sgemmKernel6x32Ind is sgemmKernel12x32Ind on 1 ≤ rows ≤ 6 with one A
// sliver. It needs AVX-512F.
//
//go:noescape
func sgemmKernel6x32Ind(k int, a, b *float32, off *int, c *float32, ldc int, alpha, beta float32, rows, cols int)

// packBT16 transposes 16 rows of 8·kb8 floats, src[j*ldb+p], into
// dst[p*16+j] for p < 8·kb8, j < 16. It needs AVX.
//
//go:noescape
func packBT16(dst, src *float32, kb8, ldb int)

// packA6 transposes 6 rows of 8·kb8 floats, src[r*lda+p], into dst[p*6+r]
// for p < 8·kb8, r < 6. It needs AVX.
//
//go:noescape
func packA6(dst, src *float32, kb8, lda int)

// packBRows copies rows (≥ 0) rows of slivers·16 floats, src[r*ldb+s*16+j],
// into slivers 16 floats wide and kb rows long, dst[s*kb*16+r*16+j]: a band
// of rows of a packed B panel, read row by row rather than sliver by sliver.
// It needs AVX.
//
//go:noescape
func packBRows(dst, src *float32, rows, slivers, ldb, kb int)

// packAT6 copies kb groups of rows (1 ≤ rows ≤ 6) floats, src[p*lda+r], to
// dst[p*6+r], zero-filling r ≥ rows. It needs AVX.
//
//go:noescape
func packAT6(dst, src *float32, kb, lda, rows int)

// packB16N copies the first cols (1 ≤ cols ≤ 16) floats of kb rows,
// src[p*ldb+j], to dst[p*16+j], zero-filling the rest of each 16. It needs
// AVX.
//
//go:noescape
func packB16N(dst, src *float32, kb, ldb, cols int)

// sgemmFast is Sgemm after its checks and trivial cases: the blocked
// assembly path when useAsm, else gonum's pure-Go Sgemm.
func sgemmFast(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if useAsm {
		sgemmParallel(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	sgemmGonum(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmSerialFast is sgemmFast without the goroutine split of the assembly
// path.
func sgemmSerialFast(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if useAsm {
		sgemmBlocked(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	sgemmGonum(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// The fused-epilogue indirect kernels (sgemmep_amd64.s), by tile height.

func sgemmEp12(k int, a0, a1, b *float32, off *int, c *float32, ldc int, bias *float32, lo, hi float32, rows int, mask uint32)

func sgemmEp8(k int, a0, a1, b *float32, off *int, c *float32, ldc int, bias *float32, lo, hi float32, rows int, mask uint32)

func sgemmEp6(k int, a0, a1, b *float32, off *int, c *float32, ldc int, bias *float32, lo, hi float32, rows int, mask uint32)

func sgemmEp4(k int, a0, a1, b *float32, off *int, c *float32, ldc int, bias *float32, lo, hi float32, rows int, mask uint32)

func sgemmEp2(k int, a0, a1, b *float32, off *int, c *float32, ldc int, bias *float32, lo, hi float32, rows int, mask uint32)

// The fused-epilogue indirect AVX2 kernels (sgemmep_avx2_amd64.s): a tile
// of two 8-column groups placed independently, each group's B at
// bg + off[p] and C at cg, over a panel of 6 (rows 1–6 stored) or 4 (rows
// 1–4) rows of A read in place, row r at a + aoff[r] bytes.

func sgemmEpAVX2x6(k int, a *float32, aoff *[6]int, b0, b1 *float32, off *int, c0, c1 *float32, ldc int, bias *float32, lo, hi float32, rows int)

func sgemmEpAVX2x4(k int, a *float32, aoff *[6]int, b0, b1 *float32, off *int, c0, c1 *float32, ldc int, bias *float32, lo, hi float32, rows int)
