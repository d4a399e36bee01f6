package qnn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/compressq/compressq/compress/nn"
	"gorgonia.org/tensor"
)

// BenchmarkLeNet5 times inference of LeNet-5 (random weights, ranges
// [−4, 4]: timing does not depend on the values) at batch 1 and 64 with the
// float32 nn.Forward and the integer Model.Forward in the same run; compare
// the images/s of the fp32 and int8 sub-benchmarks.
func BenchmarkLeNet5(b *testing.B) {
	a, _ := nn.ArchByName("lenet-5")
	net, err := nn.Build(a, 1)
	if err != nil {
		b.Fatal(err)
	}
	p, err := Prepare(net)
	if err != nil {
		b.Fatal(err)
	}
	_, points, _ := plan(p)
	ranges := make([]Range, points)
	for i := range ranges {
		ranges[i] = Range{-4, 4}
	}
	m, err := Quantize(p, ranges, Options{})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{1, 64} {
		x := make([]float32, n*784)
		for i := range x {
			x[i] = r.Float32()
		}
		xt := tensor.New(tensor.WithShape(n, 1, 28, 28), tensor.WithBacking(x))
		q := m.QuantizeInput(x)
		b.Run(fmt.Sprintf("fp32/batch%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := net.Forward(xt, false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
		})
		b.Run(fmt.Sprintf("int8/batch%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := m.Forward(q); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
