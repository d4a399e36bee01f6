//go:build !purego

#include "textflag.h"

// Row copies of PadPhases in AVX2, for CPUs without AVX-512: a row of w
// floats is moved in chunks of 16 (two YMM), so a whole plane is one call.
// The last, partial chunk of a long row is one more whole chunk ending at
// the row's end, overlapping the one before it (rewriting floats with the
// values they hold); a row too short for that goes through VMASKMOVPS with
// masks from tailMask (on Zen 3 masked tails made PadPhases on 28-float
// rows about twice as slow). No float outside a row's first w is read from
// the source or written to a destination.

// LOADMASK sets y to the 8 lanes of tailMask (BX) from base−CX: with base
// 16 the mask of the first CX (0–16) floats of a vector, with base 24 that
// of floats 8…CX−1 of two. It clobbers AX.
#define LOADMASK(base, y) \
	MOVQ    $base, AX;      \
	SUBQ    CX, AX;         \
	VMOVUPS (BX)(AX*4), y

// SPLIT puts the floats at even places of the 16 in Y0, Y1 in Y2 and
// those at odd places in Y3, in order: VSHUFPS takes elements 0, 2 (or 1,
// 3) of each 128-bit lane of both (0 2 8 10 | 4 6 12 14), VPERMPD puts the
// pairs back in order.
#define SPLIT \
	VSHUFPS $0x88, Y1, Y0, Y2; \
	VSHUFPS $0xDD, Y1, Y0, Y3; \
	VPERMPD $0xD8, Y2, Y2;     \
	VPERMPD $0xD8, Y3, Y3

// func padRowsAVX2(dst, src *float32, rows, w, srcStride, dstStride int)
//
// Copies rows rows of w floats, row r at src + r·srcStride, to
// dst + r·dstStride (strides in floats): 16 floats at a time, then 8, then
// the last w mod 8 as the 8 floats ending the row, or through a mask when
// w < 8.
TEXT ·padRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  rows+16(FP), R8
	MOVQ  w+24(FP), R9
	MOVQ  srcStride+32(FP), R10
	MOVQ  dstStride+40(FP), R11
	SHLQ  $2, R10
	SHLQ  $2, R11
	TESTQ R8, R8
	JEQ   pdone

	// Full chunks per row in R12, w mod 8 in CX and, for w < 8, its mask
	// in Y15.
	MOVQ R9, R12
	SHRQ $4, R12
	MOVQ R9, CX
	ANDQ $7, CX
	LEAQ ·tailMask(SB), BX
	LOADMASK(16, Y15)

prow:
	MOVQ  SI, R13
	MOVQ  DI, DX
	MOVQ  R12, BX
	TESTQ BX, BX
	JEQ   peight

pfull:
	VMOVUPS (R13), Y0
	VMOVUPS 32(R13), Y1
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	ADDQ    $64, R13
	ADDQ    $64, DX
	DECQ    BX
	JNE     pfull

peight:
	TESTQ   $8, R9
	JEQ     ptail
	VMOVUPS (R13), Y0
	VMOVUPS Y0, (DX)
	ADDQ    $32, R13
	ADDQ    $32, DX

ptail:
	TESTQ CX, CX
	JEQ   pnext
	CMPQ  R9, $8
	JLT   pmasked

	// The 8 floats ending the row.
	VMOVUPS -32(R13)(CX*4), Y0
	VMOVUPS Y0, -32(DX)(CX*4)
	JMP     pnext

pmasked:
	VMASKMOVPS (R13), Y15, Y0
	VMASKMOVPS Y0, Y15, (DX)

pnext:
	ADDQ R10, SI
	ADDQ R11, DI
	DECQ R8
	JNE  prow

pdone:
	VZEROUPPER
	RET

