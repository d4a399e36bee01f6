//go:build amd64 && !purego

#include "textflag.h"

// AVX2 requantization, eight int32 lanes: the YMM port of requantU8Rows16
// (gemm_amd64.s). Without mask registers the odd lanes are merged with
// VPBLENDD, the rounding and saturation conditions are VPCMPGTD/VPCMPEQD
// vectors, and the codes are narrowed with VPACKUSDW and VPACKUSWB. Only
// Y0–Y15 exist, so every register has one use throughout a kernel:
//
//	Y0–Y3   temporaries
//	Y4      half (2^rsh − 1) >> 1 of the chunk
//	Y5      mask 2^rsh − 1
//	Y6      rsh
//	Y7      lsh
//	Y8      mult of the odd lanes, in the low half of each quadword
//	Y9      mult
//	Y10     bias
//	Y11     MaxInt32 per lane
//	Y12     2³⁰ per quadword (the Q31 product's nudge)
//	Y13     hz = hi − zero
//	Y14     lz = lo − zero
//	Y15     zero
//
// requantU8Rows8 and requantU8Max4x8 keep the parameters below at the same
// frame offsets, so both use RQ8CONST and RQ8LOAD.

// RQ8CONST broadcasts the constants Y11–Y15; it clobbers CX.
#define RQ8CONST \
	VPBROADCASTD zero+104(FP), Y15; \
	VPBROADCASTD lz+112(FP), Y14;   \
	VPBROADCASTD hz+120(FP), Y13;   \
	MOVQ         $0x40000000, CX;   \
	VMOVQ        CX, X12;           \
	VPBROADCASTQ X12, Y12;          \
	MOVL         $0x7fffffff, CX;   \
	VMOVD        CX, X11;           \
	VPBROADCASTD X11, Y11

// RQ8LOAD loads the parameters of channels CX … CX+7 into Y4–Y10; it
// clobbers AX.
#define RQ8LOAD \
	MOVQ    bias+56(FP), AX;   \
	VMOVDQU (AX)(CX*4), Y10;   \
	MOVQ    mult+64(FP), AX;   \
	VMOVDQU (AX)(CX*4), Y9;    \
	VPSRLQ  $32, Y9, Y8;       \
	MOVQ    lsh+72(FP), AX;    \
	VMOVDQU (AX)(CX*4), Y7;    \
	MOVQ    rsh+80(FP), AX;    \
	VMOVDQU (AX)(CX*4), Y6;    \
	MOVQ    mask+88(FP), AX;   \
	VMOVDQU (AX)(CX*4), Y5;    \
	MOVQ    half+96(FP), AX;   \
	VMOVDQU (AX)(CX*4), Y4

// RQ8LEFT shifts Y0 left by lsh per lane, saturating to int32: where
// shifting back does not give Y0 again, the result is MaxInt32 or MinInt32
// by Y0's sign. It clobbers Y1–Y3.
#define RQ8LEFT \
	VPSLLVD   Y7, Y0, Y1;     \
	VPSRAVD   Y7, Y1, Y2;     \
	VPCMPEQD  Y2, Y0, Y2;     \
	VPSRAD    $31, Y0, Y3;    \
	VPXOR     Y11, Y3, Y3;    \
	VPBLENDVB Y2, Y1, Y3, Y0

// RQ8 requantizes the eight int32 values in Y0 (bias added, left shift
// done) into codes in its int32 lanes, as RQ16: ⌊(y·mult + 2³⁰)/2³¹⌋ from
// the 64-bit products of the even and the odd lanes, then
// RoundingDivideByPOT by rsh (rdbpot in requant.go: add one where the
// remainder exceeds half, plus one for a negative value), the clamp to
// [lz, hz] and the zero point. It clobbers Y1 and Y2.
#define RQ8 \
	VPMULDQ  Y9, Y0, Y1;       \
	VPSRLQ   $32, Y0, Y2;      \
	VPMULDQ  Y8, Y2, Y2;       \
	VPADDQ   Y12, Y1, Y1;      \
	VPADDQ   Y12, Y2, Y2;      \
	VPSRLQ   $31, Y1, Y1;      \
	VPSLLQ   $1, Y2, Y2;       \
	VPBLENDD $0xaa, Y2, Y1, Y0; \
	VPAND    Y5, Y0, Y1;       \
	VPSRAD   $31, Y0, Y2;      \
	VPSUBD   Y2, Y4, Y2;       \
	VPCMPGTD Y2, Y1, Y1;       \
	VPSRAVD  Y6, Y0, Y0;       \
	VPSUBD   Y1, Y0, Y0;       \
	VPMAXSD  Y14, Y0, Y0;      \
	VPMINSD  Y13, Y0, Y0;      \
	VPADDD   Y15, Y0, Y0

// RQ8STORE stores the eight codes (in [0, 255]) of Y0's int32 lanes as
// bytes at dst; it clobbers Y1.
#define RQ8STORE(dst) \
	VEXTRACTI128 $1, Y0, X1; \
	VPACKUSDW    X1, X0, X0; \
	VPACKUSWB    X0, X0, X0; \
	VMOVQ        X0, dst

