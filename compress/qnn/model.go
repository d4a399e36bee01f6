package qnn

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/fixed"
	"github.com/compressq/compressq/compress/kernels"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/quant"
	"gorgonia.org/tensor"
)

// Options tune Quantize. The zero value calibrates the input like any
// activation, quantizes weights to 8 bits and lets Forward use every core.
type Options struct {
	// InputNorm, if not nil, fixes the input quantization to the data
	// normalization x = p·Scale + Shift of raw pixels p: scale Scale and zero
	// point round(−Shift/Scale), so raw uint8 pixels are the input codes
	// (exactly for data.UnitRange and data.RawPixels).
	InputNorm *data.Normalization
	// Threads bounds the goroutines of each Forward call; 0 means
	// GOMAXPROCS.
	Threads int
	// WeightBits is the weight code width: 8 (the default for 0) or 4
	// (codes in [−7, 7], still multiplied by the int8 GEMM).
	WeightBits int
}

// weightParams returns the weight quantization for a code width of bits
// (0 meaning 8).
func weightParams(bits int) (quant.Params, error) {
	if bits == 0 {
		bits = 8
	}
	if bits != 8 && bits != 4 {
		return quant.Params{}, fmt.Errorf("qnn: weight bits %d, want 8 or 4", bits)
	}
	return quant.Params{Bits: bits, Scheme: quant.PerChannel, Symmetric: true}, nil
}

// Layer is one integer step of a Model. Activations are uint8 codes q of
// real values scale·(q − zero); shapes are stated [C, H, W] per sample (the
// fast path stores them [H, W, C] internally).
type Layer struct {
	// Kind is KindConv, KindDense, KindMaxPool, KindFlatten or KindReLU;
	// in a graph model also KindDepthwise, KindAdd, KindConcat,
	// KindGlobalAvgPool, KindGlobalMaxPool, KindClip or KindReshape.
	Kind string
	// In and Out are the per-sample input and output shapes.
	In, Out []int
	// Kernel, Stride and Pad describe Conv2D and MaxPool2D windows.
	Kernel, Stride, Pad int

	// W holds the weights of Conv2D and Dense as symmetric per-channel
	// codes (Options.WeightBits wide, stored as int8) of shape [out, K] (K = in for Dense, inC·k·k in OIHW order
	// for Conv2D).
	W *quant.Quantized
	// Bias is the bias in the accumulator's scale InScale·W.Scale[o].
	Bias []int32
	// InScale and InZero quantize the layer's input; OutScale and OutZero
	// its output (for the logits layer OutScale is Model.LogitScale and
	// OutZero 0).
	InScale, OutScale float32
	InZero, OutZero   uint8
	// ReLU is set when a following ReLU is fused as the clamp at OutZero.
	ReLU bool
	// Logits marks the last layer, whose output is int32.
	Logits bool

	// The fields below are used by models of graph networks only (see
	// Model.Graph).

	// Inputs are the indices in Model.Layers of the layers this one
	// reads, −1 for the model input.
	Inputs []int
	// Groups, Dilation and Pads [top, left, bottom, right] complete the
	// window of Conv2D and depthwise layers (Pads also of MaxPool2D, with
	// CeilMode); Pad is unused.
	Groups, Dilation int
	Pads             [4]int
	CeilMode         bool
	// ClampLo and ClampHi bound the output codes: the fused ReLU/Clip
	// layers of Conv2D, Dense, depthwise and Add layers, or a standalone
	// ReLU/Clip; [0, 255] otherwise.
	ClampLo, ClampHi uint8
	// InScales and InZeros quantize each input of an Add or Concat; Mult
	// and Shift hold one multiplier per input: for Add
	// QuantizeMultiplier(InScales[k]/(2·max InScales)) of the input codes
	// shifted left by addShift bits, for Concat
	// QuantizeMultiplier(InScales[k]/OutScale). AddMult and AddShift
	// rescale an Add's sum to the output:
	// QuantizeMultiplier(2·max InScales/(2^addShift·OutScale)).
	InScales []float32
	InZeros  []uint8
	AddMult  int32
	AddShift int
	// Mult and Shift are the fixed-point rescaling per output channel,
	// fixed.QuantizeMultiplier(InScale·W.Scale[o]/OutScale).
	Mult  []int32
	Shift []int

	// packed holds W for the fast path, its columns in the order of that
	// path's [H, W, C] activations (see layout.go); wt is Wᵀ [K, out] in
	// the exported order, for the reference path.
	packed *fixed.PackedB
	wt     []int8
	rs     *fixed.Requantizer
	// pool is the MaxPool2D step that follows this Conv2D, fused into it
	// (pooling the int32 accumulators before requantizing), or nil.
	pool *Layer
	// group is how many images one GEMM call of a Conv2D covers.
	group int
	// win is how a Conv2D reads its GEMM's A operand in place, or nil
	// when it runs im2row.
	win   *convWin
	float nn.Layer // dequantized float twin for FakeQuant
	// acts are a graph layer's fused (or, for KindReLU/KindClip, own)
	// activations, run by FakeQuant.
	acts []nn.Layer
	// dw holds depthwise weights [k·k, C] (tap-major) for the fast path.
	dw []int32
	// transpose marks a Flatten/Reshape that changes the fast path's
	// [H, W, C] order; others share their input's buffer.
	transpose bool
	// addLUT holds, per input of an Add, its rescaled term for each of the
	// 256 codes; catLUT, per input of a Concat, the output code of each
	// input code. sum is AddMult/AddShift as a fixed.Multiplier.
	addLUT [][256]int32
	catLUT [][256]uint8
	sum    fixed.Multiplier
	// add2 tabulates a two-input Add's output code for every pair of input
	// codes (a<<8 | b), from the tables above and the clamp.
	add2 *[1 << 16]uint8
	// inShapes are the per-sample shapes of an Add's or Concat's inputs.
	inShapes [][]int
	// index is the index in the prepared network of the layer this one
	// computes, tail that of the last layer folded into it (a fused
	// activation): the layer's output is that layer's output.
	index, tail int
}

