package onnx

import (
	"fmt"
	"slices"

	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/qnn"
)

// exportGraph writes an integer model of a graph network (m.Graph()) in
// form FormQDQ or FormQOperator, default-domain ops only. Every layer
// reads the tensors its Inputs name (the network input, quantized — and in
// QDQ form dequantized — for −1), so a tensor read by several layers is
// one tensor read by several nodes.
//
// QDQ (activations float between QuantizeLinear → DequantizeLinear pairs):
//
//   - conv2d, depthwise_conv2d, dense: DequantizeLinear of the int8 weights
//     (per output channel, axis 0) and of the int32 bias (scale
//     InScale·WScale[o]) into Conv (group, dilations, pads) or Gemm, then
//     the fused clamp (see clampCodes) and Q/DQ at the output
//     quantization;
//   - add: Add of the inputs (a chain of Adds in input order), clamp, Q/DQ
//     at the output quantization;
//   - concat: Concat(axis = 1) of the inputs, Q/DQ at the output
//     quantization;
//   - globalavgpool: GlobalAveragePool, then Q/DQ at the input's
//     quantization (the integer path rounds the mean to a code);
//   - maxpool2d, globalmaxpool, flatten, reshape: MaxPool (ceil mode as
//     emitPool writes it), GlobalMaxPool, Flatten(axis = 1), Reshape to
//     [0, Out...], whose outputs stay on their grid;
//   - relu, clip: the clamp of the codes as a float Relu or Clip, whose
//     bounds are grid values, so the output stays on the grid.
//
// QOperator (activations uint8): conv2d and depthwise_conv2d are
// QLinearConv (group, dilations, pads), dense is MatMulInteger + bias +
// one requantization as in a chain; add, concat and globalavgpool, which
// have no default-domain integer op (QLinearAdd, QLinearConcat and
// QLinearGlobalAveragePool are com.microsoft contrib ops), run as
// DequantizeLinear of each input → the float op → QuantizeLinear at the
// output quantization; globalmaxpool (float-only in ONNX) as
// DequantizeLinear → GlobalMaxPool → QuantizeLinear at the same
// quantization, which is exact; maxpool2d, flatten and reshape run on the
// uint8 codes; a clamp of the codes is Clip on uint8.
//
// In both forms the logits layer's output is the float "logits".
func exportGraph(m *qnn.Model, form Form, o ExportOptions) ([]byte, error) {
	if err := checkGraph(m); err != nil {
		return nil, err
	}
	b, err := newBuilder("compressq-int8", o, form, m.Input)
	if err != nil {
		return nil, err
	}
	e := &qexport{b: b, qdq: form == FormQDQ}
	in := e.quantize(InputName, "input", m.InScale, m.InZero)
	if e.qdq {
		in = e.dequantize(in, "input", m.InScale, m.InZero)
	}
	outs := make([]string, len(m.Layers))
	for i, l := range m.Layers {
		xs := make([]string, len(l.Inputs))
		for k, s := range l.Inputs {
			xs[k] = in
			if s >= 0 {
				xs[k] = outs[s]
			}
		}
		if e.qdq {
			outs[i], err = e.graphLayer(i, l, xs)
		} else {
			outs[i], err = e.graphLayerQOp(i, l, xs, m)
		}
		if err != nil {
			return nil, fmt.Errorf("onnx export: quantized layer %d (%s): %w", i, l.Kind, err)
		}
	}
	last := m.Layers[len(m.Layers)-1]
	return b.finish(outs[len(outs)-1], tFloat32, last.Out), nil
}

// graphKinds are the integer layer kinds exportGraph writes.
var graphKinds = []string{qnn.KindConv, qnn.KindDepthwise, qnn.KindDense, qnn.KindAdd, qnn.KindConcat,
	qnn.KindMaxPool, qnn.KindGlobalAvgPool, qnn.KindGlobalMaxPool, qnn.KindReLU, qnn.KindClip,
	qnn.KindFlatten, qnn.KindReshape}

