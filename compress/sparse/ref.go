package sparse

// The Ref… functions are the plain reference loops every optimized kernel is
// tested against. They take the same arguments as the kernels without the
// Ref prefix, check nothing beyond what Go's bounds checks catch, and run on
// the calling goroutine.

// RefSpMMCSR computes C = A·B, overwriting C: A is [M, K] sparse, B [K, n]
// row-major with row stride ldb, C [M, n] with row stride ldc.
func RefSpMMCSR(a *CSR[float32], b []float32, n, ldb int, c []float32, ldc int) {
	for i := range a.rows {
		row := c[i*ldc : i*ldc+n]
		clear(row)
		for p := a.rowPtr[i]; p < a.rowPtr[i+1]; p++ {
			v, br := a.val[p], b[int(a.colIdx[p])*ldb:]
			for j := range row {
				row[j] += v * br[j]
			}
		}
	}
}

// RefSpMVCSR computes y = A·x for x of length Cols and y of length Rows.
func RefSpMVCSR(a *CSR[float32], x, y []float32) {
	for i := range a.rows {
		var s float32
		for p := a.rowPtr[i]; p < a.rowPtr[i+1]; p++ {
			s += a.val[p] * x[a.colIdx[p]]
		}
		y[i] = s
	}
}

// RefSpMMCSRInt8 computes C = A·(B − bZero) exactly in int32: A is [M, K]
// int8 sparse, B [K, n] uint8 activations with zero point bZero (row stride
// ldb), C [M, n] int32 (row stride ldc).
func RefSpMMCSRInt8(a *CSR[int8], b []uint8, n, ldb int, bZero uint8, c []int32, ldc int) {
	for i := range a.rows {
		row := c[i*ldc : i*ldc+n]
		clear(row)
		for p := a.rowPtr[i]; p < a.rowPtr[i+1]; p++ {
			v, br := int32(a.val[p]), b[int(a.colIdx[p])*ldb:]
			for j := range row {
				row[j] += v * (int32(br[j]) - int32(bZero))
			}
		}
	}
}

// RefSpMMBSR computes C = A·B for a BSR A; arguments as RefSpMMCSR.
func RefSpMMBSR(a *BSR[float32], b []float32, n, ldb int, c []float32, ldc int) {
	for i := range a.rows {
		clear(c[i*ldc : i*ldc+n])
	}
	r, cc := a.r, a.c
	for bi := 0; bi+1 < len(a.rowPtr); bi++ {
		for p := a.rowPtr[bi]; p < a.rowPtr[bi+1]; p++ {
			blk := a.val[int(p)*r*cc:]
			for ii := 0; ii < r && bi*r+ii < a.rows; ii++ {
				row := c[(bi*r+ii)*ldc : (bi*r+ii)*ldc+n]
				for jj := 0; jj < cc && int(a.colIdx[p])*cc+jj < a.cols; jj++ {
					v, br := blk[ii*cc+jj], b[(int(a.colIdx[p])*cc+jj)*ldb:]
					for j := range row {
						row[j] += v * br[j]
					}
				}
			}
		}
	}
}

// RefSpMMBSRInt8 computes C = A·(B − bZero) for an int8 BSR A; arguments as
// RefSpMMCSRInt8.
func RefSpMMBSRInt8(a *BSR[int8], b []uint8, n, ldb int, bZero uint8, c []int32, ldc int) {
	for i := range a.rows {
		clear(c[i*ldc : i*ldc+n])
	}
	r, cc := a.r, a.c
	for bi := 0; bi+1 < len(a.rowPtr); bi++ {
		for p := a.rowPtr[bi]; p < a.rowPtr[bi+1]; p++ {
			blk := a.val[int(p)*r*cc:]
			for ii := 0; ii < r && bi*r+ii < a.rows; ii++ {
				row := c[(bi*r+ii)*ldc : (bi*r+ii)*ldc+n]
				for jj := 0; jj < cc && int(a.colIdx[p])*cc+jj < a.cols; jj++ {
					v, br := int32(blk[ii*cc+jj]), b[(int(a.colIdx[p])*cc+jj)*ldb:]
					for j := range row {
						row[j] += v * (int32(br[j]) - int32(bZero))
					}
				}
			}
		}
	}
}

// RefSpMMNM24 computes C = A·B for a 2:4 A; arguments as RefSpMMCSR.
func RefSpMMNM24(a *NM24[float32], b []float32, n, ldb int, c []float32, ldc int) {
	g := a.Groups()
	for i := range a.rows {
		row := c[i*ldc : i*ldc+n]
		clear(row)
		for q := range g {
			k := i*g + q
			for s := range 2 {
				col := 4*q + int(a.idx[k]>>(2*s)&3)
				if col >= a.cols {
					continue
				}
				v, br := a.val[2*k+s], b[col*ldb:]
				for j := range row {
					row[j] += v * br[j]
				}
			}
		}
	}
}

// RefSpMMNM24Int8 computes C = A·(B − bZero) for an int8 2:4 A; arguments
// as RefSpMMCSRInt8.
func RefSpMMNM24Int8(a *NM24[int8], b []uint8, n, ldb int, bZero uint8, c []int32, ldc int) {
	g := a.Groups()
	for i := range a.rows {
		row := c[i*ldc : i*ldc+n]
		clear(row)
		for q := range g {
			k := i*g + q
			for s := range 2 {
				col := 4*q + int(a.idx[k]>>(2*s)&3)
				if col >= a.cols {
					continue
				}
				v, br := int32(a.val[2*k+s]), b[col*ldb:]
				for j := range row {
					row[j] += v * (int32(br[j]) - int32(bZero))
				}
			}
		}
	}
}
