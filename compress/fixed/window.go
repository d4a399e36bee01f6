package fixed

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Windows describes an A operand read in place: row i of A is the
// concatenation, over the segments s in order, of seg bytes of the
// activation slice a at offset rows[i] + segs[s]:
//
//	A[i][s·seg + t] = a[rows[i] + segs[s] + t]   (s < len(segs), t < seg)
//
// For a convolution over a padded [H, W, C] image (channels innermost),
// rows[i] is the offset of output pixel i's window origin, segs the
// offsets of the window's kernel rows (k·W_padded·C apart) and seg = k·C:
// the A row is the im2row patch in (ki, kj, c) order without being copied.
// Rows may overlap. A Windows is read-only after NewWindows and safe for
// concurrent use.
type Windows struct {
	rows, segs []int
	seg        int
	// ends[i] is where the windows of rows[:i+1] end in a at most, so a
	// call on a prefix of the rows checks its bounds in O(1).
	ends []int
}

// NewWindows returns the Windows of the given row and segment offsets and
// segment length. It returns an error if an offset or seg is negative.
func NewWindows(rows, segs []int, seg int) (*Windows, error) {
	if seg < 0 {
		return nil, fmt.Errorf("fixed: windows: segment length %d < 0", seg)
	}
	sMax := 0
	for s, off := range segs {
		if off < 0 {
			return nil, fmt.Errorf("fixed: windows: segs[%d] = %d < 0", s, off)
		}
		sMax = max(sMax, off)
	}
	w := &Windows{rows: slices.Clone(rows), segs: slices.Clone(segs), seg: seg, ends: make([]int, len(rows))}
	hi := 0
	for i, r := range rows {
		if r < 0 {
			return nil, fmt.Errorf("fixed: windows: rows[%d] = %d < 0", i, r)
		}
		hi = max(hi, r)
		w.ends[i] = hi + sMax + seg
	}
	return w, nil
}

// Rows returns the number of rows of A that w describes.
func (w *Windows) Rows() int { return len(w.rows) }

// K returns the length of A's rows, len(segs)·seg.
func (w *Windows) K() int { return len(w.segs) * w.seg }

// GEMMWindows is GEMM on the first m rows of an A operand described by w
// instead of stored row-major:
//
//	C[i][j] = Σ_k (A[i][k] − aZero) · B[k][j],  i < m
//
// with A[i] as Windows defines it and w.K() = b.K(). The result equals GEMM
// of the gathered A bit for bit. On the VNNI kernels, when the segment
// length is a multiple of 4, whole micro-panels of 8 rows are read in place
// (vnniWin8) and the rest packed from a, and on the AVX2 kernels every
// micro-panel is packed from a (packAI16x6); otherwise, and on the Go
// loops, each block of rows is gathered first. GEMMWindows panics if m
// exceeds w.Rows(), K differs from b.K(), a window of the m rows leaves a
// or C is too short.
func GEMMWindows(m int, a []uint8, w *Windows, aZero uint8, b *PackedB, c []int32, ldc int, opt Options) {
	checkShape("GEMMWindows", "C", m, b.n, len(c), ldc)
	if m < 0 || m > len(w.rows) {
		panic(fmt.Sprintf("fixed: GEMMWindows: %d rows of %d windows", m, len(w.rows)))
	}
	if w.K() != b.k {
		panic(fmt.Sprintf("fixed: GEMMWindows: %d segments of %d bytes for K = %d", len(w.segs), w.seg, b.k))
	}
	if m > 0 && b.k > 0 && w.ends[m-1] > len(a) {
		panic(fmt.Sprintf("fixed: GEMMWindows: a window ends at %d, past len(a) = %d", w.ends[m-1], len(a)))
	}
	gemmOn(impl, m, a, 0, w, aZero, b, c, ldc, opt)
}

// windowed reports whether the call reads A through windows.
func (g *gemmCall) windowed() bool { return g.win != nil }

// gatherRows writes rows [i0, i1) of the call's A (K bytes each) into dst
// contiguously: the rows of A as GEMM would read them with lda = K.
func (g *gemmCall) gatherRows(dst []uint8, i0, i1 int) {
	k, w := g.b.k, g.win
	for i := i0; i < i1; i++ {
		row := dst[(i-i0)*k : (i-i0+1)*k]
		for s, off := range w.segs {
			copy(row[s*w.seg:(s+1)*w.seg], g.a[w.rows[i]+off:])
		}
	}
}

// packWinRows packs the micro-panel of window rows starting at i0 into mp
// in packAU8's layout, for segments of a multiple of 4 bytes (each fills
// whole groups): rows at and past i1 are zero. It packs the last few rows
// of a windowed GEMM, which the window kernels leave.
func packWinRows(mp []uint8, a []uint8, w *Windows, i0, i1, kg int) {
	sg := w.seg / groupK
	for r := 0; r < vnniMR; r++ {
		i := i0 + r
		if i >= i1 {
			for g := 0; g < kg; g++ {
				clear(mp[g*vnniMR*groupK+r*groupK:][:groupK])
			}
			continue
		}
		for s, so := range w.segs {
			src := a[w.rows[i]+so:][:w.seg]
			for g := range sg {
				binary.LittleEndian.PutUint32(mp[(s*sg+g)*vnniMR*groupK+r*groupK:], binary.LittleEndian.Uint32(src[g*groupK:]))
			}
		}
	}
}
