package qnn

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/nn"
	"gorgonia.org/tensor"
)

// BenchmarkLeNet5 times inference of LeNet-5 (random weights, ranges
// [−4, 4]: timing does not depend on the values) at batch 1 and 64 with the
// float32 nn.Forward and the integer Model.Forward in the same run, both
// on GOMAXPROCS threads (run with -cpu 1,2 to compare one and two).
//
// The fp32 and int8 sub-benchmarks report images/s. The speedup
// sub-benchmarks run one fp32 and one int8 forward pass per iteration,
// alternating which goes first, and report the ratio of their summed
// times as fp32/int8 (above 1: int8 is faster); interleaving at this grain
// cancels most of the noise of a shared machine. Take the median over
// -count runs:
//
//	go test ./compress/qnn -run XXX -bench LeNet5/speedup -count 10 -cpu 1,2
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
		fp32 := func() {
			if _, err := net.Forward(xt, false); err != nil {
				b.Fatal(err)
			}
		}
		int8 := func() {
			if _, err := m.Forward(q); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("fp32/batch%d", n), func(b *testing.B) {
			for b.Loop() {
				fp32()
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
		})
		b.Run(fmt.Sprintf("int8/batch%d", n), func(b *testing.B) {
			for b.Loop() {
				int8()
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
		})
		b.Run(fmt.Sprintf("speedup/batch%d", n), func(b *testing.B) {
			var tf, ti time.Duration
			for i := 0; b.Loop(); i++ {
				first, second, d1, d2 := fp32, int8, &tf, &ti
				if i%2 == 1 {
					first, second, d1, d2 = int8, fp32, &ti, &tf
				}
				t0 := time.Now()
				first()
				t1 := time.Now()
				second()
				*d1 += t1.Sub(t0)
				*d2 += time.Since(t1)
			}
			b.ReportMetric(tf.Seconds()/ti.Seconds(), "fp32/int8")
			b.ReportMetric(float64(n*b.N)/tf.Seconds(), "fp32-images/s")
			b.ReportMetric(float64(n*b.N)/ti.Seconds(), "int8-images/s")
		})
	}
}
