package fixed

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSumRows checks SumRows on every available implementation against
// the Go loop, over channel counts around the 8- and 16-channel chunks,
// odd and even row counts and all-255 inputs, with guard bands after dst.
func TestSumRows(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 3))
	for _, c := range []int{1, 7, 8, 9, 15, 16, 17, 24, 32, 33, 64, 100} {
		for _, rows := range []int{0, 1, 2, 3, 196, 785} {
			src := make([]uint8, rows*c)
			for i := range src {
				src[i] = uint8(r.Uint32())
			}
			if rows == 785 {
				for i := range src {
					src[i] = 255
				}
			}
			want := make([]int32, c)
			for p := range rows {
				for j := range c {
					want[j] += int32(src[p*c+j])
				}
			}
			for _, which := range available() {
				got := make([]int32, c+5)
				for i := range got {
					got[i] = sentinel
				}
				sumRows(which, got[:c], src, c)
				if !slices.Equal(got[:c], want) || slices.ContainsFunc(got[c:], func(v int32) bool { return v != sentinel }) {
					t.Errorf("%s c=%d rows=%d: got %v, want %v", which, c, rows, got, want)
				}
			}
			got := make([]int32, c)
			SumRows(got, src, c)
			if !slices.Equal(got, want) {
				t.Errorf("SumRows c=%d rows=%d: got %v, want %v", c, rows, got, want)
			}
		}
	}
	for _, bad := range [][2]int{{0, 0}, {10, 3}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SumRows on %d bytes in rows of %d: no panic", bad[0], bad[1])
				}
			}()
			SumRows(make([]int32, 4), make([]uint8, bad[0]), bad[1])
		}()
	}
	if HasAVX512VNNI && sumImpl != ImplVNNI || !HasAVX512VNNI && HasAVX2 && sumImpl != ImplAVX2 {
		t.Errorf("SumRows runs %s with VNNI %v, AVX2 %v", sumImpl, HasAVX512VNNI, HasAVX2)
	}
}
