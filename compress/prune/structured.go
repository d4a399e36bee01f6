package prune

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/compressq/compressq/compress/nn"
)

// Norms for structured pruning.
const (
	NormL1 = "l1"
	NormL2 = "l2"
)

// UnitNorms returns the norm (NormL1 or NormL2; "" means L1) of each output
// unit of layer i of net: each row of a Dense weight [out, in], or each
// filter of a Conv2D weight [out, in/groups, kh, kw].
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
// returns a new, physically smaller network. It works on any graph; a chain
// is the special case.
//
// Units are coupled through the graph (see StructuredGroups): a dense layer
// or a conv2d creates units; batch norm, activations, dropout, identity,
// pooling (global pooling included) and a depthwise conv2d (groups = input
// channels; its filters for input channel c go with c) carry them through;
// add ties channel i of all its inputs into one unit; concat lays its
// inputs' units side by side; flatten of [C, H, W] maps channel c to its
// block of H·W features, and so does a reshape whose output channels each
// lie within one input channel (a flatten, or [C, 1, 1] ↔ [C]). A tied set
// of layers loses its units together: each unit ranked by the sum of its
// producers' norms, and the set loses round(f·n) of its n units, where f is
// the largest fraction remove gives any layer of the set (at least one unit
// of every layer is kept). A grouped (non-depthwise) conv2d loses
// round(f·n/groups) filters from each group, and only when its channels are
// tied to no other layer's. Units that reach the network output, a
// softmax, a grouped conv2d's input or a reshape that mixes channels, or
// that are tied to the network input, cannot be removed; asking for them is
// an error naming the layer that fixes them.
//
// Every affected layer is rebuilt with its kept input and output channels
// and the kept weights, biases and batch-norm statistics copied; layer
// indices and Inputs are unchanged. net is not changed; masks are not
// carried over (the result is dense).
func Structured(net *nn.Network, remove map[int]float64, norm string) (*nn.Network, error) {
	if norm != "" && norm != NormL1 && norm != NormL2 {
		return nil, fmt.Errorf("prune: norm %q, want %q or %q", norm, NormL1, NormL2)
	}
	c, err := analyze(net)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(c.prod, func(s int) bool { return s >= 0 }) {
		return nil, errNoPrunable
	}
	frac := map[int]float64{} // cluster → fraction
	for _, i := range sortedKeys(remove) {
		if err := checkSparsity(fmt.Sprintf("layer %d structured", i), remove[i]); err != nil {
			return nil, err
		}
		if err := c.prunable(i); err != nil {
			return nil, err
		}
		cl := c.cluster(c.prod[i])
		frac[cl] = max(frac[cl], remove[i])
	}
	norms := map[int][]float64{}
	for i, s := range c.prod {
		if s >= 0 && frac[c.cluster(s)] > 0 {
			if norms[s], err = UnitNorms(net, i, norm); err != nil {
				return nil, err
			}
		}
	}
	removed := make([]bool, len(c.parent)) // by root unit
	for cl, f := range frac {
		c.choose(cl, f, norms, removed)
	}
	return c.rebuild(net, removed)
}

