package worker

import (
	"bytes"
	"context"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/prune"
	"github.com/compressq/compressq/tasks"
)

// prune handles compress:prune.
func (w *Worker) prune(ctx context.Context, t *asynq.Task) (tasks.Result, error) {
	p, err := tasks.DecodeAs[*tasks.PrunePayload](t.Type(), t.Payload())
	if err != nil {
		return nil, err
	}
	res, uri, err := modelJob(ctx, w, "model", p.Model, true, p.Data, p.Preprocess, ModelExt,
		func(ctx context.Context, raw []byte, limits model.Limits, train, test *data.Dataset) ([]byte, *tasks.PruneResult, error) {
			return Prune(ctx, p, raw, limits, train, test)
		})
	if err != nil {
		return nil, err
	}
	res.Artifact = uri
	return res, nil
}

// pruneMethods maps the payload's method names to compress/prune's.
var pruneMethods = map[string]string{"magnitude": prune.MethodLayer, "global": prune.MethodGlobal, "structured": prune.MethodStructured, "n:m": prune.MethodNM}

// pruneSchedules maps the payload's schedule names to compress/prune's.
var pruneSchedules = map[string]string{"": prune.ScheduleOneShot, "one-shot": prune.ScheduleOneShot, "iterative": prune.ScheduleIterative, "agp": prune.ScheduleAGP}

// Prune runs a compress:prune payload on the model file in raw, fine-tuning
// on train and evaluating on test, and returns the pruned model file and
// the result (Artifact left for the caller). The worker and `compressq
// prune` both call it.
func Prune(ctx context.Context, p *tasks.PrunePayload, raw []byte, limits model.Limits, train, test *data.Dataset) ([]byte, *tasks.PruneResult, error) {
	net, err := model.Load(raw, limits)
	if err != nil {
		return nil, nil, err
	}
	r, err := prune.Run(ctx, net, train, test, prune.Options{
		Method: pruneMethods[p.Method], Sparsity: p.Sparsity, PerLayer: p.PerLayer,
		Schedule: pruneSchedules[p.Schedule], FineTuneEpochs: p.FineTuneEpochs,
		Train: nn.TrainConfig{LR: p.LR, Seed: p.Seed, Optimizer: p.Optimizer, Momentum: p.Momentum, WeightDecay: p.WeightDecay, Schedule: p.Schedule},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("prune: %w: %w", err, asynq.SkipRetry)
	}
	var buf bytes.Buffer
	if err := model.SaveWithTransform(&buf, r.Network, train.Transform); err != nil {
		return nil, nil, err
	}
	res := &tasks.PruneResult{
		PerLayerSparsity: r.PerLayerSparsity,
		ParamsBefore:     r.ParamsBefore, ParamsAfter: r.ParamsAfter,
		NonzeroBefore: r.NonzeroBefore, NonzeroAfter: r.NonzeroAfter,
		BytesBefore: int64(len(raw)), BytesAfter: int64(buf.Len()),
		AccuracyBefore: r.AccuracyBefore, AccuracyPruned: r.AccuracyPruned, AccuracyAfter: r.AccuracyAfter,
		LatencyBefore: r.LatencyBefore.Seconds(), LatencyAfter: r.LatencyAfter.Seconds(),
	}
	return buf.Bytes(), res, nil
}
