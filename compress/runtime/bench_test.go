package runtime

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"gorgonia.org/tensor"

	"github.com/compressq/compressq/compress/nn"
)

// BenchmarkLeNet300 times, interleaved in one run, a dense and a
// 90%-sparse LeNet-300-100 (random weights) through a plan (kernels chosen
// by measurement, threads = GOMAXPROCS) and through nn.Network.Forward, at
// batch 1 and 64. It reports images/s of each and the ratios: plan over
// Forward for each network, and the sparse plan over the dense plan. Run
// with -cpu 1,2 to vary the threads.
func BenchmarkLeNet300(b *testing.B) {
	dense, sparse := lenet(b, "lenet-300-100", 0, false), lenet(b, "lenet-300-100", 0.9, false)
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			threads := runtime.GOMAXPROCS(0)
			type variant struct {
				name string
				run  func()
				ns   time.Duration
			}
			var vs []*variant
			for _, c := range []struct {
				name string
				net  *nn.Network
			}{{"dense", dense}, {"sparse90", sparse}} {
				p, err := NewPlan(context.Background(), c.net, Options{Batch: batch, Threads: threads, MinTime: 20 * time.Millisecond})
				if err != nil {
					b.Fatal(err)
				}
				defer p.Close()
				for _, l := range p.Layers() {
					if l.Rows > 0 {
						b.Logf("%s batch %d threads %d: layer %d %dx%d sparsity %.2f → %s %v", c.name, batch, threads, l.Index, l.Rows, l.Cols, l.Sparsity, l.Kernel, l.Nanos)
					}
				}
				x := randInput(batch, c.net.InputShape(), 3)
				xt := tensor.New(tensor.WithShape(batch, 1, 28, 28), tensor.WithBacking(x))
				net := c.net
				vs = append(vs,
					&variant{name: c.name + "-plan", run: func() {
						if _, err := p.Run(x); err != nil {
							b.Fatal(err)
						}
					}},
					&variant{name: c.name + "-forward", run: func() {
						if _, err := net.Forward(xt, false); err != nil {
							b.Fatal(err)
						}
					}})
			}
			for _, v := range vs { // warm-up
				v.run()
			}
			b.ResetTimer()
			for b.Loop() {
				for _, v := range vs {
					t0 := time.Now()
					v.run()
					v.ns += time.Since(t0)
				}
			}
			ips := map[string]float64{}
			for _, v := range vs {
				ips[v.name] = float64(b.N*batch) / v.ns.Seconds()
				b.ReportMetric(ips[v.name], v.name+"-img/s")
			}
			b.ReportMetric(ips["dense-plan"]/ips["dense-forward"], "dense-plan/forward")
			b.ReportMetric(ips["sparse90-plan"]/ips["sparse90-forward"], "sparse90-plan/forward")
			b.ReportMetric(ips["sparse90-plan"]/ips["dense-plan"], "sparse90-plan/dense-plan")
		})
	}
}
