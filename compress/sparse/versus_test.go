package sparse

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/fixed"
	"github.com/compressq/compressq/compress/kernels"
)

// interleave runs the candidates in rounds, each round timing every one of
// them once in turn (reps calls each), so that load from other processes
// hits all of them alike. It returns the time per call of every round, by
// thread CPU time when GOMAXPROCS is 1 on Linux and wall time otherwise.
func interleave(rounds, reps int, fns ...func()) [][]float64 {
	cpuClock := threadCPUAvailable && runtime.GOMAXPROCS(0) == 1
	out := make([][]float64, len(fns))
	for _, fn := range fns {
		fn() // warm caches and pools
	}
	for range rounds {
		for i, fn := range fns {
			run := func() {
				for range reps {
					fn()
				}
			}
			var ns float64
			if cpuClock {
				t, err := threadCPUTime(run)
				if err != nil {
					panic(err)
				}
				ns = float64(t)
			} else {
				start := time.Now()
				run()
				ns = float64(time.Since(start).Nanoseconds())
			}
			out[i] = append(out[i], ns/float64(reps))
		}
	}
	return out
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// reportVersus reports, for a sparse kernel timed against its dense
// baseline by interleave, the median µs per call of both and the median
// over rounds of the per-round ratio dense/sparse (the speedup).
func reportVersus(b *testing.B, ts [][]float64) {
	b.Helper()
	ratios := make([]float64, len(ts[0]))
	for i := range ratios {
		ratios[i] = ts[0][i] / ts[1][i]
	}
	b.ReportMetric(median(ts[0])/1e3, "dense-µs")
	b.ReportMetric(median(ts[1])/1e3, "sparse-µs")
	b.ReportMetric(median(ratios), "speedup")
	b.ReportMetric(slices.Min(ratios), "min-speedup")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkNM24Versus times the 2:4 SpMM of a 1024×1024 layer at batch 64
// against dense of the same dtype (kernels.Sgemm, fixed.GEMM), interleaved
// in rounds, on random 2:4 patterns (each group keeps two random columns):
//
//	go test ./compress/sparse -run '^$' -bench NM24Versus -benchtime 1x -cpu 1
func BenchmarkNM24Versus(b *testing.B) {
	const m, k, n = 1024, 1024, 64
	r := rand.New(rand.NewPCG(9, 9))
	wf := rand24[float32](r, m, k)
	wi := rand24[int8](r, m, k)
	bf, bu := randomB(r, k, n)
	cf := make([]float32, m*n)
	ci := make([]int32, m*n)
	nf, err := FromDenseNM24(wf, m, k, k)
	if err != nil {
		b.Fatal(err)
	}
	ni, err := FromDenseNM24(wi, m, k, k)
	if err != nil {
		b.Fatal(err)
	}
	pw := fixed.PackBT(wi, m, k, k)
	b.Run("f32", func(b *testing.B) {
		for b.Loop() {
			reportVersus(b, interleave(15, 3,
				func() { kernels.Sgemm(false, false, m, n, k, 1, wf, k, bf, n, 0, cf, n) },
				func() { SpMMNM24(nf, bf, n, n, cf, n) }))
		}
	})
	b.Run("int8", func(b *testing.B) {
		for b.Loop() {
			reportVersus(b, interleave(15, 3,
				func() { fixed.GEMM(n, bu, k, 128, pw, ci, m, fixed.Options{}) },
				func() { SpMMNM24Int8(ni, bu, n, n, 128, ci, n) }))
		}
	})
}
