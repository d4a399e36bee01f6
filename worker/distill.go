package worker

import (
	"context"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/internal/taskmap"
	"github.com/compressq/compressq/tasks"
)

// distill handles compress:distill: recipe.Distill on the teacher artifact.
func (w *Worker) distill(ctx context.Context, t *asynq.Task) (tasks.Result, error) {
	p, err := tasks.DecodeAs[*tasks.DistillPayload](t.Type(), t.Payload())
	if err != nil {
		return nil, err
	}
	res, uri, err := modelJob(ctx, w, "teacher", p.Teacher, true, p.Data, ModelExt,
		func(ctx context.Context, raw []byte, s *data.Splits) ([]byte, *tasks.DistillResult, error) {
			r, err := recipe.Distill(ctx, taskmap.DistillOptions(p, raw, w.limits, s))
			if err != nil {
				return nil, nil, err
			}
			return r.Model, taskmap.DistillResult(r), nil
		})
	if err != nil {
		return nil, err
	}
	res.Artifact = uri
	return res, nil
}
