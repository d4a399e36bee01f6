package runtime

import (
	"context"
	"fmt"
	"runtime"
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
