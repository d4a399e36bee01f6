//go:build amd64 && !purego

#include "textflag.h"

// RQCONST broadcasts the constants of the requantization loops: Z24 the
// zero point, Z25, Z26 the clamp, Z27, Z28 the int32 range, Z29 the Q31
// product's nudge 2³⁰; it clobbers CX.
#define RQCONST \
	VPBROADCASTQ zero+96(FP), Z24; \
	VPBROADCASTQ lo+104(FP), Z25;  \
	VPBROADCASTQ hi+112(FP), Z26;  \
	MOVQ $0x7fffffff, CX;          \
	VPBROADCASTQ CX, Z27;          \
	NOTQ CX;                       \
	VPBROADCASTQ CX, Z28;          \
	MOVQ $0x40000000, CX;          \
	VPBROADCASTQ CX, Z29

// RQ8 requantizes the eight int32 accumulators (bias not yet added) in Y0
// of channels CX … CX+7 and stores them as bytes at (DI)(CX*1): the bias
// (wrapping in int32), the saturating left shift, the Q31 product with its
// nudge and the rounding right shift in one, as multiply in requant.go,
// then the zero point and the clamp. Parameters: R12 bias, R13 mult, SI
// lsh, DX sh, BX rnd, AX adj, one entry per channel.
#define RQ8 \
	VPADDD    (R12)(CX*4), Y0, Y0; \
	VPMOVSXDQ Y0, Z0;              \
	VPMOVZXBQ (SI)(CX*1), Z1;      \
	VPSLLVQ   Z1, Z0, Z0;          \
	VPMINSQ   Z27, Z0, Z0;         \
	VPMAXSQ   Z28, Z0, Z0;         \
	VPMOVZXDQ (R13)(CX*4), Z2;     \
	VPMULDQ   Z2, Z0, Z0;          \
	VPADDQ    Z29, Z0, Z0;         \
	VPSRAQ    $63, Z0, Z3;         \
	VPANDQ    (AX)(CX*8), Z3, Z3;  \
	VPADDQ    (BX)(CX*8), Z0, Z0;  \
	VPADDQ    Z3, Z0, Z0;          \
	VPMOVZXBQ (DX)(CX*1), Z1;      \
	VPSRAVQ   Z1, Z0, Z0;          \
	VPADDQ    Z24, Z0, Z0;         \
	VPMAXSQ   Z25, Z0, Z0;         \
	VPMINSQ   Z26, Z0, Z0;         \
	VPMOVQB   Z0, (DI)(CX*1)

// RQPARAMS loads the per-channel parameter pointers of RQ8.
#define RQPARAMS \
	MOVQ bias+48(FP), R12; \
	MOVQ mult+56(FP), R13; \
	MOVQ lsh+64(FP), SI;   \
	MOVQ sh+72(FP), DX;    \
	MOVQ rnd+80(FP), BX;   \
	MOVQ adj+88(FP), AX

// int8 GEMM micro-kernels. The Go declarations in cpu_amd64.go state each
// kernel's contract; PackedB (pack.go) and packAU8/packAI16 (gemm.go)
// describe the packed layouts.
//
// VNNI kernels: a tile of up to 8 rows × 32 columns lives in 16 ZMM
// accumulators (two per row), seeded with init. Per group of 4 k they load
// the group's 32×4 weights once (Z28, Z29), broadcast each row's 4 uint8
// activations and issue VPDPBUSD, which adds the four u8·s8 products of each
// lane to its int32 accumulator without saturation, so the sum is exact.
//
// AVX2 kernels: VPMADDUBSW is not used because it saturates its int16 pair
// sums (255·127·2 > 32767), so u8×s8 would not be exact over the full range,
// and the exact workarounds (splitting activations or weights) cost 1.5–2×
// the multiply-port work. Instead each weight group is sign-extended to int16
// with VPMOVSXBW and multiplied by activations pre-widened to int16 with
// VPMADDWD (int16 pairs → int32, cannot overflow: |2·255·128| < 2³¹). That
// is 16 MACs per multiply-port instruction, as for the saturating
// VPMADDUBSW+VPMADDWD pair (32 MACs for two), so exactness costs little:
// register-only loops of the two patterns run within about 15% of each
// other on AVX2-only Zen cores (BenchmarkAVX2Peak measures ours). Lane l of an accumulator
// holds column l/2 of a 4-column half, k pair l%2; VPHADDD + VPERMQ fold the
// pairs into 8 column sums at the end.

#define VNNI_SETUP \
	MOVQ a+0(FP), AX; \
	MOVQ b+8(FP), BX; \
	MOVQ kg+16(FP), CX; \
	MOVQ init+24(FP), DX; \
	MOVQ c+32(FP), DI; \
	MOVQ ldc+40(FP), SI; \
	SHLQ $2, SI; \
	VMOVDQU32 (DX), Z30; \
	VMOVDQU32 64(DX), Z31

#define VNNI_INIT(acc0, acc1) \
	VMOVDQA32 Z30, acc0; \
	VMOVDQA32 Z31, acc1

#define VNNI_LOADB \
	VMOVDQU32 (BX), Z28; \
	VMOVDQU32 64(BX), Z29

#define VNNI_ROW(off, bc, acc0, acc1) \
	VPBROADCASTD off(AX), bc; \
	VPDPBUSD Z28, bc, acc0; \
	VPDPBUSD Z29, bc, acc1

#define VNNI_NEXT \
	ADDQ $32, AX; \
	ADDQ $128, BX; \
	DECQ CX

#define VNNI_STORE(acc0, acc1) \
	VMOVDQU32 acc0, (DI); \
	VMOVDQU32 acc1, 64(DI); \
	ADDQ SI, DI

// func vnniRows8(a *uint8, b *int8, kg int, init *int32, c *int32, ldc int)
TEXT ·vnniRows8(SB), NOSPLIT, $0-48
	VNNI_SETUP
	VNNI_INIT(Z0, Z1)
	VNNI_INIT(Z2, Z3)
	VNNI_INIT(Z4, Z5)
	VNNI_INIT(Z6, Z7)
	VNNI_INIT(Z8, Z9)
	VNNI_INIT(Z10, Z11)
	VNNI_INIT(Z12, Z13)
	VNNI_INIT(Z14, Z15)
	TESTQ CX, CX
	JZ    store8

