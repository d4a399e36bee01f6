package worker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/redistest"
	"github.com/compressq/compressq/internal/sweep"
	"github.com/compressq/compressq/internal/testwait"
)

const benchSpace = `
space:
  conv: {depth: [0, 1, 2], channels: [2, 4], kernels: [3, 5]}
  dense: {depth: [1, 2, 3], widths: [8, 16, 24, 32, 48, 64, 96, 128, 192, 256]}
  compression: {sparsity: [0, 0.25, 0.5, 0.75, 0.9], weight_bits: [4, 8, 32], kmeans_bits: [0, 4, 6]}
`

// BenchmarkSweepControlPlane runs random-strategy sweeps of 300 and 1,000
// trials with the table evaluator through two workers (concurrency
// 10 each) on one redis-server, and reports trials/s and the wall time per
// trial. Only the queue, the step logic and Redis work: the evaluation is a
// table lookup.
func BenchmarkSweepControlPlane(b *testing.B) {
	for _, trials := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprint(trials), func(b *testing.B) {
			var total time.Duration
			for range b.N {
				total += runSweepBench(b, trials)
			}
			b.ReportMetric(float64(trials*b.N)/total.Seconds(), "trials/s")
			b.ReportMetric(float64(total.Microseconds())/float64(trials*b.N), "µs/trial")
		})
	}
}

func runSweepBench(b *testing.B, trials int) time.Duration {
	b.Helper()
	srv := redistest.Start(b)
	cfg := configs.Default()
	cfg.Redis.URL, cfg.Artifacts.Root, cfg.Log.Level, cfg.Worker.HTTPAddr = srv.URL(), b.TempDir(), "error", ""
	cfg.Worker.Concurrency = 10
	rc, err := rdb.Open(cfg.Redis)
	if err != nil {
		b.Fatal(err)
	}
	defer rc.Close()
	st, err := artifact.Open(context.Background(), cfg.Artifacts.Root, nil, cfg.Artifacts.MaxBytes)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	doc := benchSpace + fmt.Sprintf("strategy: random\nseed: 7\nmax_trials: %d\nconcurrency: 64\nevaluator: {type: table, table: x}\n", trials)
	spec, err := sweep.ParseSpec([]byte(doc))
	if err != nil {
		b.Fatal(err)
	}
	// The table holds exactly the genomes this seed asks for.
	ref, err := nas.New(spec.Config)
	if err != nil {
		b.Fatal(err)
	}
	all, err := ref.Ask(trials)
	if err != nil || len(all) != trials {
		b.Fatalf("asked %d of %d trials: %v", len(all), trials, err)
	}
	var csv strings.Builder
	csv.WriteString("hash,accuracy,params,bytes\n")
	for i, t := range all {
		fmt.Fprintf(&csv, "%s,%v,%d,%d\n", t.Candidate.Hash, 0.5+float64(i%1000)/2000, 1000+i, 2000+i)
	}
	if spec.Evaluator.Table, err = st.Put(context.Background(), strings.NewReader(csv.String()), ".csv"); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		w, err := New(Options{Config: cfg, Redis: rc, Store: st})
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		wg.Go(func() { w.Run(ctx) })
	}
	defer wg.Wait()
	defer cancel()
	ctl := sweep.New(rc, time.Hour, Defaults(cfg))
	defer ctl.Close()
	b.ResetTimer()
	start := time.Now()
	id, err := ctl.Start(context.Background(), spec)
	if err != nil {
		b.Fatal(err)
	}
	var s *sweep.Summary
	// 10 ms a trial is ten times the cost measured in docs/BENCHMARKS.md.
	testwait.Eventually(b, time.Minute+time.Duration(trials)*10*time.Millisecond, func() bool {
		if s, err = ctl.Summary(context.Background(), id); err != nil {
			b.Fatal(err)
		}
		return s.Status == rdb.SweepDone
	}, "sweep %s", testwait.Lazy(func() string { return fmt.Sprintf("%s: %+v", s.Status, s.Counts) }))
	took := time.Since(start)
	if s.Counts.Completed != trials {
		b.Fatalf("%d of %d trials completed", s.Counts.Completed, trials)
	}
	return took
}
