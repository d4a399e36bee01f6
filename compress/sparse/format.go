package sparse

import (
	"errors"
	"fmt"
	"slices"
)

// Elem is a value type the formats hold: float32 weights, or int8 quantized
// weights.
type Elem interface{ ~float32 | ~int8 }

// CSR is a sparse matrix of shape [Rows, Cols] in compressed sparse row form:
// the nonzeros of row i are Val[RowPtr[i]:RowPtr[i+1]] at columns
// ColIdx[RowPtr[i]:RowPtr[i+1]], strictly increasing. len(RowPtr) = Rows+1,
// RowPtr[0] = 0, RowPtr is non-decreasing and RowPtr[Rows] = len(Val) =
// len(ColIdx). Explicit zeros are allowed.
//
// A CSR is built only by FromDenseCSR or NewCSR, which check it, and its
// structure cannot change afterwards, so the kernels (assembly included)
// can trust its indices.
type CSR[T Elem] struct {
	rows, cols int
	rowPtr     []int32
	colIdx     []int32
	val        []T
}

// BSR is a sparse matrix of shape [Rows, Cols] stored as R×C dense blocks
// (block sparse row). Block row i (rows i·R … i·R+R−1) holds the blocks
// RowPtr[i]:RowPtr[i+1], whose block columns ColIdx[…] are strictly
// increasing; block b's values are Val[b·R·C:(b+1)·R·C], row-major. There
// are ⌈Rows/R⌉ block rows and ⌈Cols/C⌉ block columns; entries of edge blocks
// that fall outside the matrix must be zero.
// Like CSR, a BSR is built only by checking constructors.
type BSR[T Elem] struct {
	rows, cols int
	r, c       int
	rowPtr     []int32
	colIdx     []int32
	val        []T
}

// NM24 is a 2:4 semi-structured sparse matrix of shape [Rows, Cols]: each row
// is cut into G = ⌈Cols/4⌉ groups of four consecutive columns, each holding
// at most two nonzeros. Group g of row i keeps two slots:
// Val[(i·G+g)·2+s] at column 4g + (Idx[i·G+g] >> (2s) & 3), s ∈ {0, 1}, with
// the slot-0 position strictly below the slot-1 position and the high nibble
// of Idx zero. A slot whose column is ≥ Cols (last group) must hold 0. This
// is the layout of sparse tensor cores: half the values plus a 4-bit index
// per pair.
// Like CSR, an NM24 is built only by checking constructors.
type NM24[T Elem] struct {
	rows, cols int
	val        []T
	idx        []uint8
}

// Groups returns G = ⌈Cols/4⌉, the 4-column groups per row.
func (a *NM24[T]) Groups() int { return (a.cols + 3) / 4 }

// Rows returns the number of rows.
func (a *CSR[T]) Rows() int { return a.rows }

// Cols returns the number of columns.
func (a *CSR[T]) Cols() int { return a.cols }

// RowPtr returns a copy of the row pointers (Rows()+1 entries).
func (a *CSR[T]) RowPtr() []int32 { return slices.Clone(a.rowPtr) }

// ColIdx returns a copy of the column indices (one per stored entry).
func (a *CSR[T]) ColIdx() []int32 { return slices.Clone(a.colIdx) }

// Val returns the stored values, shared with a: changing a value (not the
// structure) is allowed.
func (a *CSR[T]) Val() []T { return a.val }

// Rows returns the number of rows.
func (a *BSR[T]) Rows() int { return a.rows }

// Cols returns the number of columns.
func (a *BSR[T]) Cols() int { return a.cols }

// Block returns the block shape R×C.
func (a *BSR[T]) Block() (r, c int) { return a.r, a.c }

// RowPtr returns a copy of the block-row pointers (⌈Rows/R⌉+1 entries).
func (a *BSR[T]) RowPtr() []int32 { return slices.Clone(a.rowPtr) }

// ColIdx returns a copy of the block-column indices (one per block).
func (a *BSR[T]) ColIdx() []int32 { return slices.Clone(a.colIdx) }

// Val returns the block values (R·C per block, row-major), shared with a.
func (a *BSR[T]) Val() []T { return a.val }

// Rows returns the number of rows.
func (a *NM24[T]) Rows() int { return a.rows }

// Cols returns the number of columns.
func (a *NM24[T]) Cols() int { return a.cols }

// Val returns the two slot values per group, shared with a.
func (a *NM24[T]) Val() []T { return a.val }

