package worker

import (
	"context"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/internal/taskmap"
	"github.com/compressq/compressq/tasks"
)

// export handles compress:export: a model artifact written as ONNX by
// recipe.Export, calibrated on the payload's data set when it names one.
func (w *Worker) export(ctx context.Context, t *asynq.Task) (tasks.Result, error) {
	p, err := tasks.DecodeAs[*tasks.ExportPayload](t.Type(), t.Payload())
	if err != nil {
		return nil, err
	}
	res, uri, err := modelJob(ctx, w, "model", p.Model, p.Data != "", p.Data, ".onnx",
		func(ctx context.Context, raw []byte, s *data.Splits) ([]byte, *tasks.ExportResult, error) {
			o := taskmap.ExportOptions(p, raw, w.limits, s)
			r, err := recipe.Export(ctx, o)
			if err != nil {
				return nil, nil, err
			}
			return r.ONNX, taskmap.ExportResult(r), nil
		})
	if err != nil {
		return nil, err
	}
	res.Artifact = uri
	return res, nil
}
