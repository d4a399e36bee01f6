package worker

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/onnx"
	"github.com/compressq/compressq/tasks"
)

// export handles compress:export: a model artifact written as ONNX by
// onnx.Export, calibrated on the payload's data set when it names one.
func (w *Worker) export(ctx context.Context, t *asynq.Task) (tasks.Result, error) {
	p, err := tasks.DecodeAs[*tasks.ExportPayload](t.Type(), t.Payload())
	if err != nil {
		return nil, err
	}
	res, uri, err := modelJob(ctx, w, "model", p.Model, p.Data != "", p.Data, ".onnx",
		func(ctx context.Context, raw []byte, limits model.Limits, train, _ *data.Dataset) ([]byte, *tasks.ExportResult, error) {
			r, err := onnx.Export(ctx, raw, exportRequest(p, limits, train))
			if err != nil {
				if onnx.IsInputError(err) {
					err = fmt.Errorf("%w: %w", err, asynq.SkipRetry)
				}
				return nil, nil, err
			}
			return r.ONNX, &tasks.ExportResult{Form: string(r.Form), Source: r.Source, Bytes: int64(len(r.ONNX)), Warnings: r.Warnings}, nil
		})
	if err != nil {
		return nil, err
	}
	res.Artifact = uri
	return res, nil
}

// exportRequest maps a compress:export payload onto onnx.Export's request.
// The worker's data sets are normalized with data.MNISTStandard, so a
// calibration set fixes the input quantization and, unless the payload
// gives its own, the recorded preprocessing.
func exportRequest(p *tasks.ExportPayload, limits model.Limits, calib *data.Dataset) onnx.Request {
	r := onnx.Request{Form: onnx.Form(p.Form), Calibration: p.Calibration, CalibSize: p.CalibSize, Limits: limits,
		Options: onnx.ExportOptions{Preprocessing: onnx.NewPreprocessing(p.PixelScale, p.Mean, p.Std)}}
	if calib != nil {
		norm := data.MNISTStandard()
		r.Calib, r.InputNorm = calib, &norm
		if r.Options.Preprocessing == nil {
			pre := onnx.PreprocessingFromNormalization(norm)
			r.Options.Preprocessing = &pre
		}
	}
	return r
}