loop8:
	VNNI_LOADB
	VNNI_ROW(0, Z16, Z0, Z1)
	VNNI_ROW(4, Z17, Z2, Z3)
	VNNI_ROW(8, Z18, Z4, Z5)
	VNNI_ROW(12, Z19, Z6, Z7)
	VNNI_ROW(16, Z20, Z8, Z9)
	VNNI_ROW(20, Z21, Z10, Z11)
	VNNI_ROW(24, Z22, Z12, Z13)
	VNNI_ROW(28, Z23, Z14, Z15)
	VNNI_NEXT
	JNZ loop8

store8:
	VNNI_STORE(Z0, Z1)
	VNNI_STORE(Z2, Z3)
	VNNI_STORE(Z4, Z5)
	VNNI_STORE(Z6, Z7)
	VNNI_STORE(Z8, Z9)
	VNNI_STORE(Z10, Z11)
	VNNI_STORE(Z12, Z13)
	VNNI_STORE(Z14, Z15)
	VZEROUPPER
	RET

// func vnniRows8x16(a *uint8, b *int8, kg int, init *int32, c *int32, ldc int)
//
// vnniRows8 for the first 16 columns of the panel only (a layer of at most
// 16 outputs): one accumulator per row, half the multiply work; init and c
// are read and written for 16 columns.
TEXT ·vnniRows8x16(SB), NOSPLIT, $0-48
	MOVQ a+0(FP), AX
	MOVQ b+8(FP), BX
	MOVQ kg+16(FP), CX
	MOVQ init+24(FP), DX
	MOVQ c+32(FP), DI
	MOVQ ldc+40(FP), SI
	SHLQ $2, SI
	VMOVDQU32 (DX), Z30
	VMOVDQA32 Z30, Z0
	VMOVDQA32 Z30, Z1
	VMOVDQA32 Z30, Z2
	VMOVDQA32 Z30, Z3
	VMOVDQA32 Z30, Z4
	VMOVDQA32 Z30, Z5
	VMOVDQA32 Z30, Z6
	VMOVDQA32 Z30, Z7
	TESTQ CX, CX
	JZ    store8x16

loop8x16:
	VMOVDQU32    (BX), Z28
	VPBROADCASTD 0(AX), Z16
	VPDPBUSD     Z28, Z16, Z0
	VPBROADCASTD 4(AX), Z17
	VPDPBUSD     Z28, Z17, Z1
	VPBROADCASTD 8(AX), Z18
	VPDPBUSD     Z28, Z18, Z2
	VPBROADCASTD 12(AX), Z19
	VPDPBUSD     Z28, Z19, Z3
	VPBROADCASTD 16(AX), Z20
	VPDPBUSD     Z28, Z20, Z4
	VPBROADCASTD 20(AX), Z21
	VPDPBUSD     Z28, Z21, Z5
	VPBROADCASTD 24(AX), Z22
	VPDPBUSD     Z28, Z22, Z6
	VPBROADCASTD 28(AX), Z23
	VPDPBUSD     Z28, Z23, Z7
	VNNI_NEXT
	JNZ loop8x16

store8x16:
	VMOVDQU32 Z0, (DI)
	ADDQ      SI, DI
	VMOVDQU32 Z1, (DI)
	ADDQ      SI, DI
	VMOVDQU32 Z2, (DI)
	ADDQ      SI, DI
	VMOVDQU32 Z3, (DI)
	ADDQ      SI, DI
	VMOVDQU32 Z4, (DI)
	ADDQ      SI, DI
	VMOVDQU32 Z5, (DI)
	ADDQ      SI, DI
	VMOVDQU32 Z6, (DI)
	ADDQ      SI, DI
	VMOVDQU32 Z7, (DI)
	VZEROUPPER
	RET

// func vnniRows4(a *uint8, b *int8, kg int, init *int32, c *int32, ldc int)
TEXT ·vnniRows4(SB), NOSPLIT, $0-48
	VNNI_SETUP
	VNNI_INIT(Z0, Z1)
	VNNI_INIT(Z2, Z3)
	VNNI_INIT(Z4, Z5)
	VNNI_INIT(Z6, Z7)
	TESTQ CX, CX
	JZ    store4

loop4:
	VNNI_LOADB
	VNNI_ROW(0, Z16, Z0, Z1)
	VNNI_ROW(4, Z17, Z2, Z3)
	VNNI_ROW(8, Z18, Z4, Z5)
	VNNI_ROW(12, Z19, Z6, Z7)
	VNNI_NEXT
	JNZ loop4

store4:
	VNNI_STORE(Z0, Z1)
	VNNI_STORE(Z2, Z3)
	VNNI_STORE(Z4, Z5)
	VNNI_STORE(Z6, Z7)
	VZEROUPPER
	RET

// func vnniRows2(a *uint8, b *int8, kg int, init *int32, c *int32, ldc int)
TEXT ·vnniRows2(SB), NOSPLIT, $0-48
	VNNI_SETUP
	VNNI_INIT(Z0, Z1)
	VNNI_INIT(Z2, Z3)
	TESTQ CX, CX
	JZ    store2

loop2:
	VNNI_LOADB
	VNNI_ROW(0, Z16, Z0, Z1)
	VNNI_ROW(4, Z17, Z2, Z3)
	VNNI_NEXT
	JNZ loop2

store2:
	VNNI_STORE(Z0, Z1)
	VNNI_STORE(Z2, Z3)
	VZEROUPPER
	RET

// func vnniRows1(a *uint8, b *int8, kg int, init *int32, c *int32, ldc int)
// One row has only two accumulator chains, so two groups are interleaved
// into a second pair of accumulators (Z2, Z3) to hide VPDPBUSD latency.
TEXT ·vnniRows1(SB), NOSPLIT, $0-48
	VNNI_SETUP
	VNNI_INIT(Z0, Z1)
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	CMPQ   CX, $2
	JB     tail1

loop1:
	VMOVDQU32    (BX), Z28
	VMOVDQU32    64(BX), Z29
	VMOVDQU32    128(BX), Z26
	VMOVDQU32    192(BX), Z27
	VPBROADCASTD (AX), Z16
	VPBROADCASTD 32(AX), Z17
	VPDPBUSD     Z28, Z16, Z0
	VPDPBUSD     Z29, Z16, Z1
	VPDPBUSD     Z26, Z17, Z2
	VPDPBUSD     Z27, Z17, Z3
	ADDQ         $64, AX
	ADDQ         $256, BX
	SUBQ         $2, CX
	CMPQ         CX, $2
	JAE          loop1

tail1:
	TESTQ CX, CX
	JZ    store1
	VNNI_LOADB
	VNNI_ROW(0, Z16, Z0, Z1)

store1:
	VPADDD Z2, Z0, Z0
	VPADDD Z3, Z1, Z1
	VNNI_STORE(Z0, Z1)
	VZEROUPPER
	RET

