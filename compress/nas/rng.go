package nas

import "math/bits"

// rng is a SplitMix64 generator whose whole state is one exported-by-JSON
// word, so strategies can save and restore it exactly.
type rng struct {
	S uint64 `json:"s"`
}

func newRNG(seed int64) rng { return rng{S: uint64(seed) ^ 0x6e61732d73656564} }

func (r *rng) next() uint64 {
	r.S += 0x9e3779b97f4a7c15
	z := r.S
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a uniform integer in [0, n), n > 0 (Lemire's method).
func (r *rng) intn(n int) int {
	hi, lo := bits.Mul64(r.next(), uint64(n))
	if lo < uint64(n) {
		t := -uint64(n) % uint64(n)
		for lo < t {
			hi, lo = bits.Mul64(r.next(), uint64(n))
		}
	}
	return int(hi)
}

// float returns a uniform float64 in [0, 1) with 53 random bits.
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }
