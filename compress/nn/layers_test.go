package nn

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"gorgonia.org/tensor"
)

// mustLayer builds the layer of spec for per-sample input in.
func mustLayer(t *testing.T, spec LayerSpec, in []int, r *rand.Rand) Layer {
	t.Helper()
	if err := (Arch{Input: in, Layers: []LayerSpec{spec}}).Validate(); err != nil {
		t.Fatalf("%+v: %v", spec, err)
	}
	l, err := NewLayer(spec, in, r)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// gemmConv runs a Conv2D through im2col and GEMM even when it is
// depthwise, so both algorithms can be checked.
type gemmConv struct{ *Conv2D }

func (g gemmConv) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	return g.forward(x, p, false)
}

// scaled returns x with every value multiplied by s.
func scaled(x *tensor.Dense, s float32) *tensor.Dense {
	out := slices.Clone(x.Float32s())
	for i := range out {
		out[i] *= s
	}
	return newTensor(out, x.Shape()...)
}

// TestNewLayerGradients runs the gradient check of grad_test.go over the
// grouped, depthwise, dilated and asymmetrically padded convolutions, the
// padded and global pools, the activations and reshape, on odd shapes.
func TestNewLayerGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	train := func() Pass { return Pass{Train: true} }
	conv := func(spec LayerSpec, in []int) Layer {
		spec.Type = TypeConv2D
		return mustLayer(t, spec, in, r)
	}
	dw := conv(LayerSpec{Filters: 3, Kernel: 3, Groups: 3, Pad: 1}, []int{3, 5, 6}).(*Conv2D)
	tests := []struct {
		name  string
		layer Layer
		x     *tensor.Dense
	}{
		{"conv2d grouped", conv(LayerSpec{Filters: 6, Kernel: 3, Groups: 2, Pad: 1}, []int{4, 5, 5}), randTensor(r, 2, 4, 5, 5)},
		{"conv2d grouped 3 strided", conv(LayerSpec{Filters: 3, Kernel: 2, Groups: 3, Stride: 2}, []int{6, 5, 7}), randTensor(r, 2, 6, 5, 7)},
		{"conv2d depthwise", dw, randTensor(r, 2, 3, 5, 6)},
		{"conv2d depthwise by gemm", gemmConv{dw}, randTensor(r, 2, 3, 5, 6)},
		{"conv2d depthwise x2 stride 2 asym", conv(LayerSpec{Filters: 4, Kernel: 3, Groups: 2, Stride: 2, Pads: Pads{0, 1, 1, 2}}, []int{2, 6, 5}),
			randTensor(r, 2, 2, 6, 5)},
		{"conv2d depthwise dilated many images", conv(LayerSpec{Filters: 2, Kernel: 3, Groups: 2, Dilation: 2, Pad: 2}, []int{2, 5, 4}),
			randTensor(r, convChunk+3, 2, 5, 4)},
		{"conv2d dilated", conv(LayerSpec{Filters: 3, Kernel: 3, Dilation: 2, Pad: 1}, []int{2, 7, 6}), randTensor(r, 2, 2, 7, 6)},
		{"conv2d asymmetric pads", conv(LayerSpec{Filters: 2, Kernel: 3, Pads: Pads{1, 0, 2, 1}}, []int{2, 4, 5}), randTensor(r, 2, 2, 4, 5)},
		{"conv2d all at once", conv(LayerSpec{Filters: 4, Kernel: 3, Groups: 2, Dilation: 2, Stride: 2, Pads: Pads{2, 1, 0, 3}}, []int{4, 7, 6}),
			randTensor(r, 3, 4, 7, 6)},
		{"maxpool2d padded", &MaxPool2D{Kernel: 3, Stride: 2, Pad: 1}, randTensor(r, 2, 2, 5, 5)},
		{"maxpool2d asym ceil", &MaxPool2D{Kernel: 2, Stride: 2, Pads: Pads{1, 0, 0, 1}, CeilMode: true}, randTensor(r, 1, 2, 6, 5)},
		{"avgpool2d padded exclude", &AvgPool2D{Kernel: 3, Stride: 2, Pad: 1}, randTensor(r, 2, 2, 5, 6)},
		{"avgpool2d padded include", &AvgPool2D{Kernel: 3, Stride: 2, Pad: 1, CountIncludePad: true}, randTensor(r, 2, 2, 5, 6)},
		{"avgpool2d ceil include", &AvgPool2D{Kernel: 2, Stride: 2, Pads: Pads{0, 1, 1, 0}, CeilMode: true, CountIncludePad: true},
			randTensor(r, 1, 3, 5, 5)},
		{"globalavgpool", &GlobalAvgPool{}, randTensor(r, 2, 3, 3, 5)},
		{"globalmaxpool", &GlobalMaxPool{}, randTensor(r, 2, 3, 3, 5)},
		{"clip relu6", &Clip{Min: 0, Max: 6}, scaled(randTensor(r, 3, 7), 9)},
		{"clip", &Clip{Min: -0.33, Max: 0.41}, randTensor(r, 2, 3, 2, 3)},
		{"leakyrelu", &LeakyReLU{Alpha: DefaultLeakyReLUAlpha}, randTensor(r, 3, 5)},
		{"sigmoid", &Sigmoid{}, scaled(randTensor(r, 2, 2, 3, 3), 4)},
		{"tanh", &Tanh{}, scaled(randTensor(r, 3, 6), 2)},
		{"hardswish", &HardSwish{}, scaled(randTensor(r, 2, 11), 3.7)},
		{"hardsigmoid", &HardSigmoid{Alpha: DefaultHardSigmoidAlpha, Beta: DefaultHardSigmoidBeta}, scaled(randTensor(r, 2, 13), 4.3)},
		{"softmax", &SoftmaxLayer{}, scaled(randTensor(r, 3, 5), 3)},
		{"identity", &Identity{}, randTensor(r, 2, 3, 2, 2)},
		{"reshape", &Reshape{Shape: Dims{3, -1, 2}}, randTensor(r, 2, 12)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkLayerGrad(t, tc.layer, tc.x, train)
		})
	}
}

