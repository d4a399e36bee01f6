//go:build !purego

#include "textflag.h"

// The AVX-512 int8 SpMV kernels of SlicedInt8, written by hand (avo has
// no VPDPBUSD; the AVX2 one is generated with the other kernels);
// spmv_int8_amd64.go states their contract. They walk the slices of x in
// the outer loop, holding one slice in registers, and the row groups in
// the inner loop: a group's int32 lanes start at negZero·rowSum in the
// first slice and are reloaded from y in later ones (groups with no step
// there are skipped), so consecutive groups are independent and overlap.
// Registers: SI step counts, R8 indices, R9 weights, DI the slice of x,
// R10 slice, R11 group, R12 rowSum of the group, R13 y of the group, DX
// where the group's lanes go, CX steps left.

// func spmvI8VBMI(steps *int32, groups, slices int, idx *uint8, val *int8, rowSum *int32, negZero int, x *uint8, fullSlices int, xtail *uint8, y *int32, fullGroups int, ytail *int32)
// Z0, Z1 the slice's 128 bytes of x; Z3, Z4 two accumulators (steps
// alternate between them to halve the VPDPBUSD dependency chain); Z6
// negZero.
TEXT ·spmvI8VBMI(SB), NOSPLIT, $0-104
	MOVQ steps+0(FP), SI
	MOVQ idx+24(FP), R8
	MOVQ val+32(FP), R9
	MOVQ negZero+48(FP), AX
	VPBROADCASTD AX, Z6
	MOVQ x+56(FP), DI
	XORQ R10, R10

vbmiSlice:
	CMPQ R10, slices+16(FP)
	JGE  vbmiDone
	MOVQ DI, BX
	CMPQ R10, fullSlices+64(FP)
	JLT  vbmiTable
	MOVQ xtail+72(FP), BX

vbmiTable:
	VMOVDQU64 (BX), Z0
	VMOVDQU64 64(BX), Z1
	MOVQ      rowSum+40(FP), R12
	MOVQ      y+80(FP), R13
	XORQ      R11, R11

vbmiGroup:
	CMPQ    R11, groups+8(FP)
	JGE     vbmiNextSlice
	MOVLQSX (SI), CX
	ADDQ    $4, SI
	MOVQ    R13, DX
	CMPQ    R11, fullGroups+88(FP)
	JLT     vbmiFirst
	MOVQ    ytail+96(FP), DX

vbmiFirst:
	TESTQ   R10, R10
	JNZ     vbmiReload
	VPMULLD (R12), Z6, Z3
	JMP     vbmiSteps

vbmiReload:
	TESTQ     CX, CX
	JZ        vbmiNextGroup
	VMOVDQU32 (DX), Z3

vbmiSteps:
	VPXORD Z4, Z4, Z4

vbmiPair:
	CMPQ     CX, $2
	JLT      vbmiOne
	VMOVDQU8 (R8), Z2
	VPERMI2B Z1, Z0, Z2
	VMOVDQU8 64(R8), Z5
	VPERMI2B Z1, Z0, Z5
	VPDPBUSD (R9), Z2, Z3
	VPDPBUSD 64(R9), Z5, Z4
	ADDQ     $128, R8
	ADDQ     $128, R9
	SUBQ     $2, CX
	JMP      vbmiPair

vbmiOne:
	TESTQ    CX, CX
	JZ       vbmiStore
	VMOVDQU8 (R8), Z2
	VPERMI2B Z1, Z0, Z2
	VPDPBUSD (R9), Z2, Z3
	ADDQ     $64, R8
	ADDQ     $64, R9

vbmiStore:
	VPADDD    Z4, Z3, Z3
	VMOVDQU32 Z3, (DX)

vbmiNextGroup:
	ADDQ $64, R12
	ADDQ $64, R13
	INCQ R11
	JMP  vbmiGroup

vbmiNextSlice:
	ADDQ $128, DI
	INCQ R10
	JMP  vbmiSlice

vbmiDone:
	VZEROUPPER
	RET

