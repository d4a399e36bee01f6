package sparse

import (
	"fmt"
	"slices"
)

// selfTest runs every kernel that has an assembly path once on a small
// fixed problem that reaches the 64- and 8-column strips, the column tail,
// an empty row and a partial 2:4 group, and compares it with the Ref…
// loops. The float32 data are small integers, so every summation order
// gives the same exact result and the comparison is bit for bit. It returns
// the first kernel that disagrees; init then keeps the Go paths, so a bad
// build or an untested CPU degrades to slower exact code instead of wrong
// numbers.
func selfTest() error {
	const rows, cols, n = 6, 18, 75 // cols: 4 full 2:4 groups and a partial one, even for 2-wide BSR blocks
	x := uint32(7)
	next := func() uint32 { x = x*1664525 + 1013904223; return x >> 24 }
	wf := make([]float32, rows*cols)
	wi := make([]int8, rows*cols)
	for i := range rows - 1 { // the last row stays empty
		for q := 0; q < cols; q += 4 {
			for range 2 { // at most two nonzeros per group of four
				j := q + int(next()%4)
				if j < cols {
					wf[i*cols+j] = float32(int(next()%9) - 4)
					wi[i*cols+j] = int8(next())
				}
			}
		}
	}
	bf := make([]float32, cols*n)
	bi := make([]uint8, cols*n)
	for i := range bf {
		bf[i] = float32(int(next()%7) - 3)
		bi[i] = uint8(next())
	}
	const bZero = 131
	fail := func(name string) error { return fmt.Errorf("%s disagrees with its reference", name) }
	f32 := func(name string, got, ref func(c []float32)) error {
		g, w := make([]float32, rows*n), make([]float32, rows*n)
		got(g)
		ref(w)
		if !slices.Equal(g, w) {
			return fail(name)
		}
		return nil
	}
	i32 := func(name string, got, ref func(c []int32)) error {
		g, w := make([]int32, rows*n), make([]int32, rows*n)
		got(g)
		ref(w)
		if !slices.Equal(g, w) {
			return fail(name)
		}
		return nil
	}
	csr, err := FromDenseCSR(wf, rows, cols, cols)
	if err != nil {
		return err
	}
	csr8, err := FromDenseCSR(wi, rows, cols, cols)
	if err != nil {
		return err
	}
	bsr, err := FromDenseBSR(wf, rows, cols, cols, 2, 2)
	if err != nil {
		return err
	}
	bsr8wide, err := FromDenseBSR(wf, rows, 16, cols, 2, 8)
	if err != nil {
		return err
	}
	bsr8, err := FromDenseBSR(wi, rows, cols, cols, 2, 2)
	if err != nil {
		return err
	}
	nm, err := FromDenseNM24(wf, rows, cols, cols)
	if err != nil {
		return err
	}
	nm8, err := FromDenseNM24(wi, rows, cols, cols)
	if err != nil {
		return err
	}
	// x for the SpMVs: the first column of B.
	xv := make([]float32, cols)
	xi := make([]uint8, cols)
	for k := range xv {
		xv[k], xi[k] = bf[k*n], bi[k*n]
	}
	// A larger int8 matrix for SpMVInt8: a whole 16-row group and a partial
	// one, a whole 128-column slice and a partial one (AVX-512), and 32-column
	// windows up to the last column (AVX2); csr8, narrower than a window,
	// takes the AVX2 kernel's copy of x.
	const srows, scols = 21, 150
	ws := make([]int8, srows*scols)
	for i := range ws {
		if next()%5 == 0 {
			ws[i] = int8(next())
		}
	}
	xs := make([]uint8, scols)
	for i := range xs {
		xs[i] = uint8(next())
	}
	sliced, err := FromDenseCSR(ws, srows, scols, scols)
	if err != nil {
		return err
	}
	for _, err := range []error{
		f32("SpMMCSR", func(c []float32) { SpMMCSR(csr, bf, n, n, c, n) }, func(c []float32) { RefSpMMCSR(csr, bf, n, n, c, n) }),
		f32("SpMVCSR", func(c []float32) { SpMVCSR(csr, xv, c) }, func(c []float32) { RefSpMVCSR(csr, xv, c) }),
		f32("SpMMBSR", func(c []float32) { SpMMBSR(bsr, bf, n, n, c, n) }, func(c []float32) { RefSpMMBSR(bsr, bf, n, n, c, n) }),
		f32("SpMVBSR", func(c []float32) { SpMVBSR(bsr8wide, xv, c) }, func(c []float32) { RefSpMMBSR(bsr8wide, xv, 1, 1, c, 1) }),
		f32("SpMMNM24", func(c []float32) { SpMMNM24(nm, bf, n, n, c, n) }, func(c []float32) { RefSpMMNM24(nm, bf, n, n, c, n) }),
		i32("SpMMCSRInt8", func(c []int32) { SpMMCSRInt8(csr8, bi, n, n, bZero, c, n) }, func(c []int32) { RefSpMMCSRInt8(csr8, bi, n, n, bZero, c, n) }),
		i32("SpMMBSRInt8", func(c []int32) { SpMMBSRInt8(bsr8, bi, n, n, bZero, c, n) }, func(c []int32) { RefSpMMBSRInt8(bsr8, bi, n, n, bZero, c, n) }),
		i32("SpMMNM24Int8", func(c []int32) { SpMMNM24Int8(nm8, bi, n, n, bZero, c, n) }, func(c []int32) { RefSpMMNM24Int8(nm8, bi, n, n, bZero, c, n) }),
		i32("SpMVInt8", func(c []int32) { SpMVInt8(NewSlicedInt8(csr8), xi, bZero, c) }, func(c []int32) { RefSpMMCSRInt8(csr8, xi, 1, 1, bZero, c, 1) }),
		i32("SpMVInt8", func(c []int32) { SpMVInt8(NewSlicedInt8(sliced), xs, bZero, c) }, func(c []int32) { RefSpMMCSRInt8(sliced, xs, 1, 1, bZero, c, 1) }),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}
