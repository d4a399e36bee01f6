//go:build !purego

package kernels

import (
	"runtime"
	"slices"
	"sync"
)

// Blocking of the assembly Sgemm (BLIS loop order). The micro-kernel keeps a
// mr×nr tile of C in twelve ymm registers; a packed mr×kc sliver of A (6 KiB)
// and kc×nr sliver of B (16 KiB) stay in L1, the packed mc×kc block of A
// (144 KiB) in L2 and the kc×nc panel of B in L3.
const (
	mr = 6
	nr = 16
	mc = 144 // multiple of mr
	kc = 256
	nc = 4080 // multiple of nr
)

// packBand is how many rows of a non-transposed B are packed at a time.
const packBand = 16

// parMinWork is the fewest multiply-adds worth a goroutine of their own;
// smaller products run on the caller's goroutine alone.
const parMinWork = 1 << 19

// sgemmWorkspace holds the packed panels of one sgemmBlocked call and the
// scratch for partial slivers.
type sgemmWorkspace struct {
	a, b, scratch []float32
	masks         []uint32 // kept columns per tile (SgemmOffsetRowsBiasClamp)
	maskKey       [3]int   // n, stride, width of masks
	groups        []int    // 8-column groups of the AVX2 epilogue kernels
	groupKey      [3]int   // n, stride, width of groups
	panels        []epPanel
}

// workspaces recycles packing buffers between calls; it holds no state that
// outlives a call.
var workspaces = sync.Pool{New: func() any { return new(sgemmWorkspace) }}

// grow returns s resliced to n elements, reallocated if too small.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// roundUp rounds x up to a multiple of to.
func roundUp(x, to int) int { return (x + to - 1) / to * to }

// sgemmParallel runs sgemmBlocked, splitting the longer of M and N into
// whole tiles across up to GOMAXPROCS goroutines when the product is large
// enough to pay for them. Splitting the longer side means each goroutine
// repacks only the smaller operand. It returns when every goroutine is done.
func sgemmParallel(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	workers := min(runtime.GOMAXPROCS(0), m*n*k/parMinWork)
	splitM := m >= n
	tiles := (n + nr - 1) / nr
	if splitM {
		tiles = (m + mr - 1) / mr
	}
	workers = min(workers, tiles)
	if workers < 2 {
		sgemmBlocked(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		t0, t1 := tiles*w/workers, tiles*(w+1)/workers
		var run func()
		if splitM {
			i0, i1 := t0*mr, min(m, t1*mr)
			var as []float32
			if transA {
				as = a[i0:]
			} else {
				as = a[i0*lda:]
			}
			run = func() {
				sgemmBlocked(transA, transB, i1-i0, n, k, alpha, as, lda, b, ldb, beta, c[i0*ldc:], ldc)
			}
		} else {
			j0, j1 := t0*nr, min(n, t1*nr)
			var bs []float32
			if transB {
				bs = b[j0*ldb:]
			} else {
				bs = b[j0:]
			}
			run = func() {
				sgemmBlocked(transA, transB, m, j1-j0, k, alpha, a, lda, bs, ldb, beta, c[j0:], ldc)
			}
		}
		if w == workers-1 {
			run()
			break
		}
		wg.Go(run)
	}
	wg.Wait()
}

// sgemmBlocked computes C = alpha·op(A)·op(B) + beta·C on one goroutine with
// packed panels and the assembly micro-kernel. Shapes are as for Sgemm, with
// m, n, k > 0 and alpha ≠ 0.
func sgemmBlocked(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	blocked(transA, m, n, k, alpha, a, lda, bSource{b: b, ldb: ldb, trans: transB}, beta, c, ldc)
}

// bSource is the B operand of blocked: op(B) from a strided matrix, or,
// with off set, the matrix whose row p is the n floats at b[off[p]:].
type bSource struct {
	b     []float32
	ldb   int
	trans bool
	off   []int
}

// pack copies the kb×nb block of B at (pc, jc) into dst as packB does.
func (s bSource) pack(pc, jc, kb, nb int, dst, scratch []float32) {
	if s.off == nil {
		packB(s.trans, s.b, s.ldb, pc, jc, kb, nb, dst, scratch)
		return
	}
	full := nb / nr
	cols := nb - full*nr
	for p := 0; p < kb; p++ {
		src := s.b[s.off[pc+p]+jc : s.off[pc+p]+jc+nb]
		if full > 0 {
			packBRows(&dst[p*nr], &src[0], 1, full, nb, kb)
		}
		if cols > 0 {
			d := dst[full*nr*kb+p*nr : full*nr*kb+(p+1)*nr]
			copy(d, src[full*nr:])
			clear(d[cols:])
		}
	}
}

// blocked is sgemmBlocked with B from any bSource.
func blocked(transA bool, m, n, k int, alpha float32, a []float32, lda int, b bSource, beta float32, c []float32, ldc int) {
	ws := workspaces.Get().(*sgemmWorkspace)
	defer workspaces.Put(ws)
	ws.a = grow(ws.a, min(mc, roundUp(m, mr))*min(kc, k))
	ws.b = grow(ws.b, min(kc, k)*min(nc, roundUp(n, nr)))
	ws.scratch = grow(ws.scratch, nr*min(kc, k))
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			b.pack(pc, jc, kb, nb, ws.b, ws.scratch)
			bt := beta
			if pc > 0 {
				bt = 1
			}
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				packA(transA, a, lda, ic, pc, mb, kb, ws.a, ws.scratch)
				macroKernel(mb, nb, kb, alpha, ws.a, ws.b, bt, c[ic*ldc+jc:], ldc)
			}
		}
	}
}

