package quant

import (
	"math"
	"testing"
)

func TestKMeans(t *testing.T) {
	// Three tight groups around −1, 0.5 and 2: 2 bits (4 clusters) must
	// place centroids within 0.05 of each group and reconstruct every
	// weight within 0.1.
	w := []float32{-1.02, -0.98, -1, 0.49, 0.51, 0.5, 0.52, 1.97, 2.03, 2}
	s, err := KMeans(w, 2, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, len(w))
	if err := s.Values(got); err != nil {
		t.Fatal(err)
	}
	for i := range w {
		if math.Abs(float64(w[i]-got[i])) > 0.1 {
			t.Errorf("w[%d] = %v reconstructed as %v", i, w[i], got[i])
		}
	}
	if len(s.Centroids) != 4 || s.ZeroCluster {
		t.Errorf("centroids %v, zero cluster %v", s.Centroids, s.ZeroCluster)
	}
	// With a mask, pruned weights sit in cluster 0 at exactly 0.
	mask := []float32{1, 0, 1, 1, 0, 1, 1, 1, 0, 1}
	s, err = KMeans(w, 2, mask, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Centroids[0] != 0 || !s.ZeroCluster {
		t.Fatalf("zero cluster: centroids %v", s.Centroids)
	}
	for i, m := range mask {
		if (m == 0) != (s.Index[i] == 0) {
			t.Errorf("element %d (mask %v) in cluster %d", i, m, s.Index[i])
		}
	}
	for _, bad := range []int{0, 9} {
		if _, err := KMeans(w, bad, nil, 0); err == nil {
			t.Errorf("bits %d accepted", bad)
		}
	}
	if _, err := KMeans([]float32{1, float32(math.Inf(1))}, 2, nil, 0); err == nil {
		t.Error("infinite weight accepted")
	}
}
