//go:build !purego

package kernels

// scaleBiasClampAVX2 applies ScaleBiasClamp to n elements of src into dst,
// the last n mod 8 through masks. It needs AVX2.
//
//go:noescape
func scaleBiasClampAVX2(dst, src *float32, n int, scale, bias, lo, hi float32)

// scaleBiasClampFast does all of ScaleBiasClamp in assembly when useAsm and
// returns how many elements it did (all, or none).
func scaleBiasClampFast(dst, src []float32, scale, bias, lo, hi float32) int {
	if !useAsm || len(src) == 0 {
		return 0
	}
	_ = dst[len(src)-1]
	scaleBiasClampAVX2(&dst[0], &src[0], len(src), scale, bias, lo, hi)
	return len(src)
}

// copyEvenAVX2 sets dst[i] = src[2i] for i < 8·chunks, reading
// src[0 : 16·chunks]. It needs AVX2.
//
//go:noescape
func copyEvenAVX2(dst, src *float32, chunks int)

// copyEvenFast does the first 8·k elements of dst[i] = src[2i] in assembly
// when useAsm, for the largest k whose 16·k source floats lie within src,
// and returns 8·k.
func copyEvenFast(dst, src []float32) int {
	chunks := min(len(dst)/8, len(src)/16)
	if !useAsm || chunks == 0 {
		return 0
	}
	copyEvenAVX2(&dst[0], &src[0], chunks)
	return 8 * chunks
}
