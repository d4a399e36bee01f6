//go:build !purego

#include "textflag.h"

// Indirect AVX-512 kernels with a fused epilogue: an R×32 tile of
// C = A·B + bias, clamped to [lo, hi], where A is packed in 6-row slivers
// (rows 0–5 at a0, rows 6–11 at a1) and row p of B is the 32 floats at
// b + off[p], as in sgemmKernel12x32Ind. Each element is the same chain of
// fused multiply-adds as in that kernel, then one add of its row's bias and
// the clamp (VMAXPS/VMINPS with the value as second source, so a NaN passes
// as in scaleBiasClampRef). The tile's 32 columns are then compacted: the
// columns selected by mask (bit j = column j) are stored contiguously at
// c + row·ldc, so a convolution over a padded image writes its output rows
// without the padding columns. Rows at and beyond rows are not stored.
//
// func sgemmEpR(k int, a0, a1, b *float32, off *int, c *float32, ldc int, bias *float32, lo, hi float32, rows int, mask uint32)

// EPLOADB loads row off[p] of B (32 floats) into Z24, Z25.
#define EPLOADB \
	MOVQ    (R12), AX;          \
	VMOVUPS (DI)(AX*4), Z24;    \
	VMOVUPS 64(DI)(AX*4), Z25

// EPFMA multiplies the A value at aoff(areg) by the loaded row of B into
// one row's accumulators.
#define EPFMA(areg, aoff, bc, lo, hi) \
	VBROADCASTSS aoff(areg), bc; \
	VFMADD231PS  Z24, bc, lo;    \
	VFMADD231PS  Z25, bc, hi

// EPSETUP reads the epilogue's arguments: K1, K2 the column masks of the
// two halves, K3, K4 the store masks of their compacted lengths, R9 the
// byte offset of the second half, Z28, Z29 the bounds, BX the bias, R11
// the row count, DX the first row of C, R8 ldc in bytes.
#define EPSETUP \
	MOVL         mask+80(FP), AX;  \
	KMOVW        AX, K1;           \
	MOVL         AX, R13;          \
	SHRL         $16, R13;         \
	KMOVW        R13, K2;          \
	ANDL         $0xffff, AX;      \
	POPCNTL      AX, CX;           \
	MOVL         $1, R9;           \
	SHLL         CX, R9;           \
	DECL         R9;               \
	KMOVW        R9, K3;           \
	MOVQ         CX, R9;           \
	SHLQ         $2, R9;           \
	POPCNTL      R13, CX;          \
	MOVL         $1, R13;          \
	SHLL         CX, R13;          \
	DECL         R13;              \
	KMOVW        R13, K4;          \
	VBROADCASTSS lo+64(FP), Z28;   \
	VBROADCASTSS hi+68(FP), Z29;   \
	MOVQ         bias+56(FP), BX;  \
	MOVQ         rows+72(FP), R11; \
	MOVQ         c+40(FP), DX;     \
	MOVQ         ldc+48(FP), R8;   \
	SHLQ         $2, R8

// EPROW adds the row's bias, clamps, compacts and stores one row, and
// returns after the last of R11 rows.
#define EPROW(lo, hi) \
	VBROADCASTSS (BX), Z26;      \
	VADDPS       Z26, lo, lo;    \
	VADDPS       Z26, hi, hi;    \
	VMAXPS       lo, Z28, lo;    \
	VMAXPS       hi, Z28, hi;    \
	VMINPS       lo, Z29, lo;    \
	VMINPS       hi, Z29, hi;    \
	VCOMPRESSPS  lo, K1, Z30;    \
	VCOMPRESSPS  hi, K2, Z31;    \
	VMOVUPS      Z30, K3, (DX);  \
	VMOVUPS      Z31, K4, (DX)(R9*1); \
	ADDQ         $4, BX;         \
	ADDQ         R8, DX;         \
	DECQ         R11;            \
	JEQ          done


// func sgemmEp12(k int, a0, a1, b *float32, off *int, c *float32, ldc int, bias *float32, lo, hi float32, rows int, mask uint32)
TEXT ·sgemmEp12(SB), NOSPLIT, $0-84
	MOVQ k+0(FP), CX
	MOVQ a0+8(FP), SI
	MOVQ a1+16(FP), R10
	MOVQ b+24(FP), DI
	MOVQ off+32(FP), R12
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23

loop:
	EPLOADB
	EPFMA(SI, 0, Z26, Z0, Z1)
	EPFMA(SI, 4, Z27, Z2, Z3)
	EPFMA(SI, 8, Z26, Z4, Z5)
	EPFMA(SI, 12, Z27, Z6, Z7)
	EPFMA(SI, 16, Z26, Z8, Z9)
	EPFMA(SI, 20, Z27, Z10, Z11)
	EPFMA(R10, 0, Z26, Z12, Z13)
	EPFMA(R10, 4, Z27, Z14, Z15)
	EPFMA(R10, 8, Z26, Z16, Z17)
	EPFMA(R10, 12, Z27, Z18, Z19)
	EPFMA(R10, 16, Z26, Z20, Z21)
	EPFMA(R10, 20, Z27, Z22, Z23)
	ADDQ $8, R12
	ADDQ $24, SI
	ADDQ $24, R10
	DECQ CX
	JNE  loop

	EPSETUP
	EPROW(Z0, Z1)
	EPROW(Z2, Z3)
	EPROW(Z4, Z5)
	EPROW(Z6, Z7)
	EPROW(Z8, Z9)
	EPROW(Z10, Z11)
	EPROW(Z12, Z13)
	EPROW(Z14, Z15)
	EPROW(Z16, Z17)
	EPROW(Z18, Z19)
	EPROW(Z20, Z21)
	EPROW(Z22, Z23)