// Shrink returns a copy of net in which each layer i in keepOut keeps only
// the output units keepOut[i] (sorted, distinct indices), rewiring every
// layer that reads them; see Structured for how units are coupled. Layers
// whose units are tied must be given the same kept units (a tied layer left
// out of keepOut keeps all of its units, so it conflicts with any removal).
func Shrink(net *nn.Network, keepOut map[int][]int) (*nn.Network, error) {
	c, err := analyze(net)
	if err != nil {
		return nil, err
	}
	removed := make([]bool, len(c.parent))
	by := map[int][2]int{} // removed root → (layer, unit) that removed it
	for _, i := range sortedKeys(keepOut) {
		keep := keepOut[i]
		if i < 0 || i >= len(c.layers) {
			return nil, fmt.Errorf("prune: layer %d out of range [0, %d)", i, len(c.layers))
		}
		if len(keep) == 0 {
			return nil, fmt.Errorf("prune: layer %d would keep no units", i)
		}
		if err := c.producer(i); err != nil {
			return nil, err
		}
		s := c.spaces[c.prod[i]]
		if err := checkIdx(keep, s.n); err != nil {
			return nil, fmt.Errorf("prune: layer %d: %w", i, err)
		}
		if s.groups > 1 {
			per := s.n / s.groups
			for g := range s.groups {
				lo, _ := slices.BinarySearch(keep, g*per)
				hi, _ := slices.BinarySearch(keep, (g+1)*per)
				if hi-lo != len(keep)/s.groups || len(keep)%s.groups != 0 {
					return nil, fmt.Errorf("prune: layer %d: a grouped conv2d (%d groups of %d filters) must keep as many filters in each group; group %d keeps %d of %d kept",
						i, s.groups, per, g, hi-lo, len(keep))
				}
			}
		}
		for u := range s.n {
			if _, ok := slices.BinarySearch(keep, u); ok {
				continue
			}
			r := c.find(s.first + u)
			if c.fixed[r] != nil {
				return nil, c.fixedErr(i, r)
			}
			removed[r] = true
			if _, ok := by[r]; !ok {
				by[r] = [2]int{i, u}
			}
		}
	}
	// Every producer must agree with what its tied layers removed.
	for j, s := range c.prod {
		if s < 0 {
			continue
		}
		sp := c.spaces[s]
		for u := range sp.n {
			r := c.find(sp.first + u)
			if !removed[r] {
				continue
			}
			_, listed := keepOut[j]
			if _, kept := slices.BinarySearch(keepOut[j], u); !listed || kept {
				rb := by[r]
				return nil, fmt.Errorf("prune: layer %d removes unit %d, which is tied (through add) to unit %d of layer %d, kept: give tied layers the same kept units",
					rb[0], rb[1], u, j)
			}
		}
	}
	return c.rebuild(net, removed)
}

// StructuredGroups returns the layers of net whose output units Structured
// can remove, as tied sets: the layers of one set lose the same units
// together (add ties them, directly or through concat). Sets are ordered by
// their first layer, layers within a set increasingly.
func StructuredGroups(net *nn.Network) ([][]int, error) {
	c, err := analyze(net)
	if err != nil {
		return nil, err
	}
	byCluster := map[int][]int{}
	var order []int
	for i, s := range c.prod {
		if s < 0 || c.prunable(i) != nil {
			continue
		}
		cl := c.cluster(s)
		if _, ok := byCluster[cl]; !ok {
			order = append(order, cl)
		}
		byCluster[cl] = append(byCluster[cl], i)
	}
	sets := make([][]int, len(order))
	for k, cl := range order {
		sets[k] = byCluster[cl]
	}
	return sets, nil
}

// fixReason records which layer makes units unremovable and why.
type fixReason struct {
	layer int // the fixing layer; -1 for the network input
	why   string
}

// space is a run of units created together: the outputs of a dense layer or
// an ungrouped conv2d, the network input's channels, or the channels of a
// layer whose outputs are fixed.
type space struct {
	layer    int // creating layer; -1 for the network input
	first, n int // its units are first … first+n−1
	groups   int // a grouped conv2d's groups, each losing as many units; else 0
}

// channels is the channel-coupling analysis of a network. Every tensor (the
// network input and each layer's output) lists, for each index of its first
// per-sample axis (channel or feature), the unit it carries; units tied by
// add are merged in a union-find.
type channels struct {
	layers []nn.Layer
	srcs   [][]int
	// refs[t] holds the units of tensor t: t = 0 the network input, t = i+1
	// layer i's output.
	refs    [][]int
	parent  []int        // union-find over units
	fixed   []*fixReason // by root unit: why its units cannot be removed
	space   []int        // unit → its space
	spaces  []space
	prod    []int // layer → the space of units it produces, or −1
	sparent []int // union-find over spaces: spaces sharing a unit
}

