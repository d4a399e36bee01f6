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
