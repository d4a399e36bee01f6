package nn

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/compressq/compressq/compress/kernels"
)

// Layer type names used in LayerSpec.Type.
const (
	TypeDense     = "dense"
	TypeConv2D    = "conv2d"
	TypeReLU      = "relu"
	TypeMaxPool2D = "maxpool2d"
	TypeAvgPool2D = "avgpool2d"
	TypeFlatten   = "flatten"
	TypeBatchNorm = "batchnorm"
	TypeDropout   = "dropout"

	TypeGlobalAvgPool = "globalavgpool"
	TypeGlobalMaxPool = "globalmaxpool"
	TypeClip          = "clip"
	TypeLeakyReLU     = "leakyrelu"
	TypeSigmoid       = "sigmoid"
	TypeTanh          = "tanh"
	TypeHardSwish     = "hardswish"
	TypeHardSigmoid   = "hardsigmoid"
	TypeSoftmax       = "softmax"
	TypeIdentity      = "identity"
	TypeReshape       = "reshape"
)

// LayerTypes lists the layer type names an Arch may use.
func LayerTypes() []string {
	return []string{TypeDense, TypeConv2D, TypeReLU, TypeMaxPool2D, TypeAvgPool2D, TypeFlatten, TypeBatchNorm, TypeDropout,
		TypeGlobalAvgPool, TypeGlobalMaxPool, TypeClip, TypeLeakyReLU, TypeSigmoid, TypeTanh, TypeHardSwish,
		TypeHardSigmoid, TypeSoftmax, TypeIdentity, TypeReshape}
}

// Defaults applied by BatchNorm when LayerSpec leaves Eps or Momentum at zero
// (PyTorch's values).
const (
	DefaultBatchNormEps      = 1e-5
	DefaultBatchNormMomentum = 0.1
)

// Defaults applied when LayerSpec leaves Alpha or Beta at zero (ONNX's
// values).
const (
	DefaultLeakyReLUAlpha   = 0.01
	DefaultHardSigmoidAlpha = 0.2
	DefaultHardSigmoidBeta  = 0.5
)

// Arch describes a feed-forward network: the per-sample input shape and a
// sequence of layers. It is the JSON form stored in model files and generated
// by architecture search.
type Arch struct {
	// Name is an optional label, e.g. "lenet-5".
	Name string `json:"name,omitempty"`
	// Input is the per-sample input shape: [C, H, W] for images or [F] for
	// feature vectors.
	Input []int `json:"input"`
	// Layers are applied in order.
	Layers []LayerSpec `json:"layers"`
}