// Model is an integer-only network: uint8 input codes in, int32 logits out.
// It is read-only after Quantize and safe for concurrent use.
type Model struct {
	// Input is the per-sample input shape; InScale and InZero its
	// quantization.
	Input   []int
	InScale float32
	InZero  uint8
	// Layers are the integer steps in order.
	Layers []*Layer
	// LogitScale converts the int32 logits to real values.
	LogitScale float32
	// Classes is the number of logits per sample.
	Classes int

	threads int
	// graph is set for a model of a graph network: layers read
	// Layer.Inputs.
	graph bool
	// arch is the prepared network's architecture JSON, for Compressed.
	arch []byte
	// hwcInput is set when the input has several channels and must be
	// reordered to [H, W, C] for the fast path.
	hwcInput bool
	// actSize, colSize and accSize size a fast-path workspace: the largest
	// activation per image, im2row buffer per Conv2D call and int32
	// accumulator block per image.
	actSize, colSize, accSize int
	// pads counts the windowed Conv2D layers with padded images (their
	// convWin.slot).
	pads int
	work sync.Pool // of *workspace
}

// Quantize builds the integer model of a prepared network (see Prepare)
// from calibrated ranges, one per quantization point as Calibrate returns
// them (the last, at the logits, is ignored).
func Quantize(net *nn.Network, ranges []Range, opt Options) (*Model, error) {
	wp, err := weightParams(opt.WeightBits)
	if err != nil {
		return nil, err
	}
	p, err := planNet(net)
	if err != nil {
		return nil, err
	}
	if len(ranges) != p.points {
		return nil, fmt.Errorf("qnn: %d ranges for %d quantization points", len(ranges), p.points)
	}
	acts := make([]act, p.points-1) // the last point, at the logits, is not quantized
	if acts[0], err = inputAct(opt, ranges[0]); err != nil {
		return nil, err
	}
	for k := 1; k < len(acts); k++ {
		acts[k].scale, acts[k].zero = quant.ActivationParams(ranges[k].Lo, ranges[k].Hi)
	}
	return p.build(acts, opt.Threads, wp, nil)
}

