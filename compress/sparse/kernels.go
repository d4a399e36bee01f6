package sparse

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/compressq/compressq/compress/internal/cpu"
)

// useAsm reports whether the kernels run assembly: the CPU has AVX2 and FMA
// (cpuAsm, from kernels_amd64.go), neither the purego tag nor
// COMPRESSQ_NOASM disabled assembly (compress/internal/cpu) and the kernels
// passed their start-up self-test; implReason says why not. spmvImpl
// (spmv_int8.go) follows it: the AVX-512 SpMV where the CPU has it
// (cpuSpMV512), else AVX2, and Go without assembly. Never written after
// init.
var (
	useAsm     bool
	implReason string
)

func init() {
	switch {
	case cpu.Disabled() != "":
		implReason = cpu.Disabled()
	case !cpuAsm:
		implReason = "the CPU lacks AVX2 or FMA"
	default:
		useAsm = true
		spmvImpl = SpMVImplAVX2
		if cpuSpMV512 {
			spmvImpl = SpMVImplAVX512
		}
		if err := selfTest(); err != nil {
			useAsm = false
			spmvImpl = SpMVImplGo
			implReason = "the assembly kernels failed their start-up self-test: " + err.Error()
		}
	}
}

// Impl returns the implementation the kernels use in this process: "avx2"
// or "go".
func Impl() string {
	if useAsm {
		return "avx2"
	}
	return "go"
}

// ImplReason returns why Impl is "go" (the purego tag, COMPRESSQ_NOASM=1, a
// missing CPU feature or a failed start-up self-test), or "" when it is
// "avx2".
func ImplReason() string { return implReason }

// parallelWork is the multiply-add count below which a kernel stays on the
// calling goroutine.
const parallelWork = 1 << 17

// parallelRows runs fn over [0, rows) split into contiguous ranges across up
// to GOMAXPROCS goroutines when work (multiply-adds) is large enough, and
// waits for them all.
func parallelRows(rows, work int, fn func(lo, hi int)) {
	w := min(runtime.GOMAXPROCS(0), rows)
	if w <= 1 || work < parallelWork {
		fn(0, rows)
		return
	}
	var wg sync.WaitGroup
	for t := range w {
		lo, hi := rows*t/w, rows*(t+1)/w
		wg.Go(func() { fn(lo, hi) })
	}
	wg.Wait()
}

// checkMM panics unless b holds a [k, n] matrix with stride ldb and c an
// [m, n] matrix with stride ldc.
func checkMM[B, C any](name string, m, k, n int, b []B, ldb int, c []C, ldc int) {
	if n < 0 {
		panic(fmt.Sprintf("sparse: %s: n = %d < 0", name, n))
	}
	check := func(what string, rows, ld, have int) {
		if ld < max(1, n) {
			panic(fmt.Sprintf("sparse: %s: ld%s = %d < max(1, n = %d)", name, what, ld, n))
		}
		if rows > 0 && n > 0 && have < (rows-1)*ld+n {
			panic(fmt.Sprintf("sparse: %s: len(%s) = %d < %d for [%d, %d] with stride %d", name, what, have, (rows-1)*ld+n, rows, n, ld))
		}
	}
	check("B", k, ldb, len(b))
	check("C", m, ldc, len(c))
}

// SpMMCSR computes C = A·B, overwriting C: A is a sparse [M, K] matrix, B a
// dense row-major [K, n] matrix with row stride ldb ≥ n and C a dense [M, n]
// matrix with row stride ldc ≥ n. For a fully connected layer, A is the
// weight [out, in] and B the batch feature-major ([in, batch]). Rows of C are
// split across up to GOMAXPROCS goroutines for large products. Results
// match RefSpMMCSR up to float32 rounding of a different summation order
// (tests allow 1e-5 relative to Σ|a||b| per entry). It panics if B or C
// cannot hold their shapes.
func SpMMCSR(a *CSR[float32], b []float32, n, ldb int, c []float32, ldc int) {
	checkMM("SpMMCSR", a.rows, a.cols, n, b, ldb, c, ldc)
	if n == 0 {
		return
	}
	parallelRows(a.rows, a.NNZ()*n, func(lo, hi int) { spmmCSRRows(a, b, n, ldb, c, ldc, lo, hi) })
}

