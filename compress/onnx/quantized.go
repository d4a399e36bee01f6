package onnx

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/qnn"
)

// ExportQuantized writes an integer-only model as ONNX (opset 13) in form
// FormQDQ or FormQOperator. Both take the float input "input" (the
// normalized images, as the float model does), quantize it with the
// model's input scale and zero point, and return float logits "logits".
//
// QDQ: every activation the integer model stores as uint8 becomes
// QuantizeLinear → DequantizeLinear with its scale and zero point; weights
// are int8 initializers behind a DequantizeLinear with one scale per output
// channel (axis 0); biases are int32 initializers behind a DequantizeLinear
// with scale InScale·WScale[o] (axis 0); between them run the float ops
// (Conv, Gemm with transB = 1, Relu, MaxPool, Flatten). A runtime may fuse
// the pattern into integer kernels (ONNX Runtime does).
//
// QOperator: the activations stay uint8 from the first QuantizeLinear on.
// Conv2D is QLinearConv (per-channel int8 weights, int32 bias); Dense is
// MatMulInteger (uint8 × int8 → int32) + Add of the int32 bias + one
// requantization Cast → Mul by InScale·WScale[o]/OutScale →
// QuantizeLinear (scale 1, the output zero point) — ONNX's QLinearMatMul
// has no bias input, and adding one after it would round twice;
// MaxPool and Flatten run on uint8; a ReLU whose output zero point is
// above 0 is a Clip to [zero, 255] on the uint8 codes. The last layer's
// int32 accumulators are not requantized: they are cast to float and
// scaled by InScale·WScale[o] (a Conv2D last layer runs as
// DequantizeLinear → Conv on dequantized weights instead).
//
// A chain model (m.Graph() false) must be conv2d, dense, maxpool2d,
// flatten and relu steps ending in the logits layer. A graph model is
// written by exportGraph: each layer reads the tensors its Inputs name,
// and Add, Concat, grouped, depthwise, dilated and padded convs, global
// pools and clamps map to default-domain ops in both forms.
//
// Rounding differs from compressq's integer path in one place: qnn
// requantizes with a Q31 fixed-point multiplier and rounds ties away from
// zero, ONNX's QuantizeLinear (and ONNX Runtime's QLinearConv) multiply in
// float32 and round ties to even; an activation code can differ by one
// where the scaled accumulator lands on (or within float32 precision of) a
// tie.
func ExportQuantized(m *qnn.Model, form Form, o ExportOptions) ([]byte, error) {
	if m == nil || len(m.Layers) == 0 {
		return nil, errors.New("onnx export: empty quantized model")
	}
	if form != FormQDQ && form != FormQOperator {
		return nil, fmt.Errorf("onnx export: form %q: a quantized model exports as qdq or qoperator", form)
	}
	if m.Graph() {
		return exportGraph(m, form, o)
	}
	if err := checkChain(m); err != nil {
		return nil, err
	}
	b, err := newBuilder("compressq-int8", o, form, m.Input)
	if err != nil {
		return nil, err
	}
	e := &qexport{b: b, qdq: form == FormQDQ}
	cur := e.quantize(InputName, "input", m.InScale, m.InZero)
	if e.qdq {
		cur = e.dequantize(cur, "input", m.InScale, m.InZero)
	}
	for i, l := range m.Layers {
		if cur, err = e.layer(i, l, cur); err != nil {
			return nil, fmt.Errorf("onnx export: quantized layer %d (%s): %w", i, l.Kind, err)
		}
	}
	last := m.Layers[len(m.Layers)-1]
	return b.finish(cur, tFloat32, last.Out), nil
}

// chainKinds are the integer layer kinds ExportQuantized writes.
var chainKinds = []string{qnn.KindConv, qnn.KindDense, qnn.KindMaxPool, qnn.KindFlatten, qnn.KindReLU}

// checkChain refuses an integer model ExportQuantized would write wrongly:
// one that is not a chain (a layer reading anything but the previous
// layer's output, seen as a shape that does not follow, or a merge kind
// such as add or concat) or whose logits are not its last layer. Integer
// models of graph networks (m.Graph()) are checked by checkGraph instead.
func checkChain(m *qnn.Model) error {
	prev := m.Input
	for i, l := range m.Layers {
		if l == nil {
			return fmt.Errorf("onnx export: quantized layer %d is nil", i)
		}
		if !slices.Contains(chainKinds, l.Kind) {
			return fmt.Errorf("onnx export: quantized layer %d: kind %q has no QDQ/QOperator mapping (a chain model holds %v; qnn marks the models of graph networks Graph(), and those export through their layers' Inputs): %w",
				i, l.Kind, chainKinds, ErrNotExportable)
		}
		if !slices.Equal(l.In, prev) {
			return fmt.Errorf("onnx export: quantized layer %d (%s): input shape %v does not follow the previous output %v: the model is not a chain, and it is not marked Graph() by qnn, so its layers' inputs are unknown: %w",
				i, l.Kind, l.In, prev, ErrNotExportable)
		}
		if l.Logits != (i == len(m.Layers)-1) {
			return fmt.Errorf("onnx export: quantized layer %d (%s): logits flag %v, but the logits are the last layer's (%d): %w",
				i, l.Kind, l.Logits, len(m.Layers)-1, ErrNotExportable)
		}
		prev = l.Out
	}
	return nil
}

