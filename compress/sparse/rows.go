package sparse

import "fmt"

// The …Rows kernels compute a contiguous range of output rows on the
// calling goroutine, for callers that schedule their own threads (the plans
// of compress/runtime split a layer's output rows across a fixed set of
// workers). Each equals the whole-matrix kernel on those rows, with the same
// tolerance, and panics on the same shape errors or a bad range.

// checkRows panics unless 0 ≤ lo ≤ hi ≤ rows.
func checkRows(name string, lo, hi, rows int) {
	if lo < 0 || hi < lo || hi > rows {
		panic(fmt.Sprintf("sparse: %s: row range [%d, %d) outside [0, %d)", name, lo, hi, rows))
	}
}

// SpMMCSRRows is SpMMCSR for rows [lo, hi) of A and C only, on the calling
// goroutine.
func SpMMCSRRows(a *CSR[float32], b []float32, n, ldb int, c []float32, ldc, lo, hi int) {
	checkMM("SpMMCSRRows", a.rows, a.cols, n, b, ldb, c, ldc)
	checkRows("SpMMCSRRows", lo, hi, a.rows)
	if n > 0 {
		spmmCSRRows(a, b, n, ldb, c, ldc, lo, hi)
	}
}

// SpMVCSRRows is SpMVCSR for rows [lo, hi) of A and y only, on the calling
// goroutine.
func SpMVCSRRows(a *CSR[float32], x, y []float32, lo, hi int) {
	if len(x) < a.cols || len(y) < a.rows {
		panic(fmt.Sprintf("sparse: SpMVCSRRows: len(x) = %d, len(y) = %d for a %d×%d matrix", len(x), len(y), a.rows, a.cols))
	}
	checkRows("SpMVCSRRows", lo, hi, a.rows)
	spmvCSRRows(a, x, y, lo, hi)
}

// SpMMBSRRows is SpMMBSR for block rows [lo, hi) of A (matrix rows
// lo·R … hi·R−1 of C) only, on the calling goroutine.
func SpMMBSRRows(a *BSR[float32], b []float32, n, ldb int, c []float32, ldc, lo, hi int) {
	checkMM("SpMMBSRRows", a.rows, a.cols, n, b, ldb, c, ldc)
	checkRows("SpMMBSRRows", lo, hi, len(a.rowPtr)-1)
	if n > 0 {
		spmmBSRRows(a, b, n, ldb, c, ldc, lo, hi)
	}
}

// SpMVBSRRows is SpMVBSR for block rows [lo, hi) of A only, on the calling
// goroutine.
func SpMVBSRRows(a *BSR[float32], x, y []float32, lo, hi int) {
	if len(x) < a.cols || len(y) < a.rows {
		panic(fmt.Sprintf("sparse: SpMVBSRRows: len(x) = %d, len(y) = %d for a %d×%d matrix", len(x), len(y), a.rows, a.cols))
	}
	checkRows("SpMVBSRRows", lo, hi, len(a.rowPtr)-1)
	spmvBSRRows(a, x, y, lo, hi)
}

// SpMMNM24Rows is SpMMNM24 for rows [lo, hi) of A and C only, on the
// calling goroutine; n = 1 runs the dot-product loop SpMMNM24 uses for one
// column.
func SpMMNM24Rows(a *NM24[float32], b []float32, n, ldb int, c []float32, ldc, lo, hi int) {
	checkMM("SpMMNM24Rows", a.rows, a.cols, n, b, ldb, c, ldc)
	checkRows("SpMMNM24Rows", lo, hi, a.rows)
	switch {
	case n == 1:
		spmvNM24Rows(a, b, ldb, c, ldc, lo, hi)
	case n > 1:
		spmmNM24Rows(a, b, n, ldb, c, ldc, lo, hi)
	}
}
