package kernels

import "fmt"

// ScaleBiasClamp sets dst[i] = min(max(float32(src[i]·scale) + bias, lo), hi)
// for every i; a NaN stays NaN (as in PyTorch's relu and clamp). It is the
// epilogue of a convolution (bias and activation), an inference batch norm
// (scale and shift) and a standalone ReLU or ReLU6 (scale 1, bias 0). dst
// and src may be the same slice; it panics if dst is shorter than src. Use
// ±Inf for a missing bound.
func ScaleBiasClamp(dst, src []float32, scale, bias, lo, hi float32) {
	if len(dst) < len(src) {
		panic(fmt.Sprintf("kernels: ScaleBiasClamp: dst has %d elements, src %d", len(dst), len(src)))
	}
	done := scaleBiasClampFast(dst[:len(src)], src, scale, bias, lo, hi)
	scaleBiasClampRef(dst[done:len(src)], src[done:], scale, bias, lo, hi)
}

// scaleBiasClampRef is ScaleBiasClamp's pure-Go loop. The conversion keeps
// the product rounded on its own (no fused multiply-add), as the assembly
// does.
func scaleBiasClampRef(dst, src []float32, scale, bias, lo, hi float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		v = float32(v*scale) + bias
		if lo > v {
			v = lo
		}
		if hi < v {
			v = hi
		}
		dst[i] = v
	}
}

// copyEven sets dst[i] = src[2i] for every i of dst, the column gather of
// a stride-2 im2col; src must hold at least 2·len(dst)−1 floats (any beyond
// that may be read by the assembly but are not used).
func copyEven(dst, src []float32) {
	done := copyEvenFast(dst, src)
	rest := dst[done:]
	if len(rest) == 0 {
		return
	}
	s := src[2*done : 2*done+2*len(rest)-1]
	for i := range rest {
		rest[i] = s[2*i]
	}
}
