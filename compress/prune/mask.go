package prune

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/compressq/compressq/compress/nn"
	"gorgonia.org/tensor"
)

// Weights returns the names of the prunable parameters of net: the weight
// of every Dense and Conv2D layer, in layer order.
func Weights(net *nn.Network) []string {
	var names []string
	for i, l := range net.Layers() {
		switch l.(type) {
		case *nn.Dense, *nn.Conv2D:
			names = append(names, fmt.Sprintf("layers.%d.weight", i))
		}
	}
	return names
}

// param returns the named parameter or an error naming it.
func param(net *nn.Network, name string) (nn.Param, error) {
	p, ok := net.Param(name)
	if !ok {
		return nn.Param{}, fmt.Errorf("prune: no parameter %q", name)
	}
	return p, nil
}

func checkSparsity(what string, s float64) error {
	if !(s >= 0 && s < 1) {
		return fmt.Errorf("prune: %s sparsity %v, want in [0, 1)", what, s)
	}
	return nil
}

// setMask builds the 0/1 mask of keep and attaches it to the parameter.
func setMask(net *nn.Network, p nn.Param, keep func(i int) bool) error {
	m := make([]float32, p.Value.Len())
	for i := range m {
		if keep(i) {
			m[i] = 1
		}
	}
	return net.SetMask(p.Name, tensor.New(tensor.WithShape(p.Value.Shape()...), tensor.WithBacking(m)))
}

// magnitudes returns |w| elementwise.
func magnitudes(w []float32) []float32 {
	m := make([]float32, len(w))
	for i, v := range w {
		m[i] = float32(math.Abs(float64(v)))
	}
	return m
}

// keepTop returns a keep predicate over values that keeps the len−k entries
// of largest magnitude (ties broken by index, so exactly k are pruned).
func keepTop(mags []float32, k int) func(int) bool {
	idx := make([]int, len(mags))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(mags[a], mags[b]) })
	pruned := make([]bool, len(mags))
	for _, i := range idx[:k] {
		pruned[i] = true
	}
	return func(i int) bool { return !pruned[i] }
}

// Magnitude prunes each named parameter to its own sparsity (the fraction
// of its entries set to zero): the entries of smallest magnitude are masked.
// Already-masked entries are zero, so they are pruned first and masks only
// grow. Sparsities must be in [0, 1).
func Magnitude(net *nn.Network, sparsity map[string]float64) error {
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range sparsity {
			if !yield(k) {
				return
			}
		}
	})
	for _, name := range names {
		s := sparsity[name]
		if err := checkSparsity(name, s); err != nil {
			return err
		}
		p, err := param(net, name)
		if err != nil {
			return err
		}
		w := p.Value.Float32s()
		k := int(math.Round(s * float64(len(w))))
		if err := setMask(net, p, keepTop(magnitudes(w), k)); err != nil {
			return fmt.Errorf("prune: %w", err)
		}
	}
	return nil
}

// Global prunes the named parameters (all of Weights(net) when names is
// empty) with one magnitude threshold, so that sparsity of their entries
// taken together are zero; how much each layer loses follows from its weight
// magnitudes.
func Global(net *nn.Network, sparsity float64, names ...string) error {
	if err := checkSparsity("global", sparsity); err != nil {
		return err
	}
	if len(names) == 0 {
		names = Weights(net)
	}
	var all []float32
	ps := make([]nn.Param, len(names))
	for li, name := range names {
		p, err := param(net, name)
		if err != nil {
			return err
		}
		ps[li] = p
		all = append(all, magnitudes(p.Value.Float32s())...)
	}
	k := int(math.Round(sparsity * float64(len(all))))
	keep := keepTop(all, k)
	off := 0
	for _, p := range ps {
		base := off
		if err := setMask(net, p, func(i int) bool { return keep(base + i) }); err != nil {
			return fmt.Errorf("prune: %w", err)
		}
		off += p.Value.Len()
	}
	return nil
}

// NM sets N:M masks on the named parameters (all of Weights(net) when
// names is empty): in every group of m consecutive weights along the input
// dimension of an output (a Dense row, or a Conv2D filter flattened as
// in·kh·kw), the n of largest magnitude are kept. NM(net, 2, 4) gives the
// 2:4 pattern of sparse.NM24. A row length not divisible by m leaves a
// shorter last group, which keeps at most n.
func NM(net *nn.Network, n, m int, names ...string) error {
	if n < 1 || m < 2 || n >= m {
		return fmt.Errorf("prune: N:M %d:%d, want 1 ≤ N < M", n, m)
	}
	if len(names) == 0 {
		names = Weights(net)
	}
	for _, name := range names {
		p, err := param(net, name)
		if err != nil {
			return err
		}
		sh := p.Value.Shape()
		rowLen := p.Value.Len() / sh[0]
		w := p.Value.Float32s()
		keep := make([]bool, len(w))
		for r := range sh[0] {
			for g := 0; g < rowLen; g += m {
				end := min(g+m, rowLen)
				grp := make([]int, 0, m)
				for i := r*rowLen + g; i < r*rowLen+end; i++ {
					grp = append(grp, i)
				}
				slices.SortStableFunc(grp, func(a, b int) int {
					return cmp.Compare(math.Abs(float64(w[b])), math.Abs(float64(w[a])))
				})
				for _, i := range grp[:min(n, len(grp))] {
					keep[i] = true
				}
			}
		}
		if err := setMask(net, p, func(i int) bool { return keep[i] }); err != nil {
			return fmt.Errorf("prune: %w", err)
		}
	}
	return nil
}

// Stats counts the parameters of a network.
type Stats struct {
	// Params is every scalar parameter, running statistics included.
	Params int
	// Weights is the entries of the prunable weights (Weights(net)).
	Weights int
	// NonzeroParams and NonzeroWeights count the entries that are not zero.
	NonzeroParams, NonzeroWeights int
	// PerLayer is the sparsity (fraction of zeros) of each prunable weight.
	PerLayer map[string]float64
}

// Count returns the parameter counts of net.
func Count(net *nn.Network) Stats {
	st := Stats{PerLayer: map[string]float64{}}
	ws := Weights(net)
	for _, p := range net.Params() {
		v := p.Value.Float32s()
		nz := 0
		for _, x := range v {
			if x != 0 {
				nz++
			}
		}
		st.Params += len(v)
		st.NonzeroParams += nz
		if slices.Contains(ws, p.Name) {
			st.Weights += len(v)
			st.NonzeroWeights += nz
			st.PerLayer[p.Name] = 1 - float64(nz)/float64(max(len(v), 1))
		}
	}
	return st
}

// errNoPrunable is returned when a network has no Dense or Conv2D layer.
var errNoPrunable = errors.New("prune: network has no prunable layer")
