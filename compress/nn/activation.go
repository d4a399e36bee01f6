package nn

import (
	"fmt"

	"gorgonia.org/tensor"
)

// ReLU is the element-wise max(0, x).
type ReLU struct{}

// Spec implements Layer.
func (*ReLU) Spec() LayerSpec { return LayerSpec{Type: TypeReLU} }

// Params implements Layer; ReLU has none.
func (*ReLU) Params() []Param { return nil }

// Forward implements Layer.
func (*ReLU) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	xs, err := f32(x, "relu input")
	if err != nil {
		return nil, nil, err
	}
	shape := []int(x.Shape().Clone())
	ys := make([]float32, len(xs))
	for i, v := range xs {
		if v > 0 {
			ys[i] = v
		}
	}
	y := newTensor(ys, shape...)
	if !p.Train {
		return y, nil, nil
	}
	return y, func(dy *tensor.Dense, _ bool) (*tensor.Dense, error) {
		ds, err := checkGrad(dy, "relu", shape)
		if err != nil {
			return nil, err
		}
		dx := make([]float32, len(ds))
		for i, g := range ds {
			if ys[i] > 0 {
				dx[i] = g
			}
		}
		return newTensor(dx, shape...), nil
	}, nil
}

// Flatten reshapes [N, d1, d2, ...] to [N, d1·d2·…], sharing the data.
type Flatten struct{}

// Spec implements Layer.
func (*Flatten) Spec() LayerSpec { return LayerSpec{Type: TypeFlatten} }

// Params implements Layer; Flatten has none.
func (*Flatten) Params() []Param { return nil }

// Forward implements Layer.
func (*Flatten) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	xs, err := f32(x, "flatten input")
	if err != nil {
		return nil, nil, err
	}
	shape := []int(x.Shape().Clone())
	if len(shape) < 1 {
		return nil, nil, fmt.Errorf("flatten: input shape %v has no batch dimension", shape)
	}
	n := shape[0]
	y := newTensor(xs, n, prod(shape[1:]))
	if !p.Train {
		return y, nil, nil
	}
	return y, func(dy *tensor.Dense, _ bool) (*tensor.Dense, error) {
		ds, err := checkGrad(dy, "flatten", []int{n, prod(shape[1:])})
		if err != nil {
			return nil, err
		}
		return newTensor(ds, shape...), nil
	}, nil
}

// Dropout zeroes each activation with probability Rate in training and
// scales the survivors by 1/(1-Rate) (inverted dropout); at inference it is
// the identity.
type Dropout struct {
	Rate float64
}

// Spec implements Layer.
func (d *Dropout) Spec() LayerSpec { return LayerSpec{Type: TypeDropout, Rate: d.Rate} }

// Params implements Layer; Dropout has none.
func (*Dropout) Params() []Param { return nil }

// Forward implements Layer. In training it draws from p.Rand.
func (d *Dropout) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	xs, err := f32(x, "dropout input")
	if err != nil {
		return nil, nil, err
	}
	shape := []int(x.Shape().Clone())
	if !p.Train {
		return x, nil, nil
	}
	if d.Rate > 0 && p.Rand == nil {
		return nil, nil, fmt.Errorf("dropout: training pass without a random source")
	}
	scale := make([]float32, len(xs))
	ys := make([]float32, len(xs))
	keep := float32(1 / (1 - d.Rate))
	for i, v := range xs {
		if d.Rate == 0 || p.Rand.Float64() >= d.Rate {
			scale[i] = keep
			ys[i] = v * keep
		}
	}
	return newTensor(ys, shape...), func(dy *tensor.Dense, _ bool) (*tensor.Dense, error) {
		ds, err := checkGrad(dy, "dropout", shape)
		if err != nil {
			return nil, err
		}
		dx := make([]float32, len(ds))
		for i, g := range ds {
			dx[i] = g * scale[i]
		}
		return newTensor(dx, shape...), nil
	}, nil
}
