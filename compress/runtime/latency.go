package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
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