// func spmvI8VBMI4(steps *int32, groups, slices int, idx *uint8, val *int8, rowSum *int32, negZero int, x *uint8, ldx int, fullSlices int, xtail *uint8, y *int32, ldy int, fullGroups int, ytail *int32)
// spmvI8VBMI on four vectors at once: each step's indices are loaded once
// and looked up in the four vectors' slices (Z0–Z7; VPERMI2B overwrites its
// index operand, so each look-up works on a copy in Z12–Z15), each
// vector's lanes in Z8–Z11. Vector v's slice is at x + v·ldx (xtail +
// v·128 for the partial one) and its group at y + v·ldy (ytail + v·64
// bytes). DI and BX step between the vectors' slices; AX between their
// groups.
TEXT ·spmvI8VBMI4(SB), NOSPLIT, $0-120
	MOVQ steps+0(FP), SI
	MOVQ idx+24(FP), R8
	MOVQ val+32(FP), R9
	MOVQ negZero+48(FP), AX
	VPBROADCASTD AX, Z16
	XORQ R10, R10

vbmi4Slice:
	CMPQ R10, slices+16(FP)
	JGE  vbmi4Done
	MOVQ R10, DI
	SHLQ $7, DI
	ADDQ x+56(FP), DI
	MOVQ ldx+64(FP), BX
	CMPQ R10, fullSlices+72(FP)
	JLT  vbmi4Tables
	MOVQ xtail+80(FP), DI
	MOVQ $128, BX

vbmi4Tables:
	VMOVDQU64 (DI), Z0
	VMOVDQU64 64(DI), Z1
	ADDQ      BX, DI
	VMOVDQU64 (DI), Z2
	VMOVDQU64 64(DI), Z3
	ADDQ      BX, DI
	VMOVDQU64 (DI), Z4
	VMOVDQU64 64(DI), Z5
	ADDQ      BX, DI
	VMOVDQU64 (DI), Z6
	VMOVDQU64 64(DI), Z7
	MOVQ      rowSum+40(FP), R12
	XORQ      R13, R13
	XORQ      R11, R11

vbmi4Group:
	CMPQ    R11, groups+8(FP)
	JGE     vbmi4NextSlice
	MOVLQSX (SI), CX
	ADDQ    $4, SI
	MOVQ    y+88(FP), DX
	ADDQ    R13, DX
	MOVQ    ldy+96(FP), AX
	SHLQ    $2, AX
	CMPQ    R11, fullGroups+104(FP)
	JLT     vbmi4First
	MOVQ    ytail+112(FP), DX
	MOVQ    $64, AX

vbmi4First:
	TESTQ     R10, R10
	JNZ       vbmi4Reload
	VPMULLD   (R12), Z16, Z8
	VMOVDQA64 Z8, Z9
	VMOVDQA64 Z8, Z10
	VMOVDQA64 Z8, Z11
	JMP       vbmi4Steps

vbmi4Reload:
	TESTQ     CX, CX
	JZ        vbmi4NextGroup
	MOVQ      DX, DI
	VMOVDQU32 (DI), Z8
	ADDQ      AX, DI
	VMOVDQU32 (DI), Z9
	ADDQ      AX, DI
	VMOVDQU32 (DI), Z10
	ADDQ      AX, DI
	VMOVDQU32 (DI), Z11

vbmi4Steps:
	TESTQ CX, CX
	JZ    vbmi4Store

vbmi4Step:
	VMOVDQU8  (R8), Z17
	VMOVDQA64 Z17, Z12
	VPERMI2B  Z1, Z0, Z12
	VMOVDQA64 Z17, Z13
	VPERMI2B  Z3, Z2, Z13
	VMOVDQA64 Z17, Z14
	VPERMI2B  Z5, Z4, Z14
	VMOVDQA64 Z17, Z15
	VPERMI2B  Z7, Z6, Z15
	VPDPBUSD  (R9), Z12, Z8
	VPDPBUSD  (R9), Z13, Z9
	VPDPBUSD  (R9), Z14, Z10
	VPDPBUSD  (R9), Z15, Z11
	ADDQ      $64, R8
	ADDQ      $64, R9
	DECQ      CX
	JNZ       vbmi4Step

vbmi4Store:
	MOVQ      DX, DI
	VMOVDQU32 Z8, (DI)
	ADDQ      AX, DI
	VMOVDQU32 Z9, (DI)
	ADDQ      AX, DI
	VMOVDQU32 Z10, (DI)
	ADDQ      AX, DI
	VMOVDQU32 Z11, (DI)

vbmi4NextGroup:
	ADDQ $64, R12
	ADDQ $64, R13
	INCQ R11
	JMP  vbmi4Group

vbmi4NextSlice:
	INCQ R10
	JMP  vbmi4Slice

vbmi4Done:
	VZEROUPPER
	RET
