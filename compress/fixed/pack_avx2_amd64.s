//go:build amd64 && !purego

#include "textflag.h"

// AVX2 packing of A micro-panels of 6 rows widened to int16, the operand of
// the AVX2 kernels (avx2Rows6 …): packAI16 in gemm.go states the layout.
// DI holds row 0's base (a + off[0]) and R8–R12 the other rows' offsets
// from it; DX walks the segment offsets, AX counts the segments left, CX
// the groups left in the current segment; SI points at row 0's next
// group and BX at the next group of dst.

// I16BLOCK packs 4 groups (16 bytes) of each of the 6 rows: each row's 16
// bytes widen to 4 64-bit lanes, one group each (r0g0 r0g1 | r0g2 r0g3 for
// row 0). Unpacking pairs of rows by 64-bit lane gives r0g0 r1g0 | r0g2
// r1g2 (Y6) and r0g1 r1g1 | r0g3 r1g3 (Y7), rows 2–3 in Y8, Y9 and rows
// 4–5 in Y10, Y11; pairing their 128-bit halves gives the 4 groups' 48-byte
// blocks back to back, rows 0–5 in each:
//
//	r0g0 r1g0 r2g0 r3g0 | r4g0 r5g0 r0g1 r1g1 | r2g1 r3g1 r4g1 r5g1 | …g2, g3
#define I16BLOCK \
	VPMOVZXBW   (SI), Y0;           \
	VPMOVZXBW   (SI)(R8*1), Y1;     \
	VPMOVZXBW   (SI)(R9*1), Y2;     \
	VPMOVZXBW   (SI)(R10*1), Y3;    \
	VPMOVZXBW   (SI)(R11*1), Y4;    \
	VPMOVZXBW   (SI)(R12*1), Y5;    \
	VPUNPCKLQDQ Y1, Y0, Y6;         \
	VPUNPCKHQDQ Y1, Y0, Y7;         \
	VPUNPCKLQDQ Y3, Y2, Y8;         \
	VPUNPCKHQDQ Y3, Y2, Y9;         \
	VPUNPCKLQDQ Y5, Y4, Y10;        \
	VPUNPCKHQDQ Y5, Y4, Y11;        \
	VPERM2I128  $0x20, Y8, Y6, Y0;  \
	VPERM2I128  $0x20, Y7, Y10, Y1; \
	VPERM2I128  $0x20, Y11, Y9, Y2; \
	VPERM2I128  $0x31, Y8, Y6, Y3;  \
	VPERM2I128  $0x31, Y7, Y10, Y4; \
	VPERM2I128  $0x31, Y11, Y9, Y5; \
	VMOVDQU     Y0, (BX);           \
	VMOVDQU     Y1, 32(BX);         \
	VMOVDQU     Y2, 64(BX);         \
	VMOVDQU     Y3, 96(BX);         \
	VMOVDQU     Y4, 128(BX);        \
	VMOVDQU     Y5, 160(BX)

// I16GROUP widens one group (4 bytes, read as such) of the row at src into
// its 8 bytes at dst.
#define I16GROUP(src, dst) \
	VMOVD     src, X0; \
	VPMOVZXBW X0, X0;  \
	VMOVQ     X0, dst

// func packAI16x6(dst *int16, a *uint8, off *int, segs *int, nseg, sg int)
TEXT ·packAI16x6(SB), NOSPLIT, $0-48
	MOVQ off+16(FP), DX
	MOVQ (DX), DI
	MOVQ 8(DX), R8
	SUBQ DI, R8
	MOVQ 16(DX), R9
	SUBQ DI, R9
	MOVQ 24(DX), R10
	SUBQ DI, R10
	MOVQ 32(DX), R11
	SUBQ DI, R11
	MOVQ 40(DX), R12
	SUBQ DI, R12
	ADDQ a+8(FP), DI
	MOVQ dst+0(FP), BX
	MOVQ segs+24(FP), DX
	MOVQ nseg+32(FP), AX
	TESTQ AX, AX
	JZ    i16done

i16seg:
	MOVQ (DX), SI
	ADDQ DI, SI
	MOVQ sg+40(FP), CX
	CMPQ CX, $4
	JB   i16tail

i16block:
	I16BLOCK
	ADDQ $16, SI
	ADDQ $192, BX
	SUBQ $4, CX
	CMPQ CX, $4
	JAE  i16block

i16tail:
	TESTQ CX, CX
	JZ    i16next

i16group:
	I16GROUP((SI), (BX))
	I16GROUP((SI)(R8*1), 8(BX))
	I16GROUP((SI)(R9*1), 16(BX))
	I16GROUP((SI)(R10*1), 24(BX))
	I16GROUP((SI)(R11*1), 32(BX))
	I16GROUP((SI)(R12*1), 40(BX))
	ADDQ $4, SI
	ADDQ $48, BX
	DECQ CX
	JNZ  i16group

i16next:
	ADDQ $8, DX
	DECQ AX
	JNZ  i16seg

i16done:
	VZEROUPPER
	RET
