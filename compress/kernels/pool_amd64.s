//go:build !purego

#include "textflag.h"

// laneIdx holds 0..7; laneSwap the same with neighbours swapped; evenLanes
// gathers lanes 0, 2, 4, 6 into the low half; eights is 8 in four lanes.
DATA laneIdx<>+0(SB)/4, $0
DATA laneIdx<>+4(SB)/4, $1
DATA laneIdx<>+8(SB)/4, $2
DATA laneIdx<>+12(SB)/4, $3
DATA laneIdx<>+16(SB)/4, $4
DATA laneIdx<>+20(SB)/4, $5
DATA laneIdx<>+24(SB)/4, $6
DATA laneIdx<>+28(SB)/4, $7
GLOBL laneIdx<>(SB), RODATA|NOPTR, $32

DATA laneSwap<>+0(SB)/4, $1
DATA laneSwap<>+4(SB)/4, $0
DATA laneSwap<>+8(SB)/4, $3
DATA laneSwap<>+12(SB)/4, $2
DATA laneSwap<>+16(SB)/4, $5
DATA laneSwap<>+20(SB)/4, $4
DATA laneSwap<>+24(SB)/4, $7
DATA laneSwap<>+28(SB)/4, $6
GLOBL laneSwap<>(SB), RODATA|NOPTR, $32

DATA evenLanes<>+0(SB)/4, $0
DATA evenLanes<>+4(SB)/4, $2
DATA evenLanes<>+8(SB)/4, $4
DATA evenLanes<>+12(SB)/4, $6
DATA evenLanes<>+16(SB)/4, $0
DATA evenLanes<>+20(SB)/4, $2
DATA evenLanes<>+24(SB)/4, $4
DATA evenLanes<>+28(SB)/4, $6
GLOBL evenLanes<>(SB), RODATA|NOPTR, $32

DATA eights<>+0(SB)/4, $8
DATA eights<>+4(SB)/4, $8
DATA eights<>+8(SB)/4, $8
DATA eights<>+12(SB)/4, $8
GLOBL eights<>(SB), RODATA|NOPTR, $16

// func maxPool2x2AVX2(dst *float32, argmax *int32, r0, r1 *float32, chunks, w int, base int32)
//
// For each chunk of 8 input columns it pools the pairs of r0 (image row 2y)
// and r1 (row 2y+1) into 4 outputs: the larger of each row's pair (the left
// on ties), then row 1's winner if strictly larger than row 0's.
// argmax, if not nil, gets base + 8·chunk + {0, 1, w, w+1}.
TEXT ·maxPool2x2AVX2(SB), NOSPLIT, $0-52
	MOVQ dst+0(FP), DI
	MOVQ argmax+8(FP), BX
	MOVQ r0+16(FP), SI
	MOVQ r1+24(FP), DX
	MOVQ chunks+32(FP), CX

	VMOVDQU      laneIdx<>(SB), Y10
	VMOVDQU      laneSwap<>(SB), Y11
	MOVQ         w+40(FP), AX
	VMOVD        AX, X12
	VPBROADCASTD X12, Y12
	VPADDD       Y10, Y12, Y13
	VPADDD       Y11, Y12, Y12
	VMOVDQU      evenLanes<>(SB), Y14
	MOVL         base+48(FP), AX
	VMOVD        AX, X15
	VPBROADCASTD X15, X15
	TESTQ        CX, CX
	JEQ          pdone

ploop:
	// Row 0: Y4 = pair winners at even lanes, Y5 their column offsets.
	VMOVUPS   (SI), Y0
	VPERMILPS $0xB1, Y0, Y2
	VCMPPS    $0x1e, Y0, Y2, Y3
	VBLENDVPS Y3, Y2, Y0, Y4
	VBLENDVPS Y3, Y11, Y10, Y5

	// Row 1: Y6 winners, Y7 offsets (+w).
	VMOVUPS   (DX), Y1
	VPERMILPS $0xB1, Y1, Y2
	VCMPPS    $0x1e, Y1, Y2, Y3
	VBLENDVPS Y3, Y2, Y1, Y6
	VBLENDVPS Y3, Y12, Y13, Y7

	// Row 1 wins only if strictly larger.
	VCMPPS    $0x1e, Y4, Y6, Y8
	VBLENDVPS Y8, Y6, Y4, Y0
	VBLENDVPS Y8, Y7, Y5, Y1
	VPERMPS   Y0, Y14, Y0
	VMOVUPS   X0, (DI)

	TESTQ   BX, BX
	JEQ     pnext
	VPERMPS Y1, Y14, Y1
	VPADDD  X15, X1, X1
	VMOVDQU X1, (BX)
	ADDQ    $16, BX

pnext:
	VPADDD eights<>(SB), X15, X15
	ADDQ   $32, SI
	ADDQ   $32, DX
	ADDQ   $16, DI
	DECQ   CX
	JNE    ploop

pdone:
	VZEROUPPER
	RET

// func maxPoolRowSSE(dst, src *float32, ow, k, stride, w int)
//
// One output row of a k×k max pool without argmax: dst[x] is the window
// at src + x·stride (rows w floats apart) folded in row-major order from
// its first element by m = v > m ? v : m (MAXSS with the new value as
// destination, so a NaN first element stays and a later NaN is skipped,
// as in MaxPool2D). Scalar and branch-free per element: k² steps of a
// dependency chain per output, independent across outputs.
TEXT ·maxPoolRowSSE(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ow+16(FP), CX
	MOVQ k+24(FP), R8
	MOVQ stride+32(FP), R9
	MOVQ w+40(FP), R10
	SHLQ $2, R9
	SHLQ $2, R10

mpout:
	MOVSS (SI), X0
	MOVQ  SI, R11   // the window row
	MOVQ  R8, R12   // rows left
	MOVQ  $1, R13   // column (row 0 starts after the first element)

mpcol:
	CMPQ  R13, R8
	JGE   mprow
	MOVSS (R11)(R13*4), X1
	MAXSS X0, X1
	MOVAPS X1, X0
	INCQ  R13
	JMP   mpcol

mprow:
	DECQ R12
	JEQ  mpstore
	ADDQ R10, R11
	XORQ R13, R13
	JMP  mpcol

mpstore:
	MOVSS X0, (DI)
	ADDQ  $4, DI
	ADDQ  R9, SI
	DECQ  CX
	JNE   mpout
	RET
