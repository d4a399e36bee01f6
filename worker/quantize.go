package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/ptq"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/internal/artifact"
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
	res, uri, err := modelJob(ctx, w, "model", p.Model, p.FullRecipe(), p.Data, p.Preprocess, CompressedExt,
		func(ctx context.Context, raw []byte, limits model.Limits, train, test *data.Dataset) ([]byte, *tasks.QuantizeResult, error) {
			return Quantize(ctx, p, raw, limits, train, test)
		})
	if err != nil {
		return nil, err
	}
	res.Artifact = uri
	return res, nil
}

// Quantize runs a compress:quantize payload on the model bytes in data and
// returns the compressed artifact's bytes and the result (Artifact left
// empty for the caller to fill in). The full recipe calibrates on train and
// evaluates on test; weight-only quantization needs neither. The worker and
// `compressq quantize` both call it.
func Quantize(ctx context.Context, p *tasks.QuantizePayload, data []byte, limits model.Limits, train, test *data.Dataset) ([]byte, *tasks.QuantizeResult, error) {
	if p.FullRecipe() {
		return quantizeFull(ctx, p, data, limits, train, test)
	}
	scheme, err := quant.ParseScheme(p.Granularity)
	if err != nil {
		return nil, nil, fmt.Errorf("granularity: %w: %w", err, asynq.SkipRetry)
	}
	out, rep, err := ptq.WeightOnly(ctx, data, limits, ptq.Options{Bits: p.Bits, Scheme: scheme, Symmetric: !p.Asymmetric})
	if err != nil {
		return nil, nil, err
	}
	res := &tasks.QuantizeResult{BytesBefore: rep.BytesBefore, BytesAfter: rep.BytesAfter}
	if rep.BytesAfter > 0 {
		res.Ratio = float64(rep.BytesBefore) / float64(rep.BytesAfter)
	}
	for _, tr := range rep.Tensors {
		res.Tensors = append(res.Tensors, tasks.TensorError{
			Name: tr.Name, Shape: tr.Shape, Encoding: tr.Encoding,
			MaxAbs: tr.MaxAbsError, MeanAbs: tr.MeanAbsError, Bound: tr.Bound,
		})
	}
	return out, res, nil
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

// inputError names the payload field and wraps asynq.SkipRetry when err is
// a property of the input rather than a passing failure.
func inputError(field, uri string, err error) error {
	permanent := errors.Is(err, model.ErrFormat) || errors.Is(err, model.ErrLimit) ||
		errors.Is(err, artifact.ErrOutsideRoot) || errors.Is(err, artifact.ErrTooLarge) ||
		errors.Is(err, artifact.ErrCorrupt) || errors.Is(err, artifact.ErrNotFound) ||
		errors.Is(err, artifact.ErrInvalidURI)
	if permanent {
		return fmt.Errorf("%s %q: %w: %w", field, uri, err, asynq.SkipRetry)
	}
	return fmt.Errorf("%s %q: %w", field, uri, err)
}

// quantizeFull is the calibrated recipe: integer-only model, optional QAT
// and k-means weight sharing, accuracy and latency measured.
func quantizeFull(ctx context.Context, p *tasks.QuantizePayload, raw []byte, limits model.Limits, train, test *data.Dataset) ([]byte, *tasks.QuantizeResult, error) {
	net, err := model.Load(raw, limits)
	if err != nil {
		return nil, nil, err
	}
	// Pixel bytes are the integer model's input codes when one affine map
	// serves every channel; otherwise the input range is calibrated.
	var inputNorm *data.Normalization
	if n, ok := train.Transform.Normalization(); ok {
		inputNorm = &n
	}
	r, err := ptq.Run(ctx, net, train, test, ptq.RunOptions{
		Calibration: p.Calibration, CalibSize: p.CalibSize, InputNorm: inputNorm, Transform: train.Transform,
		QATEpochs: p.QATEpochs, KMeansBits: p.KMeansBits, KMeansEpochs: 1, Huffman: p.Huffman, Seed: p.Seed,
	})
	if err != nil {
		return nil, nil, err
	}
	res := &tasks.QuantizeResult{
		BytesBefore: int64(len(raw)), BytesAfter: int64(len(r.Artifact)),
		AccuracyFP32: r.AccuracyFP32, AccuracyFake: r.AccuracyFake, AccuracyInt8: r.AccuracyInt8, AccuracyShared: r.AccuracyShared,
		LatencyFP32: r.LatencyFP32.Seconds(), LatencyInt8: r.LatencyInt8.Seconds(),
	}
	if res.BytesAfter > 0 {
		res.Ratio = float64(res.BytesBefore) / float64(res.BytesAfter)
	}
	return r.Artifact, res, nil
}
