//go:build !purego

#include "textflag.h"

// STEP multiplies one packed column of A (6 values at ao..ao+20 off SI) by
// one packed row of B (16 values at bo, bo+32 off DI) into the twelve
// accumulators Y0..Y11 (row r in Y(2r), Y(2r+1)).
#define STEP(bo0, bo1, a0, a1, a2, a3, a4, a5) \
	VMOVUPS      bo0(DI), Y12;    \
	VMOVUPS      bo1(DI), Y13;    \
	VBROADCASTSS a0(SI), Y14;     \
	VFMADD231PS  Y12, Y14, Y0;    \
	VFMADD231PS  Y13, Y14, Y1;    \
	VBROADCASTSS a1(SI), Y15;     \
	VFMADD231PS  Y12, Y15, Y2;    \
	VFMADD231PS  Y13, Y15, Y3;    \
	VBROADCASTSS a2(SI), Y14;     \
	VFMADD231PS  Y12, Y14, Y4;    \
	VFMADD231PS  Y13, Y14, Y5;    \
	VBROADCASTSS a3(SI), Y15;     \
	VFMADD231PS  Y12, Y15, Y6;    \
	VFMADD231PS  Y13, Y15, Y7;    \
	VBROADCASTSS a4(SI), Y14;     \
	VFMADD231PS  Y12, Y14, Y8;    \
	VFMADD231PS  Y13, Y14, Y9;    \
	VBROADCASTSS a5(SI), Y15;     \
	VFMADD231PS  Y12, Y15, Y10;   \
	VFMADD231PS  Y13, Y15, Y11

// STORE0 writes one row of acc (already scaled by alpha) to C at DX.
// alpha = 1 skips the scaling.
#define STORE0(lo, hi) \
	VMOVUPS lo, (DX);   \
	VMOVUPS hi, 32(DX); \
	ADDQ    R8, DX

// STOREB writes acc + beta·C (beta in Y15) to one row of C at DX.
#define STOREB(lo, hi) \
	VFMADD231PS (DX), Y15, lo;   \
	VFMADD231PS 32(DX), Y15, hi; \
	VMOVUPS     lo, (DX);        \
	VMOVUPS     hi, 32(DX);      \
	ADDQ        R8, DX

// ROW0 is STORE0 that returns after the last of R11 rows.
#define ROW0(lo, hi) \
	STORE0(lo, hi); \
	DECQ R11;       \
	JEQ  done

// ROWB is STOREB that returns after the last of R11 rows.
#define ROWB(lo, hi) \
	STOREB(lo, hi); \
	DECQ R11;       \
	JEQ  done

// EDGE0 writes the columns of one row of acc selected by the masks Y12, Y13
// to C at DX, and returns after the last of R11 rows.
#define EDGE0(lo, hi) \
	VMASKMOVPS lo, Y12, (DX);   \
	VMASKMOVPS hi, Y13, 32(DX); \
	ADDQ       R8, DX;          \
	DECQ       R11;             \
	JEQ        done

// EDGEB is EDGE0 writing acc + beta·C (beta in Y15), reading only the
// selected columns of C; it clobbers Y14.
#define EDGEB(lo, hi) \
	VMASKMOVPS  (DX), Y12, Y14;   \
	VFMADD231PS Y14, Y15, lo;     \
	VMASKMOVPS  32(DX), Y13, Y14; \
	VFMADD231PS Y14, Y15, hi;     \
	VMASKMOVPS  lo, Y12, (DX);    \
	VMASKMOVPS  hi, Y13, 32(DX);  \
	ADDQ        R8, DX;           \
	DECQ        R11;              \
	JEQ         done

// func sgemmKernel6x16(k int, a, b, c *float32, ldc int, alpha, beta float32, rows, cols int)
TEXT ·sgemmKernel6x16(SB), NOSPLIT, $0-64
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8

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

	MOVQ CX, R9
	SHRQ $2, R9
	JEQ  tail

