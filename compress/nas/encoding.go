package nas

import (
	"errors"
	"fmt"
	"slices"
)

// ErrNoFeasible is returned when no candidate satisfying the constraints
// could be drawn.
var ErrNoFeasible = errors.New("nas: no feasible candidate found")

// Genes is a genome encoded as one choice index per slot of a space:
//
//	[conv depth, conv channels ×M, conv kernels ×M, dense depth,
//	 dense widths ×D, activation, sparsity, weight bits, k-means bits]
//
// where M and D are the space's largest conv and dense depths. Slots of
// layers beyond the chosen depth are 0 in canonical form, so each genome
// has exactly one canonical encoding.
type Genes []int

// layout gives the slot offsets of a space's encoding.
type layout struct {
	m, d                                 int // max conv depth, max dense depth
	convDepth, convCh, convK, denseDepth int
	denseW, act, sparsity, wbits, kmbits int
	n                                    int
}

func (s Space) layout() layout {
	var l layout
	l.m, l.d = slices.Max(s.Conv.Depth), slices.Max(s.Dense.Depth)
	l.convDepth = 0
	l.convCh = 1
	l.convK = l.convCh + l.m
	l.denseDepth = l.convK + l.m
	l.denseW = l.denseDepth + 1
	l.act = l.denseW + l.d
	l.sparsity, l.wbits, l.kmbits = l.act+1, l.act+2, l.act+3
	l.n = l.act + 4
	return l
}

// radix returns the number of choices of every slot.
func (s Space) radix() []int {
	l := s.layout()
	r := make([]int, l.n)
	r[l.convDepth] = len(s.Conv.Depth)
	for i := range l.m {
		r[l.convCh+i], r[l.convK+i] = len(s.Conv.Channels), len(s.Conv.Kernels)
	}
	r[l.denseDepth] = len(s.Dense.Depth)
	for i := range l.d {
		r[l.denseW+i] = len(s.Dense.Widths)
	}
	r[l.act], r[l.sparsity] = len(s.Activations), len(s.Compression.Sparsity)
	r[l.wbits], r[l.kmbits] = len(s.Compression.WeightBits), len(s.Compression.KMeansBits)
	return r
}

// active reports whether slot i is used by genes (a layer slot within the
// chosen depth, or any non-layer slot).
func (s Space) active(l layout, g Genes, i int) bool {
	switch {
	case i >= l.convCh && i < l.convK:
		return i-l.convCh < s.Conv.Depth[g[l.convDepth]]
	case i >= l.convK && i < l.denseDepth:
		return i-l.convK < s.Conv.Depth[g[l.convDepth]]
	case i >= l.denseW && i < l.act:
		return i-l.denseW < s.Dense.Depth[g[l.denseDepth]]
	}
	return true
}

// canonical zeroes the inactive slots of g in place and returns it.
func (s Space) canonical(g Genes) Genes {
	l := s.layout()
	for i := range g {
		if !s.active(l, g, i) {
			g[i] = 0
		}
	}
	return g
}

// Decode returns the genome that genes encode in s.
func (s Space) Decode(g Genes) (Genome, error) {
	l := s.layout()
	r := s.radix()
	if len(g) != l.n {
		return Genome{}, fmt.Errorf("genes: %d slots, want %d", len(g), l.n)
	}
	for i, v := range g {
		if v < 0 || v >= r[i] {
			return Genome{}, fmt.Errorf("genes[%d]: %d, want in [0, %d)", i, v, r[i])
		}
	}
	gn := Genome{Conv: []ConvGene{}, Dense: []int{}}
	for i := range s.Conv.Depth[g[l.convDepth]] {
		gn.Conv = append(gn.Conv, ConvGene{Channels: s.Conv.Channels[g[l.convCh+i]], Kernel: s.Conv.Kernels[g[l.convK+i]]})
	}
	for i := range s.Dense.Depth[g[l.denseDepth]] {
		gn.Dense = append(gn.Dense, s.Dense.Widths[g[l.denseW+i]])
	}
	gn.Activation = s.Activations[g[l.act]]
	gn.Compression = Compression{
		Sparsity:   s.Compression.Sparsity[g[l.sparsity]],
		WeightBits: s.Compression.WeightBits[g[l.wbits]],
		KMeansBits: s.Compression.KMeansBits[g[l.kmbits]],
	}
	return gn, nil
}