// act is the quantization of one activation tensor: real value
// scale·(q − zero).
type act struct {
	scale float32
	zero  uint8
}

// netPlan is a prepared network split for integer inference: chain steps
// or graph nodes, and the number of quantization points (the network
// input is point 0, the logits the last).
type netPlan struct {
	net    *nn.Network
	steps  []step
	g      *gplan
	points int
}

// planNet plans a prepared network on the chain or the graph path.
func planNet(net *nn.Network) (*netPlan, error) {
	if !chainable(net) {
		g, err := planGraph(net)
		if err != nil {
			return nil, err
		}
		return &netPlan{net: net, g: g, points: g.points}, nil
	}
	steps, points, err := plan(net)
	if err != nil {
		return nil, err
	}
	return &netPlan{net: net, steps: steps, points: points}, nil
}

// pointNames names the tensor quantized at each point but the last:
// "input", then "layers.<i>" for the output of layer i of the network (a
// fused activation's, where one is fused).
func (p *netPlan) pointNames() []string {
	names := make([]string, p.points-1)
	names[0] = "input"
	set := func(point, tail int) {
		if point > 0 && point < len(names) {
			names[point] = layerName(tail)
		}
	}
	if p.g != nil {
		for _, n := range p.g.nodes {
			set(n.point, n.tail)
		}
	} else {
		for _, s := range p.steps {
			set(s.point, s.tail)
		}
	}
	return names
}

// layerName is the name of layer i's output in an artifact's activation
// table.
func layerName(i int) string { return fmt.Sprintf("layers.%d", i) }

// build makes the integer model with activation quantization acts (one per
// point but the last). Weights and biases come from src when it is set
// (an artifact's), else they are quantized from the network's with wp.
func (p *netPlan) build(acts []act, threads int, wp quant.Params, src *source) (*Model, error) {
	arch, err := json.Marshal(p.net.Arch())
	if err != nil {
		return nil, fmt.Errorf("qnn: encode architecture: %w", err)
	}
	if p.g != nil {
		return quantizeGraph(p.net, p.g, acts, threads, wp, src, arch)
	}
	net, steps := p.net, p.steps
	m := &Model{Input: net.InputShape(), threads: threads, arch: arch}
	m.InScale, m.InZero = acts[0].scale, acts[0].zero
	shape := m.Input
	scale, zero := m.InScale, m.InZero
	// flat is the [C, H, W] shape a Flatten step flattened, until the
	// Dense layer that reads it.
	var flat []int
	for i, s := range steps {
		l := &Layer{Kind: s.kind, In: slices.Clone(shape), InScale: scale, InZero: zero, OutScale: scale, OutZero: zero,
			index: s.index, tail: s.tail}
		switch s.kind {
		case KindConv, KindDense:
			l.Logits = i == len(steps)-1
			if !l.Logits {
				l.OutScale, l.OutZero = acts[s.point].scale, acts[s.point].zero
			}
			if err := l.quantizeAffine(s, m, wp, flat, src); err != nil {
				return nil, fmt.Errorf("qnn: step %d (%s): %w", i, s.kind, err)
			}
			flat = nil
		case KindMaxPool:
			p := s.layer.(*nn.MaxPool2D)
			l.Kernel, l.Stride = p.Kernel, p.Stride
			l.Out = []int{shape[0], kernels.ConvOutSize(shape[1], p.Kernel, p.Stride, 0), kernels.ConvOutSize(shape[2], p.Kernel, p.Stride, 0)}
		case KindFlatten:
			l.Out = []int{prod(shape)}
			if len(shape) == 3 {
				flat = shape
			}
		case KindReLU:
			l.Out = slices.Clone(shape)
		}
		m.Layers = append(m.Layers, l)
		shape, scale, zero = l.Out, l.OutScale, l.OutZero
	}
	m.Classes = prod(shape)
	m.plan()
	return m, nil
}