// Idx returns a copy of the index bytes, one per group.
func (a *NM24[T]) Idx() []uint8 { return slices.Clone(a.idx) }

// NNZ returns the number of stored entries (explicit zeros included).
func (a *CSR[T]) NNZ() int { return len(a.val) }

// NNZ returns the number of stored entries, R·C per block.
func (a *BSR[T]) NNZ() int { return len(a.val) }

// maxDim bounds Rows and Cols so that indices fit int32 and products fit int.
const maxDim = 1 << 30

func checkDims(rows, cols int) error {
	if rows < 0 || cols < 0 || rows > maxDim || cols > maxDim {
		return fmt.Errorf("shape [%d, %d] out of range [0, 2^30]", rows, cols)
	}
	return nil
}

func checkDense[T Elem](what string, dense []T, rows, cols, ld int) error {
	if err := checkDims(rows, cols); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if ld < max(1, cols) {
		return fmt.Errorf("%s: ld %d < %d columns", what, ld, cols)
	}
	if rows > 0 && cols > 0 && len(dense) < (rows-1)*ld+cols {
		return fmt.Errorf("%s: %d values, need %d for [%d, %d] with stride %d", what, len(dense), (rows-1)*ld+cols, rows, cols, ld)
	}
	return nil
}

// FromDenseCSR encodes the nonzeros of the row-major matrix dense [rows,
// cols] (row stride ld) as CSR.
func FromDenseCSR[T Elem](dense []T, rows, cols, ld int) (*CSR[T], error) {
	if err := checkDense("FromDenseCSR", dense, rows, cols, ld); err != nil {
		return nil, err
	}
	a := &CSR[T]{rows: rows, cols: cols, rowPtr: make([]int32, rows+1)}
	for i := range rows {
		if cols == 0 {
			continue
		}
		for j, v := range dense[i*ld : i*ld+cols] {
			if v != 0 {
				a.colIdx = append(a.colIdx, int32(j))
				a.val = append(a.val, v)
			}
		}
		a.rowPtr[i+1] = int32(len(a.val))
	}
	return a, nil
}

// NewCSR checks raw CSR arrays (for example read from a model file) and
// returns the matrix that holds them (sharing the slices). It rejects a
// wrong RowPtr length, a RowPtr that does not start at 0, decreases or does
// not end at len(Val), len(ColIdx) ≠ len(Val), column indices out of
// [0, cols) and columns not strictly increasing within a row.
func NewCSR[T Elem](rows, cols int, rowPtr, colIdx []int32, val []T) (*CSR[T], error) {
	if err := checkDims(rows, cols); err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	rowPtr, colIdx = slices.Clone(rowPtr), slices.Clone(colIdx)
	if len(rowPtr) != rows+1 {
		return nil, fmt.Errorf("csr: row pointers: %d entries, want rows+1 = %d", len(rowPtr), rows+1)
	}
	if len(colIdx) != len(val) {
		return nil, fmt.Errorf("csr: %d column indices for %d values", len(colIdx), len(val))
	}
	if err := checkPtrIdx("csr", rowPtr, colIdx, len(val), cols); err != nil {
		return nil, err
	}
	return &CSR[T]{rows: rows, cols: cols, rowPtr: rowPtr, colIdx: colIdx, val: val}, nil
}

// checkPtrIdx validates row pointers over n entries and the strictly
// increasing indices in [0, limit) of each row.
func checkPtrIdx(what string, rowPtr, colIdx []int32, n, limit int) error {
	if rowPtr[0] != 0 {
		return fmt.Errorf("%s: row pointer[0] = %d, want 0", what, rowPtr[0])
	}
	for i := 1; i < len(rowPtr); i++ {
		if rowPtr[i] < rowPtr[i-1] {
			return fmt.Errorf("%s: row pointer[%d] = %d < row pointer[%d] = %d", what, i, rowPtr[i], i-1, rowPtr[i-1])
		}
	}
	if last := int(rowPtr[len(rowPtr)-1]); last != n {
		return fmt.Errorf("%s: last row pointer %d, want %d (number of entries)", what, last, n)
	}
	for i := 0; i+1 < len(rowPtr); i++ {
		prev := int32(-1)
		for p := rowPtr[i]; p < rowPtr[i+1]; p++ {
			c := colIdx[p]
			if c < 0 || int(c) >= limit {
				return fmt.Errorf("%s: row %d entry %d: column index %d out of range [0, %d)", what, i, p, c, limit)
			}
			if c <= prev {
				return fmt.Errorf("%s: row %d entry %d: column index %d not above previous %d", what, i, p, c, prev)
			}
			prev = c
		}
	}
	return nil
}

