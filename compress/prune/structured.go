package prune

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/compressq/compressq/compress/nn"
)

// Norms for structured pruning.
const (
	NormL1 = "l1"
	NormL2 = "l2"
)

// UnitNorms returns the norm (NormL1 or NormL2; "" means L1) of each output
// unit of layer i of net: each row of a Dense weight [out, in], or each
// filter of a Conv2D weight [out, in, kh, kw].
func UnitNorms(net *nn.Network, layer int, norm string) ([]float64, error) {
	ls := net.Layers()
	if layer < 0 || layer >= len(ls) {
		return nil, fmt.Errorf("prune: layer %d out of range [0, %d)", layer, len(ls))
	}
	var w []float32
	var out int
	switch l := ls[layer].(type) {
	case *nn.Dense:
		w, out = l.W.Float32s(), l.Out
	case *nn.Conv2D:
		w, out = l.W.Float32s(), l.OutC
	default:
		return nil, fmt.Errorf("prune: layer %d is %s, want dense or conv2d", layer, l.Spec().Type)
	}
	per := len(w) / out
	norms := make([]float64, out)
	for o := range out {
		var s float64
		for _, v := range w[o*per : (o+1)*per] {
			switch norm {
			case "", NormL1:
				s += math.Abs(float64(v))
			case NormL2:
				s += float64(v) * float64(v)
			default:
				return nil, fmt.Errorf("prune: norm %q, want %q or %q", norm, NormL1, NormL2)
			}
		}
		if norm == NormL2 {
			s = math.Sqrt(s)
		}
		norms[o] = s
	}
	return norms, nil
}

// Structured removes output units — conv filters or dense neurons — from
// the layers given in remove (layer index → fraction of its units to
// remove, in [0, 1)), choosing those of smallest norm (see UnitNorms), and
// returns a new, smaller network: the layers' weights and biases lose those
// rows, a BatchNorm in between loses those channels, and the next Dense or
// Conv2D loses the matching input columns or channels (through a Flatten,
// each removed channel takes its H·W block of features). The network's
// last parametrised layer, whose outputs are the classes, cannot be
// pruned. At least one unit of every layer is kept. net is not changed;
// masks are not carried over (the result is dense).
func Structured(net *nn.Network, remove map[int]float64, norm string) (*nn.Network, error) {
	ls := net.Layers()
	last := -1
	for i, l := range ls {
		switch l.(type) {
		case *nn.Dense, *nn.Conv2D:
			last = i
		}
	}
	if last < 0 {
		return nil, errNoPrunable
	}
	keepOut := make(map[int][]int)
	for layer, frac := range remove {
		if err := checkSparsity(fmt.Sprintf("layer %d structured", layer), frac); err != nil {
			return nil, err
		}
		if layer == last {
			return nil, fmt.Errorf("prune: layer %d produces the network outputs and cannot lose units", layer)
		}
		norms, err := UnitNorms(net, layer, norm)
		if err != nil {
			return nil, err
		}
		k := min(int(math.Round(frac*float64(len(norms)))), len(norms)-1)
		idx := make([]int, len(norms))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(norms[a], norms[b]) })
		kept := slices.Clone(idx[k:])
		slices.Sort(kept)
		keepOut[layer] = kept
	}
	return Shrink(net, keepOut)
}

