package fixed

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestGEMMRequant checks the fused entry points against GEMMRef followed by
// RequantizeInt8/Uint8, on every implementation, with guard bytes around
// the output.
func TestGEMMRequant(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	const guard = 37
	for _, s := range [][3]int{{1, 1, 1}, {3, 17, 15}, {65, 63, 127}, {130, 257, 65}, {9, 1000, 300}} {
		m, n, k := s[0], s[1], s[2]
		p := newProblem(m, n, k, 1, 0, uint8(r.IntN(256)), uniformA(r), uniformB(r))
		acc := p.reference()
		rq := &Requant{Bias: make([]int32, n), Mult: make([]int32, n), Shift: make([]int, n), OutZero: int32(r.IntN(256) - 128)}
		for j := range n {
			rq.Bias[j] = int32(r.IntN(20001) - 10000)
			rq.Mult[j], rq.Shift[j] = QuantizeMultiplier(1.0 / float64(64+r.IntN(4096)))
		}
		ldd := n + 2
		want8 := make([]int8, m*ldd)
		RequantizeInt8(want8, ldd, acc, n, m, n, rq)
		wantU := make([]uint8, m*ldd)
		RequantizeUint8(wantU, ldd, acc, n, m, n, rq)
		for _, which := range available() {
			for _, threads := range []int{1, 2} {
				name := fmt.Sprintf("%s m=%d n=%d k=%d threads=%d", which, m, n, k, threads)
				buf8 := make([]int8, guard+m*ldd+guard)
				bufU := make([]uint8, guard+m*ldd+guard)
				for i := range buf8 {
					buf8[i], bufU[i] = 0x5b, 0x5b
				}
				gemmRequantInt8(which, m, p.a, p.lda, p.aZero, PackB(p.b, k, n, n), rq, buf8[guard:guard+m*ldd], ldd, Options{Threads: threads})
				gemmRequantUint8(which, m, p.a, p.lda, p.aZero, PackB(p.b, k, n, n), rq, bufU[guard:guard+m*ldd], ldd, Options{Threads: threads})
				for i := range buf8 {
					o := i - guard
					e8, eU := int8(0x5b), uint8(0x5b)
					if o >= 0 && o < m*ldd && o%ldd < n {
						e8, eU = want8[o], wantU[o]
					}
					if buf8[i] != e8 || bufU[i] != eU {
						t.Fatalf("%s: byte %d (dst offset %d) = %d/%d, want %d/%d", name, i, o, buf8[i], bufU[i], e8, eU)
					}
				}
			}
		}
	}
}
