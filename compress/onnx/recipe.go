package onnx

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/qnn"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
)

// Request says how [Export] writes a model file.
type Request struct {
	// Form is FormFloat (the default for ""), FormQDQ or FormQOperator.
	Form Form
	// Calib, if set, is the calibration set that turns a float model (or
	// a dequantized artifact) into an integer-only model for FormQDQ and
	// FormQOperator: BatchNorm folded, activations calibrated with
	// Calibration (quant.CalibMinMax for "") on CalibSize images (1000
	// for 0), weights int8 per channel. Without it, FormQDQ writes an
	// artifact's quantized weights only, and FormQOperator is refused.
	Calib       *data.Dataset
	Calibration string
	CalibSize   int
	// InputNorm is the normalization of Calib's images; it fixes the
	// input quantization so that raw pixels are the input codes (see
	// qnn.Options.InputNorm). Nil calibrates the input like any activation.
	InputNorm *data.Normalization
	// Options are passed to the exporter (producer version, the input
	// preprocessing recorded in the metadata).
	Options ExportOptions
	// Limits bound the model file read.
	Limits safetensors.Limits
}

// Result is what [Export] wrote.
type Result struct {
	// ONNX is the serialized model.
	ONNX []byte
	// Form is the form written.
	Form Form
	// Source describes what was exported: "float", "weight-only int8",
	// "integer-only int8", ...
	Source string
	// Warnings say what the export loses (k-means codebooks and sparse
	// storage written as dense values, int4 codes widened to int8).
	Warnings []string
}

// InvalidRequestError reports a request Export cannot serve; Field names
// the request field.
type InvalidRequestError struct {
	Field, Reason string
}

// Error implements error.
func (e *InvalidRequestError) Error() string {
	return fmt.Sprintf("onnx export: %s: %s", e.Field, e.Reason)
}

