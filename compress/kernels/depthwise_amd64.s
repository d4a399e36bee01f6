//go:build !purego

#include "textflag.h"

// func dw3x3RowsFMA(dst, src *float32, rows, n, dstStride, srcStride, d int, w *float32, bias float32, acc int)
//
// Reference loop:
//
//	for y := 0; y < rows; y++ {
//		for i := 0; i < n; i++ {
//			if acc == 0 {
//				dst[y*dstStride+i] = bias
//			}
//			for a := 0; a < 3; a++ {
//				for b := 0; b < 3; b++ {
//					dst[y*dstStride+i] += w[3*a+b] * src[(y+a*d)*srcStride+i+b*d]
//				}
//			}
//		}
//	}
//
// Each block of 8 outputs sums its taps in three chains (one per kernel
// row, the first starting from the bias or, with acc ≠ 0, from dst) that
// are added at the end.
TEXT ·dw3x3RowsFMA(SB), NOSPLIT, $0-80
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), BX
	MOVQ n+24(FP), R8
	MOVQ dstStride+32(FP), R9
	MOVQ srcStride+40(FP), R10
	MOVQ d+48(FP), DX
	MOVQ w+56(FP), AX
	MOVQ acc+72(FP), R15
	SHLQ $2, R9   // dst row stride, bytes
	SHLQ $2, R10  // src row stride, bytes
	MOVQ DX, R11
	IMULQ R10, R11 // d rows of src, bytes
	SHLQ $2, DX   // d columns, bytes

	VBROADCASTSS 0(AX), Y0
	VBROADCASTSS 4(AX), Y1
	VBROADCASTSS 8(AX), Y2
	VBROADCASTSS 12(AX), Y3
	VBROADCASTSS 16(AX), Y4
	VBROADCASTSS 20(AX), Y5
	VBROADCASTSS 24(AX), Y6
	VBROADCASTSS 28(AX), Y7
	VBROADCASTSS 32(AX), Y8
	VBROADCASTSS bias+64(FP), Y12

row:
	MOVQ DI, R12            // output
	MOVQ SI, R13            // kernel row 0
	LEAQ (SI)(R11*1), R14   // kernel row 1
	LEAQ (R14)(R11*1), AX   // kernel row 2
	MOVQ R8, CX

col:
	VMOVAPS     Y12, Y9
	TESTQ       R15, R15
	JEQ         fresh
	VMOVUPS     (R12), Y9

fresh:
	VMULPS      (R14), Y3, Y10
	VMULPS      (AX), Y6, Y11
	VFMADD231PS (R13), Y0, Y9
	VFMADD231PS (R14)(DX*1), Y4, Y10
	VFMADD231PS (AX)(DX*1), Y7, Y11
	VFMADD231PS (R13)(DX*1), Y1, Y9
	VFMADD231PS (R14)(DX*2), Y5, Y10
	VFMADD231PS (AX)(DX*2), Y8, Y11
	VFMADD231PS (R13)(DX*2), Y2, Y9
	VADDPS      Y10, Y9, Y9
	VADDPS      Y11, Y9, Y9
	VMOVUPS     Y9, (R12)
	ADDQ        $32, R12
	ADDQ        $32, R13
	ADDQ        $32, R14
	ADDQ        $32, AX
	SUBQ        $8, CX
	JNZ         col

	ADDQ R9, DI
	ADDQ R10, SI
	DECQ BX
	JNZ  row
	VZEROUPPER
	RET
