package prune

import (
	"bytes"
	"testing"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
)

// BenchmarkStructuredLeNet5 removes half of LeNet-5's conv filters (20 → 10,
// 50 → 25, smallest L1 norms, next layers rewired) and times inference of
// the dense and the pruned network on the same batch of 64 in this run,
// reporting parameters and saved model bytes of each:
//
//	go test ./compress/prune -run '^$' -bench StructuredLeNet5 -benchtime 20x
//
// Weights are the seed-1 initialization: speed and size do not depend on
// the values.
func BenchmarkStructuredLeNet5(b *testing.B) {
	a, err := nn.ArchByName("lenet-5")
	if err != nil {
		b.Fatal(err)
	}
	dense, err := nn.Build(a, 1)
	if err != nil {
		b.Fatal(err)
	}
	small, err := Structured(dense, map[int]float64{0: 0.5, 2: 0.5}, NormL1)
	if err != nil {
		b.Fatal(err)
	}
	set := mnistLike(64)
	for _, c := range []struct {
		name string
		net  *nn.Network
	}{{"dense", dense}, {"filters50pct", small}} {
		b.Run(c.name, func(b *testing.B) {
			var buf bytes.Buffer
			if err := model.Save(&buf, c.net); err != nil {
				b.Fatal(err)
			}
			idx := make([]int, set.Len())
			for i := range idx {
				idx[i] = i
			}
			x, _ := set.Batch(idx)
			for b.Loop() {
				if _, err := c.net.Forward(x, false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(c.net.NumParams()), "params")
			b.ReportMetric(float64(buf.Len()), "file-bytes")
			b.ReportMetric(float64(set.Len()*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// mnistLike returns n deterministic 1×28×28 images (the benchmark times
// shapes, not accuracy).
func mnistLike(n int) *data.Dataset {
	d := &data.Dataset{Name: "bench", N: n, C: 1, H: 28, W: 28, Classes: 10, Images: make([]float32, n*784), Labels: make([]int, n)}
	for i := range d.Images {
		d.Images[i] = float32(i%251) / 251
	}
	return d
}
