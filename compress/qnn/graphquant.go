package qnn

import (
	"fmt"
	"math"
	"slices"

	"github.com/compressq/compressq/compress/fixed"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/quant"
	"gorgonia.org/tensor"
)

// addShift is how many bits Add shifts its input codes (minus zero point)
// left before rescaling them to a common scale, as TensorFlow Lite does:
// it keeps about 20 bits of the rescaled terms, so their sum is rounded
// once, at the final rescaling.
const addShift = 20

// Graph reports whether m was built from a graph network (or a chain with
// layers the chain path lacks): its layers then read Layer.Inputs.
func (m *Model) Graph() bool { return m.graph }

// quantizeGraph is Quantize on the graph path.
func quantizeGraph(net *nn.Network, g *gplan, acts []act, threads int, wp quant.Params, src *source, arch []byte) (*Model, error) {
	m := &Model{Input: net.InputShape(), threads: threads, graph: true, arch: arch}
	m.InScale, m.InZero = acts[0].scale, acts[0].zero
	last := len(g.nodes) - 1
	for i, n := range g.nodes {
		l := &Layer{Kind: n.kind, Inputs: slices.Clone(n.srcs), Out: slices.Clone(n.out), acts: n.acts, ClampHi: math.MaxUint8,
			index: n.index, tail: n.tail}
		s0 := n.srcs[0]
		if s0 < 0 {
			l.In, l.InScale, l.InZero = slices.Clone(m.Input), m.InScale, m.InZero
		} else {
			p := m.Layers[s0]
			l.In, l.InScale, l.InZero = slices.Clone(p.Out), p.OutScale, p.OutZero
		}
		l.OutScale, l.OutZero = l.InScale, l.InZero
		if n.point >= 0 && i != last {
			l.OutScale, l.OutZero = acts[n.point].scale, acts[n.point].zero
		}
		if err := l.quantizeNode(n, m, wp, i == last, src); err != nil {
			return nil, fmt.Errorf("qnn: layers[%d] (%s): %w", n.index, n.kind, err)
		}
		m.Layers = append(m.Layers, l)
	}
	m.Classes = prod(m.Layers[last].Out)
	m.planGraph()
	return m, nil
}

// clampCodes returns the code range [lo, hi] that activation a (ReLU or
// Clip) leaves on the grid (scale, zero), applied after the range [lo, hi]
// of earlier activations.
func clampCodes(a nn.Layer, scale float32, zero uint8, lo, hi uint8) (uint8, uint8) {
	alo, ahi := zero, uint8(math.MaxUint8)
	if c, ok := a.(*nn.Clip); ok {
		inv := 1 / float64(scale)
		alo, ahi = quantizeValue(c.Min, inv, zero), quantizeValue(c.Max, inv, zero)
	}
	// Clamping to [lo, hi] then to [alo, ahi] is clamping to their images
	// under the second clamp.
	return max(alo, min(ahi, lo)), max(alo, min(ahi, hi))
}

// quantizeNode fills the integer form of one node; l's input and output
// quantization are set.
func (l *Layer) quantizeNode(n gnode, m *Model, wp quant.Params, logits bool, src *source) error {
	switch n.kind {
	case KindReLU, KindClip:
		l.acts = []nn.Layer{n.layer}
	}
	for _, a := range l.acts {
		l.ClampLo, l.ClampHi = clampCodes(a, l.OutScale, l.OutZero, l.ClampLo, l.ClampHi)
	}
	switch n.kind {
	case KindConv, KindDense, KindDepthwise:
		l.Logits = logits
		return l.quantizeGraphAffine(n.layer, m, wp, src)
	case KindAdd, KindConcat:
		for _, s := range n.srcs {
			sc, z, sh := m.InScale, m.InZero, m.Input
			if s >= 0 {
				sc, z, sh = m.Layers[s].OutScale, m.Layers[s].OutZero, m.Layers[s].Out
			}
			l.InScales, l.InZeros = append(l.InScales, sc), append(l.InZeros, z)
			l.inShapes = append(l.inShapes, sh)
		}
		l.Mult, l.Shift = make([]int32, len(n.srcs)), make([]int, len(n.srcs))
		top := float64(slices.Max(l.InScales))
		for k, sc := range l.InScales {
			real := float64(sc) / float64(l.OutScale)
			if n.kind == KindAdd {
				real = float64(sc) / (2 * top)
			}
			l.Mult[k], l.Shift[k] = fixed.QuantizeMultiplier(real)
			// Each term depends on one input code only: tabulate it with
			// the reference's own arithmetic.
			z := int32(l.InZeros[k])
			if n.kind == KindAdd {
				var t [256]int32
				for q := range t {
					t[q] = fixed.MultiplyByQuantizedMultiplier((int32(q)-z)<<addShift, l.Mult[k], l.Shift[k])
				}
				l.addLUT = append(l.addLUT, t)
			} else {
				var t [256]uint8
				for q := range t {
					t[q] = uint8(max(0, min(255, fixed.MultiplyByQuantizedMultiplier(int32(q)-z, l.Mult[k], l.Shift[k])+int32(l.OutZero))))
				}
				l.catLUT = append(l.catLUT, t)
			}
		}
		if n.kind == KindAdd {
			l.AddMult, l.AddShift = fixed.QuantizeMultiplier(2 * top / (float64(int64(1)<<addShift) * float64(l.OutScale)))
			l.sum = fixed.NewMultiplier(l.AddMult, l.AddShift)
			if len(l.addLUT) == 2 {
				l.add2 = l.tabulateAdd2()
			}
		}
	case KindMaxPool:
		p := n.layer.(*nn.MaxPool2D)
		l.Kernel, l.Stride, l.CeilMode, l.Pads = p.Kernel, p.Stride, p.CeilMode, effPads(p.Pad, p.Pads)
		l.float = p
	case KindFlatten, KindReshape:
		l.float = n.layer
	}
	return nil
}

