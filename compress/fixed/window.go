package fixed

import (
	"encoding/binary"
	"fmt"
	"slices"
	"unsafe"
)

// Windows describes an A operand read in place: row i of A is the
// concatenation, over the segments s in order, of Len bytes of the
// activation slice a at offset Rows[i] + Segs[s]:
//
//	A[i][s·Len + t] = a[Rows[i] + Segs[s] + t]   (s < len(Segs), t < Len)
//
// For a convolution over a padded [H, W, C] image (channels innermost),
// Rows[i] is the offset of output pixel i's window origin, Segs the offsets
// of the window's kernel rows (k·W_padded·C apart) and Len = k·C: the A
// row is the im2row patch in (ki, kj, c) order without being copied.
// Rows may overlap; offsets are not negative.
type Windows struct {
	Rows []int
	Segs []int
	Len  int
}

// GEMMWindows is GEMM with A described by w instead of stored row-major:
//
//	C[i][j] = Σ_k (A[i][k] − aZero) · B[k][j],  i < len(w.Rows)
//
// with A[i] as Windows defines it and K = len(w.Segs)·w.Len = b.K(). The
// result equals GEMM of the gathered A bit for bit. On the VNNI kernel a
// Len that is a multiple of 4 is packed straight from a (packAU8x8Off);
// otherwise, and on the other kernels, each block of rows is gathered
// first. GEMMWindows panics if K differs from b.K(), an offset is
// negative, a window leaves a or C is too short.
func GEMMWindows(a []uint8, w Windows, aZero uint8, b *PackedB, c []int32, ldc int, opt Options) {
	m := len(w.Rows)
	checkShape("GEMMWindows", "C", m, b.n, len(c), ldc)
	checkWindows(a, w, b.k)
	gemmOn(impl, m, a, 0, w, aZero, b, c, ldc, opt)
}

// checkWindows panics unless every window of w lies inside a and its rows
// are k long.
func checkWindows(a []uint8, w Windows, k int) {
	if w.Len < 0 || len(w.Segs)*w.Len != k {
		panic(fmt.Sprintf("fixed: GEMMWindows: %d segments of %d bytes for K = %d", len(w.Segs), w.Len, k))
	}
	if len(w.Rows) == 0 || k == 0 {
		return
	}
	r0, r1 := slices.Min(w.Rows), slices.Max(w.Rows)
	s0, s1 := slices.Min(w.Segs), slices.Max(w.Segs)
	if r0 < 0 || s0 < 0 {
		panic(fmt.Sprintf("fixed: GEMMWindows: negative offset (row %d, segment %d)", r0, s0))
	}
	if end := r1 + s1 + w.Len; end > len(a) {
		panic(fmt.Sprintf("fixed: GEMMWindows: a window ends at %d, past len(a) = %d", end, len(a)))
	}
}

// windowed reports whether the call reads A through windows.
func (g *gemmCall) windowed() bool { return g.win.Rows != nil }

// gatherRows writes rows [i0, i1) of the call's A (K bytes each) into dst
// contiguously: the rows of A as GEMM would read them with lda = K.
func (g *gemmCall) gatherRows(dst []uint8, i0, i1 int) {
	k, w := g.b.k, g.win
	for i := i0; i < i1; i++ {
		row := dst[(i-i0)*k : (i-i0+1)*k]
		for s, off := range w.Segs {
			copy(row[s*w.Len:(s+1)*w.Len], g.a[w.Rows[i]+off:])
		}
	}
}

// packWinU8 packs rows [i0, i1) of a windowed A into dst in packAU8's
// layout, for segments of a multiple of 4 bytes (so each segment fills
// whole groups): full micro-panels through packAU8x8Off per segment where
// usePackAsm, the rest by packWinRows.
func packWinU8(dst []uint8, a []uint8, w Windows, i0, i1, kg int) {
	sg := w.Len / groupK // groups per segment
	for u := 0; i0+u*vnniMR < i1; u++ {
		mp := dst[u*kg*vnniMR*groupK : (u+1)*kg*vnniMR*groupK]
		if i := i0 + u*vnniMR; usePackAsm && i+vnniMR <= i1 && w.Len > 0 {
			off := w.Rows[i : i+vnniMR]
			for s, so := range w.Segs {
				base := unsafe.Add(unsafe.Pointer(unsafe.SliceData(a)), so)
				packAU8x8Off(&mp[s*sg*vnniMR*groupK], (*uint8)(base), &off[0], w.Len/(8*groupK), w.Len%(8*groupK))
			}
			continue
		}
		packWinRows(mp, a, w, i0+u*vnniMR, i1, kg)
	}
}

// packWinRows packs the micro-panel of window rows starting at i0 into mp,
// as packWinU8 does, in Go: rows at and past i1 are zero. It is the
// reference of packAU8x8Off.
func packWinRows(mp []uint8, a []uint8, w Windows, i0, i1, kg int) {
	sg := w.Len / groupK
	for r := 0; r < vnniMR; r++ {
		i := i0 + r
		if i >= i1 {
			for g := 0; g < kg; g++ {
				clear(mp[g*vnniMR*groupK+r*groupK:][:groupK])
			}
			continue
		}
		for s, so := range w.Segs {
			src := a[w.Rows[i]+so:][:w.Len]
			for g := range sg {
				binary.LittleEndian.PutUint32(mp[(s*sg+g)*vnniMR*groupK+r*groupK:], binary.LittleEndian.Uint32(src[g*groupK:]))
			}
		}
	}
}