// SpMVCSR computes y = A·x for x of length ≥ Cols and y of length ≥ Rows.
// It panics if x or y is too short.
func SpMVCSR(a *CSR[float32], x, y []float32) {
	if len(x) < a.cols || len(y) < a.rows {
		panic(fmt.Sprintf("sparse: SpMVCSR: len(x) = %d, len(y) = %d for a %d×%d matrix", len(x), len(y), a.rows, a.cols))
	}
	parallelRows(a.rows, a.NNZ(), func(lo, hi int) { spmvCSRRows(a, x, y, lo, hi) })
}

// SpMMCSRInt8 computes C = A·(B − bZero) exactly in int32 for an int8 CSR A
// [M, K], uint8 activations B [K, n] with zero point bZero (row stride ldb)
// and C [M, n] (row stride ldc), overwriting C. Results equal
// RefSpMMCSRInt8 bit for bit. It panics if B or C cannot hold their shapes.
func SpMMCSRInt8(a *CSR[int8], b []uint8, n, ldb int, bZero uint8, c []int32, ldc int) {
	checkMM("SpMMCSRInt8", a.rows, a.cols, n, b, ldb, c, ldc)
	if n == 0 {
		return
	}
	spmmCSRInt8(a, b, n, ldb, bZero, c, ldc)
}

// SpMMBSR computes C = A·B for a BSR A; arguments and tolerance as SpMMCSR.
func SpMMBSR(a *BSR[float32], b []float32, n, ldb int, c []float32, ldc int) {
	checkMM("SpMMBSR", a.rows, a.cols, n, b, ldb, c, ldc)
	if n == 0 {
		return
	}
	br := len(a.rowPtr) - 1
	parallelRows(br, a.NNZ()*n, func(lo, hi int) { spmmBSRRows(a, b, n, ldb, c, ldc, lo, hi) })
}

// SpMVBSR computes y = A·x for a BSR A; arguments as SpMVCSR.
func SpMVBSR(a *BSR[float32], x, y []float32) {
	if len(x) < a.cols || len(y) < a.rows {
		panic(fmt.Sprintf("sparse: SpMVBSR: len(x) = %d, len(y) = %d for a %d×%d matrix", len(x), len(y), a.rows, a.cols))
	}
	br := len(a.rowPtr) - 1
	parallelRows(br, a.NNZ(), func(lo, hi int) { spmvBSRRows(a, x, y, lo, hi) })
}

// SpMMBSRInt8 computes C = A·(B − bZero) for an int8 BSR A; arguments and
// exactness as SpMMCSRInt8.
func SpMMBSRInt8(a *BSR[int8], b []uint8, n, ldb int, bZero uint8, c []int32, ldc int) {
	checkMM("SpMMBSRInt8", a.rows, a.cols, n, b, ldb, c, ldc)
	if n == 0 {
		return
	}
	spmmBSRInt8(a, b, n, ldb, bZero, c, ldc)
}

// SpMMNM24 computes C = A·B for a 2:4 A; arguments and tolerance as
// SpMMCSR.
func SpMMNM24(a *NM24[float32], b []float32, n, ldb int, c []float32, ldc int) {
	checkMM("SpMMNM24", a.rows, a.cols, n, b, ldb, c, ldc)
	if n == 0 {
		return
	}
	if n == 1 {
		parallelRows(a.rows, len(a.val), func(lo, hi int) { spmvNM24Rows(a, b, ldb, c, ldc, lo, hi) })
		return
	}
	parallelRows(a.rows, len(a.val)*n, func(lo, hi int) { spmmNM24Rows(a, b, n, ldb, c, ldc, lo, hi) })
}

