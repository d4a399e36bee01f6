package fixed

import (
	"encoding/binary"
	"runtime"
	"slices"
	"sync"
	"unsafe"
)

// Options tune one GEMM call. The zero value is valid.
type Options struct {
	// Threads bounds the goroutines a call may use; 0 means
	// runtime.GOMAXPROCS(0). Small problems always run on the calling
	// goroutine.
	Threads int
}

// Blocking parameters.
const (
	vnniMR = 8 // rows per A micro-panel of the VNNI kernel
	avx2MR = 6 // rows per A micro-panel of the AVX2 kernel
	avx2NR = 8 // columns per AVX2 kernel call
	// mcPanels A micro-panels are packed together and swept across every B
	// panel a worker owns, so that block of A (≤ 128 rows) stays in L2
	// while each B panel (32·K bytes) is reused from L1/L2 by all of them.
	mcPanels = 16
	// parallelMACs is the work below which a call stays on one goroutine.
	parallelMACs = 1 << 21
)

// GEMM computes C = (A − aZero)·B, overwriting C:
//
//	C[i][j] = Σ_k (A[i][k] − aZero) · B[k][j]
//
// A is uint8 of shape [m, b.K()] row-major with row stride lda ≥ b.K(); B
// is packed by PackB or PackBT; C is int32 of shape [m, b.N()] with row
// stride ldc ≥ b.N(). The result is exact and identical on every
// implementation (see the package comment). Large problems are split across
// up to opt.Threads goroutines, which GEMM waits for. GEMM panics on shapes
// the slices cannot hold.
func GEMM(m int, a []uint8, lda int, aZero uint8, b *PackedB, c []int32, ldc int, opt Options) {
	checkShape("GEMM", "C", m, b.n, len(c), ldc)
	gemm(impl, m, a, lda, aZero, b, c, ldc, opt)
}

// gemm is GEMM on the named implementation, which must be available.
func gemm(which string, m int, a []uint8, lda int, aZero uint8, b *PackedB, c []int32, ldc int, opt Options) {
	checkShape("GEMM", "A", m, b.k, len(a), lda)
	gemmOn(which, m, a, lda, nil, aZero, b, c, ldc, opt)
}

// gemmOn is gemm with A either row-major with stride lda or, when w is not
// nil, read through the first m rows of w (GEMMWindows); shapes checked.
func gemmOn(which string, m int, a []uint8, lda int, w *Windows, aZero uint8, b *PackedB, c []int32, ldc int, opt Options) {
	if m == 0 || b.n == 0 {
		return
	}
	g := calls.Get().(*gemmCall)
	defer func() {
		*g = gemmCall{init: g.init} // keep the buffer, drop the operands
		calls.Put(g)
	}()
	init := g.init
	*g = gemmCall{which: which, m: m, a: a, lda: lda, win: w, aZero: aZero, b: b, c: c, ldc: ldc}
	g.mr = 1
	switch which {
	case ImplVNNI:
		g.mr = vnniMR
	case ImplAVX2:
		g.mr = avx2MR
	}
	// The zero-point correction −aZero·Σ_k B[k][j] seeds each accumulator.
	g.init = slices.Grow(init[:0], b.panels*panelCols)[:b.panels*panelCols]
	clear(g.init)
	if aZero != 0 {
		for j, s := range b.colSum {
			g.init[j] = -int32(aZero) * s
		}
	}
	g.run(threadsFor(opt, m, b))
}

// threadsFor returns how many goroutines a call of m rows on b may use.
func threadsFor(opt Options, m int, b *PackedB) int {
	t := opt.Threads
	if t <= 0 {
		t = runtime.GOMAXPROCS(0)
	}
	if macs := m * b.n * b.k; macs < parallelMACs*t {
		t = max(1, macs/parallelMACs)
	}
	return t
}

// calls recycles gemmCall values (and their init buffers) between calls,
// so a GEMM on the assembly kernels allocates nothing.
var calls = sync.Pool{New: func() any { return new(gemmCall) }}