// qexport writes one quantized model.
type qexport struct {
	b   *builder
	qdq bool
	// qparams caches the initializers of each (scale, zero) pair.
	qparams map[[2]float64][2]string
}

// scaleZero returns the initializer names of a per-tensor scale and uint8
// zero point.
func (e *qexport) scaleZero(scale float32, zero uint8) (string, string) {
	key := [2]float64{float64(scale), float64(zero)}
	if names, ok := e.qparams[key]; ok {
		return names[0], names[1]
	}
	if e.qparams == nil {
		e.qparams = map[[2]float64][2]string{}
	}
	s := e.b.init(floatInit("act.scale", nil, []float32{scale}))
	z := e.b.init(uint8Init("act.zero", nil, []uint8{zero}))
	e.qparams[key] = [2]string{s, z}
	return s, z
}

func (e *qexport) quantize(x, name string, scale float32, zero uint8) string {
	s, z := e.scaleZero(scale, zero)
	return e.b.node("QuantizeLinear", []string{x, s, z}, name+".q")
}

func (e *qexport) dequantize(x, name string, scale float32, zero uint8) string {
	s, z := e.scaleZero(scale, zero)
	return e.b.node("DequantizeLinear", []string{x, s, z}, name+".dq")
}

// affineDims checks an affine layer's weights and returns their ONNX shape:
// OIHW (I = input channels per group) for Conv2D and depthwise Conv2D,
// [out, K] for Dense.
func affineDims(l *qnn.Layer) ([]int, error) {
	q := l.W
	if q == nil || len(q.Shape) != 2 || len(q.Q) != q.Shape[0]*q.Shape[1] || len(q.Scale) != q.Shape[0] || len(l.Bias) != q.Shape[0] {
		return nil, fmt.Errorf("weights are not [out, K] per-channel codes with one bias per output")
	}
	if l.Kind != qnn.KindConv && l.Kind != qnn.KindDepthwise {
		return slices.Clone(q.Shape), nil
	}
	g := max(1, l.Groups)
	if len(l.In) != 3 || l.In[0]%g != 0 || q.Shape[0]%g != 0 || l.In[0]/g*l.Kernel*l.Kernel != q.Shape[1] {
		return nil, fmt.Errorf("weights %v do not fit input %v with kernel %d in %d group(s)", q.Shape, l.In, l.Kernel, g)
	}
	return []int{q.Shape[0], l.In[0] / g, l.Kernel, l.Kernel}, nil
}

// weightQ adds the int8 weight initializer of an affine layer in its ONNX
// shape with its per-channel scale initializer.
func (e *qexport) weightQ(prefix string, l *qnn.Layer) (w, scale string, err error) {
	dims, err := affineDims(l)
	if err != nil {
		return "", "", err
	}
	w = e.b.init(int8Init(prefix+".weight", dims, l.W.Q))
	scale = e.b.init(floatInit(prefix+".weight.scale", []int{dims[0]}, l.W.Scale))
	return w, scale, nil
}

// accScales returns InScale·WScale[o] per output channel.
func accScales(l *qnn.Layer) []float32 {
	s := make([]float32, len(l.W.Scale))
	for o, ws := range l.W.Scale {
		s[o] = float32(float64(l.InScale) * float64(ws))
	}
	return s
}

// floatAffine emits a Conv or Gemm on float x with dequantized int8
// weights and int32 bias.
func (e *qexport) floatAffine(prefix string, l *qnn.Layer, x, out string) (string, error) {
	w, ws, err := e.weightQ(prefix, l)
	if err != nil {
		return "", err
	}
	wdq := e.b.node("DequantizeLinear", []string{w, ws}, prefix+".weight.dq", intAttribute("axis", 0))
	bias := e.b.init(int32Init(prefix+".bias", []int{len(l.Bias)}, l.Bias))
	bs := e.b.init(floatInit(prefix+".bias.scale", []int{len(l.Bias)}, accScales(l)))
	bdq := e.b.node("DequantizeLinear", []string{bias, bs}, prefix+".bias.dq", intAttribute("axis", 0))
	if l.Kind == qnn.KindConv || l.Kind == qnn.KindDepthwise {
		return e.b.node("Conv", []string{x, wdq, bdq}, out, convAttrs(l)...), nil
	}
	return e.b.node("Gemm", []string{x, wdq, bdq}, out, intAttribute("transB", 1)), nil
}

// convAttrs returns the Conv attributes of a conv2d or depthwise layer:
// its window ([qnn.Layer.Pads] when set, else Pad on every side), and group
// and dilations when above 1.
func convAttrs(l *qnn.Layer) []attribute {
	attrs := window2D(l.Kernel, max(1, l.Stride), effectivePads(l.Pad, nn.Pads(l.Pads)))
	if l.Groups > 1 {
		attrs = append(attrs, intAttribute("group", int64(l.Groups)))
	}
	if d := int64(l.Dilation); d > 1 {
		attrs = append(attrs, intsAttribute("dilations", d, d))
	}
	return attrs
}

