package worker

import (
	"context"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/tasks"
)

// eval handles compress:eval: the model's accuracy, loss, per-class
// accuracy and latency on the test split of a data set.
func (w *Worker) eval(ctx context.Context, t *asynq.Task) (tasks.Result, error) {
	p, err := tasks.DecodeAs[*tasks.EvalPayload](t.Type(), t.Payload())
	if err != nil {
		return nil, err
	}
	raw, err := w.fetch(ctx, "model", p.Model)
	if err != nil {
		return nil, err
	}
	splits, err := w.data.get(ctx, p.Data)
	if err != nil {
		return nil, err
	}
	r, err := recipe.Eval(ctx, recipe.EvalOptions{Model: raw, Limits: w.limits, Data: splits,
		Transform: data.Transform{Mean: p.Mean, Std: p.Std}, BatchSize: p.BatchSize})
	if err != nil {
		return nil, err
	}
	return EvalResult(p.Model, p.Data, r), nil
}

// EvalResult maps the recipe's result onto the task's.
func EvalResult(model, dataURI string, r *recipe.EvalResult) *tasks.EvalResult {
	return &tasks.EvalResult{Model: model, Data: dataURI, Samples: r.Samples, Accuracy: r.Accuracy, Loss: r.Loss,
		PerClass: r.PerClass, Classes: r.Classes, LatencyMS: r.LatencyMS, BatchSize: r.BatchSize,
		Mean: r.Transform.Mean, Std: r.Transform.Std}
}