// spmvNM24Rows is SpMMNM24 for n = 1: a dot product per row.
func spmvNM24Rows(a *NM24[float32], b []float32, ldb int, c []float32, ldc, lo, hi int) {
	g, full := a.Groups(), a.cols/4
	for i := lo; i < hi; i++ {
		vals, idx := a.val[2*i*g:2*i*g+2*full], a.idx[i*g:i*g+full]
		var s0, s1 float32
		for q, ix := range idx {
			s0 += vals[2*q] * b[(4*q+int(ix&3))*ldb]
			s1 += vals[2*q+1] * b[(4*q+int(ix>>2&3))*ldb]
		}
		if full < g { // the partial last group: slots past Cols hold 0
			k := i*g + full
			for s := range 2 {
				if col := 4*full + int(a.idx[k]>>(2*s)&3); col < a.cols {
					s0 += a.val[2*k+s] * b[col*ldb]
				}
			}
		}
		c[i*ldc] = s0 + s1
	}
}

// SpMMNM24Int8 computes C = A·(B − bZero) for an int8 2:4 A; arguments and
// exactness as SpMMCSRInt8.
func SpMMNM24Int8(a *NM24[int8], b []uint8, n, ldb int, bZero uint8, c []int32, ldc int) {
	checkMM("SpMMNM24Int8", a.rows, a.cols, n, b, ldb, c, ldc)
	if n == 0 {
		return
	}
	parallelRows(a.rows, len(a.val)*n, func(lo, hi int) { spmmNM24Int8Rows(a, b, n, ldb, bZero, c, ldc, lo, hi) })
}

// axpyF32 adds v·x to y (len(x) = len(y)).
func axpyF32(v float32, x, y []float32) {
	x = x[:len(y)]
	for j := range y {
		y[j] += v * x[j]
	}
}

// dotF32 returns Σ a[j]·x[j] (len(a) = len(x)).
func dotF32(a, x []float32) float32 {
	x = x[:len(a)]
	var s float32
	for j := range a {
		s += a[j] * x[j]
	}
	return s
}

// axpyI8 adds v·x to y in int32 (len(x) = len(y)).
func axpyI8(v int32, x []uint8, y []int32) {
	x = x[:len(y)]
	for j := range y {
		y[j] += v * int32(x[j])
	}
}

// subZero subtracts z from every element of y.
func subZero(y []int32, z int32) {
	if z == 0 {
		return
	}
	for j := range y {
		y[j] -= z
	}
}

// spmmCSRRowsGo is the pure-Go row loop of SpMMCSR for rows [lo, hi).
func spmmCSRRowsGo(a *CSR[float32], b []float32, n, ldb int, c []float32, ldc, lo, hi int) {
	for i := lo; i < hi; i++ {
		row := c[i*ldc : i*ldc+n]
		clear(row)
		for p := a.rowPtr[i]; p < a.rowPtr[i+1]; p++ {
			axpyF32(a.val[p], b[int(a.colIdx[p])*ldb:][:n], row)
		}
	}
}

// spmvCSRRowsGo is the pure-Go row loop of SpMVCSR for rows [lo, hi).
func spmvCSRRowsGo(a *CSR[float32], x, y []float32, lo, hi int) {
	for i := lo; i < hi; i++ {
		p0, p1 := a.rowPtr[i], a.rowPtr[i+1]
		cols, vals := a.colIdx[p0:p1], a.val[p0:p1]
		var s0, s1 float32
		k := 0
		for ; k+1 < len(vals); k += 2 {
			s0 += vals[k] * x[cols[k]]
			s1 += vals[k+1] * x[cols[k+1]]
		}
		if k < len(vals) {
			s0 += vals[k] * x[cols[k]]
		}
		y[i] = s0 + s1
	}
}

