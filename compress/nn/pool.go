package nn

import (
	"fmt"

	"github.com/compressq/compressq/compress/kernels"
	"gorgonia.org/tensor"
)

// MaxPool2D takes the maximum over Kernel×Kernel windows of NCHW input,
// moving by Stride, without padding.
type MaxPool2D struct {
	Kernel, Stride int
}

// Spec implements Layer.
func (m *MaxPool2D) Spec() LayerSpec {
	return LayerSpec{Type: TypeMaxPool2D, Kernel: m.Kernel, Stride: m.Stride}
}

// Params implements Layer; MaxPool2D has none.
func (m *MaxPool2D) Params() []Param { return nil }

// Forward implements Layer.
func (m *MaxPool2D) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	xs, n, c, h, w, oh, ow, err := poolInput(x, "maxpool2d", m.Kernel, m.Stride)
	if err != nil {
		return nil, nil, err
	}
	ys := make([]float32, n*c*oh*ow)
	var argmax []int32
	if p.Train {
		argmax = make([]int32, len(ys))
	}
	kernels.MaxPool2D(xs, n, c, h, w, m.Kernel, m.Stride, ys, argmax)
	y := newTensor(ys, n, c, oh, ow)
	if !p.Train {
		return y, nil, nil
	}
	return y, func(dy *tensor.Dense, _ bool) (*tensor.Dense, error) {
		ds, err := checkGrad(dy, "maxpool2d", []int{n, c, oh, ow})
		if err != nil {
			return nil, err
		}
		dx := make([]float32, len(xs))
		kernels.MaxPool2DBackward(ds, argmax, dx)
		return newTensor(dx, n, c, h, w), nil
	}, nil
}

// AvgPool2D averages over Kernel×Kernel windows of NCHW input, moving by
// Stride, without padding.
type AvgPool2D struct {
	Kernel, Stride int
}

// Spec implements Layer.
func (a *AvgPool2D) Spec() LayerSpec {
	return LayerSpec{Type: TypeAvgPool2D, Kernel: a.Kernel, Stride: a.Stride}
}

// Params implements Layer; AvgPool2D has none.
func (a *AvgPool2D) Params() []Param { return nil }

// Forward implements Layer.
func (a *AvgPool2D) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	xs, n, c, h, w, oh, ow, err := poolInput(x, "avgpool2d", a.Kernel, a.Stride)
	if err != nil {
		return nil, nil, err
	}
	ys := make([]float32, n*c*oh*ow)
	kernels.AvgPool2D(xs, n, c, h, w, a.Kernel, a.Stride, ys)
	y := newTensor(ys, n, c, oh, ow)
	if !p.Train {
		return y, nil, nil
	}
	return y, func(dy *tensor.Dense, _ bool) (*tensor.Dense, error) {
		ds, err := checkGrad(dy, "avgpool2d", []int{n, c, oh, ow})
		if err != nil {
			return nil, err
		}
		dx := make([]float32, len(xs))
		kernels.AvgPool2DBackward(ds, n, c, h, w, a.Kernel, a.Stride, dx)
		return newTensor(dx, n, c, h, w), nil
	}, nil
}

func poolInput(x *tensor.Dense, layer string, k, s int) (xs []float32, n, c, h, w, oh, ow int, err error) {
	sh := x.Shape()
	if len(sh) != 4 {
		return nil, 0, 0, 0, 0, 0, 0, fmt.Errorf("%s: input shape %v, want [N C H W]", layer, []int(sh))
	}
	if xs, err = f32(x, layer+" input"); err != nil {
		return nil, 0, 0, 0, 0, 0, 0, err
	}
	n, c, h, w = sh[0], sh[1], sh[2], sh[3]
	if h < k || w < k || s <= 0 {
		return nil, 0, 0, 0, 0, 0, 0, fmt.Errorf("%s: window %d stride %d does not fit input %dx%d", layer, k, s, h, w)
	}
	return xs, n, c, h, w, kernels.ConvOutSize(h, k, s, 0), kernels.ConvOutSize(w, k, s, 0), nil
}
