package fixed

import (
	"fmt"
	"slices"
)

// SumRows sets dst[j] = Σ_p src[p·c + j] for j < c, over the len(src)/c
// rows of c bytes in src: the per-channel sums of a [pixels, channels]
// block of uint8 codes, a global average pool's numerators. The sums are
// exact for fewer than 2²³ rows. SumRows panics if c < 1, len(src) is not
// a multiple of c or dst is shorter than c.
func SumRows(dst []int32, src []uint8, c int) {
	if c < 1 || len(src)%c != 0 || len(dst) < c {
		panic(fmt.Sprintf("fixed: SumRows: %d bytes in rows of %d into %d sums", len(src), c, len(dst)))
	}
	sumRows(sumImpl, dst[:c], src, c)
}

// sumRows is SumRows on the named implementation: whole chunks of 16 (AVX-512)
// or 8 (AVX2) channels in assembly, the rest in Go.
func sumRows(which string, dst []int32, src []uint8, c int) {
	rows, j0 := len(src)/c, 0
	switch {
	case rows == 0:
	case which == ImplVNNI && c >= 16:
		j0 = c &^ 15
		sumRows16(&dst[0], &src[0], rows, c, j0)
	case which == ImplAVX2 && c >= 8:
		j0 = c &^ 7
		sumRows8(&dst[0], &src[0], rows, c, j0)
	}
	sumRowsGo(dst[j0:c], src, c, j0)
}

// sumRowsGo sets dst[j−j0] to the sum of channel j of the rows of c bytes
// in src, for j0 ≤ j < j0 + len(dst): the portable reference.
func sumRowsGo(dst []int32, src []uint8, c, j0 int) {
	clear(dst)
	for p := 0; p+c <= len(src); p += c {
		row := src[p+j0 : p+j0+len(dst)]
		for j, v := range row {
			dst[j] += int32(v)
		}
	}
}

// sumImpl is the implementation SumRows uses: ImplVNNI for the AVX-512
// kernel (AVX-512 F, present with VNNI), ImplAVX2 or ImplGo; fixed at init
// by sumSelfTest.
var sumImpl = ImplGo

// sumSelfTest reports whether the named implementation of SumRows agrees
// with the Go loop on rows of 255s and mixed bytes, over channel counts
// with and without a Go tail.
func sumSelfTest(which string) bool {
	const rows = 37
	for _, c := range []int{8, 16, 35, 64} {
		src := make([]uint8, rows*c)
		for i := range src {
			src[i] = uint8(i*29 + i/c)
		}
		for i := range c {
			src[i] = 255
		}
		want, got := make([]int32, c), make([]int32, c)
		sumRowsGo(want, src, c, 0)
		sumRows(which, got, src, c)
		if !slices.Equal(got, want) {
			return false
		}
	}
	return true
}