// inputAct returns the input quantization: from opt.InputNorm when given,
// else from the calibrated range r of point 0.
func inputAct(opt Options, r Range) (act, error) {
	var a act
	if opt.InputNorm == nil {
		a.scale, a.zero = quant.ActivationParams(r.Lo, r.Hi)
		return a, nil
	}
	nz := *opt.InputNorm
	if !(nz.Scale > 0) {
		return a, fmt.Errorf("qnn: input normalization scale %v, want > 0", nz.Scale)
	}
	z := math.RoundToEven(-float64(nz.Shift) / float64(nz.Scale))
	if z < 0 || z > 255 {
		return a, fmt.Errorf("qnn: input normalization %+v gives zero point %v outside [0, 255]", nz, z)
	}
	return act{nz.Scale, uint8(z)}, nil
}

// accBudget bounds the int32 accumulator block of one Conv2D GEMM call
// (bytes), so that it and the im2row rows stay in L2.
const accBudget = 64 << 10

// planConv decides how Conv2D l reads its GEMM's A operand (windows or
// im2row rows of per bytes per image) and grows the workspace for it. The
// im2row buffer is sized for windowed layers too: a Matmul that replaces
// their GEMM (ForwardWith) multiplies im2row rows.
func (m *Model) planConv(l *Layer, per int) {
	m.colSize = max(m.colSize, l.group*per)
	if l.win = l.planWindows(); l.win != nil && l.win.copied {
		l.win.slot = m.pads
		m.pads++
	}
}

// plan decides the fast path's fusions and workspace sizes.
func (m *Model) plan() {
	m.hwcInput = len(m.Input) == 3 && m.Input[0] > 1
	m.actSize, m.pads = prod(m.Input), 0
	for i, l := range m.Layers {
		m.actSize = max(m.actSize, prod(l.Out))
		if l.Kind != KindConv {
			continue
		}
		np, oc, k := l.Out[1]*l.Out[2], l.Out[0], l.packed.K()
		if i+1 < len(m.Layers) && m.Layers[i+1].Kind == KindMaxPool && l.noWrap() {
			l.pool = m.Layers[i+1]
		}
		l.group = max(1, accBudget/(4*np*oc))
		m.planConv(l, np*k)
		m.accSize = max(m.accSize, np*oc)
	}
	for _, l := range m.Layers {
		if l.Kind == KindDense {
			m.accSize = max(m.accSize, l.packed.N())
		}
	}
	m.work.New = func() any { return m.newWorkspace() }
}