// convRef computes c on x from the definition, in float64:
// y[n][o][y][x] = B[o] + Σ_{i,ki,kj} W[o][i][ki][kj]·x[n][g·InC/G+i][y·S−top+ki·D][x·S−left+kj·D],
// g = o/(OutC/G), zero outside the image.
func convRef(c *Conv2D, x *tensor.Dense) []float32 {
	sh := x.Shape()
	n, h, w := sh[0], sh[2], sh[3]
	oh, ow := c.kgeom(h, w).Out()
	gr := c.groups()
	icg, ocg, k := c.InC/gr, c.OutC/gr, c.Kernel
	p, d := c.pads(), c.dilation()
	xs, ws, bs := x.Float32s(), c.W.Float32s(), c.B.Float32s()
	out := make([]float32, n*c.OutC*oh*ow)
	for b := range n {
		for o := range c.OutC {
			g := o / ocg
			for y := range oh {
				for xx := range ow {
					s := float64(bs[o])
					for i := range icg {
						for ki := range k {
							for kj := range k {
								iy, ix := y*c.Stride-p[0]+ki*d, xx*c.Stride-p[1]+kj*d
								if iy < 0 || iy >= h || ix < 0 || ix >= w {
									continue
								}
								s += float64(ws[((o*icg+i)*k+ki)*k+kj]) * float64(xs[((b*c.InC+g*icg+i)*h+iy)*w+ix])
							}
						}
					}
					out[((b*c.OutC+o)*oh+y)*ow+xx] = float32(s)
				}
			}
		}
	}
	return out
}

