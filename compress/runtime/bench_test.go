package runtime

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"gorgonia.org/tensor"

	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/safetensors"
)

// namedNet is a network a benchmark compares.
type namedNet struct {
	name string
	net  *nn.Network
}

// BenchmarkLeNet300 times, interleaved in one run, a dense and a
// 90%-sparse LeNet-300-100 (random weights) through a plan (kernels chosen
// by measurement, threads = GOMAXPROCS) and through nn.Network.Forward, at
// batch 1 and 64. It reports images/s of each and the ratios: plan over
// Forward for each network, and the sparse plan over the dense plan. Run
// with -cpu 1,2 to vary the threads.
func BenchmarkLeNet300(b *testing.B) {
	nets := []namedNet{{"dense", lenet(b, "lenet-300-100", 0, false)}, {"sparse90", lenet(b, "lenet-300-100", 0.9, false)}}
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			ips := benchPlans(b, nets, batch)
			b.ReportMetric(ips["sparse90-plan"]/ips["dense-plan"], "sparse90-plan/dense-plan")
		})
	}
}

// BenchmarkResNet is BenchmarkLeNet300 for the PyTorch ResNet fixture
// (plan against Forward only).
func BenchmarkResNet(b *testing.B) {
	m, err := Load(resnetFixture(b), safetensors.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			benchPlans(b, []namedNet{{"resnet", m.Net}}, batch)
		})
	}
}

// benchPlans runs each network's plan and Forward once per iteration,
// interleaved, reports images/s of each and plan over Forward per network,
// and returns the images/s by name.
func benchPlans(b *testing.B, nets []namedNet, batch int) map[string]float64 {
	threads := runtime.GOMAXPROCS(0)
	type variant struct {
		name string
		run  func()
		ns   time.Duration
	}
	var vs []*variant
	for _, c := range nets {
		p, err := NewPlan(context.Background(), c.net, Options{Batch: batch, Threads: threads, MinTime: 20 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(p.Close)
		for _, l := range p.Layers() {
			if l.Rows > 0 {
				b.Logf("%s batch %d threads %d: layer %d %dx%d sparsity %.2f → %s on %d thread(s) %v", c.name, batch, threads, l.Index, l.Rows, l.Cols, l.Sparsity, l.Kernel, l.Threads, l.Nanos)
			}
		}
		x := randInput(batch, c.net.InputShape(), 3)
		xt := tensor.New(tensor.WithShape(append([]int{batch}, c.net.InputShape()...)...), tensor.WithBacking(x))
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
	for _, c := range nets {
		b.ReportMetric(ips[c.name+"-plan"]/ips[c.name+"-forward"], c.name+"-plan/forward")
	}
	return ips
}

// BenchmarkInt8Sparse times, in one run, the int8 plan of a 90%-sparse
// LeNet-300-100 (random weights, a random 90% of every weight matrix
// zeroed; calibrated on random images) as NewInt8Plan plans it — each
// layer's kernel measured — against the same integer model forced onto the
// dense int8 GEMM (Kernels: KernelInt8), at batch 1 and 64 on one thread.
// Each b.Loop iteration is a round of runs of both plans, interleaved and
// alternating which goes first; a round's ratio is the dense plan's median
// latency over the planned one's. It reports the median ratio over rounds
// and its range (dense/planned, above 1 means the planned one is faster)
// and the median latencies:
//
//	go test ./compress/runtime -run '^$' -bench Int8Sparse -benchtime 7x
func BenchmarkInt8Sparse(b *testing.B) {
	calib := randomImages(b, 64, 1)
	net := lenet(b, "lenet-300-100", 0.9, false)
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			t0 := time.Now()
			planned, err := NewInt8Plan(context.Background(), net, Int8Options{Batch: batch, Threads: 1, Calibration: calib})
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("planned in %v (calibration and quantization included)", time.Since(t0))
			t0 = time.Now()
			if _, err := NewInt8PlanWith(context.Background(), planned.Model(), Options{Batch: batch, Threads: 1}); err != nil {
				b.Fatal(err)
			}
			b.Logf("kernel choice alone: %v", time.Since(t0))
			dense, err := NewInt8PlanWith(context.Background(), planned.Model(), Options{Batch: batch, Threads: 1, Kernels: []string{KernelInt8}})
			if err != nil {
				b.Fatal(err)
			}
			for _, l := range planned.Layers() {
				if l.Rows > 0 {
					b.Logf("batch %d: layer %d %dx%d sparsity %.2f → %s %v", batch, l.Index, l.Rows, l.Cols, l.Sparsity, l.Kernel, l.Nanos)
				}
			}
			x := randInput(batch, net.InputShape(), 3)
			runs := max(60, 4000/batch)
			lat := func(p *Int8Plan) float64 {
				ns := make([]float64, runs)
				for i := range ns {
					t0 := time.Now()
					if _, err := p.Run(x); err != nil {
						b.Fatal(err)
					}
					ns[i] = float64(time.Since(t0).Nanoseconds())
				}
				slices.Sort(ns)
				return ns[runs/2]
			}
			lat(planned)
			lat(dense)
			var ps, ds, ratios []float64
			round := 0
			for b.Loop() {
				var p, d float64
				if round%2 == 0 {
					p, d = lat(planned), lat(dense)
				} else {
					d, p = lat(dense), lat(planned)
				}
				ps, ds, ratios = append(ps, p), append(ds, d), append(ratios, d/p)
				round++
			}
			med := func(v []float64) float64 { s := slices.Sorted(slices.Values(v)); return s[(len(s)-1)/2] }
			b.ReportMetric(med(ps)/1e3, "planned-µs")
			b.ReportMetric(med(ds)/1e3, "dense-µs")
			b.ReportMetric(med(ratios), "dense/planned")
			b.ReportMetric(slices.Min(ratios), "dense/planned-min")
			b.ReportMetric(slices.Max(ratios), "dense/planned-max")
		})
	}
}