// LayerSpec describes one layer. Which fields apply depends on Type:
//
//   - dense: Units (output features).
//   - conv2d: Filters, Kernel (square), Stride (default 1), Pad (symmetric zero
//     padding, default 0) or Pads (per side, see Pads; overrides Pad, so give
//     one or the other), Groups (default 1; input channels and Filters must
//     be multiples of it; Groups equal to the input channels is a depthwise
//     conv) and Dilation (spacing of the kernel taps, default 1).
//   - maxpool2d, avgpool2d: Kernel (square window), Stride (default Kernel),
//     Pad or Pads (each side smaller than Kernel; padding never wins a
//     maximum), CeilMode (round the output size up, as PyTorch and ONNX do:
//     a last window starting in the bottom or right padding is dropped).
//     avgpool2d also takes CountIncludePad: divide by the window positions
//     inside the image and its padding, instead of (default, ONNX's
//     count_include_pad=0) those inside the image alone.
//   - globalavgpool, globalmaxpool: no fields; [C, H, W] → [C, 1, 1].
//   - dropout: Rate, the probability of zeroing an activation in training, in [0, 1).
//   - batchnorm: Eps (default 1e-5) and Momentum (running statistics update
//     weight, default 0.1); normalizes channels of [C, H, W] inputs or features
//     of [F] inputs.
//   - clip: Min and Max, finite bounds with Min ≤ Max (ReLU6 is Max 6; use
//     ±3.4028235e38, the float32 limits, for a one-sided clip).
//   - leakyrelu: Alpha, the slope for negative inputs (default 0.01).
//   - hardsigmoid: max(0, min(1, Alpha·x + Beta)), Alpha default 0.2, Beta
//     default 0.5 (ONNX's).
//   - softmax: no fields; normalizes the features of an [F] input.
//   - reshape: Shape, the per-sample output shape (batch dimension kept), at
//     most one entry -1 for the size inferred from the input.
//   - relu, flatten, sigmoid, tanh, hardswish (x·relu6(x+3)/6), identity: no
//     fields.
//
// A zero Alpha or Beta selects the default, so an explicit 0 cannot be
// given (use relu for a leaky ReLU of slope 0). LayerSpec is comparable
// with ==.
type LayerSpec struct {
	Type     string  `json:"type"`
	Units    int     `json:"units,omitempty"`
	Filters  int     `json:"filters,omitempty"`
	Kernel   int     `json:"kernel,omitempty"`
	Stride   int     `json:"stride,omitempty"`
	Pad      int     `json:"pad,omitempty"`
	Rate     float64 `json:"rate,omitempty"`
	Eps      float64 `json:"eps,omitempty"`
	Momentum float64 `json:"momentum,omitempty"`

	Pads            Pads    `json:"pads,omitzero"`
	Groups          int     `json:"groups,omitempty"`
	Dilation        int     `json:"dilation,omitempty"`
	CeilMode        bool    `json:"ceil_mode,omitempty"`
	CountIncludePad bool    `json:"count_include_pad,omitempty"`
	Min             float64 `json:"min,omitempty"`
	Max             float64 `json:"max,omitempty"`
	Alpha           float64 `json:"alpha,omitempty"`
	Beta            float64 `json:"beta,omitempty"`
	Shape           Dims    `json:"shape,omitzero"`
}

// stride returns the effective stride: the given one, or the default for the
// layer type when it is zero.
func (s LayerSpec) stride() int {
	if s.Stride > 0 {
		return s.Stride
	}
	if s.Type == TypeMaxPool2D || s.Type == TypeAvgPool2D {
		return s.Kernel
	}
	return 1
}

// pads returns the effective padding [top, left, bottom, right]: Pads if
// set, else Pad on every side.
func (s LayerSpec) pads() Pads {
	if s.Pads != (Pads{}) {
		return s.Pads
	}
	return Pads{s.Pad, s.Pad, s.Pad, s.Pad}
}

// groups returns the effective group count (0 means 1).
func (s LayerSpec) groups() int { return max(1, s.Groups) }

// dilation returns the effective dilation (0 means 1).
func (s LayerSpec) dilation() int { return max(1, s.Dilation) }

// alpha returns Alpha or, when it is zero, the layer type's default.
func (s LayerSpec) alpha() float64 {
	switch {
	case s.Alpha != 0:
		return s.Alpha
	case s.Type == TypeLeakyReLU:
		return DefaultLeakyReLUAlpha
	case s.Type == TypeHardSigmoid:
		return DefaultHardSigmoidAlpha
	}
	return 0
}

// beta returns Beta or, when it is zero, the layer type's default.
func (s LayerSpec) beta() float64 {
	if s.Beta == 0 && s.Type == TypeHardSigmoid {
		return DefaultHardSigmoidBeta
	}
	return s.Beta
}

func (s LayerSpec) eps() float64 {
	if s.Eps > 0 {
		return s.Eps
	}
	return DefaultBatchNormEps
}

func (s LayerSpec) momentum() float64 {
	if s.Momentum > 0 {
		return s.Momentum
	}
	return DefaultBatchNormMomentum
}