// vnniScratch is one worker's packed A panels, gathered window rows and
// edge tile in blockVNNI.
type vnniScratch struct {
	ap, rows []uint8
	tile     [vnniMR * panelCols]int32
}

// vnniScratches recycles vnniScratch between blocks.
var vnniScratches = sync.Pool{New: func() any { return new(vnniScratch) }}

// avx2Scratch is one worker's packed A panels, gathered window rows and
// edge tile in blockAVX2.
type avx2Scratch struct {
	ap   []int16
	rows []uint8
	tile [avx2MR * panelCols]int32
}

// avx2Scratches recycles avx2Scratch between blocks.
var avx2Scratches = sync.Pool{New: func() any { return new(avx2Scratch) }}

// gemmCall holds one GEMM call's arguments for its workers.
type gemmCall struct {
	which string
	m, mr int
	a     []uint8
	lda   int
	win   *Windows // A's windows (GEMMWindows), or nil: A is row-major
	aZero uint8
	b     *PackedB
	c     []int32
	ldc   int
	init  []int32 // per-column accumulator seed, b.panels·32 long
}

// at returns the index in g.c of C element (i, j).
func (g *gemmCall) at(i, j int) int { return i*g.ldc + j }

// run splits the call into at most t contiguous blocks of rows (or, when
// there are too few rows, of B panels) and computes them on t goroutines.
func (g *gemmCall) run(t int) {
	microPanels := (g.m + g.mr - 1) / g.mr
	if t <= 1 {
		g.block(0, g.m, 0, g.b.panels)
		return
	}
	var wg sync.WaitGroup
	if microPanels >= 2*t {
		per := (microPanels + t - 1) / t
		for w := 0; w < t; w++ {
			i0, i1 := w*per*g.mr, min(g.m, (w+1)*per*g.mr)
			if i0 >= i1 {
				break
			}
			wg.Go(func() { g.block(i0, i1, 0, g.b.panels) })
		}
	} else {
		t = min(t, g.b.panels)
		per := (g.b.panels + t - 1) / t
		for w := 0; w < t; w++ {
			p0, p1 := w*per, min(g.b.panels, (w+1)*per)
			if p0 >= p1 {
				break
			}
			wg.Go(func() { g.block(0, g.m, p0, p1) })
		}
	}
	wg.Wait()
}

// block computes rows [i0, i1) of C for the columns of B panels [p0, p1).
func (g *gemmCall) block(i0, i1, p0, p1 int) {
	if g.b.k == 0 { // empty sums: C is 0
		j0, j1 := p0*panelCols, min(g.b.n, p1*panelCols)
		for i := i0; i < i1; i++ {
			clear(g.c[g.at(i, j0):][:j1-j0])
		}
		return
	}
	switch g.which {
	case ImplVNNI:
		g.blockVNNI(i0, i1, p0, p1)
	case ImplAVX2:
		g.blockAVX2(i0, i1, p0, p1)
	default:
		g.blockGo(i0, i1, p0, p1)
	}
}

