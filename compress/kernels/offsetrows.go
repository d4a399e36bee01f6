package kernels

import (
	"fmt"
	"sync"
)

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

// SgemmOffsetRowsBiasClamp is SgemmOffsetRows (beta 0) with the epilogue of
// a convolution fused in: the n columns of the product are rows of stride
// floats of which the first width are kept, and each kept element of row i
// becomes min(max(v + bias[i], lo), hi) (a NaN passes, as in
// ScaleBiasClamp). The kept columns are stored contiguously: column j with
// j mod stride < width goes to c[i*ldc + (j/stride)*width + j mod stride].
// With stride = width = n it is the plain product plus bias and clamp. It
// panics if a dimension is out of range or a slice is too short.
func SgemmOffsetRowsBiasClamp(m, n, k int, a []float32, lda int, b []float32, off []int, stride, width int, bias []float32, lo, hi float32, c []float32, ldc int) {
	if stride < 1 || width < 1 || width > stride {
		panic(fmt.Sprintf("kernels: SgemmOffsetRowsBiasClamp: width %d of stride %d", width, stride))
	}
	kept := keptColumns(n, stride, width)
	if m < 0 || n < 0 || len(bias) < m || ldc < kept || (m > 0 && len(c) < (m-1)*ldc+kept) {
		panic(fmt.Sprintf("kernels: SgemmOffsetRowsBiasClamp: m=%d n=%d: %d biases, C %d floats with ldc %d for %d kept columns",
			m, n, len(bias), len(c), ldc, kept))
	}
	if m == 0 || n == 0 {
		return
	}
	if k > 0 && sgemmOffsetRowsBiasClampFast(m, n, k, a, lda, b, off, stride, width, bias, lo, hi, c, ldc) {
		return
	}
	wp := wideBufs.Get().(*[]float32)
	defer wideBufs.Put(wp)
	if cap(*wp) < m*n {
		*wp = make([]float32, m*n)
	}
	wide := (*wp)[:m*n]
	SgemmOffsetRows(m, n, k, a, lda, b, off, 0, wide, n)
	compactBiasClamp(m, n, stride, width, wide, n, bias, lo, hi, c, ldc)
}

// wideBufs recycles the uncompacted products of SgemmOffsetRowsBiasClamp
// where no fused kernel runs.
var wideBufs = sync.Pool{New: func() any { return new([]float32) }}

// keptColumns is the number of the n columns j with j mod stride < width.
func keptColumns(n, stride, width int) int {
	return n/stride*width + min(n%stride, width)
}

// compactBiasClamp is the epilogue of SgemmOffsetRowsBiasClamp on a
// computed m×n product w (row stride ldw).
func compactBiasClamp(m, n, stride, width int, w []float32, ldw int, bias []float32, lo, hi float32, c []float32, ldc int) {
	for i := range m {
		row, dst := w[i*ldw:i*ldw+n], c[i*ldc:]
		for j := 0; j < n; j += stride {
			seg := row[j:min(j+width, n)]
			ScaleBiasClamp(dst[:len(seg)], seg, 1, bias[i], lo, hi)
			dst = dst[len(seg):]
		}
	}
}

// compactBiasClampRef is compactBiasClamp on the pure-Go clamp.
func compactBiasClampRef(m, n, stride, width int, w []float32, ldw int, bias []float32, lo, hi float32, c []float32, ldc int) {
	for i := range m {
		for j := range n {
			if j%stride < width {
				scaleBiasClampRef(c[i*ldc+j/stride*width+j%stride:][:1], w[i*ldw+j:][:1], 1, bias[i], lo, hi)
			}
		}
	}
}
