package nas

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/compressq/compressq/compress/nn"
	"go.yaml.in/yaml/v3"
)

// Activations the engine supports; nn has ReLU only today.
var activations = []string{"relu"}

// Space is a search space, the document described in SPACE.md. Zero fields
// take the defaults listed on each; Validate reports every problem at once.
type Space struct {
	// Input is the per-sample shape [C, H, W] (default [1, 28, 28]).
	Input []int `json:"input,omitempty" yaml:"input,omitempty"`
	// Classes is the number of outputs (default 10).
	Classes int `json:"classes,omitempty" yaml:"classes,omitempty"`
	// Conv are the convolutional block genes.
	Conv ConvSpace `json:"conv" yaml:"conv"`
	// Dense are the hidden dense layer genes.
	Dense DenseSpace `json:"dense" yaml:"dense"`
	// Activations are the activation choices (default ["relu"]).
	Activations []string `json:"activations,omitempty" yaml:"activations,omitempty"`
	// Compression are the compression genes.
	Compression CompressionSpace `json:"compression" yaml:"compression"`
	// Constraints bound the candidates; a zero limit is no limit.
	Constraints Constraints `json:"constraints" yaml:"constraints"`
	// Params, when set, replaces the choice lists above (conv, dense,
	// activations, compression), which must then be absent: a typed,
	// possibly conditional parameter per gene or training hyperparameter
	// (see ParamKeys).
	Params ParamSpace `json:"params,omitempty" yaml:"params,omitempty"`
	// Policy, when set, makes the space a compression-policy search over
	// the evaluator's base model (PolicySpace): no architecture genes,
	// per-layer sparsity and precision instead.
	Policy *PolicySpace `json:"policy,omitempty" yaml:"policy,omitempty"`
}

// ConvSpace holds the choices for the conv blocks. Each block is conv
// (kernel k, padding k/2) → activation → max-pool 2.
type ConvSpace struct {
	// Depth is the choice of block counts (default [0]: no conv blocks).
	Depth []int `json:"depth,omitempty" yaml:"depth,omitempty"`
	// Channels are the output-channel choices of each block.
	Channels []int `json:"channels,omitempty" yaml:"channels,omitempty"`
	// Kernels are the odd square kernel sizes of each block.
	Kernels []int `json:"kernels,omitempty" yaml:"kernels,omitempty"`
}

// DenseSpace holds the choices for the hidden dense layers that follow the
// conv blocks (each dense → activation); a dense classifier always ends the
// network.
type DenseSpace struct {
	// Depth is the choice of hidden layer counts (default [1]).
	Depth []int `json:"depth,omitempty" yaml:"depth,omitempty"`
	// Widths are the unit-count choices of each hidden layer.
	Widths []int `json:"widths,omitempty" yaml:"widths,omitempty"`
}

// CompressionSpace holds the compression gene choices.
type CompressionSpace struct {
	// Sparsity is the fraction of weights pruned, each in [0, 1) (default [0]).
	Sparsity []float64 `json:"sparsity,omitempty" yaml:"sparsity,omitempty"`
	// WeightBits is the weight precision, each 4, 8 (the widths of
	// compress/quant) or 32 (float, unquantized) (default [32]).
	WeightBits []int `json:"weight_bits,omitempty" yaml:"weight_bits,omitempty"`
	// KMeansBits is the k-means weight-sharing index width, 0 (off) or 1..8
	// (default [0]). When set it replaces WeightBits for the stored weights.
	KMeansBits []int `json:"kmeans_bits,omitempty" yaml:"kmeans_bits,omitempty"`
}

// Constraints bound candidates; candidates that break them are never asked.
type Constraints struct {
	// MaxParams bounds the trainable parameter count.
	MaxParams int `json:"max_params,omitempty" yaml:"max_params,omitempty"`
	// MaxBytes bounds EstimateBytes (of a policy: PolicySpace.Cost).
	MaxBytes int `json:"max_bytes,omitempty" yaml:"max_bytes,omitempty"`
	// MaxMACs bounds a policy's multiply-accumulates per sample over its
	// kept weights (policy spaces only).
	MaxMACs int64 `json:"max_macs,omitempty" yaml:"max_macs,omitempty"`
	// MaxLatencyInt8 bounds the measured latency_int8 in seconds: a trial
	// over it is scored as infeasible (Objectives.Violation), since no
	// candidate's latency is known before it is measured.
	MaxLatencyInt8 float64 `json:"max_latency_int8,omitempty" yaml:"max_latency_int8,omitempty"`
}

