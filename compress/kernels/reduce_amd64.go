//go:build !purego

package kernels

import (
	"math"
	"slices"
)

// The assembly behind reduce, AffineDiff and MaskPositive; n is a multiple of
// 8 (of 8-float chunks for the maps). They need AVX2.

//go:noescape
func sumAVX2(x *float32, n int, lanes *[8]float32)

//go:noescape
func dotAVX2(x, y *float32, n int, mu float32, lanes *[8]float32)

//go:noescape
func sqDiffAVX2(x *float32, n int, mu float32, lanes *[8]float32)

//go:noescape
func affineDiffAVX2(dst, x, y *float32, chunks int, a, b, d, c float32)

//go:noescape
func maskPositiveAVX2(dst, grad, y *float32, chunks int)

//go:noescape
func addAVX2(dst, x, y *float32, chunks int)

// reduceFast computes reduceRef's 8 lane sums in assembly when useAsm and
// reports whether it did.
func reduceFast(x, y []float32, mu float32, op int, lanes *[8]float32) bool {
	if !useAsm {
		return false
	}
	if len(x) == 0 {
		return true
	}
	switch op {
	case opDot:
		_ = y[len(x)-1]
		dotAVX2(&x[0], &y[0], len(x), mu, lanes)
	case opSqDiff:
		sqDiffAVX2(&x[0], len(x), mu, lanes)
	default:
		sumAVX2(&x[0], len(x), lanes)
	}
	return true
}

// affineDiffFast does the first 8·(len(x)/8) elements of AffineDiff in
// assembly when useAsm and returns how many it did; y and dst are as long
// as x.
func affineDiffFast(dst, x, y []float32, a, b, d, c float32) int {
	chunks := len(x) / 8
	if !useAsm || chunks == 0 {
		return 0
	}
	affineDiffAVX2(&dst[0], &x[0], &y[0], chunks, a, b, d, c)
	return 8 * chunks
}

// maskPositiveFast does the first 8·(len(g)/8) elements of MaskPositive in
// assembly when useAsm and returns how many it did; y and dst are as long
// as g.
func maskPositiveFast(dst, g, y []float32) int {
	chunks := len(g) / 8
	if !useAsm || chunks == 0 {
		return 0
	}
	maskPositiveAVX2(&dst[0], &g[0], &y[0], chunks)
	return 8 * chunks
}

// addFast does the first 8·(len(x)/8) elements of Add in assembly when
// useAsm and returns how many it did; y and dst are as long as x.
func addFast(dst, x, y []float32) int {
	chunks := len(x) / 8
	if !useAsm || chunks == 0 {
		return 0
	}
	addAVX2(&dst[0], &x[0], &y[0], chunks)
	return 8 * chunks
}

// elementwiseSelfTest reports whether the assembly of ScaleBiasClamp,
// copyEven, the reductions, AffineDiff, MaskPositive and Add reproduces the
// pure-Go loops bit for bit on a small problem (40 floats: one block of 32
// and one of 8). It calls the assembly directly, as it runs before useAsm
// is set.
func elementwiseSelfTest() bool {
	const n = 40
	var x, y, got, want [n]float32
	for i := range x {
		x[i] = float32(i%7) - 3.5
		y[i] = float32(i%5) - 2
	}
	// 37 floats: the last five through the mask; the three after them
	// must stay as they are.
	got[n-3], got[n-2], got[n-1] = x[n-3], x[n-2], x[n-1]
	scaleBiasClampAVX2(&got[0], &x[0], n-3, 1.5, 0.25, 0, 3)
	scaleBiasClampRef(want[:n-3], x[:n-3], 1.5, 0.25, 0, 3)
	want[n-3], want[n-2], want[n-1] = x[n-3], x[n-2], x[n-1]
	if got != want {
		return false
	}
	copyEvenAVX2(&got[0], &x[0], n/16)
	for i := range n / 16 * 8 {
		if got[i] != x[2*i] {
			return false
		}
	}
	var lanes [8]float32
	for op, run := range []func(){
		opSum:    func() { sumAVX2(&x[0], n, &lanes) },
		opDot:    func() { dotAVX2(&x[0], &y[0], n, 0.5, &lanes) },
		opSqDiff: func() { sqDiffAVX2(&x[0], n, 0.5, &lanes) },
	} {
		run()
		if lanes != reduceRef(x[:], y[:], 0.5, op) {
			return false
		}
	}
	affineDiffAVX2(&got[0], &x[0], &y[0], n/8, 1.5, -0.25, 0.5, 2)
	affineDiffRef(want[:], x[:], y[:], 1.5, -0.25, 0.5, 2)
	if got != want {
		return false
	}
	maskPositiveAVX2(&got[0], &x[0], &y[0], n/8)
	maskPositiveRef(want[:], x[:], y[:])
	if got != want {
		return false
	}
	addAVX2(&got[0], &x[0], &y[0], n/8)
	addRef(want[:], x[:], y[:])
	if got != want {
		return false
	}
	// A 3×3, stride-2 max pool over 5 rows of 8 (x with a NaN at a
	// window's start and one inside): 2×3 outputs against the Go loop.
	x[0], x[11] = float32(math.NaN()), float32(math.NaN())
	var pg, pw [6]float32
	for r := range 2 {
		maxPoolRowSSE(&pg[3*r], &x[2*r*8], 3, 3, 2, 8)
	}
	maxPoolValuesGo(x[:], 1, 5, 8, 3, 2, 2, 3, pw[:])
	return slices.Equal(math32Bits(pg[:]), math32Bits(pw[:]))
}

// math32Bits returns the bit patterns of v (so NaNs compare).
func math32Bits(v []float32) []uint32 {
	b := make([]uint32, len(v))
	for i, f := range v {
		b[i] = math.Float32bits(f)
	}
	return b
}