// blockVNNI is block on the AVX-512 VNNI kernels.
func (g *gemmCall) blockVNNI(i0, i1, p0, p1 int) {
	kg := g.b.kg
	sc := vnniScratches.Get().(*vnniScratch)
	defer vnniScratches.Put(sc)
	if g.windowed() && g.win.seg%groupK == 0 {
		// Whole micro-panels read their windows in place; the last few
		// rows are packed below.
		full := i0 + (i1-i0)/vnniMR*vnniMR
		g.windowsVNNI(i0, full, p0, p1)
		if i0 = full; i0 == i1 {
			return
		}
	}
	size := packRows(i1-i0, vnniMR) * kg * groupK
	sc.ap = slices.Grow(sc.ap[:0], size)[:size]
	ap, tile := sc.ap, &sc.tile
	for ib := i0; ib < i1; ib += mcPanels * vnniMR {
		ie := min(i1, ib+mcPanels*vnniMR)
		switch {
		case !g.windowed():
			packAU8(ap, g.a, g.lda, ib, ie, g.b.k, kg)
		case g.win.seg%groupK == 0: // fewer rows than a micro-panel
			packWinRows(ap, g.a, g.win, ib, ie, kg)
		default:
			sc.rows = slices.Grow(sc.rows[:0], (ie-ib)*g.b.k)[:(ie-ib)*g.b.k]
			g.gatherRows(sc.rows, ib, ie)
			packAU8(ap, sc.rows, g.b.k, 0, ie-ib, g.b.k, kg)
		}
		for q := p0; q < p1; q++ {
			bp := unsafe.SliceData(g.b.panel(q))
			col := q * panelCols
			ncol := min(panelCols, g.b.n-col)
			init := &g.init[col]
			for i := ib; i < ie; i += vnniMR {
				a := ap[(i-ib)*kg*groupK:]
				rows := min(vnniMR, ie-i)
				for r0 := 0; r0 < rows; {
					f, h := vnniRows1, 1
					switch n := rows - r0; {
					case n >= 8 && ncol <= panelCols/2:
						// A narrow layer (16 outputs or fewer): half the work.
						f, h = vnniRows8x16, 8
					case n >= 8:
						f, h = vnniRows8, 8
					case n >= 4:
						f, h = vnniRows4, 4
					case n >= 2:
						f, h = vnniRows2, 2
					}
					ar := &a[r0*groupK]
					if ncol == panelCols || (ncol == panelCols/2 && h == 8) {
						f(ar, bp, kg, init, &g.c[g.at(i+r0, col)], g.ldc)
					} else {
						f(ar, bp, kg, init, &tile[0], panelCols)
						for r := 0; r < h; r++ {
							copy(g.c[g.at(i+r0+r, col):][:ncol], tile[r*panelCols:])
						}
					}
					r0 += h
				}
			}
		}
	}
}

// blockAVX2 is block on the AVX2 kernels. Pairs of rows run per 8-column
// slice of a panel (6, 4 or 2 rows at a time); a micro-panel's odd last row
// runs across the whole panel, so batch-1 products stream B contiguously.
func (g *gemmCall) blockAVX2(i0, i1, p0, p1 int) {
	kg := g.b.kg
	sc := avx2Scratches.Get().(*avx2Scratch)
	defer avx2Scratches.Put(sc)
	size := packRows(i1-i0, avx2MR) * kg * groupK
	sc.ap = slices.Grow(sc.ap[:0], size)[:size]
	ap, tile := sc.ap, &sc.tile
	for ib := i0; ib < i1; ib += mcPanels * avx2MR {
		ie := min(i1, ib+mcPanels*avx2MR)
		g.packAVX2(ap, &sc.rows, ib, ie)
		for q := p0; q < p1; q++ {
			panel := g.b.panel(q)
			// The micro-panel of A (≤ 12 KB at K = 1024) stays in L1 across
			// the four 8-column slices, which share B's cache lines in pairs.
			for i := ib; i < ie; i += avx2MR {
				a := ap[(i-ib)*kg*groupK:]
				rows := min(avx2MR, ie-i) &^ 1
				for s := 0; s < panelCols/avx2NR && rows > 0; s++ {
					col := q*panelCols + s*avx2NR
					if col >= g.b.n {
						break
					}
					ncol := min(avx2NR, g.b.n-col)
					bp := &panel[s*avx2NR*groupK]
					init := &g.init[col]
					for r0 := 0; r0 < rows; {
						f, h := avx2Rows2, 2
						switch n := rows - r0; {
						case n >= 6:
							f, h = avx2Rows6, 6
						case n >= 4:
							f, h = avx2Rows4, 4
						}
						ar := &a[r0*groupK]
						if ncol == avx2NR {
							f(ar, bp, kg, init, &g.c[g.at(i+r0, col)], g.ldc)
						} else {
							f(ar, bp, kg, init, &tile[0], avx2NR)
							for r := 0; r < h; r++ {
								copy(g.c[g.at(i+r0+r, col):][:ncol], tile[r*avx2NR:])
							}
						}
						r0 += h
					}
				}
			}
			col := q * panelCols
			ncol := min(panelCols, g.b.n-col)
			for i := ib; i < ie; i += avx2MR {
				rows := min(avx2MR, ie-i)
				if rows%2 == 0 {
					continue
				}
				ar := &ap[(i-ib)*kg*groupK+(rows-1)*groupK]
				r := i + rows - 1
				if ncol == panelCols {
					avx2Row1x32(ar, &panel[0], kg, &g.init[col], &g.c[g.at(r, col)])
				} else {
					avx2Row1x32(ar, &panel[0], kg, &g.init[col], &tile[0])
					copy(g.c[g.at(r, col):][:ncol], tile[:])
				}
			}
		}
	}
}

