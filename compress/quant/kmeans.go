package quant

import (
	"errors"
	"fmt"
	"math"
)

// Shared is a weight tensor after weight sharing (Deep Compression): each
// element is one of a few shared values, w[i] = Centroids[Index[i]].
type Shared struct {
	// Centroids are the shared values, at most 256.
	Centroids []float32
	// Index holds one centroid index per element.
	Index []uint8
	// ZeroCluster, when true, says Centroids[0] is pinned to 0 and holds
	// exactly the masked (pruned) elements.
	ZeroCluster bool
}

// KMeans clusters the weights w into k = 2^bits shared values (bits in
// [1, 8]) by Lloyd's algorithm with linear initialization (centroids evenly
// spaced between min and max, which Han et al. found best for accuracy
// because it keeps the rare large weights), for at most iters iterations
// (0 means 30) or until no assignment changes. Ties go to the lower index.
//
// If mask is not nil (same length as w, 0 = pruned), pruned weights form
// their own cluster 0 with centroid fixed at 0 and the remaining k−1
// clusters share the other weights.
func KMeans(w []float32, bits int, mask []float32, iters int) (*Shared, error) {
	if bits < 1 || bits > 8 {
		return nil, fmt.Errorf("quant: k-means bits = %d, want 1..8", bits)
	}
	if mask != nil && len(mask) != len(w) {
		return nil, fmt.Errorf("quant: mask has %d entries for %d weights", len(mask), len(w))
	}
	for i, x := range w {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("quant: k-means: weight %d is %v: %w", i, x, ErrNonFinite)
		}
	}
	if iters <= 0 {
		iters = 30
	}
	k := 1 << bits
	first := 0
	s := &Shared{Index: make([]uint8, len(w))}
	if mask != nil {
		if k < 2 {
			return nil, errors.New("quant: k-means with a zero cluster needs bits ≥ 1")
		}
		s.ZeroCluster, first = true, 1
	}
	live := func(i int) bool { return mask == nil || mask[i] != 0 }
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, x := range w {
		if live(i) {
			lo, hi = min(lo, float64(x)), max(hi, float64(x))
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0, 0
	}
	c := make([]float64, k)
	for j := first; j < k; j++ {
		if k-first > 1 {
			c[j] = lo + (hi-lo)*float64(j-first)/float64(k-first-1)
		} else {
			c[j] = (lo + hi) / 2
		}
	}
	sums, counts := make([]float64, k), make([]int, k)
	for it := 0; it < iters; it++ {
		changed := 0
		clear(sums)
		clear(counts)
		for i, x := range w {
			j := 0
			if live(i) {
				j = nearest(c[first:], float64(x)) + first
			}
			if it == 0 || int(s.Index[i]) != j {
				changed++
			}
			s.Index[i] = uint8(j)
			sums[j] += float64(x)
			counts[j]++
		}
		for j := first; j < k; j++ {
			if counts[j] > 0 {
				c[j] = sums[j] / float64(counts[j])
			}
		}
		if changed == 0 {
			break
		}
	}
	s.Centroids = make([]float32, k)
	for j, v := range c {
		s.Centroids[j] = float32(v)
	}
	return s, nil
}

// nearest returns the index of the centroid closest to x (the first on
// ties).
func nearest(c []float64, x float64) int {
	best, bd := 0, math.Inf(1)
	for j, v := range c {
		if d := math.Abs(x - v); d < bd {
			best, bd = j, d
		}
	}
	return best
}

// Values writes Centroids[Index[i]] into dst, which must have len(Index)
// elements.
func (s *Shared) Values(dst []float32) error {
	if len(dst) != len(s.Index) {
		return fmt.Errorf("quant: %d values for %d indices", len(dst), len(s.Index))
	}
	for i, j := range s.Index {
		if int(j) >= len(s.Centroids) {
			return fmt.Errorf("quant: index %d at %d outside %d centroids", j, i, len(s.Centroids))
		}
		dst[i] = s.Centroids[j]
	}
	return nil
}
