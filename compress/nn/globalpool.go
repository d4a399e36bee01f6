package nn

import (
	"fmt"

	"gorgonia.org/tensor"
)

// globalInput checks x, [N C H W], and returns its data and sizes.
func globalInput(x *tensor.Dense, layer string) (xs []float32, n, c, hw int, err error) {
	sh := x.Shape()
	if len(sh) != 4 {
		return nil, 0, 0, 0, fmt.Errorf("%s: input shape %v, want [N C H W]", layer, []int(sh))
	}
	if xs, err = f32(x, layer+" input"); err != nil {
		return nil, 0, 0, 0, err
	}
	if sh[2]*sh[3] == 0 {
		return nil, 0, 0, 0, fmt.Errorf("%s: empty %dx%d planes", layer, sh[2], sh[3])
	}
	return xs, sh[0], sh[1], sh[2] * sh[3], nil
}

// GlobalAvgPool averages each channel plane: [N, C, H, W] → [N, C, 1, 1]
// (ONNX GlobalAveragePool). Each plane is summed in float64.
type GlobalAvgPool struct{}

// Spec implements Layer.
func (*GlobalAvgPool) Spec() LayerSpec { return LayerSpec{Type: TypeGlobalAvgPool} }

// Params implements Layer; GlobalAvgPool has none.
func (*GlobalAvgPool) Params() []Param { return nil }

// Forward implements Layer.
func (*GlobalAvgPool) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	xs, n, c, hw, err := globalInput(x, "globalavgpool")
	if err != nil {
		return nil, nil, err
	}
	shape := []int(x.Shape().Clone())
	ys := make([]float32, n*c)
	for i := range ys {
		var s float64
		for _, v := range xs[i*hw : (i+1)*hw] {
			s += float64(v)
		}
		ys[i] = float32(s / float64(hw))
	}
	y := newTensor(ys, n, c, 1, 1)
	if !p.Train {
		return y, nil, nil
	}
	return y, func(dy *tensor.Dense, _ bool) (*tensor.Dense, error) {
		ds, err := checkGrad(dy, "globalavgpool", []int{n, c, 1, 1})
		if err != nil {
			return nil, err
		}
		dx := make([]float32, len(xs))
		for i, g := range ds {
			g /= float32(hw)
			for j := range dx[i*hw : (i+1)*hw] {
				dx[i*hw+j] = g
			}
		}
		return newTensor(dx, shape...), nil
	}, nil
}

// GlobalMaxPool takes the maximum of each channel plane: [N, C, H, W] →
// [N, C, 1, 1] (ONNX GlobalMaxPool); the gradient goes to the first
// maximum.
type GlobalMaxPool struct{}

// Spec implements Layer.
func (*GlobalMaxPool) Spec() LayerSpec { return LayerSpec{Type: TypeGlobalMaxPool} }

// Params implements Layer; GlobalMaxPool has none.
func (*GlobalMaxPool) Params() []Param { return nil }

// Forward implements Layer.
func (*GlobalMaxPool) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	xs, n, c, hw, err := globalInput(x, "globalmaxpool")
	if err != nil {
		return nil, nil, err
	}
	shape := []int(x.Shape().Clone())
	ys := make([]float32, n*c)
	arg := make([]int, n*c)
	for i := range ys {
		best := i * hw
		for j := i*hw + 1; j < (i+1)*hw; j++ {
			if xs[j] > xs[best] {
				best = j
			}
		}
		ys[i], arg[i] = xs[best], best
	}
	y := newTensor(ys, n, c, 1, 1)
	if !p.Train {
		return y, nil, nil
	}
	return y, func(dy *tensor.Dense, _ bool) (*tensor.Dense, error) {
		ds, err := checkGrad(dy, "globalmaxpool", []int{n, c, 1, 1})
		if err != nil {
			return nil, err
		}
		dx := make([]float32, len(xs))
		for i, g := range ds {
			dx[arg[i]] = g
		}
		return newTensor(dx, shape...), nil
	}, nil
}