// blockGo is block in portable Go: for each row and panel it accumulates
// the 32 columns of the panel over k.
func (g *gemmCall) blockGo(i0, i1, p0, p1 int) {
	k := g.b.k
	var buf []uint8
	if g.windowed() {
		buf = make([]uint8, k)
	}
	for i := i0; i < i1; i++ {
		var arow []uint8
		if g.windowed() {
			g.gatherRows(buf, i, i+1)
			arow = buf
		} else {
			arow = g.a[i*g.lda : i*g.lda+k]
		}
		for q := p0; q < p1; q++ {
			panel := g.b.panel(q)
			col := q * panelCols
			var acc [panelCols]int32
			copy(acc[:], g.init[col:])
			for kk, av := range arow {
				x := int32(av)
				grp := panel[(kk/groupK)*groupBytes+kk%groupK:]
				for j := range acc {
					acc[j] += x * int32(grp[j*groupK])
				}
			}
			copy(g.c[g.at(i, col):][:min(panelCols, g.b.n-col)], acc[:])
		}
	}
}

// packRows returns how many rows (whole micro-panels of mr) the A buffer
// of a worker with the given row count needs: at most mcPanels panels.
func packRows(rows, mr int) int {
	return min(mcPanels, (rows+mr-1)/mr) * mr
}

// packAU8 packs rows [i0, i1) of A (k columns, row stride lda) into dst as
// VNNI micro-panels of vnniMR rows: micro-panel u holds, for each group g of
// kg, its rows' 4 bytes of that group,
//
//	dst[u·kg·32 + g·32 + r·4 + t] = A[i0 + u·8 + r][4g+t],
//
// zero beyond row i1 and column k. Full micro-panels go through the
// assembly transpose (packAU8x8) where usePackAsm.
func packAU8(dst []uint8, a []uint8, lda, i0, i1, k, kg int) {
	for u := 0; i0+u*vnniMR < i1; u++ {
		mp := dst[u*kg*vnniMR*groupK : (u+1)*kg*vnniMR*groupK]
		if i := i0 + u*vnniMR; usePackAsm && i+vnniMR <= i1 && k > 0 {
			_ = a[(i+vnniMR-1)*lda+k-1]
			packAU8x8(&mp[0], &a[i*lda], lda, k/(8*groupK), k%(8*groupK))
			continue
		}
		packAU8Rows(mp, a, lda, i0+u*vnniMR, i1, k, kg)
	}
}

// packAU8Rows packs the micro-panel whose first row is i0 into mp, as
// packAU8 does, in Go: rows at and past i1 are zero.
func packAU8Rows(mp []uint8, a []uint8, lda, i0, i1, k, kg int) {
	for r := 0; r < vnniMR; r++ {
		i := i0 + r
		if i >= i1 {
			for g := 0; g < kg; g++ {
				clear(mp[g*vnniMR*groupK+r*groupK:][:groupK])
			}
			continue
		}
		row := a[i*lda : i*lda+k]
		g := 0
		for ; (g+1)*groupK <= k; g++ {
			// One 4-byte load and store per group.
			binary.LittleEndian.PutUint32(mp[g*vnniMR*groupK+r*groupK:], binary.LittleEndian.Uint32(row[g*groupK:]))
		}
		if g < kg {
			tail := mp[g*vnniMR*groupK+r*groupK:][:groupK]
			clear(tail)
			copy(tail, row[g*groupK:])
		}
	}
}

