//go:build !purego

package sparse

import "github.com/compressq/compressq/compress/internal/cpu"

// cpuSpMV512 reports whether the CPU and OS support the AVX-512 SpMV
// kernel (AVX-512 F, BW, VBMI and VNNI); read once at start-up.
var cpuSpMV512 = cpu.AVX512F && cpu.AVX512BW && cpu.AVX512VBMI && cpu.AVX512VNNI

// The AVX-512 SpMV kernels are written by hand in spmv_int8_amd64.s (avo
// has no VPDPBUSD); the AVX2 one is generated with avo into
// kernels_amd64.s, as the other kernels. Both compute, for the layout of a SlicedInt8 m (G rows per
// group, S columns per slice, slices·groups step counts in steps,
// slice-major) and negZero = −zero,
//
//	for g < groups: y_g[r] = negZero·rowSum[g·G+r]
//	for s < slices, g < groups, each step t of (s, g), r < G, b < 4:
//		y_g[r] += w[t][slot(r, b)] · x_s[idx[t][slot(r, b)]]
//
// in int32, where x_s is x[s·S : s·S+S] for s < fullSlices and the S
// bytes at xtail otherwise, and y_g is y[g·G : g·G+G] for g < fullGroups
// and the G int32 at ytail otherwise.

// spmvI8VBMI is the kernel for G = 16, S = 128 and int8 weights w = val
// (64 per step): VPERMI2B and VPDPBUSD. It needs AVX-512 F, BW, VBMI and
// VNNI.
//
//go:noescape
func spmvI8VBMI(steps *int32, groups, slices int, idx *uint8, val *int8, rowSum *int32, negZero int, x *uint8, fullSlices int, xtail *uint8, y *int32, fullGroups int, ytail *int32)

// spmvI8AVX2 is the kernel for G = 8, S = 16 and int16 weights val (32 per
// step, in the widening's order; see SlicedInt8.slot): VPSHUFB,
// VPUNPCK[LH]BW and VPMADDWD. It needs AVX2.
//
//go:noescape
func spmvI8AVX2(steps *int32, groups, slices int, idx *uint8, val *int16, rowSum *int32, negZero int, x *uint8, fullSlices int, xtail *uint8, y *int32, fullGroups int, ytail *int32)

// spmvI8VBMI4 is spmvI8VBMI on four vectors in one pass over the layout:
// vector v (< 4) reads x + v·ldx (its partial slice at xtail + v·128) and
// writes y + v·ldy (its partial group at ytail + v·16), so a step's
// indices and weights are loaded once for four look-ups and dot products.
// It needs AVX-512 F, BW, VBMI and VNNI.
//
//go:noescape
func spmvI8VBMI4(steps *int32, groups, slices int, idx *uint8, val *int8, rowSum *int32, negZero int, x *uint8, ldx int, fullSlices int, xtail *uint8, y *int32, ldy int, fullGroups int, ytail *int32)