// ParseSpace decodes a YAML or JSON space document (JSON is YAML), rejecting
// unknown fields, applies the defaults and validates it.
func ParseSpace(doc []byte) (Space, error) {
	var s Space
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return Space{}, fmt.Errorf("search space: %w", err)
	}
	s = s.withDefaults()
	if err := s.Validate(); err != nil {
		return Space{}, fmt.Errorf("search space: %w", err)
	}
	return s, nil
}

// withDefaults returns s with zero fields replaced by their defaults.
func (s Space) withDefaults() Space {
	if len(s.Input) == 0 {
		s.Input = []int{1, 28, 28}
	}
	if s.Classes == 0 {
		s.Classes = 10
	}
	if s.Policy != nil && s.Params == nil {
		s.Params = ParamSpace{}
	}
	if s.Params != nil {
		return s
	}
	if len(s.Conv.Depth) == 0 {
		s.Conv.Depth = []int{0}
	}
	if len(s.Dense.Depth) == 0 {
		s.Dense.Depth = []int{1}
	}
	if len(s.Activations) == 0 {
		s.Activations = []string{"relu"}
	}
	if len(s.Compression.Sparsity) == 0 {
		s.Compression.Sparsity = []float64{0}
	}
	if len(s.Compression.WeightBits) == 0 {
		s.Compression.WeightBits = []int{32}
	}
	if len(s.Compression.KMeansBits) == 0 {
		s.Compression.KMeansBits = []int{0}
	}
	return s
}