// Export reads a model file (a compressq model file, a compressed artifact
// or an ONNX model; recognized by content) and writes it as ONNX in the
// requested form:
//
//   - FormFloat: the float network (an artifact dequantized);
//   - FormQDQ: an artifact's stored integer-only model (activation scales
//     included) or, with Calib, the integer-only model calibrated on it
//     ([ExportQuantized]); otherwise an artifact's int8/int4 weights behind
//     DequantizeLinear and everything else float ([ExportArtifact]);
//   - FormQOperator: an artifact's stored integer-only model, else the
//     integer-only model built from Calib.
//
// The warnings of [ExportArtifact] are returned in Result.Warnings.
func Export(ctx context.Context, raw []byte, r Request) (*Result, error) {
	form, err := ParseForm(string(r.Form))
	if err != nil {
		return nil, &InvalidRequestError{Field: "form", Reason: err.Error()}
	}
	net, art, err := readModel(raw, r.Limits)
	if err != nil {
		return nil, err
	}
	res := &Result{Form: form}
	stored := art != nil && art.Activations != nil
	if art != nil {
		res.Warnings = artifactWarnings(art, form, r.Calib != nil && !stored)
	}
	switch {
	case form == FormFloat:
		res.Source = "float"
		res.ONNX, err = ExportNetwork(net, r.Options)
	case stored:
		// The artifact is the integer model: export it as stored rather
		// than recalibrate its dequantized weights.
		res.Source = "integer-only int8 (stored activation scales)"
		var m *qnn.Model
		if m, err = qnn.FromArtifact(net, art, 0); err != nil {
			return nil, err
		}
		res.ONNX, err = ExportQuantized(m, form, r.Options)
	case r.Calib != nil:
		res.Source = "integer-only int8"
		var m *qnn.Model
		if m, err = integerModel(ctx, net, r); err != nil {
			return nil, err
		}
		res.ONNX, err = ExportQuantized(m, form, r.Options)
	case form == FormQDQ && art != nil && artifactBits(art) != "":
		res.Source = "weight-only " + artifactBits(art)
		res.ONNX, err = exportArtifactNet(net, art, r.Options)
	case form == FormQDQ:
		return nil, &InvalidRequestError{Field: "form", Reason: "qdq of a model without int8/int4 weights needs calibration data (to build an integer-only model)"}
	default:
		return nil, &InvalidRequestError{Field: "form", Reason: "qoperator needs calibration data: its activations are uint8 with calibrated scales"}
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// readModel rebuilds the network of a model file, and returns the
// compressed artifact's content when the file is one.
func readModel(raw []byte, limits safetensors.Limits) (*nn.Network, *packed.Compressed, error) {
	if !isSafetensors(raw) {
		g, err := Decode(raw, Limits{MaxBytes: int(min(limits.MaxFileBytes, math.MaxInt32))})
		if err != nil {
			return nil, nil, fmt.Errorf("model (read as ONNX, not safetensors): %w", err)
		}
		net, err := GraphToNetwork(g)
		if err != nil {
			return nil, nil, fmt.Errorf("model (read as ONNX, not safetensors): %w", err)
		}
		return net, nil, nil
	}
	f, err := safetensors.ReadSafetensors(raw, limits)
	if err != nil {
		return nil, nil, fmt.Errorf("model: %w", err)
	}
	net, err := model.Load(raw, limits)
	if err != nil {
		return nil, nil, err
	}
	if !packed.IsCompressedFormat(f.Metadata[packed.FormatKey]) {
		return net, nil, nil
	}
	c, err := packed.ReadCompressed(raw, limits)
	if err != nil {
		return nil, nil, fmt.Errorf("model: %w", err)
	}
	return net, c, nil
}

// isSafetensors reports whether raw starts like a safetensors file: an
// 8-byte header length, then a JSON object. An ONNX ModelProto starts with
// a protobuf tag instead.
func isSafetensors(raw []byte) bool {
	return len(raw) > 8 && raw[8] == '{'
}

// integerModel builds the integer-only model of net calibrated on r.Calib.
func integerModel(ctx context.Context, net *nn.Network, r Request) (*qnn.Model, error) {
	p, err := qnn.Prepare(net)
	if err != nil {
		return nil, &InvalidRequestError{Field: "form", Reason: fmt.Sprintf("%s needs an integer-only model: %v", r.Form, err)}
	}
	size := r.CalibSize
	if size <= 0 {
		size = 1000
	}
	obs, err := qnn.Calibrate(ctx, p, r.Calib, min(size, r.Calib.Len()))
	if err != nil {
		return nil, err
	}
	method := r.Calibration
	if method == "" {
		method = quant.CalibMinMax
	}
	ranges, err := qnn.Ranges(obs, method)
	if err != nil {
		return nil, &InvalidRequestError{Field: "calibration", Reason: err.Error()}
	}
	return qnn.Quantize(p, ranges, qnn.Options{InputNorm: r.InputNorm})
}

// ExportArtifact writes a compressed artifact (packed.ReadCompressed) as
// ONNX. In FormQDQ each int8 or int4 parameter is an INT8 initializer
// behind a DequantizeLinear with its scales (axis 0 when per channel) and
// zero points (when asymmetric); in FormFloat, and for every other
// parameter, the dequantized float32 values are written. The returned
// warnings say, per parameter, what the file loses: k-means codebooks and
// sparse storage become dense values (ONNX has no codebook type, and ONNX
// Runtime runs no sparse initializers), int4 codes are widened to int8
// (opset 13 has no 4-bit type). FormQOperator needs calibrated
// activations the artifact does not hold (see [Export]).
func ExportArtifact(raw []byte, limits safetensors.Limits, form Form, o ExportOptions) ([]byte, []string, error) {
	net, c, err := readModel(raw, limits)
	if err != nil {
		return nil, nil, err
	}
	if c == nil {
		return nil, nil, &InvalidRequestError{Field: "model", Reason: "not a compressed artifact"}
	}
	warnings := artifactWarnings(c, form, false)
	switch form {
	case FormFloat, "":
		b, err := ExportNetwork(net, o)
		return b, warnings, err
	case FormQDQ:
		b, err := exportArtifactNet(net, c, o)
		return b, warnings, err
	}
	return nil, nil, &InvalidRequestError{Field: "form", Reason: fmt.Sprintf("%q: a weight-only artifact exports as float or qdq", form)}
}

// exportArtifactNet exports net with the quantized parameters of c behind
// DequantizeLinear.
func exportArtifactNet(net *nn.Network, c *packed.Compressed, o ExportOptions) ([]byte, error) {
	return exportFloat(net, o, FormQDQ, func(b *builder, name string, v []float32, shape []int) (string, error) {
		p, ok := c.Param(name)
		if !ok || p.Quantized == nil {
			return floatWeight(b, name, v, shape)
		}
		return dequantizedWeight(b, name, p.Quantized)
	})
}

// dequantizedWeight adds q as an INT8 initializer (with its scales and
// zero points) and a DequantizeLinear, and returns the float tensor's name.
func dequantizedWeight(b *builder, name string, q *quant.Quantized) (string, error) {
	groups := 1
	if q.Axis >= 0 {
		if q.Axis != 0 || len(q.Shape) == 0 {
			return "", fmt.Errorf("parameter %s: scales on axis %d of shape %v: only axis 0 is supported", name, q.Axis, q.Shape)
		}
		groups = q.Shape[0]
	}
	if len(q.Scale) != groups || (q.ZeroPoint != nil && len(q.ZeroPoint) != groups) {
		return "", fmt.Errorf("parameter %s: %d scales and %d zero points for %d groups", name, len(q.Scale), len(q.ZeroPoint), groups)
	}
	var dims []int
	if q.Axis >= 0 {
		dims = []int{groups}
	}
	wq := b.init(int8Init(name+".q", q.Shape, q.Q))
	scale := b.init(floatInit(name+".scale", dims, q.Scale))
	in := []string{wq, scale}
	if !q.Symmetric && q.ZeroPoint != nil {
		z := make([]int8, groups)
		for i, v := range q.ZeroPoint {
			if v < -128 || v > 127 {
				return "", fmt.Errorf("parameter %s: zero point %d is outside int8", name, v)
			}
			z[i] = int8(v)
		}
		in = append(in, b.init(int8Init(name+".zero_point", dims, z)))
	}
	var attrs []attribute
	if q.Axis >= 0 {
		attrs = append(attrs, intAttribute("axis", 0))
	}
	return b.node("DequantizeLinear", in, name+".dq", attrs...), nil
}

// artifactBits names the weight quantization of an artifact: "int8",
// "int4", "int8/int4", or "" when no parameter is quantized.
func artifactBits(c *packed.Compressed) string {
	seen := map[int]bool{}
	for _, p := range c.Params {
		if p.Quantized != nil {
			seen[p.Quantized.Bits] = true
		}
	}
	switch {
	case seen[8] && seen[4]:
		return "int8/int4"
	case seen[4]:
		return "int4"
	case seen[8]:
		return "int8"
	}
	return ""
}

// artifactWarnings lists what exporting c in form loses, one sentence per
// kind of loss naming the parameters. integer says the weights are
// requantized for an integer-only model.
func artifactWarnings(c *packed.Compressed, form Form, integer bool) []string {
	var shared, sparse, int4, dequant []string
	var sharedBits []int
	for _, p := range c.Params {
		switch {
		case p.Shared != nil:
			shared = append(shared, p.Name)
			bits := 0
			for 1<<bits < len(p.Shared.Centroids) {
				bits++
			}
			sharedBits = append(sharedBits, bits)
		case p.Quantized != nil && (form == FormFloat || integer):
			dequant = append(dequant, p.Name)
		case p.Quantized != nil && p.Quantized.Bits == 4:
			int4 = append(int4, p.Name)
		}
		if p.Sparse {
			sparse = append(sparse, p.Name)
		}
	}
	var w []string
	if len(shared) > 0 {
		w = append(w, fmt.Sprintf("k-means weight sharing is lost: %s (codebooks of up to %d values) are written as dense float32 values; the values are exact, but the %d-bit indices (and any Huffman coding) become 32 bits per weight: ONNX has no codebook type",
			strings.Join(shared, ", "), 1<<maxInt(sharedBits), maxInt(sharedBits)))
	}
	if len(sparse) > 0 {
		w = append(w, fmt.Sprintf("sparse storage is lost: %s are written densely, zeros included (the values are exact; the file holds every element, as ONNX Runtime runs no sparse initializers)", strings.Join(sparse, ", ")))
	}
	if len(int4) > 0 {
		w = append(w, fmt.Sprintf("int4 codes are widened: %s are written as INT8 initializers holding the 4-bit codes (exact values, 8 bits per weight): opset 13 has no 4-bit type", strings.Join(int4, ", ")))
	}
	if len(dequant) > 0 {
		if integer {
			w = append(w, fmt.Sprintf("the artifact's quantized weights (%s) are dequantized and requantized per channel to int8 for the integer-only model", strings.Join(dequant, ", ")))
		} else {
			w = append(w, fmt.Sprintf("quantized weights are dequantized to float32: %s (use form qdq to keep them as int8)", strings.Join(dequant, ", ")))
		}
	}
	return w
}

func maxInt(v []int) int {
	m := 0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// IsInputError reports whether an error of [Export] is due to the request
// or the model file (bad form, malformed or unsupported model), so a retry
// cannot fix it.
func IsInputError(err error) bool {
	var ir *InvalidRequestError
	var uo *UnsupportedOpsError
	return errors.As(err, &ir) || errors.As(err, &uo) || errors.Is(err, safetensors.ErrFormat) || errors.Is(err, safetensors.ErrLimit) ||
		errors.Is(err, ErrNotImportable) || errors.Is(err, ErrNotExportable)
}