// Shrink returns a copy of net in which each layer i in keepOut keeps only
// the output units keepOut[i] (sorted, distinct indices), rewiring the
// layers that consume them; see Structured.
func Shrink(net *nn.Network, keepOut map[int][]int) (*nn.Network, error) {
	arch := net.Arch()
	if !arch.IsChain() {
		return nil, fmt.Errorf("prune: structured pruning supports chains of layers only, not graphs with branches or residual connections")
	}
	ls := net.Layers()
	for i, keep := range keepOut {
		if i < 0 || i >= len(ls) {
			return nil, fmt.Errorf("prune: layer %d out of range", i)
		}
		if len(keep) == 0 {
			return nil, fmt.Errorf("prune: layer %d would keep no units", i)
		}
		switch l := ls[i].(type) {
		case *nn.Dense:
			arch.Layers[i].Units = len(keep)
			if err := checkIdx(keep, l.Out); err != nil {
				return nil, fmt.Errorf("prune: layer %d: %w", i, err)
			}
		case *nn.Conv2D:
			arch.Layers[i].Filters = len(keep)
			if err := checkIdx(keep, l.OutC); err != nil {
				return nil, fmt.Errorf("prune: layer %d: %w", i, err)
			}
		default:
			return nil, fmt.Errorf("prune: layer %d is %s, want dense or conv2d", i, l.Spec().Type)
		}
	}
	if err := checkShrinkable(net, keepOut); err != nil {
		return nil, err
	}
	out, err := nn.Build(arch, 0)
	if err != nil {
		return nil, fmt.Errorf("prune: shrunk architecture: %w", err)
	}
	nls := out.Layers()
	var sel []int // kept channels/features of the current activation; nil = all
	for i, l := range ls {
		in := net.LayerInputShape(i)
		switch l := l.(type) {
		case *nn.Dense:
			d := nls[i].(*nn.Dense)
			rows := orAll(keepOut[i], l.Out)
			cols := orAll(sel, l.In)
			copyRows(d.W.Float32s(), l.W.Float32s(), rows, cols, l.In, 1)
			gather(d.B.Float32s(), l.B.Float32s(), rows)
			sel = keepOut[i]
		case *nn.Conv2D:
			c := nls[i].(*nn.Conv2D)
			rows := orAll(keepOut[i], l.OutC)
			chans := orAll(sel, l.InC)
			copyRows(c.W.Float32s(), l.W.Float32s(), rows, chans, l.InC, l.Kernel*l.Kernel)
			gather(c.B.Float32s(), l.B.Float32s(), rows)
			sel = keepOut[i]
		case *nn.BatchNorm:
			b := nls[i].(*nn.BatchNorm)
			ch := orAll(sel, in[0])
			for j, p := range l.Params() {
				gather(b.Params()[j].Value.Float32s(), p.Value.Float32s(), ch)
			}
		case *nn.Flatten:
			if sel != nil && len(in) == 3 {
				hw := in[1] * in[2]
				var f []int
				for _, c := range sel {
					for j := range hw {
						f = append(f, c*hw+j)
					}
				}
				sel = f
			}
		}
	}
	return out, nil
}

// checkShrinkable refuses the layers whose channels Shrink cannot remap:
// a grouped conv2d (its filters read fixed slices of the input channels)
// and a reshape of an activation that has lost channels or features.
func checkShrinkable(net *nn.Network, keepOut map[int][]int) error {
	pruned := false
	for i, l := range net.Layers() {
		switch l := l.(type) {
		case *nn.Conv2D:
			if l.Groups > 1 {
				return fmt.Errorf("prune: layer %d: grouped conv2d is not supported by structured pruning", i)
			}
		case *nn.Reshape:
			if pruned {
				return fmt.Errorf("prune: layer %d: reshape after a pruned layer is not supported by structured pruning", i)
			}
		}
		if _, ok := keepOut[i]; ok {
			pruned = true
		} else if _, ok := l.(*nn.Dense); ok {
			pruned = false
		} else if _, ok := l.(*nn.Conv2D); ok {
			pruned = false
		}
	}
	return nil
}

func checkIdx(keep []int, n int) error {
	for j, k := range keep {
		if k < 0 || k >= n || (j > 0 && k <= keep[j-1]) {
			return fmt.Errorf("kept unit list %v: want sorted distinct indices in [0, %d)", keep, n)
		}
	}
	return nil
}

// orAll returns sel, or 0…n−1 when sel is nil.
func orAll(sel []int, n int) []int {
	if sel != nil {
		return sel
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	return all
}

// copyRows copies from src, shaped [*, inN, inner], the rows and in-indices
// selected into dst, shaped [len(rows), len(ins), inner].
func copyRows(dst, src []float32, rows, ins []int, inN, inner int) {
	o := 0
	for _, r := range rows {
		for _, c := range ins {
			copy(dst[o:o+inner], src[(r*inN+c)*inner:(r*inN+c+1)*inner])
			o += inner
		}
	}
}

// gather sets dst[j] = src[idx[j]].
func gather(dst, src []float32, idx []int) {
	for j, i := range idx {
		dst[j] = src[i]
	}
}
