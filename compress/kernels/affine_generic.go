//go:build !amd64 || purego

package kernels

// scaleBiasClampFast does nothing here: the pure-Go loop does it all.
func scaleBiasClampFast(dst, src []float32, scale, bias, lo, hi float32) int { return 0 }

// copyEvenFast does nothing here: the pure-Go loop does it all.
func copyEvenFast(dst, src []float32) int { return 0 }
