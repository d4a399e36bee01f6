package nn

import (
	"fmt"
	"math"

	"github.com/compressq/compressq/compress/kernels"

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
	inf := float32(math.Inf(1))
	forRange(len(xs), func(lo, hi int) { kernels.ScaleBiasClamp(ys[lo:hi], xs[lo:hi], 1, 0, 0, inf) })
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
		forRange(len(ds), func(lo, hi int) { kernels.MaskPositive(dx[lo:hi], ds[lo:hi], ys[lo:hi]) })
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

// elementwise applies f to every element of x. In training it returns the
// Backward that multiplies the output gradient by df(x, y), the derivative
// at each input x with output y. The output shape is x's.
func elementwise(layer string, x *tensor.Dense, p Pass, f func(float32) float32, df func(x, y float32) float32) (*tensor.Dense, Backward, error) {
	xs, err := f32(x, layer+" input")
	if err != nil {
		return nil, nil, err
	}
	shape := []int(x.Shape().Clone())
	ys := make([]float32, len(xs))
	for i, v := range xs {
		ys[i] = f(v)
	}
	y := newTensor(ys, shape...)
	if !p.Train {
		return y, nil, nil
	}
	return y, func(dy *tensor.Dense, _ bool) (*tensor.Dense, error) {
		ds, err := checkGrad(dy, layer, shape)
		if err != nil {
			return nil, err
		}
		dx := make([]float32, len(ds))
		for i, g := range ds {
			dx[i] = g * df(xs[i], ys[i])
		}
		return newTensor(dx, shape...), nil
	}, nil
}

// Clip bounds every element to [Min, Max] (ONNX Clip; ReLU6 is Min 0, Max
// 6). Its gradient passes where Min ≤ x ≤ Max, as PyTorch's clamp.
type Clip struct {
	Min, Max float64
}

// Spec implements Layer.
func (c *Clip) Spec() LayerSpec { return LayerSpec{Type: TypeClip, Min: c.Min, Max: c.Max} }

// Params implements Layer; Clip has none.
func (*Clip) Params() []Param { return nil }

// Forward implements Layer.
func (c *Clip) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	lo, hi := float32(c.Min), float32(c.Max)
	return elementwise("clip", x, p, func(v float32) float32 {
		return min(max(v, lo), hi)
	}, func(v, _ float32) float32 {
		if v >= lo && v <= hi {
			return 1
		}
		return 0
	})
}

// LeakyReLU is x for x > 0 and Alpha·x otherwise (ONNX LeakyRelu; NewLayer
// sets Alpha to 0.01 when the spec leaves it zero).
type LeakyReLU struct {
	Alpha float64
}

// Spec implements Layer.
func (l *LeakyReLU) Spec() LayerSpec { return LayerSpec{Type: TypeLeakyReLU, Alpha: l.Alpha} }

// Params implements Layer; LeakyReLU has none.
func (*LeakyReLU) Params() []Param { return nil }

// Forward implements Layer.
func (l *LeakyReLU) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	a := float32(l.Alpha)
	return elementwise("leakyrelu", x, p, func(v float32) float32 {
		if v > 0 {
			return v
		}
		return a * v
	}, func(v, _ float32) float32 {
		if v > 0 {
			return 1
		}
		return a
	})
}

// Sigmoid is the logistic function 1/(1+e^−x), computed in float64.
type Sigmoid struct{}

// Spec implements Layer.
func (*Sigmoid) Spec() LayerSpec { return LayerSpec{Type: TypeSigmoid} }

// Params implements Layer; Sigmoid has none.
func (*Sigmoid) Params() []Param { return nil }

// Forward implements Layer.
func (*Sigmoid) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	return elementwise("sigmoid", x, p, func(v float32) float32 {
		return float32(1 / (1 + math.Exp(-float64(v))))
	}, func(_, y float32) float32 { return y * (1 - y) })
}

// Tanh is the hyperbolic tangent, computed in float64.
type Tanh struct{}

// Spec implements Layer.
func (*Tanh) Spec() LayerSpec { return LayerSpec{Type: TypeTanh} }

// Params implements Layer; Tanh has none.
func (*Tanh) Params() []Param { return nil }

// Forward implements Layer.
func (*Tanh) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	return elementwise("tanh", x, p, func(v float32) float32 {
		return float32(math.Tanh(float64(v)))
	}, func(_, y float32) float32 { return 1 - y*y })
}

