//go:build !purego

package kernels

// dw3x3RowsFMA writes, for rows output rows y and the first n columns i (n
// a positive multiple of 8), bias plus the nine taps of a 3×3 kernel w at
// dilation d over the padded plane src, or with acc ≠ 0 adds the taps to
// dst instead (ignoring bias):
//
//	dst[y·dstStride+i] = bias + Σ_{a,b<3} w[3a+b]·src[(y+a·d)·srcStride + i + b·d]
//
// It needs AVX2 and FMA.
//
//go:noescape
func dw3x3RowsFMA(dst, src *float32, rows, n, dstStride, srcStride, d int, w *float32, bias float32, acc int)

// dw3x3Rows runs dw3x3RowsFMA on the first 8·⌊n/8⌋ columns of rows rows,
// accumulating into dst if acc, and returns how many columns it did (0
// without the assembly); it panics if a slice is too short.
func dw3x3Rows(dst, src []float32, rows, n, dstStride, srcStride, d int, w []float32, bias float32, acc bool) int {
	n8 := n &^ 7
	if !useAsm || rows <= 0 || n8 == 0 {
		return 0
	}
	_, _, _ = dst[(rows-1)*dstStride+n8-1], src[(rows-1+2*d)*srcStride+2*d+n8-1], w[8]
	a := 0
	if acc {
		a = 1
	}
	dw3x3RowsFMA(&dst[0], &src[0], rows, n8, dstStride, srcStride, d, &w[0], bias, a)
	return n8
}
