//go:build !purego

#include "textflag.h"

// The AVX-512 micro-kernel: a 6×32 tile of C in twelve zmm accumulators
// (row r in Z(2r), Z(2r+1)), fed by one packed 6-row sliver of A and two
// adjacent packed 16-column slivers of B, the same packing as the AVX2
// 6×16 kernel. Each element of C is the same chain of fused multiply-adds
// in the same order as in the AVX2 kernel, so the two give the same bits.

// STEP32 multiplies one packed column of A (6 values at a0..a5 off SI) by
// one packed row of both B slivers (16 values at bo off DI and off BX).
#define STEP32(bo, a0, a1, a2, a3, a4, a5) \
	VMOVUPS      bo(DI), Z12;  \
	VMOVUPS      bo(BX), Z13;  \
	VBROADCASTSS a0(SI), Z14;  \
	VFMADD231PS  Z12, Z14, Z0; \
	VFMADD231PS  Z13, Z14, Z1; \
	VBROADCASTSS a1(SI), Z15;  \
	VFMADD231PS  Z12, Z15, Z2; \
	VFMADD231PS  Z13, Z15, Z3; \
	VBROADCASTSS a2(SI), Z14;  \
	VFMADD231PS  Z12, Z14, Z4; \
	VFMADD231PS  Z13, Z14, Z5; \
	VBROADCASTSS a3(SI), Z15;  \
	VFMADD231PS  Z12, Z15, Z6; \
	VFMADD231PS  Z13, Z15, Z7; \
	VBROADCASTSS a4(SI), Z14;  \
	VFMADD231PS  Z12, Z14, Z8; \
	VFMADD231PS  Z13, Z14, Z9; \
	VBROADCASTSS a5(SI), Z15;  \
	VFMADD231PS  Z12, Z15, Z10; \
	VFMADD231PS  Z13, Z15, Z11

// ROW32 writes the columns selected by K1, K2 of one row of acc to C at DX
// and returns after the last of R11 rows.
#define ROW32(lo, hi) \
	VMOVUPS lo, K1, (DX);   \
	VMOVUPS hi, K2, 64(DX); \
	ADDQ    R8, DX;         \
	DECQ    R11;            \
	JEQ     done

// ROW32B is ROW32 writing acc + beta·C (beta in Z15), reading only the
// selected columns of C; it clobbers Z14.
#define ROW32B(lo, hi) \
	VMOVUPS.Z   (DX), K1, Z14;   \
	VFMADD231PS Z14, Z15, lo;    \
	VMOVUPS.Z   64(DX), K2, Z14; \
	VFMADD231PS Z14, Z15, hi;    \
	VMOVUPS     lo, K1, (DX);    \
	VMOVUPS     hi, K2, 64(DX);  \
	ADDQ        R8, DX;          \
	DECQ        R11;             \
	JEQ         done

