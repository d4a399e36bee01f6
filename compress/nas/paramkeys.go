package nas

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/compressq/compressq/compress/nn"
)

// The parameter names a ParamSpace may use, and what each sets. Names
// ending in _<i> are per layer (i from 1); the name without the suffix
// sets every layer that has no per-layer parameter.
const (
	KeyConvDepth    = "conv_depth"    // conv blocks (default 0)
	KeyConvChannels = "conv_channels" // per block: output channels
	KeyConvKernel   = "conv_kernel"   // per block: odd kernel size
	KeyDenseDepth   = "dense_depth"   // hidden dense layers (default 0)
	KeyDenseWidth   = "dense_width"   // per layer: units
	KeyActivation   = "activation"    // relu (default)
	KeySparsity     = "sparsity"      // pruned fraction in [0, 1) (default 0)
	KeyWeightBits   = "weight_bits"   // 4, 8 or 32 (default 32)
	KeyKMeansBits   = "kmeans_bits"   // 0 (off) or 1..8 (default 0)
	KeyLR           = "lr"            // learning rate > 0 (default: the evaluator's)
	KeyWeightDecay  = "weight_decay"  // L2 penalty >= 0
	KeyMomentum     = "momentum"      // SGD momentum in (0, 1)
	KeyBatchSize    = "batch_size"    // mini-batch size >= 1
	KeyOptimizer    = "optimizer"     // sgd or adam
	KeyEpochs       = "epochs"        // training epochs >= 1 (the trial's budget)
)

type keyKind int

const (
	kindInt keyKind = iota
	kindFloat
	kindString
)

// keySpec says what values a parameter name takes.
type keySpec struct {
	kind     keyKind
	perLayer bool
	genome   bool
	ok       func(float64) bool
	want     string
	strings  []string
}

var keySpecs = map[string]keySpec{
	KeyConvDepth:    {kind: kindInt, genome: true, ok: func(v float64) bool { return v >= 0 && v <= 16 }, want: "0..16"},
	KeyConvChannels: {kind: kindInt, genome: true, perLayer: true, ok: func(v float64) bool { return v >= 1 && v <= 1<<16 }, want: "1..65536"},
	KeyConvKernel: {kind: kindInt, genome: true, perLayer: true,
		ok: func(v float64) bool { return v >= 1 && v <= 31 && int(v)%2 == 1 }, want: "odd, 1..31"},
	KeyDenseDepth:  {kind: kindInt, genome: true, ok: func(v float64) bool { return v >= 0 && v <= 16 }, want: "0..16"},
	KeyDenseWidth:  {kind: kindInt, genome: true, perLayer: true, ok: func(v float64) bool { return v >= 1 && v <= 1<<16 }, want: "1..65536"},
	KeyActivation:  {kind: kindString, genome: true, strings: activations},
	KeySparsity:    {kind: kindFloat, genome: true, ok: func(v float64) bool { return v >= 0 && v < 1 }, want: "in [0, 1)"},
	KeyWeightBits:  {kind: kindInt, genome: true, ok: func(v float64) bool { return v == 4 || v == 8 || v == 32 }, want: "4, 8 or 32"},
	KeyKMeansBits:  {kind: kindInt, genome: true, ok: func(v float64) bool { return v >= 0 && v <= 8 }, want: "0 (off) or 1..8"},
	KeyLR:          {kind: kindFloat, ok: func(v float64) bool { return v > 0 && v <= 10 }, want: "in (0, 10]"},
	KeyWeightDecay: {kind: kindFloat, ok: func(v float64) bool { return v >= 0 && v <= 1 }, want: "in [0, 1]"},
	KeyMomentum:    {kind: kindFloat, ok: func(v float64) bool { return v > 0 && v < 1 }, want: "in (0, 1)"},
	KeyBatchSize:   {kind: kindInt, ok: func(v float64) bool { return v >= 1 && v <= 1<<16 }, want: "1..65536"},
	KeyOptimizer:   {kind: kindString, strings: []string{"sgd", "adam"}},
	KeyEpochs:      {kind: kindInt, ok: func(v float64) bool { return v >= 1 && v <= 10000 }, want: "1..10000"},
}

// ParamKeys lists the parameter names a ParamSpace understands (per-layer
// names also take a _<i> suffix).
func ParamKeys() []string { return sortedKeys(keySpecs) }

