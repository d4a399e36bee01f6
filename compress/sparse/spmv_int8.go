package sparse

import "fmt"

// Implementations of the int8 matrix–vector product, as SpMVInt8Impl
// returns them.
const (
	SpMVImplAVX512 = "avx512vbmi" // VPERMI2B look-ups and VPDPBUSD (AVX-512 BW, VBMI, VNNI)
	SpMVImplAVX2   = "avx2"       // VPSHUFB look-ups and VPMADDWD
	SpMVImplGo     = "go"         // the CSR dot-product loop
)

// spmvImpl is the implementation NewSlicedInt8 lays matrices out for,
// decided at init (kernels.go); never written afterwards.
var spmvImpl = SpMVImplGo

// SpMVInt8Impl returns the implementation of SpMVInt8 in this process:
// SpMVImplAVX512, SpMVImplAVX2 or SpMVImplGo (see ImplReason for why
// assembly is off).
func SpMVInt8Impl() string { return spmvImpl }

// SlicedInt8 is an int8 sparse matrix A [Rows, Cols] laid out for the
// vectorised matrix–vector product y = A·(x − zero) of SpMVInt8 (batch 1,
// uint8 activations).
//
// A scalar CSR dot product spends a load and an index per nonzero and loses
// to a dense VPDPBUSD GEMV below ~98% sparsity. The SIMD kernels instead
// hold a few columns of x in registers and look the activations up with a
// byte permute, so the matrix supplies byte indices, not addresses. The
// rows are cut into groups of G = 16 (one int32 lane per row) and each
// group's entries are dealt into steps: a step holds one-byte indices into
// S columns of x and as many weights, zero where a slot is padding.
//
//   - AVX-512 (S = 128): the columns are cut into slices of 128; for each
//     slice and group (slices outer) the entries of the group's rows that
//     fall in the slice fill steps of four per row, as many as the fullest
//     row needs. VPERMI2B looks the 64 indices of a step up in the slice's
//     128 bytes of x (two ZMM registers) and VPDPBUSD multiplies the four
//     u8 activations of each lane with the row's four s8 weights and adds
//     them to the row's int32 — one permute and one dot product per 64
//     slots, with no gather;
//   - AVX2 (S = 32): each step of a group has its own window of 32
//     columns, from the group's first entry not yet dealt (at most Cols −
//     32, so that the window lies in x), and takes up to two entries of each
//     row from it; a group has an even number of steps (the kernel takes
//     two at a time). Two VPSHUFB look the 32 indices up in the window's
//     16-byte halves, each broadcast to both 128-bit lanes; the bytes are
//     widened to int16 and VPMADDWD multiplies them with the sign-extended
//     weights (u8·s8 pairs could saturate VPMADDUBSW), adding each row's
//     two products to its int32. Windows that follow the entries pad less
//     than fixed slices: 1.5 slots per nonzero on a random 300×784 matrix
//     at 90% sparsity, against 2.9 with the 16-column slices of four
//     entries per row and 8-row groups this layout replaced.
//
// Both are exact: the kernels add Σ w·x in int32 and start each row at
// −zero·Σ_k A[i][k], which equals Σ w·(x − zero) modulo 2³² like the
// reference. Elsewhere (SpMVImplGo) the CSR dot-product loop runs.
type SlicedInt8 struct {
	csr    *CSR[int8]
	impl   string
	g, s   int     // rows per group, columns per slice (AVX-512) or window (AVX2)
	groups int     // ⌈Rows/G⌉
	slices int     // AVX-512: ⌈Cols/S⌉
	steps  []int32 // steps of each (slice, group), slice-major (AVX-512), or of each group (AVX2)
	off    []int32 // AVX2: the first column of each step's window
	idx    []uint8 // 4·G (AVX-512) or 2·G (AVX2) byte indices per step, in step order
	val    []int8  // as many weights, in the widening's order on AVX2
	rowSum []int32 // Σ_k A[i][k] per row, zero-padded to whole groups
}

// NewSlicedInt8 lays a out for the SpMVInt8 implementation of this process
// (SpMVInt8Impl). a is shared, not copied.
func NewSlicedInt8(a *CSR[int8]) *SlicedInt8 { return newSlicedInt8(a, spmvImpl) }

