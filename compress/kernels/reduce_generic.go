//go:build !amd64 || purego

package kernels

// Without assembly the pure-Go loops do all the work.

func reduceFast(x, y []float32, mu float32, op int, lanes *[8]float32) bool { return false }

func affineDiffFast(dst, x, y []float32, a, b, d, c float32) int { return 0 }

func maskPositiveFast(dst, g, y []float32) int { return 0 }

func addFast(dst, x, y []float32) int { return 0 }
