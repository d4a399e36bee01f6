package worker

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/internal/taskmap"
	"github.com/compressq/compressq/tasks"
)

// CompressedExt is the file extension of compressed artifacts.
const CompressedExt = ".cq.safetensors"

// quantize handles compress:quantize: quantization of a model artifact into
// a compressed artifact, weight-only or by the full calibrated recipe.
func (w *Worker) quantize(ctx context.Context, t *asynq.Task) (tasks.Result, error) {
	p, err := tasks.DecodeAs[*tasks.QuantizePayload](t.Type(), t.Payload())
	if err != nil {
		return nil, err
	}
	res, uri, err := modelJob(ctx, w, "model", p.Model, p.FullRecipe(), p.Data, CompressedExt,
		func(ctx context.Context, raw []byte, s *data.Splits) ([]byte, *tasks.QuantizeResult, error) {
			r, err := recipe.Quantize(ctx, taskmap.QuantizeOptions(p, raw, w.limits, s))
			if err != nil {
				return nil, nil, err
			}
			return r.Artifact, taskmap.QuantizeResult(r), nil
		})
	if err != nil {
		return nil, err
	}
	res.Artifact = uri
	return res, nil
}

// fetch reads an artifact named by a payload field. Errors no retry can fix
// (refused URI, missing, corrupt or oversized artifact) skip retries.
func (w *Worker) fetch(ctx context.Context, field, uri string) ([]byte, error) {
	data, err := w.store.Get(ctx, uri)
	if err != nil {
		return nil, inputError(field, uri, err)
	}
	return data, nil
}

// loadModel fetches the model at uri (the payload's field) and loads it
// (recipe.LoadModel: safetensors, compressed artifact or ONNX); errors
// name the field and the URI.
func (w *Worker) loadModel(ctx context.Context, field, uri string) (*recipe.Model, error) {
	raw, err := w.fetch(ctx, field, uri)
	if err != nil {
		return nil, err
	}
	m, err := recipe.LoadModel(field, raw, w.limits)
	if err != nil {
		return nil, inputError(field, uri, err)
	}
	return m, nil
}

// inputError names the payload field and the URI err concerns; whether it
// is retried is skipRetry's decision.
func inputError(field, uri string, err error) error {
	return fmt.Errorf("%s %q: %w", field, uri, err)
}
