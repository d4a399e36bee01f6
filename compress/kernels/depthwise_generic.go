//go:build !amd64 || purego

package kernels

// dw3x3Rows does no columns here: the caller's Go loop does them all.
func dw3x3Rows(dst, src []float32, rows, n, dstStride, srcStride, d int, w []float32, bias float32, acc bool) int {
	return 0
}