// packAI16 packs rows [i0, i1) of A into dst as AVX2 micro-panels of avx2MR
// rows widened to int16, in packAU8's order with 6 rows per group:
//
//	dst[u·kg·24 + g·24 + r·4 + t] = A[i0 + u·6 + r][4g+t],
//
// zero beyond row i1 and column k. It is the reference of packI16, which
// blockAVX2 calls.
func packAI16(dst []int16, a []uint8, lda, i0, i1, k, kg int) {
	const stride = avx2MR * groupK
	for u := 0; i0+u*avx2MR < i1; u++ {
		mp := dst[u*kg*stride : (u+1)*kg*stride]
		for r := 0; r < avx2MR; r++ {
			i := i0 + u*avx2MR + r
			if i >= i1 {
				for g := 0; g < kg; g++ {
					clear(mp[g*stride+r*groupK:][:groupK])
				}
				continue
			}
			row := a[i*lda : i*lda+k]
			// One 4-byte load, widened in a register, and one 8-byte store
			// per group (amd64 only, so little-endian). The bounds of the
			// last full group are checked once, before the loop.
			full := k / groupK
			if full > 0 {
				_ = row[full*groupK-1]
				_ = mp[(full-1)*stride+r*groupK+groupK-1]
				src := unsafe.Pointer(unsafe.SliceData(row))
				d := unsafe.Pointer(&mp[r*groupK])
				for g := 0; g < full; g++ {
					*(*uint64)(unsafe.Add(d, 2*g*stride)) = widen4(*(*uint32)(unsafe.Add(src, g*groupK)))
				}
			}
			if full < kg {
				var x uint32
				for t, v := range row[full*groupK:] {
					x |= uint32(v) << (8 * t)
				}
				*(*uint64)(unsafe.Pointer(&mp[full*stride+r*groupK : full*stride+r*groupK+groupK][0])) = widen4(x)
			}
		}
	}
}

// widen4 zero-extends the four bytes of x to the four 16-bit lanes of a
// uint64, byte t to lane t.
func widen4(x uint32) uint64 {
	v := uint64(x)
	v = (v | v<<16) & 0x0000ffff0000ffff
	return (v | v<<8) & 0x00ff00ff00ff00ff
}

// windowsVNNI is blockVNNI for rows [i0, i1) (whole micro-panels) of a
// windowed A with segments of whole groups: the window kernels read each
// micro-panel's rows in place, so A is never packed, and store a partial
// panel's columns under a mask. Blocks of mcPanels micro-panels sweep the
// B panels, as blockVNNI's packed blocks do.
func (g *gemmCall) windowsVNNI(i0, i1, p0, p1 int) {
	w := g.win
	sg, nseg := w.seg/groupK, len(w.segs)
	a := unsafe.SliceData(g.a)
	for ib := i0; ib < i1; ib += mcPanels * vnniMR {
		ie := min(i1, ib+mcPanels*vnniMR)
		for q := p0; q < p1; q++ {
			bp := unsafe.SliceData(g.b.panel(q))
			col := q * panelCols
			ncol := min(panelCols, g.b.n-col)
			f := vnniWin8
			if ncol <= panelCols/2 {
				f = vnniWin8x16 // a narrow layer: half the work
			}
			init, mask := &g.init[col], 1<<ncol-1
			for i := ib; i < ie; i += vnniMR {
				f(a, &w.rows[i], &w.segs[0], nseg, sg, bp, init, &g.c[g.at(i, col)], g.ldc, mask)
			}
		}
	}
}