// clipBelow clamps uint8 codes x to [zero, 255] (a ReLU on the codes),
// or returns x when zero is 0.
func (e *qexport) clipBelow(x, name string, zero uint8) string {
	if zero == 0 {
		return x
	}
	lo := e.b.init(uint8Init(name+".min", nil, []uint8{zero}))
	hi := e.b.init(uint8Init(name+".max", nil, []uint8{255}))
	return e.b.node("Clip", []string{x, lo, hi}, name+".relu")
}

// layer emits one quantized layer reading cur (float in QDQ form, uint8 in
// QOperator form) and returns its output.
func (e *qexport) layer(i int, l *qnn.Layer, cur string) (string, error) {
	prefix := fmt.Sprintf("q.%d.%s", i, l.Kind)
	out := prefix
	if l.Logits {
		out = OutputName
	}
	switch l.Kind {
	case qnn.KindMaxPool:
		return e.b.node("MaxPool", []string{cur}, prefix, windowAttrs(l.Kernel, l.Stride, 0)...), nil
	case qnn.KindFlatten:
		return e.b.node("Flatten", []string{cur}, prefix, intAttribute("axis", 1)), nil
	case qnn.KindReLU:
		if e.qdq {
			return e.b.node("Relu", []string{cur}, prefix), nil
		}
		return e.clipBelow(cur, prefix, l.InZero), nil
	case qnn.KindConv, qnn.KindDepthwise, qnn.KindDense:
	default:
		return "", fmt.Errorf("kind %q has no ONNX mapping: %w", l.Kind, ErrNotExportable)
	}
	if e.qdq || (l.Logits && l.Kind != qnn.KindDense) {
		x := cur
		if !e.qdq {
			x = e.dequantize(cur, prefix+".in", l.InScale, l.InZero)
		}
		affineOut := out
		if l.ReLU {
			affineOut = prefix + ".pre"
		}
		y, err := e.floatAffine(prefix, l, x, affineOut)
		if err != nil {
			return "", err
		}
		if l.ReLU {
			y = e.b.node("Relu", []string{y}, out)
		}
		if l.Logits {
			return y, nil
		}
		return e.dequantize(e.quantize(y, prefix, l.OutScale, l.OutZero), prefix, l.OutScale, l.OutZero), nil
	}
	dims, err := affineDims(l)
	if err != nil {
		return "", err
	}
	xs, xz := e.scaleZero(l.InScale, l.InZero)
	if l.Kind != qnn.KindDense {
		w, ws, err := e.weightQ(prefix, l)
		if err != nil {
			return "", err
		}
		out := len(l.Bias)
		wz := e.b.init(int8Init(prefix+".weight.zero", []int{out}, make([]int8, out)))
		ys, yz := e.scaleZero(l.OutScale, l.OutZero)
		bias := e.b.init(int32Init(prefix+".bias", []int{out}, l.Bias))
		y := e.b.node("QLinearConv", []string{cur, xs, xz, w, ws, wz, ys, yz, bias}, prefix, convAttrs(l)...)
		if l.ReLU {
			y = e.clipBelow(y, prefix, l.OutZero)
		}
		return y, nil
	}
	// Dense: MatMulInteger wants B as [K, out].
	k, n := dims[1], dims[0]
	wt := make([]int8, k*n)
	for o := range n {
		for j := range k {
			wt[j*n+o] = l.W.Q[o*k+j]
		}
	}
	w := e.b.init(int8Init(prefix+".weight_t", []int{k, n}, wt))
	acc := e.b.node("MatMulInteger", []string{cur, w, xz}, prefix+".acc")
	bias := e.b.init(int32Init(prefix+".bias", []int{n}, l.Bias))
	acc = e.b.node("Add", []string{acc, bias}, prefix+".acc_bias")
	f := e.b.node("Cast", []string{acc}, prefix+".acc_float", intAttribute("to", int64(tFloat32)))
	mult := accScales(l)
	if !l.Logits {
		for o := range mult {
			mult[o] = float32(float64(l.InScale) * float64(l.W.Scale[o]) / float64(l.OutScale))
			if !(mult[o] > 0) || math.IsInf(float64(mult[o]), 0) {
				return "", fmt.Errorf("requantization multiplier of channel %d is %g", o, mult[o])
			}
		}
	}
	ms := e.b.init(floatInit(prefix+".multiplier", []int{n}, mult))
	if l.Logits {
		return e.b.node("Mul", []string{f, ms}, OutputName), nil
	}
	f = e.b.node("Mul", []string{f, ms}, prefix+".scaled")
	one, z := e.scaleZero(1, l.OutZero)
	y := e.b.node("QuantizeLinear", []string{f, one, z}, prefix)
	if l.ReLU {
		y = e.clipBelow(y, prefix, l.OutZero)
	}
	return y, nil
}