// effPads returns padding [top, left, bottom, right]: pads if set, else pad
// on every side.
func effPads(pad int, pads nn.Pads) [4]int {
	if pads != (nn.Pads{}) {
		return pads
	}
	return [4]int{pad, pad, pad, pad}
}

// maxGroupedWeights bounds the weights of a grouped Conv2D spread over all
// input channels (the fast path's ungrouped GEMM), which a model file does
// not store: a few bytes of architecture must not claim gigabytes.
const maxGroupedWeights = 1 << 26

// quantizeGraphAffine quantizes a Dense or Conv2D layer of a graph model.
// A grouped (not depthwise) Conv2D runs on the fast path as an ungrouped
// one whose weights are zero outside each group; a depthwise one by its
// own loop.
func (l *Layer) quantizeGraphAffine(layer nn.Layer, m *Model, wp quant.Params, src *source) error {
	var w, b []float32
	var out, k int
	switch a := layer.(type) {
	case *nn.Dense:
		w, b, out, k = a.W.Float32s(), a.B.Float32s(), a.Out, a.In
	case *nn.Conv2D:
		l.Groups, l.Dilation = max(1, a.Groups), max(1, a.Dilation)
		l.Kernel, l.Stride, l.Pads = a.Kernel, a.Stride, effPads(a.Pad, a.Pads)
		w, b, out, k = a.W.Float32s(), a.B.Float32s(), a.OutC, a.InC/l.Groups*a.Kernel*a.Kernel
	}
	accScale, err := l.quantizeCodes(w, b, out, k, m, wp, src)
	if err != nil {
		return err
	}
	q := l.W
	switch a := layer.(type) {
	case *nn.Dense:
		l.packed = fixed.PackBT(q.Q, out, k, k)
	case *nn.Conv2D:
		kk := a.Kernel * a.Kernel
		if l.Kind == KindDepthwise {
			l.dw = make([]int32, kk*out)
			for c := range out {
				for t := range kk {
					l.dw[t*out+c] = int32(q.Q[c*kk+t])
				}
			}
		} else {
			// Spread each output channel's group weights over all input
			// channels, zero outside its group.
			full := a.InC * kk
			if int64(out)*int64(full) > maxGroupedWeights {
				return fmt.Errorf("grouped conv2d of %d groups expands to %d×%d weights for the integer GEMM, more than 2^26", l.Groups, out, full)
			}
			dense := make([]int8, out*full)
			per, cpg := out/l.Groups, a.InC/l.Groups
			for o := range out {
				g := o / per
				copy(dense[o*full+g*cpg*kk:], q.Q[o*k:(o+1)*k])
			}
			l.packed = fixed.PackBT(hwcOrder(dense, out, a.InC, a.Kernel), out, full, full)
		}
	}
	if l.rs, err = newRescale(l, l.ClampLo, l.ClampHi); err != nil {
		return err
	}
	wf, bf, err := l.floatParams(accScale)
	if err != nil {
		return err
	}
	bt := tensor.New(tensor.WithShape(out), tensor.WithBacking(bf))
	switch a := layer.(type) {
	case *nn.Dense:
		l.float = &nn.Dense{In: a.In, Out: a.Out, W: tensor.New(tensor.WithShape(out, k), tensor.WithBacking(wf)), B: bt}
	case *nn.Conv2D:
		wt := tensor.New(tensor.WithShape(out, a.InC/l.Groups, a.Kernel, a.Kernel), tensor.WithBacking(wf))
		l.float = &nn.Conv2D{InC: a.InC, OutC: a.OutC, Kernel: a.Kernel, Stride: a.Stride, Pad: a.Pad, Pads: a.Pads,
			Groups: a.Groups, Dilation: a.Dilation, W: wt, B: bt}
	}
	return nil
}

