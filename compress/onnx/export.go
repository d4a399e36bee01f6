package onnx

import (
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/compressq/compressq/compress/nn"
)

// Versions the exporter writes: ONNX IR version 7 and default-domain
// operator set 13 (ONNX 1.8), which every ONNX Runtime since 1.6 runs. A
// network with a hardswish layer is written at operator set 14 (ONNX 1.9,
// ONNX Runtime 1.8), where HardSwish appeared, still at IR version 7.
const (
	ExportIRVersion      = 7
	ExportOpset          = 13
	ExportOpsetHardSwish = 14
)

// Names of the exported graph's input and output, and of the symbolic batch
// dimension.
const (
	InputName  = "input"
	OutputName = "logits"
	BatchParam = "N"
)

// Keys of the exported model's metadata_props.
const (
	// MetaProducer and MetaVersion repeat producer_name and
	// producer_version.
	MetaProducer = "compressq.producer"
	MetaVersion  = "compressq.version"
	// MetaForm is the export form: float, qdq or qoperator.
	MetaForm = "compressq.form"
	// MetaPreprocess is a sentence describing the input transform;
	// MetaPixelScale, MetaMean and MetaStd are its numbers (Mean and Std
	// comma-separated, one per input channel). They are absent when the
	// export options give no [Preprocessing].
	MetaPreprocess = "compressq.input.preprocess"
	MetaPixelScale = "compressq.input.pixel_scale"
	MetaMean       = "compressq.input.mean"
	MetaStd        = "compressq.input.std"
	// MetaLayout is the input layout, "NCHW" or "NF".
	MetaLayout = "compressq.input.layout"
)

// ProducerName is the exported model's producer_name.
const ProducerName = "compressq"

// ErrNotExportable is wrapped by the errors of a network or model the
// exporter cannot write (a layer type without an ONNX mapping).
var ErrNotExportable = errors.New("not exportable to ONNX")

// Preprocessing is the transform from raw pixels p (0..255) of channel c
// to the network input the model expects:
//
//	input[c] = (p·PixelScale − Mean[c]) / Std[c]
//
// PixelScale 1/255 with Mean 0 and Std 1 feeds [0, 1] pixels; PixelScale 1
// feeds raw 0..255 values. Mean and Std hold one value per input channel
// (or one value for every channel).
type Preprocessing struct {
	PixelScale float32
	Mean, Std  []float32
}

// Validate checks p against an input with channels channels.
func (p *Preprocessing) Validate(channels int) error {
	var errs []error
	if !(p.PixelScale > 0) {
		errs = append(errs, fmt.Errorf("preprocessing.pixel_scale: must be > 0, got %g", p.PixelScale))
	}
	for _, f := range []struct {
		name string
		v    []float32
	}{{"mean", p.Mean}, {"std", p.Std}} {
		if len(f.v) != 1 && len(f.v) != channels {
			errs = append(errs, fmt.Errorf("preprocessing.%s: %d values for %d input channel(s), want one per channel or one for all", f.name, len(f.v), channels))
		}
		for i, x := range f.v {
			if f.name == "std" && !(x > 0) || f.name == "mean" && x != x {
				errs = append(errs, fmt.Errorf("preprocessing.%s[%d]: %g is invalid", f.name, i, x))
			}
		}
	}
	return errors.Join(errs...)
}

// ExportOptions tune the exporters. The zero value is usable.
type ExportOptions struct {
	// ProducerVersion is written as producer_version; empty means the
	// module version of the running binary (or "dev").
	ProducerVersion string
	// Preprocessing, if set, is recorded in the metadata (keys MetaMean,
	// …) so users of the file know what input it expects.
	Preprocessing *Preprocessing
	// DocString is an optional description of the model.
	DocString string
}

