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
// alternating which goes first, and report the ratio of their summed wall
// times as fp32/int8 (above 1: int8 is faster) and of the process CPU time
// they used as fp32/int8-cpu (where the OS reports it; time spent waiting
// for a core does not count); interleaving at this grain cancels most of
// the noise of a shared machine. Take the median over -count runs:
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
			var wall, cpu [2]time.Duration // fp32, int8
			cpuOK := true
			for i := 0; b.Loop(); i++ {
				for j := range 2 {
					path := (i + j) % 2 // alternate which runs first
					t0 := time.Now()
					c0, ok0 := processCPU()
					if path == 0 {
						fp32()
					} else {
						int8()
					}
					c1, ok1 := processCPU()
					wall[path] += time.Since(t0)
					cpu[path] += c1 - c0
					cpuOK = cpuOK && ok0 && ok1
				}
			}
			b.ReportMetric(wall[0].Seconds()/wall[1].Seconds(), "fp32/int8")
			b.ReportMetric(float64(n*b.N)/wall[0].Seconds(), "fp32-images/s")
			b.ReportMetric(float64(n*b.N)/wall[1].Seconds(), "int8-images/s")
			if cpuOK && cpu[1] > 0 {
				b.ReportMetric(cpu[0].Seconds()/cpu[1].Seconds(), "fp32/int8-cpu")
			}
		})
	}
}