// TestConvMatchesDefinition checks both algorithms against the definition
// of a grouped, dilated, padded convolution, with the OIHW weight layout
// I = InC/Groups.
func TestConvMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	specs := []struct {
		spec LayerSpec
		in   []int
	}{
		{LayerSpec{Filters: 5, Kernel: 3, Pad: 1}, []int{3, 6, 7}},
		{LayerSpec{Filters: 6, Kernel: 3, Groups: 3, Stride: 2, Dilation: 2, Pads: Pads{2, 0, 1, 3}}, []int{6, 9, 8}},
		{LayerSpec{Filters: 8, Kernel: 3, Groups: 8, Pad: 1}, []int{8, 16, 16}},
		{LayerSpec{Filters: 8, Kernel: 3, Groups: 4, Stride: 2, Pads: Pads{0, 0, 1, 1}}, []int{4, 7, 7}},
		{LayerSpec{Filters: 4, Kernel: 5, Groups: 4, Dilation: 3, Pad: 4}, []int{4, 6, 5}},
	}
	for _, sc := range specs {
		sc.spec.Type = TypeConv2D
		t.Run(fmt.Sprintf("%+v", sc.spec), func(t *testing.T) {
			c := mustLayer(t, sc.spec, sc.in, r).(*Conv2D)
			x := randTensor(r, convChunk+2, sc.in[0], sc.in[1], sc.in[2])
			want := convRef(c, x)
			for _, direct := range []bool{false, true} {
				if direct && !c.depthwise() {
					continue
				}
				y, _, err := c.forward(x, Pass{}, direct)
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range y.Float32s() {
					if math.Abs(float64(v-want[i])) > 1e-5 {
						t.Fatalf("direct=%v: y[%d] = %v, want %v", direct, i, v, want[i])
					}
				}
			}
		})
	}
}

func TestConvInit(t *testing.T) {
	c := mustLayer(t, LayerSpec{Type: TypeConv2D, Filters: 32, Kernel: 3, Groups: 32, Pad: 1}, []int{32, 8, 8}, newRand(1, 0)).(*Conv2D)
	if want := []int{32, 1, 3, 3}; !slices.Equal(c.W.Shape(), want) {
		t.Fatalf("depthwise weight shape %v, want %v", c.W.Shape(), want)
	}
	// PyTorch's bound 1/√fan_in with fan_in = InC/Groups·k² = 9.
	bound, maxAbs := 1/3.0, 0.0
	for _, v := range append(slices.Clone(c.W.Float32s()), c.B.Float32s()...) {
		maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
	}
	if maxAbs > bound || maxAbs < 0.9*bound {
		t.Errorf("max |weight| %v, want just under %v", maxAbs, bound)
	}
	if got := c.Extensions(); !slices.Equal(got, []string{"grouped"}) {
		t.Errorf("Extensions() = %v", got)
	}
	plain := NewConv2D(3, 4, 3, 1, 1, newRand(1, 0))
	if len(plain.Extensions()) != 0 || plain.depthwise() {
		t.Errorf("plain conv: Extensions %v, depthwise %v", plain.Extensions(), plain.depthwise())
	}
	all := &Conv2D{InC: 4, OutC: 4, Kernel: 3, Stride: 1, Groups: 2, Dilation: 2, Pads: Pads{1, 0, 0, 1}}
	if got := all.Extensions(); !slices.Equal(got, []string{"grouped", "dilated", "asymmetrically padded"}) {
		t.Errorf("Extensions() = %v", got)
	}
}

