package model

import (
	"fmt"
	"io"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/safetensors"
)

// Metadata keys of a model's input transform (in model files and compressed
// artifacts alike): the per-channel mean and std applied to [0, 1] pixels,
// comma-separated (see data.Transform). A file without them states no
// transform.
const (
	InputMeanKey = "compressq.input.mean"
	InputStdKey  = "compressq.input.std"
)

// InputTransform reads the input transform from a file's metadata; ok is
// false when the file states none. A malformed value is a
// safetensors.ErrFormat error naming the key.
func InputTransform(md map[string]string) (t data.Transform, ok bool, err error) {
	mean, hasMean := md[InputMeanKey]
	std, hasStd := md[InputStdKey]
	if !hasMean && !hasStd {
		return data.Transform{}, false, nil
	}
	if !hasMean || !hasStd {
		return data.Transform{}, false, fmt.Errorf("model: metadata has only one of %s and %s: %w", InputMeanKey, InputStdKey, safetensors.ErrFormat)
	}
	if t.Mean, err = data.ParseFloats(mean); err != nil {
		return data.Transform{}, false, fmt.Errorf("model: metadata %s: %v: %w", InputMeanKey, err, safetensors.ErrFormat)
	}
	if t.Std, err = data.ParseFloats(std); err != nil {
		return data.Transform{}, false, fmt.Errorf("model: metadata %s: %v: %w", InputStdKey, err, safetensors.ErrFormat)
	}
	if err := t.Validate(0); err != nil {
		return data.Transform{}, false, fmt.Errorf("model: metadata %s/%s: %v: %w", InputMeanKey, InputStdKey, err, safetensors.ErrFormat)
	}
	return t, true, nil
}

// TransformMetadata returns the metadata entries that record t (an empty
// map for the zero Transform, which records nothing).
func TransformMetadata(t data.Transform) map[string]string {
	if len(t.Mean) == 0 && len(t.Std) == 0 {
		return map[string]string{}
	}
	return map[string]string{InputMeanKey: data.FormatFloats(t.Mean), InputStdKey: data.FormatFloats(t.Std)}
}

// ReadInputTransform reads the input transform stated by a model file or
// compressed artifact.
func ReadInputTransform(raw []byte, limits safetensors.Limits) (data.Transform, bool, error) {
	f, err := safetensors.ReadSafetensors(raw, limits)
	if err != nil {
		return data.Transform{}, false, fmt.Errorf("model: %w", err)
	}
	return InputTransform(f.Metadata)
}

// SaveWithTransform writes net as Save does and records its input
// transform t in the metadata.
func SaveWithTransform(w io.Writer, net *nn.Network, t data.Transform) error {
	return save(w, net, TransformMetadata(t))
}
