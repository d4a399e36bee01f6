package prune

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
)

// BenchmarkStructuredLeNet5 removes half of LeNet-5's conv filters (20 → 10,
// 50 → 25, smallest L1 norms, next layers rewired) and times inference of
// the dense and the pruned network on the same batch of 64, alternating
// the two in every iteration so that the machine's load hits both alike;
// it reports the median per-iteration speedup, and parameters and saved
// model bytes of each:
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
	idx := make([]int, set.Len())
	for i := range idx {
		idx[i] = i
	}
	x, _ := set.Batch(idx)
	nets := []*nn.Network{dense, small}
	var ratios []float64
	for b.Loop() {
		var took [2]time.Duration
		for i, net := range nets {
			start := time.Now()
			if _, err := net.Forward(x, false); err != nil {
				b.Fatal(err)
			}
			took[i] = time.Since(start)
		}
		ratios = append(ratios, took[0].Seconds()/took[1].Seconds())
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "speedup")
	for i, name := range []string{"dense", "pruned"} {
		var buf bytes.Buffer
		if err := model.Save(&buf, nets[i]); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(nets[i].NumParams()), name+"-params")
		b.ReportMetric(float64(buf.Len()), name+"-file-bytes")
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
