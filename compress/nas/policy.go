package nas

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/prune"
	"go.yaml.in/yaml/v3"
)

// PolicySpace makes a sweep a compression-policy search for one model (the
// automated per-layer search of AMC and HAQ): each candidate assigns every
// searched weight tensor of the base model its own sparsity and weight
// precision, and the train evaluator scores it by fine-tuning the pruned
// model briefly and measuring its accuracy. The per-layer parameters are
// derived from the templates once the base model is known (ResolvePolicy):
// "sparsity[<weight>]" and "weight_bits[<weight>]" for each searched
// weight, beside the training parameters space.params may add (lr,
// weight_decay, momentum, optimizer, batch_size; architecture genes are
// the model's own and are refused).
type PolicySpace struct {
	// Layers names the weight tensors searched (default: every Dense and
	// Conv2D weight of the model); the others are not pruned and are
	// stored at 8 bits.
	Layers []string `json:"layers,omitempty" yaml:"layers,omitempty"`
	// Sparsity is every searched layer's pruned-fraction parameter
	// (float or categorical, values in [0, 1); default float [0, 0.95]).
	Sparsity *Param `json:"sparsity,omitempty" yaml:"sparsity,omitempty"`
	// WeightBits is every searched layer's weight-precision parameter
	// (categorical or int over 4 and 8; default categorical [4, 8]).
	WeightBits *Param `json:"weight_bits,omitempty" yaml:"weight_bits,omitempty"`
	// Sensitivity is the artifact URI of a compress:sensitivity report of
	// the same model: its curves seed the search (see PolicySeeds).
	Sensitivity string `json:"sensitivity,omitempty" yaml:"sensitivity,omitempty"`

	// Model is the base model's searched layers and FixedBytes, FixedMACs
	// and FixedParams what the rest of it stores and computes; Seeds are
	// points asked before any drawn one. The sweep controller fills them
	// in at start (ResolvePolicy); a spec does not set them.
	Model       []PolicyLayer `json:"model,omitempty" yaml:"model,omitempty"`
	FixedBytes  int           `json:"fixed_bytes,omitempty" yaml:"fixed_bytes,omitempty"`
	FixedMACs   int64         `json:"fixed_macs,omitempty" yaml:"fixed_macs,omitempty"`
	FixedParams int           `json:"fixed_params,omitempty" yaml:"fixed_params,omitempty"`
	Seeds       []Values      `json:"seeds,omitempty" yaml:"seeds,omitempty"`
}

// PolicyLayer is one searched weight tensor of a policy's base model.
type PolicyLayer struct {
	// Name is the weight's parameter name ("layers.3.weight").
	Name string `json:"name"`
	// Weights is its entry count; MACs the multiply-accumulates of one
	// sample through its layer, unpruned.
	Weights int   `json:"weights"`
	MACs    int64 `json:"macs"`
	// Channels is its output channels (units): one scale each.
	Channels int `json:"channels"`
}