// checkFields returns the problems with the fields of layer i, ignoring
// shapes.
func (s LayerSpec) checkFields(i int) []error {
	var errs []error
	field := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("layers[%d].%s: %s", i, name, fmt.Sprintf(format, args...)))
	}
	positive := func(name string, v int) {
		if v <= 0 {
			field(name, "must be > 0 for %s, got %d", s.Type, v)
		}
	}
	unused := func(names ...string) {
		vals := map[string]bool{
			"units": s.Units != 0, "filters": s.Filters != 0, "kernel": s.Kernel != 0,
			"stride": s.Stride != 0, "pad": s.Pad != 0, "rate": s.Rate != 0,
			"eps": s.Eps != 0, "momentum": s.Momentum != 0,
			"pads": s.Pads != Pads{}, "groups": s.Groups != 0, "dilation": s.Dilation != 0,
			"ceil_mode": s.CeilMode, "count_include_pad": s.CountIncludePad,
			"min": s.Min != 0, "max": s.Max != 0, "alpha": s.Alpha != 0, "beta": s.Beta != 0,
			"shape": s.Shape != Dims{},
		}
		for _, n := range []string{"units", "filters", "kernel", "stride", "pad", "rate", "eps", "momentum",
			"pads", "groups", "dilation", "ceil_mode", "count_include_pad", "min", "max", "alpha", "beta", "shape"} {
			if vals[n] && !slices.Contains(names, n) {
				field(n, "not used by %s", s.Type)
			}
		}
	}
	switch s.Type {
	case TypeDense:
		positive("units", s.Units)
		unused("units")
	case TypeConv2D:
		positive("filters", s.Filters)
		positive("kernel", s.Kernel)
		if s.Stride < 0 {
			field("stride", "must be >= 0 (0 means 1), got %d", s.Stride)
		}
		s.checkPads(field, 0)
		if s.Groups < 0 {
			field("groups", "must be >= 0 (0 means 1), got %d", s.Groups)
		} else if s.Filters > 0 && s.Filters%s.groups() != 0 {
			field("filters", "%d is not a multiple of groups %d", s.Filters, s.groups())
		}
		if s.Dilation < 0 {
			field("dilation", "must be >= 0 (0 means 1), got %d", s.Dilation)
		}
		unused("filters", "kernel", "stride", "pad", "pads", "groups", "dilation")
	case TypeMaxPool2D, TypeAvgPool2D:
		positive("kernel", s.Kernel)
		if s.Stride < 0 {
			field("stride", "must be >= 0 (0 means kernel), got %d", s.Stride)
		}
		s.checkPads(field, s.Kernel)
		if s.Type == TypeAvgPool2D {
			unused("kernel", "stride", "pad", "pads", "ceil_mode", "count_include_pad")
		} else {
			unused("kernel", "stride", "pad", "pads", "ceil_mode")
		}
	case TypeClip:
		if math.IsNaN(s.Min) || math.IsInf(s.Min, 0) {
			field("min", "must be finite, got %g", s.Min)
		} else if math.IsNaN(s.Max) || math.IsInf(s.Max, 0) {
			field("max", "must be finite, got %g", s.Max)
		} else if s.Max < s.Min {
			field("max", "must be >= min (%g), got %g", s.Min, s.Max)
		}
		unused("min", "max")
	case TypeLeakyReLU:
		if math.IsNaN(s.Alpha) || math.IsInf(s.Alpha, 0) {
			field("alpha", "must be finite, got %g", s.Alpha)
		}
		unused("alpha")
	case TypeHardSigmoid:
		if math.IsNaN(s.Alpha) || math.IsInf(s.Alpha, 0) {
			field("alpha", "must be finite, got %g", s.Alpha)
		}
		if math.IsNaN(s.Beta) || math.IsInf(s.Beta, 0) {
			field("beta", "must be finite, got %g", s.Beta)
		}
		unused("alpha", "beta")
	case TypeReshape:
		if err := s.Shape.check(); err != nil {
			field("shape", "%v", err)
		}
		unused("shape")
	case TypeDropout:
		if !(s.Rate >= 0 && s.Rate < 1) {
			field("rate", "must be in [0, 1), got %g", s.Rate)
		}
		unused("rate")
	case TypeBatchNorm:
		if !(s.Eps >= 0) {
			field("eps", "must be >= 0 (0 means %g), got %g", DefaultBatchNormEps, s.Eps)
		}
		if !(s.Momentum >= 0 && s.Momentum <= 1) {
			field("momentum", "must be in [0, 1] (0 means %g), got %g", DefaultBatchNormMomentum, s.Momentum)
		}
		unused("eps", "momentum")
	case TypeReLU, TypeFlatten, TypeGlobalAvgPool, TypeGlobalMaxPool, TypeSigmoid, TypeTanh, TypeHardSwish,
		TypeSoftmax, TypeIdentity:
		unused()
	default:
		field("type", "unknown layer type %q (want one of %s)", s.Type, strings.Join(LayerTypes(), ", "))
	}
	return errs
}

