package worker

import (
	"context"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/internal/taskmap"
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
	r, err := recipe.Eval(ctx, taskmap.EvalOptions(p, raw, w.limits, splits))
	if err != nil {
		return nil, inputError("model", p.Model, err)
	}
	return taskmap.EvalResult(p, r), nil
}
