package nn

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"

	"gorgonia.org/tensor"
)

// Network is a feed-forward network built from an Arch: a directed acyclic
// graph of layers run in the Arch's order, each reading the network input or
// earlier layers' outputs (a chain when every layer reads the previous one).
//
// Forward with train=false may be called concurrently. Forward with
// train=true records a tape that the next Backward consumes; training calls
// must come from one goroutine at a time.
type Network struct {
	arch   Arch
	shapes [][]int
	layers []Layer
	params []Param
	rng    *rand.Rand
	// src is rng's source, kept so a training checkpoint can save its state.
	src  *rand.PCG
	tape []tapeStep

	// srcs[i] are layer i's sources (InputNet or earlier layers).
	srcs [][]int
	// lastUse[j+1] is the last layer that reads layer j's output (lastUse[0]
	// the network input's), so Forward can drop it after that layer.
	lastUse []int
	// trainable[i] is set when layer i or a layer it reads from, directly or
	// not, has trainable parameters: only then does its output need a
	// gradient for the parameters' sake.
	trainable []bool
	// infer is the inference plan (see planInference).
	infer []inferStep
}

// tapeStep is one layer's recorded backward closure.
type tapeStep struct {
	back  Backward
	merge MergeBackward
}

// NewLayer builds the layer described by spec for per-sample input shape in
// (the first input's, for add and concat), initializing weights from r. The spec is not validated beyond what
// construction needs; Build validates whole architectures.
func NewLayer(spec LayerSpec, in []int, r *rand.Rand) (Layer, error) {
	switch spec.Type {
	case TypeDense:
		if len(in) != 1 {
			return nil, fmt.Errorf("dense: input %v, flatten first", in)
		}
		return NewDense(in[0], spec.Units, r), nil
	case TypeConv2D:
		if len(in) != 3 {
			return nil, fmt.Errorf("conv2d: input %v, want [C H W]", in)
		}
		if g := spec.groups(); in[0]%g != 0 || spec.Filters%g != 0 {
			return nil, fmt.Errorf("conv2d: %d input channels and %d filters are not multiples of groups %d", in[0], spec.Filters, g)
		}
		return newConv2D(in[0], spec, r), nil
	case TypeMaxPool2D:
		m := &MaxPool2D{Kernel: spec.Kernel, Stride: spec.stride(), CeilMode: spec.CeilMode}
		m.Pad, m.Pads = splitPads(spec.pads())
		return m, nil
	case TypeAvgPool2D:
		a := &AvgPool2D{Kernel: spec.Kernel, Stride: spec.stride(), CeilMode: spec.CeilMode, CountIncludePad: spec.CountIncludePad}
		a.Pad, a.Pads = splitPads(spec.pads())
		return a, nil
	case TypeGlobalAvgPool:
		return &GlobalAvgPool{}, nil
	case TypeGlobalMaxPool:
		return &GlobalMaxPool{}, nil
	case TypeClip:
		return &Clip{Min: spec.Min, Max: spec.Max}, nil
	case TypeLeakyReLU:
		return &LeakyReLU{Alpha: spec.alpha()}, nil
	case TypeSigmoid:
		return &Sigmoid{}, nil
	case TypeTanh:
		return &Tanh{}, nil
	case TypeHardSwish:
		return &HardSwish{}, nil
	case TypeHardSigmoid:
		return &HardSigmoid{Alpha: spec.alpha(), Beta: spec.beta()}, nil
	case TypeSoftmax:
		return &SoftmaxLayer{}, nil
	case TypeIdentity:
		return &Identity{}, nil
	case TypeReshape:
		if err := spec.Shape.check(); err != nil {
			return nil, fmt.Errorf("reshape: shape: %w", err)
		}
		return &Reshape{Shape: spec.Shape}, nil
	case TypeReLU:
		return &ReLU{}, nil
	case TypeFlatten:
		return &Flatten{}, nil
	case TypeDropout:
		return &Dropout{Rate: spec.Rate}, nil
	case TypeBatchNorm:
		if len(in) == 0 {
			return nil, fmt.Errorf("batchnorm: empty input shape")
		}
		return NewBatchNorm(in[0], spec.eps(), spec.momentum()), nil
	case TypeAdd:
		return &Add{}, nil
	case TypeConcat:
		return &Concat{}, nil
	}
	return nil, fmt.Errorf("unknown layer type %q", spec.Type)
}