// checkPads reports negative padding, Pad and Pads given together, and,
// when below > 0, a side not smaller than below.
func (s LayerSpec) checkPads(field func(name, format string, args ...any), below int) {
	if s.Pad < 0 {
		field("pad", "must be >= 0, got %d", s.Pad)
	}
	if s.Pads != (Pads{}) && s.Pad != 0 {
		field("pads", "give pad or pads, not both (pad %d, pads %v)", s.Pad, s.Pads)
	}
	for j, p := range s.Pads {
		if p < 0 {
			field("pads", "%s padding must be >= 0, got %d", padSides[j], p)
		}
	}
	if below > 0 {
		for j, p := range s.pads() {
			if p >= below {
				field("pads", "%s padding %d must be smaller than the kernel %d", padSides[j], p, below)
				break
			}
		}
	}
}

// outShape infers the per-sample output shape of layer i from its input
// shape. The fields must already be valid.
func (s LayerSpec) outShape(i int, in []int) ([]int, error) {
	where := fmt.Sprintf("layers[%d] (%s)", i, s.Type)
	need3 := func() error {
		if len(in) != 3 {
			return fmt.Errorf("%s: input %v has %d dims, want [C H W]", where, in, len(in))
		}
		return nil
	}
	switch s.Type {
	case TypeDense:
		if len(in) != 1 {
			return nil, fmt.Errorf("%s: input %v has %d dims, flatten first", where, in, len(in))
		}
		return []int{s.Units}, nil
	case TypeConv2D, TypeMaxPool2D, TypeAvgPool2D:
		if err := need3(); err != nil {
			return nil, err
		}
		g := s.geom(in)
		oh, ow := g.Out()
		if oh <= 0 || ow <= 0 {
			if s.Pads == (Pads{}) && s.dilation() == 1 {
				return nil, fmt.Errorf("%s: kernel %d larger than input %dx%d with pad %d", where, s.Kernel, in[1], in[2], s.Pad)
			}
			return nil, fmt.Errorf("%s: kernel %d with dilation %d larger than input %dx%d with pads %v", where,
				s.Kernel, s.dilation(), in[1], in[2], s.pads())
		}
		c := in[0]
		if s.Type == TypeConv2D {
			if c%s.groups() != 0 {
				return nil, fmt.Errorf("%s: %d input channels are not a multiple of groups %d", where, c, s.groups())
			}
			c = s.Filters
		}
		return []int{c, oh, ow}, nil
	case TypeGlobalAvgPool, TypeGlobalMaxPool:
		if err := need3(); err != nil {
			return nil, err
		}
		return []int{in[0], 1, 1}, nil
	case TypeSoftmax:
		if len(in) != 1 {
			return nil, fmt.Errorf("%s: input %v has %d dims, want [F] (flatten first)", where, in, len(in))
		}
		return slices.Clone(in), nil
	case TypeReshape:
		out, err := s.Shape.resolve(prod(in))
		if err != nil {
			return nil, fmt.Errorf("%s: input %v: %w", where, in, err)
		}
		return out, nil
	case TypeFlatten:
		return []int{prod(in)}, nil
	case TypeBatchNorm:
		if len(in) != 1 && len(in) != 3 {
			return nil, fmt.Errorf("%s: input %v has %d dims, want [F] or [C H W]", where, in, len(in))
		}
		return slices.Clone(in), nil
	default: // element-wise: relu, dropout, activations, identity
		return slices.Clone(in), nil
	}
}

