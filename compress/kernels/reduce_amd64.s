//go:build !purego

#include "textflag.h"

// The reductions keep four vector sums Y0..Y3 over blocks of 32 floats,
// then add blocks of 8 into Y0, and store (Y0+Y1)+(Y2+Y3) as 8 lane sums
// (reduceRef's order). Each term is rounded to float32 before it is added.

// REDUCE_END stores (Y0+Y1)+(Y2+Y3) to the lanes at DI and returns.
#define REDUCE_END \
	VADDPS  Y1, Y0, Y0; \
	VADDPS  Y3, Y2, Y2; \
	VADDPS  Y2, Y0, Y0; \
	VMOVUPS Y0, (DI);   \
	VZEROUPPER;         \
	RET

// func sumAVX2(x *float32, n int, lanes *[8]float32)
TEXT ·sumAVX2(SB), NOSPLIT, $0-24
	MOVQ   x+0(FP), SI
	MOVQ   n+8(FP), CX
	MOVQ   lanes+16(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

sum32:
	CMPQ   CX, $32
	JB     sum8
	VADDPS (SI), Y0, Y0
	VADDPS 32(SI), Y1, Y1
	VADDPS 64(SI), Y2, Y2
	VADDPS 96(SI), Y3, Y3
	ADDQ   $128, SI
	SUBQ   $32, CX
	JMP    sum32

sum8:
	TESTQ  CX, CX
	JZ     sumdone
	VADDPS (SI), Y0, Y0
	ADDQ   $32, SI
	SUBQ   $8, CX
	JMP    sum8

sumdone:
	REDUCE_END

// func dotAVX2(x, y *float32, n int, mu float32, lanes *[8]float32)
TEXT ·dotAVX2(SB), NOSPLIT, $0-40
	MOVQ         x+0(FP), SI
	MOVQ         y+8(FP), DX
	MOVQ         n+16(FP), CX
	VBROADCASTSS mu+24(FP), Y8
	MOVQ         lanes+32(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

dot32:
	CMPQ    CX, $32
	JB      dot8
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VSUBPS  Y8, Y4, Y4
	VSUBPS  Y8, Y5, Y5
	VSUBPS  Y8, Y6, Y6
	VSUBPS  Y8, Y7, Y7
	VMULPS  (DX), Y4, Y4
	VMULPS  32(DX), Y5, Y5
	VMULPS  64(DX), Y6, Y6
	VMULPS  96(DX), Y7, Y7
	VADDPS  Y4, Y0, Y0
	VADDPS  Y5, Y1, Y1
	VADDPS  Y6, Y2, Y2
	VADDPS  Y7, Y3, Y3
	ADDQ    $128, SI
	ADDQ    $128, DX
	SUBQ    $32, CX
	JMP     dot32

dot8:
	TESTQ   CX, CX
	JZ      dotdone
	VMOVUPS (SI), Y4
	VSUBPS  Y8, Y4, Y4
	VMULPS  (DX), Y4, Y4
	VADDPS  Y4, Y0, Y0
	ADDQ    $32, SI
	ADDQ    $32, DX
	SUBQ    $8, CX
	JMP     dot8

dotdone:
	REDUCE_END

// func sqDiffAVX2(x *float32, n int, mu float32, lanes *[8]float32)
TEXT ·sqDiffAVX2(SB), NOSPLIT, $0-32
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS mu+16(FP), Y8
	MOVQ         lanes+24(FP), DI
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1
	VXORPS       Y2, Y2, Y2
	VXORPS       Y3, Y3, Y3

sq32:
	CMPQ    CX, $32
	JB      sq8
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VSUBPS  Y8, Y4, Y4
	VSUBPS  Y8, Y5, Y5
	VSUBPS  Y8, Y6, Y6
	VSUBPS  Y8, Y7, Y7
	VMULPS  Y4, Y4, Y4
	VMULPS  Y5, Y5, Y5
	VMULPS  Y6, Y6, Y6
	VMULPS  Y7, Y7, Y7
	VADDPS  Y4, Y0, Y0
	VADDPS  Y5, Y1, Y1
	VADDPS  Y6, Y2, Y2
	VADDPS  Y7, Y3, Y3
	ADDQ    $128, SI
	SUBQ    $32, CX
	JMP     sq32

sq8:
	TESTQ   CX, CX
	JZ      sqdone
	VMOVUPS (SI), Y4
	VSUBPS  Y8, Y4, Y4
	VMULPS  Y4, Y4, Y4
	VADDPS  Y4, Y0, Y0
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     sq8

sqdone:
	REDUCE_END

// func affineDiffAVX2(dst, x, y *float32, chunks int, a, b, d, c float32)
//
// dst = (a·x + b·(y−d)) + c, each operation rounded on its own.
TEXT ·affineDiffAVX2(SB), NOSPLIT, $0-48
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DX
	MOVQ         chunks+24(FP), CX
	VBROADCASTSS a+32(FP), Y0
	VBROADCASTSS b+36(FP), Y1
	VBROADCASTSS d+40(FP), Y3
	VBROADCASTSS c+44(FP), Y2

axpy:
	TESTQ   CX, CX
	JZ      axpydone
	VMULPS  (SI), Y0, Y4
	VMOVUPS (DX), Y5
	VSUBPS  Y3, Y5, Y5
	VMULPS  Y5, Y1, Y5
	VADDPS  Y5, Y4, Y4
	VADDPS  Y2, Y4, Y4
	VMOVUPS Y4, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JMP     axpy

axpydone:
	VZEROUPPER
	RET

// func maskPositiveAVX2(dst, grad, y *float32, chunks int)
//
// dst = grad where y > 0 (ordered, so NaN is not), else 0.
TEXT ·maskPositiveAVX2(SB), NOSPLIT, $0-32
	MOVQ   dst+0(FP), DI
	MOVQ   grad+8(FP), SI
	MOVQ   y+16(FP), DX
	MOVQ   chunks+24(FP), CX
	VXORPS Y9, Y9, Y9

mask:
	TESTQ   CX, CX
	JZ      maskdone
	VMOVUPS (DX), Y5
	VCMPPS  $0x1e, Y9, Y5, Y6
	VANDPS  (SI), Y6, Y6
	VMOVUPS Y6, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JMP     mask

maskdone:
	VZEROUPPER
	RET

// func addAVX2(dst, x, y *float32, chunks int)
TEXT ·addAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DX
	MOVQ chunks+24(FP), CX

add4:
	CMPQ    CX, $4
	JB      add1
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VADDPS  (DX), Y0, Y0
	VADDPS  32(DX), Y1, Y1
	VADDPS  64(DX), Y2, Y2
	VADDPS  96(DX), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DX
	ADDQ    $128, DI
	SUBQ    $4, CX
	JMP     add4

add1:
	TESTQ   CX, CX
	JZ      adddone
	VMOVUPS (SI), Y0
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JMP     add1

adddone:
	VZEROUPPER
	RET