// Build validates a and constructs its network, initializing every weight
// from a PCG generator seeded with seed (same seed, same weights). The
// returned network's dropout draws from a generator seeded likewise; SetSeed
// reseeds it.
func Build(a Arch, seed int64) (*Network, error) {
	shapes, err := a.Shapes()
	if err != nil {
		return nil, err
	}
	r := newRand(seed, 0)
	layers := make([]Layer, len(a.Layers))
	for i, spec := range a.Layers {
		if layers[i], err = NewLayer(spec, shapes[a.Sources(i)[0]+1], r); err != nil {
			return nil, fmt.Errorf("layers[%d]: %w", i, err)
		}
	}
	return newNetwork(a.Clone(), shapes, layers, seed), nil
}

// NewNetwork assembles a network from existing layers, for packages that
// rewire a model (e.g. structured pruning builds narrower layers and copies
// the kept weights). a must be valid and layers[i].Spec() must describe
// a.Layers[i] apart from its Inputs (zero strides meaning their defaults);
// the layers are used, not copied. seed seeds dropout.
func NewNetwork(a Arch, layers []Layer, seed int64) (*Network, error) {
	shapes, err := a.Shapes()
	if err != nil {
		return nil, err
	}
	if len(layers) != len(a.Layers) {
		return nil, fmt.Errorf("new network: %d layers for an arch of %d", len(layers), len(a.Layers))
	}
	for i, l := range layers {
		if l == nil {
			return nil, fmt.Errorf("new network: layers[%d] is nil", i)
		}
		got, want := normalized(l.Spec()), normalized(a.Layers[i])
		if !sameSpec(got, want) {
			return nil, fmt.Errorf("new network: layers[%d] is %+v, arch says %+v", i, got, want)
		}
		if err := checkLayerShape(l, shapes[a.Sources(i)[0]+1]); err != nil {
			return nil, fmt.Errorf("new network: layers[%d]: %w", i, err)
		}
	}
	return newNetwork(a.Clone(), shapes, slices.Clone(layers), seed), nil
}

// normalized makes a spec's defaults explicit so equivalent specs compare
// equal.
func normalized(s LayerSpec) LayerSpec {
	s.Stride = s.stride()
	if s.Type == TypeBatchNorm {
		s.Eps, s.Momentum = s.eps(), s.momentum()
	}
	if s.Type == TypeConv2D || s.Type == TypeMaxPool2D || s.Type == TypeAvgPool2D {
		s.Pad, s.Pads = splitPads(s.pads())
	}
	if s.Type == TypeConv2D {
		s.Groups, s.Dilation = s.groups(), s.dilation()
	}
	if s.Type == TypeLeakyReLU || s.Type == TypeHardSigmoid {
		s.Alpha, s.Beta = s.alpha(), s.beta()
	}
	return s
}

// sameSpec reports whether two normalized specs describe the same layer,
// ignoring where their inputs come from (a Layer does not know that).
func sameSpec(a, b LayerSpec) bool {
	a.Inputs, b.Inputs = nil, nil
	return reflect.DeepEqual(a, b)
}

// checkLayerShape checks that a layer's weights fit its input shape.
func checkLayerShape(l Layer, in []int) error {
	switch l := l.(type) {
	case *Dense:
		if l.In != in[0] || !slices.Equal(l.W.Shape(), tensor.Shape{l.Out, l.In}) || l.B.Len() != l.Out {
			return fmt.Errorf("dense %dx%d with W %v for input %v", l.Out, l.In, l.W.Shape(), in)
		}
	case *Conv2D:
		if l.InC != in[0] || l.InC%l.groups() != 0 || l.OutC%l.groups() != 0 ||
			!slices.Equal(l.W.Shape(), tensor.Shape{l.OutC, l.InC / l.groups(), l.Kernel, l.Kernel}) || l.B.Len() != l.OutC {
			return fmt.Errorf("conv2d %d→%d with W %v for input %v", l.InC, l.OutC, l.W.Shape(), in)
		}
	case *BatchNorm:
		if l.Features != in[0] || l.Gamma.Len() != l.Features || l.Beta.Len() != l.Features ||
			l.RunningMean.Len() != l.Features || l.RunningVar.Len() != l.Features {
			return fmt.Errorf("batchnorm of %d features for input %v", l.Features, in)
		}
	}
	return nil
}

