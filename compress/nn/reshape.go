package nn

import (
	"fmt"

	"gorgonia.org/tensor"
)

// Reshape gives each sample a new shape, keeping the batch dimension and
// the data (shared, row-major order unchanged): [N, in...] → [N, Shape...]
// (ONNX Reshape with the batch dimension kept). One entry of Shape may be
// -1, inferred from the input size.
type Reshape struct {
	Shape Dims
}

// Spec implements Layer.
func (r *Reshape) Spec() LayerSpec { return LayerSpec{Type: TypeReshape, Shape: r.Shape} }

// Params implements Layer; Reshape has none.
func (*Reshape) Params() []Param { return nil }

// Forward implements Layer.
func (r *Reshape) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	xs, err := f32(x, "reshape input")
	if err != nil {
		return nil, nil, err
	}
	shape := []int(x.Shape().Clone())
	if len(shape) < 1 {
		return nil, nil, fmt.Errorf("reshape: input shape %v has no batch dimension", shape)
	}
	out, err := r.Shape.resolve(prod(shape[1:]))
	if err != nil {
		return nil, nil, fmt.Errorf("reshape: input %v: %w", shape, err)
	}
	outShape := batchShape(shape[0], out)
	y := newTensor(xs, outShape...)
	if !p.Train {
		return y, nil, nil
	}
	return y, func(dy *tensor.Dense, _ bool) (*tensor.Dense, error) {
		ds, err := checkGrad(dy, "reshape", outShape)
		if err != nil {
			return nil, err
		}
		return newTensor(ds, shape...), nil
	}, nil
}