// ToDense decodes a into a new row-major [Rows, Cols] matrix.
func (a *CSR[T]) ToDense() []T {
	d := make([]T, a.rows*a.cols)
	for i := range a.rows {
		for p := a.rowPtr[i]; p < a.rowPtr[i+1]; p++ {
			d[i*a.cols+int(a.colIdx[p])] = a.val[p]
		}
	}
	return d
}

// FromDenseBSR encodes dense [rows, cols] (row stride ld) as BSR with r×c
// blocks, keeping every block that holds a nonzero.
func FromDenseBSR[T Elem](dense []T, rows, cols, ld, r, c int) (*BSR[T], error) {
	if err := checkDense("FromDenseBSR", dense, rows, cols, ld); err != nil {
		return nil, err
	}
	if r < 1 || c < 1 || r > 64 || c > 64 {
		return nil, fmt.Errorf("FromDenseBSR: block %d×%d, want sides in [1, 64]", r, c)
	}
	br, bc := (rows+r-1)/r, (cols+c-1)/c
	a := &BSR[T]{rows: rows, cols: cols, r: r, c: c, rowPtr: make([]int32, br+1)}
	blk := make([]T, r*c)
	for bi := range br {
		for bj := range bc {
			clear(blk)
			nz := false
			for ii := 0; ii < r && bi*r+ii < rows; ii++ {
				for jj := 0; jj < c && bj*c+jj < cols; jj++ {
					v := dense[(bi*r+ii)*ld+bj*c+jj]
					blk[ii*c+jj] = v
					nz = nz || v != 0
				}
			}
			if nz {
				a.colIdx = append(a.colIdx, int32(bj))
				a.val = append(a.val, blk...)
			}
		}
		a.rowPtr[bi+1] = int32(len(a.colIdx))
	}
	return a, nil
}

// NewBSR checks raw BSR arrays and returns the matrix holding them (copying
// the index arrays, sharing the values): block sides in [1, 64], ⌈rows/r⌉+1 row pointers that start at
// 0, never decrease and end at the block count, len(Val) = blocks·r·c,
// block columns in range and strictly increasing per block row, and zeros in
// the parts of edge blocks outside the matrix.
func NewBSR[T Elem](rows, cols, r, c int, rowPtr, colIdx []int32, val []T) (*BSR[T], error) {
	if err := checkDims(rows, cols); err != nil {
		return nil, fmt.Errorf("bsr: %w", err)
	}
	if r < 1 || c < 1 || r > 64 || c > 64 {
		return nil, fmt.Errorf("bsr: block %d×%d, want sides in [1, 64]", r, c)
	}
	rowPtr, colIdx = slices.Clone(rowPtr), slices.Clone(colIdx)
	br, bc := (rows+r-1)/r, (cols+c-1)/c
	if len(rowPtr) != br+1 {
		return nil, fmt.Errorf("bsr: row pointers: %d entries, want block rows+1 = %d", len(rowPtr), br+1)
	}
	if len(val) != len(colIdx)*r*c {
		return nil, fmt.Errorf("bsr: %d values for %d blocks of %d×%d", len(val), len(colIdx), r, c)
	}
	if err := checkPtrIdx("bsr", rowPtr, colIdx, len(colIdx), bc); err != nil {
		return nil, err
	}
	a := &BSR[T]{rows: rows, cols: cols, r: r, c: c, rowPtr: rowPtr, colIdx: colIdx, val: val}
	if rows%r != 0 || cols%c != 0 {
		for bi := range br {
			for p := rowPtr[bi]; p < rowPtr[bi+1]; p++ {
				blk := val[int(p)*r*c : int(p+1)*r*c]
				for ii := range r {
					for jj := range c {
						if (bi*r+ii >= rows || int(colIdx[p])*c+jj >= cols) && blk[ii*c+jj] != 0 {
							return nil, fmt.Errorf("bsr: block %d (block row %d, column %d): nonzero at (%d, %d) outside the %d×%d matrix", p, bi, colIdx[p], ii, jj, rows, cols)
						}
					}
				}
			}
		}
	}
	return a, nil
}

