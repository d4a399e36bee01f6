//go:build !amd64 || purego

package kernels

// maxPool2x2Row does no outputs here: the caller's Go loop does them all.
func maxPool2x2Row(d []float32, am []int32, r0, r1 []float32, w, base int) int { return 0 }

// maxPoolRowFast is never called here (useAsm is false).
func maxPoolRowFast(d, src []float32, k, stride, w int) { panic("kernels: no assembly") }
