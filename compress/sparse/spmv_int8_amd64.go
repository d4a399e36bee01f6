//go:build !purego

package sparse

import "github.com/compressq/compressq/compress/internal/cpu"

// cpuSpMV512 reports whether the CPU and OS support the AVX-512 SpMV
// kernel (AVX-512 F, BW, VBMI and VNNI); read once at start-up.
var cpuSpMV512 = cpu.AVX512F && cpu.AVX512BW && cpu.AVX512VBMI && cpu.AVX512VNNI

// The AVX-512 SpMV kernels are written by hand in spmv_int8_amd64.s (avo
// has no VPDPBUSD); the AVX2 one is generated with avo into
// kernels_amd64.s, as the other kernels. For the layout of a SlicedInt8 m
// (G rows per group, each step a window of S bytes x_t of x and one index
// and weight per slot) and negZero = −zero, they compute
//
//	for g < groups: y_g[r] = negZero·rowSum[g·G+r]
//	for each step t of g, r < G, each slot j of row r in t:
//		y_g[r] += w[t][j] · x_t[i_t[j]]
//
// in int32, where i_t[j] is idx[t][j] (AVX-512) or idx[t][j] − 0x70
// (AVX2), y_g is y[g·G : g·G+G] for g < fullGroups and the G int32
// at ytail otherwise. The AVX-512 kernels take the steps slice-major and
// x_t is x[s·S : s·S+S] of the step's slice s for s < fullSlices and the S
// bytes at xtail otherwise; the AVX2 one takes them group by group and x_t
// is x[off[t] : off[t]+S].

// spmvI8VBMI is the kernel for G = 16, S = 128 and int8 weights w = val
// (64 per step): VPERMI2B and VPDPBUSD. It needs AVX-512 F, BW, VBMI and
// VNNI.
//
//go:noescape
func spmvI8VBMI(steps *int32, groups, slices int, idx *uint8, val *int8, rowSum *int32, negZero int, x *uint8, fullSlices int, xtail *uint8, y *int32, fullGroups int, ytail *int32)

// spmvI8AVX2 is the kernel for G = 16, S = 32 (2 slots per row and step,
// indices stored as index + 0x70), steps[g] steps of group g (even), off
// the window of each step and int8 weights val (32 per step, in the
// widening's order; see avx2Slot and widenOrder): VPSHUFB, VPUNPCK[LH]BW,
// VPMOVSXBW and VPMADDWD. It needs AVX2.
//
//go:noescape
func spmvI8AVX2(steps *int32, groups int, off *int32, idx *uint8, val *int8, rowSum *int32, negZero int, x *uint8, y *int32, fullGroups int, ytail *int32)

// spmvI8VBMI4 is spmvI8VBMI on four vectors in one pass over the layout:
// vector v (< 4) reads x + v·ldx (its partial slice at xtail + v·128) and
// writes y + v·ldy (its partial group at ytail + v·16), so a step's
// indices and weights are loaded once for four look-ups and dot products.
// It needs AVX-512 F, BW, VBMI and VNNI.
//
//go:noescape
func spmvI8VBMI4(steps *int32, groups, slices int, idx *uint8, val *int8, rowSum *int32, negZero int, x *uint8, ldx int, fullSlices int, xtail *uint8, y *int32, ldy int, fullGroups int, ytail *int32)

// spmvI8AVX2x4 is spmvI8AVX2 on four vectors in one pass over the layout:
// vector v (< 4) reads x + v·ldx and writes y + v·ldy (its partial group at
// ytail + v·16), so a step's window start, indices and weights are loaded
// and widened once for four look-ups and dot products. It needs AVX2.
//
//go:noescape
func spmvI8AVX2x4(steps *int32, groups int, off *int32, idx *uint8, val *int8, rowSum *int32, negZero int, x *uint8, ldx int, y *int32, ldy int, fullGroups int, ytail *int32)
