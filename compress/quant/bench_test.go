package quant

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkQuantizeTensor quantizes a 512×784 Dense weight (LeNet-300-100
// scale) and reports input throughput in MB/s of float32 weights.
func BenchmarkQuantizeTensor(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	shape := []int{512, 784}
	w := make([]float32, shape[0]*shape[1])
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.05)
	}
	for _, p := range []Params{
		{Bits: 8, Scheme: PerChannel, Symmetric: true},
		{Bits: 4, Scheme: PerTensor},
	} {
		b.Run(p.Scheme.String(), func(b *testing.B) {
			b.SetBytes(int64(4 * len(w)))
			for b.Loop() {
				if _, err := QuantizeTensor(w, shape, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