// UnmarshalYAML decodes the policy document, its templates as parameters
// (numbers as float64, as in params), naming the key of every problem.
func (p *PolicySpace) UnmarshalYAML(n *yaml.Node) error {
	var raw struct {
		Layers      []string       `yaml:"layers"`
		Sparsity    map[string]any `yaml:"sparsity"`
		WeightBits  map[string]any `yaml:"weight_bits"`
		Sensitivity string         `yaml:"sensitivity"`
		Model       []PolicyLayer  `yaml:"model"`
		FixedBytes  int            `yaml:"fixed_bytes"`
		FixedMACs   int64          `yaml:"fixed_macs"`
		FixedParams int            `yaml:"fixed_params"`
		Seeds       []Values       `yaml:"seeds"`
	}
	if err := n.Decode(&raw); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if len(raw.Model)+len(raw.Seeds) > 0 || raw.FixedBytes+raw.FixedParams > 0 || raw.FixedMACs > 0 {
		return errors.New("policy: model, fixed_bytes, fixed_macs, fixed_params and seeds are filled in from the base model at start, not set in a spec")
	}
	out := PolicySpace{Layers: raw.Layers, Sensitivity: raw.Sensitivity}
	var errs []error
	for _, t := range []struct {
		key string
		m   map[string]any
		dst **Param
	}{{"sparsity", raw.Sparsity, &out.Sparsity}, {"weight_bits", raw.WeightBits, &out.WeightBits}} {
		if t.m == nil {
			continue
		}
		prm, perrs := decodeParam("policy."+t.key, t.m)
		errs = append(errs, perrs...)
		*t.dst = &prm
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	*p = out
	return nil
}

// Per-layer policy parameter names: PolicySparsityKey(w) is
// "sparsity[w]".
func PolicySparsityKey(weight string) string { return KeySparsity + "[" + weight + "]" }

// PolicyBitsKey is "weight_bits[w]".
func PolicyBitsKey(weight string) string { return KeyWeightBits + "[" + weight + "]" }

// policyKey splits a per-layer policy parameter name into its gene and
// weight.
func policyKey(name string) (gene, weight string, ok bool) {
	i := strings.IndexByte(name, '[')
	if i < 0 || !strings.HasSuffix(name, "]") {
		return "", "", false
	}
	gene, weight = name[:i], name[i+1:len(name)-1]
	if (gene != KeySparsity && gene != KeyWeightBits) || weight == "" {
		return "", "", false
	}
	return gene, weight, true
}

// The templates' defaults.
var (
	defaultPolicySparsity = Param{Type: ParamFloat, Low: 0, High: 0.95}
	defaultPolicyBits     = Param{Type: ParamCategorical, Choices: []any{4.0, 8.0}}
)

func (p *PolicySpace) sparsity() Param {
	if p.Sparsity == nil {
		return defaultPolicySparsity
	}
	return *p.Sparsity
}

func (p *PolicySpace) bits() Param {
	if p.WeightBits == nil {
		return defaultPolicyBits
	}
	return *p.WeightBits
}

// policyKeySpecs are the values a per-layer policy gene takes: a
// sparsity as in the genome, a precision 4 or 8 (the artifact stores
// integer codes).
var policyKeySpecs = map[string]keySpec{
	KeySparsity:   keySpecs[KeySparsity],
	KeyWeightBits: {kind: kindInt, ok: func(v float64) bool { return v == 4 || v == 8 }, want: "4 or 8"},
}

// validate reports the policy's own problems (paths under "policy.").
func (p *PolicySpace) validate() []error {
	var errs []error
	for _, t := range []struct {
		path string
		p    Param
		key  string
	}{{"policy.sparsity", p.sparsity(), KeySparsity}, {"policy.weight_bits", p.bits(), KeyWeightBits}} {
		if len(t.p.When) > 0 {
			errs = append(errs, fmt.Errorf("%s.when: a per-layer template cannot be conditional", t.path))
		}
		if perrs := t.p.validate(t.path); len(perrs) > 0 {
			errs = append(errs, perrs...)
			continue
		}
		errs = append(errs, checkDomain(t.path, t.p, policyKeySpecs[t.key])...)
	}
	if hasDup(p.Layers) {
		errs = append(errs, errors.New("policy.layers: duplicate names"))
	}
	return errs
}

// checkDomain reports the values of p outside what key k takes.
func checkDomain(path string, p Param, k keySpec) []error {
	var errs []error
	if k.kind == kindInt && (p.Type == ParamFloat || p.Type == ParamLog) {
		return []error{fmt.Errorf("%s.type: %s, want int or categorical (an integer gene)", path, p.Type)}
	}
	for _, v := range p.probe() {
		x, ok := v.(float64)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: %v, want a number", path, v))
		case k.kind == kindInt && x != math.Trunc(x):
			errs = append(errs, fmt.Errorf("%s: %g, want an integer", path, x))
		case !k.ok(x):
			errs = append(errs, fmt.Errorf("%s: %g, want %s", path, x, k.want))
		}
	}
	return errs
}

// Resolved reports whether the base model's layers are filled in.
func (p *PolicySpace) Resolved() bool { return len(p.Model) > 0 }