// TestActivationValues checks each activation at a few points against its
// ONNX definition.
func TestActivationValues(t *testing.T) {
	in := []float32{-5, -3, -1, -0.25, 0, 0.5, 2, 3, 7}
	tests := []struct {
		layer Layer
		f     func(x float64) float64
	}{
		{&Clip{Min: 0, Max: 6}, func(x float64) float64 { return math.Min(math.Max(x, 0), 6) }},
		{&LeakyReLU{Alpha: 0.01}, func(x float64) float64 { return math.Max(x, 0.01*x) }},
		{&Sigmoid{}, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }},
		{&Tanh{}, math.Tanh},
		{&HardSwish{}, func(x float64) float64 { return x * math.Min(math.Max(x+3, 0), 6) / 6 }},
		{&HardSigmoid{Alpha: 0.2, Beta: 0.5}, func(x float64) float64 { return math.Max(0, math.Min(1, 0.2*x+0.5)) }},
		{&Identity{}, func(x float64) float64 { return x }},
	}
	for _, tc := range tests {
		x := newTensor(slices.Clone(in), 1, len(in))
		y, back, err := tc.layer.Forward(x, Pass{})
		if err != nil || back != nil {
			t.Fatalf("%T: back %v, err %v", tc.layer, back != nil, err)
		}
		for i, v := range y.Float32s() {
			if want := tc.f(float64(in[i])); math.Abs(float64(v)-want) > 1e-6 {
				t.Errorf("%s(%v) = %v, want %v", tc.layer.Spec().Type, in[i], v, want)
			}
		}
		if !slices.Equal(x.Float32s(), in) {
			t.Errorf("%T changed its input", tc.layer)
		}
	}
	y, _, err := (&SoftmaxLayer{}).Forward(newTensor([]float32{1, 2, 3, 1000, 0, -1000}, 2, 3), Pass{})
	if err != nil {
		t.Fatal(err)
	}
	e := math.Exp
	want := []float64{e(1) / (e(1) + e(2) + e(3)), e(2) / (e(1) + e(2) + e(3)), e(3) / (e(1) + e(2) + e(3)), 1, 0, 0}
	for i, v := range y.Float32s() {
		if math.Abs(float64(v)-want[i]) > 1e-6 {
			t.Errorf("softmax[%d] = %v, want %v", i, v, want[i])
		}
	}
	if _, _, err := (&SoftmaxLayer{}).Forward(zeros(2, 3, 4, 4), Pass{}); err == nil {
		t.Error("softmax over [N C H W] accepted")
	}
}