// checkGraph refuses an integer graph model exportGraph would write
// wrongly: an unknown kind, an input that is not the network input or an
// earlier layer, an input shape that is not its producer's output, a merge
// of fewer than two inputs or of shapes that do not add or concatenate to
// its output, an affine layer whose input quantization is not
// its producer's output quantization (its bias scale depends on it), or
// logits anywhere but on the last layer, a conv2d or dense one.
func checkGraph(m *qnn.Model) error {
	last := len(m.Layers) - 1
	for i, l := range m.Layers {
		if l == nil {
			return fmt.Errorf("onnx export: quantized layer %d is nil", i)
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("onnx export: quantized layer %d (%s): %s: %w", i, l.Kind, fmt.Sprintf(format, args...), ErrNotExportable)
		}
		if !slices.Contains(graphKinds, l.Kind) {
			return bad("kind has no QDQ/QOperator mapping (the graph exporter writes %v)", graphKinds)
		}
		if len(l.Inputs) == 0 {
			return bad("no inputs")
		}
		merge := l.Kind == qnn.KindAdd || l.Kind == qnn.KindConcat
		if merge != (len(l.Inputs) > 1) {
			return bad("%d inputs (add and concat take two or more, other kinds one)", len(l.Inputs))
		}
		channels := 0
		for k, s := range l.Inputs {
			if s < -1 || s >= i {
				return bad("inputs[%d] = %d is not the network input (-1) or an earlier layer", k, s)
			}
			shape := m.Input
			if s >= 0 {
				if m.Layers[s].Logits {
					return bad("inputs[%d] reads the logits layer %d", k, s)
				}
				shape = m.Layers[s].Out
			}
			switch {
			case l.Kind == qnn.KindAdd && !slices.Equal(shape, l.Out):
				return bad("inputs[%d] has shape %v, the sum %v", k, shape, l.Out)
			case l.Kind == qnn.KindConcat && (len(shape) != len(l.Out) || len(shape) == 0 || !slices.Equal(shape[1:], l.Out[1:])):
				return bad("inputs[%d] has shape %v, which does not concatenate along channels into %v", k, shape, l.Out)
			case l.Kind == qnn.KindConcat:
				channels += shape[0]
			}
		}
		if l.Kind == qnn.KindConcat && channels != l.Out[0] {
			return bad("inputs have %d channels in all, the output %v", channels, l.Out)
		}
		inShape, inScale, inZero := m.Input, m.InScale, m.InZero
		if s := l.Inputs[0]; s >= 0 {
			inShape, inScale, inZero = m.Layers[s].Out, m.Layers[s].OutScale, m.Layers[s].OutZero
		}
		if !merge && !slices.Equal(l.In, inShape) {
			return bad("input shape %v, but its input's output is %v", l.In, inShape)
		}
		switch l.Kind {
		case qnn.KindConv, qnn.KindDepthwise, qnn.KindDense:
			if l.InScale != inScale || l.InZero != inZero {
				return bad("input quantization (%g, %d) differs from its input's (%g, %d)", l.InScale, l.InZero, inScale, inZero)
			}
		case qnn.KindMaxPool, qnn.KindGlobalAvgPool, qnn.KindGlobalMaxPool:
			if len(l.In) != 3 || len(l.Out) != 3 {
				return bad("shapes %v → %v, want [C H W] → [C H W]", l.In, l.Out)
			}
		}
		if l.Logits != (i == last) {
			return bad("logits flag %v, but the logits are the last layer's (%d)", l.Logits, last)
		}
		if l.Logits && l.Kind != qnn.KindConv && l.Kind != qnn.KindDense {
			return bad("the logits layer must be conv2d or dense")
		}
	}
	return nil
}