// Validate reports every problem with s at once, naming the field. Call it
// on a Space built in code after filling every choice list (ParseSpace
// applies the defaults first).
func (s Space) Validate() error {
	var errs []error
	bad := func(field string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	choices := func(field string, n int, dup bool) {
		if n == 0 {
			bad(field, "no choices")
		}
		if dup {
			bad(field, "duplicate choices")
		}
	}
	if len(s.Input) != 3 {
		bad("input", "%v, want [C, H, W]", s.Input)
	}
	for i, d := range s.Input {
		if d <= 0 {
			bad(fmt.Sprintf("input[%d]", i), "%d, want > 0", d)
		}
	}
	if s.Classes < 2 {
		bad("classes", "%d, want >= 2", s.Classes)
	}
	if s.Constraints.MaxParams < 0 {
		bad("constraints.max_params", "%d, want >= 0", s.Constraints.MaxParams)
	}
	if s.Constraints.MaxBytes < 0 {
		bad("constraints.max_bytes", "%d, want >= 0", s.Constraints.MaxBytes)
	}
	if s.Constraints.MaxMACs < 0 {
		bad("constraints.max_macs", "%d, want >= 0", s.Constraints.MaxMACs)
	}
	if !(s.Constraints.MaxLatencyInt8 >= 0) {
		bad("constraints.max_latency_int8", "%g, want >= 0 seconds", s.Constraints.MaxLatencyInt8)
	}
	if s.Policy == nil && s.Constraints.MaxMACs > 0 {
		bad("constraints.max_macs", "only in a policy search (space.policy)")
	}
	if s.Policy != nil {
		errs = append(errs, s.Policy.validate()...)
		if s.Constraints.MaxParams > 0 {
			bad("constraints.max_params", "a policy search keeps its model's parameters: bound max_bytes or max_macs")
		}
	}
	if s.Params != nil {
		for _, f := range []struct {
			name string
			set  bool
		}{{"conv", len(s.Conv.Depth)+len(s.Conv.Channels)+len(s.Conv.Kernels) > 0},
			{"dense", len(s.Dense.Depth)+len(s.Dense.Widths) > 0}, {"activations", len(s.Activations) > 0},
			{"compression", len(s.Compression.Sparsity)+len(s.Compression.WeightBits)+len(s.Compression.KMeansBits) > 0}} {
			if f.set {
				errs = append(errs, fmt.Errorf("%s: %w", f.name, errMixed))
			}
		}
		if len(s.Params) == 0 && s.Policy != nil {
			return errors.Join(errs...) // the per-layer parameters come with the model
		}
		if perrs := s.Params.validate(); len(perrs) > 0 {
			return errors.Join(append(errs, perrs...)...)
		}
		return errors.Join(append(errs, s.validateKeys()...)...)
	}
	choices("conv.depth", len(s.Conv.Depth), hasDup(s.Conv.Depth))
	for _, d := range s.Conv.Depth {
		if d < 0 {
			bad("conv.depth", "%d, want >= 0", d)
		} else if len(s.Input) == 3 && d > 0 && (s.Input[1]>>d < 1 || s.Input[2]>>d < 1) {
			bad("conv.depth", "%d blocks pool a %dx%d input below 1x1", d, s.Input[1], s.Input[2])
		}
	}
	if slices.Max(append([]int{0}, s.Conv.Depth...)) > 0 {
		choices("conv.channels", len(s.Conv.Channels), hasDup(s.Conv.Channels))
		choices("conv.kernels", len(s.Conv.Kernels), hasDup(s.Conv.Kernels))
	}
	for _, c := range s.Conv.Channels {
		if c <= 0 {
			bad("conv.channels", "%d, want > 0", c)
		}
	}
	for _, k := range s.Conv.Kernels {
		if k <= 0 || k%2 == 0 {
			bad("conv.kernels", "%d, want odd and > 0", k)
		}
	}
	choices("dense.depth", len(s.Dense.Depth), hasDup(s.Dense.Depth))
	for _, d := range s.Dense.Depth {
		if d < 0 {
			bad("dense.depth", "%d, want >= 0", d)
		}
	}
	if slices.Max(append([]int{0}, s.Dense.Depth...)) > 0 {
		choices("dense.widths", len(s.Dense.Widths), hasDup(s.Dense.Widths))
	}
	for _, w := range s.Dense.Widths {
		if w <= 0 {
			bad("dense.widths", "%d, want > 0", w)
		}
	}
	choices("activations", len(s.Activations), hasDup(s.Activations))
	for _, a := range s.Activations {
		if !slices.Contains(activations, a) {
			bad("activations", "%q, want one of %v", a, activations)
		}
	}
	c := s.Compression
	choices("compression.sparsity", len(c.Sparsity), hasDup(c.Sparsity))
	for _, v := range c.Sparsity {
		if !(v >= 0 && v < 1) {
			bad("compression.sparsity", "%g, want in [0, 1)", v)
		}
	}
	choices("compression.weight_bits", len(c.WeightBits), hasDup(c.WeightBits))
	for _, b := range c.WeightBits {
		if b != 4 && b != 8 && b != 32 {
			bad("compression.weight_bits", "%d, want 4, 8 or 32", b)
		}
	}
	choices("compression.kmeans_bits", len(c.KMeansBits), hasDup(c.KMeansBits))
	for _, b := range c.KMeansBits {
		if b < 0 || b > 8 {
			bad("compression.kmeans_bits", "%d, want 0 (off) or 1..8", b)
		}
	}
	return errors.Join(errs...)
}

func hasDup[T comparable](s []T) bool {
	seen := map[T]bool{}
	for _, v := range s {
		if seen[v] {
			return true
		}
		seen[v] = true
	}
	return false
}

// ConvGene is one conv block of a Genome.
type ConvGene struct {
	Channels int `json:"channels"`
	Kernel   int `json:"kernel"`
}

// Compression is the compression part of a Genome: the settings a
// candidate's trained network is compressed with.
type Compression struct {
	Sparsity   float64 `json:"sparsity"`
	WeightBits int     `json:"weight_bits"`
	KMeansBits int     `json:"kmeans_bits"`
}

// Genome is one point of a Space, by value.
type Genome struct {
	Conv        []ConvGene  `json:"conv"`
	Dense       []int       `json:"dense"`
	Activation  string      `json:"activation"`
	Compression Compression `json:"compression"`
}

// Hash returns a stable identity of g: the hex SHA-256 (first 16 bytes) of
// its canonical JSON. Equal genomes have equal hashes whatever the space
// they came from.
func (g Genome) Hash() string {
	c := g
	if c.Conv == nil {
		c.Conv = []ConvGene{}
	}
	if c.Dense == nil {
		c.Dense = []int{}
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("nas: marshal genome: %v", err)) // plain data cannot fail
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// Arch returns the network of g for space s: per conv gene, conv (padding
// kernel/2) → activation → max-pool 2; then flatten; per dense width, dense →
// activation; then a dense classifier of s.Classes units. The result is
// validated with Arch.Validate.
func (s Space) Arch(g Genome) (nn.Arch, error) {
	a := nn.Arch{Name: "nas-" + g.Hash()[:8], Input: slices.Clone(s.Input)}
	if g.Activation != "relu" {
		return nn.Arch{}, fmt.Errorf("genome activation %q, want relu", g.Activation)
	}
	for _, c := range g.Conv {
		a.Layers = append(a.Layers,
			nn.LayerSpec{Type: nn.TypeConv2D, Filters: c.Channels, Kernel: c.Kernel, Pad: c.Kernel / 2},
			nn.LayerSpec{Type: nn.TypeReLU},
			nn.LayerSpec{Type: nn.TypeMaxPool2D, Kernel: 2})
	}
	a.Layers = append(a.Layers, nn.LayerSpec{Type: nn.TypeFlatten})
	for _, w := range g.Dense {
		a.Layers = append(a.Layers, nn.LayerSpec{Type: nn.TypeDense, Units: w}, nn.LayerSpec{Type: nn.TypeReLU})
	}
	a.Layers = append(a.Layers, nn.LayerSpec{Type: nn.TypeDense, Units: s.Classes})
	if err := a.Validate(); err != nil {
		return nn.Arch{}, fmt.Errorf("genome %s: %w", g.Hash(), err)
	}
	return a, nil
}

// Size is the parameter and storage count of an architecture.
type Size struct {
	// Params counts trainable parameters (weights and biases).
	Params int `json:"params"`
	// Weights counts the weight (not bias) parameters of dense and conv layers.
	Weights int `json:"weights"`
	// Tensors counts the weight tensors.
	Tensors int `json:"tensors"`
}

// SizeOf counts a valid Arch's parameters from its shapes, without building it.
func SizeOf(a nn.Arch) (Size, error) {
	shapes, err := a.Shapes()
	if err != nil {
		return Size{}, err
	}
	var z Size
	for i, l := range a.Layers {
		in := shapes[i]
		switch l.Type {
		case nn.TypeDense:
			w := in[0] * l.Units
			z.Weights += w
			z.Params += w + l.Units
			z.Tensors++
		case nn.TypeConv2D:
			w := l.Filters * in[0] / max(1, l.Groups) * l.Kernel * l.Kernel
			z.Weights += w
			z.Params += w + l.Filters
			z.Tensors++
		case nn.TypeBatchNorm:
			z.Params += 2 * in[0]
		}
	}
	return z, nil
}

// EstimateBytes is the stored size of a network of size z compressed with c,
// as the constraint max_bytes counts it: per weight tensor, the kept weights
// (round((1−sparsity)·weights)) at KMeansBits (if > 0) or WeightBits each,
// rounded up to bytes, plus one byte of relative index per kept weight when
// sparsity > 0, a float32 codebook of 2^KMeansBits entries with k-means or a
// float32 scale when WeightBits < 32; biases stay float32. It is an estimate
// (indices are spread evenly over tensors); the compressed artifact's own size
// report is the measured figure.
func EstimateBytes(z Size, c Compression) int {
	kept := int(math.Round((1 - c.Sparsity) * float64(z.Weights)))
	b := c.WeightBits
	if c.KMeansBits > 0 {
		b = c.KMeansBits
	}
	total := (kept*b + 7) / 8
	if c.Sparsity > 0 {
		total += kept
	}
	switch {
	case c.KMeansBits > 0:
		total += z.Tensors * 4 << c.KMeansBits
	case c.WeightBits < 32:
		total += z.Tensors * 4
	}
	return total + 4*(z.Params-z.Weights)
}

// String describes g for people: "conv8/5 fc64 sparsity 0.5 w8 kmeans4"
// (convolutions as channels/kernel, dense widths, then compression).
func (g Genome) String() string {
	var parts []string
	for _, c := range g.Conv {
		parts = append(parts, fmt.Sprintf("conv%d/%d", c.Channels, c.Kernel))
	}
	for _, d := range g.Dense {
		parts = append(parts, fmt.Sprintf("fc%d", d))
	}
	c := g.Compression
	parts = append(parts, fmt.Sprintf("sparsity %.2g", c.Sparsity), fmt.Sprintf("w%d", c.WeightBits))
	if c.KMeansBits > 0 {
		parts = append(parts, fmt.Sprintf("kmeans%d", c.KMeansBits))
	}
	return strings.Join(parts, " ")
}
