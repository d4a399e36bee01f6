//go:build amd64 && !purego

package fixed

import "github.com/compressq/compressq/compress/internal/cpu"

// What the CPU and OS support; dispatch.go and requant_dispatch.go decide
// what to use.
var (
	cpuVNNI = cpu.AVX512F && cpu.AVX512BW && cpu.AVX512VNNI
	cpuAVX2 = cpu.AVX2
)

// packAU8x8 packs 8 full rows of A into a VNNI micro-panel (packAU8's
// layout): 32 bytes of each row per block, then tail (< 32) more bytes
// zero-extended to whole groups; AVX2 and AVX-512 BW (the masked tail).
//
//go:noescape
func packAU8x8(dst, a *uint8, lda, blocks, tail int)

// requantU8Max4 is Requantizer.Uint8Max4 on n elements, a multiple of 8,
// in AVX-512 F (see requant.go for the arithmetic); lo and hi already
// inside [0, 255].
//
//go:noescape
func requantU8Max4(dst *uint8, a, b, c, d *int32, n int, bias, mult *int32, lsh, sh *uint8, rnd, adj *int64, zero, lo, hi int64)

// requantU8Rows is Requantizer.Uint8 on rows rows of c accumulators, the
// first n8 (a multiple of 8) channels of each; the sixth argument is
// unused.
//
//go:noescape
func requantU8Rows(dst *uint8, acc *int32, rows, c, n8, _ int, bias, mult *int32, lsh, sh *uint8, rnd, adj *int64, zero, lo, hi int64)

// requantU8Rows16 is requantU8Rows for the first n16 (a multiple of 16)
// channels of each row, sixteen int32 lanes at a time; it needs zero, lz =
// lo − zero and hz = hi − zero inside int32 (Requantizer.Uint8Rows).
//
//go:noescape
func requantU8Rows16(dst *uint8, acc *int32, rows, c, n16, left int, bias, mult, lsh, rsh, mask, half *int32, zero, lz, hz int64)

// vnniRows8 computes an 8×32 int32 tile with VPDPBUSD: for r < 8 and
// j < 32, c[r*ldc+j] = init[j] + Σ_g Σ_t a[g*32+r*4+t] · b[g*128+j*4+t]
// over kg groups g of four k (t < 4). a is an A micro-panel as packed by
// packAU8 and b a packed B panel (see PackedB).
//
//go:noescape
func vnniRows8(a *uint8, b *int8, kg int, init *int32, c *int32, ldc int)

// vnniRows8x16 is vnniRows8 for the first 16 columns only: init and c are
// read and written for 16 columns, at half the multiply work.
//
//go:noescape
func vnniRows8x16(a *uint8, b *int8, kg int, init *int32, c *int32, ldc int)

// vnniWin8 is vnniRows8 with A read in place instead of from a packed
// micro-panel: for r < 8 and j < 32,
// c[r*ldc+j] = init[j] + Σ_s Σ_g Σ_t a[off[r]+segs[s]+4g+t] · b[(s·sg+g)*128+j*4+t]
// over nseg segments s of sg groups g (t < 4): eight rows of GEMMWindows.
// It stores column j only where bit j of mask is set (a partial panel).
//
//go:noescape
func vnniWin8(a *uint8, off *int, segs *int, nseg, sg int, b *int8, init *int32, c *int32, ldc, mask int)

// vnniWin8x16 is vnniWin8 for the first 16 columns only, as vnniRows8x16.
//
//go:noescape
func vnniWin8x16(a *uint8, off *int, segs *int, nseg, sg int, b *int8, init *int32, c *int32, ldc, mask int)

// vnniRows4 is vnniRows8 for the first 4 rows of the micro-panel.
//
//go:noescape
func vnniRows4(a *uint8, b *int8, kg int, init *int32, c *int32, ldc int)

// vnniRows2 is vnniRows8 for the first 2 rows of the micro-panel.
//
//go:noescape
func vnniRows2(a *uint8, b *int8, kg int, init *int32, c *int32, ldc int)

