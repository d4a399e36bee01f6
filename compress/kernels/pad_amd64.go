//go:build !purego

package kernels

import "slices"

// padRows512 copies rows rows of w floats, row r at src + r·srcStride, to
// dst + r·dstStride (strides in floats). It needs AVX-512 F.
//
//go:noescape
func padRows512(dst, src *float32, rows, w, srcStride, dstStride int)

// splitRows512 sends the even columns of rows rows of w floats (row r at
// src + r·srcStride) to even + r·dstStride and the odd ones to
// odd + r·dstStride, gathering with the indices at idx (splitIdx). It needs
// AVX-512 F.
//
//go:noescape
func splitRows512(even, odd, src *float32, rows, w, srcStride, dstStride int, idx *int32)

// splitIdx holds VPERMI2PS's indices of the even, then the odd, floats of
// two ZMM registers.
var splitIdx = [32]int32{0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30,
	1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31}

// padRowsAVX2 copies rows rows of w floats, row r at src + r·srcStride, to
// dst + r·dstStride (strides in floats), as padRows512. It needs AVX2.
//
//go:noescape
func padRowsAVX2(dst, src *float32, rows, w, srcStride, dstStride int)

// splitRowsAVX2 sends the even columns of rows rows of w floats (row r at
// src + r·srcStride) to even + r·dstStride and the odd ones to
// odd + r·dstStride, as splitRows512. It needs AVX2.
//
//go:noescape
func splitRowsAVX2(even, odd, src *float32, rows, w, srcStride, dstStride int)

// padRowsFast copies rows as padRows512 or padRowsAVX2 when one of them is
// in use, after checking both ends lie in their slices; it reports whether
// it did.
func padRowsFast(dst, src []float32, rows, w, srcStride, dstStride int) bool {
	if !usePad512 && !usePadAVX2 || rows == 0 || w == 0 {
		return false
	}
	_ = src[(rows-1)*srcStride+w-1]
	_ = dst[(rows-1)*dstStride+w-1]
	if usePad512 {
		padRows512(&dst[0], &src[0], rows, w, srcStride, dstStride)
	} else {
		padRowsAVX2(&dst[0], &src[0], rows, w, srcStride, dstStride)
	}
	return true
}

// splitRowsFast splits rows as splitRows512 or splitRowsAVX2 when one of
// them is in use, after checking every end lies in its slice; it reports
// whether it did.
func splitRowsFast(even, odd, src []float32, rows, w, srcStride, dstStride int) bool {
	if !usePad512 && !usePadAVX2 || rows == 0 || w < 2 {
		return false
	}
	_ = src[(rows-1)*srcStride+w-1]
	_ = even[(rows-1)*dstStride+(w+1)/2-1]
	_ = odd[(rows-1)*dstStride+w/2-1]
	if usePad512 {
		splitRows512(&even[0], &odd[0], &src[0], rows, w, srcStride, dstStride, &splitIdx[0])
	} else {
		splitRowsAVX2(&even[0], &odd[0], &src[0], rows, w, srcStride, dstStride)
	}
	return true
}

// usePad512 reports whether PadPhases moves rows with padRows512 and
// splitRows512: the AVX-512 kernels are in use and these passed padSelfTest.
var usePad512 bool

// usePadAVX2 reports whether PadPhases moves rows with padRowsAVX2 and
// splitRowsAVX2: the assembly is in use, usePad512 is not, and these
// passed padSelfTest. Never written after init, except by tests and
// benchmarks.
var usePadAVX2 bool

// padSelfTest reports whether PadPhases with the AVX-512 row kernels
// (avx512) or the AVX2 ones puts every pixel where the definition says, at
// strides 1 and 2, with uneven pads, on rows that end each way a kernel
// ends one: 5 and 13 floats (masked), 37 and 62 (full chunks, then a
// masked tail in AVX-512; in AVX2 a last chunk overlapping the one before,
// which when splitting starts at an odd column for 37 and an even one for
// 62).
func padSelfTest(avx512 bool) bool {
	saved512, savedAVX2 := usePad512, usePadAVX2
	usePad512, usePadAVX2 = avx512, !avx512
	defer func() { usePad512, usePadAVX2 = saved512, savedAVX2 }()
	for s := 1; s <= 2; s++ {
		for _, w := range []int{5, 13, 37, 62} {
			g := ConvGeom{C: 2, H: 5, W: w, KH: 3, KW: 3, Stride: s, Dilation: 1, PadTop: 1, PadLeft: 2, PadBottom: 0, PadRight: 1}
			src := make([]float32, g.C*g.H*g.W)
			for i := range src {
				src[i] = float32(i + 1)
			}
			hq, wq := PhaseDims(g)
			got, want := make([]float32, g.C*s*s*hq*wq), make([]float32, g.C*s*s*hq*wq)
			PadPhases(src, g, got)
			padPhasesRef(src, g, want)
			if !slices.Equal(got, want) {
				return false
			}
		}
	}
	return true
}