// newSlicedInt8 lays a out for the named implementation.
func newSlicedInt8(a *CSR[int8], impl string) *SlicedInt8 {
	m := &SlicedInt8{csr: a, impl: impl}
	switch impl {
	case SpMVImplAVX512:
		m.g, m.s = 16, 128
	case SpMVImplAVX2:
		m.g, m.s = 16, 32
	default:
		m.impl = SpMVImplGo
		return m
	}
	m.groups = (a.rows + m.g - 1) / m.g
	m.rowSum = make([]int32, m.groups*m.g)
	for i := range a.rows {
		for _, v := range a.val[a.rowPtr[i]:a.rowPtr[i+1]] {
			m.rowSum[i] += int32(v)
		}
	}
	if impl == SpMVImplAVX512 {
		m.sliced()
	} else {
		m.windows()
	}
	return m
}

// sliced builds the AVX-512 layout: slices of S columns, slice-major.
func (m *SlicedInt8) sliced() {
	a := m.csr
	m.slices = (a.cols + m.s - 1) / m.s
	m.steps = make([]int32, m.slices*m.groups)
	pos := make([]int32, a.rows) // each row's first entry not yet dealt
	copy(pos, a.rowPtr)
	cnt := make([]int, m.g)
	lanes := 4 * m.g
	for sl := range m.slices {
		hi := int32((sl + 1) * m.s)
		for gr := range m.groups {
			most := 0
			for r := range m.g {
				cnt[r] = 0
				if i := gr*m.g + r; i < a.rows {
					for p := pos[i]; p < a.rowPtr[i+1] && a.colIdx[p] < hi; p++ {
						cnt[r]++
					}
					most = max(most, cnt[r])
				}
			}
			n := (most + 3) / 4
			m.steps[sl*m.groups+gr] = int32(n)
			base := len(m.idx)
			m.idx = append(m.idx, make([]uint8, n*lanes)...)
			m.val = append(m.val, make([]int8, n*lanes)...)
			for r := range m.g {
				i := gr*m.g + r
				for e := range cnt[r] {
					p := pos[i] + int32(e)
					at := base + e/4*lanes + 4*r + e%4
					m.idx[at] = uint8(int(a.colIdx[p]) - sl*m.s)
					m.val[at] = a.val[p]
				}
				if cnt[r] > 0 {
					pos[i] += int32(cnt[r])
				}
			}
		}
	}
	// One zero step of slack, so that the kernel gets valid pointers even
	// when no row has an entry.
	m.idx = append(m.idx, make([]uint8, lanes)...)
	m.val = append(m.val, make([]int8, lanes)...)
}

// windows builds the AVX2 layout: per group, steps of up to two entries
// per row in a window of S columns from the group's first entry not yet
// dealt. An index i into the window is stored as i + 0x70: bit 7 is then
// set, and VPSHUFB gives 0, exactly when i falls in the window's high
// half, and flipping bit 7 selects that half instead (see the kernel).
func (m *SlicedInt8) windows() {
	a := m.csr
	m.steps = make([]int32, m.groups)
	next := make([]int32, m.g) // each row's first entry not yet dealt
	var wb [32]int8            // a step's weights by byte
	for gr := range m.groups {
		lo, hi := gr*m.g, min((gr+1)*m.g, a.rows)
		copy(next, a.rowPtr[lo:hi])
		for {
			o := int32(a.cols)
			for i := lo; i < hi; i++ {
				if p := next[i-lo]; p < a.rowPtr[i+1] {
					o = min(o, a.colIdx[p])
				}
			}
			if o == int32(a.cols) {
				break
			}
			o = max(0, min(o, int32(a.cols-m.s)))
			end := o + int32(m.s)
			base := len(m.idx)
			m.idx = append(m.idx, make([]uint8, 32)...)
			clear(wb[:])
			for i := lo; i < hi; i++ {
				p := &next[i-lo]
				for b := 0; b < 2 && *p < a.rowPtr[i+1] && a.colIdx[*p] < end; b++ {
					at := avx2Slot(i-lo, b)
					m.idx[base+at] = uint8(a.colIdx[*p]-o) + 0x70
					wb[at] = a.val[*p]
					*p++
				}
			}
			m.off = append(m.off, o)
			m.val = append(m.val, widenOrder(wb[:])...)
			m.steps[gr]++
		}
		if m.steps[gr]%2 == 1 {
			m.zeroStep()
			m.steps[gr]++
		}
	}
	// One zero step of slack, as in sliced.
	m.zeroStep()
}