// lookupKey returns the spec of a parameter name and its layer (0 for a
// name without a layer suffix).
func lookupKey(name string) (keySpec, int, bool) {
	if k, ok := keySpecs[name]; ok {
		return k, 0, true
	}
	i := strings.LastIndexByte(name, '_')
	if i < 0 {
		return keySpec{}, 0, false
	}
	k, ok := keySpecs[name[:i]]
	n, err := strconv.Atoi(name[i+1:])
	if !ok || !k.perLayer || err != nil || n < 1 || n > 16 || strconv.Itoa(n) != name[i+1:] {
		return keySpec{}, 0, false
	}
	return k, n, true
}

// probe returns the values of p to check against a key's domain: every
// choice, every int value (the ends when there are over 4096), or the ends
// of a float range.
func (p Param) probe() []any {
	switch p.Type {
	case ParamCategorical:
		return p.Choices
	case ParamInt:
		if n := p.count(); n <= 4096 {
			out := make([]any, n)
			for i := range out {
				out[i] = p.Low + float64(i)*p.step()
			}
			return out
		}
	}
	return []any{p.Low, p.High}
}

// maxValue returns the largest value of a numeric parameter (0 for none).
func (ps ParamSpace) maxValue(name string) int {
	p, ok := ps[name]
	if !ok {
		return 0
	}
	return int(p.highest())
}

// highest returns p's largest numeric value, at least 0.
func (p Param) highest() float64 {
	m := 0.0
	for _, v := range p.probe() {
		if f, ok := v.(float64); ok {
			m = math.Max(m, f)
		}
	}
	return m
}

