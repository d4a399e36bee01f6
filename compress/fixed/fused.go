package fixed

import "math"

// GEMMRequantUint8 computes the requantized product
//
//	dst[i][j] = requant((A − aZero)·B)[i][j]
//
// as GEMM followed by RequantizeUint8 with rq, but block by block: each
// worker requantizes its int32 results while they are in cache, and no
// [m, N] int32 matrix is ever allocated. A and B are as for GEMM; dst is
// uint8 [m, b.N()] with row stride ldd. It panics on shapes the slices
// cannot hold or when rq.Validate(b.N()) fails.
func GEMMRequantUint8(m int, a []uint8, lda int, aZero uint8, b *PackedB, rq *Requant, dst []uint8, ldd int, opt Options) {
	gemmRequantUint8(impl, m, a, lda, aZero, b, rq, dst, ldd, opt)
}

// GEMMRequantInt8 is GEMMRequantUint8 with an int8 output.
func GEMMRequantInt8(m int, a []uint8, lda int, aZero uint8, b *PackedB, rq *Requant, dst []int8, ldd int, opt Options) {
	gemmRequantInt8(impl, m, a, lda, aZero, b, rq, dst, ldd, opt)
}

func gemmRequantUint8(which string, m int, a []uint8, lda int, aZero uint8, b *PackedB, rq *Requant, dst []uint8, ldd int, opt Options) {
	checkShape("GEMMRequantUint8", "dst", m, b.n, len(dst), ldd)
	checkRequantParams("GEMMRequantUint8", b.n, rq)
	lo, hi := rq.bounds(0, math.MaxUint8)
	gemm(which, m, a, lda, aZero, b, nil, 0, func(i0, i1, j0, j1 int, c []int32, ldc int) {
		for i := i0; i < i1; i++ {
			requantRow(dst[i*ldd+j0:i*ldd+j1], c[(i-i0)*ldc:][:j1-j0], j0, rq, lo, hi)
		}
	}, opt)
}

func gemmRequantInt8(which string, m int, a []uint8, lda int, aZero uint8, b *PackedB, rq *Requant, dst []int8, ldd int, opt Options) {
	checkShape("GEMMRequantInt8", "dst", m, b.n, len(dst), ldd)
	checkRequantParams("GEMMRequantInt8", b.n, rq)
	lo, hi := rq.bounds(math.MinInt8, math.MaxInt8)
	gemm(which, m, a, lda, aZero, b, nil, 0, func(i0, i1, j0, j1 int, c []int32, ldc int) {
		for i := i0; i < i1; i++ {
			requantRow(dst[i*ldd+j0:i*ldd+j1], c[(i-i0)*ldc:][:j1-j0], j0, rq, lo, hi)
		}
	}, opt)
}
