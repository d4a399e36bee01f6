package qnn

import (
	"fmt"

	"github.com/compressq/compressq/compress/nn"
	"gorgonia.org/tensor"
)

// Step kinds that only models of graph networks use (see Layer.Inputs).
const (
	KindDepthwise     = "depthwise_conv2d"
	KindAdd           = "add"
	KindConcat        = "concat"
	KindGlobalAvgPool = "globalavgpool"
	KindGlobalMaxPool = "globalmaxpool"
	KindClip          = "clip"
	KindReshape       = "reshape"
)

// maxAddInputs bounds the inputs of an Add: each rescaled term is below
// 255·2¹⁹ in magnitude, so the int32 sum of up to 16 cannot wrap.
const maxAddInputs = 8

// gnode is one node of a prepared graph network: an nn layer with the
// ReLU/Clip layers fused after it, the nodes it reads and the quantization
// point at its output (−1 when the output keeps its first input's
// quantization).
type gnode struct {
	kind  string
	layer nn.Layer
	acts  []nn.Layer
	srcs  []int // node indices; −1 is the network input
	point int
	index int   // index of layer in the network, for errors
	tail  int   // index of the last network layer folded into the node
	out   []int // per-sample output shape
}

// gplan is a prepared graph network split into nodes, in topological
// order; the last node is the logits layer.
type gplan struct {
	nodes  []gnode
	points int
}

// chainable reports whether net takes the chain path: a chain of plain
// Dense, Conv2D, MaxPool2D, Flatten, ReLU and Dropout layers.
func chainable(net *nn.Network) bool {
	if !net.Arch().IsChain() {
		return false
	}
	for i, l := range net.Layers() {
		switch l.(type) {
		case *nn.Dense, *nn.Conv2D, *nn.MaxPool2D, *nn.Flatten, *nn.ReLU, *nn.Dropout:
		default:
			return false
		}
		if checkPlain(i, l) != nil {
			return false
		}
	}
	return true
}

// isDepthwise reports whether c has one input and one output channel per
// group (more than one group).
func isDepthwise(c *nn.Conv2D) bool {
	return c.Groups > 1 && c.Groups == c.InC && c.OutC == c.InC
}

// planGraph splits a prepared network into graph nodes. A ReLU or Clip is
// fused into the Dense, Conv2D or Add before it when it is that layer's
// only reader (repeatedly: ReLU then Clip both fuse); Dropout and Identity
// vanish.
func planGraph(net *nn.Network) (*gplan, error) {
	a, layers := net.Arch(), net.Layers()
	cons := a.Consumers()
	nodeOf := make([]int, len(layers))
	g := &gplan{points: 1}
	for i, l := range layers {
		src := a.Sources(i)
		srcs := make([]int, len(src))
		for k, s := range src {
			srcs[k] = -1
			if s >= 0 {
				srcs[k] = nodeOf[s]
			}
		}
		n := gnode{layer: l, srcs: srcs, point: -1, index: i, tail: i, out: net.LayerOutputShape(i)}
		switch l := l.(type) {
		case *nn.Dropout, *nn.Identity:
			nodeOf[i] = srcs[0]
			continue
		case *nn.ReLU, *nn.Clip:
			if p := srcs[0]; p >= 0 && (g.nodes[p].kind == KindConv || g.nodes[p].kind == KindDense ||
				g.nodes[p].kind == KindDepthwise || g.nodes[p].kind == KindAdd) &&
				g.nodes[p].tail == src[0] && len(cons[src[0]]) == 1 {
				g.nodes[p].acts = append(g.nodes[p].acts, l)
				g.nodes[p].tail = i
				nodeOf[i] = p
				continue
			}
			n.kind = KindReLU
			if _, ok := l.(*nn.Clip); ok {
				n.kind = KindClip
			}
		case *nn.Dense:
			n.kind = KindDense
		case *nn.Conv2D:
			n.kind = KindConv
			if isDepthwise(l) {
				n.kind = KindDepthwise
			}
		case *nn.Add:
			if len(src) > maxAddInputs {
				return nil, layerErr(i, "add of %d inputs, integer inference takes at most %d", len(src), maxAddInputs)
			}
			n.kind = KindAdd
		case *nn.Concat:
			n.kind = KindConcat
		case *nn.MaxPool2D:
			n.kind = KindMaxPool
		case *nn.GlobalAvgPool:
			n.kind = KindGlobalAvgPool
		case *nn.GlobalMaxPool:
			n.kind = KindGlobalMaxPool
		case *nn.Flatten:
			n.kind = KindFlatten
		case *nn.Reshape:
			n.kind = KindReshape
		case *nn.BatchNorm:
			return nil, layerErr(i, "batchnorm that does not follow a dense or conv2d layer read by nothing else cannot be folded, so it has no integer form")
		default:
			return nil, layerErr(i, "%s has no integer form (integer inference supports dense, conv2d, maxpool2d, globalavgpool, globalmaxpool, add, concat, relu, clip, flatten, reshape, identity, dropout)", l.Spec().Type)
		}
		switch n.kind {
		case KindConv, KindDense, KindDepthwise, KindAdd, KindConcat:
			n.point = g.points
			g.points++
		}
		nodeOf[i] = len(g.nodes)
		g.nodes = append(g.nodes, n)
	}
	last := len(layers) - 1
	out := nodeOf[last]
	if out < 0 || out != len(g.nodes)-1 {
		return nil, layerErr(last, "the network output must be the last computed layer")
	}
	if n := g.nodes[out]; n.kind != KindDense && n.kind != KindConv {
		return nil, layerErr(n.index, "the network must end with a dense or conv2d layer (its int32 accumulators are the logits), not %s", n.kind)
	} else if len(n.acts) > 0 {
		return nil, layerErr(n.tail, "the network must not end with a %s", n.acts[len(n.acts)-1].Spec().Type)
	}
	for _, n := range g.nodes {
		for _, s := range n.srcs {
			if s == out {
				return nil, layerErr(n.index, "reads the logits layer (layers[%d] of the prepared network), whose output is int32", g.nodes[out].index)
			}
		}
	}
	return g, nil
}