// ResolvePolicy returns s with its policy bound to net, the base model:
// the searched layers (policy.layers, or every Dense and Conv2D weight),
// what the rest of the artifact stores (the other tensors at 8 bits, the
// header) and the rest of the model computes, and a
// per-layer parameter pair for each searched layer in s.Params. A layer
// name net lacks is an error naming its policy.layers entry.
func (s Space) ResolvePolicy(net *nn.Network) (Space, error) {
	if s.Policy == nil {
		return s, errors.New("space.policy: not a policy space")
	}
	pol := *s.Policy
	pol.Model, pol.Seeds = nil, nil
	macs := map[string]int64{} // of each layer's weight, as prune.Weights names them
	for _, l := range net.Summary() {
		macs[fmt.Sprintf("layers.%d.weight", l.Index)] = l.MACs
	}
	all := prune.Weights(net)
	names := pol.Layers
	if len(names) == 0 {
		names = all
	}
	var errs []error
	for i, n := range names {
		if !slices.Contains(all, n) {
			errs = append(errs, fmt.Errorf("space.policy.layers[%d]: %q is not a Dense or Conv2D weight of the model (its weights: %v)", i, n, all))
		}
	}
	if len(names) == 0 {
		errs = append(errs, errors.New("space.policy: the model has no Dense or Conv2D weight to search"))
	}
	if len(errs) > 0 {
		return s, errors.Join(errs...)
	}
	searched := map[string]bool{}
	for _, n := range names {
		prm, _ := net.Param(n)
		pol.Model = append(pol.Model, PolicyLayer{Name: n, Weights: prm.Value.Len(), MACs: macs[n], Channels: prm.Value.Shape()[0]})
		searched[n] = true
	}
	pol.FixedBytes, pol.FixedMACs, pol.FixedParams = 0, 0, 0
	for _, prm := range net.Params() {
		if !searched[prm.Name] {
			// Every other tensor is stored as 8-bit codes with one scale
			// (per output channel for a weight).
			n, scales := prm.Value.Len(), 1
			if sh := prm.Value.Shape(); len(sh) >= 2 {
				scales = sh[0]
			}
			pol.FixedBytes += n + 4*scales
			pol.FixedParams += n
		}
	}
	for _, n := range all {
		if !searched[n] {
			pol.FixedMACs += macs[n]
		}
	}
	// What the estimate leaves out — the artifact's header, the
	// architecture it carries, each tensor's entry — is measured once on
	// the unpruned model at 8 bits, whose Cost is then its exact length.
	dense := map[string]LayerPolicy{}
	for _, l := range pol.Model {
		dense[l.Name] = LayerPolicy{Bits: 8}
	}
	art, err := policyArtifact(context.Background(), net, nil, nil)
	if err != nil {
		return s, fmt.Errorf("space.policy: the model cannot be written as an artifact: %w", err)
	}
	est, _ := pol.Cost(dense)
	pol.FixedBytes += len(art) - est
	ps := ParamSpace{}
	for k, v := range s.Params {
		if _, _, ok := policyKey(k); !ok {
			ps[k] = v
		}
	}
	sp, bits := pol.sparsity(), pol.bits()
	for _, l := range pol.Model {
		ps[PolicySparsityKey(l.Name)] = sp
		if !bits.single() {
			ps[PolicyBitsKey(l.Name)] = bits
		}
	}
	s.Policy, s.Params = &pol, ps
	return s, nil
}

// LayerPolicy is one layer's assignment in a policy candidate.
type LayerPolicy struct {
	Sparsity float64 `json:"sparsity"`
	Bits     int     `json:"bits"`
}

// Assignment returns every searched layer's sparsity and precision at v
// (a template with one value needs no parameter: that value applies).
func (p *PolicySpace) Assignment(v Values) map[string]LayerPolicy {
	out := make(map[string]LayerPolicy, len(p.Model))
	sp, bits := p.sparsity(), p.bits()
	for _, l := range p.Model {
		var lp LayerPolicy
		if x, ok := v[PolicySparsityKey(l.Name)].(float64); ok {
			lp.Sparsity = x
		} else if sp.single() {
			lp.Sparsity = sp.onlyValue()
		}
		if x, ok := v[PolicyBitsKey(l.Name)].(float64); ok {
			lp.Bits = int(x)
		} else {
			lp.Bits = int(bits.onlyValue())
		}
		if lp.Bits == 0 {
			lp.Bits = 8 // the artifact's default width
		}
		out[l.Name] = lp
	}
	return out
}

// single reports whether p has one value only.
func (p Param) single() bool {
	switch p.Type {
	case ParamCategorical:
		return len(p.Choices) == 1
	case ParamInt:
		return p.count() == 1
	}
	return p.Low == p.High
}

// onlyValue is the value of a single-valued numeric parameter (its low
// end otherwise).
func (p Param) onlyValue() float64 {
	if p.Type == ParamCategorical {
		if f, ok := p.Choices[0].(float64); ok {
			return f
		}
		return 0
	}
	return p.Low
}

