package packed

import (
	"fmt"
	"strings"

	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
)

// IsWeight is the default tensor selector of [QuantizeWeights]: a
// floating-point tensor of rank ≥ 2 whose name ends in ".weight" (Dense
// [out,in] and Conv OIHW weights; biases and BatchNorm parameters stay
// float32).
func IsWeight(t *safetensors.Tensor) bool {
	return t.DType.IsFloat() && len(t.Shape) >= 2 && strings.HasSuffix(t.Name, ".weight")
}

// QuantizeWeights builds a compressed artifact from float tensors (for
// example a model file's): each tensor selected by sel (nil means
// [IsWeight]) is quantized with p, every other floating-point tensor is kept
// as float32. arch is stored as the artifact's architecture (may be empty).
// Errors name the tensor, e.g. a NaN weight:
//
//	tensor "layers.0.weight": quant: index 3 ([0 0 1 0]): value NaN: ...
func QuantizeWeights(tensors []safetensors.Tensor, arch string, p quant.Params, sel func(*safetensors.Tensor) bool) (*Compressed, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if sel == nil {
		sel = IsWeight
	}
	c := &Compressed{Arch: arch}
	for i := range tensors {
		t := &tensors[i]
		v, err := t.Float32s()
		if err != nil {
			return nil, err
		}
		cp := CompressedParam{Name: t.Name, Shape: cloneShape(t.Shape)}
		if sel(t) {
			if cp.Quantized, err = quant.QuantizeTensor(v, t.Shape, p); err != nil {
				return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
			}
		} else {
			cp.Values = v
		}
		c.Params = append(c.Params, cp)
	}
	return c, nil
}