#define AVX2_SETUP \
	MOVQ a+0(FP), AX; \
	MOVQ b+8(FP), BX; \
	MOVQ kg+16(FP), CX; \
	MOVQ init+24(FP), DX; \
	MOVQ c+32(FP), DI; \
	MOVQ ldc+40(FP), SI; \
	SHLQ $2, SI

#define AVX2_LOADB \
	VPMOVSXBW (BX), Y12; \
	VPMOVSXBW 16(BX), Y13

#define AVX2_ROW(off, acc0, acc1) \
	VPBROADCASTQ off(AX), Y14; \
	VPMADDWD     Y12, Y14, Y15; \
	VPADDD       Y15, acc0, acc0; \
	VPMADDWD     Y13, Y14, Y15; \
	VPADDD       Y15, acc1, acc1

#define AVX2_NEXT \
	ADDQ $48, AX; \
	ADDQ $128, BX; \
	DECQ CX

// AVX2_STORE folds the k pairs of a row's accumulators into 8 column sums,
// adds init (Y14) and stores them.
#define AVX2_STORE(acc0, acc1) \
	VPHADDD acc1, acc0, Y15; \
	VPERMQ  $0xD8, Y15, Y15; \
	VPADDD  Y14, Y15, Y15; \
	VMOVDQU Y15, (DI); \
	ADDQ    SI, DI

// func avx2Rows6(a *int16, b *int8, kg int, init *int32, c *int32, ldc int)
TEXT ·avx2Rows6(SB), NOSPLIT, $0-48
	AVX2_SETUP
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	VPXOR Y8, Y8, Y8
	VPXOR Y9, Y9, Y9
	VPXOR Y10, Y10, Y10
	VPXOR Y11, Y11, Y11
	TESTQ CX, CX
	JZ    astore6

aloop6:
	AVX2_LOADB
	AVX2_ROW(0, Y0, Y1)
	AVX2_ROW(8, Y2, Y3)
	AVX2_ROW(16, Y4, Y5)
	AVX2_ROW(24, Y6, Y7)
	AVX2_ROW(32, Y8, Y9)
	AVX2_ROW(40, Y10, Y11)
	AVX2_NEXT
	JNZ aloop6

astore6:
	VMOVDQU (DX), Y14
	AVX2_STORE(Y0, Y1)
	AVX2_STORE(Y2, Y3)
	AVX2_STORE(Y4, Y5)
	AVX2_STORE(Y6, Y7)
	AVX2_STORE(Y8, Y9)
	AVX2_STORE(Y10, Y11)
	VZEROUPPER
	RET

// func avx2Rows4(a *int16, b *int8, kg int, init *int32, c *int32, ldc int)
TEXT ·avx2Rows4(SB), NOSPLIT, $0-48
	AVX2_SETUP
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	TESTQ CX, CX
	JZ    astore4

aloop4:
	AVX2_LOADB
	AVX2_ROW(0, Y0, Y1)
	AVX2_ROW(8, Y2, Y3)
	AVX2_ROW(16, Y4, Y5)
	AVX2_ROW(24, Y6, Y7)
	AVX2_NEXT
	JNZ aloop4

astore4:
	VMOVDQU (DX), Y14
	AVX2_STORE(Y0, Y1)
	AVX2_STORE(Y2, Y3)
	AVX2_STORE(Y4, Y5)
	AVX2_STORE(Y6, Y7)
	VZEROUPPER
	RET

// func avx2Rows2(a *int16, b *int8, kg int, init *int32, c *int32, ldc int)
TEXT ·avx2Rows2(SB), NOSPLIT, $0-48
	AVX2_SETUP
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	TESTQ CX, CX
	JZ    astore2

aloop2:
	AVX2_LOADB
	AVX2_ROW(0, Y0, Y1)
	AVX2_ROW(8, Y2, Y3)
	AVX2_NEXT
	JNZ aloop2

astore2:
	VMOVDQU (DX), Y14
	AVX2_STORE(Y0, Y1)
	AVX2_STORE(Y2, Y3)
	VZEROUPPER
	RET

#define PEAK_VNNI(acc) VPDPBUSD Z30, Z31, acc

// func vnniPeak(n int)
TEXT ·vnniPeak(SB), NOSPLIT, $0-8
	MOVQ       n+0(FP), CX
	VPTERNLOGD $0xff, Z30, Z30, Z30
	VPTERNLOGD $0xff, Z31, Z31, Z31
	VPXORD     Z0, Z0, Z0
	VMOVDQA32  Z0, Z1
	VMOVDQA32  Z0, Z2
	VMOVDQA32  Z0, Z3
	VMOVDQA32  Z0, Z4
	VMOVDQA32  Z0, Z5
	VMOVDQA32  Z0, Z6
	VMOVDQA32  Z0, Z7
	VMOVDQA32  Z0, Z8
	VMOVDQA32  Z0, Z9
	VMOVDQA32  Z0, Z10
	VMOVDQA32  Z0, Z11
	VMOVDQA32  Z0, Z12
	VMOVDQA32  Z0, Z13
	VMOVDQA32  Z0, Z14
	VMOVDQA32  Z0, Z15
	VMOVDQA32  Z0, Z16
	VMOVDQA32  Z0, Z17
	VMOVDQA32  Z0, Z18
	VMOVDQA32  Z0, Z19
	VMOVDQA32  Z0, Z20
	VMOVDQA32  Z0, Z21
	VMOVDQA32  Z0, Z22
	VMOVDQA32  Z0, Z23
	TESTQ      CX, CX
	JZ         vpeakdone

vpeakloop:
	PEAK_VNNI(Z0)
	PEAK_VNNI(Z1)
	PEAK_VNNI(Z2)
	PEAK_VNNI(Z3)
	PEAK_VNNI(Z4)
	PEAK_VNNI(Z5)
	PEAK_VNNI(Z6)
	PEAK_VNNI(Z7)
	PEAK_VNNI(Z8)
	PEAK_VNNI(Z9)
	PEAK_VNNI(Z10)
	PEAK_VNNI(Z11)
	PEAK_VNNI(Z12)
	PEAK_VNNI(Z13)
	PEAK_VNNI(Z14)
	PEAK_VNNI(Z15)
	PEAK_VNNI(Z16)
	PEAK_VNNI(Z17)
	PEAK_VNNI(Z18)
	PEAK_VNNI(Z19)
	PEAK_VNNI(Z20)
	PEAK_VNNI(Z21)
	PEAK_VNNI(Z22)
	PEAK_VNNI(Z23)
	DECQ CX
	JNZ  vpeakloop