// forward runs the nodes on x with pass p, calling at(point, y) at every
// quantization point (the input is point 0) and continuing with the tensor
// it returns. With p.Train it also returns, per node, the backward
// closures of the layer (or merge) and of each fused activation.
func (g *gplan) forward(x *tensor.Dense, p nn.Pass, at func(point int, y *tensor.Dense) (*tensor.Dense, error)) (*tensor.Dense, []gtape, error) {
	x, err := at(0, x)
	if err != nil {
		return nil, nil, err
	}
	outs := make([]*tensor.Dense, len(g.nodes))
	var tape []gtape
	if p.Train {
		tape = make([]gtape, len(g.nodes))
	}
	in := func(s int) *tensor.Dense {
		if s < 0 {
			return x
		}
		return outs[s]
	}
	for i, n := range g.nodes {
		var y *tensor.Dense
		var t gtape
		if m, ok := n.layer.(nn.Merger); ok {
			xs := make([]*tensor.Dense, len(n.srcs))
			for k, s := range n.srcs {
				xs[k] = in(s)
			}
			y, t.merge, err = m.Merge(xs, p)
		} else {
			y, t.back, err = n.layer.Forward(in(n.srcs[0]), p)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("layers[%d]: %w", n.index, err)
		}
		for _, a := range n.acts {
			var b nn.Backward
			if y, b, err = a.Forward(y, p); err != nil {
				return nil, nil, fmt.Errorf("layers[%d]: %w", n.index, err)
			}
			t.acts = append(t.acts, b)
		}
		if n.point >= 0 {
			if y, err = at(n.point, y); err != nil {
				return nil, nil, err
			}
		}
		outs[i] = y
		if p.Train {
			tape[i] = t
		}
	}
	return outs[len(outs)-1], tape, nil
}

// gtape holds one node's backward closures from a training forward pass.
type gtape struct {
	back  nn.Backward
	merge nn.MergeBackward
	acts  []nn.Backward
}

// LayerError is an error about one layer of a network: Index is the
// layer's index in the network given to Prepare, Msg the reason.
type LayerError struct {
	Index int
	Msg   string
}

// Error implements error: "qnn: layers[Index]: Msg".
func (e *LayerError) Error() string { return fmt.Sprintf("qnn: layers[%d]: %s", e.Index, e.Msg) }

// layerErr returns a LayerError for layer i.
func layerErr(i int, format string, args ...any) error {
	return &LayerError{Index: i, Msg: fmt.Sprintf(format, args...)}
}
