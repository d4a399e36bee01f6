//go:build !purego

#include "textflag.h"

// func scaleBiasClampAVX2(dst, src *float32, n int, scale, bias, lo, hi float32)
//
// dst[i] = min(max(src[i]·scale + bias, lo), hi) for i < n, multiply and
// add rounded separately. VMAXPS returns its second source when either is
// NaN, so with v as the second source a NaN passes both bounds unchanged.
// Four vectors a step while at least 32 floats remain, then one, then the
// last n mod 8 through a mask (tailMask, from the Sgemm kernel).
TEXT ·scaleBiasClampAVX2(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), R8
	MOVQ         R8, CX
	SHRQ         $3, CX
	VBROADCASTSS scale+24(FP), Y0
	VBROADCASTSS bias+28(FP), Y1
	VBROADCASTSS lo+32(FP), Y2
	VBROADCASTSS hi+36(FP), Y3

loop4:
	CMPQ   CX, $4
	JB     loop1
	VMULPS (SI), Y0, Y4
	VMULPS 32(SI), Y0, Y5
	VMULPS 64(SI), Y0, Y6
	VMULPS 96(SI), Y0, Y7
	VADDPS Y1, Y4, Y4
	VADDPS Y1, Y5, Y5
	VADDPS Y1, Y6, Y6
	VADDPS Y1, Y7, Y7
	VMAXPS Y4, Y2, Y4
	VMAXPS Y5, Y2, Y5
	VMAXPS Y6, Y2, Y6
	VMAXPS Y7, Y2, Y7
	VMINPS Y4, Y3, Y4
	VMINPS Y5, Y3, Y5
	VMINPS Y6, Y3, Y6
	VMINPS Y7, Y3, Y7
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, 32(DI)
	VMOVUPS Y6, 64(DI)
	VMOVUPS Y7, 96(DI)
	ADDQ   $128, SI
	ADDQ   $128, DI
	SUBQ   $4, CX
	JMP    loop4

loop1:
	TESTQ  CX, CX
	JZ     tail
	VMULPS (SI), Y0, Y4
	VADDPS Y1, Y4, Y4
	VMAXPS Y4, Y2, Y4
	VMINPS Y4, Y3, Y4
	VMOVUPS Y4, (DI)
	ADDQ   $32, SI
	ADDQ   $32, DI
	DECQ   CX
	JMP    loop1

tail:
	ANDQ       $7, R8
	JZ         done
	LEAQ       ·tailMask(SB), R9
	MOVQ       $16, AX
	SUBQ       R8, AX
	VMOVUPS    (R9)(AX*4), Y5
	VMASKMOVPS (SI), Y5, Y4
	VMULPS     Y4, Y0, Y4
	VADDPS     Y1, Y4, Y4
	VMAXPS     Y4, Y2, Y4
	VMINPS     Y4, Y3, Y4
	VMASKMOVPS Y4, Y5, (DI)

done:
	VZEROUPPER
	RET

// func copyEvenAVX2(dst, src *float32, chunks int)
//
// Each chunk reads 16 floats and keeps the even ones: VSHUFPS takes
// elements 0 and 2 of each 128-bit lane of both vectors (giving 0 2 8 10 |
// 4 6 12 14), VPERMPD puts the 64-bit pairs back in order.
TEXT ·copyEvenAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ chunks+16(FP), CX

loop:
	TESTQ   CX, CX
	JZ      done
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VSHUFPS $0x88, Y1, Y0, Y2
	VPERMPD $0xD8, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $64, SI
	ADDQ    $32, DI
	DECQ    CX
	JMP     loop

done:
	VZEROUPPER
	RET
