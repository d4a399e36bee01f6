package fixed

import "slices"

// useI16Asm reports whether the AVX2 kernels' A micro-panels are packed by
// packAI16x6 (packI16, packWinI16) instead of the Go loop packAI16; set at
// init (dispatch.go) when the CPU has AVX2, assembly is enabled
// (cpu.Disabled) and i16SelfTest passes. Never written after init.
var useI16Asm bool

// packAVX2 packs rows [ib, ie) of the call's A into ap as packAI16 packs
// them (blockAVX2's operand): a row-major A by packI16; windows whose
// segments are whole groups straight from a by packWinI16 where useI16Asm;
// other windows first gathered into *rows, which it grows as needed.
func (g *gemmCall) packAVX2(ap []int16, rows *[]uint8, ib, ie int) {
	k, kg := g.b.k, g.b.kg
	switch {
	case !g.windowed():
		packI16(ap, g.a, g.lda, ib, ie, k, kg)
	case useI16Asm && g.win.seg%groupK == 0:
		g.packWinI16(ap, ib, ie, kg)
	default:
		n := (ie - ib) * k
		*rows = slices.Grow((*rows)[:0], n)[:n]
		g.gatherRows(*rows, ib, ie)
		packI16(ap, *rows, k, 0, ie-ib, k, kg)
	}
}

// packI16 is packAI16 (same arguments, same result) with the whole groups
// of each micro-panel packed by packAI16x6 where useI16Asm; the partial
// last group and the zero rows of a partial micro-panel are written in Go.
func packI16(dst []int16, a []uint8, lda, i0, i1, k, kg int) {
	full := k / groupK
	if !useI16Asm || full == 0 {
		packAI16(dst, a, lda, i0, i1, k, kg)
		return
	}
	const stride = avx2MR * groupK
	seg0 := [1]int{0}
	var off [avx2MR]int
	for u := 0; i0+u*avx2MR < i1; u++ {
		i := i0 + u*avx2MR
		rows := min(avx2MR, i1-i)
		mp := dst[u*kg*stride : (u+1)*kg*stride]
		// The rows past i1 repeat the last one and are cleared after.
		for r := range off {
			off[r] = (i + min(r, rows-1)) * lda
		}
		_ = a[off[rows-1]+full*groupK-1]
		packAI16x6(&mp[0], &a[0], &off[0], &seg0[0], 1, full)
		if full < kg {
			for r := range rows {
				tail := mp[full*stride+r*groupK:][:groupK]
				clear(tail)
				for t, v := range a[off[r]+full*groupK : off[r]+k] {
					tail[t] = int16(v)
				}
			}
		}
		clearRowsI16(mp, rows, kg)
	}
}

// packWinI16 is gatherRows then packAI16 of rows [i0, i1) of a windowed
// A whose segments are whole groups (seg a multiple of 4, kg = K/4),
// without the copy: packAI16x6 reads each micro-panel's windows in place.
// GEMMWindows has checked that they lie inside a.
func (g *gemmCall) packWinI16(dst []int16, i0, i1, kg int) {
	const stride = avx2MR * groupK
	w := g.win
	var off [avx2MR]int
	for u := 0; i0+u*avx2MR < i1; u++ {
		i := i0 + u*avx2MR
		rows := min(avx2MR, i1-i)
		mp := dst[u*kg*stride : (u+1)*kg*stride]
		o := w.rows[i : i+rows]
		if rows < avx2MR {
			// The rows past i1 repeat the last one and are cleared after.
			for r := range off {
				off[r] = o[min(r, rows-1)]
			}
			o = off[:]
		}
		packAI16x6(&mp[0], &g.a[0], &o[0], &w.segs[0], len(w.segs), w.seg/groupK)
		clearRowsI16(mp, rows, kg)
	}
}

// clearRowsI16 zeroes rows [rows, avx2MR) of the int16 micro-panel mp of
// kg groups.
func clearRowsI16(mp []int16, rows, kg int) {
	const stride = avx2MR * groupK
	if rows == avx2MR {
		return
	}
	for g := range kg {
		clear(mp[g*stride+rows*groupK : (g+1)*stride])
	}
}

// i16SelfTest reports whether packI16 and packAVX2 on packAI16x6 pack as
// packAI16 does (of the gathered rows for windows): 17 rows from row 2 of
// K = 27 with row stride 31 (a block of 4 groups, two groups left and a
// partial group; a partial micro-panel), and 13 overlapping window rows
// of three segments of 20 bytes (a block and a group each).
func i16SelfTest() bool {
	saved := useI16Asm
	defer func() { useI16Asm = saved }()
	const k, lda, i0, i1 = 27, 31, 2, 19
	a := make([]uint8, 700)
	x := uint32(11)
	for i := range a {
		x = x*1664525 + 1013904223
		a[i] = uint8(x >> 24)
	}
	a[2*lda], a[i1*lda-lda+k-1] = 255, 255
	kg := (k + groupK - 1) / groupK
	var got, want [2][]int16
	for i, on := range []bool{true, false} {
		useI16Asm = on
		got[i] = make([]int16, packRows(i1-i0, avx2MR)*kg*groupK)
		packI16(got[i], a, lda, i0, i1, k, kg)
	}
	if !slices.Equal(got[0], got[1]) {
		return false
	}
	offs := []int{0, 7, 3, 200, 201, 9, 640, 5, 77, 78, 79, 400, 1}
	w, err := NewWindows(offs, []int{19, 0, 8}, 20)
	if err != nil {
		panic(err)
	}
	g := &gemmCall{a: a, win: w, b: &PackedB{k: w.K(), kg: w.K() / groupK}}
	var rows []uint8
	for i, on := range []bool{true, false} {
		useI16Asm = on
		want[i] = make([]int16, packRows(len(offs), avx2MR)*g.b.kg*groupK)
		g.packAVX2(want[i], &rows, 0, len(offs))
	}
	return slices.Equal(want[0], want[1])
}
