package nn

import "fmt"

// LayerSummary describes one layer of a network for people and scripts.
type LayerSummary struct {
	// Index is the layer's position; its parameters are "layers.<Index>.…".
	Index int `json:"index"`
	// Type is the LayerSpec type.
	Type string `json:"type"`
	// Inputs are the layer's sources: InputNet (−1) or earlier layers.
	Inputs []int `json:"inputs"`
	// Detail is a short description of the layer's settings, e.g.
	// "3×3 s2 p1 g32" for a conv.
	Detail string `json:"detail,omitempty"`
	// Output is the per-sample output shape.
	Output []int `json:"output"`
	// Params counts the layer's parameters, running statistics included.
	Params int `json:"params"`
	// MACs counts the multiply-accumulates of one sample through a conv2d
	// or dense layer; 0 for the others.
	MACs int64 `json:"macs"`
}

// Summary describes every layer of n in order.
func (n *Network) Summary() []LayerSummary {
	out := make([]LayerSummary, len(n.layers))
	for i, l := range n.layers {
		s := LayerSummary{Index: i, Type: l.Spec().Type, Inputs: n.arch.Sources(i), Output: n.LayerOutputShape(i)}
		for _, p := range l.Params() {
			s.Params += p.Value.Len()
		}
		switch l := l.(type) {
		case *Dense:
			s.MACs = int64(l.In) * int64(l.Out)
			s.Detail = fmt.Sprintf("%d→%d", l.In, l.Out)
		case *Conv2D:
			o := s.Output
			s.MACs = int64(o[0]) * int64(o[1]) * int64(o[2]) * int64(l.InC/l.groups()) * int64(l.Kernel*l.Kernel)
			s.Detail = fmt.Sprintf("%d→%d %d×%d s%d", l.InC, l.OutC, l.Kernel, l.Kernel, l.Stride)
			if p := l.pads(); p.symmetric() {
				s.Detail += fmt.Sprintf(" p%d", p[0])
			} else {
				s.Detail += fmt.Sprintf(" p%v", [4]int(p))
			}
			if g := l.groups(); g > 1 {
				s.Detail += fmt.Sprintf(" g%d", g)
			}
			if d := l.dilation(); d > 1 {
				s.Detail += fmt.Sprintf(" d%d", d)
			}
		case *MaxPool2D, *AvgPool2D:
			sp := l.Spec()
			s.Detail = fmt.Sprintf("%d×%d s%d", sp.Kernel, sp.Kernel, sp.stride())
		}
		out[i] = s
	}
	return out
}

// MACs returns the multiply-accumulates of one sample through the network's
// conv2d and dense layers.
func (n *Network) MACs() int64 {
	var total int64
	for _, s := range n.Summary() {
		total += s.MACs
	}
	return total
}