// graphLayer emits one layer of a graph model in QDQ form reading the
// float tensors xs and returns its output.
func (e *qexport) graphLayer(i int, l *qnn.Layer, xs []string) (string, error) {
	prefix := fmt.Sprintf("q.%d.%s", i, l.Kind)
	out := prefix
	if l.Logits {
		out = OutputName
	}
	x := xs[0]
	var y string
	switch l.Kind {
	case qnn.KindConv, qnn.KindDepthwise, qnn.KindDense:
		var err error
		if y, err = e.floatAffine(prefix, l, x, out); err != nil {
			return "", err
		}
		if l.Logits {
			return y, nil
		}
	case qnn.KindAdd:
		var err error
		if y, err = emitAdd(e.b, nil, i, nil, xs, nil, prefix+".sum"); err != nil {
			return "", err
		}
	case qnn.KindConcat:
		y = e.b.node("Concat", xs, prefix+".cat", intAttribute("axis", 1))
	case qnn.KindGlobalAvgPool:
		y = e.b.node("GlobalAveragePool", []string{x}, prefix+".mean")
	case qnn.KindGlobalMaxPool:
		return e.b.node("GlobalMaxPool", []string{x}, prefix), nil
	case qnn.KindMaxPool, qnn.KindFlatten, qnn.KindReshape:
		return e.gridOp(prefix, l, x), nil
	case qnn.KindReLU, qnn.KindClip:
		// The bounds are grid values: the clamped values stay on the grid.
		if y := e.clampCodes(x, prefix, l); y != x {
			return y, nil
		}
		return e.b.node("Identity", []string{x}, prefix), nil
	default:
		return "", fmt.Errorf("kind %q has no ONNX mapping: %w", l.Kind, ErrNotExportable)
	}
	y = e.clampCodes(y, prefix, l)
	return e.dequantize(e.quantize(y, prefix, l.OutScale, l.OutZero), prefix, l.OutScale, l.OutZero), nil
}

// clampCodes bounds float x to the real values of the codes [ClampLo,
// ClampHi] on l's output grid, the clamp the integer path applies to the
// output codes: nothing when that is [0, 255] (QuantizeLinear saturates
// there), Relu when it is [OutZero, 255], else Clip. Rounding is monotone
// and each bound is a grid value, so clamping before QuantizeLinear gives
// the codes the clamp after it would.
func (e *qexport) clampCodes(x, prefix string, l *qnn.Layer) string {
	lo, hi := l.ClampLo, l.ClampHi
	switch {
	case lo == 0 && hi == 255:
		return x
	case lo == l.OutZero && hi == 255:
		return e.b.node("Relu", []string{x}, prefix+".relu")
	}
	// DequantizeLinear computes (q − zero)·scale in float32; so do these.
	val := func(q uint8) float32 { return float32(int32(q)-int32(l.OutZero)) * l.OutScale }
	mn := e.b.init(floatInit(prefix+".min", nil, []float32{val(lo)}))
	mx := e.b.init(floatInit(prefix+".max", nil, []float32{val(hi)}))
	return e.b.node("Clip", []string{x, mn, mx}, prefix+".clip")
}

// maxPoolAttrs returns the MaxPool attributes of a maxpool2d layer; ceil
// mode is written as emitPool writes it for a maximum: ceil_mode 0 with
// the bottom and right padding extended by the last window's overhang.
func maxPoolAttrs(l *qnn.Layer) []attribute {
	s := l.Stride
	if s <= 0 {
		s = l.Kernel
	}
	pads := effectivePads(l.Pad, nn.Pads(l.Pads))
	if l.CeilMode {
		eh, _ := ceilAxis(l.In[1], l.Kernel, s, pads[0], pads[2])
		ew, _ := ceilAxis(l.In[2], l.Kernel, s, pads[1], pads[3])
		pads[2] += eh
		pads[3] += ew
	}
	return window2D(l.Kernel, s, pads)
}