// ToDense decodes a into a new row-major [Rows, Cols] matrix.
func (a *BSR[T]) ToDense() []T {
	d := make([]T, a.rows*a.cols)
	r, c := a.r, a.c
	for bi := 0; bi+1 < len(a.rowPtr); bi++ {
		for p := a.rowPtr[bi]; p < a.rowPtr[bi+1]; p++ {
			blk := a.val[int(p)*r*c:]
			for ii := 0; ii < r && bi*r+ii < a.rows; ii++ {
				for jj := 0; jj < c && int(a.colIdx[p])*c+jj < a.cols; jj++ {
					d[(bi*r+ii)*a.cols+int(a.colIdx[p])*c+jj] = blk[ii*c+jj]
				}
			}
		}
	}
	return d
}

// ErrNot24 reports a dense matrix with more than two nonzeros in some group
// of four columns.
var ErrNot24 = errors.New("not 2:4 sparse")

// FromDenseNM24 packs dense [rows, cols] (row stride ld), which must have at
// most two nonzeros in every group of four consecutive columns of a row
// (see prune's N:M masks), into the 2:4 format. Otherwise it returns an error
// wrapping ErrNot24 that names the row and group.
func FromDenseNM24[T Elem](dense []T, rows, cols, ld int) (*NM24[T], error) {
	if err := checkDense("FromDenseNM24", dense, rows, cols, ld); err != nil {
		return nil, err
	}
	g := (cols + 3) / 4
	a := &NM24[T]{rows: rows, cols: cols, val: make([]T, rows*g*2), idx: make([]uint8, rows*g)}
	for i := range rows {
		for q := range g {
			var pos [2]int
			n := 0
			for t := 0; t < 4 && 4*q+t < cols; t++ {
				if dense[i*ld+4*q+t] != 0 {
					if n == 2 {
						return nil, fmt.Errorf("FromDenseNM24: row %d group %d: %w", i, q, ErrNot24)
					}
					pos[n] = t
					n++
				}
			}
			// Pad to two distinct positions; padded slots hold zero.
			switch n {
			case 0:
				pos = [2]int{0, 1}
			case 1:
				if pos[0] == 3 {
					pos = [2]int{2, 3}
				} else {
					pos[1] = pos[0] + 1
				}
			}
			k := i*g + q
			a.idx[k] = uint8(pos[0] | pos[1]<<2)
			for s := range 2 {
				if c := 4*q + pos[s]; c < cols {
					a.val[2*k+s] = dense[i*ld+c]
				}
			}
		}
	}
	return a, nil
}

// NewNM24 checks raw 2:4 arrays and returns the matrix holding them (copying
// the index bytes, sharing the values):
// len(Idx) = rows·G, len(Val) = 2·rows·G, each index byte with a zero high
// nibble and slot 0 strictly before slot 1, and zero values in slots past
// the last column.
func NewNM24[T Elem](rows, cols int, val []T, idx []uint8) (*NM24[T], error) {
	if err := checkDims(rows, cols); err != nil {
		return nil, fmt.Errorf("2:4: %w", err)
	}
	idx = slices.Clone(idx)
	g := (cols + 3) / 4
	if len(idx) != rows*g {
		return nil, fmt.Errorf("2:4: %d index bytes, want rows·groups = %d", len(idx), rows*g)
	}
	if len(val) != 2*rows*g {
		return nil, fmt.Errorf("2:4: %d values, want 2·rows·groups = %d", len(val), 2*rows*g)
	}
	for k, b := range idx {
		i0, i1 := int(b&3), int(b>>2&3)
		if b>>4 != 0 || i0 >= i1 {
			return nil, fmt.Errorf("2:4: row %d group %d: index byte %#02x, want positions p0 < p1 < 4 in the low nibble", k/max(g, 1), k%max(g, 1), b)
		}
		q := k % g
		for s, t := range [2]int{i0, i1} {
			if 4*q+t >= cols && val[2*k+s] != 0 {
				return nil, fmt.Errorf("2:4: row %d group %d slot %d: nonzero at column %d ≥ %d", k/g, q, s, 4*q+t, cols)
			}
		}
	}
	return &NM24[T]{rows: rows, cols: cols, val: val, idx: idx}, nil
}

// ToDense decodes a into a new row-major [Rows, Cols] matrix.
func (a *NM24[T]) ToDense() []T {
	d := make([]T, a.rows*a.cols)
	g := a.Groups()
	for i := range a.rows {
		for q := range g {
			k := i*g + q
			b := a.idx[k]
			for s := range 2 {
				if c := 4*q + int(b>>(2*s)&3); c < a.cols {
					d[i*a.cols+c] = a.val[2*k+s]
				}
			}
		}
	}
	return d
}
