package fixed

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestDepthwiseRows checks DepthwiseRows on every available
// implementation against the plain sum over taps, for channel counts
// around the 8- and 16-channel chunks, 3×3 and 5×5 taps with strides and
// dilation over a padded image, extreme codes and weights, and guard
// elements after acc.
func TestDepthwiseRows(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 5))
	for _, c := range []int{1, 7, 8, 9, 16, 17, 24, 32, 40, 64} {
		for _, g := range []struct{ k, stride, dil, wp, npix int }{{3, 1, 1, 10, 8}, {3, 2, 1, 11, 5}, {5, 1, 1, 9, 5}, {3, 1, 2, 12, 6}, {1, 1, 1, 3, 3}} {
			var taps []int
			for ki := range g.k {
				for kj := range g.k {
					taps = append(taps, (ki*g.wp+kj)*g.dil*c)
				}
			}
			stride := g.stride * c
			src := make([]uint8, (g.npix-1)*stride+slices.Max(taps)+c)
			for i := range src {
				src[i] = uint8(r.Uint32())
			}
			w, init := make([]int32, len(taps)*c), make([]int32, c)
			for i := range w {
				w[i] = int32(int8(r.Uint32()))
			}
			for i := range init {
				init[i] = int32(r.Uint32())
			}
			src[0], w[0] = 255, -128
			want := make([]int32, g.npix*c)
			for p := range g.npix {
				for j := range c {
					s := init[j]
					for ti, off := range taps {
						s += int32(src[p*stride+off+j]) * w[ti*c+j]
					}
					want[p*c+j] = s
				}
			}
			what := fmt.Sprintf("c=%d %+v", c, g)
			for _, which := range available() {
				got := make([]int32, g.npix*c+3)
				for i := range got {
					got[i] = sentinel
				}
				depthwiseRows(which, got[:g.npix*c], src, g.npix, stride, taps, w, init, c)
				if !slices.Equal(got[:g.npix*c], want) || slices.ContainsFunc(got[g.npix*c:], func(v int32) bool { return v != sentinel }) {
					t.Errorf("%s %s: differs from the sum over taps", which, what)
				}
			}
			got := make([]int32, g.npix*c)
			DepthwiseRows(got, src, g.npix, stride, taps, w, init, c)
			if !slices.Equal(got, want) {
				t.Errorf("DepthwiseRows %s: differs from the sum over taps", what)
			}
		}
	}
	if HasAVX512VNNI && dwImpl != ImplVNNI || !HasAVX512VNNI && HasAVX2 && dwImpl != ImplAVX2 {
		t.Errorf("DepthwiseRows runs %s with VNNI %v, AVX2 %v", dwImpl, HasAVX512VNNI, HasAVX2)
	}
	defer func() {
		if recover() == nil {
			t.Error("DepthwiseRows past the image: no panic")
		}
	}()
	DepthwiseRows(make([]int32, 8), make([]uint8, 8), 2, 4, []int{0, 1}, make([]int32, 8), make([]int32, 4), 4)
}