func (o ExportOptions) version() string {
	if o.ProducerVersion != "" {
		return o.ProducerVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// builder accumulates an ONNX graph with unique names.
type builder struct {
	mp    modelProto
	names map[string]bool
}

func newBuilder(name string, o ExportOptions, form Form, input []int) (*builder, error) {
	b := &builder{names: map[string]bool{InputName: true}}
	b.mp = modelProto{irVersion: ExportIRVersion, opset: ExportOpset, producerName: ProducerName,
		producerVersion: o.version(), docString: o.DocString, graphName: name}
	if b.mp.graphName == "" {
		b.mp.graphName = "compressq"
	}
	layout := "NF"
	if len(input) == 3 {
		layout = "NCHW"
	}
	b.mp.metadata = [][2]string{{MetaProducer, ProducerName}, {MetaVersion, b.mp.producerVersion},
		{MetaForm, string(form)}, {MetaLayout, layout}}
	if p := o.Preprocessing; p != nil {
		if err := p.Validate(input[0]); err != nil {
			return nil, fmt.Errorf("onnx export: %w", err)
		}
		b.mp.metadata = append(b.mp.metadata,
			[2]string{MetaPreprocess, "input[c] = (pixel*pixel_scale - mean[c]) / std[c], pixel in 0..255, per channel c"},
			[2]string{MetaPixelScale, formatFloat(p.PixelScale)},
			[2]string{MetaMean, formatFloats(p.Mean)},
			[2]string{MetaStd, formatFloats(p.Std)})
	}
	b.mp.inputs = []valueInfoProto{batchValue(InputName, tFloat32, input)}
	return b, nil
}

func formatFloat(x float32) string { return strconv.FormatFloat(float64(x), 'g', -1, 32) }

func formatFloats(v []float32) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = formatFloat(x)
	}
	return strings.Join(s, ",")
}

// batchValue is a value info of shape [N, sample...] with N symbolic.
func batchValue(name string, t dataType, sample []int) valueInfoProto {
	return valueInfoProto{name: name, typ: t, dims: append([]int{-1}, sample...), params: map[int]string{0: BatchParam}}
}

// unique returns name, or name with a numeric suffix if it is taken, and
// reserves it.
func (b *builder) unique(name string) string {
	n := name
	for i := 1; b.names[n]; i++ {
		n = fmt.Sprintf("%s_%d", name, i)
	}
	b.names[n] = true
	return n
}

// init adds an initializer under a unique form of t.name and returns the
// name.
func (b *builder) init(t tensorProto) string {
	t.name = b.unique(t.name)
	b.mp.initializers = append(b.mp.initializers, t)
	return t.name
}

// node adds an op writing out (made unique unless it is OutputName) and
// returns out's final name. The node is named after its output.
func (b *builder) node(op string, in []string, out string, attrs ...attribute) string {
	if out != OutputName {
		out = b.unique(out)
	} else {
		b.names[out] = true
	}
	b.mp.nodes = append(b.mp.nodes, nodeProto{name: out, op: op, inputs: in, outputs: []string{out}, attrs: attrs})
	return out
}

// finish declares the graph output (renaming the last tensor with an
// Identity node if needed) and serializes the model.
func (b *builder) finish(last string, t dataType, sample []int) []byte {
	if last != OutputName {
		b.node("Identity", []string{last}, OutputName)
	}
	b.mp.outputs = []valueInfoProto{batchValue(OutputName, t, sample)}
	return b.mp.encode()
}

// Form selects how a model is written.
type Form string

// Export forms.
const (
	// FormFloat writes float32 weights and float ops.
	FormFloat Form = "float"
	// FormQDQ writes int8 weights behind DequantizeLinear and, for an
	// integer-only model, QuantizeLinear/DequantizeLinear pairs on the
	// activations, around float ops.
	FormQDQ Form = "qdq"
	// FormQOperator writes integer ops (QLinearConv, MatMulInteger) on
	// uint8 activations.
	FormQOperator Form = "qoperator"
)