// sgemmOffsetRowsFast is SgemmOffsetRows after its checks: with AVX-512
// and 32 floats of slack past every row of B, the indirect kernels reading
// B in place; else the blocked assembly path packing B's rows. It reports
// false when it did nothing (no assembly).
func sgemmOffsetRowsFast(m, n, k int, a []float32, lda int, b []float32, off []int, beta float32, c []float32, ldc int) bool {
	if !useAsm {
		return false
	}
	if use512 && slices.Max(off[:k])+roundUp(n, 2*nr) <= len(b) {
		offsetRowsInPlace(m, n, k, a, lda, b, off, beta, c, ldc)
		return true
	}
	blocked(false, m, n, k, 1, a, lda, bSource{b: b, off: off}, beta, c, ldc)
	return true
}

// offsetRowsInPlace is SgemmOffsetRows on the indirect AVX-512 kernels: A
// packed per block of kc columns, B never copied.
func offsetRowsInPlace(m, n, k int, a []float32, lda int, b []float32, off []int, beta float32, c []float32, ldc int) {
	ws := workspaces.Get().(*sgemmWorkspace)
	defer workspaces.Put(ws)
	ws.a = grow(ws.a, min(mc, roundUp(m, mr))*min(kc, k))
	ws.scratch = grow(ws.scratch, nr*min(kc, k))
	for pc := 0; pc < k; pc += kc {
		kb := min(kc, k-pc)
		bt := beta
		if pc > 0 {
			bt = 1
		}
		for ic := 0; ic < m; ic += mc {
			mb := min(mc, m-ic)
			packA(false, a, lda, ic, pc, mb, kb, ws.a, ws.scratch)
			ap := ws.a
			for jr := 0; jr < n; jr += 2 * nr {
				cols := min(2*nr, n-jr)
				for ir := 0; ir < mb; ir += 2 * mr {
					rows := min(2*mr, mb-ir)
					cs := c[(ic+ir)*ldc+jr : (ic+ir+rows-1)*ldc+jr+cols]
					if rows <= mr {
						sgemmKernel6x32Ind(kb, &ap[ir*kb], &b[jr], &off[pc], &cs[0], ldc, 1, bt, rows, cols)
						continue
					}
					sgemmKernel12x32Ind(kb, &ap[ir*kb], &ap[(ir+mr)*kb], &b[jr], &off[pc], &cs[0], ldc, 1, bt, rows, cols)
				}
			}
		}
	}
}

