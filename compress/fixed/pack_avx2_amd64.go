//go:build amd64 && !purego

package fixed

// packAI16x6 packs one AVX2 micro-panel of 6 rows of A read through
// windows, widened to int16 (packAI16's layout): row r of the panel is,
// for each of the nseg segments s in order, the 4·sg bytes at
// a + off[r] + segs[s], so that
//
//	dst[(s·sg+g)·24 + r·4 + t] = a[off[r] + segs[s] + 4g + t]   (r < 6, g < sg, t < 4).
//
// It reads exactly those bytes and writes exactly nseg·sg·24 int16. Blocks
// of 4 groups are widened by VPMOVZXBW and transposed as 64-bit lanes; the
// groups left of a segment go one at a time. A row-major A is one segment
// at offset 0 with off[r] the rows' starts.
//
//go:noescape
func packAI16x6(dst *int16, a *uint8, off *int, segs *int, nseg, sg int)