// Cost estimates the stored bytes and the multiply-accumulates per sample
// of the base model under assignment a, as its artifact stores it: each
// searched layer's codes at their bits — int8 ones sparsely (a code and at
// most an index byte per kept weight) when that is smaller, int4 ones
// always dense, as the artifact format stores them — plus a float32 scale
// per output channel; its MACs scaled by the kept fraction; the rest as
// FixedBytes and FixedMACs. The written artifact (whose length a trial
// reports) is usually a little smaller: its index gaps take fewer bits.
func (p *PolicySpace) Cost(a map[string]LayerPolicy) (bytes int, macs int64) {
	bytes, macs = p.FixedBytes, p.FixedMACs
	for _, l := range p.Model {
		lp := a[l.Name]
		kept := int(math.Round((1 - lp.Sparsity) * float64(l.Weights)))
		codes := (l.Weights*lp.Bits + 7) / 8
		if lp.Bits == 8 && lp.Sparsity > 0 {
			codes = min(codes, 2*kept)
		}
		bytes += codes + 4*l.Channels
		macs += int64(math.Round((1 - lp.Sparsity) * float64(l.MACs)))
	}
	return bytes, macs
}

// params is the base model's parameter count.
func (p *PolicySpace) params() int {
	n := p.FixedParams
	for _, l := range p.Model {
		n += l.Weights
	}
	return n
}

// policyCandidate is valuesCandidate in a policy space: the candidate's
// identity is its values, its size the policy's Cost. A point over
// max_bytes or max_macs is repaired as AMC bounds its agent's actions:
// every layer's sparsity moves the same fraction λ of the way to the
// template's highest (λ the smallest multiple of 1/64 that meets the
// budget; snapped to the template's grid or choices), so the draw's
// ranking of the layers survives and almost every draw of a tight budget
// becomes a candidate instead of being rejected. One that no λ repairs
// wraps ErrInfeasible.
func (s Space) policyCandidate(v Values) (Candidate, error) {
	if !s.Policy.Resolved() {
		return Candidate{}, errors.New("space.policy: not resolved against its base model (the sweep controller does this at start)")
	}
	over := s.Constraints.fits
	bytes, macs := s.Policy.Cost(s.Policy.Assignment(v))
	err := over(bytes, macs)
	if err != nil {
		sp := s.Policy.sparsity()
		top := sp.highest()
		for k := 1; k <= 64 && err != nil; k++ {
			lambda := float64(k) / 64
			w := maps.Clone(v)
			for _, l := range s.Policy.Model {
				key := PolicySparsityKey(l.Name)
				if x, ok := v[key].(float64); ok {
					w[key] = sp.nearest(x + lambda*(top-x))
				}
			}
			b, m := s.Policy.Cost(s.Policy.Assignment(w))
			if over(b, m) == nil {
				v, bytes, macs, err = w, b, m, nil
			}
		}
		if err != nil {
			return Candidate{}, err
		}
	}
	h := sha256.Sum256(append([]byte("policy\n"), v.encode()...))
	return Candidate{Values: v, Hash: hex.EncodeToString(h[:16]), Params: s.Policy.params(), Bytes: bytes, MACs: macs}, nil
}

// fits wraps ErrInfeasible when a policy of bytes and macs breaks
// max_bytes or max_macs.
func (c Constraints) fits(bytes int, macs int64) error {
	if m := c.MaxBytes; m > 0 && bytes > m {
		return fmt.Errorf("%w: %d bytes > max_bytes %d", ErrInfeasible, bytes, m)
	}
	if m := c.MaxMACs; m > 0 && macs > m {
		return fmt.Errorf("%w: %d MACs > max_macs %d", ErrInfeasible, macs, m)
	}
	return nil
}

// seed returns the first of the policy's seeds that is feasible and not
// skipped. Its unset parameters (training ones) are drawn from a
// generator of the seed's own, so a seed has one identity however often
// it is looked at.
func (s Space) seed(skip func(hash string) bool) (Candidate, bool) {
	if s.Policy == nil {
		return Candidate{}, false
	}
	for i, seed := range s.Policy.Seeds {
		r := newRNG(int64(i) + 1)
		v := Values{}
		for _, name := range s.Params.order() {
			if !s.Params.active(name, v) {
				continue
			}
			if x, ok := seed[name]; ok {
				v[name] = x
			} else {
				v[name] = s.Params[name].uniform(&r)
			}
		}
		c, err := s.valuesCandidate(v)
		if err == nil && (skip == nil || !skip(c.Hash)) {
			return c, true
		}
	}
	return Candidate{}, false
}

// SensitivityCurve is one weight's accuracy against its sparsity, the rest
// of the model unpruned (a compress:sensitivity report's curve).
type SensitivityCurve struct {
	Param  string        `json:"param"`
	Points []prune.Point `json:"points"`
}

