package kernels

import "fmt"

// SgemmOffsetRows computes C = A·B + beta·C on the calling goroutine, where
// A is m×k row-major with row stride lda and B is the k×n matrix whose row p
// is the n floats at b[off[p]:]. It is the GEMM of a stride-1 convolution
// over a zero-padded image: each im2col row is a shifted window of the
// padded image, so B is never built; its rows are packed straight from the
// image. C is m×n with row stride ldc and is not read when beta is 0. It
// panics if a dimension is negative or a slice is too short.
func SgemmOffsetRows(m, n, k int, a []float32, lda int, b []float32, off []int, beta float32, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: SgemmOffsetRows: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	if m == 0 || n == 0 {
		return
	}
	if len(off) < k {
		panic(fmt.Sprintf("kernels: SgemmOffsetRows: %d row offsets for k=%d", len(off), k))
	}
	for p, o := range off[:k] {
		if o < 0 || o > len(b)-n {
			panic(fmt.Sprintf("kernels: SgemmOffsetRows: row %d at %d does not fit %d floats of B (%d)", p, o, n, len(b)))
		}
	}
	if lda < max(1, k) || len(a) < (m-1)*lda+k || ldc < n || len(c) < (m-1)*ldc+n {
		panic(fmt.Sprintf("kernels: SgemmOffsetRows: A (%d floats, lda %d) or C (%d floats, ldc %d) too small for m=%d n=%d k=%d",
			len(a), lda, len(c), ldc, m, n, k))
	}
	if k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if sgemmOffsetRowsFast(m, n, k, a, lda, b, off, beta, c, ldc) {
		return
	}
	g := make([]float32, k*n)
	for p := range k {
		copy(g[p*n:(p+1)*n], b[off[p]:])
	}
	sgemmGonum(false, false, m, n, k, 1, a, lda, g, n, beta, c, ldc)
}