// zeroStep appends an AVX2 step that adds nothing: window 0, weights 0.
func (m *SlicedInt8) zeroStep() {
	m.off = append(m.off, 0)
	m.idx = append(m.idx, make([]uint8, 32)...)
	m.val = append(m.val, make([]int8, 32)...)
}

// avx2Slot returns the byte of an AVX2 step that holds entry b (< 2) of
// the group's row r (< 16). VPUNPCKLBW widens bytes 0–7 and 16–23 and
// VPUNPCKHBW bytes 8–15 and 24–31, and VPMADDWD adds word pairs, so the
// int32 lanes of the low widening are rows 0–7 (bytes 2r, 2r+1 of the low
// 128 bits for r < 4, of the high ones for 4 ≤ r < 8) and those of the
// high widening rows 8–15 (8 bytes further).
func avx2Slot(r, b int) int {
	q := r % 8
	return q/4*16 + r/8*8 + q%4*2 + b
}

// widenOrder returns the 32 weights of an AVX2 step, given by byte
// position, in the order VPMOVSXBW widens them for VPMADDWD: 16 for the low
// widening of the looked-up bytes (bytes 0–7, 16–23), then 16 for the high
// one (bytes 8–15, 24–31).
func widenOrder(wb []int8) []int8 {
	out := make([]int8, 32)
	for w := range 16 {
		lo, hi := w, 8+w // words 0–7: bytes 0–7 (low) or 8–15 (high)
		if w >= 8 {
			lo, hi = 8+w, 16+w // words 8–15: bytes 16–23 or 24–31
		}
		out[w], out[16+w] = wb[lo], wb[hi]
	}
	return out
}

// Rows returns the number of rows.
func (m *SlicedInt8) Rows() int { return m.csr.rows }

// Cols returns the number of columns.
func (m *SlicedInt8) Cols() int { return m.csr.cols }

// CSR returns the matrix m was laid out from.
func (m *SlicedInt8) CSR() *CSR[int8] { return m.csr }

// Fill returns the stored slots (padding included) over the nonzeros: the
// work the kernels do per useful multiply-add (1 for the Go loop).
func (m *SlicedInt8) Fill() float64 {
	if m.impl == SpMVImplGo || m.csr.NNZ() == 0 {
		return 1
	}
	slack := 4 * m.g // the zero step at the end
	if m.impl == SpMVImplAVX2 {
		slack = 2 * m.g
	}
	return float64(len(m.idx)-slack) / float64(m.csr.NNZ())
}

// SpMVInt8 computes y = A·(x − xZero) exactly in int32 for x of length ≥
// Cols and y of length ≥ Rows, on the calling goroutine, bit for bit equal
// to RefSpMMCSRInt8 with one column. It panics if x or y is too short.
func SpMVInt8(a *SlicedInt8, x []uint8, xZero uint8, y []int32) {
	if len(x) < a.csr.cols || len(y) < a.csr.rows {
		panic(fmt.Sprintf("sparse: SpMVInt8: len(x) = %d, len(y) = %d for a %d×%d matrix", len(x), len(y), a.csr.rows, a.csr.cols))
	}
	spmvInt8(a, x, xZero, y)
}