// vnniRows1 is vnniRows8 for the first row of the micro-panel.
//
//go:noescape
func vnniRows1(a *uint8, b *int8, kg int, init *int32, c *int32, ldc int)

// avx2Rows6 computes a 6×8 int32 tile with VPMADDWD: for r < 6 and j < 8,
// c[r*ldc+j] = init[j] + Σ_g Σ_t a[g*24+r*4+t] · b[g*128+j*4+t] over kg
// groups g of four k (t < 4). a is an A micro-panel widened to int16 by
// packAI16; b points at an 8-column slice of a packed B panel, whose groups
// stay 128 bytes apart.
//
//go:noescape
func avx2Rows6(a *int16, b *int8, kg int, init *int32, c *int32, ldc int)

// avx2Rows4 is avx2Rows6 for the first 4 rows of the micro-panel.
//
//go:noescape
func avx2Rows4(a *int16, b *int8, kg int, init *int32, c *int32, ldc int)

// avx2Rows2 is avx2Rows6 for the first 2 rows of the micro-panel.
//
//go:noescape
func avx2Rows2(a *int16, b *int8, kg int, init *int32, c *int32, ldc int)

// avx2Row1x32 computes one row across all 32 columns of a packed B panel:
// c[j] = init[j] + Σ_g Σ_t a[g*24+t] · b[g*128+j*4+t] for j < 32.
//
//go:noescape
func avx2Row1x32(a *int16, b *int8, kg int, init *int32, c *int32)

// sumRows16 sets dst[j] = Σ_r src[r·c + j] for j < n (a multiple of 16)
// over rows rows of c bytes, in AVX-512 F (SumRows).
//
//go:noescape
func sumRows16(dst *int32, src *uint8, rows, c, n int)

// sumRows8 is sumRows16 for n a multiple of 8, in AVX2.
//
//go:noescape
func sumRows8(dst *int32, src *uint8, rows, c, n int)

// lookup2x16 sets dst[j] = t[a[j]<<8 | b[j]] for j < n (a multiple of
// 16), in AVX-512 F (Lookup2).
//
//go:noescape
func lookup2x16(dst, a, b *uint8, n int, t *uint8)

// lookup2x8 is lookup2x16 for n a multiple of 8, in AVX2.
//
//go:noescape
func lookup2x8(dst, a, b *uint8, n int, t *uint8)

// dwRows16 is DepthwiseRows for the channels below n16 (a multiple of
// 16; ntaps ≥ 1), in AVX-512 F.
//
//go:noescape
func dwRows16(acc *int32, src *uint8, npix, stride int, taps *int, ntaps int, w, init *int32, c, n16 int)

// dwRows8 is dwRows16 for n8 a multiple of 8, in AVX2.
//
//go:noescape
func dwRows8(acc *int32, src *uint8, npix, stride int, taps *int, ntaps int, w, init *int32, c, n8 int)

// vnniPeak runs n iterations of 24 independent register-only VPDPBUSD
// (24·64 = 1536 multiply-accumulates each) for BenchmarkVNNIPeak.
//
//go:noescape
func vnniPeak(n int)

// avx2Peak runs n iterations of 12 independent register-only
// VPMADDWD+VPADDD pairs (12·16 = 192 multiply-accumulates each) for
// BenchmarkAVX2Peak.
//
//go:noescape
func avx2Peak(n int)

// quantizeF32x16 is QuantizeFloat32 on n values, a multiple of 16, in
// AVX-512 F: VCVTPS2PD, VMULPD, the clamp to ±512 (VMAXPD returns its
// second operand, −512, for NaN), VCVTPD2DQ rounding to nearest even,
// the zero point, and VPMOVUSDB's saturation to [0, 255].
//
//go:noescape
func quantizeF32x16(dst *uint8, x *float32, n int, inv float64, zero int)
