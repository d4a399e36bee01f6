//go:build !amd64 || purego

package sparse

// cpuAsm is false: this build has no assembly kernels.
const cpuAsm = false

func spmmCSRRows(a *CSR[float32], b []float32, n, ldb int, c []float32, ldc, lo, hi int) {
	spmmCSRRowsGo(a, b, n, ldb, c, ldc, lo, hi)
}

func spmvCSRRows(a *CSR[float32], x, y []float32, lo, hi int) { spmvCSRRowsGo(a, x, y, lo, hi) }

func spmmNM24Rows(a *NM24[float32], b []float32, n, ldb int, c []float32, ldc, lo, hi int) {
	spmmNM24RowsGo(a, b, n, ldb, c, ldc, lo, hi)
}

func spmmBSRRows(a *BSR[float32], b []float32, n, ldb int, c []float32, ldc, lo, hi int) {
	spmmBSRRowsGo(a, b, n, ldb, c, ldc, lo, hi)
}

func spmvBSRRows(a *BSR[float32], x, y []float32, lo, hi int) { spmvBSRRowsGo(a, x, y, lo, hi) }

func spmmNM24Int8Rows(a *NM24[int8], b []uint8, n, ldb int, bZero uint8, c []int32, ldc, lo, hi int) {
	spmmNM24Int8RowsGo(a, b, n, ldb, bZero, c, ldc, lo, hi)
}

func spmmCSRInt8(a *CSR[int8], b []uint8, n, ldb int, bZero uint8, c []int32, ldc int) {
	parallelRows(a.rows, a.NNZ()*n, func(lo, hi int) { spmmCSRInt8RowsGo(a, b, ldb, bZero, c, ldc, 0, n, lo, hi) })
}

func spmmBSRInt8(a *BSR[int8], b []uint8, n, ldb int, bZero uint8, c []int32, ldc int) {
	parallelRows(len(a.rowPtr)-1, a.NNZ()*n, func(lo, hi int) { spmmBSRInt8RowsGo(a, b, ldb, bZero, c, ldc, 0, n, lo, hi) })
}
