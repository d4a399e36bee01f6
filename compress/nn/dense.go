package nn

import (
	"math"
	"math/rand/v2"

	"github.com/compressq/compressq/compress/kernels"
	"gorgonia.org/tensor"
)

// Dense is a fully connected layer y = x·Wᵀ + b for x of shape [N, In].
type Dense struct {
	// In and Out are the input and output feature counts.
	In, Out int
	// W is the weight, shape [Out, In]; B the bias, shape [Out].
	W, B *tensor.Dense
	// DW and DB accumulate the gradients of W and B.
	DW, DB *tensor.Dense
}

// NewDense returns a Dense layer initialized like PyTorch's nn.Linear:
// W and B uniform in ±1/√In.
func NewDense(in, out int, r *rand.Rand) *Dense {
	d := &Dense{In: in, Out: out, W: zeros(out, in), B: zeros(out), DW: zeros(out, in), DB: zeros(out)}
	bound := 1 / math.Sqrt(float64(in))
	uniform(r, d.W.Float32s(), bound)
	uniform(r, d.B.Float32s(), bound)
	return d
}

// Spec implements Layer.
func (d *Dense) Spec() LayerSpec { return LayerSpec{Type: TypeDense, Units: d.Out} }

// Params implements Layer: weight, bias.
func (d *Dense) Params() []Param {
	return []Param{{Name: "weight", Value: d.W, Grad: d.DW}, {Name: "bias", Value: d.B, Grad: d.DB}}
}

// Forward implements Layer.
func (d *Dense) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	xs, n, err := checkInput(x, "dense", []int{d.In})
	if err != nil {
		return nil, nil, err
	}
	w, b := d.W.Float32s(), d.B.Float32s()
	ys := make([]float32, n*d.Out)
	for i := 0; i < n; i++ {
		copy(ys[i*d.Out:(i+1)*d.Out], b)
	}
	kernels.Sgemm(false, true, n, d.Out, d.In, 1, xs, d.In, w, d.In, 1, ys, d.Out)
	y := newTensor(ys, n, d.Out)
	if !p.Train {
		return y, nil, nil
	}
	back := func(dy *tensor.Dense, needDx bool) (*tensor.Dense, error) {
		ds, err := checkGrad(dy, "dense", []int{n, d.Out})
		if err != nil {
			return nil, err
		}
		dw, db := d.DW.Float32s(), d.DB.Float32s()
		kernels.Sgemm(true, false, d.Out, d.In, n, 1, ds, d.Out, xs, d.In, 1, dw, d.In)
		for i := 0; i < n; i++ {
			for j, g := range ds[i*d.Out : (i+1)*d.Out] {
				db[j] += g
			}
		}
		if !needDx {
			return nil, nil
		}
		dx := make([]float32, n*d.In)
		kernels.Sgemm(false, false, n, d.In, d.Out, 1, ds, d.Out, w, d.In, 0, dx, d.In)
		return newTensor(dx, n, d.In), nil
	}
	return y, back, nil
}
