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
// operator set 13 (ONNX 1.8), which every ONNX Runtime since 1.6 runs.
const (
	ExportIRVersion = 7
	ExportOpset     = 13
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
// output of layer j, −1 for the network input. nn's networks are chains
// today, so this is the previous layer; when nn.LayerSpec gains its Inputs
// list this is the one place that reads it (an empty list keeps meaning
// the previous layer).
func layerInputs(_ nn.Arch, i int) []int {
	return []int{i - 1}
}

// layerIO resolves the input tensor names and per-sample shapes of layer i
// from the outputs of the layers before it.
func layerIO(a nn.Arch, shapes [][]int, outs []string, i int) ([]string, [][]int, error) {
	src := layerInputs(a, i)
	names := make([]string, len(src))
	ins := make([][]int, len(src))
	for k, j := range src {
		switch {
		case j == -1:
			names[k], ins[k] = InputName, shapes[0]
		case j >= 0 && j < i:
			names[k], ins[k] = outs[j], shapes[j+1]
		default:
			return nil, nil, fmt.Errorf("onnx export: layers[%d]: input %d is not an earlier layer: %w", i, j, ErrNotExportable)
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
	case nn.TypeMaxPool2D:
		return emitPool("MaxPool"), true
	case nn.TypeAvgPool2D:
		return emitPool("AveragePool"), true
	case nn.TypeFlatten:
		return emitFlatten, true
	case nn.TypeBatchNorm:
		return emitBatchNorm, true
	case nn.TypeDropout:
		return emitDropout, true
	}
	return nil, false
}

// ExportNetwork writes net as a float ONNX model (opset 13, IR version 7):
// input "input" of shape [N, input...] with N symbolic, output "logits",
// every parameter a float32 initializer in raw_data named as in the
// network. Layers map to ops as
//
//   - dense → Gemm(x, W [out, in], B) with transB = 1;
//   - conv2d → Conv (kernel_shape, strides, pads; OIHW weights);
//   - maxpool2d, avgpool2d → MaxPool, AveragePool (no padding);
//   - flatten → Flatten(axis = 1); relu → Relu;
//   - batchnorm → BatchNormalization with the running statistics;
//   - dropout → nothing (Identity when it is the last layer).
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
	k, s, p := int64(kernel), int64(stride), int64(pad)
	return []attribute{intsAttribute("kernel_shape", k, k), intsAttribute("strides", s, s), intsAttribute("pads", p, p, p, p)}
}

func emitConv(b *builder, w weightFunc, i int, l nn.Layer, in []string, _ [][]int, out string) (string, error) {
	c, ok := l.(*nn.Conv2D)
	if !ok {
		return "", fmt.Errorf("layer is %T, want *nn.Conv2D", l)
	}
	p, err := weights(b, w, i, l, "weight", "bias")
	if err != nil {
		return "", err
	}
	return b.node("Conv", []string{in[0], p[0], p[1]}, out, windowAttrs(c.Kernel, c.Stride, c.Pad)...), nil
}

func emitUnary(op string) floatLayer {
	return func(b *builder, _ weightFunc, _ int, _ nn.Layer, in []string, _ [][]int, out string) (string, error) {
		return b.node(op, in[:1], out), nil
	}
}

func emitPool(op string) floatLayer {
	return func(b *builder, _ weightFunc, _ int, l nn.Layer, in []string, _ [][]int, out string) (string, error) {
		var k, s int
		switch p := l.(type) {
		case *nn.MaxPool2D:
			k, s = p.Kernel, p.Stride
		case *nn.AvgPool2D:
			k, s = p.Kernel, p.Stride
		default:
			return "", fmt.Errorf("layer is %T, want a pooling layer", l)
		}
		return b.node(op, in[:1], out, windowAttrs(k, s, 0)...), nil
	}
}

func emitFlatten(b *builder, _ weightFunc, _ int, _ nn.Layer, in []string, _ [][]int, out string) (string, error) {
	return b.node("Flatten", in[:1], out, intAttribute("axis", 1)), nil
}

func emitBatchNorm(b *builder, w weightFunc, i int, l nn.Layer, in []string, _ [][]int, out string) (string, error) {
	bn, ok := l.(*nn.BatchNorm)
	if !ok {
		return "", fmt.Errorf("layer is %T, want *nn.BatchNorm", l)
	}
	p, err := weights(b, w, i, l, "gamma", "beta", "running_mean", "running_var")
	if err != nil {
		return "", err
	}
	return b.node("BatchNormalization", append([]string{in[0]}, p...), out, floatAttribute("epsilon", float32(bn.Eps))), nil
}

// emitDropout emits nothing (dropout is the identity at inference), or an
// Identity when the graph output must be named.
func emitDropout(b *builder, _ weightFunc, _ int, _ nn.Layer, in []string, _ [][]int, out string) (string, error) {
	if out == OutputName {
		return b.node("Identity", in[:1], out), nil
	}
	return in[0], nil
}
