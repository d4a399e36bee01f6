package recipe

import (
	"context"
	"errors"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/onnx"
	"github.com/compressq/compressq/compress/safetensors"
)

// ExportOptions configure Export.
type ExportOptions struct {
	// Model is the model file: a safetensors model, a compressed artifact
	// or an ONNX model.
	Model  []byte
	Limits safetensors.Limits
	// Form is "float" (the default for ""), "qdq" or "qoperator" (see
	// onnx.Form).
	Form string
	// Data, if set, calibrates an integer-only model for the qdq and
	// qoperator forms on its training split (Calibration, CalibSize as in
	// QuantizeOptions); qoperator needs it.
	Data        *data.Splits
	Calibration string
	CalibSize   int
	// Transform overrides the model's input transform, which the export
	// records in the ONNX metadata and calibration uses.
	Transform data.Transform
	// ProducerVersion is written as the ONNX producer_version.
	ProducerVersion string
}

// ExportResult is what Export wrote.
type ExportResult struct {
	// ONNX is the serialized model.
	ONNX []byte
	// Form is the form written; Source what was exported ("float",
	// "weight-only int8", "integer-only int8", …).
	Form, Source string
	// Warnings say what the export loses.
	Warnings []string
	// Transform is the input transform recorded in the metadata.
	Transform data.Transform
}

// Export writes a model as standard ONNX with onnx.Export, recording the
// model's input transform (pixels/255, then per-channel mean and std) in
// the metadata. A problem with the model or the options is an *InputError
// naming the field.
func Export(ctx context.Context, o ExportOptions) (*ExportResult, error) {
	m, err := LoadModel("model", o.Model, o.Limits)
	if err != nil {
		return nil, err
	}
	t := ModelTransform(o.Transform, m)
	req := onnx.Request{Form: onnx.Form(o.Form), Calibration: o.Calibration, CalibSize: o.CalibSize, Limits: o.Limits,
		Options: onnx.ExportOptions{ProducerVersion: o.ProducerVersion, Preprocessing: preprocessing(t)}}
	if o.Data != nil {
		train, _, err := Prepare(o.Data, t)
		if err != nil {
			return nil, err
		}
		req.Calib = train
		if n, ok := t.Normalization(); ok {
			req.InputNorm = &n
		}
	}
	r, err := onnx.Export(ctx, o.Model, req)
	if err != nil {
		var ir *onnx.InvalidRequestError
		switch {
		case errors.As(err, &ir):
			return nil, &InputError{Field: ir.Field, Err: errors.New(ir.Reason)}
		case onnx.IsInputError(err):
			return nil, inputError("model", err)
		}
		return nil, err
	}
	return &ExportResult{ONNX: r.ONNX, Form: string(r.Form), Source: r.Source, Warnings: r.Warnings, Transform: t}, nil
}

// preprocessing is the ONNX metadata's statement of a transform: pixels
// scaled by 1/255, then per channel (x − mean)/std.
func preprocessing(t data.Transform) *onnx.Preprocessing {
	p := &onnx.Preprocessing{PixelScale: 1.0 / 255, Mean: []float32{0}, Std: []float32{1}}
	if len(t.Mean) > 0 {
		p.Mean, p.Std = make([]float32, len(t.Mean)), make([]float32, len(t.Std))
		for i := range t.Mean {
			p.Mean[i] = float32(t.Mean[i])
		}
		for i := range t.Std {
			p.Std[i] = float32(t.Std[i])
		}
	}
	return p
}