vpeakdone:
	VZEROUPPER
	RET

#define PEAK_AVX2(acc, tmp) \
	VPMADDWD Y14, Y15, tmp; \
	VPADDD   tmp, acc, acc

// func avx2Peak(n int)
TEXT ·avx2Peak(SB), NOSPLIT, $0-8
	MOVQ     n+0(FP), CX
	VPCMPEQD Y14, Y14, Y14
	VPCMPEQD Y15, Y15, Y15
	VPXOR    Y0, Y0, Y0
	VPXOR    Y1, Y1, Y1
	VPXOR    Y2, Y2, Y2
	VPXOR    Y3, Y3, Y3
	VPXOR    Y4, Y4, Y4
	VPXOR    Y5, Y5, Y5
	TESTQ    CX, CX
	JZ       apeakdone

apeakloop:
	PEAK_AVX2(Y0, Y6)
	PEAK_AVX2(Y1, Y7)
	PEAK_AVX2(Y2, Y8)
	PEAK_AVX2(Y3, Y9)
	PEAK_AVX2(Y4, Y10)
	PEAK_AVX2(Y5, Y11)
	PEAK_AVX2(Y0, Y12)
	PEAK_AVX2(Y1, Y13)
	PEAK_AVX2(Y2, Y6)
	PEAK_AVX2(Y3, Y7)
	PEAK_AVX2(Y4, Y8)
	PEAK_AVX2(Y5, Y9)
	DECQ CX
	JNZ  apeakloop

apeakdone:
	VZEROUPPER
	RET

#define AVX2_COL4(off, tmp, acc) \
	VPMOVSXBW off(BX), tmp; \
	VPMADDWD  tmp, Y14, tmp; \
	VPADDD    tmp, acc, acc

#define AVX2_STORE8(acc0, acc1, off) \
	VPHADDD acc1, acc0, Y15; \
	VPERMQ  $0xD8, Y15, Y15; \
	VPADDD  off(DX), Y15, Y15; \
	VMOVDQU Y15, off(DI)

// func avx2Row1x32(a *int16, b *int8, kg int, init *int32, c *int32)
// One row across a whole 32-column panel, so B streams contiguously.
TEXT ·avx2Row1x32(SB), NOSPLIT, $0-40
	MOVQ  a+0(FP), AX
	MOVQ  b+8(FP), BX
	MOVQ  kg+16(FP), CX
	MOVQ  init+24(FP), DX
	MOVQ  c+32(FP), DI
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	TESTQ CX, CX
	JZ    rstore

rloop:
	VPBROADCASTQ (AX), Y14
	AVX2_COL4(0, Y8, Y0)
	AVX2_COL4(16, Y9, Y1)
	AVX2_COL4(32, Y10, Y2)
	AVX2_COL4(48, Y11, Y3)
	AVX2_COL4(64, Y12, Y4)
	AVX2_COL4(80, Y13, Y5)
	AVX2_COL4(96, Y8, Y6)
	AVX2_COL4(112, Y9, Y7)
	ADDQ         $48, AX
	ADDQ         $128, BX
	DECQ         CX
	JNZ          rloop

rstore:
	AVX2_STORE8(Y0, Y1, 0)
	AVX2_STORE8(Y2, Y3, 32)
	AVX2_STORE8(Y4, Y5, 64)
	AVX2_STORE8(Y6, Y7, 96)
	VZEROUPPER
	RET

// func packAU8x8(dst, a *uint8, lda, blocks, tail int)
//
// Packs 8 rows of A (row r at a + r·lda) into one VNNI micro-panel, 32
// bytes of each row (8 groups of 4) per block: an 8×8 transpose of
// 32-bit groups, so that dst[g·32 + r·4 + t] = a[r·lda + 4g + t] for
// g < 8·blocks (packAU8's layout). Then, if tail (< 32) is not 0, the next
// tail bytes of each row, zero-extended to whole groups, through a masked
// load (AVX-512 BW), storing only the ⌈tail/4⌉ groups they fill.
#define PACKLOAD(ld) \
	ld (SI), Y0;       \
	ld (SI)(R8*1), Y1; \
	ld (SI)(R8*2), Y2; \
	ld (SI)(R9*1), Y3; \
	ld (SI)(R8*4), Y4; \
	ld (SI)(R10*1), Y5; \
	ld (SI)(R9*2), Y6; \
	ld (SI)(R11*1), Y7

#define PACKTRANSPOSE \
	VPUNPCKLDQ  Y1, Y0, Y8;          \
	VPUNPCKHDQ  Y1, Y0, Y9;          \
	VPUNPCKLDQ  Y3, Y2, Y10;         \
	VPUNPCKHDQ  Y3, Y2, Y11;         \
	VPUNPCKLDQ  Y5, Y4, Y12;         \
	VPUNPCKHDQ  Y5, Y4, Y13;         \
	VPUNPCKLDQ  Y7, Y6, Y14;         \
	VPUNPCKHDQ  Y7, Y6, Y15;         \
	VPUNPCKLQDQ Y10, Y8, Y0;         \
	VPUNPCKHQDQ Y10, Y8, Y1;         \
	VPUNPCKLQDQ Y11, Y9, Y2;         \
	VPUNPCKHQDQ Y11, Y9, Y3;         \
	VPUNPCKLQDQ Y14, Y12, Y4;        \
	VPUNPCKHQDQ Y14, Y12, Y5;        \
	VPUNPCKLQDQ Y15, Y13, Y6;        \
	VPUNPCKHQDQ Y15, Y13, Y7;        \
	VPERM2I128  $0x20, Y4, Y0, Y8;   \
	VPERM2I128  $0x20, Y5, Y1, Y9;   \
	VPERM2I128  $0x20, Y6, Y2, Y10;  \
	VPERM2I128  $0x20, Y7, Y3, Y11;  \
	VPERM2I128  $0x31, Y4, Y0, Y12;  \
	VPERM2I128  $0x31, Y5, Y1, Y13;  \
	VPERM2I128  $0x31, Y6, Y2, Y14;  \
	VPERM2I128  $0x31, Y7, Y3, Y15

// PACKTAILLOAD loads tail bytes (mask K1) of one row, zero beyond.
#define PACKTAILLOAD(addr, y) VMOVDQU8.Z addr, K1, y

