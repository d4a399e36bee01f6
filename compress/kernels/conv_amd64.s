//go:build !purego

#include "textflag.h"

// func copyBlockAVX(dst, src *float32, rows, cols, dstStride, srcStride int)
TEXT ·copyBlockAVX(SB), NOSPLIT, $0-48
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  rows+16(FP), BX
	MOVQ  cols+24(FP), R8
	MOVQ  dstStride+32(FP), R9
	MOVQ  srcStride+40(FP), R10
	SHLQ  $2, R9
	SHLQ  $2, R10
	TESTQ BX, BX
	JEQ   cdone
	TESTQ R8, R8
	JEQ   cdone

	// Y15 masks the cols%8 tail.
	MOVQ    R8, AX
	ANDQ    $7, AX
	MOVQ    $16, CX
	SUBQ    AX, CX
	LEAQ    ·tailMask(SB), DX
	VMOVUPS (DX)(CX*4), Y15

crow:
	MOVQ DI, R11
	MOVQ SI, R12
	MOVQ R8, CX
	CMPQ CX, $8
	JLT  ctail

c8:
	VMOVUPS (R12), Y0
	VMOVUPS Y0, (R11)
	ADDQ    $32, R11
	ADDQ    $32, R12
	SUBQ    $8, CX
	CMPQ    CX, $8
	JGE     c8

ctail:
	TESTQ      CX, CX
	JEQ        cnext
	VMASKMOVPS (R12), Y15, Y0
	VMASKMOVPS Y0, Y15, (R11)

cnext:
	ADDQ R9, DI
	ADDQ R10, SI
	DECQ BX
	JNE  crow

cdone:
	VZEROUPPER
	RET

// func addBlockAVX(dst, src *float32, rows, cols, dstStride, srcStride int)
TEXT ·addBlockAVX(SB), NOSPLIT, $0-48
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  rows+16(FP), BX
	MOVQ  cols+24(FP), R8
	MOVQ  dstStride+32(FP), R9
	MOVQ  srcStride+40(FP), R10
	SHLQ  $2, R9
	SHLQ  $2, R10
	TESTQ BX, BX
	JEQ   adone
	TESTQ R8, R8
	JEQ   adone

	MOVQ    R8, AX
	ANDQ    $7, AX
	MOVQ    $16, CX
	SUBQ    AX, CX
	LEAQ    ·tailMask(SB), DX
	VMOVUPS (DX)(CX*4), Y15

arow:
	MOVQ DI, R11
	MOVQ SI, R12
	MOVQ R8, CX
	CMPQ CX, $8
	JLT  atail

a8:
	VMOVUPS (R11), Y0
	VADDPS  (R12), Y0, Y0
	VMOVUPS Y0, (R11)
	ADDQ    $32, R11
	ADDQ    $32, R12
	SUBQ    $8, CX
	CMPQ    CX, $8
	JGE     a8

atail:
	TESTQ      CX, CX
	JEQ        anext
	VMASKMOVPS (R11), Y15, Y0
	VMASKMOVPS (R12), Y15, Y1
	VADDPS     Y1, Y0, Y0
	VMASKMOVPS Y0, Y15, (R11)

anext:
	ADDQ R9, DI
	ADDQ R10, SI
	DECQ BX
	JNE  arow

adone:
	VZEROUPPER
	RET
