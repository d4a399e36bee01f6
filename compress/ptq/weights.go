package ptq

import (
	"bytes"
	"context"
	"fmt"

	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
)

// Options selects the weight quantization.
type Options struct {
	// Bits is 8 or 4.
	Bits int
	// Scheme is per-tensor or per-channel (axis 0, the output channel).
	// Tensors of rank < 2 (biases, norms) always get one scale: a scale per
	// element would store more than it saves.
	Scheme    quant.Scheme
	Symmetric bool
	// TensorBits overrides Bits for the named tensors (8 or 4 each): a
	// mixed-precision policy. A name the model lacks is an error.
	TensorBits map[string]int
}

// TensorReport is the reconstruction error of one tensor.
type TensorReport struct {
	Name  string
	Shape []int
	// Encoding is the stored scheme, e.g. "int8/per-channel/symmetric", with
	// "/sparse" appended when stored sparsely.
	Encoding     string
	MaxAbsError  float64
	MeanAbsError float64
	// Bound is the largest error the scheme allows: half the largest step.
	Bound float64
}

// Report describes one quantized model.
type Report struct {
	BytesBefore int64
	BytesAfter  int64
	Tensors     []TensorReport
}

// WeightOnly quantizes every floating-point tensor of the safetensors model
// in data and returns the compressed artifact's bytes. An int8 tensor with
// enough zero codes (a pruned weight) is stored sparsely when that is
// smaller. The architecture and input-transform metadata of the input are
// carried over. Input errors wrap safetensors.ErrFormat
// or safetensors.ErrLimit; a non-floating tensor is an ErrFormat error naming it.
func WeightOnly(ctx context.Context, data []byte, limits safetensors.Limits, o Options) ([]byte, *Report, error) {
	f, err := safetensors.ReadSafetensors(data, limits)
	if err != nil {
		return nil, nil, err
	}
	c := &packed.Compressed{Arch: f.Metadata[packed.ArchKey]}
	if t, ok, err := model.InputTransform(f.Metadata); err != nil {
		return nil, nil, err
	} else if ok {
		c.Metadata = model.TransformMetadata(t)
	}
	rep := &Report{BytesBefore: int64(len(data))}
	names := map[string]bool{}
	for _, t := range f.Tensors {
		names[t.Name] = true
	}
	for name, b := range o.TensorBits {
		if !names[name] {
			return nil, nil, fmt.Errorf("bits of tensor %q: the model has no such tensor: %w", name, safetensors.ErrFormat)
		}
		if b != 8 && b != 4 {
			return nil, nil, fmt.Errorf("bits of tensor %q: %d, want 8 or 4: %w", name, b, safetensors.ErrFormat)
		}
	}
	for i := range f.Tensors {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		t := &f.Tensors[i]
		if !t.DType.IsFloat() {
			return nil, nil, fmt.Errorf("tensor %q: dtype %s is not a floating-point weight: %w", t.Name, t.DType, safetensors.ErrFormat)
		}
		w, err := t.Float32s()
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		p := quant.Params{Bits: o.Bits, Scheme: o.Scheme, Symmetric: o.Symmetric}
		if b, ok := o.TensorBits[t.Name]; ok {
			p.Bits = b
		}
		if len(t.Shape) < 2 {
			p.Scheme = quant.PerTensor
		}
		q, err := quant.QuantizeTensor(w, t.Shape, p)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w: %w", t.Name, err, safetensors.ErrFormat)
		}
		st, err := quant.ErrorStats(w, q)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if st.Violations > 0 {
			return nil, nil, fmt.Errorf("tensor %q: %d elements exceed the quantization error bound", t.Name, st.Violations)
		}
		bound := 0.0
		for _, b := range st.Bound {
			bound = max(bound, b)
		}
		cp := packed.CompressedParam{Name: t.Name, Shape: t.Shape, Quantized: q}
		if _, _, err := cp.ChooseSparse(); err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		c.Params = append(c.Params, cp)
		rep.Tensors = append(rep.Tensors, TensorReport{
			Name: t.Name, Shape: t.Shape, Encoding: encoding(p, cp.Sparse),
			MaxAbsError: st.MaxAbsError, MeanAbsError: st.MeanAbsError, Bound: bound,
		})
	}
	var buf bytes.Buffer
	if err := packed.WriteCompressed(&buf, c); err != nil {
		return nil, nil, err
	}
	rep.BytesAfter = int64(buf.Len())
	return buf.Bytes(), rep, nil
}

func encoding(p quant.Params, sparse bool) string {
	sym := "asymmetric"
	if p.Symmetric {
		sym = "symmetric"
	}
	s := fmt.Sprintf("int%d/%s/%s", p.Bits, p.Scheme, sym)
	if sparse {
		s += "/sparse"
	}
	return s
}
