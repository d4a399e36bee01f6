//go:build !amd64 || purego

package kernels

// scaleBiasClampFast does nothing here: the pure-Go loop does it all.
func scaleBiasClampFast(dst, src []float32, scale, bias, lo, hi float32) int { return 0 }

// copyEvenFast does nothing here: the pure-Go loop does it all.
func copyEvenFast(dst, src []float32) int { return 0 }

// padRowsFast does nothing here: PadPhases copies row by row.
func padRowsFast(dst, src []float32, rows, w, srcStride, dstStride int) bool { return false }

// splitRowsFast does nothing here: PadPhases splits row by row.
func splitRowsFast(even, odd, src []float32, rows, w, srcStride, dstStride int) bool {
	return false
}