// spmmCSRInt8RowsGo computes columns [j0, j1) of rows [lo, hi) of
// SpMMCSRInt8 in pure Go.
func spmmCSRInt8RowsGo(a *CSR[int8], b []uint8, ldb int, bZero uint8, c []int32, ldc, j0, j1, lo, hi int) {
	if j1-j0 == 1 { // a dot product per row
		for i := lo; i < hi; i++ {
			p0, p1 := a.rowPtr[i], a.rowPtr[i+1]
			cols, vals := a.colIdx[p0:p1], a.val[p0:p1]
			var s, sum int32
			for t, v := range vals {
				s += int32(v) * int32(b[int(cols[t])*ldb+j0])
				sum += int32(v)
			}
			c[i*ldc+j0] = s - sum*int32(bZero)
		}
		return
	}
	for i := lo; i < hi; i++ {
		row := c[i*ldc+j0 : i*ldc+j1]
		clear(row)
		var sum int32
		for p := a.rowPtr[i]; p < a.rowPtr[i+1]; p++ {
			v := int32(a.val[p])
			sum += v
			axpyI8(v, b[int(a.colIdx[p])*ldb+j0:][:len(row)], row)
		}
		subZero(row, sum*int32(bZero))
	}
}

// spmmBSRInt8RowsGo computes columns [j0, j1) of block rows [lo, hi) of
// SpMMBSRInt8 in pure Go.
func spmmBSRInt8RowsGo(a *BSR[int8], b []uint8, ldb int, bZero uint8, c []int32, ldc, j0, j1, lo, hi int) {
	r, cc := a.r, a.c
	var sums [64]int32
	for bi := lo; bi < hi; bi++ {
		rows := min(r, a.rows-bi*r)
		clear(sums[:r])
		for ii := range rows {
			clear(c[(bi*r+ii)*ldc+j0 : (bi*r+ii)*ldc+j1])
		}
		for p := a.rowPtr[bi]; p < a.rowPtr[bi+1]; p++ {
			blk := a.val[int(p)*r*cc : int(p+1)*r*cc]
			c0 := int(a.colIdx[p]) * cc
			cols := min(cc, a.cols-c0)
			for ii := range rows {
				row := c[(bi*r+ii)*ldc+j0 : (bi*r+ii)*ldc+j1]
				vals := blk[ii*cc : ii*cc+cols]
				if len(row) == 1 { // a dot product
					var s int32
					for jj, v := range vals {
						s += int32(v) * int32(b[(c0+jj)*ldb+j0])
						sums[ii] += int32(v)
					}
					row[0] += s
					continue
				}
				for jj, v := range vals {
					if v == 0 {
						continue
					}
					sums[ii] += int32(v)
					axpyI8(int32(v), b[(c0+jj)*ldb+j0:][:len(row)], row)
				}
			}
		}
		for ii := range rows {
			subZero(c[(bi*r+ii)*ldc+j0:(bi*r+ii)*ldc+j1], sums[ii]*int32(bZero))
		}
	}
}

// spmmNM24Int8RowsGo is the pure-Go row loop of SpMMNM24Int8 for rows
// [lo, hi).
func spmmNM24Int8RowsGo(a *NM24[int8], b []uint8, n, ldb int, bZero uint8, c []int32, ldc, lo, hi int) {
	g := a.Groups()
	if n == 1 { // a dot product per row
		full := a.cols / 4
		for i := lo; i < hi; i++ {
			vals, idx := a.val[2*i*g:2*i*g+2*full], a.idx[i*g:i*g+full]
			var s, sum int32
			for q, ix := range idx {
				v0, v1 := int32(vals[2*q]), int32(vals[2*q+1])
				s += v0*int32(b[(4*q+int(ix&3))*ldb]) + v1*int32(b[(4*q+int(ix>>2&3))*ldb])
				sum += v0 + v1
			}
			c[i*ldc] = s - sum*int32(bZero)
		}
		if full < g {
			addNM24Int8(a, b, ldb, bZero, c, ldc, lo, hi, 0, 1, full, g)
		}
		return
	}
	for i := lo; i < hi; i++ {
		row := c[i*ldc : i*ldc+n]
		clear(row)
		var sum int32
		for q := range g {
			k := i*g + q
			ix := a.idx[k]
			for s := range 2 {
				v := int32(a.val[2*k+s])
				if v == 0 {
					continue
				}
				sum += v
				axpyI8(v, b[(4*q+int(ix>>(2*s)&3))*ldb:][:n], row)
			}
		}
		subZero(row, sum*int32(bZero))
	}
}

