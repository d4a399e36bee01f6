//go:build !purego

package kernels

// maxPool2x2AVX2 pools chunks·4 outputs of a 2×2, stride-2 max pool from
// image rows r0 and r1 (chunks·8 floats each) into dst, and, if argmax is
// not nil, their flat indices base + column + (0 or w) into argmax. Ties go
// to the first element in row-major window order. It needs AVX2.
//
//go:noescape
func maxPool2x2AVX2(dst *float32, argmax *int32, r0, r1 *float32, chunks, w int, base int32)

// maxPool2x2Row pools the first 4·(len(d)/4) outputs of one output row of a
// 2×2, stride-2 max pool (see maxPool2x2) and returns how many it did.
func maxPool2x2Row(d []float32, am []int32, r0, r1 []float32, w, base int) int {
	chunks := len(d) / 4
	if !useAsm || chunks == 0 {
		return 0
	}
	_, _ = r0[8*chunks-1], r1[8*chunks-1]
	var ap *int32
	if am != nil {
		_ = am[4*chunks-1]
		ap = &am[0]
	}
	maxPool2x2AVX2(&d[0], ap, &r0[0], &r1[0], chunks, w, int32(base))
	return 4 * chunks
}

// maxPoolRowSSE computes one output row of ow (≥ 1) outputs of a k×k max
// pool without argmax, window x at src + x·stride with rows w floats
// apart, as maxPoolValues does (the same first maximum and NaN handling),
// branch-free per element. It needs SSE.
//
//go:noescape
func maxPoolRowSSE(dst, src *float32, ow, k, stride, w int)

// maxPoolRowFast computes output row d of maxPoolValues from the window
// rows starting at src, after checking the last window's end lies in src.
func maxPoolRowFast(d, src []float32, k, stride, w int) {
	if len(d) == 0 {
		return
	}
	_ = src[(k-1)*w+(len(d)-1)*stride+k-1]
	maxPoolRowSSE(&d[0], &src[0], len(d), k, stride, w)
}