// macroKernel computes the mb×nb block C = alpha·Ap·Bp + beta·C from packed
// A (ceil(mb/mr) slivers of mr×kb) and packed B (ceil(nb/nr) slivers of
// kb×nr). Edge tiles are computed in full from the zero-padded panels and
// stored through masks, so no element outside the block is touched.
func macroKernel(mb, nb, kb int, alpha float32, ap, bp []float32, beta float32, c []float32, ldc int) {
	jr := 0
	if use512 {
		// Pairs of B slivers through the AVX-512 kernels, two A slivers
		// at a time (12×32) and a last one alone (6×32), while more than
		// one sliver's columns remain; a last B sliver alone below.
		for ; nb-jr > nr; jr += 2 * nr {
			cols := min(2*nr, nb-jr)
			b0 := bp[jr*kb : jr*kb+kb*nr]
			b1 := bp[(jr+nr)*kb : (jr+nr)*kb+kb*nr]
			for ir := 0; ir < mb; ir += 2 * mr {
				rows := min(2*mr, mb-ir)
				as := ap[ir*kb : ir*kb+kb*mr]
				cs := c[ir*ldc+jr : (ir+rows-1)*ldc+jr+cols]
				if rows <= mr {
					sgemmKernel6x32(kb, &as[0], &b0[0], &b1[0], &cs[0], ldc, alpha, beta, rows, cols)
					continue
				}
				as1 := ap[(ir+mr)*kb : (ir+mr)*kb+kb*mr]
				sgemmKernel12x32(kb, &as[0], &as1[0], &b0[0], &b1[0], &cs[0], ldc, alpha, beta, rows, cols)
			}
		}
	}
	for ; jr < nb; jr += nr {
		cols := min(nr, nb-jr)
		bs := bp[jr*kb : jr*kb+kb*nr]
		for ir := 0; ir < mb; ir += mr {
			rows := min(mr, mb-ir)
			as := ap[ir*kb : ir*kb+kb*mr]
			cs := c[ir*ldc+jr : (ir+rows-1)*ldc+jr+cols]
			sgemmKernel6x16(kb, &as[0], &bs[0], &cs[0], ldc, alpha, beta, rows, cols)
		}
	}
}

// packA copies the mb×kb block of op(A) at (ic, pc) into dst as
// ceil(mb/mr) slivers; sliver s holds rows s·mr… column by column
// (dst[s·mr·kb + p·mr + r]), zero-padded past row mb. scratch holds at least
// mr·kb floats.
func packA(trans bool, a []float32, lda, ic, pc, mb, kb int, dst, scratch []float32) {
	for i0 := 0; i0 < mb; i0 += mr {
		rows := min(mr, mb-i0)
		d := dst[i0*kb : i0*kb+kb*mr]
		if trans {
			// op(A)[i][p] = a[p*lda+i]: each column p is contiguous.
			off := pc*lda + ic + i0
			_ = a[off+(kb-1)*lda+rows-1]
			packAT6(&d[0], &a[off], kb, lda, rows)
			continue
		}
		// op(A)[i][p] = a[i*lda+p]: transpose rows×kb into kb×mr, through
		// a zero-padded copy for a partial sliver.
		src, ld := a[(ic+i0)*lda+pc:], lda
		if rows < mr {
			src, ld = scratch[:mr*kb], kb
			copyBlockGo(src, a[(ic+i0)*lda+pc:], rows, kb, kb, lda)
			clear(src[rows*kb:])
		}
		p0 := kb / 8 * 8
		if p0 > 0 {
			_ = src[(mr-1)*ld+p0-1]
			packA6(&d[0], &src[0], p0/8, ld)
		}
		for r := 0; r < mr; r++ {
			for p, v := range src[r*ld+p0 : r*ld+kb] {
				d[(p0+p)*mr+r] = v
			}
		}
	}
}

