package sparse

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkBreakEven1024 measures, in one run, a 1024×1024 layer at
// 50/70/80/90/95/98% sparsity and batches 1 and 64: dense float32
// (kernels.Sgemm) and int8 (fixed.GEMM) against CSR, BSR (1×8 blocks, on
// block-sparse weights) and 2:4, and logs effective GFLOP/s, speedup over
// dense of the same dtype and the break-even sparsity of each format:
//
//	go test ./compress/sparse -run '^$' -bench BreakEven1024 -benchtime 1x -v
//
// With -cpu 1 on Linux it times by thread CPU time (single-threaded
// kernels, time spent descheduled by other load not counted):
//
//	go test ./compress/sparse -run '^$' -bench BreakEven1024 -benchtime 1x -cpu 1 -v
func BenchmarkBreakEven1024(b *testing.B) {
	for b.Loop() {
		t, err := MeasureBreakEven(context.Background(), BenchConfig{Seed: 1, ThreadCPU: threadCPUAvailable && runtime.GOMAXPROCS(0) == 1})
		if err != nil {
			b.Fatal(err)
		}
		var sb strings.Builder
		fmt.Fprintf(&sb, "machine %s, layer %d×%d, clock %s\n", t.Machine, t.Rows, t.Cols, t.Clock)
		fmt.Fprintf(&sb, "%-6s %-5s %5s %8s %12s %9s %8s\n", "format", "dtype", "batch", "sparsity", "µs", "GFLOP/s", "speedup")
		for _, s := range t.Samples {
			fmt.Fprintf(&sb, "%-6s %-5s %5d %8.2f %12.1f %9.2f %8.2f\n", s.Format, s.Dtype, s.Batch, s.Sparsity, s.Nanos/1e3, s.GFLOPS, s.Speedup)
		}
		for _, f := range []string{FormatCSR, FormatBSR, FormatNM24} {
			for _, d := range []string{DtypeF32, DtypeInt8} {
				for _, n := range []int{1, 64} {
					if s, ok := t.BreakEvenSparsity(f, d, n); ok {
						fmt.Fprintf(&sb, "break-even %s %s batch %d: %.2f\n", f, d, n, s)
						b.ReportMetric(s, fmt.Sprintf("breakeven_%s_%s_b%d", f, d, n))
					} else {
						fmt.Fprintf(&sb, "break-even %s %s batch %d: never faster at measured sparsities\n", f, d, n)
					}
				}
			}
		}
		b.Log("\n" + sb.String())
	}
}

// TestBreakEvenTable measures a small table, checks its structure and the
// chooser, and the cache round trip through a temporary cache directory.
func TestBreakEvenTable(t *testing.T) {
	cfg := BenchConfig{Rows: 64, Cols: 96, Batches: []int{1, 16}, Sparsities: []float64{0.5, 0.9}, MinTime: time.Millisecond, Seed: 2}
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", dir)
	t.Setenv("HOME", dir)
	tab, cached, err := LoadOrMeasureBreakEven(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cached {
		t.Fatal("first call reported a cached table")
	}
	// 2 batches × (2 dense + 2 sparsities × 4 + 2 nm24) samples.
	if len(tab.Samples) != 2*(2+2*4+2) {
		t.Fatalf("%d samples", len(tab.Samples))
	}
	for _, s := range tab.Samples {
		if !(s.Nanos > 0) || !(s.Speedup > 0) {
			t.Fatalf("sample %+v", s)
		}
	}
	path, err := CachePath(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(path, dir) {
		t.Fatalf("cache path %s outside the cache dir %s", path, dir)
	}
	again, cached, err := LoadOrMeasureBreakEven(context.Background(), cfg)
	if err != nil || !cached || len(again.Samples) != len(tab.Samples) {
		t.Fatalf("second call: cached %v err %v", cached, err)
	}
	// A table from another machine is not used.
	if err := os.WriteFile(path, []byte(`{"Machine":"other","Samples":[{"Format":"dense"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, cached, _ := LoadOrMeasureBreakEven(context.Background(), cfg); cached {
		t.Fatal("used a table measured on another machine")
	}
	// The chooser follows the samples: make a synthetic table.
	syn := &BreakEven{Samples: []Sample{
		{Format: FormatCSR, Dtype: DtypeF32, Batch: 1, Sparsity: 0.7, Speedup: 0.8},
		{Format: FormatCSR, Dtype: DtypeF32, Batch: 1, Sparsity: 0.9, Speedup: 2.5},
		{Format: FormatNM24, Dtype: DtypeF32, Batch: 64, Sparsity: 0.5, Speedup: 1.4},
		{Format: FormatCSR, Dtype: DtypeF32, Batch: 64, Sparsity: 0.9, Speedup: 0.9},
	}}
	for _, c := range []struct {
		batch int
		s     float64
		cand  []string
		want  string
	}{
		{1, 0.8, []string{FormatCSR}, FormatDense},
		{1, 0.92, []string{FormatCSR}, FormatCSR},
		{2, 0.95, []string{FormatCSR}, FormatCSR},
		{64, 0.5, []string{FormatCSR, FormatNM24}, FormatNM24},
		{64, 0.95, []string{FormatCSR}, FormatDense},
	} {
		if got := syn.Choose(DtypeF32, c.batch, c.s, c.cand...); got != c.want {
			t.Errorf("Choose(batch %d, sparsity %.2f, %v) = %s, want %s", c.batch, c.s, c.cand, got, c.want)
		}
	}
	if runtime.GOMAXPROCS(0) > 1 {
		if _, err := MeasureBreakEven(context.Background(), BenchConfig{Rows: 8, Cols: 8, ThreadCPU: true}); err == nil {
			t.Error("thread CPU timing accepted with GOMAXPROCS > 1")
		}
	}
	if s, ok := syn.BreakEvenSparsity(FormatCSR, DtypeF32, 1); !ok || s != 0.9 {
		t.Errorf("break-even %v %v, want 0.9", s, ok)
	}
}