TEXT ·packAU8x8(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R8
	MOVQ blocks+24(FP), CX
	LEAQ (R8)(R8*2), R9  // 3·lda
	LEAQ (R8)(R8*4), R10 // 5·lda
	LEAQ (R9)(R8*4), R11 // 7·lda
	TESTQ CX, CX
	JEQ  packtail

packloop:
	PACKLOAD(VMOVDQU)
	// Pairs of rows interleaved by group, then quadruples (one group per
	// 128-bit half), then rows 0–3 and 4–7 of each group side by side.
	PACKTRANSPOSE
	VMOVDQU Y8, (DI)
	VMOVDQU Y9, 32(DI)
	VMOVDQU Y10, 64(DI)
	VMOVDQU Y11, 96(DI)
	VMOVDQU Y12, 128(DI)
	VMOVDQU Y13, 160(DI)
	VMOVDQU Y14, 192(DI)
	VMOVDQU Y15, 224(DI)
	ADDQ $32, SI
	ADDQ $256, DI
	DECQ CX
	JNE  packloop

packtail:
	MOVQ tail+32(FP), CX
	TESTQ CX, CX
	JEQ  packdone
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVD AX, K1
	PACKTAILLOAD((SI), Y0)
	PACKTAILLOAD((SI)(R8*1), Y1)
	PACKTAILLOAD((SI)(R8*2), Y2)
	PACKTAILLOAD((SI)(R9*1), Y3)
	PACKTAILLOAD((SI)(R8*4), Y4)
	PACKTAILLOAD((SI)(R10*1), Y5)
	PACKTAILLOAD((SI)(R9*2), Y6)
	PACKTAILLOAD((SI)(R11*1), Y7)
	PACKTRANSPOSE
	ADDQ $3, CX
	SHRQ $2, CX // groups to store, 1–8
	VMOVDQU Y8, (DI)
	DECQ CX
	JEQ  packdone
	VMOVDQU Y9, 32(DI)
	DECQ CX
	JEQ  packdone
	VMOVDQU Y10, 64(DI)
	DECQ CX
	JEQ  packdone
	VMOVDQU Y11, 96(DI)
	DECQ CX
	JEQ  packdone
	VMOVDQU Y12, 128(DI)
	DECQ CX
	JEQ  packdone
	VMOVDQU Y13, 160(DI)
	DECQ CX
	JEQ  packdone
	VMOVDQU Y14, 192(DI)
	DECQ CX
	JEQ  packdone
	VMOVDQU Y15, 224(DI)

packdone:
	VZEROUPPER
	RET

// func requantU8Max4(dst *uint8, a, b, c, d *int32, n int, bias, mult *int32, lsh, sh *uint8, rnd, adj *int64, zero, lo, hi int64)
//
// Requantizer.Uint8Max4 for n elements (a multiple of 8), eight 64-bit
// lanes at a time (AVX-512 F): RQ8 of the element-wise maximum of the four
// rows.
TEXT ·requantU8Max4(SB), NOSPLIT, $0-120
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), R8
	MOVQ b+16(FP), R9
	MOVQ c+24(FP), R10
	MOVQ d+32(FP), R11
	RQPARAMS
	RQCONST
	XORQ CX, CX
	CMPQ CX, n+40(FP)
	JGE  rqdone

rqloop:
	VMOVDQU (R8)(CX*4), Y0
	VPMAXSD (R9)(CX*4), Y0, Y0
	VPMAXSD (R10)(CX*4), Y0, Y0
	VPMAXSD (R11)(CX*4), Y0, Y0
	RQ8
	ADDQ    $8, CX
	CMPQ    CX, n+40(FP)
	JLT     rqloop

rqdone:
	VZEROUPPER
	RET

// func requantU8Rows(dst *uint8, acc *int32, rows, c, n8 int, _ int, bias, mult *int32, lsh, sh *uint8, rnd, adj *int64, zero, lo, hi int64)
//
// Requantizer.Uint8 of rows consecutive rows of c accumulators (channels
// 0 … c−1 each) into rows of c bytes, the first n8 (a multiple of 8) of
// each row: RQ8 eight channels at a time. The unused argument keeps the
// parameters at requantU8Max4's offsets, so both share RQPARAMS.
TEXT ·requantU8Rows(SB), NOSPLIT, $0-120
	MOVQ dst+0(FP), DI
	MOVQ acc+8(FP), R8
	MOVQ rows+16(FP), R9
	MOVQ c+24(FP), R11
	LEAQ (R11*4), R10
	RQPARAMS
	RQCONST
	TESTQ R9, R9
	JEQ   rrdone

rrrow:
	XORQ CX, CX
	CMPQ CX, n8+32(FP)
	JGE  rrnext

rrloop:
	VMOVDQU (R8)(CX*4), Y0
	RQ8
	ADDQ    $8, CX
	CMPQ    CX, n8+32(FP)
	JLT     rrloop

rrnext:
	ADDQ R11, DI
	ADDQ R10, R8
	DECQ R9
	JNE  rrrow

rrdone:
	VZEROUPPER
	RET

// Window kernels: vnniRows8 and vnniRows8x16 with A read in place, row r
// at a + off[r] plus each segment's offset, instead of from a packed
// micro-panel. SI walks row 0's bytes; R8–R14 hold the other rows'
// offsets from row 0, DI row 0's base, DX the segment offsets, AX the
// segments left and CX the groups left in the current segment; B's groups
// follow K across segments.

#define WIN_ROW(idx, bc, acc0, acc1) \
	VPBROADCASTD idx, bc;    \
	VPDPBUSD Z28, bc, acc0;  \
	VPDPBUSD Z29, bc, acc1

// WIN_STORE stores one row of 32 columns under the column masks K1
// (columns 0–15) and K2 (16–31), then steps DI to the next row.
#define WIN_STORE(acc0, acc1) \
	VMOVDQU32 acc0, K1, (DI);   \
	VMOVDQU32 acc1, K2, 64(DI); \
	ADDQ SI, DI

#define WIN_ROW16(idx, bc, acc) \
	VPBROADCASTD idx, bc; \
	VPDPBUSD Z28, bc, acc

// func vnniWin8(a *uint8, off *int, segs *int, nseg, sg int, b *int8, init *int32, c *int32, ldc, mask int)
TEXT ·vnniWin8(SB), NOSPLIT, $0-80
	MOVQ off+8(FP), DX
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
	MOVQ 48(DX), R13
	SUBQ DI, R13
	MOVQ 56(DX), R14
	SUBQ DI, R14
	ADDQ a+0(FP), DI
	MOVQ segs+16(FP), DX
	MOVQ nseg+24(FP), AX
	MOVQ b+40(FP), BX
	MOVQ init+48(FP), CX
	VMOVDQU32 (CX), Z30
	VMOVDQU32 64(CX), Z31
	VNNI_INIT(Z0, Z1)
	VNNI_INIT(Z2, Z3)
	VNNI_INIT(Z4, Z5)
	VNNI_INIT(Z6, Z7)
	VNNI_INIT(Z8, Z9)
	VNNI_INIT(Z10, Z11)
	VNNI_INIT(Z12, Z13)
	VNNI_INIT(Z14, Z15)
	TESTQ AX, AX
	JZ    wstore8

