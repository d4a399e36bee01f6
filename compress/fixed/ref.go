package fixed

// GEMMRef is the reference int8 matrix multiplication every implementation
// is tested against: the plain triple loop
//
//	C[i][j] = Σ_k (A[i][k] − aZero) · B[k][j]
//
// with A uint8 [m, k] (row stride lda), B int8 [k, n] unpacked (row stride
// ldb) and C int32 [m, n] (row stride ldc), overwritten. Sums wrap modulo 2³²
// like the fast paths. It panics on shapes the slices cannot hold.
func GEMMRef(m, n, k int, a []uint8, lda int, aZero uint8, b []int8, ldb int, c []int32, ldc int) {
	checkShape("GEMMRef", "A", m, k, len(a), lda)
	checkShape("GEMMRef", "B", k, n, len(b), ldb)
	checkShape("GEMMRef", "C", m, n, len(c), ldc)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var sum int32
			for p := 0; p < k; p++ {
				sum += (int32(a[i*lda+p]) - int32(aZero)) * int32(b[p*ldb+j])
			}
			c[i*ldc+j] = sum
		}
	}
}

// Int8ToUint8 writes x+128 for each signed 8-bit activation x of src into
// dst (flipping the sign bit), so signed activations with zero point z can be
// multiplied by GEMM as unsigned ones with zero point z+128. dst and src may
// be the same memory viewed as both types; len(dst) must be ≥ len(src).
func Int8ToUint8(dst []uint8, src []int8) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = uint8(v) ^ 0x80
	}
}
