package nn

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"gorgonia.org/tensor"
)

// Param is one named parameter tensor of a network with its gradient and
// optional pruning mask.
type Param struct {
	// Name is "layers.<i>.<kind>" in a Network and "<kind>" (weight, bias,
	// gamma, beta, running_mean, running_var) from Layer.Params.
	Name string
	// Value is the parameter itself, float32.
	Value *tensor.Dense
	// Grad accumulates the loss gradient of Value (same shape). It is nil for
	// running statistics, which are not trained by gradient.
	Grad *tensor.Dense
	// Mask, if not nil, is a 0/1 tensor of Value's shape; optimizers zero the
	// masked gradient entries and re-apply the mask to Value after each step,
	// so pruned weights stay zero.
	Mask *tensor.Dense
}

// Pass carries the per-call settings of a forward pass.
type Pass struct {
	// Train selects training behaviour: batch statistics in BatchNorm (and
	// their running-average update), active Dropout, and a recorded
	// Backward.
	Train bool
	// Rand drives Dropout in training; it must be set when Train is and the
	// network has dropout.
	Rand *rand.Rand
}

// Backward maps the gradient of the loss with respect to a layer's output to
// the gradient with respect to its input, adding the parameter gradients into
// the layer's Grad tensors. When needDx is false the caller does not want the
// input gradient (the layer is the first with parameters) and the function
// may skip computing it and return nil.
type Backward func(dy *tensor.Dense, needDx bool) (*tensor.Dense, error)

// Layer is one step of a Network. The concrete types (*Dense, *Conv2D,
// *ReLU, *MaxPool2D, *AvgPool2D, *Flatten, *BatchNorm, *Dropout,
// *GlobalAvgPool, *GlobalMaxPool, *Clip, *LeakyReLU, *Sigmoid, *Tanh,
// *HardSwish, *HardSigmoid, *SoftmaxLayer, *Identity, *Reshape) export their
// hyper-parameters and weight tensors so other packages can inspect, quantize
// and prune them. Packages that support only plain convolution or pooling
// check Conv2D.Extensions and MaxPool2D.Extensions and refuse the rest.
type Layer interface {
	// Spec returns the layer's description.
	Spec() LayerSpec
	// Params returns the layer's parameters, named by kind ("weight", …),
	// in a fixed order; nil for layers without parameters.
	Params() []Param
	// Forward computes the output for a batch x (shape [N, per-sample
	// input...]). When p.Train is set it also returns the Backward closure
	// for this call; otherwise the returned Backward is nil and Forward
	// mutates nothing, so concurrent inference calls are safe.
	Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error)
}

// newTensor wraps data in a float32 tensor of the given shape.
func newTensor(data []float32, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
}

// zeros returns a zero float32 tensor of the given shape.
func zeros(shape ...int) *tensor.Dense {
	return newTensor(make([]float32, prod(shape)), shape...)
}

// f32 returns the backing slice of a float32 tensor after checking that it is
// dense, float32 and matches its shape.
func f32(t *tensor.Dense, what string) ([]float32, error) {
	if t == nil {
		return nil, fmt.Errorf("%s: nil tensor", what)
	}
	s, ok := t.Data().([]float32)
	if !ok {
		return nil, fmt.Errorf("%s: dtype %v, want float32", what, t.Dtype())
	}
	if n := prod(t.Shape()); len(s) != n {
		return nil, fmt.Errorf("%s: %d values for shape %v (a view? pass a contiguous tensor)", what, len(s), t.Shape())
	}
	return s, nil
}

// checkInput returns x's data and batch size after checking that its shape is
// [N, sample...].
func checkInput(x *tensor.Dense, layer string, sample []int) ([]float32, int, error) {
	xs, err := f32(x, layer+" input")
	if err != nil {
		return nil, 0, err
	}
	sh := x.Shape()
	if len(sh) != len(sample)+1 || !slices.Equal(sh[1:], sample) {
		return nil, 0, fmt.Errorf("%s: input shape %v, want [N %v]", layer, []int(sh), sample)
	}
	return xs, sh[0], nil
}

// checkGrad returns dy's data after checking that it has shape want.
func checkGrad(dy *tensor.Dense, layer string, want []int) ([]float32, error) {
	ds, err := f32(dy, layer+" output gradient")
	if err != nil {
		return nil, err
	}
	if !slices.Equal(dy.Shape(), want) {
		return nil, fmt.Errorf("%s: output gradient shape %v, want %v", layer, []int(dy.Shape()), want)
	}
	return ds, nil
}

// batchShape prepends n to a per-sample shape.
func batchShape(n int, sample []int) []int {
	return append([]int{n}, sample...)
}

// uniform fills s with values drawn uniformly from [-bound, bound).
func uniform(r *rand.Rand, s []float32, bound float64) {
	for i := range s {
		s[i] = float32((2*r.Float64() - 1) * bound)
	}
}
