//go:build !amd64 || purego

package fixed

func requantU8Rows8(dst *uint8, acc *int32, rows, c, n8, _, left int, bias, mult, lsh, rsh, mask, half *int32, zero, lz, hz int64) {
	panic(noAsm)
}
func requantU8Max4x8(dst *uint8, a, b, c, d *int32, n8, left int, bias, mult, lsh, rsh, mask, half *int32, zero, lz, hz int64) {
	panic(noAsm)
}
func quantizeF32x8(dst *uint8, x *float32, n int, inv float64, zero int) { panic(noAsm) }
