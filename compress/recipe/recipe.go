// Package recipe holds compressq's queue-free entry points: each recipe
// takes an options struct and returns a result struct, and reports bad
// input as an *InputError naming the field. The worker's handlers and the
// CLI's local commands call the same functions; this package must not know
// about queues, Redis or the artifact store (it receives bytes and loaded
// data sets).
//
// It also holds the two decisions every recipe shares: how a model file is
// recognised and loaded (LoadModel), and which input transform a run uses
// (TrainTransform, ModelTransform).
package recipe

import (
	"errors"
	"fmt"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/onnx"
	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/qnn"
	"github.com/compressq/compressq/compress/safetensors"
)

// InputError is a problem with a recipe's input that no retry can fix. Field
// names the option (as the task payload's field), Err says why.
type InputError struct {
	Field string
	Err   error
}

// Error implements error.
func (e *InputError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the reason.
func (e *InputError) Unwrap() error { return e.Err }

// inputError wraps err as an *InputError for field.
func inputError(field string, err error) error {
	if err == nil {
		return nil
	}
	var ie *InputError
	if errors.As(err, &ie) {
		return err
	}
	return &InputError{Field: field, Err: err}
}

// Model is a loaded model file: the network and the input transform the
// file states (Stated false when it states none).
type Model struct {
	Net       *nn.Network
	Transform data.Transform
	Stated    bool
	// Int8 is the integer-only model a compressed artifact stores with its
	// activation scales (Net is then its dequantized float network); nil
	// for other files.
	Int8 *qnn.Model
	// Format is FormatSafetensors, FormatCompressed or FormatONNX.
	Format string
}

// The formats LoadModel recognises, as Model.Format names them.
const (
	FormatSafetensors = "safetensors"
	FormatCompressed  = "compressed"
	FormatONNX        = "onnx"
)

// LoadModel recognises a model file by its content and loads it. Every
// format compressq reads goes through here:
//
//   - safetensors model files and compressq's compressed artifacts (a
//     safetensors file whose metadata names the format; quantized
//     parameters are dequantized), both with the architecture and input
//     transform in their metadata; an artifact that stores an integer-only
//     model (activation scales included) also gives Model.Int8;
//   - ONNX models (a protobuf ModelProto, imported by onnx.Import); they
//     state no transform, so runs on them default to [0, 1] pixels.
//
// A file of no known format, or a malformed one, is an *InputError for
// field.
func LoadModel(field string, raw []byte, limits safetensors.Limits) (*Model, error) {
	switch {
	case isSafetensors(raw):
		net, err := model.Load(raw, limits)
		if err != nil {
			return nil, inputError(field, err)
		}
		sf, err := safetensors.ReadSafetensors(raw, limits)
		if err != nil {
			return nil, inputError(field, err)
		}
		t, ok, err := model.InputTransform(sf.Metadata)
		if err != nil {
			return nil, inputError(field, err)
		}
		m := &Model{Net: net, Transform: t, Stated: ok, Format: FormatSafetensors}
		if packed.IsCompressedFormat(sf.Metadata[packed.FormatKey]) {
			m.Format = FormatCompressed
			if _, ok := sf.Metadata[packed.ActivationsKey]; ok {
				c, err := packed.ReadCompressed(raw, limits)
				if err != nil {
					return nil, inputError(field, err)
				}
				if m.Int8, err = qnn.FromArtifact(net, c, 0); err != nil {
					return nil, inputError(field, err)
				}
			}
		}
		return m, nil
	default:
		g, err := onnx.Decode(raw, onnxLimits(limits))
		if err != nil {
			return nil, inputError(field, fmt.Errorf("not a model file compressq reads (safetensors, a compressed artifact or ONNX): %w", err))
		}
		net, err := onnx.GraphToNetwork(g)
		if err != nil {
			return nil, inputError(field, err)
		}
		return &Model{Net: net, Format: FormatONNX}, nil
	}
}

// onnxLimits bounds an ONNX decode like a model file read.
func onnxLimits(l safetensors.Limits) onnx.Limits {
	var o onnx.Limits
	if l.MaxFileBytes > 0 && l.MaxFileBytes < 1<<31 {
		o.MaxBytes = int(l.MaxFileBytes)
	}
	return o
}

// isSafetensors reports whether raw starts like a safetensors file: an
// 8-byte little-endian header length followed by a JSON object.
func isSafetensors(raw []byte) bool {
	return len(raw) >= 9 && raw[8] == '{'
}

// TrainTransform is the transform a model trained here uses: flags when
// given, else the mean and std of the training split.
func TrainTransform(flags data.Transform, train *data.Dataset) data.Transform {
	if len(flags.Mean) > 0 {
		return flags
	}
	return data.Stats(train)
}

// ModelTransform is the transform a run on an existing model uses: flags
// when given, else the one the model states, else the identity ([0, 1]
// pixels, for imported models without metadata).
func ModelTransform(flags data.Transform, m *Model) data.Transform {
	if len(flags.Mean) > 0 {
		return flags
	}
	if m.Stated {
		return m.Transform
	}
	return data.Transform{}
}

// Prepare returns normalized copies of the splits (the splits themselves,
// which may be cached and shared, are left as loaded).
func Prepare(s *data.Splits, t data.Transform) (train, test *data.Dataset, err error) {
	if err := t.Validate(s.Train.C); err != nil {
		return nil, nil, inputError("mean", err)
	}
	if train, err = s.Train.Normalized(t); err != nil {
		return nil, nil, err
	}
	if test, err = s.Test.Normalized(t); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}
