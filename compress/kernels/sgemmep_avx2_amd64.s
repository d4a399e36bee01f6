//go:build !purego

#include "textflag.h"

// Indirect AVX2 kernels with a fused epilogue, for CPUs without AVX-512: an
// R×16 tile of C = A·B + bias, clamped to [lo, hi], where row r of A's
// panel of 6 (x6) or 4 (x4) rows starts at a + aoff[r] bytes (A is read in
// place, not packed: a row-major matrix gives aoff[r] = r·lda·4, and a
// row past the matrix's end repeats row 0, whose sums are not stored), and
// the tile's 16 columns are two groups of 8 placed independently: row p of
// group g's B is the 8 floats at bg + off[p], and row r of its result goes
// to cg + r·ldc. A convolution over a padded image places each group
// inside one output row, so the padding columns are neither computed nor
// stored and nothing is compacted afterwards. Each element is the chain of
// fused multiply-adds of sgemmKernel6x16 from zero, then one add of its
// row's bias and the clamp (VMAXPS/VMINPS with the value as second source,
// so a NaN passes as in scaleBiasClampRef). Rows at and beyond rows are
// not stored.
//
// func sgemmEpAVX2xR(k int, a *float32, aoff *[6]int, b0, b1 *float32, off *int, c0, c1 *float32, ldc int, bias *float32, lo, hi float32, rows int)

// EP2LOADB loads row off[p] of both groups of B into Y12, Y13.
#define EP2LOADB \
	MOVQ    (R12), AX;          \
	VMOVUPS (DI)(AX*4), Y12;    \
	VMOVUPS (R10)(AX*4), Y13

// EP2FMA multiplies the A value at aaddr by the loaded row of B into one
// row's accumulators.
#define EP2FMA(aaddr, bc, g0, g1) \
	VBROADCASTSS aaddr, bc;   \
	VFMADD231PS  Y12, bc, g0; \
	VFMADD231PS  Y13, bc, g1

// EP2ARGS loads the loop's arguments: SI row 0 of A, R8, R9, R11, R13, BX
// the byte offsets of rows 1–5 from it.
#define EP2ARGS \
	MOVQ k+0(FP), CX;     \
	MOVQ a+8(FP), SI;     \
	MOVQ aoff+16(FP), AX; \
	MOVQ 8(AX), R8;       \
	MOVQ 16(AX), R9;      \
	MOVQ 24(AX), R11;     \
	MOVQ 32(AX), R13;     \
	MOVQ 40(AX), BX;      \
	MOVQ b0+24(FP), DI;   \
	MOVQ b1+32(FP), R10;  \
	MOVQ off+40(FP), R12

// EP2SETUP reads the epilogue's arguments: Y14, Y15 the bounds, BX the
// bias, R11 the row count, DX and R9 the groups' first rows of C, R8 ldc
// in bytes.
#define EP2SETUP \
	VBROADCASTSS lo+80(FP), Y14; \
	VBROADCASTSS hi+84(FP), Y15; \
	MOVQ         bias+72(FP), BX; \
	MOVQ         rows+88(FP), R11; \
	MOVQ         c0+48(FP), DX;   \
	MOVQ         c1+56(FP), R9;   \
	MOVQ         ldc+64(FP), R8;  \
	SHLQ         $2, R8

// EP2ROW adds the row's bias, clamps and stores one row of both groups,
// and returns after the last of R11 rows.
#define EP2ROW(g0, g1) \
	VBROADCASTSS (BX), Y12;   \
	VADDPS       Y12, g0, g0; \
	VADDPS       Y12, g1, g1; \
	VMAXPS       g0, Y14, g0; \
	VMAXPS       g1, Y14, g1; \
	VMINPS       g0, Y15, g0; \
	VMINPS       g1, Y15, g1; \
	VMOVUPS      g0, (DX);    \
	VMOVUPS      g1, (R9);    \
	ADDQ         $4, BX;      \
	ADDQ         R8, DX;      \
	ADDQ         R8, R9;      \
	DECQ         R11;         \
	JEQ          done

// func sgemmEpAVX2x6(k int, a *float32, aoff *[6]int, b0, b1 *float32, off *int, c0, c1 *float32, ldc int, bias *float32, lo, hi float32, rows int)
TEXT ·sgemmEpAVX2x6(SB), NOSPLIT, $0-96
	EP2ARGS
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

loop:
	EP2LOADB
	EP2FMA((SI), Y14, Y0, Y1)
	EP2FMA((SI)(R8*1), Y15, Y2, Y3)
	EP2FMA((SI)(R9*1), Y14, Y4, Y5)
	EP2FMA((SI)(R11*1), Y15, Y6, Y7)
	EP2FMA((SI)(R13*1), Y14, Y8, Y9)
	EP2FMA((SI)(BX*1), Y15, Y10, Y11)
	ADDQ $8, R12
	ADDQ $4, SI
	DECQ CX
	JNE  loop

	EP2SETUP
	EP2ROW(Y0, Y1)
	EP2ROW(Y2, Y3)
	EP2ROW(Y4, Y5)
	EP2ROW(Y6, Y7)
	EP2ROW(Y8, Y9)
	EP2ROW(Y10, Y11)

done:
	VZEROUPPER
	RET

// func sgemmEpAVX2x4(k int, a *float32, aoff *[6]int, b0, b1 *float32, off *int, c0, c1 *float32, ldc int, bias *float32, lo, hi float32, rows int)
TEXT ·sgemmEpAVX2x4(SB), NOSPLIT, $0-96
	EP2ARGS
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

loop:
	EP2LOADB
	EP2FMA((SI), Y14, Y0, Y1)
	EP2FMA((SI)(R8*1), Y15, Y2, Y3)
	EP2FMA((SI)(R9*1), Y14, Y4, Y5)
	EP2FMA((SI)(R11*1), Y15, Y6, Y7)
	ADDQ $8, R12
	ADDQ $4, SI
	DECQ CX
	JNE  loop

	EP2SETUP
	EP2ROW(Y0, Y1)
	EP2ROW(Y2, Y3)
	EP2ROW(Y4, Y5)
	EP2ROW(Y6, Y7)

done:
	VZEROUPPER
	RET