// spatial reports whether the fast path's [H, W, C] order of a per-sample
// shape differs from [C, H, W].
func spatial(s []int) bool { return len(s) == 3 && s[0] > 1 && s[1]*s[2] > 1 }

// planGraph decides the fast path's workspace sizes for a graph model.
func (m *Model) planGraph() {
	m.hwcInput = len(m.Input) == 3 && m.Input[0] > 1
	m.actSize, m.pads = prod(m.Input), 0
	for _, l := range m.Layers {
		switch l.Kind {
		case KindConv:
			np, oc, k := l.Out[1]*l.Out[2], l.Out[0], l.packed.K()
			l.group = max(1, accBudget/(4*np*oc))
			m.planConv(l, np*k)
			m.accSize = max(m.accSize, np*oc)
		case KindDense:
			m.accSize = max(m.accSize, l.packed.N())
		case KindDepthwise:
			l.win = l.planDepthwise()
			if l.win.copied {
				l.win.slot = m.pads
				m.pads++
			}
			m.accSize = max(m.accSize, l.Out[2]*l.In[0]) // one output row
		case KindGlobalAvgPool:
			m.accSize = max(m.accSize, l.In[0])
		case KindFlatten, KindReshape:
			l.transpose = !slices.Equal(l.In, l.Out) && (spatial(l.In) || spatial(l.Out))
			m.actSize = max(m.actSize, prod(l.In))
		}
	}
	m.work.New = func() any { return m.newWorkspace() }
}

// fakeQuantGraph is FakeQuant for a graph model on x [N, input...].
func (m *Model) fakeQuantGraph(x *tensor.Dense) (*tensor.Dense, error) {
	n := x.Shape()[0]
	in := tensor.New(tensor.WithShape(append([]int{n}, m.Input...)...), tensor.WithBacking(fakeQuantize(x.Float32s(), m.InScale, m.InZero)))
	outs := make([]*tensor.Dense, len(m.Layers))
	src := func(s int) *tensor.Dense {
		if s < 0 {
			return in
		}
		return outs[s]
	}
	for i, l := range m.Layers {
		var y *tensor.Dense
		var err error
		x0 := src(l.Inputs[0])
		switch l.Kind {
		case KindConv, KindDense, KindDepthwise, KindMaxPool, KindFlatten, KindReshape:
			y, _, err = l.float.Forward(x0, nn.Pass{})
		case KindGlobalAvgPool:
			y, _, err = (&nn.GlobalAvgPool{}).Forward(x0, nn.Pass{})
		case KindGlobalMaxPool:
			y, _, err = (&nn.GlobalMaxPool{}).Forward(x0, nn.Pass{})
		case KindAdd, KindConcat:
			xs := make([]*tensor.Dense, len(l.Inputs))
			for k, s := range l.Inputs {
				xs[k] = src(s)
			}
			var mg nn.Merger = &nn.Add{}
			if l.Kind == KindConcat {
				mg = &nn.Concat{}
			}
			y, _, err = mg.Merge(xs, nn.Pass{})
		case KindReLU, KindClip:
			y = x0
		}
		if err != nil {
			return nil, fmt.Errorf("qnn: fake-quant layer %d (%s): %w", i, l.Kind, err)
		}
		for _, a := range l.acts {
			if y, _, err = a.Forward(y, nn.Pass{}); err != nil {
				return nil, fmt.Errorf("qnn: fake-quant layer %d (%s): %w", i, l.Kind, err)
			}
		}
		switch l.Kind {
		case KindMaxPool, KindGlobalMaxPool, KindFlatten, KindReshape:
			// The values stay on their grid.
		default:
			if !l.Logits {
				y = tensor.New(tensor.WithShape(y.Shape()...), tensor.WithBacking(fakeQuantize(y.Float32s(), l.OutScale, l.OutZero)))
			}
		}
		outs[i] = y
	}
	return outs[len(outs)-1], nil
}