// Forms lists the export forms.
func Forms() []Form { return []Form{FormFloat, FormQDQ, FormQOperator} }

// ParseForm returns the form named s ("" means float).
func ParseForm(s string) (Form, error) {
	if s == "" {
		return FormFloat, nil
	}
	for _, f := range Forms() {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("form %q: want one of float, qdq, qoperator", s)
}

// layerInputs returns the producers of layer i's inputs: j ≥ 0 for the
// output of layer j, nn.InputNet for the network input. It is the one place
// the exporter reads nn.LayerSpec.Inputs (through Arch.Sources: an empty
// list means the previous layer).
func layerInputs(a nn.Arch, i int) []int {
	return a.Sources(i)
}

// layerIO resolves the input tensor names and per-sample shapes of layer i
// from the outputs of the layers before it.
func layerIO(a nn.Arch, shapes [][]int, outs []string, i int) ([]string, [][]int, error) {
	src := layerInputs(a, i)
	names := make([]string, len(src))
	ins := make([][]int, len(src))
	for k, j := range src {
		switch {
		case j == nn.InputNet:
			names[k], ins[k] = InputName, shapes[0]
		case j >= 0 && j < i:
			names[k], ins[k] = outs[j], shapes[j+1]
		default:
			return nil, nil, fmt.Errorf("onnx export: layers[%d].inputs[%d]: %d is not the network input or an earlier layer: %w", i, k, j, ErrNotExportable)
		}
	}
	return names, ins, nil
}

// weightFunc returns the name of the tensor holding a parameter (for
// example "layers.0.weight") as the graph should read it: a float
// initializer, or the output of a DequantizeLinear.
type weightFunc func(b *builder, param string, v []float32, shape []int) (string, error)

// floatWeight adds v as a float initializer.
func floatWeight(b *builder, param string, v []float32, shape []int) (string, error) {
	return b.init(floatInit(param, shape, v)), nil
}

// floatLayer emits the nodes of one float layer. in are its input tensor
// names (one per input, see layerInputs) with their per-sample shapes;
// out is the name its output should have. It returns the name of its
// output, which is in[0] for a layer that emits nothing.
type floatLayer func(b *builder, w weightFunc, i int, l nn.Layer, in []string, shapes [][]int, out string) (string, error)

// floatEmitter returns the emitter of an nn layer type; a type without one
// is not exportable.
func floatEmitter(typ string) (floatLayer, bool) {
	switch typ {
	case nn.TypeDense:
		return emitDense, true
	case nn.TypeConv2D:
		return emitConv, true
	case nn.TypeReLU:
		return emitUnary("Relu"), true
	case nn.TypeMaxPool2D, nn.TypeAvgPool2D:
		return emitPool, true
	case nn.TypeGlobalAvgPool:
		return emitUnary("GlobalAveragePool"), true
	case nn.TypeGlobalMaxPool:
		return emitUnary("GlobalMaxPool"), true
	case nn.TypeFlatten:
		return emitFlatten, true
	case nn.TypeBatchNorm:
		return emitBatchNorm, true
	case nn.TypeDropout, nn.TypeIdentity:
		return emitPassThrough, true
	case nn.TypeAdd:
		return emitAdd, true
	case nn.TypeConcat:
		return emitConcat, true
	case nn.TypeClip:
		return emitClip, true
	case nn.TypeLeakyReLU:
		return emitLeakyReLU, true
	case nn.TypeSigmoid:
		return emitUnary("Sigmoid"), true
	case nn.TypeTanh:
		return emitUnary("Tanh"), true
	case nn.TypeHardSwish:
		return emitUnary("HardSwish"), true
	case nn.TypeHardSigmoid:
		return emitHardSigmoid, true
	case nn.TypeSoftmax:
		return emitSoftmax, true
	case nn.TypeReshape:
		return emitReshape, true
	}
	return nil, false
}

// ExportNetwork writes net, a chain or a graph of layers, as a float ONNX
// model (IR version 7, operator set 13, or 14 when a hardswish layer needs
// it): input "input" of shape [N, input...] with N symbolic, output
// "logits", every parameter a float32 initializer in raw_data named as in
// the network. Layers map to ops as
//
//   - dense → Gemm(x, W [out, in], B) with transB = 1;
//   - conv2d → Conv (OIHW weights; kernel_shape, strides, pads [top, left,
//     bottom, right], and group and dilations when above 1);
//   - maxpool2d, avgpool2d → MaxPool, AveragePool with their pads and
//     count_include_pad; ceil mode is written in a form every runtime
//     counts nn's windows for (see emitPool: mostly ceil_mode 0 with the
//     overhang added to the bottom/right pads);
//   - globalavgpool, globalmaxpool → GlobalAveragePool, GlobalMaxPool;
//   - add → Add (a chain of Adds, in input order, for three or more);
//   - concat → Concat(axis = 1);
//   - flatten → Flatten(axis = 1); reshape → Reshape to [0, shape...] (0
//     keeps the batch dimension);
//   - relu, sigmoid, tanh, hardswish → Relu, Sigmoid, Tanh, HardSwish;
//     leakyrelu → LeakyRelu(alpha); hardsigmoid → HardSigmoid(alpha, beta);
//     clip → Clip with min and max as float scalar initializers; softmax →
//     Softmax(axis = 1);
//   - batchnorm → BatchNormalization with the running statistics;
//   - dropout, identity → nothing (Identity when it is the last layer).
//
// Pruned networks export as they are (zeros included); structurally pruned
// ones with their smaller shapes.
func ExportNetwork(net *nn.Network, o ExportOptions) ([]byte, error) {
	return exportFloat(net, o, FormFloat, floatWeight)
}

func exportFloat(net *nn.Network, o ExportOptions, form Form, w weightFunc) ([]byte, error) {
	if net == nil {
		return nil, errors.New("onnx export: nil network")
	}
	a := net.Arch()
	shapes, err := a.Shapes()
	if err != nil {
		return nil, fmt.Errorf("onnx export: %w", err)
	}
	b, err := newBuilder(a.Name, o, form, shapes[0])
	if err != nil {
		return nil, err
	}
	layers := net.Layers()
	outs := make([]string, len(layers))
	for i, l := range layers {
		spec := l.Spec()
		emit, ok := floatEmitter(spec.Type)
		if !ok {
			return nil, fmt.Errorf("onnx export: layers[%d]: type %q has no ONNX mapping: %w", i, spec.Type, ErrNotExportable)
		}
		if spec.Type == nn.TypeHardSwish {
			b.mp.opset = max(b.mp.opset, ExportOpsetHardSwish)
		}
		in, inShapes, err := layerIO(a, shapes, outs, i)
		if err != nil {
			return nil, err
		}
		out := fmt.Sprintf("layers.%d.%s", i, spec.Type)
		if i == len(layers)-1 {
			out = OutputName
		}
		if outs[i], err = emit(b, w, i, l, in, inShapes, out); err != nil {
			return nil, fmt.Errorf("onnx export: layers[%d] (%s): %w", i, spec.Type, err)
		}
	}
	return b.finish(outs[len(outs)-1], tFloat32, shapes[len(shapes)-1]), nil
}

// param returns a layer's parameter tensor values and shape.
func param(l nn.Layer, kind string) ([]float32, []int, error) {
	for _, p := range l.Params() {
		if p.Name == kind {
			v, ok := p.Value.Data().([]float32)
			if !ok || len(v) != p.Value.Len() {
				return nil, nil, fmt.Errorf("parameter %s is not a dense float32 tensor", kind)
			}
			return v, slices.Clone([]int(p.Value.Shape())), nil
		}
	}
	return nil, nil, fmt.Errorf("layer has no parameter %q", kind)
}

// weights returns the graph names of a layer's parameters kinds, named
// layers.<i>.<kind>.
func weights(b *builder, w weightFunc, i int, l nn.Layer, kinds ...string) ([]string, error) {
	names := make([]string, len(kinds))
	for k, kind := range kinds {
		v, shape, err := param(l, kind)
		if err != nil {
			return nil, err
		}
		if names[k], err = w(b, fmt.Sprintf("layers.%d.%s", i, kind), v, shape); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// layerAs returns l as a P, or an error naming both types.
func layerAs[P nn.Layer](l nn.Layer) (P, error) {
	t, ok := l.(P)
	if !ok {
		return t, fmt.Errorf("layer is %T, want %T", l, t)
	}
	return t, nil
}

func emitDense(b *builder, w weightFunc, i int, l nn.Layer, in []string, _ [][]int, out string) (string, error) {
	p, err := weights(b, w, i, l, "weight", "bias")
	if err != nil {
		return "", err
	}
	return b.node("Gemm", []string{in[0], p[0], p[1]}, out, intAttribute("transB", 1)), nil
}

// windowAttrs returns the Conv/pool attributes of a square kernel, stride and
// symmetric padding.
func windowAttrs(kernel, stride, pad int) []attribute {
	return window2D(kernel, stride, nn.Pads{pad, pad, pad, pad})
}

// window2D returns the kernel_shape, strides and pads attributes of a
// square kernel, stride and padding [top, left, bottom, right] (ONNX's
// order for two spatial axes).
func window2D(kernel, stride int, pads nn.Pads) []attribute {
	k, s := int64(kernel), int64(stride)
	return []attribute{intsAttribute("kernel_shape", k, k), intsAttribute("strides", s, s),
		intsAttribute("pads", int64(pads[0]), int64(pads[1]), int64(pads[2]), int64(pads[3]))}
}

// effectivePads returns the padding [top, left, bottom, right] of a layer
// with symmetric pad and per-side pads (which win when set).
func effectivePads(pad int, pads nn.Pads) nn.Pads {
	if pads != (nn.Pads{}) {
		return pads
	}
	return nn.Pads{pad, pad, pad, pad}
}

func emitConv(b *builder, w weightFunc, i int, l nn.Layer, in []string, _ [][]int, out string) (string, error) {
	c, err := layerAs[*nn.Conv2D](l)
	if err != nil {
		return "", err
	}
	p, err := weights(b, w, i, l, "weight", "bias")
	if err != nil {
		return "", err
	}
	attrs := window2D(c.Kernel, max(1, c.Stride), effectivePads(c.Pad, c.Pads))
	if c.Groups > 1 {
		attrs = append(attrs, intAttribute("group", int64(c.Groups)))
	}
	if d := int64(c.Dilation); d > 1 {
		attrs = append(attrs, intsAttribute("dilations", d, d))
	}
	return b.node("Conv", []string{in[0], p[0], p[1]}, out, attrs...), nil
}

func emitUnary(op string, attrs ...attribute) floatLayer {
	return func(b *builder, _ weightFunc, _ int, _ nn.Layer, in []string, _ [][]int, out string) (string, error) {
		return b.node(op, in[:1], out, attrs...), nil
	}
}

// ceilAxis returns, for one axis of a ceil-mode pooling window, how far
// the last window reaches past the end padding (overhang) and whether
// rounding up alone would add a window that starts in the end padding,
// which nn (as PyTorch) drops. in, lo and hi are the input size and the
// padding before and after it.
func ceilAxis(in, kernel, stride, lo, hi int) (overhang int, dropped bool) {
	total := in + lo + hi
	out := (total-kernel+stride-1)/stride + 1
	if (out-1)*stride >= in+lo {
		out--
		dropped = true
	}
	return max(0, (out-1)*stride+kernel-total), dropped
}

// emitPool writes MaxPool or AveragePool. Opset 13 leaves open whether a
// ceil-mode window that would start in the end padding counts (ONNX 1.12's
// shape inference counts it; ONNX Runtime 1.30, PyTorch and nn drop it), so
// ceil mode is written so that every runtime counts nn's windows:
//
//   - as ceil_mode 0 with the bottom and right padding extended by the
//     overhang of the last window, for a maximum and for an average with
//     count_include_pad 0 (exact: padding never wins a maximum and is not
//     counted in such an average);
//   - for an average with count_include_pad 1, which divides by the taps
//     inside the image and its declared padding but not the overhang: as
//     ceil_mode 1 when no window is dropped; otherwise as an explicit Pad
//     (zeros) followed by an AveragePool with count_include_pad 0 over the
//     padded image, with the overhang as its padding.
func emitPool(b *builder, _ weightFunc, i int, l nn.Layer, in []string, shapes [][]int, out string) (string, error) {
	var (
		op                    string
		k, s, pad             int
		pads                  nn.Pads
		ceil, countIncludePad bool
	)
	switch p := l.(type) {
	case *nn.MaxPool2D:
		op, k, s, pad, pads, ceil = "MaxPool", p.Kernel, p.Stride, p.Pad, p.Pads, p.CeilMode
	case *nn.AvgPool2D:
		op, k, s, pad, pads, ceil, countIncludePad = "AveragePool", p.Kernel, p.Stride, p.Pad, p.Pads, p.CeilMode, p.CountIncludePad
	default:
		return "", fmt.Errorf("layer is %T, want a pooling layer", l)
	}
	if len(shapes[0]) != 3 {
		return "", fmt.Errorf("input shape %v, want [C H W]", shapes[0])
	}
	if s <= 0 {
		s = k
	}
	pads = effectivePads(pad, pads)
	var eh, ew int
	var dh, dw bool
	if ceil {
		eh, dh = ceilAxis(shapes[0][1], k, s, pads[0], pads[2])
		ew, dw = ceilAxis(shapes[0][2], k, s, pads[1], pads[3])
	}
	x := in[0]
	ceilMode := false
	switch {
	case !countIncludePad || eh == 0 && ew == 0:
		pads[2] += eh
		pads[3] += ew
	case !dh && !dw:
		ceilMode = true
	default:
		pv := b.init(int64Init(fmt.Sprintf("layers.%d.pads", i), []int{8},
			[]int64{0, 0, int64(pads[0]), int64(pads[1]), 0, 0, int64(pads[2]), int64(pads[3])}))
		x = b.node("Pad", []string{x, pv}, fmt.Sprintf("layers.%d.padded", i))
		pads, countIncludePad = nn.Pads{0, 0, eh, ew}, false
	}
	attrs := window2D(k, s, pads)
	if countIncludePad {
		attrs = append(attrs, intAttribute("count_include_pad", 1))
	}
	if ceilMode {
		attrs = append(attrs, intAttribute("ceil_mode", 1))
	}
	return b.node(op, []string{x}, out, attrs...), nil
}

func emitFlatten(b *builder, _ weightFunc, _ int, _ nn.Layer, in []string, _ [][]int, out string) (string, error) {
	return b.node("Flatten", in[:1], out, intAttribute("axis", 1)), nil
}

func emitBatchNorm(b *builder, w weightFunc, i int, l nn.Layer, in []string, _ [][]int, out string) (string, error) {
	bn, err := layerAs[*nn.BatchNorm](l)
	if err != nil {
		return "", err
	}
	p, err := weights(b, w, i, l, "gamma", "beta", "running_mean", "running_var")
	if err != nil {
		return "", err
	}
	return b.node("BatchNormalization", append([]string{in[0]}, p...), out, floatAttribute("epsilon", float32(bn.Eps))), nil
}

// emitPassThrough emits nothing for a layer that is the identity at
// inference (dropout, identity), or an Identity when the graph output must
// be named.
func emitPassThrough(b *builder, _ weightFunc, _ int, _ nn.Layer, in []string, _ [][]int, out string) (string, error) {
	if out == OutputName {
		return b.node("Identity", in[:1], out), nil
	}
	return in[0], nil
}

// emitAdd writes the sum of two or more inputs as Adds in input order,
// ((in0 + in1) + in2) + …, the order nn sums in.
func emitAdd(b *builder, _ weightFunc, _ int, _ nn.Layer, in []string, _ [][]int, out string) (string, error) {
	if len(in) < 2 {
		return "", fmt.Errorf("add of %d inputs, want two or more", len(in))
	}
	acc := in[0]
	for k, x := range in[1:] {
		name := out
		if k+2 < len(in) {
			name = fmt.Sprintf("%s.partial%d", out, k+1)
		}
		acc = b.node("Add", []string{acc, x}, name)
	}
	return acc, nil
}

func emitConcat(b *builder, _ weightFunc, _ int, _ nn.Layer, in []string, _ [][]int, out string) (string, error) {
	if len(in) < 2 {
		return "", fmt.Errorf("concat of %d inputs, want two or more", len(in))
	}
	return b.node("Concat", in, out, intAttribute("axis", 1)), nil
}

// emitClip writes Clip with its bounds as float scalar initializers, the
// opset-11+ form (min and max are inputs, not attributes).
func emitClip(b *builder, _ weightFunc, i int, l nn.Layer, in []string, _ [][]int, out string) (string, error) {
	c, err := layerAs[*nn.Clip](l)
	if err != nil {
		return "", err
	}
	lo := b.init(floatInit(fmt.Sprintf("layers.%d.min", i), nil, []float32{float32(c.Min)}))
	hi := b.init(floatInit(fmt.Sprintf("layers.%d.max", i), nil, []float32{float32(c.Max)}))
	return b.node("Clip", []string{in[0], lo, hi}, out), nil
}

func emitLeakyReLU(b *builder, _ weightFunc, _ int, l nn.Layer, in []string, _ [][]int, out string) (string, error) {
	r, err := layerAs[*nn.LeakyReLU](l)
	if err != nil {
		return "", err
	}
	return b.node("LeakyRelu", in[:1], out, floatAttribute("alpha", float32(r.Alpha))), nil
}

func emitHardSigmoid(b *builder, _ weightFunc, _ int, l nn.Layer, in []string, _ [][]int, out string) (string, error) {
	h, err := layerAs[*nn.HardSigmoid](l)
	if err != nil {
		return "", err
	}
	return b.node("HardSigmoid", in[:1], out, floatAttribute("alpha", float32(h.Alpha)), floatAttribute("beta", float32(h.Beta))), nil
}

// emitSoftmax writes Softmax over the features of an [N, F] input (nn's
// softmax layer takes only that shape).
func emitSoftmax(b *builder, _ weightFunc, _ int, _ nn.Layer, in []string, shapes [][]int, out string) (string, error) {
	if len(shapes[0]) != 1 {
		return "", fmt.Errorf("input shape %v, want [F]", shapes[0])
	}
	return b.node("Softmax", in[:1], out, intAttribute("axis", 1)), nil
}

// emitReshape writes Reshape to [0, shape...]: 0 copies the batch
// dimension, a −1 in shape is inferred as in nn.
func emitReshape(b *builder, _ weightFunc, i int, l nn.Layer, in []string, _ [][]int, out string) (string, error) {
	r, err := layerAs[*nn.Reshape](l)
	if err != nil {
		return "", err
	}
	dims := []int64{0}
	for _, d := range r.Shape.Slice() {
		dims = append(dims, int64(d))
	}
	shape := b.init(int64Init(fmt.Sprintf("layers.%d.shape", i), []int{len(dims)}, dims))
	return b.node("Reshape", []string{in[0], shape}, out), nil
}
