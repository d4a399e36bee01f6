package onnx

import (
	"fmt"
	"slices"

	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/qnn"
)

// exportQDQGraph writes an integer model of a graph network (m.Graph()) in
// QDQ form. Every layer reads the float tensors its Inputs name (the
// dequantized network input for −1), so a tensor read by several layers is
// one tensor read by several nodes:
//
//   - conv2d, depthwise_conv2d, dense: DequantizeLinear of the int8 weights
//     (per output channel, axis 0) and of the int32 bias (scale
//     InScale·WScale[o]) into Conv (group, dilations, pads) or Gemm, then
//     the fused clamp (see clampCodes) and QuantizeLinear →
//     DequantizeLinear at the output quantization; the logits layer's
//     output is the float "logits";
//   - add: Add of the dequantized inputs (a chain of Adds in input order),
//     clamp, Q/DQ at the output quantization;
//   - concat: Concat(axis = 1) of the dequantized inputs, Q/DQ at the
//     output quantization;
//   - globalavgpool: GlobalAveragePool, then Q/DQ at the input's
//     quantization (the integer path rounds the mean to a code);
//   - maxpool2d, globalmaxpool, flatten, reshape: MaxPool (ceil mode as
//     emitPool writes it), GlobalMaxPool, Flatten(axis = 1), Reshape to
//     [0, Out...] on the dequantized values, which stay on their grid;
//   - relu, clip: the clamp of the codes as a float Relu or Clip, whose
//     bounds are grid values, so the output stays on the grid.
func exportQDQGraph(m *qnn.Model, o ExportOptions) ([]byte, error) {
	if err := checkGraph(m); err != nil {
		return nil, err
	}
	b, err := newBuilder("compressq-int8", o, FormQDQ, m.Input)
	if err != nil {
		return nil, err
	}
	e := &qexport{b: b, qdq: true}
	in := e.dequantize(e.quantize(InputName, "input", m.InScale, m.InZero), "input", m.InScale, m.InZero)
	outs := make([]string, len(m.Layers))
	for i, l := range m.Layers {
		xs := make([]string, len(l.Inputs))
		for k, s := range l.Inputs {
			xs[k] = in
			if s >= 0 {
				xs[k] = outs[s]
			}
		}
		if outs[i], err = e.graphLayer(i, l, xs); err != nil {
			return nil, fmt.Errorf("onnx export: quantized layer %d (%s): %w", i, l.Kind, err)
		}
	}
	last := m.Layers[len(m.Layers)-1]
	return b.finish(outs[len(outs)-1], tFloat32, last.Out), nil
}

// graphKinds are the integer layer kinds exportQDQGraph writes.
var graphKinds = []string{qnn.KindConv, qnn.KindDepthwise, qnn.KindDense, qnn.KindAdd, qnn.KindConcat,
	qnn.KindMaxPool, qnn.KindGlobalAvgPool, qnn.KindGlobalMaxPool, qnn.KindReLU, qnn.KindClip,
	qnn.KindFlatten, qnn.KindReshape}

// checkGraph refuses an integer graph model exportQDQGraph would write
// wrongly: an unknown kind, an input that is not the network input or an
// earlier layer, an input shape that is not its producer's output, a merge
// of fewer than two inputs, an affine layer whose input quantization is not
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
			return bad("kind has no QDQ mapping (the graph exporter writes %v)", graphKinds)
		}
		if len(l.Inputs) == 0 {
			return bad("no inputs")
		}
		merge := l.Kind == qnn.KindAdd || l.Kind == qnn.KindConcat
		if merge != (len(l.Inputs) > 1) || merge && len(l.Inputs) < 2 {
			return bad("%d inputs", len(l.Inputs))
		}
		for k, s := range l.Inputs {
			if s < -1 || s >= i {
				return bad("inputs[%d] = %d is not the network input (-1) or an earlier layer", k, s)
			}
			if s >= 0 && m.Layers[s].Logits {
				return bad("inputs[%d] reads the logits layer %d", k, s)
			}
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

// graphLayer emits one layer of a graph model reading the float tensors xs
// and returns its output.
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
	case qnn.KindMaxPool:
		return e.b.node("MaxPool", []string{x}, prefix, maxPoolAttrs(l)...), nil
	case qnn.KindGlobalMaxPool:
		return e.b.node("GlobalMaxPool", []string{x}, prefix), nil
	case qnn.KindFlatten:
		return e.b.node("Flatten", []string{x}, prefix, intAttribute("axis", 1)), nil
	case qnn.KindReshape:
		dims := []int64{0}
		for _, d := range l.Out {
			dims = append(dims, int64(d))
		}
		shape := e.b.init(int64Init(prefix+".shape", []int{len(dims)}, dims))
		return e.b.node("Reshape", []string{x, shape}, prefix), nil
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