// packB copies the kb×nb block of op(B) at (pc, jc) into dst as
// ceil(nb/nr) slivers; sliver s holds columns s·nr… row by row
// (dst[s·nr·kb + p·nr + j]), zero-padded past column nb. scratch holds at
// least nr·kb floats.
func packB(trans bool, b []float32, ldb, pc, jc, kb, nb int, dst, scratch []float32) {
	if !trans {
		// op(B)[p][j] = b[p*ldb+j]: rows of B are contiguous. Full slivers
		// are copied in bands of packBand rows across all of them, so B is
		// read row by row instead of in columns ldb apart; the partial
		// sliver is copied through masks.
		full := nb / nr
		if full > 0 {
			_, _ = b[(pc+kb-1)*ldb+jc+full*nr-1], dst[full*nr*kb-1]
			for p := 0; p < kb; p += packBand {
				packBRows(&dst[p*nr], &b[(pc+p)*ldb+jc], min(packBand, kb-p), full, ldb, kb)
			}
		}
		if cols := nb - full*nr; cols > 0 {
			off := pc*ldb + jc + full*nr
			_, _ = b[off+(kb-1)*ldb+cols-1], dst[(full+1)*nr*kb-1]
			packB16N(&dst[full*nr*kb], &b[off], kb, ldb, cols)
		}
		return
	}
	for j0 := 0; j0 < nb; j0 += nr {
		cols := min(nr, nb-j0)
		d := dst[j0*kb : j0*kb+kb*nr]
		// op(B)[p][j] = b[j*ldb+p]: column j of op(B) is row j of B, so
		// transpose cols×kb into kb×nr, through a zero-padded copy for a
		// partial sliver.
		src, ld := b[(jc+j0)*ldb+pc:], ldb
		if cols < nr {
			src, ld = scratch[:nr*kb], kb
			copyBlockGo(src, b[(jc+j0)*ldb+pc:], cols, kb, kb, ldb)
			clear(src[cols*kb:])
		}
		p0 := kb / 8 * 8
		if p0 > 0 {
			_ = src[(nr-1)*ld+p0-1]
			packBT16(&d[0], &src[0], p0/8, ld)
		}
		for j := 0; j < nr; j++ {
			for p, v := range src[j*ld+p0 : j*ld+kb] {
				d[(p0+p)*nr+j] = v
			}
		}
	}
}

// sgemmOffsetRowsBiasClampFast runs SgemmOffsetRowsBiasClamp on the fused
// AVX-512 kernels when B has the 32 floats of slack they read, or on the
// AVX2 ones where they apply (offsetRowsBiasClampAVX2); it reports false
// otherwise.
func sgemmOffsetRowsBiasClampFast(m, n, k int, a []float32, lda int, b []float32, off []int, stride, width int, bias []float32, lo, hi float32, c []float32, ldc int) bool {
	if !useAsm || len(off) < k || lda < k || len(a) < (m-1)*lda+k {
		return false
	}
	if !use512 {
		return offsetRowsBiasClampAVX2(m, n, k, a, lda, b, off, stride, width, bias, lo, hi, c, ldc)
	}
	last := roundUp(n, 2*nr)
	for _, o := range off[:k] {
		if o < 0 || o+last > len(b) {
			return false
		}
	}
	ws := workspaces.Get().(*sgemmWorkspace)
	defer workspaces.Put(ws)
	// All of K in one pass, so the epilogue sees finished sums.
	ws.a = grow(ws.a, roundUp(min(m, mc), mr)*k)
	ws.scratch = grow(ws.scratch, mr*k)
	// Each 32-column tile's kept columns, as a bit mask; kept from the
	// last call, which a convolution makes with the same geometry.
	if key := [3]int{n, stride, width}; ws.maskKey != key {
		ws.maskKey = key
		ws.masks = tileMasks(ws.masks[:0], n, stride, width)
	}
	for ic := 0; ic < m; ic += mc {
		mb := min(mc, m-ic)
		packA(false, a, lda, ic, 0, mb, k, ws.a, ws.scratch)
		for t, mask := range ws.masks {
			if mask == 0 {
				continue
			}
			jr := t * 2 * nr
			dst := (jr/stride)*width + min(jr%stride, width)
			for ir := 0; ir < mb; {
				rows := mb - ir
				ap := ws.a[ir*k:]
				cs := &c[(ic+ir)*ldc+dst]
				bs := &bias[ic+ir]
				switch {
				case rows > 8:
					sgemmEp12(k, &ap[0], &ap[mr*k], &b[jr], &off[0], cs, ldc, bs, lo, hi, min(rows, 12), mask)
					ir += 12
				case rows > 6:
					sgemmEp8(k, &ap[0], &ap[mr*k], &b[jr], &off[0], cs, ldc, bs, lo, hi, rows, mask)
					ir += 8
				case rows > 4:
					sgemmEp6(k, &ap[0], &ap[0], &b[jr], &off[0], cs, ldc, bs, lo, hi, rows, mask)
					ir += 6
				case rows > 2:
					sgemmEp4(k, &ap[0], &ap[0], &b[jr], &off[0], cs, ldc, bs, lo, hi, rows, mask)
					ir += 4
				default:
					sgemmEp2(k, &ap[0], &ap[0], &b[jr], &off[0], cs, ldc, bs, lo, hi, rows, mask)
					ir += 2
				}
			}
		}
	}
	return true
}