// func requantU8Rows8(dst *uint8, acc *int32, rows, c, n8, _, left int, bias, mult, lsh, rsh, mask, half *int32, zero, lz, hz int64)
//
// Requantizer.Uint8 of rows rows of c accumulators, the first n8 (a
// multiple of 8) channels of each, eight int32 lanes at a time (AVX2): the
// bias (wrapping), the saturating left shift by lsh (skipped when left is
// 0: no channel shifts left), then RQ8 and the eight codes stored. Each
// chunk of eight channels loads its parameters into registers once and
// then sweeps all the rows. The unused argument keeps the parameters at
// requantU8Max4x8's offsets.
TEXT ·requantU8Rows8(SB), NOSPLIT, $0-128
	MOVQ dst+0(FP), DI
	MOVQ acc+8(FP), R8
	MOVQ rows+16(FP), R9
	MOVQ c+24(FP), R11
	LEAQ (R11*4), R10
	MOVQ left+48(FP), BX
	RQ8CONST
	TESTQ R9, R9
	JEQ   r8done
	XORQ  CX, CX
	CMPQ  CX, n8+32(FP)
	JGE   r8done

r8chunk:
	RQ8LOAD
	LEAQ  (R8)(CX*4), SI
	LEAQ  (DI)(CX*1), DX
	MOVQ  R9, R14
	TESTQ BX, BX
	JNZ   r8left

r8row:
	VPADDD (SI), Y10, Y0
	RQ8
	RQ8STORE((DX))
	ADDQ   R10, SI
	ADDQ   R11, DX
	DECQ   R14
	JNZ    r8row
	JMP    r8next

r8left:
	VPADDD (SI), Y10, Y0
	RQ8LEFT
	RQ8
	RQ8STORE((DX))
	ADDQ   R10, SI
	ADDQ   R11, DX
	DECQ   R14
	JNZ    r8left

r8next:
	ADDQ $8, CX
	CMPQ CX, n8+32(FP)
	JLT  r8chunk

r8done:
	VZEROUPPER
	RET

// func requantU8Max4x8(dst *uint8, a, b, c, d *int32, n8, left int, bias, mult, lsh, rsh, mask, half *int32, zero, lz, hz int64)
//
// Requantizer.Uint8Max4 for the first n8 (a multiple of 8) elements,
// eight int32 lanes at a time (AVX2): VPMAXSD of the four rows, then the
// bias, the left shift (when left is not 0) and RQ8, as requantU8Rows8.
TEXT ·requantU8Max4x8(SB), NOSPLIT, $0-128
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), R8
	MOVQ b+16(FP), R9
	MOVQ c+24(FP), R10
	MOVQ d+32(FP), R11
	MOVQ n8+40(FP), DX
	MOVQ left+48(FP), BX
	RQ8CONST
	XORQ CX, CX
	CMPQ CX, DX
	JGE  m8done

m8loop:
	RQ8LOAD
	VMOVDQU (R8)(CX*4), Y0
	VPMAXSD (R9)(CX*4), Y0, Y0
	VPMAXSD (R10)(CX*4), Y0, Y0
	VPMAXSD (R11)(CX*4), Y0, Y0
	VPADDD  Y10, Y0, Y0
	TESTQ   BX, BX
	JZ      m8right
	RQ8LEFT

m8right:
	RQ8
	RQ8STORE((DI)(CX*1))
	ADDQ $8, CX
	CMPQ CX, DX
	JLT  m8loop

m8done:
	VZEROUPPER
	RET

// func quantizeF32x8(dst *uint8, x *float32, n int, inv float64, zero int)
//
// QuantizeFloat32 on n values (a multiple of 8), eight per step (AVX2):
// two halves of four widened to float64 (Y0, Y1), multiplied by inv (Y4),
// clamped to [−512 (Y5), 512 (Y6)] — VMAXPD returns its second source
// operand, −512, when either is NaN, so NaN becomes −512 — converted to
// int32 rounding to nearest even (VCVTPD2DQ in the MXCSR rounding mode,
// which Go leaves at round to nearest even, as quantizeGo's addition
// assumes), joined into eight int16 (X0), offset by the zero point (X7)
// and stored as bytes saturated to [0, 255].
TEXT ·quantizeF32x8(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSD inv+24(FP), Y4
	MOVQ         $0xc080000000000000, AX
	VMOVQ        AX, X5
	VPBROADCASTQ X5, Y5
	MOVQ         $0x4080000000000000, AX
	VMOVQ        AX, X6
	VPBROADCASTQ X6, Y6
	MOVQ         zero+32(FP), AX
	VMOVD        AX, X7
	VPBROADCASTW X7, X7

q8loop:
	TESTQ      CX, CX
	JZ         q8done
	VCVTPS2PD  (SI), Y0
	VCVTPS2PD  16(SI), Y1
	VMULPD     Y4, Y0, Y0
	VMULPD     Y4, Y1, Y1
	VMAXPD     Y5, Y0, Y0
	VMAXPD     Y5, Y1, Y1
	VMINPD     Y6, Y0, Y0
	VMINPD     Y6, Y1, Y1
	VCVTPD2DQY Y0, X0
	VCVTPD2DQY Y1, X1
	VPACKSSDW  X1, X0, X0
	VPADDW     X7, X0, X0
	VPACKUSWB  X0, X0, X0
	VMOVQ      X0, (DI)
	ADDQ       $32, SI
	ADDQ       $8, DI
	SUBQ       $8, CX
	JMP        q8loop

q8done:
	VZEROUPPER
	RET