// HardSwish is x·relu6(x+3)/6 (ONNX HardSwish, MobileNetV3's h-swish).
type HardSwish struct{}

// Spec implements Layer.
func (*HardSwish) Spec() LayerSpec { return LayerSpec{Type: TypeHardSwish} }

// Params implements Layer; HardSwish has none.
func (*HardSwish) Params() []Param { return nil }

// Forward implements Layer.
func (*HardSwish) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	return elementwise("hardswish", x, p, func(v float32) float32 {
		switch {
		case v <= -3:
			return 0
		case v >= 3:
			return v
		}
		return v * (v + 3) / 6
	}, func(v, _ float32) float32 {
		switch {
		case v <= -3:
			return 0
		case v >= 3:
			return 1
		}
		return (2*v + 3) / 6
	})
}

// HardSigmoid is max(0, min(1, Alpha·x + Beta)) (ONNX HardSigmoid; NewLayer
// sets Alpha 0.2 and Beta 0.5 when the spec leaves them zero).
type HardSigmoid struct {
	Alpha, Beta float64
}

// Spec implements Layer.
func (h *HardSigmoid) Spec() LayerSpec {
	return LayerSpec{Type: TypeHardSigmoid, Alpha: h.Alpha, Beta: h.Beta}
}

// Params implements Layer; HardSigmoid has none.
func (*HardSigmoid) Params() []Param { return nil }

// Forward implements Layer.
func (h *HardSigmoid) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	a, b := float32(h.Alpha), float32(h.Beta)
	return elementwise("hardsigmoid", x, p, func(v float32) float32 {
		return min(max(a*v+b, 0), 1)
	}, func(v, _ float32) float32 {
		if t := a*v + b; t > 0 && t < 1 {
			return a
		}
		return 0
	})
}

// SoftmaxLayer normalizes each sample's features, [N, F] → [N, F], to
// exp(x_j)/Σ_k exp(x_k) (computed stably in float64). As the last layer of
// a classifier it turns logits into probabilities; train on the logits
// with SoftmaxCrossEntropy instead.
type SoftmaxLayer struct{}

// Spec implements Layer.
func (*SoftmaxLayer) Spec() LayerSpec { return LayerSpec{Type: TypeSoftmax} }

// Params implements Layer; SoftmaxLayer has none.
func (*SoftmaxLayer) Params() []Param { return nil }

// Forward implements Layer.
func (*SoftmaxLayer) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	sh := x.Shape()
	if len(sh) != 2 || sh[1] == 0 {
		return nil, nil, fmt.Errorf("softmax: input shape %v, want [N F] with F > 0", []int(sh))
	}
	y, err := Softmax(x)
	if err != nil {
		return nil, nil, fmt.Errorf("softmax: %w", err)
	}
	if !p.Train {
		return y, nil, nil
	}
	n, f := sh[0], sh[1]
	ys := y.Float32s()
	return y, func(dy *tensor.Dense, _ bool) (*tensor.Dense, error) {
		ds, err := checkGrad(dy, "softmax", []int{n, f})
		if err != nil {
			return nil, err
		}
		dx := make([]float32, len(ds))
		for i := 0; i < n; i++ {
			yr, gr := ys[i*f:(i+1)*f], ds[i*f:(i+1)*f]
			var dot float64
			for j, v := range yr {
				dot += float64(v) * float64(gr[j])
			}
			for j, v := range yr {
				dx[i*f+j] = float32(float64(v) * (float64(gr[j]) - dot))
			}
		}
		return newTensor(dx, n, f), nil
	}, nil
}

// Identity passes its input through unchanged (sharing the data).
type Identity struct{}

// Spec implements Layer.
func (*Identity) Spec() LayerSpec { return LayerSpec{Type: TypeIdentity} }

// Params implements Layer; Identity has none.
func (*Identity) Params() []Param { return nil }

// Forward implements Layer.
func (*Identity) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	if _, err := f32(x, "identity input"); err != nil {
		return nil, nil, err
	}
	if !p.Train {
		return x, nil, nil
	}
	shape := []int(x.Shape().Clone())
	return x, func(dy *tensor.Dense, _ bool) (*tensor.Dense, error) {
		if _, err := checkGrad(dy, "identity", shape); err != nil {
			return nil, err
		}
		return dy, nil
	}, nil
}