// TestGlobalPoolValues checks GlobalAvgPool and GlobalMaxPool on a plane
// with known mean and maximum.
func TestGlobalPoolValues(t *testing.T) {
	x := newTensor([]float32{1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6}, 1, 2, 2, 3)
	for _, tc := range []struct {
		layer Layer
		want  []float32
	}{{&GlobalAvgPool{}, []float32{3.5, -3.5}}, {&GlobalMaxPool{}, []float32{6, -1}}} {
		y, _, err := tc.layer.Forward(x, Pass{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(y.Shape(), tensor.Shape{1, 2, 1, 1}) || !slices.Equal(y.Float32s(), tc.want) {
			t.Errorf("%T: %v %v, want [1 2 1 1] %v", tc.layer, y.Shape(), y.Float32s(), tc.want)
		}
	}
}

// TestNewLayersArch validates, builds, runs and JSON-round-trips an Arch
// using every new layer and field, checking the inferred shapes.
func TestNewLayersArch(t *testing.T) {
	a := Arch{Name: "mobile-ish", Input: []int{3, 15, 14}, Layers: []LayerSpec{
		{Type: TypeConv2D, Filters: 8, Kernel: 3, Stride: 2, Pads: Pads{0, 0, 1, 1}},
		{Type: TypeBatchNorm},
		{Type: TypeClip, Max: 6},
		{Type: TypeConv2D, Filters: 8, Kernel: 3, Groups: 8, Pad: 1},
		{Type: TypeHardSwish},
		{Type: TypeConv2D, Filters: 12, Kernel: 3, Groups: 4, Dilation: 2, Pad: 2},
		{Type: TypeLeakyReLU},
		{Type: TypeMaxPool2D, Kernel: 3, Stride: 2, Pad: 1, CeilMode: true},
		{Type: TypeAvgPool2D, Kernel: 2, Stride: 1, Pads: Pads{1, 0, 0, 1}, CountIncludePad: true},
		{Type: TypeHardSigmoid, Alpha: 0.25},
		{Type: TypeGlobalAvgPool},
		{Type: TypeReshape, Shape: Dims{-1}},
		{Type: TypeDense, Units: 6},
		{Type: TypeTanh},
		{Type: TypeReshape, Shape: Dims{6, 1, 1}},
		{Type: TypeGlobalMaxPool},
		{Type: TypeFlatten},
		{Type: TypeSigmoid},
		{Type: TypeIdentity},
		{Type: TypeDense, Units: 4},
		{Type: TypeSoftmax},
	}}
	shapes, err := a.Shapes()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int{{3, 15, 14}, {8, 7, 7}, {8, 7, 7}, {8, 7, 7}, {8, 7, 7}, {8, 7, 7}, {12, 7, 7}, {12, 7, 7},
		{12, 4, 4}, {12, 4, 4}, {12, 4, 4}, {12, 1, 1}, {12}, {6}, {6}, {6, 1, 1}, {6, 1, 1}, {6}, {6}, {6}, {4}, {4}}
	if !reflect.DeepEqual(shapes, want) {
		t.Fatalf("shapes %v\nwant   %v", shapes, want)
	}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"pads":[0,0,1,1]`, `"groups":8`, `"dilation":2`, `"ceil_mode":true`, `"count_include_pad":true`,
		`"max":6`, `"alpha":0.25`, `"shape":[-1]`, `"shape":[6,1,1]`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("JSON lacks %s: %s", s, b)
		}
	}
	if strings.Contains(string(b), `"pads":[0,0,0,0]`) || strings.Contains(string(b), `"shape":[]`) {
		t.Errorf("JSON has zero pads or shape: %s", b)
	}
	var back Arch
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, back) {
		t.Fatalf("round trip changed the arch:\n%+v\n%+v", a, back)
	}
	net, err := Build(back, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range net.Layers() {
		if got, want := normalized(l.Spec()), normalized(a.Layers[i]); !sameSpec(got, want) {
			t.Errorf("layer %d: Spec %+v, want %+v", i, got, want)
		}
	}
	// Rebuilding from the layers' own specs gives the same network.
	again := Arch{Input: a.Input}
	for _, l := range net.Layers() {
		again.Layers = append(again.Layers, l.Spec())
	}
	if _, err := NewNetwork(again, net.Layers(), 0); err != nil {
		t.Fatalf("NewNetwork from the layers' specs: %v", err)
	}
	x := randTensor(rand.New(rand.NewPCG(3, 3)), 5, 3, 15, 14)
	y, err := net.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		var s float64
		for _, v := range y.Float32s()[i*4 : (i+1)*4] {
			s += float64(v)
		}
		if math.Abs(s-1) > 1e-5 {
			t.Errorf("sample %d: softmax outputs sum to %v", i, s)
		}
	}
	// Concurrent inference reads only: every goroutine gets the same output.
	var wg sync.WaitGroup
	outs := make([][]float32, 4)
	for i := range outs {
		wg.Go(func() {
			if y, err := net.Forward(x, false); err == nil {
				outs[i] = y.Float32s()
			}
		})
	}
	wg.Wait()
	for i, o := range outs {
		if !slices.Equal(o, y.Float32s()) {
			t.Fatalf("concurrent inference %d: output differs", i)
		}
	}
	// Train one step through every layer.
	if _, err := net.Forward(x, true); err != nil {
		t.Fatal(err)
	}
	dx, err := net.Backward(newTensor(make([]float32, 5*4), 5, 4))
	if err != nil || !slices.Equal(dx.Shape(), x.Shape()) {
		t.Fatalf("Backward: %v %v", dx, err)
	}
}

// TestNormalizedPads checks that a spec's symmetric Pads equals its Pad
// form, so NewNetwork accepts layers whose Spec uses the other.
func TestNormalizedPads(t *testing.T) {
	a := LayerSpec{Type: TypeConv2D, Filters: 2, Kernel: 3, Pads: Pads{1, 1, 1, 1}}
	b := LayerSpec{Type: TypeConv2D, Filters: 2, Kernel: 3, Pad: 1, Groups: 1, Dilation: 1}
	if !sameSpec(normalized(a), normalized(b)) {
		t.Errorf("normalized %+v != %+v", normalized(a), normalized(b))
	}
	c := LayerSpec{Type: TypeMaxPool2D, Kernel: 3, Pads: Pads{1, 1, 1, 0}}
	if normalized(c).Pads != c.Pads {
		t.Errorf("asymmetric pads lost: %+v", normalized(c))
	}
	if l := &(LeakyReLU{Alpha: 0.01}); !sameSpec(normalized(l.Spec()), normalized(LayerSpec{Type: TypeLeakyReLU})) {
		t.Errorf("leakyrelu default alpha: %+v", normalized(l.Spec()))
	}
}

func TestNewLayersValidate(t *testing.T) {
	img := []int{4, 8, 8}
	tests := []struct {
		name  string
		in    []int
		layer LayerSpec
		want  string
	}{
		{"negative groups", img, LayerSpec{Type: TypeConv2D, Filters: 4, Kernel: 3, Groups: -1}, "layers[0].groups: must be >= 0"},
		{"filters not multiple", img, LayerSpec{Type: TypeConv2D, Filters: 6, Kernel: 3, Groups: 4}, "layers[0].filters: 6 is not a multiple of groups 4"},
		{"channels not multiple", []int{6, 8, 8}, LayerSpec{Type: TypeConv2D, Filters: 4, Kernel: 3, Groups: 4},
			"layers[0] (conv2d): 6 input channels are not a multiple of groups 4"},
		{"negative dilation", img, LayerSpec{Type: TypeConv2D, Filters: 4, Kernel: 3, Dilation: -2}, "layers[0].dilation: must be >= 0"},
		{"dilated too big", img, LayerSpec{Type: TypeConv2D, Filters: 4, Kernel: 3, Dilation: 4}, "kernel 3 with dilation 4 larger than input 8x8"},
		{"pad and pads", img, LayerSpec{Type: TypeConv2D, Filters: 4, Kernel: 3, Pad: 1, Pads: Pads{1, 1, 1, 0}}, "layers[0].pads: give pad or pads, not both"},
		{"negative pads", img, LayerSpec{Type: TypeConv2D, Filters: 4, Kernel: 3, Pads: Pads{0, -1, 0, 0}}, "layers[0].pads: left padding must be >= 0"},
		{"pool pad too big", img, LayerSpec{Type: TypeAvgPool2D, Kernel: 2, Pads: Pads{0, 0, 0, 2}}, "layers[0].pads: right padding 2 must be smaller than the kernel 2"},
		{"ceil on conv", img, LayerSpec{Type: TypeConv2D, Filters: 4, Kernel: 3, CeilMode: true}, "layers[0].ceil_mode: not used by conv2d"},
		{"count_include_pad on max", img, LayerSpec{Type: TypeMaxPool2D, Kernel: 2, CountIncludePad: true}, "layers[0].count_include_pad: not used by maxpool2d"},
		{"dilated pool", img, LayerSpec{Type: TypeMaxPool2D, Kernel: 2, Dilation: 2}, "layers[0].dilation: not used by maxpool2d"},
		{"groups on dense", []int{8}, LayerSpec{Type: TypeDense, Units: 3, Groups: 2}, "layers[0].groups: not used by dense"},
		{"clip order", []int{8}, LayerSpec{Type: TypeClip, Min: 1, Max: -1}, "layers[0].max: must be >= min (1), got -1"},
		{"clip inf", []int{8}, LayerSpec{Type: TypeClip, Min: math.Inf(-1), Max: 1}, "layers[0].min: must be finite"},
		{"leaky nan", []int{8}, LayerSpec{Type: TypeLeakyReLU, Alpha: math.NaN()}, "layers[0].alpha: must be finite"},
		{"hardsigmoid beta", []int{8}, LayerSpec{Type: TypeHardSigmoid, Beta: math.Inf(1)}, "layers[0].beta: must be finite"},
		{"alpha on sigmoid", []int{8}, LayerSpec{Type: TypeSigmoid, Alpha: 1}, "layers[0].alpha: not used by sigmoid"},
		{"softmax on image", img, LayerSpec{Type: TypeSoftmax}, "layers[0] (softmax): input [4 8 8] has 3 dims, want [F]"},
		{"global on vector", []int{8}, LayerSpec{Type: TypeGlobalAvgPool}, "layers[0] (globalavgpool): input [8] has 1 dims, want [C H W]"},
		{"reshape empty", img, LayerSpec{Type: TypeReshape}, "layers[0].shape: must have 1 to 4 dims"},
		{"reshape two -1", img, LayerSpec{Type: TypeReshape, Shape: Dims{-1, 4, -1}}, "layers[0].shape: [-1 4 -1] has 2 entries -1"},
		{"reshape -2", img, LayerSpec{Type: TypeReshape, Shape: Dims{-2, 4}}, "layers[0].shape: dim 0 is -2"},
		{"reshape gap", img, LayerSpec{Type: TypeReshape, Shape: Dims{4, 0, 4}}, "layers[0].shape: [4 0 4 0] has a zero dim before a non-zero one"},
		{"reshape size", img, LayerSpec{Type: TypeReshape, Shape: Dims{5, -1}}, "layers[0] (reshape): input [4 8 8]: cannot reshape 256 values to [5 -1]"},
		{"reshape product", img, LayerSpec{Type: TypeReshape, Shape: Dims{4, 8}}, "cannot reshape 256 values to [4 8] (32 values)"},
		{"shape on flatten", img, LayerSpec{Type: TypeFlatten, Shape: Dims{256}}, "layers[0].shape: not used by flatten"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Arch{Input: tc.in, Layers: []LayerSpec{tc.layer}}.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestPadsAndDimsJSON(t *testing.T) {
	var s LayerSpec
	for _, tc := range []struct{ in, want string }{
		{`{"type":"conv2d","pads":[1,2,3]}`, "pads: want 4 values [top, left, bottom, right], got 3"},
		{`{"type":"conv2d","pads":"x"}`, "pads: json"},
		{`{"type":"reshape","shape":[]}`, "shape []: want 1 to 4 dims"},
		{`{"type":"reshape","shape":[1,2,3,4,5]}`, "want 1 to 4 dims"},
		{`{"type":"reshape","shape":[4,0]}`, "dim 1 is 0, want > 0 or -1"},
	} {
		err := json.Unmarshal([]byte(tc.in), &s)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.in, err, tc.want)
		}
	}
	if err := json.Unmarshal([]byte(`{"type":"reshape","shape":[2,-1,3]}`), &s); err != nil || s.Shape != (Dims{2, -1, 3}) {
		t.Errorf("decoded %+v, %v", s.Shape, err)
	}
	var n LayerSpec
	if err := json.Unmarshal([]byte(`{"type":"conv2d","pads":null,"shape":null}`), &n); err != nil || n.Pads != (Pads{}) || n.Shape != (Dims{}) {
		t.Errorf("null pads and shape: %+v, %v", n, err)
	}
}

// TestFoldBatchNormGeneralConv folds batch norms into grouped, depthwise,
// dilated and asymmetrically padded convolutions and checks the folded
// network computes the same outputs.
func TestFoldBatchNormGeneralConv(t *testing.T) {
	a := Arch{Input: []int{4, 9, 8}, Layers: []LayerSpec{
		{Type: TypeConv2D, Filters: 8, Kernel: 3, Groups: 2, Pads: Pads{0, 1, 1, 0}},
		{Type: TypeBatchNorm},
		{Type: TypeClip, Max: 6},
		{Type: TypeConv2D, Filters: 8, Kernel: 3, Groups: 8, Dilation: 2, Pad: 2},
		{Type: TypeBatchNorm},
		{Type: TypeHardSwish},
		{Type: TypeConv2D, Filters: 16, Kernel: 3, Groups: 8, Stride: 2, Pads: Pads{1, 0, 0, 1}},
		{Type: TypeBatchNorm},
		{Type: TypeGlobalAvgPool},
		{Type: TypeFlatten},
		{Type: TypeDense, Units: 3},
	}}
	net, err := Build(a, 4)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(4, 4))
	randomBatchNorms(net, r)
	x := randTensor(r, 3, 4, 9, 8)
	want, err := net.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	folded, err := net.FoldBatchNorm()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(folded.Layers()); got != len(a.Layers)-3 {
		t.Fatalf("folded network has %d layers, want %d", got, len(a.Layers)-3)
	}
	checkFoldedOutputs(t, folded, x, want)
	for i, l := range folded.Layers() {
		if c, ok := l.(*Conv2D); ok && !sameSpec(normalized(c.Spec()), normalized(folded.Arch().Layers[i])) {
			t.Errorf("folded layer %d: %+v, arch %+v", i, c.Spec(), folded.Arch().Layers[i])
		}
	}
}

// TestHostileSpecs validates random single-layer specs drawn from extreme
// and ordinary field values; none may panic, and every spec Validate
// accepts must build and run.
func TestHostileSpecs(t *testing.T) {
	ints := []int{-1, 0, 1, 2, 3, 7, math.MaxInt / 2, math.MaxInt}
	floats := []float64{0, -1, 6, math.NaN(), math.Inf(1), 1e300}
	types := append(LayerTypes(), "bogus")
	r := rand.New(rand.NewPCG(10, 11))
	// Each field is set with probability 1/8, so that specs setting only
	// fields their type uses are drawn often.
	sometimes := func() bool { return r.IntN(8) == 0 }
	pick := func() int {
		if sometimes() {
			return ints[r.IntN(len(ints))]
		}
		return 0
	}
	pickF := func() float64 {
		if sometimes() {
			return floats[r.IntN(len(floats))]
		}
		return 0
	}
	valid := map[string]int{}
	for range 20000 {
		s := LayerSpec{Type: types[r.IntN(len(types))], Units: pick() % 5, Filters: pick() % 9, Kernel: pick(), Stride: pick(),
			Pad: pick(), Groups: pick(), Dilation: pick(), CeilMode: sometimes(), CountIncludePad: sometimes(),
			Min: pickF(), Max: pickF(), Alpha: pickF(), Beta: pickF()}
		if sometimes() {
			s.Pads = Pads{pick(), pick(), pick(), pick()}
		}
		if sometimes() {
			s.Shape = Dims{pick(), pick(), pick()}
		}
		if s.Type == TypeConv2D && sometimes() { // plausible sizes
			s.Filters, s.Kernel, s.Stride, s.Dilation, s.Pad, s.Groups = 2*(1+r.IntN(2)), 1+r.IntN(3), r.IntN(3), r.IntN(3), r.IntN(2), r.IntN(3)
		}
		if s.Type == TypeReshape && r.IntN(2) == 0 {
			s.Shape = []Dims{{-1}, {2, -1}, {-1, 3, 2}, {5, -1, 1}}[r.IntN(4)]
		}
		in := []int{2, 5, 6}
		if r.IntN(3) == 0 {
			in = []int{12}
		}
		a := Arch{Input: in, Layers: []LayerSpec{s}}
		shapes, err := a.Shapes()
		if err != nil {
			continue
		}
		if prod(shapes[1]) > 1<<16 {
			t.Fatalf("%+v on %v: output %v", s, in, shapes[1])
		}
		net, err := Build(a, 1)
		if err != nil {
			t.Fatalf("%+v valid but Build: %v", s, err)
		}
		y, err := net.Forward(randTensor(r, append([]int{2}, in...)...), false)
		if err != nil || !slices.Equal(y.Shape()[1:], shapes[1]) {
			t.Fatalf("%+v: Forward %v, err %v, want [2 %v]", s, y, err, shapes[1])
		}
		valid[s.Type]++
	}
	// The draw must reach the layers' code, not only their validation.
	for _, typ := range []string{TypeConv2D, TypeMaxPool2D, TypeAvgPool2D, TypeReshape, TypeClip, TypeSoftmax} {
		if valid[typ] == 0 {
			t.Errorf("no valid %s spec drawn (valid: %v)", typ, valid)
		}
	}
	t.Logf("valid specs run: %v", valid)
}