// geom returns the window geometry of a conv2d or pooling spec over a
// [C, H, W] input.
func (s LayerSpec) geom(in []int) kernels.ConvGeom {
	p := s.pads()
	return kernels.ConvGeom{C: in[0], H: in[1], W: in[2], KH: s.Kernel, KW: s.Kernel, Stride: s.stride(),
		Dilation: s.dilation(), PadTop: p[0], PadLeft: p[1], PadBottom: p[2], PadRight: p[3], CeilMode: s.CeilMode}
}

// Validate checks the Arch and infers every layer's output shape. It returns
// every field problem at once (joined), naming the field, e.g.
// "layers[2].units: must be > 0 for dense, got 0", followed by the first shape
// problem, e.g. "layers[3] (dense): input [20 4 4] has 3 dims, flatten first".
func (a Arch) Validate() error {
	_, err := a.Shapes()
	return err
}

// Shapes validates the Arch and returns the per-sample shapes flowing through
// it: shapes[0] is Input and shapes[i+1] the output of Layers[i].
func (a Arch) Shapes() ([][]int, error) {
	var errs []error
	if len(a.Input) != 1 && len(a.Input) != 3 {
		errs = append(errs, fmt.Errorf("input: shape %v has %d dims, want [F] or [C H W]", a.Input, len(a.Input)))
	}
	for i, d := range a.Input {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("input[%d]: must be > 0, got %d", i, d))
		}
	}
	if len(a.Layers) == 0 {
		errs = append(errs, errors.New("layers: empty"))
	}
	for i, l := range a.Layers {
		errs = append(errs, l.checkFields(i)...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	shapes := [][]int{slices.Clone(a.Input)}
	for i, l := range a.Layers {
		out, err := l.outShape(i, shapes[i])
		if err != nil {
			return nil, err
		}
		for _, d := range out {
			if d <= 0 {
				return nil, fmt.Errorf("layers[%d] (%s): output shape %v is empty", i, l.Type, out)
			}
		}
		shapes = append(shapes, out)
	}
	return shapes, nil
}

// OutputShape returns the per-sample output shape of a valid Arch.
func (a Arch) OutputShape() ([]int, error) {
	s, err := a.Shapes()
	if err != nil {
		return nil, err
	}
	return s[len(s)-1], nil
}

// Clone returns a deep copy of a.
func (a Arch) Clone() Arch {
	return Arch{Name: a.Name, Input: slices.Clone(a.Input), Layers: slices.Clone(a.Layers)}
}

// ArchNames lists the names ArchByName knows.
func ArchNames() []string { return []string{"lenet-300-100", "lenet-5"} }

// ArchByName returns a named reference architecture for 1×28×28 inputs and
// 10 classes:
//
//   - "lenet-300-100": flatten → dense 300 → relu → dense 100 → relu → dense 10
//     (266,610 parameters; LeCun et al. 1998, the network of Han et al. 2015).
//   - "lenet-5": the Caffe variant used by Han et al. 2015: conv 20 5×5 →
//     maxpool 2 → conv 50 5×5 → maxpool 2 → flatten → dense 500 → relu →
//     dense 10 (431,080 parameters).
func ArchByName(name string) (Arch, error) {
	switch name {
	case "lenet-300-100":
		a := MLP([]int{1, 28, 28}, []int{300, 100}, 10)
		a.Name = name
		return a, nil
	case "lenet-5":
		return Arch{
			Name:  name,
			Input: []int{1, 28, 28},
			Layers: []LayerSpec{
				{Type: TypeConv2D, Filters: 20, Kernel: 5},
				{Type: TypeMaxPool2D, Kernel: 2},
				{Type: TypeConv2D, Filters: 50, Kernel: 5},
				{Type: TypeMaxPool2D, Kernel: 2},
				{Type: TypeFlatten},
				{Type: TypeDense, Units: 500},
				{Type: TypeReLU},
				{Type: TypeDense, Units: 10},
			},
		}, nil
	}
	return Arch{}, fmt.Errorf("unknown architecture %q (want one of %s)", name, strings.Join(ArchNames(), ", "))
}

// MLP returns a multilayer perceptron: flatten (if input has more than one
// dim), then a dense layer and a ReLU per hidden width, then a dense layer of
// classes units.
func MLP(input []int, hidden []int, classes int) Arch {
	a := Arch{Name: "mlp", Input: slices.Clone(input)}
	if len(input) != 1 {
		a.Layers = append(a.Layers, LayerSpec{Type: TypeFlatten})
	}
	for _, h := range hidden {
		a.Layers = append(a.Layers, LayerSpec{Type: TypeDense, Units: h}, LayerSpec{Type: TypeReLU})
	}
	a.Layers = append(a.Layers, LayerSpec{Type: TypeDense, Units: classes})
	return a
}

// CNNConfig describes a small convolutional classifier for CNN.
type CNNConfig struct {
	// Input is the per-sample shape [C, H, W].
	Input []int
	// Filters has one entry per conv block: conv (Kernel, "same" padding
	// Kernel/2) → [batchnorm] → relu → maxpool 2.
	Filters []int
	// Kernel is the square conv kernel size (odd); 0 means 3.
	Kernel int
	// BatchNorm inserts a batchnorm after each conv.
	BatchNorm bool
	// Hidden are the widths of dense+relu layers after flattening.
	Hidden []int
	// Dropout, if > 0, is applied before each hidden dense layer and the
	// classifier.
	Dropout float64
	// Classes is the number of outputs of the final dense layer.
	Classes int
}

// CNN builds a small convolutional classifier from c. Call Validate on the
// result to check that the pooling fits the input size.
func CNN(c CNNConfig) Arch {
	k := c.Kernel
	if k == 0 {
		k = 3
	}
	a := Arch{Name: "cnn", Input: slices.Clone(c.Input)}
	for _, f := range c.Filters {
		a.Layers = append(a.Layers, LayerSpec{Type: TypeConv2D, Filters: f, Kernel: k, Pad: k / 2})
		if c.BatchNorm {
			a.Layers = append(a.Layers, LayerSpec{Type: TypeBatchNorm})
		}
		a.Layers = append(a.Layers, LayerSpec{Type: TypeReLU}, LayerSpec{Type: TypeMaxPool2D, Kernel: 2})
	}
	a.Layers = append(a.Layers, LayerSpec{Type: TypeFlatten})
	for _, h := range c.Hidden {
		if c.Dropout > 0 {
			a.Layers = append(a.Layers, LayerSpec{Type: TypeDropout, Rate: c.Dropout})
		}
		a.Layers = append(a.Layers, LayerSpec{Type: TypeDense, Units: h}, LayerSpec{Type: TypeReLU})
	}
	if c.Dropout > 0 {
		a.Layers = append(a.Layers, LayerSpec{Type: TypeDropout, Rate: c.Dropout})
	}
	a.Layers = append(a.Layers, LayerSpec{Type: TypeDense, Units: c.Classes})
	return a
}

func prod(s []int) int {
	p := 1
	for _, d := range s {
		p *= d
	}
	return p
}
