package runtime

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/safetensors"
)

// BenchmarkResNetInt8Plan times the PyTorch ResNet fixture's Int8Plan
// (min/max ranges from 256 random images: timing does not depend on the
// values) against its float Plan on one thread, at batch 1 and 64: one Run
// of each per iteration, alternating which goes first. It reports µs per
// Run of each and float/int8 (above 1: the integer path is faster):
//
//	go test ./compress/runtime -run '^$' -bench ResNetInt8Plan -count 5
func BenchmarkResNetInt8Plan(b *testing.B) {
	m, err := Load(resnetFixture(b), safetensors.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	cal := make([]float32, 256*784)
	for i := range cal {
		cal[i] = r.Float32()
	}
	calib := &data.Dataset{Images: cal, Labels: make([]int, 256), N: 256, C: 1, H: 28, W: 28, Classes: 10}
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			ctx := context.Background()
			ip, err := NewInt8Plan(ctx, m.Net, Int8Options{Batch: batch, Threads: 1, Calibration: calib})
			if err != nil {
				b.Fatal(err)
			}
			fp, err := NewPlan(ctx, m.Net, Options{Batch: batch, Threads: 1, MinTime: 20 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(fp.Close)
			x := cal[:batch*784]
			runs := [2]func(){
				func() {
					if _, err := fp.Run(x); err != nil {
						b.Fatal(err)
					}
				},
				func() {
					if _, err := ip.Run(x); err != nil {
						b.Fatal(err)
					}
				},
			}
			var ns [2]time.Duration // float, int8
			i := 0
			for b.Loop() {
				for j := range 2 {
					k := (i + j) % 2
					t0 := time.Now()
					runs[k]()
					ns[k] += time.Since(t0)
				}
				i++
			}
			b.ReportMetric(float64(ns[0].Microseconds())/float64(i), "float-µs")
			b.ReportMetric(float64(ns[1].Microseconds())/float64(i), "int8-µs")
			b.ReportMetric(ns[0].Seconds()/ns[1].Seconds(), "float/int8")
		})
	}
}