func newNetwork(a Arch, shapes [][]int, layers []Layer, seed int64) *Network {
	n := &Network{arch: a, shapes: shapes, layers: layers,
		srcs: make([][]int, len(layers)), lastUse: make([]int, len(layers)+1), trainable: make([]bool, len(layers))}
	for i, l := range layers {
		n.srcs[i] = a.Sources(i)
		for _, p := range l.Params() {
			if p.Grad != nil {
				n.trainable[i] = true
			}
			p.Name = fmt.Sprintf("layers.%d.%s", i, p.Name)
			n.params = append(n.params, p)
		}
		for _, s := range n.srcs[i] {
			n.lastUse[s+1] = i
			if s >= 0 && n.trainable[s] {
				n.trainable[i] = true
			}
		}
	}
	n.infer = planInference(a, layers)
	n.SetSeed(seed)
	return n
}

// newRand returns a PCG generator for seed on the given stream.
func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(newPCG(seed, stream))
}

// newPCG returns the PCG source of newRand.
func newPCG(seed int64, stream uint64) *rand.PCG {
	return rand.NewPCG(uint64(seed), 0x636f6d7072657373+stream)
}

// SetSeed reseeds the generator that drives dropout in training passes.
func (n *Network) SetSeed(seed int64) {
	n.src = newPCG(seed, 1)
	n.rng = rand.New(n.src)
}

// Arch returns a copy of the network's architecture.
func (n *Network) Arch() Arch { return n.arch.Clone() }

// Layers returns the network's layers in order; index i is Arch().Layers[i],
// whose inputs Arch().Sources(i) names.
// The layers are the network's own (not copies): changing a weight tensor's
// values changes the network.
func (n *Network) Layers() []Layer { return slices.Clone(n.layers) }

// InputShape returns the per-sample input shape.
func (n *Network) InputShape() []int { return slices.Clone(n.shapes[0]) }

// OutputShape returns the per-sample output shape.
func (n *Network) OutputShape() []int { return slices.Clone(n.shapes[len(n.shapes)-1]) }

// LayerInputShape returns the per-sample input shape of layer i (its first
// input's, for add and concat).
func (n *Network) LayerInputShape(i int) []int { return slices.Clone(n.shapes[n.srcs[i][0]+1]) }

// LayerOutputShape returns the per-sample output shape of layer i.
func (n *Network) LayerOutputShape(i int) []int { return slices.Clone(n.shapes[i+1]) }

// Params returns every parameter in a stable order: by layer index, then in
// each layer's order (weight, bias; gamma, beta, running_mean, running_var).
func (n *Network) Params() []Param { return slices.Clone(n.params) }