// analyze builds the channel-coupling analysis of net.
func analyze(net *nn.Network) (*channels, error) {
	a := net.Arch()
	shapes, err := a.Shapes()
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	c := &channels{layers: net.Layers(), refs: make([][]int, len(a.Layers)+1), prod: make([]int, len(a.Layers))}
	c.refs[0] = c.newSpace(-1, shapes[0][0], &fixReason{layer: -1, why: "the network input"})
	for i, l := range c.layers {
		src := a.Sources(i)
		c.srcs = append(c.srcs, src)
		in, inShape := c.refs[src[0]+1], shapes[src[0]+1]
		fixIn := func(why string) *fixReason {
			r := &fixReason{layer: i, why: why}
			c.fix(in, r)
			return r
		}
		c.prod[i] = -1
		var out []int
		switch l := l.(type) {
		case *nn.Dense:
			out = c.produce(i, l.Out)
		case *nn.Conv2D:
			switch g := max(1, l.Groups); {
			case g == 1:
				out = c.produce(i, l.OutC)
			case g == l.InC: // depthwise: output o reads input channel o/m
				m := l.OutC / g
				out = make([]int, l.OutC)
				for o := range out {
					out[o] = in[o/m]
				}
			default: // grouped: each group must keep as many channels as the others
				fixIn("the input channels of a grouped conv2d cannot be removed (every group would have to lose as many)")
				out = c.produce(i, l.OutC)
				c.spaces[c.prod[i]].groups = g
			}
		case *nn.Add:
			for _, s := range src[1:] {
				for k, u := range c.refs[s+1] {
					c.union(in[k], u)
				}
			}
			out = in
		case *nn.Concat:
			for _, s := range src {
				out = append(out, c.refs[s+1]...)
			}
		case *nn.Flatten:
			rep := 1
			for _, d := range inShape[1:] {
				rep *= d
			}
			out = make([]int, 0, len(in)*rep)
			for _, u := range in {
				for range rep {
					out = append(out, u)
				}
			}
		case *nn.Reshape:
			// Row-major order is kept: when each output channel lies
			// within one input channel (a flatten, or [C,1,1] ↔ [C]), it
			// carries that channel's unit; otherwise channels are mixed.
			pin, pout := prod(inShape[1:]), prod(shapes[i+1][1:])
			if pout == 0 || pin%pout != 0 {
				out = c.newSpace(i, shapes[i+1][0], fixIn("a reshape that splits channels across its output channels is not supported by structured pruning"))
				break
			}
			out = make([]int, shapes[i+1][0])
			for o := range out {
				out[o] = in[o/(pin/pout)]
			}
		case *nn.SoftmaxLayer:
			fixIn("softmax after a pruned layer is not supported by structured pruning (it normalizes over all features)")
			out = in
		case *nn.BatchNorm, *nn.ReLU, *nn.Clip, *nn.LeakyReLU, *nn.Sigmoid, *nn.Tanh, *nn.HardSwish, *nn.HardSigmoid,
			*nn.Identity, *nn.Dropout, *nn.MaxPool2D, *nn.AvgPool2D, *nn.GlobalAvgPool, *nn.GlobalMaxPool:
			out = in
		default:
			out = c.newSpace(i, shapes[i+1][0], fixIn(l.Spec().Type+" is not supported by structured pruning"))
		}
		if len(out) != shapes[i+1][0] {
			return nil, fmt.Errorf("prune: layer %d (%s): %d channels traced, shape %v", i, l.Spec().Type, len(out), shapes[i+1])
		}
		c.refs[i+1] = out
	}
	last := len(c.layers) - 1
	c.fix(c.refs[last+1], &fixReason{layer: last, why: "its outputs are the network outputs, which cannot lose units"})
	c.sparent = make([]int, len(c.spaces))
	for s := range c.sparent {
		c.sparent[s] = s
	}
	for u := range c.parent {
		a, b := c.sfind(c.space[u]), c.sfind(c.space[c.find(u)])
		c.sparent[max(a, b)] = min(a, b)
	}
	// A grouped conv2d loses as many channels from each group; tied to
	// other layers' channels (through add or a depthwise conv) it cannot
	// promise that, and one fixed channel fixes them all.
	for s, sp := range c.spaces {
		if sp.groups <= 1 {
			continue
		}
		units := make([]int, sp.n)
		var fixed *fixReason
		for k := range units {
			units[k] = sp.first + k
			if f := c.fixed[c.find(units[k])]; fixed == nil {
				fixed = f
			}
		}
		if slices.ContainsFunc(c.spaces, func(o space) bool { return o != sp && c.sfind(c.space[o.first]) == c.sfind(s) }) {
			fixed = &fixReason{layer: sp.layer, why: "a grouped conv2d whose channels are tied to other layers' (through add or a depthwise conv) is not supported by structured pruning"}
		}
		if fixed != nil {
			c.fix(units, fixed)
		}
	}
	return c, nil
}

// newSpace allocates n units created by layer (−1: the network input),
// fixed for reason fix if not nil, and returns them.
func (c *channels) newSpace(layer, n int, fix *fixReason) []int {
	s := space{layer: layer, first: len(c.parent), n: n}
	units := make([]int, n)
	for k := range units {
		units[k] = s.first + k
		c.parent = append(c.parent, s.first+k)
		c.fixed = append(c.fixed, fix)
		c.space = append(c.space, len(c.spaces))
	}
	c.spaces = append(c.spaces, s)
	return units
}

