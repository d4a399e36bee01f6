//go:build !amd64 || purego

package fixed

// Without amd64 assembly only the Go loops exist.
const (
	cpuVNNI = false
	cpuAVX2 = false
)

func vnniRows8(a *uint8, b *int8, kg int, init *int32, c *int32, ldc int) { panic(noAsm) }
func vnniRows4(a *uint8, b *int8, kg int, init *int32, c *int32, ldc int) { panic(noAsm) }
func vnniRows8x16(a *uint8, b *int8, kg int, init *int32, c *int32, ldc int) {
	panic(noAsm)
}
func vnniWin8(a *uint8, off *int, segs *int, nseg, sg int, b *int8, init *int32, c *int32, ldc, mask int) {
	panic(noAsm)
}
func vnniWin8x16(a *uint8, off *int, segs *int, nseg, sg int, b *int8, init *int32, c *int32, ldc, mask int) {
	panic(noAsm)
}
func vnniRows2(a *uint8, b *int8, kg int, init *int32, c *int32, ldc int) { panic(noAsm) }
func vnniRows1(a *uint8, b *int8, kg int, init *int32, c *int32, ldc int) { panic(noAsm) }
func avx2Rows6(a *int16, b *int8, kg int, init *int32, c *int32, ldc int) { panic(noAsm) }
func avx2Rows4(a *int16, b *int8, kg int, init *int32, c *int32, ldc int) { panic(noAsm) }
func avx2Rows2(a *int16, b *int8, kg int, init *int32, c *int32, ldc int) { panic(noAsm) }
func avx2Row1x32(a *int16, b *int8, kg int, init *int32, c *int32)        { panic(noAsm) }
func packAU8x8(dst, a *uint8, lda, blocks, tail int)                      { panic(noAsm) }
func requantU8Max4(dst *uint8, a, b, c, d *int32, n int, bias, mult *int32, lsh, sh *uint8, rnd, adj *int64, zero, lo, hi int64) {
	panic(noAsm)
}
func requantU8Rows(dst *uint8, acc *int32, rows, c, n8, _ int, bias, mult *int32, lsh, sh *uint8, rnd, adj *int64, zero, lo, hi int64) {
	panic(noAsm)
}
func sumRows16(dst *int32, src *uint8, rows, c, n int) { panic(noAsm) }
func sumRows8(dst *int32, src *uint8, rows, c, n int)  { panic(noAsm) }
func requantU8Rows16(dst *uint8, acc *int32, rows, c, n16, left int, bias, mult, lsh, rsh, mask, half *int32, zero, lz, hz int64) {
	panic(noAsm)
}
func lookup2x16(dst, a, b *uint8, n int, t *uint8) { panic(noAsm) }
func lookup2x8(dst, a, b *uint8, n int, t *uint8)  { panic(noAsm) }
func dwRows16(acc *int32, src *uint8, npix, stride int, taps *int, ntaps int, w, init *int32, c, n16 int) {
	panic(noAsm)
}
func dwRows8(acc *int32, src *uint8, npix, stride int, taps *int, ntaps int, w, init *int32, c, n8 int) {
	panic(noAsm)
}
func vnniPeak(n int) { panic(noAsm) }
func avx2Peak(n int) { panic(noAsm) }

// noAsm is the panic message of the stubs; dispatch never calls them.
const noAsm = "fixed: assembly kernel called in a build without assembly"

func quantizeF32x16(dst *uint8, x *float32, n int, inv float64, zero int) { panic(noAsm) }
