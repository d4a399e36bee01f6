package recipe

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/prune"
	"github.com/compressq/compressq/compress/runtime"
	"github.com/compressq/compressq/compress/safetensors"
)

// Pruning methods and schedules by the names the task contract uses.
var (
	pruneMethods   = map[string]string{"magnitude": prune.MethodLayer, "global": prune.MethodGlobal, "structured": prune.MethodStructured, "n:m": prune.MethodNM}
	pruneSchedules = map[string]string{"": prune.ScheduleOneShot, "one-shot": prune.ScheduleOneShot, "iterative": prune.ScheduleIterative, "agp": prune.ScheduleAGP}
)

// PruneOptions selects a pruning run on a model file.
type PruneOptions struct {
	// Model is the model file; Limits bound its decoding.
	Model  []byte
	Limits safetensors.Limits
	// Data is the loaded data set (fine-tuning on train, accuracy on
	// test); Transform overrides the model's input transform.
	Data      *data.Splits
	Transform data.Transform
	// Method is magnitude (per layer), global, structured or n:m.
	Method string
	// Sparsity is the target fraction of zero weights, in [0, 1).
	Sparsity float64
	// PerLayer overrides Sparsity per weight name.
	PerLayer map[string]float64
	// Schedule is one-shot (default), iterative or agp.
	Schedule       string
	FineTuneEpochs int
	Seed           int64
	// Optim is the fine-tuning optimizer.
	Optim
}

// PruneResult reports a pruning run.
type PruneResult struct {
	// Model is the pruned model file, recording the input transform.
	Model []byte
	// Pruned is compress/prune's report (counts, accuracies).
	Pruned *prune.Result
	// BytesBefore and BytesAfter are the model files' sizes.
	BytesBefore, BytesAfter int64
	Transform               data.Transform
	// LatencyBefore and LatencyAfter are the median times of one pass over
	// a batch of LatencyBatch test images (64, or the test set when
	// smaller) on one thread through the runtime's plan of the input and
	// of the pruned network (runtime.ReportTiming): each layer runs on the
	// kernel — dense, CSR, BSR or 2:4 — that measured fastest on its
	// weights, as PlanBefore and PlanAfter report.
	LatencyBefore, LatencyAfter time.Duration
	LatencyBatch                int
	PlanBefore, PlanAfter       []runtime.LayerChoice
}

// Prune prunes the model (see compress/prune), fine-tunes it and measures it
// before and after.
func Prune(ctx context.Context, o PruneOptions) (*PruneResult, error) {
	method, ok := pruneMethods[o.Method]
	if !ok {
		return nil, &InputError{Field: "method", Err: fmt.Errorf("%q is not one of %s", o.Method, strings.Join(slices.Sorted(maps.Keys(pruneMethods)), ", "))}
	}
	schedule, ok := pruneSchedules[o.Schedule]
	if !ok {
		return nil, &InputError{Field: "schedule", Err: fmt.Errorf("%q is not one-shot, iterative or agp", o.Schedule)}
	}
	if o.Data == nil {
		return nil, &InputError{Field: "data", Err: fmt.Errorf("required")}
	}
	m, err := LoadModel("model", o.Model, o.Limits)
	if err != nil {
		return nil, err
	}
	t := ModelTransform(o.Transform, m)
	train, test, err := Prepare(o.Data, t)
	if err != nil {
		return nil, err
	}
	r, err := prune.Run(ctx, m.Net, train, test, prune.Options{
		Method: method, Sparsity: o.Sparsity, PerLayer: o.PerLayer,
		Schedule: schedule, FineTuneEpochs: o.FineTuneEpochs,
		Train: o.Optim.config(0, 0, o.Seed),
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, inputError("prune", err)
	}
	var buf bytes.Buffer
	if err := model.SaveWithTransform(&buf, r.Network, t); err != nil {
		return nil, err
	}
	res := &PruneResult{Model: buf.Bytes(), Pruned: r, BytesBefore: int64(len(o.Model)), BytesAfter: int64(buf.Len()), Transform: t}
	before, err := runtime.ReportTiming(ctx, m.Net, test)
	if err != nil {
		return nil, fmt.Errorf("latency of the input model: %w", err)
	}
	after, err := runtime.ReportTiming(ctx, r.Network, test)
	if err != nil {
		return nil, fmt.Errorf("latency of the pruned model: %w", err)
	}
	res.LatencyBatch, res.LatencyBefore, res.PlanBefore, res.LatencyAfter, res.PlanAfter = after.Batch, before.Median, before.Layers, after.Median, after.Layers
	return res, nil
}
