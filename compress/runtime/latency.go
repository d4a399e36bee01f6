package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/qnn"
)

// MedianLatency returns the median wall time of runs calls (at least 1) of
// a plan's Run, call i on the batch samples of set from sample i·batch on
// (wrapping around the set), after one untimed warm-up call. batch is the
// plan's batch size. The reports of the prune and quantize recipes and the
// sweeps' latency objectives measure through it.
func MedianLatency(ctx context.Context, set *data.Dataset, batch, runs int, run func([]float32) ([]float32, error)) (time.Duration, error) {
	if set == nil || set.Len() == 0 {
		return 0, errors.New("runtime: latency: empty data set")
	}
	if batch <= 0 || runs <= 0 {
		return 0, fmt.Errorf("runtime: latency: batch %d, runs %d: both must be at least 1", batch, runs)
	}
	idx := make([]int, batch)
	times := make([]time.Duration, runs)
	for i := -1; i < runs; i++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		for k := range idx {
			idx[k] = (max(i, 0)*batch + k) % set.Len()
		}
		x, _ := set.Batch(idx)
		start := time.Now()
		if _, err := run(x.Float32s()); err != nil {
			return 0, err
		}
		if i >= 0 {
			times[i] = time.Since(start)
		}
	}
	slices.Sort(times)
	return times[runs/2], nil
}

// KernelSummary lists, for each layer with weights, "index (type): kernel"
// (with the convolution layout, "kernel/layout"): how a plan runs them.
func KernelSummary(layers []LayerChoice) []string {
	var s []string
	for _, l := range layers {
		if l.Rows == 0 {
			continue
		}
		k := l.Kernel
		if l.Layout != "" {
			k += "/" + l.Layout
		}
		s = append(s, fmt.Sprintf("%d (%s): %s", l.Index, l.Type, k))
	}
	return s
}

// PlanLatency builds net's plan for batch samples on one thread, each
// candidate kernel of a layer timed for minTime (NewPlan), and returns the
// MedianLatency of runs passes over set's samples and how the plan runs
// each layer.
func PlanLatency(ctx context.Context, net *nn.Network, set *data.Dataset, batch, runs int, minTime time.Duration) (time.Duration, []LayerChoice, error) {
	p, err := NewPlan(ctx, net, Options{Batch: batch, Threads: 1, MinTime: minTime})
	if err != nil {
		return 0, nil, err
	}
	defer p.Close()
	d, err := MedianLatency(ctx, set, batch, runs, p.Run)
	if err != nil {
		return 0, nil, err
	}
	return d, p.Layers(), nil
}

// How the prune and quantize reports time a model: one pass over a batch
// of up to reportBatch samples of the test set on one thread, the median
// of reportRuns passes, each candidate kernel of a layer timed for
// reportKernelTime.
const (
	reportBatch      = 64
	reportRuns       = 9
	reportKernelTime = 2 * time.Millisecond
)

// Timing is a report's latency of a model.
type Timing struct {
	// Batch is the samples of one pass: 64, or the whole set when smaller
	// (0 for an empty set, which is not timed).
	Batch int
	// Median is the median time of one pass.
	Median time.Duration
	// Layers is how the plan ran each layer (float plans only).
	Layers []LayerChoice
}

// ReportTiming times net's float plan as the prune and quantize reports
// do (PlanLatency on up to 64 samples of set, one thread).
func ReportTiming(ctx context.Context, net *nn.Network, set *data.Dataset) (Timing, error) {
	t := Timing{Batch: min(reportBatch, set.Len())}
	if t.Batch == 0 {
		return t, nil
	}
	var err error
	t.Median, t.Layers, err = PlanLatency(ctx, net, set, t.Batch, reportRuns, reportKernelTime)
	return t, err
}

// ReportTimingInt8 times the integer model m's int8 plan as the quantize
// report does (the float input quantized included; otherwise as
// ReportTiming).
func ReportTimingInt8(ctx context.Context, m *qnn.Model, set *data.Dataset) (Timing, error) {
	t := Timing{Batch: min(reportBatch, set.Len())}
	if t.Batch == 0 {
		return t, nil
	}
	p, err := NewInt8PlanWith(ctx, m, Options{Batch: t.Batch, Threads: 1, MinTime: reportKernelTime})
	if err != nil {
		return t, err
	}
	defer p.Close()
	t.Median, err = MedianLatency(ctx, set, t.Batch, reportRuns, p.Run)
	return t, err
}