// func sgemmKernel6x32(k int, a, b0, b1, c *float32, ldc int, alpha, beta float32, rows, cols int)
TEXT ·sgemmKernel6x32(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b0+16(FP), DI
	MOVQ b1+24(FP), BX
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8

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

	MOVQ CX, R9
	SHRQ $2, R9
	JEQ  tail

loop4:
	STEP32(0, 0, 4, 8, 12, 16, 20)
	STEP32(64, 24, 28, 32, 36, 40, 44)
	STEP32(128, 48, 52, 56, 60, 64, 68)
	STEP32(192, 72, 76, 80, 84, 88, 92)
	ADDQ $96, SI
	ADDQ $256, DI
	ADDQ $256, BX
	DECQ R9
	JNE  loop4

tail:
	ANDQ $3, CX
	JEQ  scale

loop1:
	STEP32(0, 0, 4, 8, 12, 16, 20)
	ADDQ $24, SI
	ADDQ $64, DI
	ADDQ $64, BX
	DECQ CX
	JNE  loop1

scale:
	MOVL         alpha+48(FP), AX
	CMPL         AX, $0x3f800000
	JEQ          masks
	VBROADCASTSS alpha+48(FP), Z14
	VMULPS       Z14, Z0, Z0
	VMULPS       Z14, Z1, Z1
	VMULPS       Z14, Z2, Z2
	VMULPS       Z14, Z3, Z3
	VMULPS       Z14, Z4, Z4
	VMULPS       Z14, Z5, Z5
	VMULPS       Z14, Z6, Z6
	VMULPS       Z14, Z7, Z7
	VMULPS       Z14, Z8, Z8
	VMULPS       Z14, Z9, Z9
	VMULPS       Z14, Z10, Z10
	VMULPS       Z14, Z11, Z11

masks:
	// K1 selects columns 0..15 of the tile, K2 columns 16..31, up to cols.
	MOVQ cols+64(FP), CX
	CMPQ CX, $16
	JLT  lowonly
	MOVL $0xffff, AX
	KMOVW AX, K1
	SUBQ $16, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K2
	JMP  store

lowonly:
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX
	KMOVW AX, K1
	KXORW K2, K2, K2

store:
	VBROADCASTSS beta+52(FP), Z15
	MOVQ         rows+56(FP), R11
	VXORPS       X14, X14, X14
	VUCOMISS     X14, X15
	JNE          withbeta
	JPS          withbeta
	ROW32(Z0, Z1)
	ROW32(Z2, Z3)
	ROW32(Z4, Z5)
	ROW32(Z6, Z7)
	ROW32(Z8, Z9)
	ROW32(Z10, Z11)
	JMP          done

withbeta:
	ROW32B(Z0, Z1)
	ROW32B(Z2, Z3)
	ROW32B(Z4, Z5)
	ROW32B(Z6, Z7)
	ROW32B(Z8, Z9)
	ROW32B(Z10, Z11)

done:
	VZEROUPPER
	RET

// The 12×32 variant: two packed 6-row slivers of A (rows 0..5 at SI, 6..11
// at R10) against the same two B slivers, 24 accumulators (row r in Z(2r),
// Z(2r+1)), so each pair of B rows loaded feeds 24 fused multiply-adds.
// Accumulation order per element is the 6×16 kernel's.

// STEP12 multiplies one packed column of both A slivers by one packed row
// of both B slivers.
#define STEP12(bo, a0, a1, a2, a3, a4, a5) \
	VMOVUPS      bo(DI), Z24; \
	VMOVUPS      bo(BX), Z25; \
	VBROADCASTSS a0(SI), Z26; \
	VFMADD231PS  Z24, Z26, Z0; \
	VFMADD231PS  Z25, Z26, Z1; \
	VBROADCASTSS a1(SI), Z27; \
	VFMADD231PS  Z24, Z27, Z2; \
	VFMADD231PS  Z25, Z27, Z3; \
	VBROADCASTSS a2(SI), Z26; \
	VFMADD231PS  Z24, Z26, Z4; \
	VFMADD231PS  Z25, Z26, Z5; \
	VBROADCASTSS a3(SI), Z27; \
	VFMADD231PS  Z24, Z27, Z6; \
	VFMADD231PS  Z25, Z27, Z7; \
	VBROADCASTSS a4(SI), Z26; \
	VFMADD231PS  Z24, Z26, Z8; \
	VFMADD231PS  Z25, Z26, Z9; \
	VBROADCASTSS a5(SI), Z27; \
	VFMADD231PS  Z24, Z27, Z10; \
	VFMADD231PS  Z25, Z27, Z11; \
	VBROADCASTSS a0(R10), Z26; \
	VFMADD231PS  Z24, Z26, Z12; \
	VFMADD231PS  Z25, Z26, Z13; \
	VBROADCASTSS a1(R10), Z27; \
	VFMADD231PS  Z24, Z27, Z14; \
	VFMADD231PS  Z25, Z27, Z15; \
	VBROADCASTSS a2(R10), Z26; \
	VFMADD231PS  Z24, Z26, Z16; \
	VFMADD231PS  Z25, Z26, Z17; \
	VBROADCASTSS a3(R10), Z27; \
	VFMADD231PS  Z24, Z27, Z18; \
	VFMADD231PS  Z25, Z27, Z19; \
	VBROADCASTSS a4(R10), Z26; \
	VFMADD231PS  Z24, Z26, Z20; \
	VFMADD231PS  Z25, Z26, Z21; \
	VBROADCASTSS a5(R10), Z27; \
	VFMADD231PS  Z24, Z27, Z22; \
	VFMADD231PS  Z25, Z27, Z23

// ROW12B is ROW32B for the 12×32 kernel, whose accumulators include Z14
// and Z15: beta in Z28, Z29 clobbered.
#define ROW12B(lo, hi) \
	VMOVUPS.Z   (DX), K1, Z29;   \
	VFMADD231PS Z29, Z28, lo;    \
	VMOVUPS.Z   64(DX), K2, Z29; \
	VFMADD231PS Z29, Z28, hi;    \
	VMOVUPS     lo, K1, (DX);    \
	VMOVUPS     hi, K2, 64(DX);  \
	ADDQ        R8, DX;          \
	DECQ        R11;             \
	JEQ         done


// func sgemmKernel12x32(k int, a0, a1, b0, b1, c *float32, ldc int, alpha, beta float32, rows, cols int)
TEXT ·sgemmKernel12x32(SB), NOSPLIT, $0-80
	MOVQ k+0(FP), CX
	MOVQ a0+8(FP), SI
	MOVQ a1+16(FP), R10
	MOVQ b0+24(FP), DI
	MOVQ b1+32(FP), BX
	MOVQ c+40(FP), DX
	MOVQ ldc+48(FP), R8
	SHLQ $2, R8

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

	MOVQ CX, R9
	SHRQ $2, R9
	JEQ  tail12

loop12x4:
	STEP12(0, 0, 4, 8, 12, 16, 20)
	STEP12(64, 24, 28, 32, 36, 40, 44)
	STEP12(128, 48, 52, 56, 60, 64, 68)
	STEP12(192, 72, 76, 80, 84, 88, 92)
	ADDQ $96, SI
	ADDQ $96, R10
	ADDQ $256, DI
	ADDQ $256, BX
	DECQ R9
	JNE  loop12x4

tail12:
	ANDQ $3, CX
	JEQ  scale12

loop12x1:
	STEP12(0, 0, 4, 8, 12, 16, 20)
	ADDQ $24, SI
	ADDQ $24, R10
	ADDQ $64, DI
	ADDQ $64, BX
	DECQ CX
	JNE  loop12x1

scale12:
	MOVL         alpha+56(FP), AX
	CMPL         AX, $0x3f800000
	JEQ          masks12
	VBROADCASTSS alpha+56(FP), Z26
	VMULPS       Z26, Z0, Z0
	VMULPS       Z26, Z1, Z1
	VMULPS       Z26, Z2, Z2
	VMULPS       Z26, Z3, Z3
	VMULPS       Z26, Z4, Z4
	VMULPS       Z26, Z5, Z5
	VMULPS       Z26, Z6, Z6
	VMULPS       Z26, Z7, Z7
	VMULPS       Z26, Z8, Z8
	VMULPS       Z26, Z9, Z9
	VMULPS       Z26, Z10, Z10
	VMULPS       Z26, Z11, Z11
	VMULPS       Z26, Z12, Z12
	VMULPS       Z26, Z13, Z13
	VMULPS       Z26, Z14, Z14
	VMULPS       Z26, Z15, Z15
	VMULPS       Z26, Z16, Z16
	VMULPS       Z26, Z17, Z17
	VMULPS       Z26, Z18, Z18
	VMULPS       Z26, Z19, Z19
	VMULPS       Z26, Z20, Z20
	VMULPS       Z26, Z21, Z21
	VMULPS       Z26, Z22, Z22
	VMULPS       Z26, Z23, Z23

masks12:
	MOVQ cols+72(FP), CX
	CMPQ CX, $16
	JLT  lowonly12
	MOVL $0xffff, AX
	KMOVW AX, K1
	SUBQ $16, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K2
	JMP  store12

lowonly12:
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX
	KMOVW AX, K1
	KXORW K2, K2, K2

store12:
	// Z14 and Z15 hold row 7 here: beta goes to Z28 and is tested as bits
	// (±0 means no beta term; NaN takes the beta path, as in the 6×32).
	VBROADCASTSS beta+60(FP), Z28
	MOVQ         rows+64(FP), R11
	MOVL         beta+60(FP), AX
	TESTL        $0x7fffffff, AX
	JNE          withbeta12
	ROW32(Z0, Z1)
	ROW32(Z2, Z3)
	ROW32(Z4, Z5)
	ROW32(Z6, Z7)
	ROW32(Z8, Z9)
	ROW32(Z10, Z11)
	ROW32(Z12, Z13)
	ROW32(Z14, Z15)
	ROW32(Z16, Z17)
	ROW32(Z18, Z19)
	ROW32(Z20, Z21)
	ROW32(Z22, Z23)
	JMP          done

withbeta12:
	ROW12B(Z0, Z1)
	ROW12B(Z2, Z3)
	ROW12B(Z4, Z5)
	ROW12B(Z6, Z7)
	ROW12B(Z8, Z9)
	ROW12B(Z10, Z11)
	ROW12B(Z12, Z13)
	ROW12B(Z14, Z15)
	ROW12B(Z16, Z17)
	ROW12B(Z18, Z19)
	ROW12B(Z20, Z21)
	ROW12B(Z22, Z23)

done:
	VZEROUPPER
	RET

// The indirect kernels: the same tiles with B read in place instead of
// packed. Row p of B starts at b + off[p] floats (off a table of ints), so
// a convolution's shifted windows of a padded image are multiplied without
// being copied; each k step loads 32 columns of row p unaligned. Columns
// past cols are loaded (the caller leaves 32 floats of slack) but never
// stored. Accumulation order per element is the packed kernels'.

// func sgemmKernel12x32Ind(k int, a0, a1, b *float32, off *int, c *float32, ldc int, alpha, beta float32, rows, cols int)
TEXT ·sgemmKernel12x32Ind(SB), NOSPLIT, $0-80
	MOVQ k+0(FP), CX
	MOVQ a0+8(FP), SI
	MOVQ a1+16(FP), R10
	MOVQ b+24(FP), DI
	MOVQ off+32(FP), R12
	MOVQ c+40(FP), DX
	MOVQ ldc+48(FP), R8
	SHLQ $2, R8

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
	MOVQ         (R12), AX
	VMOVUPS      (DI)(AX*4), Z24
	VMOVUPS      64(DI)(AX*4), Z25
	VBROADCASTSS 0(SI), Z26
	VFMADD231PS  Z24, Z26, Z0
	VFMADD231PS  Z25, Z26, Z1
	VBROADCASTSS 4(SI), Z27
	VFMADD231PS  Z24, Z27, Z2
	VFMADD231PS  Z25, Z27, Z3
	VBROADCASTSS 8(SI), Z26
	VFMADD231PS  Z24, Z26, Z4
	VFMADD231PS  Z25, Z26, Z5
	VBROADCASTSS 12(SI), Z27
	VFMADD231PS  Z24, Z27, Z6
	VFMADD231PS  Z25, Z27, Z7
	VBROADCASTSS 16(SI), Z26
	VFMADD231PS  Z24, Z26, Z8
	VFMADD231PS  Z25, Z26, Z9
	VBROADCASTSS 20(SI), Z27
	VFMADD231PS  Z24, Z27, Z10
	VFMADD231PS  Z25, Z27, Z11
	VBROADCASTSS 0(R10), Z26
	VFMADD231PS  Z24, Z26, Z12
	VFMADD231PS  Z25, Z26, Z13
	VBROADCASTSS 4(R10), Z27
	VFMADD231PS  Z24, Z27, Z14
	VFMADD231PS  Z25, Z27, Z15
	VBROADCASTSS 8(R10), Z26
	VFMADD231PS  Z24, Z26, Z16
	VFMADD231PS  Z25, Z26, Z17
	VBROADCASTSS 12(R10), Z27
	VFMADD231PS  Z24, Z27, Z18
	VFMADD231PS  Z25, Z27, Z19
	VBROADCASTSS 16(R10), Z26
	VFMADD231PS  Z24, Z26, Z20
	VFMADD231PS  Z25, Z26, Z21
	VBROADCASTSS 20(R10), Z27
	VFMADD231PS  Z24, Z27, Z22
	VFMADD231PS  Z25, Z27, Z23
	ADDQ         $8, R12
	ADDQ         $24, SI
	ADDQ         $24, R10
	DECQ         CX
	JNE          loop

	MOVL         alpha+56(FP), AX
	CMPL         AX, $0x3f800000
	JEQ          masks
	VBROADCASTSS alpha+56(FP), Z26
	VMULPS       Z26, Z0, Z0
	VMULPS       Z26, Z1, Z1
	VMULPS       Z26, Z2, Z2
	VMULPS       Z26, Z3, Z3
	VMULPS       Z26, Z4, Z4
	VMULPS       Z26, Z5, Z5
	VMULPS       Z26, Z6, Z6
	VMULPS       Z26, Z7, Z7
	VMULPS       Z26, Z8, Z8
	VMULPS       Z26, Z9, Z9
	VMULPS       Z26, Z10, Z10
	VMULPS       Z26, Z11, Z11
	VMULPS       Z26, Z12, Z12
	VMULPS       Z26, Z13, Z13
	VMULPS       Z26, Z14, Z14
	VMULPS       Z26, Z15, Z15
	VMULPS       Z26, Z16, Z16
	VMULPS       Z26, Z17, Z17
	VMULPS       Z26, Z18, Z18
	VMULPS       Z26, Z19, Z19
	VMULPS       Z26, Z20, Z20
	VMULPS       Z26, Z21, Z21
	VMULPS       Z26, Z22, Z22
	VMULPS       Z26, Z23, Z23

masks:
	MOVQ  cols+72(FP), CX
	CMPQ  CX, $16
	JLT   lowonly
	MOVL  $0xffff, AX
	KMOVW AX, K1
	SUBQ  $16, CX
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX
	KMOVW AX, K2
	JMP   store

lowonly:
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX
	KMOVW AX, K1
	KXORW K2, K2, K2

store:
	VBROADCASTSS beta+60(FP), Z28
	MOVQ         rows+64(FP), R11
	MOVL         beta+60(FP), AX
	TESTL        $0x7fffffff, AX
	JNE          withbeta
	ROW32(Z0, Z1)
	ROW32(Z2, Z3)
	ROW32(Z4, Z5)
	ROW32(Z6, Z7)
	ROW32(Z8, Z9)
	ROW32(Z10, Z11)
	ROW32(Z12, Z13)
	ROW32(Z14, Z15)
	ROW32(Z16, Z17)
	ROW32(Z18, Z19)
	ROW32(Z20, Z21)
	ROW32(Z22, Z23)
	JMP          done

withbeta:
	ROW12B(Z0, Z1)
	ROW12B(Z2, Z3)
	ROW12B(Z4, Z5)
	ROW12B(Z6, Z7)
	ROW12B(Z8, Z9)
	ROW12B(Z10, Z11)
	ROW12B(Z12, Z13)
	ROW12B(Z14, Z15)
	ROW12B(Z16, Z17)
	ROW12B(Z18, Z19)
	ROW12B(Z20, Z21)
	ROW12B(Z22, Z23)

done:
	VZEROUPPER
	RET

// func sgemmKernel6x32Ind(k int, a, b *float32, off *int, c *float32, ldc int, alpha, beta float32, rows, cols int)
TEXT ·sgemmKernel6x32Ind(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ off+24(FP), R12
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8

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
	MOVQ         (R12), AX
	VMOVUPS      (DI)(AX*4), Z24
	VMOVUPS      64(DI)(AX*4), Z25
	VBROADCASTSS 0(SI), Z26
	VFMADD231PS  Z24, Z26, Z0
	VFMADD231PS  Z25, Z26, Z1
	VBROADCASTSS 4(SI), Z27
	VFMADD231PS  Z24, Z27, Z2
	VFMADD231PS  Z25, Z27, Z3
	VBROADCASTSS 8(SI), Z26
	VFMADD231PS  Z24, Z26, Z4
	VFMADD231PS  Z25, Z26, Z5
	VBROADCASTSS 12(SI), Z27
	VFMADD231PS  Z24, Z27, Z6
	VFMADD231PS  Z25, Z27, Z7
	VBROADCASTSS 16(SI), Z26
	VFMADD231PS  Z24, Z26, Z8
	VFMADD231PS  Z25, Z26, Z9
	VBROADCASTSS 20(SI), Z27
	VFMADD231PS  Z24, Z27, Z10
	VFMADD231PS  Z25, Z27, Z11
	ADDQ         $8, R12
	ADDQ         $24, SI
	DECQ         CX
	JNE          loop

	MOVL         alpha+48(FP), AX
	CMPL         AX, $0x3f800000
	JEQ          masks
	VBROADCASTSS alpha+48(FP), Z26
	VMULPS       Z26, Z0, Z0
	VMULPS       Z26, Z1, Z1
	VMULPS       Z26, Z2, Z2
	VMULPS       Z26, Z3, Z3
	VMULPS       Z26, Z4, Z4
	VMULPS       Z26, Z5, Z5
	VMULPS       Z26, Z6, Z6
	VMULPS       Z26, Z7, Z7
	VMULPS       Z26, Z8, Z8
	VMULPS       Z26, Z9, Z9
	VMULPS       Z26, Z10, Z10
	VMULPS       Z26, Z11, Z11

masks:
	MOVQ  cols+64(FP), CX
	CMPQ  CX, $16
	JLT   lowonly
	MOVL  $0xffff, AX
	KMOVW AX, K1
	SUBQ  $16, CX
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX
	KMOVW AX, K2
	JMP   store

lowonly:
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX
	KMOVW AX, K1
	KXORW K2, K2, K2

store:
	VBROADCASTSS beta+52(FP), Z28
	MOVQ         rows+56(FP), R11
	MOVL         beta+52(FP), AX
	TESTL        $0x7fffffff, AX
	JNE          withbeta
	ROW32(Z0, Z1)
	ROW32(Z2, Z3)
	ROW32(Z4, Z5)
	ROW32(Z6, Z7)
	ROW32(Z8, Z9)
	ROW32(Z10, Z11)
	JMP          done

withbeta:
	ROW12B(Z0, Z1)
	ROW12B(Z2, Z3)
	ROW12B(Z4, Z5)
	ROW12B(Z6, Z7)
	ROW12B(Z8, Z9)
	ROW12B(Z10, Z11)

done:
	VZEROUPPER
	RET