done:
	VZEROUPPER
	RET

// func sgemmEp8(k int, a0, a1, b *float32, off *int, c *float32, ldc int, bias *float32, lo, hi float32, rows int, mask uint32)
TEXT ·sgemmEp8(SB), NOSPLIT, $0-84
	MOVQ k+0(FP), CX
	MOVQ a0+8(FP), SI
	MOVQ a1+16(FP), R10
	MOVQ b+24(FP), DI
	MOVQ off+32(FP), R12
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15

loop:
	EPLOADB
	EPFMA(SI, 0, Z26, Z0, Z1)
	EPFMA(SI, 4, Z27, Z2, Z3)
	EPFMA(SI, 8, Z26, Z4, Z5)
	EPFMA(SI, 12, Z27, Z6, Z7)
	EPFMA(SI, 16, Z26, Z8, Z9)
	EPFMA(SI, 20, Z27, Z10, Z11)
	EPFMA(R10, 0, Z26, Z12, Z13)
	EPFMA(R10, 4, Z27, Z14, Z15)
	ADDQ $8, R12
	ADDQ $24, SI
	ADDQ $24, R10
	DECQ CX
	JNE  loop

	EPSETUP
	EPROW(Z0, Z1)
	EPROW(Z2, Z3)
	EPROW(Z4, Z5)
	EPROW(Z6, Z7)
	EPROW(Z8, Z9)
	EPROW(Z10, Z11)
	EPROW(Z12, Z13)
	EPROW(Z14, Z15)

done:
	VZEROUPPER
	RET

// func sgemmEp6(k int, a0, a1, b *float32, off *int, c *float32, ldc int, bias *float32, lo, hi float32, rows int, mask uint32)
TEXT ·sgemmEp6(SB), NOSPLIT, $0-84
	MOVQ k+0(FP), CX
	MOVQ a0+8(FP), SI
	MOVQ a1+16(FP), R10
	MOVQ b+24(FP), DI
	MOVQ off+32(FP), R12
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11

loop:
	EPLOADB
	EPFMA(SI, 0, Z26, Z0, Z1)
	EPFMA(SI, 4, Z27, Z2, Z3)
	EPFMA(SI, 8, Z26, Z4, Z5)
	EPFMA(SI, 12, Z27, Z6, Z7)
	EPFMA(SI, 16, Z26, Z8, Z9)
	EPFMA(SI, 20, Z27, Z10, Z11)
	ADDQ $8, R12
	ADDQ $24, SI
	DECQ CX
	JNE  loop

	EPSETUP
	EPROW(Z0, Z1)
	EPROW(Z2, Z3)
	EPROW(Z4, Z5)
	EPROW(Z6, Z7)
	EPROW(Z8, Z9)
	EPROW(Z10, Z11)

done:
	VZEROUPPER
	RET

// func sgemmEp4(k int, a0, a1, b *float32, off *int, c *float32, ldc int, bias *float32, lo, hi float32, rows int, mask uint32)
TEXT ·sgemmEp4(SB), NOSPLIT, $0-84
	MOVQ k+0(FP), CX
	MOVQ a0+8(FP), SI
	MOVQ a1+16(FP), R10
	MOVQ b+24(FP), DI
	MOVQ off+32(FP), R12
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7

loop:
	EPLOADB
	EPFMA(SI, 0, Z26, Z0, Z1)
	EPFMA(SI, 4, Z27, Z2, Z3)
	EPFMA(SI, 8, Z26, Z4, Z5)
	EPFMA(SI, 12, Z27, Z6, Z7)
	ADDQ $8, R12
	ADDQ $24, SI
	DECQ CX
	JNE  loop

	EPSETUP
	EPROW(Z0, Z1)
	EPROW(Z2, Z3)
	EPROW(Z4, Z5)
	EPROW(Z6, Z7)

done:
	VZEROUPPER
	RET

// func sgemmEp2(k int, a0, a1, b *float32, off *int, c *float32, ldc int, bias *float32, lo, hi float32, rows int, mask uint32)
TEXT ·sgemmEp2(SB), NOSPLIT, $0-84
	MOVQ k+0(FP), CX
	MOVQ a0+8(FP), SI
	MOVQ a1+16(FP), R10
	MOVQ b+24(FP), DI
	MOVQ off+32(FP), R12
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3

loop:
	EPLOADB
	EPFMA(SI, 0, Z26, Z0, Z1)
	EPFMA(SI, 4, Z27, Z2, Z3)
	ADDQ $8, R12
	ADDQ $24, SI
	DECQ CX
	JNE  loop

	EPSETUP
	EPROW(Z0, Z1)
	EPROW(Z2, Z3)

done:
	VZEROUPPER
	RET
