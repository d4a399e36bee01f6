package sparse

import (
	"math/rand/v2"
	"testing"
)

// TestRowKernels computes every row range split of odd shapes with the
// …Rows kernels, range by range into one output, and compares with the
// whole-matrix references (tolerance 1e-5·Σ|a||b|).
func TestRowKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, s := range oddShapes {
		m, k, n := s[0], s[1], s[2]
		if m == 0 || k == 0 || n == 0 {
			continue
		}
		ad, a24 := randSparse[float32](r, m, k, 0.2), rand24[float32](r, m, k)
		b := randSparse[float32](r, k, n, 1)
		csr, err := FromDenseCSR(ad, m, k, k)
		if err != nil {
			t.Fatal(err)
		}
		bsr, err := FromDenseBSR(ad, m, k, k, 1, 8)
		if err != nil {
			t.Fatal(err)
		}
		nm, err := FromDenseNM24(a24, m, k, k)
		if err != nil {
			t.Fatal(err)
		}
		for _, cut := range []int{1, 2, 3} {
			bounds := []int{0}
			for q := 1; q <= cut; q++ {
				bounds = append(bounds, m*q/cut)
			}
			want, got := make([]float32, m*n), make([]float32, m*n)
			check := func(name string, a []float32, ref func(c []float32), rows func(c []float32, lo, hi int)) {
				t.Helper()
				ref(want)
				for q := 0; q+1 < len(bounds); q++ {
					rows(got, bounds[q], bounds[q+1])
				}
				f32Close(t, name, got, want, absMul(a, b, m, k, n), 1e-5)
			}
			check("SpMMCSRRows", ad, func(c []float32) { RefSpMMCSR(csr, b, n, n, c, n) },
				func(c []float32, lo, hi int) { SpMMCSRRows(csr, b, n, n, c, n, lo, hi) })
			check("SpMMBSRRows", ad, func(c []float32) { RefSpMMBSR(bsr, b, n, n, c, n) },
				func(c []float32, lo, hi int) { SpMMBSRRows(bsr, b, n, n, c, n, lo, hi) })
			check("SpMMNM24Rows", a24, func(c []float32) { RefSpMMNM24(nm, b, n, n, c, n) },
				func(c []float32, lo, hi int) { SpMMNM24Rows(nm, b, n, n, c, n, lo, hi) })
			x := b[:k] // one column: reuse B's first k values as a vector
			check1 := func(name string, a []float32, ref func(c []float32), rows func(c []float32, lo, hi int)) {
				t.Helper()
				wv, gv := make([]float32, m), make([]float32, m)
				ref(wv)
				for q := 0; q+1 < len(bounds); q++ {
					rows(gv, bounds[q], bounds[q+1])
				}
				f32Close(t, name, gv, wv, absMul(a, x, m, k, 1), 1e-5)
			}
			check1("SpMVCSRRows", ad, func(c []float32) { RefSpMVCSR(csr, x, c) },
				func(c []float32, lo, hi int) { SpMVCSRRows(csr, x, c, lo, hi) })
			check1("SpMVBSRRows", ad, func(c []float32) { RefSpMMBSR(bsr, x, 1, 1, c, 1) },
				func(c []float32, lo, hi int) { SpMVBSRRows(bsr, x, c, lo, hi) })
			check1("SpMMNM24Rows n=1", a24, func(c []float32) { RefSpMMNM24(nm, x, 1, 1, c, 1) },
				func(c []float32, lo, hi int) { SpMMNM24Rows(nm, x, 1, 1, c, 1, lo, hi) })
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("SpMMCSRRows with hi > rows did not panic")
		}
	}()
	a, _ := FromDenseCSR([]float32{1, 0, 0, 1}, 2, 2, 2)
	SpMMCSRRows(a, []float32{1, 1}, 1, 1, make([]float32, 2), 1, 0, 3)
}
