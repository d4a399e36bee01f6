package fixed

import (
	"fmt"
	"slices"
)

// DepthwiseRows computes a depthwise convolution's int32 accumulators for
// npix output pixels over an image of c channels innermost (uint8 codes):
//
//	acc[p·c + j] = init[j] + Σ_t src[p·stride + taps[t] + j] · w[t·c + j]
//
// for p < npix and j < c: taps are the offsets of the kernel's taps from
// an output pixel's window origin, stride the bytes between neighbouring
// origins, w the weights tap-major [len(taps), c] and init the zero-point
// correction, −zero·Σ_t w[t·c + j] when the image is padded with the
// input zero point. The sums wrap in int32 like the GEMM's. Whole chunks
// of 16 (AVX-512) or 8 (AVX2) channels run in assembly, the rest in Go.
// DepthwiseRows panics if a slice is too short or an offset negative.
func DepthwiseRows(acc []int32, src []uint8, npix, stride int, taps []int, w, init []int32, c int) {
	if npix <= 0 || c <= 0 {
		return
	}
	end := (npix-1)*stride + c
	if len(taps) > 0 {
		end += slices.Max(taps)
	}
	if stride < 0 || len(taps) > 0 && slices.Min(taps) < 0 || end > len(src) ||
		len(acc) < npix*c || len(w) < len(taps)*c || len(init) < c {
		panic(fmt.Sprintf("fixed: DepthwiseRows: %d pixels of %d channels (stride %d, %d taps) on %d bytes, %d weights, %d accumulators",
			npix, c, stride, len(taps), len(src), len(w), len(acc)))
	}
	depthwiseRows(dwImpl, acc, src, npix, stride, taps, w, init, c)
}

// depthwiseRows is DepthwiseRows on the named implementation, arguments
// checked.
func depthwiseRows(which string, acc []int32, src []uint8, npix, stride int, taps []int, w, init []int32, c int) {
	j0 := 0
	switch {
	case len(taps) == 0:
	case which == ImplVNNI && c >= 16:
		j0 = c &^ 15
		dwRows16(&acc[0], &src[0], npix, stride, &taps[0], len(taps), &w[0], &init[0], c, j0)
	case which == ImplAVX2 && c >= 8:
		j0 = c &^ 7
		dwRows8(&acc[0], &src[0], npix, stride, &taps[0], len(taps), &w[0], &init[0], c, j0)
	}
	depthwiseRowsGo(acc, src, npix, stride, taps, w, init, c, j0)
}

// depthwiseRowsGo is DepthwiseRows in Go for channels j0 … c−1, the
// reference of the assembly.
func depthwiseRowsGo(acc []int32, src []uint8, npix, stride int, taps []int, w, init []int32, c, j0 int) {
	for p := range npix {
		a := acc[p*c+j0 : (p+1)*c]
		copy(a, init[j0:c])
		for t, off := range taps {
			row := src[p*stride+off+j0 : p*stride+off+c]
			wt := w[t*c+j0 : (t+1)*c]
			wt = wt[:len(row)]
			a := a[:len(row)]
			for j, v := range row {
				a[j] += int32(v) * wt[j]
			}
		}
	}
}

// dwImpl is the implementation DepthwiseRows uses (ImplVNNI for the
// AVX-512 kernel, ImplAVX2 or ImplGo), fixed at init by dwSelfTest.
var dwImpl = ImplGo

// dwSelfTest reports whether the named implementation of DepthwiseRows
// agrees with the Go loop on 5 pixels of 37 channels (two 16-channel
// chunks and a Go tail), 9 overlapping taps, extreme codes and weights.
func dwSelfTest(which string) bool {
	const npix, c, stride = 5, 37, 23
	taps := []int{0, 3, 37, 40, 74, 77, 111, 114, 150}
	src := make([]uint8, (npix-1)*stride+150+c)
	w, init := make([]int32, len(taps)*c), make([]int32, c)
	x := uint32(11)
	for i := range src {
		x = x*1664525 + 1013904223
		src[i] = uint8(x >> 24)
	}
	for i := range w {
		x = x*1664525 + 1013904223
		w[i] = int32(int8(x >> 24))
	}
	for i := range init {
		x = x*1664525 + 1013904223
		init[i] = int32(x)
	}
	src[0], w[0], init[0] = 255, -128, -1<<31
	want, got := make([]int32, npix*c), make([]int32, npix*c)
	depthwiseRowsGo(want, src, npix, stride, taps, w, init, c, 0)
	depthwiseRows(which, got, src, npix, stride, taps, w, init, c)
	return slices.Equal(got, want)
}
