package kernels

import "fmt"

// Impl returns the implementation the kernels use in this process:
// "avx512" (the AVX2+FMA assembly, with Sgemm's widest tiles on the AVX-512
// micro-kernel), "avx2" or "go".
func Impl() string {
	switch {
	case use512:
		return "avx512"
	case useAsm:
		return "avx2"
	}
	return "go"
}

// ImplReason returns why Impl is "go" (the purego tag, COMPRESSQ_NOASM=1, a
// missing CPU feature or a failed start-up self-test) or why the CPU's
// AVX-512 is not used, or "" otherwise.
func ImplReason() string { return implReason }

// Sgemm computes C = alpha·op(A)·op(B) + beta·C on row-major matrices, where
// op(X) is X or Xᵀ as transA/transB say. op(A) is m×k, op(B) is k×n and C is
// m×n; lda, ldb and ldc are the row strides of the stored matrices, so A is
// stored as m×k (k×m if transA) with lda ≥ its column count, likewise B.
//
// As in BLAS, C is not read when beta is 0 (NaNs in it are overwritten) and A
// and B are not read when alpha is 0 or k is 0. Sgemm panics if a dimension
// is negative, a stride is too small or a slice is too short for its shape.
//
// On amd64 with AVX2 and FMA it runs a packed, cache-blocked assembly kernel
// split across up to GOMAXPROCS goroutines for large shapes (every goroutine
// has ended when Sgemm returns); otherwise it calls gonum's pure-Go Sgemm.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkSgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	sgemmFast(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmSerial is Sgemm without its own split across goroutines, for callers
// that already spread their work over GOMAXPROCS goroutines (for example a
// share of a batch's images each) and would gain nothing from a second
// split. On the pure-Go path it calls gonum, which still splits products of
// more than about 128×128 elements of C.
func SgemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkSgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	sgemmSerialFast(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// checkSgemm panics unless the slices and strides hold the shapes Sgemm was
// given.
func checkSgemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: Sgemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMatrix("A", ar, ac, a, lda)
	checkMatrix("B", br, bc, b, ldb)
	checkMatrix("C", m, n, c, ldc)
}

// checkMatrix panics unless s holds a rows×cols row-major matrix with row
// stride ld.
func checkMatrix(name string, rows, cols int, s []float32, ld int) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("kernels: Sgemm: ld%s=%d < max(1, %d columns)", name, ld, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(s) < need {
		panic(fmt.Sprintf("kernels: Sgemm: len(%s)=%d < %d for %d×%d with stride %d", name, len(s), need, rows, cols, ld))
	}
}

// scaleC sets C = beta·C for the m×n matrix C; beta 0 writes zeros without
// reading C.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}