// SpMVInt8Batch computes y_i = A·(x_i − xZero) for n vectors: x_i =
// x[i·ldx : i·ldx+Cols] and y_i = y[i·ldy : i·ldy+Rows] (so x is the batch
// sample-major [n, Cols] and y [n, Rows], the layout of a fully connected
// layer's activations): SpMVInt8 per vector, except that the assembly
// kernels take four vectors per pass over the matrix. It panics if a
// stride is too small or x or y too short.
func SpMVInt8Batch(a *SlicedInt8, x []uint8, n, ldx int, xZero uint8, y []int32, ldy int) {
	rows, cols := a.csr.rows, a.csr.cols
	if n < 0 || ldx < cols || ldy < rows || (n > 0 && (len(x) < (n-1)*ldx+cols || len(y) < (n-1)*ldy+rows)) {
		panic(fmt.Sprintf("sparse: SpMVInt8Batch: n = %d, len(x) = %d (ldx %d), len(y) = %d (ldy %d) for a %d×%d matrix", n, len(x), ldx, len(y), ldy, rows, cols))
	}
	i := 0
	if a.impl != SpMVImplGo && rows > 0 && cols > 0 {
		for ; i+4 <= n; i += 4 {
			spmv4Int8(a, x[i*ldx:], ldx, xZero, y[i*ldy:], ldy)
		}
	}
	for ; i < n; i++ {
		spmvInt8(a, x[i*ldx:], xZero, y[i*ldy:])
	}
}

// spmv4Int8 is SpMVInt8Batch on four vectors in one pass of an assembly
// kernel, for a matrix with rows and columns.
func spmv4Int8(a *SlicedInt8, x []uint8, ldx int, xZero uint8, y []int32, ldy int) {
	c := a.csr
	var yt [4 * 16]int32
	fullG := c.rows / a.g
	if a.impl == SpMVImplAVX512 {
		var xt [4 * 128]uint8
		fullS := c.cols / a.s
		if fullS < a.slices {
			for v := range 4 {
				copy(xt[v*128:], x[v*ldx+fullS*a.s:v*ldx+c.cols])
			}
		}
		spmvI8VBMI4(&a.steps[0], a.groups, a.slices, &a.idx[0], &a.val[0], &a.rowSum[0], -int(xZero), &x[0], ldx, fullS, &xt[0], &y[0], ldy, fullG, &yt[0])
	} else {
		var xt [4 * 32]uint8
		xp, ld := &x[0], ldx
		if c.cols < a.s {
			for v := range 4 {
				copy(xt[v*32:], x[v*ldx:v*ldx+c.cols])
			}
			xp, ld = &xt[0], 32
		}
		spmvI8AVX2x4(&a.steps[0], a.groups, &a.off[0], &a.idx[0], &a.val[0], &a.rowSum[0], -int(xZero), xp, ld, &y[0], ldy, fullG, &yt[0])
	}
	if fullG < a.groups {
		for v := range 4 {
			copy(y[v*ldy+fullG*a.g:v*ldy+c.rows], yt[v*16:])
		}
	}
}

// spmvInt8 is SpMVInt8 without the checks.
func spmvInt8(a *SlicedInt8, x []uint8, xZero uint8, y []int32) {
	c := a.csr
	switch {
	case c.rows == 0:
		return
	case c.cols == 0:
		clear(y[:c.rows])
		return
	case a.impl == SpMVImplGo:
		spmmCSRInt8RowsGo(c, x, 1, xZero, y, 1, 0, 1, 0, c.rows)
		return
	}
	var yt [16]int32
	fullG := c.rows / a.g
	negZero := -int(xZero)
	if a.impl == SpMVImplAVX512 {
		// The last slice of x and the last group of y, when partial, go
		// through buffers on the stack, so the kernel reads and writes
		// whole slices and groups.
		var xt [128]uint8
		fullS := c.cols / a.s
		if fullS < a.slices {
			copy(xt[:], x[fullS*a.s:c.cols])
		}
		spmvI8VBMI(&a.steps[0], a.groups, a.slices, &a.idx[0], &a.val[0], &a.rowSum[0], negZero, &x[0], fullS, &xt[0], &y[0], fullG, &yt[0])
	} else {
		// Windows lie inside x when it has S columns; a shorter x is
		// copied to a whole window on the stack.
		var xt [32]uint8
		xp := &x[0]
		if c.cols < a.s {
			copy(xt[:], x[:c.cols])
			xp = &xt[0]
		}
		spmvI8AVX2(&a.steps[0], a.groups, &a.off[0], &a.idx[0], &a.val[0], &a.rowSum[0], negZero, xp, &y[0], fullG, &yt[0])
	}
	if fullG < a.groups {
		copy(y[fullG*a.g:c.rows], yt[:])
	}
}