// func splitRowsAVX2(even, odd, src *float32, rows, w, srcStride, dstStride int)
//
// For rows rows of w floats, row r at src + r·srcStride: the floats at
// even columns go to even + r·dstStride, those at odd columns to
// odd + r·dstStride (strides in floats). Where w mod 16 ≠ 0 the last
// chunk is, for w > 16, the 16 floats from column o = w−16: at an odd o
// its floats at even places are odd columns, so the two halves trade
// destinations. For w < 16 it is loaded through two masks and its ⌈w/2⌉
// even and ⌊w/2⌋ odd floats stored through two more.
TEXT ·splitRowsAVX2(SB), NOSPLIT, $0-56
	MOVQ  even+0(FP), DI
	MOVQ  odd+8(FP), DX
	MOVQ  src+16(FP), SI
	MOVQ  rows+24(FP), R8
	MOVQ  w+32(FP), R9
	MOVQ  srcStride+40(FP), R10
	MOVQ  dstStride+48(FP), R11
	SHLQ  $2, R10
	SHLQ  $2, R11
	TESTQ R8, R8
	JEQ   sdone

	// Full chunks per row in R12. R9 says what follows them: 0 nothing;
	// −1 a masked chunk, with load masks in Y12, Y13 and store masks in
	// Y14 (even), Y15 (odd); otherwise the byte offset 4·o of the chunk at
	// column o, whose even places go to BX and odd places to R13 (row 0).
	MOVQ R9, R12
	SHRQ $4, R12
	MOVQ R9, CX
	ANDQ $15, CX
	JEQ  snotail
	CMPQ R9, $16
	JLT  smasks
	LEAQ -16(R9), CX // o
	MOVQ DI, BX
	MOVQ DX, R13
	TESTQ $1, CX
	JEQ  sparity
	MOVQ DX, BX
	MOVQ DI, R13

sparity:
	MOVQ CX, AX
	ANDQ $-2, AX
	LEAQ (BX)(AX*2), BX // + 4·⌊o/2⌋ bytes
	LEAQ 1(CX), AX
	ANDQ $-2, AX
	LEAQ (R13)(AX*2), R13 // + 4·⌈o/2⌉ bytes
	LEAQ (CX*4), R9
	JMP  srow

smasks:
	LEAQ ·tailMask(SB), BX
	LOADMASK(16, Y12)
	LOADMASK(24, Y13)
	INCQ CX
	SHRQ $1, CX
	LOADMASK(16, Y14)
	MOVQ R9, CX
	SHRQ $1, CX
	LOADMASK(16, Y15)
	MOVQ $-1, R9
	JMP  srow

snotail:
	XORQ R9, R9

srow:
	XORQ  AX, AX // byte offset in the outputs; twice it in the row
	MOVQ  R12, CX
	TESTQ CX, CX
	JEQ   stail

sfull:
	VMOVUPS (SI)(AX*2), Y0
	VMOVUPS 32(SI)(AX*2), Y1
	SPLIT
	VMOVUPS Y2, (DI)(AX*1)
	VMOVUPS Y3, (DX)(AX*1)
	ADDQ    $32, AX
	DECQ    CX
	JNE     sfull

stail:
	TESTQ R9, R9
	JEQ   snext
	JLT   smasked
	VMOVUPS (SI)(R9*1), Y0
	VMOVUPS 32(SI)(R9*1), Y1
	SPLIT
	VMOVUPS Y2, (BX)
	VMOVUPS Y3, (R13)
	ADDQ    R11, BX
	ADDQ    R11, R13
	JMP     snext

smasked:
	VMASKMOVPS (SI)(AX*2), Y12, Y0
	VMASKMOVPS 32(SI)(AX*2), Y13, Y1
	SPLIT
	VMASKMOVPS Y2, Y14, (DI)(AX*1)
	VMASKMOVPS Y3, Y15, (DX)(AX*1)

snext:
	ADDQ R10, SI
	ADDQ R11, DI
	ADDQ R11, DX
	DECQ R8
	JNE  srow

sdone:
	VZEROUPPER
	RET