// tileMasks appends to dst, for each 32-column tile of n columns, the bit
// mask of its columns j with j mod stride < width.
func tileMasks(dst []uint32, n, stride, width int) []uint32 {
	var mask uint32
	for j, x := 0, 0; j < n; j++ {
		if x < width {
			mask |= 1 << (j % (2 * nr))
		}
		if x++; x == stride {
			x = 0
		}
		if j%(2*nr) == 2*nr-1 || j == n-1 {
			dst = append(dst, mask)
			mask = 0
		}
	}
	return dst
}

// offsetRowsBiasClampAVX2 is sgemmOffsetRowsBiasClampFast on the AVX2
// kernels. Their 8-column groups each lie inside one kept run of columns
// (epGroups), so every run must be at least 8 wide; it reports false,
// having done nothing, where one is shorter or a row of B is out of range.
func offsetRowsBiasClampAVX2(m, n, k int, a []float32, lda int, b []float32, off []int, stride, width int, bias []float32, lo, hi float32, c []float32, ldc int) bool {
	if width < 8 || (n%stride > 0 && min(n%stride, width) < 8) {
		return false
	}
	for _, o := range off[:k] {
		if o < 0 || o+n > len(b) {
			return false
		}
	}
	ws := workspaces.Get().(*sgemmWorkspace)
	defer workspaces.Put(ws)
	if key := [3]int{n, stride, width}; ws.groupKey != key {
		ws.groupKey = key
		ws.groups = epGroups(ws.groups[:0], n, stride, width)
	}
	g := ws.groups
	// Panels of 6 rows, and of 4 where 6 would leave more rows computed
	// for nothing (8 rows as 4+4 rather than 6+2); the kernels read A's
	// rows in place, a partial panel's missing rows pointing at its first.
	// A block of mc rows at a time keeps its panels in cache across the
	// tiles.
	for ic := 0; ic < m; ic += mc {
		mb := min(mc, m-ic)
		ps := ws.panels[:0]
		for r := 0; r < mb; {
			p := epPanel{row: ic + r, h: mr, rows: min(mr, mb-r)}
			if rem := mb - r; rem < mr || rem == 8 {
				p.h, p.rows = 4, min(4, rem)
			}
			for i := 1; i < p.rows; i++ {
				p.aoff[i] = i * lda * 4
			}
			ps = append(ps, p)
			r += p.h
		}
		ws.panels = ps
		for t := 0; t < len(g); t += 4 {
			// Two groups per tile; an odd last one is paired with
			// itself (the same values stored twice).
			u := min(t+2, len(g)-2)
			b0, b1, cc0, cc1 := &b[g[t]], &b[g[u]], c[g[t+1]:], c[g[u+1]:]
			for i := range ps {
				p := &ps[i]
				c0, c1 := &cc0[p.row*ldc], &cc1[p.row*ldc]
				if p.h == mr {
					sgemmEpAVX2x6(k, &a[p.row*lda], &p.aoff, b0, b1, &off[0], c0, c1, ldc, &bias[p.row], lo, hi, p.rows)
				} else {
					sgemmEpAVX2x4(k, &a[p.row*lda], &p.aoff, b0, b1, &off[0], c0, c1, ldc, &bias[p.row], lo, hi, p.rows)
				}
			}
		}
	}
	return true
}

// epPanel is a panel of rows of offsetRowsBiasClampAVX2: its first row,
// height (6 or 4), rows stored, and the byte offsets of its rows from the
// first (0 past the stored ones).
type epPanel struct {
	row, h, rows int
	aoff         [6]int
}

// epGroups appends to dst, as pairs (column of the product, column of C),
// 8-column groups covering the kept columns of n (those with
// j mod stride < width, stored contiguously as SgemmOffsetRowsBiasClamp
// says): each run of kept columns, at least 8 long, in groups at 0, 8, …
// and a last one ending at the run's end, overlapping the one before
// where the run is not a multiple of 8.
func epGroups(dst []int, n, stride, width int) []int {
	for j, d := 0, 0; j < n; j, d = j+stride, d+width {
		run := min(width, n-j)
		for x := 0; x < run; x += 8 {
			x0 := min(x, run-8)
			dst = append(dst, j+x0, d+x0)
		}
	}
	return dst
}
