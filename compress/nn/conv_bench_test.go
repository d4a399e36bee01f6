package nn

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkDepthwiseConv times the inference forward pass of a depthwise
// 3×3 convolution (32 channels, 16×16, pad 1, batch 64) with the direct
// loop Forward uses and, as the baseline in the same run, with im2col and
// one 1-row GEMM per group. Both report GFLOP/s over wall time and over
// the process CPU time (GFLOP/cpu-s, steadier on a loaded machine),
// counting 2 FLOPs per multiply-add of the 3×3 windows (padding taps
// included).
func BenchmarkDepthwiseConv(b *testing.B) {
	const n, ch, hw = 64, 32, 16
	c := newConvForBench(b, LayerSpec{Type: TypeConv2D, Filters: ch, Kernel: 3, Groups: ch, Pad: 1}, []int{ch, hw, hw})
	x := randTensor(rand.New(rand.NewPCG(1, 1)), n, ch, hw, hw)
	flops := 2.0 * 9 * ch * hw * hw * n
	for _, alg := range []struct {
		name   string
		direct bool
	}{{"direct", true}, {"im2col_gemm", false}} {
		b.Run(alg.name, func(b *testing.B) {
			cpu0 := processCPU()
			for b.Loop() {
				if _, _, err := c.forward(x, Pass{}, alg.direct); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if cpu := processCPU() - cpu0; cpu > 0 {
				b.ReportMetric(flops*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/cpu-s")
			}
		})
	}
}

// newConvForBench builds a Conv2D from spec for a benchmark.
func newConvForBench(b *testing.B, spec LayerSpec, in []int) *Conv2D {
	b.Helper()
	l, err := NewLayer(spec, in, newRand(1, 0))
	if err != nil {
		b.Fatal(err)
	}
	return l.(*Conv2D)
}
