package recipe

import (
	"context"
	"fmt"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/ptq"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
)

// QuantizeOptions selects a quantization of a model file: weight-only, or
// the full calibrated recipe when Calibration, QATEpochs or KMeansBits is
// set.
type QuantizeOptions struct {
	// Model is the model file; Limits bound its decoding.
	Model  []byte
	Limits safetensors.Limits
	// Bits is the weight width, 8 or 4; Granularity per-tensor or
	// per-channel; Asymmetric selects an affine range.
	Bits        int
	Granularity string
	Asymmetric  bool
	// PerLayerBits overrides Bits per tensor name (weight-only only).
	PerLayerBits map[string]int
	// Calibration is minmax, percentile, mse or kl (full recipe).
	Calibration string
	// CalibSize is the number of calibration images (0 means 1000).
	CalibSize  int
	QATEpochs  int
	KMeansBits int
	Huffman    bool
	Seed       int64
	// Data is the calibration (train) and evaluation (test) data set of the
	// full recipe; Transform overrides the model's input transform.
	Data      *data.Splits
	Transform data.Transform
}

// Full reports whether o asks for the calibrated recipe.
func (o QuantizeOptions) Full() bool {
	return o.Calibration != "" || o.QATEpochs > 0 || o.KMeansBits > 0
}

// QuantizeResult reports a quantization. Exactly one of WeightOnly and
// Calibrated is set.
type QuantizeResult struct {
	// Artifact is the compressed artifact (it carries the input transform).
	Artifact []byte
	// BytesBefore and BytesAfter are the input file's and the artifact's
	// sizes.
	BytesBefore, BytesAfter int64
	WeightOnly              *ptq.Report
	Calibrated              *ptq.Result
}

// Quantize quantizes the model's weights or runs the full recipe: integer
// model calibrated on the training split and evaluated on the test split,
// optional QAT and k-means weight sharing.
func Quantize(ctx context.Context, o QuantizeOptions) (*QuantizeResult, error) {
	scheme, err := quant.ParseScheme(o.Granularity)
	if err != nil {
		return nil, inputError("granularity", err)
	}
	if o.Bits != 8 && o.Bits != 4 {
		return nil, &InputError{Field: "bits", Err: fmt.Errorf("%d not supported (want 8 or 4)", o.Bits)}
	}
	if !o.Full() {
		out, rep, err := ptq.WeightOnly(ctx, o.Model, o.Limits, ptq.Options{Bits: o.Bits, Scheme: scheme, Symmetric: !o.Asymmetric, TensorBits: o.PerLayerBits})
		if err != nil {
			return nil, inputError("model", err)
		}
		return &QuantizeResult{Artifact: out, BytesBefore: rep.BytesBefore, BytesAfter: rep.BytesAfter, WeightOnly: rep}, nil
	}
	if len(o.PerLayerBits) > 0 {
		return nil, &InputError{Field: "per_layer_bits", Err: fmt.Errorf("weight-only quantization only (the full recipe is int8 throughout)")}
	}
	if o.Data == nil {
		return nil, &InputError{Field: "data", Err: fmt.Errorf("required by the full recipe (calibration)")}
	}
	m, err := LoadModel("model", o.Model, o.Limits)
	if err != nil {
		return nil, err
	}
	t := ModelTransform(o.Transform, m)
	train, test, err := Prepare(o.Data, t)
	if err != nil {
		return nil, err
	}
	// Pixel bytes are the integer model's input codes when one affine map
	// serves every channel; otherwise the input range is calibrated.
	var inputNorm *data.Normalization
	if n, ok := t.Normalization(); ok {
		inputNorm = &n
	}
	r, err := ptq.Run(ctx, m.Net, train, test, ptq.RunOptions{
		Calibration: o.Calibration, CalibSize: o.CalibSize, InputNorm: inputNorm, Transform: t,
		QATEpochs: o.QATEpochs, KMeansBits: o.KMeansBits, KMeansEpochs: 1, Huffman: o.Huffman, Seed: o.Seed,
	})
	if err != nil {
		return nil, err
	}
	return &QuantizeResult{Artifact: r.Artifact, BytesBefore: int64(len(o.Model)), BytesAfter: int64(len(r.Artifact)), Calibrated: r}, nil
}
