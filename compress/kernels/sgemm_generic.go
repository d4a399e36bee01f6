//go:build !amd64 || purego

package kernels

import "github.com/compressq/compressq/compress/internal/cpu"

// useAsm reports whether the kernels run assembly; never without amd64 or
// with the purego build tag.
const useAsm = false

// use512 reports whether Sgemm runs the AVX-512 kernel; never here.
const use512 = false

// implReason says why: the purego tag or the architecture.
var implReason = cpu.Disabled()

// sgemmFast is Sgemm after its checks and trivial cases: here gonum's
// pure-Go Sgemm.
func sgemmFast(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmGonum(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmSerialFast is sgemmFast: gonum's Sgemm.
func sgemmSerialFast(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmGonum(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmOffsetRowsFast does nothing here: SgemmOffsetRows gathers B and
// calls gonum's Sgemm.
func sgemmOffsetRowsFast(m, n, k int, a []float32, lda int, b []float32, off []int, beta float32, c []float32, ldc int) bool {
	return false
}

// sgemmOffsetRowsBiasClampFast does nothing here: the product is computed,
// then compacted.
func sgemmOffsetRowsBiasClampFast(m, n, k int, a []float32, lda int, b []float32, off []int, stride, width int, bias []float32, lo, hi float32, c []float32, ldc int) bool {
	return false
}