// PolicySeeds derives seed points for a resolved policy space s from a
// sensitivity analysis of its base model (base: the unpruned accuracy on
// the analysis' images): for each precision the bits template allows,
// highest first, the per-layer sparsities prune.Choose allocates at the
// smallest global sparsity (in steps of 0.01) whose policy meets
// max_bytes and max_macs — the classic sensitivity-based allocation, which
// the search then tries to beat. Without those constraints the seeds are
// the allocations at global sparsities 0.5 and 0.8 for the highest
// precision. Sparsities are clipped to the template's range (snapped to
// its nearest choice when categorical); a searched layer without a curve
// keeps the range's low end. The seeds are recorded in s.Policy.Seeds.
func (s Space) PolicySeeds(curves []SensitivityCurve, base float64) (Space, error) {
	if s.Policy == nil || !s.Policy.Resolved() {
		return s, errors.New("space.policy: not resolved against its base model")
	}
	pol := *s.Policy
	sizes := map[string]int{}
	cm := map[string][]prune.Point{}
	for _, l := range pol.Model {
		sizes[l.Name] = l.Weights
	}
	for _, c := range curves {
		if _, ok := sizes[c.Param]; ok && len(c.Points) > 0 {
			cm[c.Param] = c.Points
		}
	}
	if len(cm) == 0 {
		return s, errors.New("space.policy.sensitivity: the report has no curve of a searched layer")
	}
	sp, bits := pol.sparsity(), pol.bits()
	var precisions []float64
	for _, v := range bits.probe() {
		if f, ok := v.(float64); ok {
			precisions = append(precisions, f)
		}
	}
	slices.Sort(precisions)
	slices.Reverse(precisions)
	point := func(target, b float64) (Values, bool) {
		alloc, err := prune.Choose(cm, sizes, base, target)
		if err != nil {
			return nil, false
		}
		v := Values{} // training parameters stay unset: the evaluator's own settings apply
		for _, l := range pol.Model {
			v[PolicySparsityKey(l.Name)] = sp.nearest(alloc[l.Name])
			if _, ok := s.Params[PolicyBitsKey(l.Name)]; ok {
				v[PolicyBitsKey(l.Name)] = b
			}
		}
		return v, true
	}
	limited := s.Constraints.MaxBytes > 0 || s.Constraints.MaxMACs > 0
	for i, b := range precisions {
		if !limited && i > 0 {
			break
		}
		if !limited {
			for _, t := range []float64{0.5, 0.8} {
				if v, ok := point(t, b); ok {
					pol.Seeds = append(pol.Seeds, v)
				}
			}
			continue
		}
		for t := 0; t < 100; t++ {
			v, ok := point(float64(t)/100, b)
			if !ok {
				break
			}
			bytes, macs := pol.Cost(pol.Assignment(v))
			if s.Constraints.fits(bytes, macs) == nil {
				pol.Seeds = append(pol.Seeds, v)
				break
			}
		}
	}
	s.Policy = &pol
	return s, nil
}

// nearest returns the value of p closest to x: clipped to a numeric
// range (on an int grid, rounded to its step), or the nearest numeric
// choice.
func (p Param) nearest(x float64) float64 {
	switch p.Type {
	case ParamCategorical:
		best, bd := x, math.Inf(1)
		for _, c := range p.Choices {
			if f, ok := c.(float64); ok && math.Abs(f-x) < bd {
				best, bd = f, math.Abs(f-x)
			}
		}
		return best
	case ParamInt:
		n := math.Round((x - p.Low) / p.step())
		return math.Min(p.High, math.Max(p.Low, p.Low+n*p.step()))
	}
	return math.Min(p.High, math.Max(p.Low, x))
}

// Describe is a candidate for people: its genome (Genome.String), or for a
// policy the range of its per-layer sparsities and its precisions
// ("policy: sparsity 0.5–0.93, w4 w8").
func (c Candidate) Describe() string {
	var sp []float64
	bits := map[int]bool{}
	for k, v := range c.Values {
		gene, _, ok := policyKey(k)
		f, num := v.(float64)
		if !ok || !num {
			continue
		}
		if gene == KeySparsity {
			sp = append(sp, f)
		} else {
			bits[int(f)] = true
		}
	}
	if len(sp) == 0 {
		return c.Genome.String()
	}
	out := fmt.Sprintf("policy: sparsity %.2g–%.2g", slices.Min(sp), slices.Max(sp))
	for _, b := range []int{4, 8} {
		if bits[b] {
			out += fmt.Sprintf(" w%d", b)
		}
	}
	return out
}
