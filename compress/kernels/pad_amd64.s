//go:build !purego

#include "textflag.h"

// Row copies of PadPhases in AVX-512 F: a row of w floats is moved in
// chunks of 32 (two ZMM), the last chunk through masks, so a whole plane
// is one call.

// CHUNKMASKS sets K1, K2 to the load masks of a chunk of CX (1–32) floats
// and K3, K4 to the store masks of its ⌈CX/2⌉ even and ⌊CX/2⌋ odd ones;
// it clobbers AX, BX and CX.
#define CHUNKMASKS \
	MOVQ  CX, BX;     \
	MOVQ  $1, AX;     \
	SHLQ  CX, AX;     \
	DECQ  AX;         \
	KMOVW AX, K1;     \
	SHRQ  $16, AX;    \
	KMOVW AX, K2;     \
	MOVQ  BX, CX;     \
	INCQ  CX;         \
	SHRQ  $1, CX;     \
	MOVQ  $1, AX;     \
	SHLQ  CX, AX;     \
	DECQ  AX;         \
	KMOVW AX, K3;     \
	MOVQ  BX, CX;     \
	SHRQ  $1, CX;     \
	MOVQ  $1, AX;     \
	SHLQ  CX, AX;     \
	DECQ  AX;         \
	KMOVW AX, K4

// func padRows512(dst, src *float32, rows, w, srcStride, dstStride int)
//
// Copies rows rows of w floats, row r at src + r·srcStride, to
// dst + r·dstStride (strides in floats).
TEXT ·padRows512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), R8
	MOVQ w+24(FP), R9
	MOVQ srcStride+32(FP), R10
	MOVQ dstStride+40(FP), R11
	SHLQ $2, R10
	SHLQ $2, R11
	// Full chunks per row in R12, the last chunk's masks in K1, K2.
	MOVQ R9, R12
	SHRQ $5, R12
	MOVQ R9, CX
	ANDQ $31, CX
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K1
	SHRQ $16, AX
	KMOVW AX, K2
	TESTQ R8, R8
	JEQ  pdone

prow:
	MOVQ SI, R13
	MOVQ DI, DX
	MOVQ R12, BX
	TESTQ BX, BX
	JEQ  ptail

pfull:
	VMOVUPS (R13), Z0
	VMOVUPS 64(R13), Z1
	VMOVUPS Z0, (DX)
	VMOVUPS Z1, 64(DX)
	ADDQ $128, R13
	ADDQ $128, DX
	DECQ BX
	JNE  pfull

ptail:
	VMOVUPS.Z (R13), K1, Z0
	VMOVUPS.Z 64(R13), K2, Z1
	VMOVUPS Z0, K1, (DX)
	VMOVUPS Z1, K2, 64(DX)
	ADDQ R10, SI
	ADDQ R11, DI
	DECQ R8
	JNE  prow

pdone:
	VZEROUPPER
	RET

// func splitRows512(even, odd, src *float32, rows, w, srcStride, dstStride int, idx *int32)
//
// For rows rows of w floats, row r at src + r·srcStride: the floats at
// even columns go to even + r·dstStride, those at odd columns to
// odd + r·dstStride (strides in floats). idx holds the 32 indices
// 0, 2, …, 30, 1, 3, …, 31 that VPERMI2PS gathers them with.
TEXT ·splitRows512(SB), NOSPLIT, $0-64
	MOVQ even+0(FP), DI
	MOVQ odd+8(FP), DX
	MOVQ src+16(FP), SI
	MOVQ rows+24(FP), R8
	MOVQ w+32(FP), R9
	MOVQ srcStride+40(FP), R10
	MOVQ dstStride+48(FP), R11
	MOVQ idx+56(FP), AX
	VMOVUPS (AX), Z30 // even indices
	VMOVUPS 64(AX), Z31 // odd indices
	SHLQ $2, R10
	SHLQ $2, R11
	MOVQ R9, R12
	SHRQ $5, R12 // full chunks per row
	MOVQ R9, CX
	ANDQ $31, CX
	JEQ  snotail
	CHUNKMASKS

snotail:
	TESTQ R8, R8
	JEQ  sdone

srow:
	XORQ AX, AX // byte offset in the outputs; twice it in the row
	MOVQ R12, BX
	TESTQ BX, BX
	JEQ  stail

sfull:
	VMOVUPS   (SI)(AX*2), Z0
	VMOVUPS   64(SI)(AX*2), Z1
	VMOVAPS   Z30, Z2
	VPERMI2PS Z1, Z0, Z2
	VMOVAPS   Z31, Z3
	VPERMI2PS Z1, Z0, Z3
	VMOVUPS   Z2, (DI)(AX*1)
	VMOVUPS   Z3, (DX)(AX*1)
	ADDQ      $64, AX
	DECQ      BX
	JNE       sfull

stail:
	MOVQ R9, CX
	ANDQ $31, CX
	JEQ  snext
	VMOVUPS.Z (SI)(AX*2), K1, Z0
	VMOVUPS.Z 64(SI)(AX*2), K2, Z1
	VMOVAPS   Z30, Z2
	VPERMI2PS Z1, Z0, Z2
	VMOVAPS   Z31, Z3
	VPERMI2PS Z1, Z0, Z3
	VMOVUPS   Z2, K3, (DI)(AX*1)
	VMOVUPS   Z3, K4, (DX)(AX*1)

snext:
	ADDQ R10, SI
	ADDQ R11, DI
	ADDQ R11, DX
	DECQ R8
	JNE  srow

sdone:
	VZEROUPPER
	RET