// addNM24Int8 adds Σ_{q0≤q<q1} Σ_s v·(B[col] − bZero) over columns
// [j0, j1) to rows [lo, hi) of C, for the groups [q0, q1) of a 2:4 A.
func addNM24Int8(a *NM24[int8], b []uint8, ldb int, bZero uint8, c []int32, ldc, lo, hi, j0, j1, q0, q1 int) {
	g := a.Groups()
	for i := lo; i < hi; i++ {
		row := c[i*ldc+j0 : i*ldc+j1]
		for q := q0; q < q1; q++ {
			k := i*g + q
			for s := range 2 {
				v := int32(a.val[2*k+s])
				if v == 0 {
					continue
				}
				br := b[(4*q+int(a.idx[k]>>(2*s)&3))*ldb+j0:][:len(row)]
				for j := range row {
					row[j] += v * (int32(br[j]) - int32(bZero))
				}
			}
		}
	}
}

// spmmNM24RowsGo is the pure-Go row loop of SpMMNM24 for rows [lo, hi).
func spmmNM24RowsGo(a *NM24[float32], b []float32, n, ldb int, c []float32, ldc, lo, hi int) {
	g := a.Groups()
	for i := lo; i < hi; i++ {
		row := c[i*ldc : i*ldc+n]
		clear(row)
		for q := range g {
			k := i*g + q
			ix := a.idx[k]
			for s := range 2 {
				if v := a.val[2*k+s]; v != 0 {
					axpyF32(v, b[(4*q+int(ix>>(2*s)&3))*ldb:][:n], row)
				}
			}
		}
	}
}

// spmmBSRRowsGo is the pure-Go loop of SpMMBSR for block rows [lo, hi).
func spmmBSRRowsGo(a *BSR[float32], b []float32, n, ldb int, c []float32, ldc, lo, hi int) {
	r, cc := a.r, a.c
	for bi := lo; bi < hi; bi++ {
		rows := min(r, a.rows-bi*r)
		for ii := range rows {
			clear(c[(bi*r+ii)*ldc : (bi*r+ii)*ldc+n])
		}
		for p := a.rowPtr[bi]; p < a.rowPtr[bi+1]; p++ {
			blk := a.val[int(p)*r*cc : int(p+1)*r*cc]
			c0 := int(a.colIdx[p]) * cc
			cols := min(cc, a.cols-c0)
			for ii := range rows {
				row := c[(bi*r+ii)*ldc : (bi*r+ii)*ldc+n]
				for jj := range cols {
					axpyF32(blk[ii*cc+jj], b[(c0+jj)*ldb:][:n], row)
				}
			}
		}
	}
}

// spmvBSRRowsGo is the pure-Go loop of SpMVBSR for block rows [lo, hi).
func spmvBSRRowsGo(a *BSR[float32], x, y []float32, lo, hi int) {
	r, cc := a.r, a.c
	var acc [64]float32
	for bi := lo; bi < hi; bi++ {
		rows := min(r, a.rows-bi*r)
		clear(acc[:r])
		for p := a.rowPtr[bi]; p < a.rowPtr[bi+1]; p++ {
			blk := a.val[int(p)*r*cc : int(p+1)*r*cc]
			c0 := int(a.colIdx[p]) * cc
			cols := min(cc, a.cols-c0)
			xs := x[c0 : c0+cols]
			for ii := range rows {
				acc[ii] += dotF32(blk[ii*cc:ii*cc+cols], xs)
			}
		}
		copy(y[bi*r:bi*r+rows], acc[:rows])
	}
}