// produce allocates the prunable units of dense or (non-depthwise) conv
// layer i.
func (c *channels) produce(i, n int) []int {
	c.prod[i] = len(c.spaces)
	return c.newSpace(i, n, nil)
}

func (c *channels) find(u int) int {
	for c.parent[u] != u {
		c.parent[u] = c.parent[c.parent[u]]
		u = c.parent[u]
	}
	return u
}

// union ties units a and b; the root is the smaller unit, and a fixed reason
// carries over.
func (c *channels) union(a, b int) {
	ra, rb := c.find(a), c.find(b)
	if ra == rb {
		return
	}
	if rb < ra {
		ra, rb = rb, ra
	}
	c.parent[rb] = ra
	if c.fixed[ra] == nil {
		c.fixed[ra] = c.fixed[rb]
	}
}

// fix marks units unremovable (keeping an earlier reason).
func (c *channels) fix(units []int, r *fixReason) {
	for _, u := range units {
		if ru := c.find(u); c.fixed[ru] == nil {
			c.fixed[ru] = r
		}
	}
}

func (c *channels) sfind(s int) int {
	for c.sparent[s] != s {
		c.sparent[s] = c.sparent[c.sparent[s]]
		s = c.sparent[s]
	}
	return s
}

// cluster returns the tied set of space s: the spaces that share a unit
// with it, directly or not.
func (c *channels) cluster(s int) int { return c.sfind(s) }

// producer checks that layer i creates units: a dense layer or a conv2d
// that is not depthwise.
func (c *channels) producer(i int) error {
	if i < 0 || i >= len(c.layers) {
		return fmt.Errorf("prune: layer %d out of range [0, %d)", i, len(c.layers))
	}
	if c.prod[i] >= 0 {
		return nil
	}
	switch l := c.layers[i].(type) {
	case *nn.Conv2D:
		return fmt.Errorf("prune: layer %d: a depthwise conv2d's channels follow its input; prune the layer that produces them", i)
	default:
		return fmt.Errorf("prune: layer %d is %s, want dense or conv2d", i, l.Spec().Type)
	}
}

// prunable checks that layer i creates units of which at least one can be
// removed.
func (c *channels) prunable(i int) error {
	if err := c.producer(i); err != nil {
		return err
	}
	s := c.spaces[c.prod[i]]
	for u := range s.n {
		if c.fixed[c.find(s.first+u)] == nil {
			return nil
		}
	}
	return c.fixedErr(i, c.find(s.first))
}

// fixedErr explains why layer i cannot lose the unit with root r.
func (c *channels) fixedErr(i, r int) error {
	f := c.fixed[r]
	switch {
	case f.layer < 0:
		return fmt.Errorf("prune: layer %d: its units are tied (through add) to the network input's channels, which cannot be removed", i)
	case f.layer == i:
		return fmt.Errorf("prune: layer %d: %s", i, f.why)
	}
	return fmt.Errorf("prune: layer %d: %s (it fixes the units of layer %d)", f.layer, f.why, i)
}

// choose marks as removed (by root unit) round(f·n) of the n removable units
// of cluster cl, those whose producers' norms sum lowest, keeping at least
// one unit of every producer.
func (c *channels) choose(cl int, f float64, norms map[int][]float64, removed []bool) {
	score := map[int]float64{}
	var units []int // roots, in order of first appearance
	for u := range c.parent {
		s := c.space[u]
		if c.cluster(s) != cl {
			continue
		}
		r := c.find(u)
		if c.fixed[r] != nil {
			continue
		}
		if _, ok := score[r]; !ok {
			units = append(units, r)
			score[r] = 0
		}
		if ns := norms[s]; ns != nil {
			score[r] += ns[u-c.spaces[s].first]
		}
	}
	n := len(units)
	if n == 0 {
		return
	}
	if sp := c.spaces[c.space[units[0]]]; sp.groups > 1 {
		// Alone in its cluster and wholly removable (see analyze): each
		// group loses its round(f·n/groups) lowest, keeping one.
		per := sp.n / sp.groups
		k := min(int(math.Round(f*float64(per))), per-1)
		for g := range sp.groups {
			order := slices.Clone(units[g*per : (g+1)*per])
			slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(score[a], score[b]) })
			for _, r := range order[:k] {
				removed[r] = true
			}
		}
		return
	}
	k := min(int(math.Round(f*float64(n))), n-1)
	order := slices.Clone(units)
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(score[a], score[b]) })
	for _, r := range order[:k] {
		removed[r] = true
	}
	// A producer that lost every unit keeps its best one.
	for s, sp := range c.spaces {
		if sp.layer < 0 || c.prod[sp.layer] != s || c.cluster(s) != cl {
			continue
		}
		best := -1
		for u := range sp.n {
			r := c.find(sp.first + u)
			if !removed[r] {
				best = -1
				break
			}
			if best < 0 || score[r] > score[best] {
				best = r
			}
		}
		if best >= 0 {
			removed[best] = false
		}
	}
}