// gridOp writes a maxpool2d, flatten or reshape layer, which moves codes
// (or their real values) without changing them: MaxPool, Flatten(axis =
// 1) or Reshape to [0, Out...].
func (e *qexport) gridOp(prefix string, l *qnn.Layer, x string) string {
	switch l.Kind {
	case qnn.KindMaxPool:
		return e.b.node("MaxPool", []string{x}, prefix, maxPoolAttrs(l)...)
	case qnn.KindFlatten:
		return e.b.node("Flatten", []string{x}, prefix, intAttribute("axis", 1))
	}
	dims := []int64{0}
	for _, d := range l.Out {
		dims = append(dims, int64(d))
	}
	shape := e.b.init(int64Init(prefix+".shape", []int{len(dims)}, dims))
	return e.b.node("Reshape", []string{x, shape}, prefix)
}

// graphLayerQOp emits one layer of a graph model in QOperator form reading
// the uint8 tensors xs and returns its output (uint8, or the float logits).
func (e *qexport) graphLayerQOp(i int, l *qnn.Layer, xs []string, m *qnn.Model) (string, error) {
	prefix := fmt.Sprintf("q.%d.%s", i, l.Kind)
	x := xs[0]
	switch l.Kind {
	case qnn.KindConv, qnn.KindDepthwise, qnn.KindDense:
		// A graph layer's fused clamps are ClampLo/ClampHi, not ReLU.
		y, err := e.layer(i, l, x)
		if err != nil || l.Logits {
			return y, err
		}
		return e.clampU8(y, prefix, l.ClampLo, l.ClampHi), nil
	case qnn.KindMaxPool, qnn.KindFlatten, qnn.KindReshape:
		return e.gridOp(prefix, l, x), nil
	case qnn.KindReLU, qnn.KindClip:
		if y := e.clampU8(x, prefix, l.ClampLo, l.ClampHi); y != x {
			return y, nil
		}
		return e.b.node("Identity", []string{x}, prefix), nil
	case qnn.KindAdd, qnn.KindConcat, qnn.KindGlobalAvgPool, qnn.KindGlobalMaxPool:
	default:
		return "", fmt.Errorf("kind %q has no ONNX mapping: %w", l.Kind, ErrNotExportable)
	}
	// Dequantize each input with its producer's quantization.
	fs := make([]string, len(xs))
	for k, s := range l.Inputs {
		scale, zero := m.InScale, m.InZero
		if s >= 0 {
			scale, zero = m.Layers[s].OutScale, m.Layers[s].OutZero
		}
		fs[k] = e.dequantize(xs[k], fmt.Sprintf("%s.in%d", prefix, k), scale, zero)
	}
	var y string
	switch l.Kind {
	case qnn.KindAdd:
		var err error
		if y, err = emitAdd(e.b, nil, i, nil, fs, nil, prefix+".sum"); err != nil {
			return "", err
		}
	case qnn.KindConcat:
		y = e.b.node("Concat", fs, prefix+".cat", intAttribute("axis", 1))
	case qnn.KindGlobalAvgPool:
		y = e.b.node("GlobalAveragePool", fs, prefix+".mean")
	case qnn.KindGlobalMaxPool:
		y = e.b.node("GlobalMaxPool", fs, prefix+".max")
	}
	return e.clampU8(e.quantize(y, prefix, l.OutScale, l.OutZero), prefix, l.ClampLo, l.ClampHi), nil
}

// clampU8 clamps uint8 codes x to [lo, hi], or returns x when that is
// [0, 255].
func (e *qexport) clampU8(x, prefix string, lo, hi uint8) string {
	if lo == 0 && hi == 255 {
		return x
	}
	mn := e.b.init(uint8Init(prefix+".min", nil, []uint8{lo}))
	mx := e.b.init(uint8Init(prefix+".max", nil, []uint8{hi}))
	return e.b.node("Clip", []string{x, mn, mx}, prefix+".clip")
}