wseg8:
	MOVQ (DX), SI
	ADDQ DI, SI
	MOVQ sg+32(FP), CX
	TESTQ CX, CX
	JZ    wnext8

wloop8:
	VNNI_LOADB
	WIN_ROW((SI), Z16, Z0, Z1)
	WIN_ROW((SI)(R8*1), Z17, Z2, Z3)
	WIN_ROW((SI)(R9*1), Z18, Z4, Z5)
	WIN_ROW((SI)(R10*1), Z19, Z6, Z7)
	WIN_ROW((SI)(R11*1), Z20, Z8, Z9)
	WIN_ROW((SI)(R12*1), Z21, Z10, Z11)
	WIN_ROW((SI)(R13*1), Z22, Z12, Z13)
	WIN_ROW((SI)(R14*1), Z23, Z14, Z15)
	ADDQ $4, SI
	ADDQ $128, BX
	DECQ CX
	JNZ  wloop8

wnext8:
	ADDQ $8, DX
	DECQ AX
	JNZ  wseg8

wstore8:
	MOVQ c+56(FP), DI
	MOVQ ldc+64(FP), SI
	SHLQ $2, SI
	KMOVD mask+72(FP), K1
	KSHIFTRD $16, K1, K2
	WIN_STORE(Z0, Z1)
	WIN_STORE(Z2, Z3)
	WIN_STORE(Z4, Z5)
	WIN_STORE(Z6, Z7)
	WIN_STORE(Z8, Z9)
	WIN_STORE(Z10, Z11)
	WIN_STORE(Z12, Z13)
	WIN_STORE(Z14, Z15)
	VZEROUPPER
	RET

// func vnniWin8x16(a *uint8, off *int, segs *int, nseg, sg int, b *int8, init *int32, c *int32, ldc, mask int)
TEXT ·vnniWin8x16(SB), NOSPLIT, $0-80
	MOVQ off+8(FP), DX
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
	MOVQ 48(DX), R13
	SUBQ DI, R13
	MOVQ 56(DX), R14
	SUBQ DI, R14
	ADDQ a+0(FP), DI
	MOVQ segs+16(FP), DX
	MOVQ nseg+24(FP), AX
	MOVQ b+40(FP), BX
	MOVQ init+48(FP), CX
	VMOVDQU32 (CX), Z30
	VMOVDQA32 Z30, Z0
	VMOVDQA32 Z30, Z1
	VMOVDQA32 Z30, Z2
	VMOVDQA32 Z30, Z3
	VMOVDQA32 Z30, Z4
	VMOVDQA32 Z30, Z5
	VMOVDQA32 Z30, Z6
	VMOVDQA32 Z30, Z7
	TESTQ AX, AX
	JZ    wstore8x16

wseg8x16:
	MOVQ (DX), SI
	ADDQ DI, SI
	MOVQ sg+32(FP), CX
	TESTQ CX, CX
	JZ    wnext8x16

wloop8x16:
	VMOVDQU32 (BX), Z28
	WIN_ROW16((SI), Z16, Z0)
	WIN_ROW16((SI)(R8*1), Z17, Z1)
	WIN_ROW16((SI)(R9*1), Z18, Z2)
	WIN_ROW16((SI)(R10*1), Z19, Z3)
	WIN_ROW16((SI)(R11*1), Z20, Z4)
	WIN_ROW16((SI)(R12*1), Z21, Z5)
	WIN_ROW16((SI)(R13*1), Z22, Z6)
	WIN_ROW16((SI)(R14*1), Z23, Z7)
	ADDQ $4, SI
	ADDQ $128, BX
	DECQ CX
	JNZ  wloop8x16

wnext8x16:
	ADDQ $8, DX
	DECQ AX
	JNZ  wseg8x16

wstore8x16:
	MOVQ c+56(FP), DI
	MOVQ ldc+64(FP), SI
	SHLQ $2, SI
	KMOVD mask+72(FP), K1
	KSHIFTRD $16, K1, K2
	VMOVDQU32 Z0, K1, (DI)
	ADDQ      SI, DI
	VMOVDQU32 Z1, K1, (DI)
	ADDQ      SI, DI
	VMOVDQU32 Z2, K1, (DI)
	ADDQ      SI, DI
	VMOVDQU32 Z3, K1, (DI)
	ADDQ      SI, DI
	VMOVDQU32 Z4, K1, (DI)
	ADDQ      SI, DI
	VMOVDQU32 Z5, K1, (DI)
	ADDQ      SI, DI
	VMOVDQU32 Z6, K1, (DI)
	ADDQ      SI, DI
	VMOVDQU32 Z7, K1, (DI)
	VZEROUPPER
	RET

