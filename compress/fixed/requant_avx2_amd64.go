//go:build amd64 && !purego

package fixed

// requantU8Rows8 is requantU8Rows16 for the first n8 (a multiple of 8)
// channels of each row, eight int32 lanes at a time in AVX2, with the same
// contract: zero, lz = lo − zero and hz = hi − zero inside int32, lo ≤ hi
// inside [0, 255] (Requantizer.Uint8Rows). The sixth argument is unused.
//
//go:noescape
func requantU8Rows8(dst *uint8, acc *int32, rows, c, n8, _, left int, bias, mult, lsh, rsh, mask, half *int32, zero, lz, hz int64)

// requantU8Max4x8 is Requantizer.Uint8Max4 on the first n8 (a multiple of
// 8) elements in AVX2, with the parameters of requantU8Rows8.
//
//go:noescape
func requantU8Max4x8(dst *uint8, a, b, c, d *int32, n8, left int, bias, mult, lsh, rsh, mask, half *int32, zero, lz, hz int64)

// quantizeF32x8 is quantizeF32x16 for n a multiple of 8, in AVX2.
//
//go:noescape
func quantizeF32x8(dst *uint8, x *float32, n int, inv float64, zero int)
