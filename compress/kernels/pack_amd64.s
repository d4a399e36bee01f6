//go:build !purego

#include "textflag.h"

// TRANSPOSE8 transposes the 8×8 block with rows in Y0..Y7 into columns in
// Y8..Y15 (Y8 holds element 0 of every row, …). Y0..Y7 are clobbered.
#define TRANSPOSE8 \
	VUNPCKLPS  Y1, Y0, Y8;          \
	VUNPCKHPS  Y1, Y0, Y9;          \
	VUNPCKLPS  Y3, Y2, Y10;         \
	VUNPCKHPS  Y3, Y2, Y11;         \
	VUNPCKLPS  Y5, Y4, Y12;         \
	VUNPCKHPS  Y5, Y4, Y13;         \
	VUNPCKLPS  Y7, Y6, Y14;         \
	VUNPCKHPS  Y7, Y6, Y15;         \
	VSHUFPS    $0x44, Y10, Y8, Y0;  \
	VSHUFPS    $0xEE, Y10, Y8, Y1;  \
	VSHUFPS    $0x44, Y11, Y9, Y2;  \
	VSHUFPS    $0xEE, Y11, Y9, Y3;  \
	VSHUFPS    $0x44, Y14, Y12, Y4; \
	VSHUFPS    $0xEE, Y14, Y12, Y5; \
	VSHUFPS    $0x44, Y15, Y13, Y6; \
	VSHUFPS    $0xEE, Y15, Y13, Y7; \
	VPERM2F128 $0x20, Y4, Y0, Y8;   \
	VPERM2F128 $0x20, Y5, Y1, Y9;   \
	VPERM2F128 $0x20, Y6, Y2, Y10;  \
	VPERM2F128 $0x20, Y7, Y3, Y11;  \
	VPERM2F128 $0x31, Y4, Y0, Y12;  \
	VPERM2F128 $0x31, Y5, Y1, Y13;  \
	VPERM2F128 $0x31, Y6, Y2, Y14;  \
	VPERM2F128 $0x31, Y7, Y3, Y15

// LOAD8 loads 8 floats from each of the 8 rows at SI, SI+DX, …, SI+7·DX
// (R8 = 3·DX) into Y0..Y7.
#define LOAD8 \
	LEAQ    (SI)(DX*4), R10;  \
	VMOVUPS (SI), Y0;         \
	VMOVUPS (SI)(DX*1), Y1;   \
	VMOVUPS (SI)(DX*2), Y2;   \
	VMOVUPS (SI)(R8*1), Y3;   \
	VMOVUPS (R10), Y4;        \
	VMOVUPS (R10)(DX*1), Y5;  \
	VMOVUPS (R10)(DX*2), Y6;  \
	VMOVUPS (R10)(R8*1), Y7

// STORE16 stores the transposed columns Y8..Y15 as half h (byte offset h)
// of eight consecutive 16-float rows at DI.
#define STORE16(h) \
	VMOVUPS Y8, (0*64+h)(DI);  \
	VMOVUPS Y9, (1*64+h)(DI);  \
	VMOVUPS Y10, (2*64+h)(DI); \
	VMOVUPS Y11, (3*64+h)(DI); \
	VMOVUPS Y12, (4*64+h)(DI); \
	VMOVUPS Y13, (5*64+h)(DI); \
	VMOVUPS Y14, (6*64+h)(DI); \
	VMOVUPS Y15, (7*64+h)(DI)

// func packBT16(dst, src *float32, kb8, ldb int)
TEXT ·packBT16(SB), NOSPLIT, $0-32
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), AX
	MOVQ  kb8+16(FP), CX
	MOVQ  ldb+24(FP), DX
	SHLQ  $2, DX
	LEAQ  (DX)(DX*2), R8
	LEAQ  (DX*8), BX
	TESTQ CX, CX
	JEQ   bt16done

bt16loop:
	MOVQ AX, SI
	LOAD8
	TRANSPOSE8
	STORE16(0)
	LEAQ (AX)(BX*1), SI
	LOAD8
	TRANSPOSE8
	STORE16(32)
	ADDQ $32, AX
	ADDQ $512, DI
	DECQ CX
	JNE  bt16loop

bt16done:
	VZEROUPPER
	RET

// STORE6 stores the first six floats of column y (x is its low half) at
// byte offset off of DI, clobbering X0.
#define STORE6(y, x, off) \
	VMOVUPS      x, off(DI);     \
	VEXTRACTF128 $1, y, X0;      \
	VMOVQ        X0, (off+16)(DI)

