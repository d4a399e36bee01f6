package worker

import (
	"context"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/internal/taskmap"
	"github.com/compressq/compressq/tasks"
)

// prune handles compress:prune: recipe.Prune on the model artifact.
func (w *Worker) prune(ctx context.Context, t *asynq.Task) (tasks.Result, error) {
	p, err := tasks.DecodeAs[*tasks.PrunePayload](t.Type(), t.Payload())
	if err != nil {
		return nil, err
	}
	res, uri, err := modelJob(ctx, w, "model", p.Model, true, p.Data, ModelExt,
		func(ctx context.Context, raw []byte, s *data.Splits) ([]byte, *tasks.PruneResult, error) {
			r, err := recipe.Prune(ctx, taskmap.PruneOptions(p, raw, w.limits, s))
			if err != nil {
				return nil, nil, err
			}
			return r.Model, taskmap.PruneResult(r), nil
		})
	if err != nil {
		return nil, err
	}
	res.Artifact = uri
	return res, nil
}