// Param returns the parameter with the given name.
func (n *Network) Param(name string) (Param, bool) {
	for _, p := range n.params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// NumParams returns the number of scalar parameters, running statistics
// included.
func (n *Network) NumParams() int {
	total := 0
	for _, p := range n.params {
		total += p.Value.Len()
	}
	return total
}

// SetMask attaches a 0/1 pruning mask (same shape as the parameter) to the
// named parameter and applies it at once; a nil mask removes it. Optimizers
// re-apply masks after every step.
func (n *Network) SetMask(name string, mask *tensor.Dense) error {
	for i, p := range n.params {
		if p.Name != name {
			continue
		}
		if mask == nil {
			n.params[i].Mask = nil
			return nil
		}
		ms, err := f32(mask, "mask "+name)
		if err != nil {
			return err
		}
		if !slices.Equal(mask.Shape(), p.Value.Shape()) {
			return fmt.Errorf("mask %s: shape %v, want %v", name, []int(mask.Shape()), []int(p.Value.Shape()))
		}
		for j, v := range ms {
			if v != 0 && v != 1 {
				return fmt.Errorf("mask %s: value %g at %d, want 0 or 1", name, v, j)
			}
		}
		if p.Grad == nil {
			return fmt.Errorf("mask %s: parameter is not trainable", name)
		}
		n.params[i].Mask = mask
		applyMask(p.Value.Float32s(), ms)
		return nil
	}
	return fmt.Errorf("mask: no parameter %q", name)
}

// ApplyMasks multiplies every masked parameter by its mask.
func (n *Network) ApplyMasks() {
	for _, p := range n.params {
		if p.Mask != nil {
			applyMask(p.Value.Float32s(), p.Mask.Float32s())
		}
	}
}

func applyMask(v, m []float32) {
	for i, b := range m {
		if b == 0 {
			v[i] = 0
		}
	}
}

// ZeroGrad sets every gradient to zero.
func (n *Network) ZeroGrad() {
	for _, p := range n.params {
		if p.Grad != nil {
			clear(p.Grad.Float32s())
		}
	}
}

// Forward runs the network on x, shape [N, input...], and returns its output
// [N, output...]. With train=true it uses training behaviour (batch
// statistics, dropout) and records the tape for Backward; with train=false it
// mutates nothing and is safe for concurrent use.
func (n *Network) Forward(x *tensor.Dense, train bool) (*tensor.Dense, error) {
	sh := x.Shape()
	if len(sh) != len(n.shapes[0])+1 || !slices.Equal(sh[1:], n.shapes[0]) {
		return nil, fmt.Errorf("network input shape %v, want [N %v]", []int(sh), n.shapes[0])
	}
	p := Pass{Train: train}
	var tape []tapeStep
	if train {
		p.Rand = n.rng
		tape = make([]tapeStep, len(n.layers))
	}
	outs := make([]*tensor.Dense, len(n.layers)+1)
	outs[0] = x
	var bufs passBuffers
	for i, l := range n.layers {
		src := n.srcs[i]
		var step tapeStep
		var err error
		if !train {
			if n.infer[i].absorbed {
				outs[i+1] = outs[src[0]+1]
			} else {
				xs := make([]*tensor.Dense, len(src))
				for k, s := range src {
					xs[k] = outs[s+1]
				}
				outs[i+1], err = n.inferLayer(i, xs, &bufs)
			}
		} else if m, ok := l.(Merger); ok {
			xs := make([]*tensor.Dense, len(src))
			for k, s := range src {
				xs[k] = outs[s+1]
			}
			outs[i+1], step.merge, err = m.Merge(xs, p)
		} else {
			outs[i+1], step.back, err = l.Forward(outs[src[0]+1], p)
		}
		if err != nil {
			return nil, fmt.Errorf("layers[%d]: %w", i, err)
		}
		if train {
			tape[i] = step
		}
		for _, s := range src {
			if n.lastUse[s+1] == i {
				t := outs[s+1]
				outs[s+1] = nil
				if !train {
					bufs.release(t, outs)
				}
			}
		}
	}
	if train {
		n.tape = tape
	}
	return outs[len(n.layers)], nil
}

// Backward back-propagates dy, the loss gradient with respect to the output
// of the last Forward(…, true), adding parameter gradients into each Grad,
// and returns the gradient with respect to the network input. It consumes
// the tape: a second call needs another training Forward.
func (n *Network) Backward(dy *tensor.Dense) (*tensor.Dense, error) {
	return n.backward(dy, true)
}

// AccumulateGrads is Backward without the input gradient: it skips the
// layers that no trainable parameter depends on and the input gradient of
// the first layers with parameters, which for an MLP saves about a third of
// the backward work.
func (n *Network) AccumulateGrads(dy *tensor.Dense) error {
	_, err := n.backward(dy, false)
	return err
}

func (n *Network) backward(dy *tensor.Dense, needInput bool) (*tensor.Dense, error) {
	if n.tape == nil {
		return nil, fmt.Errorf("backward: no training forward pass recorded")
	}
	tape := n.tape
	n.tape = nil
	// need reports whether the output of source s (InputNet or a layer)
	// needs its gradient.
	need := func(s int) bool { return needInput || (s >= 0 && n.trainable[s]) }
	grads := make([]*tensor.Dense, len(n.layers)+1)
	grads[len(n.layers)] = dy
	for i := len(n.layers) - 1; i >= 0; i-- {
		g := grads[i+1]
		grads[i+1] = nil
		if g == nil || !n.trainable[i] && !needInput {
			continue
		}
		src := n.srcs[i]
		if back := tape[i].merge; back != nil {
			dxs, err := back(g)
			if err != nil {
				return nil, fmt.Errorf("layers[%d] backward: %w", i, err)
			}
			for k, s := range src {
				if need(s) {
					grads[s+1] = addGrad(grads[s+1], dxs[k])
				}
			}
			continue
		}
		needDx := need(src[0])
		dx, err := tape[i].back(g, needDx)
		if err != nil {
			return nil, fmt.Errorf("layers[%d] backward: %w", i, err)
		}
		if needDx {
			grads[src[0]+1] = addGrad(grads[src[0]+1], dx)
		}
	}
	return grads[0], nil
}

// addGrad returns the sum of an accumulated gradient (nil for none yet) and
// another, in a new tensor: neither argument is modified, since backward
// closures may hand out tensors they share.
func addGrad(acc, g *tensor.Dense) *tensor.Dense {
	if acc == nil {
		return g
	}
	a, b := acc.Float32s(), g.Float32s()
	sum := make([]float32, len(a))
	for i := range sum {
		sum[i] = a[i] + b[i]
	}
	return newTensor(sum, acc.Shape()...)
}

// Clone returns an independent copy of the network: same architecture,
// copied parameter values and masks, zero gradients.
func (n *Network) Clone() *Network {
	c, err := Build(n.arch, 0)
	if err != nil {
		panic(fmt.Sprintf("nn: rebuilding a built architecture failed: %v", err))
	}
	for i, p := range n.params {
		copy(c.params[i].Value.Float32s(), p.Value.Float32s())
		if p.Mask != nil {
			c.params[i].Mask = newTensor(slices.Clone(p.Mask.Float32s()), p.Mask.Shape()...)
		}
	}
	return c
}

// FoldBatchNorm returns a copy of the network for inference in which every
// BatchNorm whose only input is a Dense or Conv2D layer read by nothing else
// is folded into that layer and removed (see BatchNorm.FoldInto). Other
// BatchNorm layers are kept. Layer indices, and so parameter names, of the
// result follow its own Arch. Masks are not carried over.
func (n *Network) FoldBatchNorm() (*Network, error) {
	src := n.Clone()
	cons := n.arch.Consumers()
	drop := make([]bool, len(src.layers))
	for i, l := range src.layers {
		bn, ok := l.(*BatchNorm)
		if !ok {
			continue
		}
		if s := src.srcs[i][0]; s >= 0 && isAffine(src.layers[s]) && len(cons[s]) == 1 {
			if err := bn.FoldInto(src.layers[s]); err != nil {
				return nil, fmt.Errorf("layers[%d]: %w", i, err)
			}
			drop[i] = true
		}
	}
	a, layers := dropLayers(n.arch, src.layers, drop)
	shapes, err := a.Shapes()
	if err != nil {
		return nil, err
	}
	return newNetwork(a, shapes, layers, 0), nil
}

// dropLayers removes the single-input layers marked in drop from a and
// layers, redirecting every reader of a dropped layer to that layer's own
// source, and renumbers the remaining layers' Inputs. An Inputs list that
// ends up as the default (the previous layer) is cleared, so chains stay
// plain lists.
func dropLayers(a Arch, layers []Layer, drop []bool) (Arch, []Layer) {
	newIdx := make([]int, len(a.Layers)) // old index → new index, or the resolved source's new index
	out := Arch{Name: a.Name, Input: slices.Clone(a.Input)}
	var kept []Layer
	for i, spec := range a.Layers {
		src := a.Sources(i)
		for k, s := range src {
			if s >= 0 {
				src[k] = newIdx[s]
			}
		}
		if drop[i] {
			newIdx[i] = src[0]
			continue
		}
		newIdx[i] = len(out.Layers)
		spec.Inputs = src
		if len(src) == 1 && src[0] == newIdx[i]-1 {
			spec.Inputs = nil
		}
		out.Layers = append(out.Layers, spec)
		kept = append(kept, layers[i])
	}
	return out, kept
}

func isAffine(l Layer) bool {
	switch l.(type) {
	case *Dense, *Conv2D:
		return true
	}
	return false
}