// noWrap reports whether acc + bias cannot wrap in int32 for any input:
// |A − zero| ≤ 255 and |W| ≤ 128 bound each accumulator by K·32640.
func (l *Layer) noWrap() bool {
	var b int64
	for _, v := range l.Bias {
		b = max(b, abs64(int64(v)))
	}
	return int64(l.packed.K())*255*128+b <= math.MaxInt32
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// quantizeAffine fills the weight, bias and rescaling of a Dense or Conv2D
// step. For the logits layer it also sets m.LogitScale.
func (l *Layer) quantizeAffine(s step, m *Model, wp quant.Params, flat []int, src *source) error {
	var w, b []float32
	var out, k int
	switch a := s.layer.(type) {
	case *nn.Dense:
		w, b, out, k = a.W.Float32s(), a.B.Float32s(), a.Out, a.In
		l.Out = []int{a.Out}
	case *nn.Conv2D:
		w, b, out, k = a.W.Float32s(), a.B.Float32s(), a.OutC, a.InC*a.Kernel*a.Kernel
		l.Kernel, l.Stride, l.Pad = a.Kernel, a.Stride, a.Pad
		l.Out = []int{a.OutC, kernels.ConvOutSize(l.In[1], a.Kernel, a.Stride, a.Pad), kernels.ConvOutSize(l.In[2], a.Kernel, a.Stride, a.Pad)}
	}
	accScale, err := l.quantizeCodes(w, b, out, k, m, wp, src)
	if err != nil {
		return err
	}
	l.ReLU = s.relu
	q := l.W
	fast := q.Q
	switch a := s.layer.(type) {
	case *nn.Conv2D:
		fast = hwcOrder(q.Q, out, a.InC, a.Kernel)
	case *nn.Dense:
		if flat != nil {
			fast = flattenOrder(q.Q, out, flat)
		}
	}
	l.packed = fixed.PackBT(fast, out, k, k)
	l.wt = make([]int8, k*out)
	for o := range out {
		for j := range k {
			l.wt[j*out+o] = q.Q[o*k+j]
		}
	}
	lo := uint8(0)
	if l.ReLU {
		lo = l.OutZero
	}
	if l.rs, err = newRescale(l, lo, 255); err != nil {
		return err
	}
	wf, bf, err := l.floatParams(accScale)
	if err != nil {
		return err
	}
	wt := tensor.New(tensor.WithShape(out, k), tensor.WithBacking(wf))
	bt := tensor.New(tensor.WithShape(out), tensor.WithBacking(bf))
	switch a := s.layer.(type) {
	case *nn.Dense:
		l.float = &nn.Dense{In: a.In, Out: a.Out, W: wt, B: bt}
	case *nn.Conv2D:
		wt.Reshape(a.OutC, a.InC, a.Kernel, a.Kernel)
		l.float = &nn.Conv2D{InC: a.InC, OutC: a.OutC, Kernel: a.Kernel, Stride: a.Stride, Pad: a.Pad, W: wt, B: bt}
	}
	return nil
}

// quantizeCodes quantizes float weights w [out, k] (per output channel,
// symmetric, wp) and bias b [out] into l.W and l.Bias — or, with src, takes
// both from an artifact — and sets the per-channel rescaling l.Mult,
// l.Shift from l.InScale to l.OutScale. For the logits layer (l.Logits) it
// first sets m.LogitScale and l.OutScale to the largest accumulator scale.
// It returns the accumulator scales InScale·W.Scale[o].
func (l *Layer) quantizeCodes(w, b []float32, out, k int, m *Model, wp quant.Params, src *source) ([]float64, error) {
	var q *quant.Quantized
	var sb *packed.Int32Codes
	var err error
	if src != nil {
		q, sb, err = src.layer(l.index, out, k)
	} else {
		q, err = quant.QuantizeTensor(w, []int{out, k}, wp)
	}
	if err != nil {
		return nil, err
	}
	l.W = q
	accScale := make([]float64, out)
	for o := range accScale {
		accScale[o] = float64(l.InScale) * float64(q.Scale[o])
	}
	if l.Logits {
		// One common scale for all logits: the largest accumulator scale,
		// so every multiplier is ≤ 1.
		m.LogitScale = float32(slices.Max(accScale))
		l.OutScale, l.OutZero = m.LogitScale, 0
	}
	l.Bias = make([]int32, out)
	l.Mult, l.Shift = make([]int32, out), make([]int, out)
	for o := range out {
		if sb != nil {
			if err := src.checkBias(l.index, o, sb, accScale[o]); err != nil {
				return nil, err
			}
			l.Bias[o] = sb.Q[o]
		} else {
			bq := math.RoundToEven(float64(b[o]) / accScale[o])
			if math.Abs(bq) > maxBias {
				return nil, fmt.Errorf("bias[%d] = %g is %g accumulator steps, too large for int32 accumulation", o, b[o], bq)
			}
			l.Bias[o] = int32(bq)
		}
		l.Mult[o], l.Shift[o] = fixed.QuantizeMultiplier(accScale[o] / float64(l.OutScale))
	}
	return accScale, nil
}

// maxBias bounds the magnitude of an int32 bias, so that adding it to an
// accumulator cannot wrap for any realistic layer.
const maxBias = 1 << 30

// floatParams returns the float twin's weights and bias: the dequantized
// weight codes and the bias as the integer path sees it.
func (l *Layer) floatParams(accScale []float64) (w, b []float32, err error) {
	if w, err = quant.Dequantize(l.W); err != nil {
		return nil, nil, err
	}
	b = make([]float32, len(l.Bias))
	for o := range b {
		b[o] = float32(float64(l.Bias[o]) * accScale[o])
	}
	return w, b, nil
}

// QuantizeInput maps normalized float inputs (as a data.Dataset holds
// them) to the model's uint8 input codes: round half to even of
// x/InScale + InZero, clamped to [0, 255] (NaN to 0).
func (m *Model) QuantizeInput(x []float32) []uint8 {
	out := make([]uint8, len(x))
	m.QuantizeInputTo(out, x)
	return out
}

// QuantizeInputTo is QuantizeInput into dst, which must hold len(x) codes
// (fixed.QuantizeFloat32: AVX-512 where the CPU has it).
func (m *Model) QuantizeInputTo(dst []uint8, x []float32) {
	fixed.QuantizeFloat32(dst, x, 1/float64(m.InScale), m.InZero)
}

// checkInput returns the batch size of x after checking its length.
func (m *Model) checkInput(x []uint8) (int, error) {
	per := prod(m.Input)
	if per == 0 || len(x)%per != 0 {
		return 0, fmt.Errorf("qnn: input of %d values is not a whole number of %v samples", len(x), m.Input)
	}
	return len(x) / per, nil
}

// FakeQuant runs the quantized model in float32 on normalized inputs x of
// shape [N, input...]: the input and every activation are rounded to their
// uint8 grids (and back), weights and biases are the dequantized integer
// ones. It returns the float logits [N, classes].
func (m *Model) FakeQuant(x *tensor.Dense) (*tensor.Dense, error) {
	sh := x.Shape()
	if len(sh) < 1 || prod(sh[1:]) != prod(m.Input) {
		return nil, fmt.Errorf("qnn: fake-quant input shape %v, want [N %v]", []int(sh), m.Input)
	}
	if m.graph {
		return m.fakeQuantGraph(x)
	}
	n := sh[0]
	cur := fakeQuantize(x.Float32s(), m.InScale, m.InZero)
	y := tensor.New(tensor.WithShape(append([]int{n}, m.Input...)...), tensor.WithBacking(cur))
	var err error
	for _, l := range m.Layers {
		switch l.Kind {
		case KindConv, KindDense:
			if y, _, err = l.float.Forward(y, nn.Pass{}); err != nil {
				return nil, err
			}
			if l.ReLU {
				if y, _, err = (&nn.ReLU{}).Forward(y, nn.Pass{}); err != nil {
					return nil, err
				}
			}
			if !l.Logits {
				y = tensor.New(tensor.WithShape(y.Shape()...), tensor.WithBacking(fakeQuantize(y.Float32s(), l.OutScale, l.OutZero)))
			}
		case KindMaxPool:
			if y, _, err = (&nn.MaxPool2D{Kernel: l.Kernel, Stride: l.Stride}).Forward(y, nn.Pass{}); err != nil {
				return nil, err
			}
		case KindFlatten:
			y = tensor.New(tensor.WithShape(n, prod(l.Out)), tensor.WithBacking(y.Float32s()))
		case KindReLU:
			if y, _, err = (&nn.ReLU{}).Forward(y, nn.Pass{}); err != nil {
				return nil, err
			}
		}
	}
	return y, nil
}

// fakeQuantize returns x rounded to the uint8 grid of (scale, zero) and
// dequantized.
func fakeQuantize(x []float32, scale float32, zero uint8) []float32 {
	out := make([]float32, len(x))
	inv := 1 / float64(scale)
	for i, v := range x {
		out[i] = scale * float32(int32(quantizeValue(float64(v), inv, zero))-int32(zero))
	}
	return out
}

// Argmax returns the index of the largest of each row of classes logits
// (the first on ties).
func Argmax(logits []int32, classes int) []int {
	if classes <= 0 {
		return nil
	}
	out := make([]int, len(logits)/classes)
	for i := range out {
		row := logits[i*classes : (i+1)*classes]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		out[i] = best
	}
	return out
}

var errEmpty = errors.New("qnn: empty data set")

func prod(s []int) int {
	p := 1
	for _, d := range s {
		p *= d
	}
	return p
}
