package fixed

import "math"

// QuantizeFloat32 quantizes real values to uint8 codes on the grid of
// (scale, zero), inv = 1/scale: for each i,
//
//	dst[i] = clamp(RoundToEven(float64(x[i])·inv) + zero, 0, 255)
//
// with the product rounded to float64 once and NaN giving 0 — the input
// quantization of an integer-only model. With AVX-512 it converts sixteen
// values per step, with AVX2 eight; the result is the same bit for bit. dst
// must hold len(x) codes.
func QuantizeFloat32(dst []uint8, x []float32, inv float64, zero uint8) {
	quantize(quantizeImpl, dst, x, inv, zero)
}

// quantize is QuantizeFloat32 on the named implementation: whole steps of
// 16 (AVX-512) or 8 (AVX2) values in assembly, the rest in Go.
func quantize(which string, dst []uint8, x []float32, inv float64, zero uint8) {
	dst = dst[:len(x)]
	i := 0
	switch {
	case which == ImplVNNI && len(x) >= 16:
		i = len(x) &^ 15
		quantizeF32x16(&dst[0], &x[0], i, inv, int(zero))
	case which == ImplAVX2 && len(x) >= 8:
		i = len(x) &^ 7
		quantizeF32x8(&dst[0], &x[0], i, inv, int(zero))
	}
	quantizeGo(dst[i:], x[i:], inv, zero)
}

// quantizeGo is QuantizeFloat32 in Go: the product clamped to [−512, 512]
// (beyond which every code is 0 or 255 either way; NaN fails the first
// comparison and goes to −512), then rounded half to even by adding
// 1.5·2⁵², which leaves the rounded value in the low bits of the sum
// (exact for |t| ≤ 2⁵¹ in float64's default rounding).
func quantizeGo(dst []uint8, x []float32, inv float64, zero uint8) {
	dst = dst[:len(x)]
	z := int32(zero)
	const magic = 3 << 51
	for i, v := range x {
		t := float64(float64(v) * inv) // the conversion keeps the product from fusing
		if !(t >= -512) {
			t = -512
		}
		if t > 512 {
			t = 512
		}
		q := int32(math.Float64bits(t+magic)) + z
		dst[i] = uint8(min(max(q, 0), 255))
	}
}

// quantizeRef is QuantizeFloat32 of one value with math.RoundToEven: the
// definition the fast paths are tested against.
func quantizeRef(v float32, inv float64, zero uint8) uint8 {
	t := math.RoundToEven(float64(v)*inv) + float64(zero)
	switch {
	case math.IsNaN(t) || t <= 0:
		return 0
	case t >= 255:
		return 255
	}
	return uint8(t)
}

// quantizeCase returns values that reach every branch of the quantization
// at inv: ties x·inv = k + ½ and integers around every code, values just
// off them, extremes, zeros of both signs, infinities and NaN (first, so
// the assembly's whole steps reach them).
func quantizeCase(inv float64) []float32 {
	x := []float32{0, float32(math.Copysign(0, -1)), math.MaxFloat32, -math.MaxFloat32, 1e-40, -1e-40,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e9, -1e9}
	s := float32(1 / inv)
	for k := -300; k <= 300; k++ {
		x = append(x, (float32(k)+0.5)*s, float32(k)*s, float32(k)*s*1.0000001, (float32(k)+0.5)*s*0.9999999)
	}
	return x
}

// quantizeSelfTest reports whether the named implementation of
// QuantizeFloat32 agrees with quantizeRef on quantizeCase at a few scales and
// zero points, with a Go tail.
func quantizeSelfTest(which string) bool {
	for _, c := range []struct {
		inv  float64
		zero uint8
	}{{255, 0}, {80, 33}, {2, 128}, {0.5, 255}} {
		x := quantizeCase(c.inv)
		dst := make([]uint8, len(x))
		quantize(which, dst, x, c.inv, c.zero)
		for i, v := range x {
			if dst[i] != quantizeRef(v, c.inv, c.zero) {
				return false
			}
		}
	}
	return true
}
