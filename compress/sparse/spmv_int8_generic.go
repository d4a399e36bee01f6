//go:build !amd64 || purego

package sparse

// cpuSpMV512 is false: this build has no assembly kernels.
const cpuSpMV512 = false

func spmvI8VBMI(steps *int32, groups, slices int, idx *uint8, val *int8, rowSum *int32, negZero int, x *uint8, fullSlices int, xtail *uint8, y *int32, fullGroups int, ytail *int32) {
	panic("sparse: no assembly in this build")
}

func spmvI8AVX2(steps *int32, groups int, off *int32, idx *uint8, val *int8, rowSum *int32, negZero int, x *uint8, y *int32, fullGroups int, ytail *int32) {
	panic("sparse: no assembly in this build")
}

func spmvI8VBMI4(steps *int32, groups, slices int, idx *uint8, val *int8, rowSum *int32, negZero int, x *uint8, ldx int, fullSlices int, xtail *uint8, y *int32, ldy int, fullGroups int, ytail *int32) {
	panic("sparse: no assembly in this build")
}

func spmvI8AVX2x4(steps *int32, groups int, off *int32, idx *uint8, val *int8, rowSum *int32, negZero int, x *uint8, ldx int, y *int32, ldy int, fullGroups int, ytail *int32) {
	panic("sparse: no assembly in this build")
}