// Candidate is a decoded, feasible point of a space with its network and
// size.
type Candidate struct {
	// Genes is the canonical encoding in the space (empty in a space of
	// Params).
	Genes Genes `json:"genes"`
	// Values is the point of a space of Params that gave the genome and
	// the training hyperparameters (see Training); nil otherwise.
	Values Values `json:"values,omitempty"`
	// Genome is the decoded point; Hash its identity.
	Genome Genome `json:"genome"`
	Hash   string `json:"hash"`
	// Params and Bytes are SizeOf and EstimateBytes of the candidate (of a
	// policy: the base model's parameters and PolicySpace.Cost); MACs is
	// set for a policy, the multiply-accumulates per sample of its kept
	// weights.
	Params int   `json:"params"`
	Bytes  int   `json:"bytes"`
	MACs   int64 `json:"macs,omitempty"`
}

// Candidate decodes genes, builds and validates the architecture, and checks
// the constraints. The error wraps ErrInfeasible when a constraint fails.
func (s Space) Candidate(g Genes) (Candidate, error) {
	g = s.canonical(slices.Clone(g))
	gn, err := s.Decode(g)
	if err != nil {
		return Candidate{}, err
	}
	a, err := s.Arch(gn)
	if err != nil {
		return Candidate{}, fmt.Errorf("%w: %w", ErrInfeasible, err)
	}
	z, err := SizeOf(a)
	if err != nil {
		return Candidate{}, err
	}
	c := Candidate{Genes: g, Genome: gn, Hash: gn.Hash(), Params: z.Params, Bytes: EstimateBytes(z, gn.Compression)}
	if m := s.Constraints.MaxParams; m > 0 && c.Params > m {
		return Candidate{}, fmt.Errorf("%w: %d params > max_params %d", ErrInfeasible, c.Params, m)
	}
	if m := s.Constraints.MaxBytes; m > 0 && c.Bytes > m {
		return Candidate{}, fmt.Errorf("%w: %d bytes > max_bytes %d", ErrInfeasible, c.Bytes, m)
	}
	return c, nil
}

// ErrInfeasible is wrapped by Space.Candidate for genomes that break a
// constraint or whose layers do not fit the input.
var ErrInfeasible = errors.New("infeasible")

// maxDraws bounds the attempts to draw a feasible or new candidate.
const maxDraws = 1000

// randomGenes draws every slot uniformly, in canonical form.
func (s Space) randomGenes(r *rng) Genes {
	rad := s.radix()
	g := make(Genes, len(rad))
	for i, n := range rad {
		g[i] = r.intn(n)
	}
	return s.canonical(g)
}

// sample draws a feasible candidate for which skip (if not nil) is false.
func (s Space) sample(r *rng, skip func(hash string) bool) (Candidate, error) {
	if s.Params != nil {
		return s.sampleParams(r, skip)
	}
	for range maxDraws {
		g := s.randomGenes(r)
		if skip != nil {
			gn, err := s.Decode(g)
			if err != nil {
				return Candidate{}, err
			}
			if skip(gn.Hash()) {
				continue
			}
		}
		c, err := s.Candidate(g)
		if err != nil {
			if errors.Is(err, ErrInfeasible) {
				continue
			}
			return Candidate{}, err
		}
		return c, nil
	}
	return Candidate{}, ErrNoFeasible
}

// mutateGenes changes one active slot (with more than one choice) to a
// different choice. When a depth grows, the newly active layer slots are
// drawn at random. The result is canonical.
func (s Space) mutateGenes(r *rng, parent Genes) Genes {
	l, rad := s.layout(), s.radix()
	g := slices.Clone(parent)
	var slots []int
	for i := range g {
		if rad[i] > 1 && s.active(l, g, i) {
			slots = append(slots, i)
		}
	}
	if len(slots) == 0 {
		return g
	}
	i := slots[r.intn(len(slots))]
	v := r.intn(rad[i] - 1)
	if v >= g[i] {
		v++
	}
	g[i] = v
	if i == l.convDepth || i == l.denseDepth {
		for j := range g {
			if j != i && s.active(l, g, j) && !s.active(l, parent, j) {
				g[j] = r.intn(rad[j])
			}
		}
	}
	return s.canonical(g)
}

// crossGenes takes every slot from a or b with equal probability.
func (s Space) crossGenes(r *rng, a, b Genes) Genes {
	g := slices.Clone(a)
	for i := range g {
		if r.intn(2) == 1 {
			g[i] = b[i]
		}
	}
	return s.canonical(g)
}

// sampleParams draws points of s.Params uniformly until one is feasible and
// not skipped.
func (s Space) sampleParams(r *rng, skip func(hash string) bool) (Candidate, error) {
	if c, ok := s.seed(skip); ok {
		return c, nil
	}
	for range maxDraws {
		c, err := s.valuesCandidate(s.Params.Sample(r))
		if errors.Is(err, ErrInfeasible) {
			continue
		}
		if err != nil {
			return Candidate{}, err
		}
		if skip != nil && skip(c.Hash) {
			continue
		}
		return c, nil
	}
	return Candidate{}, ErrNoFeasible
}