// validateKeys checks every parameter's name and values against what it
// sets, and that every layer a depth can reach has its genes.
func (s Space) validateKeys() []error {
	var errs []error
	for _, name := range sortedKeys(s.Params) {
		p := s.Params[name]
		path := "params." + name
		if s.Policy != nil {
			if gene, weight, ok := policyKey(name); ok {
				if !slices.ContainsFunc(s.Policy.Model, func(l PolicyLayer) bool { return l.Name == weight }) {
					errs = append(errs, fmt.Errorf("%s: no searched layer %q (per-layer parameters come from space.policy)", path, weight))
				} else {
					errs = append(errs, checkDomain(path, p, policyKeySpecs[gene])...)
				}
				continue
			}
			if k, ok := keySpecs[name]; ok && k.genome {
				errs = append(errs, fmt.Errorf("%s: a policy search keeps its model's architecture; set sparsity and weight_bits under space.policy", path))
				continue
			}
		}
		k, _, ok := lookupKey(name)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: unknown parameter, want one of %v (per-layer ones also as name_<i>)", path, ParamKeys()))
			continue
		}
		if !slices.Contains(paramTypes, p.Type) {
			continue // reported by validate
		}
		switch k.kind {
		case kindString:
			if p.Type != ParamCategorical {
				errs = append(errs, fmt.Errorf("%s.type: %s, want categorical (one of %v)", path, p.Type, k.strings))
				continue
			}
		case kindInt:
			if p.Type == ParamFloat || p.Type == ParamLog {
				errs = append(errs, fmt.Errorf("%s.type: %s, want int or categorical (an integer gene)", path, p.Type))
				continue
			}
		}
		for _, v := range p.probe() {
			switch x := v.(type) {
			case string:
				if k.kind != kindString {
					errs = append(errs, fmt.Errorf("%s: %q, want a number", path, x))
				} else if !slices.Contains(k.strings, x) {
					errs = append(errs, fmt.Errorf("%s: %q, want one of %v", path, x, k.strings))
				}
			case float64:
				switch {
				case k.kind == kindString:
					errs = append(errs, fmt.Errorf("%s: %g, want one of %v", path, x, k.strings))
				case k.kind == kindInt && x != math.Trunc(x):
					errs = append(errs, fmt.Errorf("%s: %g, want an integer", path, x))
				case !k.ok(x):
					errs = append(errs, fmt.Errorf("%s: %g, want %s", path, x, k.want))
				}
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	need := func(depthKey, gene string) {
		for i := 1; i <= s.Params.maxValue(depthKey); i++ {
			name := gene + "_" + strconv.Itoa(i)
			if _, ok := s.Params[name]; !ok {
				if _, ok := s.Params[gene]; !ok {
					errs = append(errs, fmt.Errorf("params.%s: reaches %d layers, but neither %s nor %s is a parameter", depthKey, i, name, gene))
					return
				}
			}
		}
	}
	need(KeyConvDepth, KeyConvChannels)
	need(KeyConvDepth, KeyConvKernel)
	need(KeyDenseDepth, KeyDenseWidth)
	if d := s.Params.maxValue(KeyConvDepth); len(s.Input) == 3 && d > 0 && (s.Input[1]>>d < 1 || s.Input[2]>>d < 1) {
		errs = append(errs, fmt.Errorf("params.%s: %d blocks pool a %dx%d input below 1x1", KeyConvDepth, d, s.Input[1], s.Input[2]))
	}
	return errs
}

// gene returns the value of a per-layer gene for layer i, from its own
// parameter or the shared one.
func (v Values) gene(name string, i int) (any, bool) {
	if x, ok := v[name+"_"+strconv.Itoa(i)]; ok {
		return x, true
	}
	x, ok := v[name]
	return x, ok
}

func (v Values) intOr(name string, d int) int {
	if f, ok := v[name].(float64); ok {
		return int(f)
	}
	return d
}

// Training is the training part of a point: the hyperparameters a
// ParamSpace set, zero where it did not (the evaluator's own settings
// apply).
type Training struct {
	LR          float64 `json:"lr,omitempty"`
	WeightDecay float64 `json:"weight_decay,omitempty"`
	Momentum    float64 `json:"momentum,omitempty"`
	BatchSize   int     `json:"batch_size,omitempty"`
	Optimizer   string  `json:"optimizer,omitempty"`
	Epochs      int     `json:"epochs,omitempty"`
}

// Training returns the training hyperparameters of c's values.
func (c Candidate) Training() Training {
	v := c.Values
	t := Training{BatchSize: v.intOr(KeyBatchSize, 0), Epochs: v.intOr(KeyEpochs, 0)}
	t.LR, _ = v[KeyLR].(float64)
	t.WeightDecay, _ = v[KeyWeightDecay].(float64)
	t.Momentum, _ = v[KeyMomentum].(float64)
	t.Optimizer, _ = v[KeyOptimizer].(string)
	return t
}

// apply returns cfg with the hyperparameters t sets in place of its own
// (Epochs aside: it is the trial's budget).
func (t Training) apply(cfg nn.TrainConfig) nn.TrainConfig {
	if t.LR > 0 {
		cfg.LR = t.LR
	}
	if t.WeightDecay > 0 {
		cfg.WeightDecay = t.WeightDecay
	}
	if t.Momentum > 0 {
		cfg.Momentum = t.Momentum
	}
	if t.BatchSize > 0 {
		cfg.BatchSize = t.BatchSize
	}
	if t.Optimizer != "" {
		cfg.Optimizer = t.Optimizer
	}
	return cfg
}

// valuesCandidate turns a point of s.Params into a candidate: its genome
// (layers beyond a depth ignore their genes), network size and identity.
// A point whose network breaks a constraint, or that lacks a gene of a
// layer its depth asks for (its parameter being inactive), wraps
// ErrInfeasible.
func (s Space) valuesCandidate(v Values) (Candidate, error) {
	if s.Policy != nil {
		return s.policyCandidate(v)
	}
	g := Genome{Conv: []ConvGene{}, Dense: []int{}, Activation: "relu",
		Compression: Compression{WeightBits: 32}}
	geneInt := func(name string, i int) (int, error) {
		x, ok := v.gene(name, i)
		f, isNum := x.(float64)
		if !ok || !isNum {
			return 0, fmt.Errorf("%w: no %s_%d for layer %d", ErrInfeasible, name, i, i)
		}
		return int(f), nil
	}
	for i := 1; i <= v.intOr(KeyConvDepth, 0); i++ {
		ch, err := geneInt(KeyConvChannels, i)
		if err != nil {
			return Candidate{}, err
		}
		k, err := geneInt(KeyConvKernel, i)
		if err != nil {
			return Candidate{}, err
		}
		g.Conv = append(g.Conv, ConvGene{Channels: ch, Kernel: k})
	}
	for i := 1; i <= v.intOr(KeyDenseDepth, 0); i++ {
		w, err := geneInt(KeyDenseWidth, i)
		if err != nil {
			return Candidate{}, err
		}
		g.Dense = append(g.Dense, w)
	}
	if a, ok := v[KeyActivation].(string); ok {
		g.Activation = a
	}
	g.Compression.Sparsity, _ = v[KeySparsity].(float64)
	g.Compression.WeightBits = v.intOr(KeyWeightBits, 32)
	g.Compression.KMeansBits = v.intOr(KeyKMeansBits, 0)
	a, err := s.Arch(g)
	if err != nil {
		return Candidate{}, fmt.Errorf("%w: %w", ErrInfeasible, err)
	}
	z, err := SizeOf(a)
	if err != nil {
		return Candidate{}, err
	}
	c := Candidate{Genome: g, Values: v, Hash: valuesHash(g, v), Params: z.Params, Bytes: EstimateBytes(z, g.Compression)}
	if m := s.Constraints.MaxParams; m > 0 && c.Params > m {
		return Candidate{}, fmt.Errorf("%w: %d params > max_params %d", ErrInfeasible, c.Params, m)
	}
	if m := s.Constraints.MaxBytes; m > 0 && c.Bytes > m {
		return Candidate{}, fmt.Errorf("%w: %d bytes > max_bytes %d", ErrInfeasible, c.Bytes, m)
	}
	return c, nil
}

// valuesHash is a point's identity: the genome's hash when it sets nothing
// but genes (so the same network has the same hash as in the built-in
// space), else a hash of the genome and the other values.
func valuesHash(g Genome, v Values) string {
	rest := Values{}
	for k, x := range v {
		if spec, _, ok := lookupKey(k); ok && !spec.genome {
			rest[k] = x
		}
	}
	if len(rest) == 0 {
		return g.Hash()
	}
	gb, err := json.Marshal(g)
	if err != nil {
		panic(fmt.Sprintf("nas: marshal genome: %v", err)) // plain data cannot fail
	}
	h := sha256.Sum256(append(append(gb, '\n'), rest.encode()...))
	return hex.EncodeToString(h[:16])
}

// ParamSpace returns the typed space that expresses the same choices as
// the built-in space s (its choice lists applied defaults): each choice
// list becomes a categorical parameter, each layer's genes conditional on
// the depths that reach it. Input, classes and constraints are kept.
func (s Space) ParamSpace() Space {
	s = s.withDefaults()
	nums := func(xs ...float64) []any {
		out := make([]any, len(xs))
		for i, x := range xs {
			out[i] = x
		}
		return out
	}
	ints := func(xs []int) []any {
		out := make([]any, len(xs))
		for i, x := range xs {
			out[i] = float64(x)
		}
		return out
	}
	cat := func(choices []any) Param { return Param{Type: ParamCategorical, Choices: choices} }
	ps := ParamSpace{KeyConvDepth: cat(ints(s.Conv.Depth)), KeyDenseDepth: cat(ints(s.Dense.Depth))}
	perLayer := func(depths []int, depthKey string, genes map[string][]int) {
		for i := 1; i <= slices.Max(depths); i++ {
			var reach []int
			for _, d := range depths {
				if d >= i {
					reach = append(reach, d)
				}
			}
			slices.Sort(reach)
			for gene, choices := range genes {
				p := cat(ints(choices))
				if len(reach) < len(depths) {
					p.When = map[string][]any{depthKey: ints(reach)}
				}
				ps[gene+"_"+strconv.Itoa(i)] = p
			}
		}
	}
	perLayer(s.Conv.Depth, KeyConvDepth, map[string][]int{KeyConvChannels: s.Conv.Channels, KeyConvKernel: s.Conv.Kernels})
	perLayer(s.Dense.Depth, KeyDenseDepth, map[string][]int{KeyDenseWidth: s.Dense.Widths})
	acts := make([]any, len(s.Activations))
	for i, a := range s.Activations {
		acts[i] = a
	}
	ps[KeyActivation] = cat(acts)
	ps[KeySparsity] = cat(nums(s.Compression.Sparsity...))
	ps[KeyWeightBits] = cat(ints(s.Compression.WeightBits))
	ps[KeyKMeansBits] = cat(ints(s.Compression.KMeansBits))
	return Space{Input: slices.Clone(s.Input), Classes: s.Classes, Constraints: s.Constraints, Params: ps}
}

// GenomeValues returns the point of a built-in space's typed twin
// (Space.ParamSpace) that gives g: its depths, the genes of the layers
// they reach (numbers as float64), the activation and the compression
// genes. It is how a trial of a built-in space is shown parameter by
// parameter.
func GenomeValues(g Genome) Values {
	c := g.Compression
	v := Values{KeyConvDepth: float64(len(g.Conv)), KeyDenseDepth: float64(len(g.Dense)), KeyActivation: g.Activation,
		KeySparsity: c.Sparsity, KeyWeightBits: float64(c.WeightBits), KeyKMeansBits: float64(c.KMeansBits)}
	for i, cg := range g.Conv {
		n := strconv.Itoa(i + 1)
		v[KeyConvChannels+"_"+n], v[KeyConvKernel+"_"+n] = float64(cg.Channels), float64(cg.Kernel)
	}
	for i, w := range g.Dense {
		v[KeyDenseWidth+"_"+strconv.Itoa(i+1)] = float64(w)
	}
	return v
}

// errMixed is returned for a space with both params and built-in choice
// lists.
var errMixed = errors.New("not allowed together with params: express the choice as a parameter")