// kept returns the indices of tensor t's channels that stay.
func (c *channels) kept(t int, removed []bool) []int {
	var k []int
	for j, u := range c.refs[t] {
		if !removed[c.find(u)] {
			k = append(k, j)
		}
	}
	return k
}

// rebuild returns net with the removed units (by root) taken out of every
// layer, weights copied.
func (c *channels) rebuild(net *nn.Network, removed []bool) (*nn.Network, error) {
	arch := net.Arch()
	for i, l := range c.layers {
		out := len(c.kept(i+1, removed))
		switch l := l.(type) {
		case *nn.Dense:
			arch.Layers[i].Units = out
		case *nn.Conv2D:
			arch.Layers[i].Filters = out
			if g := max(1, l.Groups); g > 1 && g == l.InC {
				arch.Layers[i].Groups = len(c.kept(c.srcs[i][0]+1, removed))
			}
		case *nn.Reshape:
			if l.Shape[0] > 0 { // −1 is inferred
				arch.Layers[i].Shape[0] = out
			}
		}
	}
	small, err := nn.Build(arch, 0)
	if err != nil {
		return nil, fmt.Errorf("prune: shrunk architecture: %w", err)
	}
	nls := small.Layers()
	for i, l := range c.layers {
		rows, ins := c.kept(i+1, removed), c.kept(c.srcs[i][0]+1, removed)
		var err error
		switch l := l.(type) {
		case *nn.Dense:
			d := nls[i].(*nn.Dense)
			err = copyRows(d.W.Float32s(), l.W.Float32s(), rows, ins, l.In, 1)
			gather(d.B.Float32s(), l.B.Float32s(), rows)
		case *nn.Conv2D:
			d := nls[i].(*nn.Conv2D)
			inN := l.InC / max(1, l.Groups)
			if l.Groups > 1 { // depthwise (one input channel per filter) or fixed
				ins = all(inN)
			}
			err = copyRows(d.W.Float32s(), l.W.Float32s(), rows, ins, inN, l.Kernel*l.Kernel)
			gather(d.B.Float32s(), l.B.Float32s(), rows)
		case *nn.BatchNorm:
			b := nls[i].(*nn.BatchNorm)
			for j, p := range l.Params() {
				gather(b.Params()[j].Value.Float32s(), p.Value.Float32s(), ins)
			}
		default:
			if len(l.Params()) > 0 {
				err = fmt.Errorf("%s has parameters structured pruning cannot remap", l.Spec().Type)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("prune: layer %d: %w", i, err)
		}
	}
	return small, nil
}

func checkIdx(keep []int, n int) error {
	for j, k := range keep {
		if k < 0 || k >= n || (j > 0 && k <= keep[j-1]) {
			return fmt.Errorf("kept unit list %v: want sorted distinct indices in [0, %d)", keep, n)
		}
	}
	return nil
}

// all returns 0…n−1.
func all(n int) []int {
	a := make([]int, n)
	for i := range a {
		a[i] = i
	}
	return a
}

// copyRows copies from src, shaped [*, inN, inner], the rows and in-indices
// selected into dst, shaped [len(rows), len(ins), inner].
func copyRows(dst, src []float32, rows, ins []int, inN, inner int) error {
	if len(dst) != len(rows)*len(ins)*inner {
		return fmt.Errorf("weight of %d values for %d×%d×%d kept", len(dst), len(rows), len(ins), inner)
	}
	o := 0
	for _, r := range rows {
		for _, c := range ins {
			copy(dst[o:o+inner], src[(r*inN+c)*inner:(r*inN+c+1)*inner])
			o += inner
		}
	}
	return nil
}

// gather sets dst[j] = src[idx[j]].
func gather(dst, src []float32, idx []int) {
	for j, i := range idx {
		dst[j] = src[i]
	}
}

// sortedKeys returns m's keys in increasing order.
func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

// prod is the product of dims (1 for none).
func prod(dims []int) int {
	p := 1
	for _, d := range dims {
		p *= d
	}
	return p
}