loop4:
	STEP(0, 32, 0, 4, 8, 12, 16, 20)
	STEP(64, 96, 24, 28, 32, 36, 40, 44)
	STEP(128, 160, 48, 52, 56, 60, 64, 68)
	STEP(192, 224, 72, 76, 80, 84, 88, 92)
	ADDQ $96, SI
	ADDQ $256, DI
	DECQ R9
	JNE  loop4

tail:
	ANDQ $3, CX
	JEQ  scale

loop1:
	STEP(0, 32, 0, 4, 8, 12, 16, 20)
	ADDQ $24, SI
	ADDQ $64, DI
	DECQ CX
	JNE  loop1

scale:
	MOVL         alpha+40(FP), AX
	CMPL         AX, $0x3f800000
	JEQ          scaled
	VBROADCASTSS alpha+40(FP), Y14
	VMULPS       Y14, Y0, Y0
	VMULPS       Y14, Y1, Y1
	VMULPS       Y14, Y2, Y2
	VMULPS       Y14, Y3, Y3
	VMULPS       Y14, Y4, Y4
	VMULPS       Y14, Y5, Y5
	VMULPS       Y14, Y6, Y6
	VMULPS       Y14, Y7, Y7
	VMULPS       Y14, Y8, Y8
	VMULPS       Y14, Y9, Y9
	VMULPS       Y14, Y10, Y10
	VMULPS       Y14, Y11, Y11

scaled:
	VBROADCASTSS beta+44(FP), Y15
	MOVQ         rows+48(FP), R11
	MOVQ         cols+56(FP), R12
	CMPQ         R11, $6
	JNE          edge
	CMPQ         R12, $16
	JNE          edge

	VXORPS   X14, X14, X14
	VUCOMISS X14, X15
	JNE      fullbeta
	JPS      fullbeta
	STORE0(Y0, Y1)
	STORE0(Y2, Y3)
	STORE0(Y4, Y5)
	STORE0(Y6, Y7)
	STORE0(Y8, Y9)
	STORE0(Y10, Y11)
	VZEROUPPER
	RET

fullbeta:
	STOREB(Y0, Y1)
	STOREB(Y2, Y3)
	STOREB(Y4, Y5)
	STOREB(Y6, Y7)
	STOREB(Y8, Y9)
	STOREB(Y10, Y11)
	VZEROUPPER
	RET

edge:
	CMPQ     R12, $16
	JEQ      rowsonly
	LEAQ     ·tailMask(SB), R13
	MOVQ     $16, AX
	SUBQ     R12, AX
	VMOVUPS  (R13)(AX*4), Y12
	VMOVUPS  32(R13)(AX*4), Y13
	VXORPS   X14, X14, X14
	VUCOMISS X14, X15
	JNE      edgebeta
	JPS      edgebeta
	EDGE0(Y0, Y1)
	EDGE0(Y2, Y3)
	EDGE0(Y4, Y5)
	EDGE0(Y6, Y7)
	EDGE0(Y8, Y9)
	EDGE0(Y10, Y11)
	JMP      done

edgebeta:
	EDGEB(Y0, Y1)
	EDGEB(Y2, Y3)
	EDGEB(Y4, Y5)
	EDGEB(Y6, Y7)
	EDGEB(Y8, Y9)
	EDGEB(Y10, Y11)
	JMP   done

rowsonly:
	VXORPS   X14, X14, X14
	VUCOMISS X14, X15
	JNE      rowsbeta
	JPS      rowsbeta
	ROW0(Y0, Y1)
	ROW0(Y2, Y3)
	ROW0(Y4, Y5)
	ROW0(Y6, Y7)
	ROW0(Y8, Y9)
	JMP      done

rowsbeta:
	ROWB(Y0, Y1)
	ROWB(Y2, Y3)
	ROWB(Y4, Y5)
	ROWB(Y6, Y7)
	ROWB(Y8, Y9)

done:
	VZEROUPPER
	RET