// func sumRows16(dst *int32, src *uint8, rows, c, n int)
//
// For each chunk of 16 channels j0 < n (a multiple of 16):
// dst[j0+j] = Σ_r src[r·c + j0 + j] (j < 16), the bytes zero-extended
// (AVX-512 F), two rows at a time into two accumulators.
TEXT ·sumRows16(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ c+24(FP), R8
	MOVQ n+32(FP), R9
	XORQ R10, R10

s16chunk:
	CMPQ   R10, R9
	JGE    s16done
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	LEAQ   (SI)(R10*1), AX
	MOVQ   rows+16(FP), CX

s16pair:
	CMPQ      CX, $2
	JLT       s16single
	VPMOVZXBD (AX), Z2
	VPADDD    Z2, Z0, Z0
	VPMOVZXBD (AX)(R8*1), Z3
	VPADDD    Z3, Z1, Z1
	LEAQ      (AX)(R8*2), AX
	SUBQ      $2, CX
	JMP       s16pair

s16single:
	TESTQ     CX, CX
	JEQ       s16store
	VPMOVZXBD (AX), Z2
	VPADDD    Z2, Z0, Z0

s16store:
	VPADDD    Z1, Z0, Z0
	VMOVDQU32 Z0, (DI)(R10*4)
	ADDQ      $16, R10
	JMP       s16chunk

s16done:
	VZEROUPPER
	RET

// func sumRows8(dst *int32, src *uint8, rows, c, n int)
//
// sumRows16 in chunks of 8 channels (n a multiple of 8), in AVX2.
TEXT ·sumRows8(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ c+24(FP), R8
	MOVQ n+32(FP), R9
	XORQ R10, R10

s8chunk:
	CMPQ  R10, R9
	JGE   s8done
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	LEAQ  (SI)(R10*1), AX
	MOVQ  rows+16(FP), CX

s8pair:
	CMPQ      CX, $2
	JLT       s8single
	VPMOVZXBD (AX), Y2
	VPADDD    Y2, Y0, Y0
	VPMOVZXBD (AX)(R8*1), Y3
	VPADDD    Y3, Y1, Y1
	LEAQ      (AX)(R8*2), AX
	SUBQ      $2, CX
	JMP       s8pair

s8single:
	TESTQ     CX, CX
	JEQ       s8store
	VPMOVZXBD (AX), Y2
	VPADDD    Y2, Y0, Y0

s8store:
	VPADDD  Y1, Y0, Y0
	VMOVDQU Y0, (DI)(R10*4)
	ADDQ    $8, R10
	JMP     s8chunk

s8done:
	VZEROUPPER
	RET

// RQ16 requantizes the sixteen int32 accumulators in Z0 (bias added, left
// shift done) with one chunk's parameters in registers — Z21 mult, Z22 the
// odd lanes' mult, Z23 rsh, Z28 mask, Z16 half — into sixteen codes in its
// int32 lanes: gemmlowp's SaturatingRoundingDoublingHighMul as
// ⌊(y·mult + 2³⁰)/2³¹⌋ from the 64-bit products of the even and the odd
// lanes, its RoundingDivideByPOT by rsh with the remainder mask and
// half-mask (rdbpot in requant.go), then the clamp to [lz, hz] (Z25, Z26)
// and the zero point (Z24). Z29 holds 2³⁰ per quadword, Z30 −1, K1 the odd
// lanes; it clobbers Z17–Z19 and K3.
#define RQ16 \
	VPMULDQ   Z21, Z0, Z17;      \
	VPSRLQ    $32, Z0, Z18;      \
	VPMULDQ   Z22, Z18, Z18;     \
	VPADDQ    Z29, Z17, Z17;     \
	VPADDQ    Z29, Z18, Z18;     \
	VPSRLQ    $31, Z17, Z17;     \
	VPSLLQ    $1, Z18, Z18;      \
	VPBLENDMD Z18, Z17, K1, Z0;  \
	VPANDD    Z28, Z0, Z17;      \
	VPSRAD    $31, Z0, Z18;      \
	VPSUBD    Z18, Z16, Z19;     \
	VPCMPGTD  Z19, Z17, K3;      \
	VPSRAVD   Z23, Z0, Z0;       \
	VPSUBD    Z30, Z0, K3, Z0;   \
	VPMAXSD   Z25, Z0, Z0;       \
	VPMINSD   Z26, Z0, Z0;       \
	VPADDD    Z24, Z0, Z0

// RQ16LEFT shifts Z0 left by lsh (Z27) per lane, saturating to int32 (Z31
// holds MaxInt32); it clobbers Z2, Z3 and K2.
#define RQ16LEFT \
	VPSLLVD   Z27, Z0, Z2;     \
	VPSRAVD   Z27, Z2, Z3;     \
	VPCMPD    $4, Z3, Z0, K2;  \
	VPSRAD    $31, Z0, Z3;     \
	VPXORD    Z31, Z3, Z3;     \
	VMOVDQA32 Z3, K2, Z2;      \
	VMOVDQA32 Z2, Z0

// func requantU8Rows16(dst *uint8, acc *int32, rows, c, n16, left int, bias, mult, lsh, rsh, mask, half *int32, zero, lz, hz int64)
//
// Requantizer.Uint8 of rows rows of c accumulators, the first n16 (a
// multiple of 16) channels of each, sixteen int32 lanes at a time (AVX-512
// F): the bias (wrapping), the saturating left shift by lsh (skipped when
// left is 0: no channel shifts left), then RQ16 and the sixteen codes
// stored. Each chunk of sixteen channels loads its parameters into
// registers once and then sweeps all the rows, so a narrow layer (16 or 32
// channels, rows of one or two chunks) pays no per-row parameter loads and
// no inner loop. Equal to the Go loop bit for bit (see Requantizer).
TEXT ·requantU8Rows16(SB), NOSPLIT, $0-120
	MOVQ dst+0(FP), DI
	MOVQ acc+8(FP), R8
	MOVQ rows+16(FP), R9
	MOVQ c+24(FP), R11
	LEAQ (R11*4), R10
	MOVQ left+40(FP), BX
	VPBROADCASTD zero+96(FP), Z24
	VPBROADCASTD lz+104(FP), Z25
	VPBROADCASTD hz+112(FP), Z26
	MOVL $0x7fffffff, CX
	VPBROADCASTD CX, Z31
	MOVQ $0x40000000, CX
	VPBROADCASTQ CX, Z29
	VPTERNLOGD $0xff, Z30, Z30, Z30 // all ones: −1 in every lane
	MOVL $0xaaaa, CX
	KMOVW CX, K1
	TESTQ R9, R9
	JEQ   r16done
	XORQ  CX, CX
	CMPQ  CX, n16+32(FP)
	JGE   r16done

r16chunk:
	MOVQ      bias+48(FP), AX
	VMOVDQU32 (AX)(CX*4), Z20
	MOVQ      mult+56(FP), AX
	VMOVDQU32 (AX)(CX*4), Z21
	VPSRLQ    $32, Z21, Z22
	MOVQ      lsh+64(FP), AX
	VMOVDQU32 (AX)(CX*4), Z27
	MOVQ      rsh+72(FP), AX
	VMOVDQU32 (AX)(CX*4), Z23
	MOVQ      mask+80(FP), AX
	VMOVDQU32 (AX)(CX*4), Z28
	MOVQ      half+88(FP), AX
	VMOVDQU32 (AX)(CX*4), Z16
	LEAQ      (R8)(CX*4), SI
	LEAQ      (DI)(CX*1), DX
	MOVQ      R9, R14
	TESTQ     BX, BX
	JNZ       r16left

r16row:
	VPADDD  (SI), Z20, Z0
	RQ16
	VPMOVDB Z0, (DX)
	ADDQ    R10, SI
	ADDQ    R11, DX
	DECQ    R14
	JNZ     r16row
	JMP     r16next

r16left:
	VPADDD  (SI), Z20, Z0
	RQ16LEFT
	RQ16
	VPMOVDB Z0, (DX)
	ADDQ    R10, SI
	ADDQ    R11, DX
	DECQ    R14
	JNZ     r16left

r16next:
	ADDQ $16, CX
	CMPQ CX, n16+32(FP)
	JLT  r16chunk

r16done:
	VZEROUPPER
	RET

// func lookup2x16(dst, a, b *uint8, n int, t *uint8)
//
// dst[j] = t[a[j]<<8 | b[j]] for j < n (a multiple of 16), sixteen at a
// time (AVX-512 F): VPGATHERDD reads the aligned 4-byte word of t holding
// each entry, VPSRLVD brings its byte down, VPMOVDB narrows.
TEXT ·lookup2x16(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ t+32(FP), BX
	MOVL $3, AX
	VPBROADCASTD AX, Z30
	XORQ R8, R8
	TESTQ CX, CX
	JEQ   l16done

l16loop:
	VPMOVZXBD  (SI)(R8*1), Z0
	VPMOVZXBD  (DX)(R8*1), Z1
	VPSLLD     $8, Z0, Z0
	VPORD      Z1, Z0, Z0          // index a<<8 | b
	VPANDD     Z30, Z0, Z2         // its byte within the word
	VPSLLD     $3, Z2, Z2          // … in bits
	VPANDND    Z0, Z30, Z0         // the word's offset: index &^ 3
	KXNORW     K0, K0, K1
	VPXORD     Z3, Z3, Z3
	VPGATHERDD (BX)(Z0*1), K1, Z3
	VPSRLVD    Z2, Z3, Z3
	VPMOVDB    Z3, X3
	VMOVDQU    X3, (DI)(R8*1)
	ADDQ       $16, R8
	CMPQ       R8, CX
	JLT        l16loop

l16done:
	VZEROUPPER
	RET

// func lookup2x8(dst, a, b *uint8, n int, t *uint8)
//
// lookup2x16 eight at a time (n a multiple of 8), in AVX2: the gathered
// bytes are masked to 8 bits and packed down with VPACKUSDW and
// VPACKUSWB.
TEXT ·lookup2x8(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ t+32(FP), BX
	MOVL $3, AX
	MOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0xff, AX
	MOVD AX, X15
	VPBROADCASTD X15, Y15
	XORQ R8, R8
	TESTQ CX, CX
	JEQ   l8done

l8loop:
	VPMOVZXBD  (SI)(R8*1), Y0
	VPMOVZXBD  (DX)(R8*1), Y1
	VPSLLD     $8, Y0, Y0
	VPOR       Y1, Y0, Y0
	VPAND      Y14, Y0, Y2
	VPSLLD     $3, Y2, Y2
	VPANDN     Y0, Y14, Y0
	VPCMPEQD   Y4, Y4, Y4
	VPXOR      Y3, Y3, Y3
	VPGATHERDD Y4, (BX)(Y0*1), Y3
	VPSRLVD    Y2, Y3, Y3
	VPAND      Y15, Y3, Y3
	VEXTRACTI128 $1, Y3, X5
	VPACKUSDW  X5, X3, X3
	VPACKUSWB  X3, X3, X3
	MOVQ       X3, (DI)(R8*1)
	ADDQ       $8, R8
	CMPQ       R8, CX
	JLT        l8loop

l8done:
	VZEROUPPER
	RET

// func dwRows16(acc *int32, src *uint8, npix, stride int, taps *int, ntaps int, w, init *int32, c, n16 int)
//
// DepthwiseRows for the channels below n16 (a multiple of 16), sixteen at
// a time (AVX-512 F): per pixel and chunk, init plus, over the taps, the
// zero-extended codes times the tap's weights (VPMULLD).
TEXT ·dwRows16(SB), NOSPLIT, $0-80
	MOVQ  acc+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  npix+16(FP), R8
	MOVQ  stride+24(FP), R9
	MOVQ  w+48(FP), R12
	MOVQ  init+56(FP), R13
	MOVQ  c+64(FP), R14
	SHLQ  $2, R14
	MOVQ  n16+72(FP), DX
	TESTQ R8, R8
	JEQ   dw16done

dw16pix:
	XORQ CX, CX

dw16chunk:
	CMPQ      CX, DX
	JGE       dw16next
	VMOVDQU32 (R13)(CX*4), Z0
	MOVQ      taps+32(FP), R10
	MOVQ      ntaps+40(FP), BX
	LEAQ      (R12)(CX*4), R11

dw16tap:
	MOVQ      (R10), AX
	ADDQ      SI, AX
	VPMOVZXBD (AX)(CX*1), Z1
	VPMULLD   (R11), Z1, Z1
	VPADDD    Z1, Z0, Z0
	ADDQ      $8, R10
	ADDQ      R14, R11
	DECQ      BX
	JNZ       dw16tap
	VMOVDQU32 Z0, (DI)(CX*4)
	ADDQ      $16, CX
	JMP       dw16chunk

dw16next:
	ADDQ R14, DI
	ADDQ R9, SI
	DECQ R8
	JNZ  dw16pix

dw16done:
	VZEROUPPER
	RET

// func dwRows8(acc *int32, src *uint8, npix, stride int, taps *int, ntaps int, w, init *int32, c, n8 int)
//
// dwRows16 eight channels at a time (n8 a multiple of 8), in AVX2.
TEXT ·dwRows8(SB), NOSPLIT, $0-80
	MOVQ  acc+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  npix+16(FP), R8
	MOVQ  stride+24(FP), R9
	MOVQ  w+48(FP), R12
	MOVQ  init+56(FP), R13
	MOVQ  c+64(FP), R14
	SHLQ  $2, R14
	MOVQ  n8+72(FP), DX
	TESTQ R8, R8
	JEQ   dw8done

dw8pix:
	XORQ CX, CX

dw8chunk:
	CMPQ    CX, DX
	JGE     dw8next
	VMOVDQU (R13)(CX*4), Y0
	MOVQ    taps+32(FP), R10
	MOVQ    ntaps+40(FP), BX
	LEAQ    (R12)(CX*4), R11

dw8tap:
	MOVQ      (R10), AX
	ADDQ      SI, AX
	VPMOVZXBD (AX)(CX*1), Y1
	VPMULLD   (R11), Y1, Y1
	VPADDD    Y1, Y0, Y0
	ADDQ      $8, R10
	ADDQ      R14, R11
	DECQ      BX
	JNZ       dw8tap
	VMOVDQU   Y0, (DI)(CX*4)
	ADDQ      $8, CX
	JMP       dw8chunk

dw8next:
	ADDQ R14, DI
	ADDQ R9, SI
	DECQ R8
	JNZ  dw8pix

dw8done:
	VZEROUPPER
	RET