// func packA6(dst, src *float32, kb8, lda int)
TEXT ·packA6(SB), NOSPLIT, $0-32
	MOVQ   dst+0(FP), DI
	MOVQ   src+8(FP), SI
	MOVQ   kb8+16(FP), CX
	MOVQ   lda+24(FP), DX
	SHLQ   $2, DX
	LEAQ   (DX)(DX*2), R8
	TESTQ  CX, CX
	JEQ    a6done

a6loop:
	LEAQ    (SI)(DX*4), R10
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(DX*1), Y1
	VMOVUPS (SI)(DX*2), Y2
	VMOVUPS (SI)(R8*1), Y3
	VMOVUPS (R10), Y4
	VMOVUPS (R10)(DX*1), Y5
	VXORPS  Y6, Y6, Y6
	VXORPS  Y7, Y7, Y7
	TRANSPOSE8
	STORE6(Y8, X8, 0)
	STORE6(Y9, X9, 24)
	STORE6(Y10, X10, 48)
	STORE6(Y11, X11, 72)
	STORE6(Y12, X12, 96)
	STORE6(Y13, X13, 120)
	STORE6(Y14, X14, 144)
	STORE6(Y15, X15, 168)
	ADDQ $32, SI
	ADDQ $192, DI
	DECQ CX
	JNE  a6loop

a6done:
	VZEROUPPER
	RET

// func packAT6(dst, src *float32, kb, lda, rows int)
TEXT ·packAT6(SB), NOSPLIT, $0-40
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    kb+16(FP), CX
	MOVQ    lda+24(FP), DX
	MOVQ    rows+32(FP), AX
	SHLQ    $2, DX
	MOVQ    $16, BX
	SUBQ    AX, BX
	LEAQ    ·tailMask(SB), R8
	VMOVUPS (R8)(BX*4), Y15
	TESTQ   CX, CX
	JEQ     at6done
	CMPQ    AX, $6
	JNE     at6loop

at6full:
	VMOVUPS (SI), X0
	VMOVQ   16(SI), X1
	VMOVUPS X0, (DI)
	VMOVQ   X1, 16(DI)
	ADDQ    DX, SI
	ADDQ    $24, DI
	DECQ    CX
	JNE     at6full
	JMP     at6done

at6loop:
	VMASKMOVPS   (SI), Y15, Y0
	VMOVUPS      X0, (DI)
	VEXTRACTF128 $1, Y0, X1
	VMOVQ        X1, 16(DI)
	ADDQ         DX, SI
	ADDQ         $24, DI
	DECQ         CX
	JNE          at6loop

at6done:
	VZEROUPPER
	RET

// func packB16N(dst, src *float32, kb, ldb, cols int)
TEXT ·packB16N(SB), NOSPLIT, $0-40
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    kb+16(FP), CX
	MOVQ    ldb+24(FP), DX
	MOVQ    cols+32(FP), AX
	SHLQ    $2, DX
	MOVQ    $16, BX
	SUBQ    AX, BX
	LEAQ    ·tailMask(SB), R8
	VMOVUPS (R8)(BX*4), Y14
	VMOVUPS 32(R8)(BX*4), Y15
	TESTQ   CX, CX
	JEQ     b16ndone

b16nloop:
	VMASKMOVPS (SI), Y14, Y0
	VMASKMOVPS 32(SI), Y15, Y1
	VMOVUPS    Y0, (DI)
	VMOVUPS    Y1, 32(DI)
	ADDQ       DX, SI
	ADDQ       $64, DI
	DECQ       CX
	JNE        b16nloop

b16ndone:
	VZEROUPPER
	RET

// func packBRows(dst, src *float32, rows, slivers, ldb, kb int)
TEXT ·packBRows(SB), NOSPLIT, $0-48
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  rows+16(FP), R8
	MOVQ  slivers+24(FP), CX
	MOVQ  ldb+32(FP), DX
	MOVQ  kb+40(FP), R9
	SHLQ  $2, DX
	SHLQ  $6, R9
	TESTQ CX, CX
	JEQ   brdone
	TESTQ R8, R8
	JEQ   brdone

brsliver:
	MOVQ SI, R11
	MOVQ DI, R12
	MOVQ R8, BX

brrow:
	VMOVUPS (R11), Y0
	VMOVUPS 32(R11), Y1
	VMOVUPS Y0, (R12)
	VMOVUPS Y1, 32(R12)
	ADDQ    DX, R11
	ADDQ    $64, R12
	DECQ    BX
	JNE     brrow

	ADDQ $64, SI
	ADDQ R9, DI
	DECQ CX
	JNE  brsliver

brdone:
	VZEROUPPER
	RET
