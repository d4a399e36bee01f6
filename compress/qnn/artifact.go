package qnn

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
)

// Compressed returns the content of a compressed artifact (format version
// 2, compress/packed) that holds m completely: the prepared network's
// architecture; per Dense/Conv2D layer i, "layers.<i>.weight" as its
// symmetric per-channel int8 (or int4) codes and scales in the layer's
// own shape — stored sparsely when smaller — and "layers.<i>.bias" as
// int32 codes whose per-channel scale is the accumulator's,
// float32(InScale·W.Scale[o]); and the activation table: the scale and
// zero point of the input ("input") and of every other quantized tensor,
// the output of each Dense, Conv2D, Add and Concat but the logits
// ("layers.<i>", named by the last layer fused into it). Everything else
// — the requantization multipliers, clamps of fused activations, Add and
// Concat rescaling, the logit scale — is recomputed from these by
// FromArtifact exactly as Quantize computed it.
//
// The caller adds its own metadata (the input transform) to the result.
func (m *Model) Compressed() (*packed.Compressed, error) {
	if m.arch == nil {
		return nil, errors.New("qnn: the model has no architecture (build it with Quantize or FromArtifact)")
	}
	c := &packed.Compressed{Arch: string(m.arch), Activations: &packed.Activations{}}
	a := c.Activations
	add := func(name string, scale float32, zero uint8) {
		a.Tensors, a.Scale, a.ZeroPoint = append(a.Tensors, name), append(a.Scale, scale), append(a.ZeroPoint, zero)
	}
	add("input", m.InScale, m.InZero)
	for _, l := range m.Layers {
		if quantizedOutput(l) {
			add(layerName(l.tail), l.OutScale, l.OutZero)
		}
		if l.W == nil {
			continue
		}
		out, k := l.W.Shape[0], l.W.Shape[1]
		shape := []int{out, k}
		if l.Kind == KindConv || l.Kind == KindDepthwise {
			kk := l.Kernel * l.Kernel
			shape = []int{out, k / kk, l.Kernel, l.Kernel}
		}
		w := *l.W
		w.Shape = shape
		wp := packed.CompressedParam{Name: layerName(l.index) + ".weight", Shape: slices.Clone(shape), Quantized: &w}
		if _, _, err := wp.ChooseSparse(); err != nil {
			return nil, fmt.Errorf("qnn: %w", err)
		}
		bs := make([]float32, out)
		for o := range bs {
			bs[o] = float32(float64(l.InScale) * float64(l.W.Scale[o]))
		}
		bp := packed.CompressedParam{Name: layerName(l.index) + ".bias", Shape: []int{out},
			Int32: &packed.Int32Codes{Q: slices.Clone(l.Bias), Scale: bs, Axis: 0}}
		c.Params = append(c.Params, wp, bp)
	}
	return c, nil
}

// quantizedOutput reports whether l's output has its own quantization
// (stored in an artifact's activation table) rather than its input's or,
// for the logits layer, the logit scale.
func quantizedOutput(l *Layer) bool {
	switch l.Kind {
	case KindConv, KindDense, KindDepthwise, KindAdd, KindConcat:
		return !l.Logits
	}
	return false
}

// Load reads an integer-only model from a compressed artifact that
// Model.Compressed wrote (format version 2): the network through
// model.Load, then FromArtifact. threads bounds the goroutines of each
// Forward (0: GOMAXPROCS). Errors name the parameter or tensor and wrap
// safetensors.ErrFormat (or ErrLimit).
func Load(raw []byte, limits safetensors.Limits, threads int) (*Model, error) {
	c, err := packed.ReadCompressed(raw, limits)
	if err != nil {
		return nil, fmt.Errorf("qnn: %w", err)
	}
	if c.Activations == nil {
		return nil, fmt.Errorf("qnn: %w", ErrNoActivations)
	}
	net, err := model.Load(raw, limits)
	if err != nil {
		return nil, fmt.Errorf("qnn: %w", err)
	}
	return FromArtifact(net, c, threads)
}

// ErrNoActivations is returned (wrapped) by Load and FromArtifact for an
// artifact without an activation table: a weight-only artifact, which runs
// as its dequantized float network or must be calibrated.
var ErrNoActivations = errors.New("the artifact stores no activation scales (weight-only): it has no integer model")

// FromArtifact rebuilds the integer model that Model.Compressed stored in
// c, given net, the network c's architecture and parameters describe (as
// model.Load returns it). Its outputs equal the saved model's bit for bit.
// Every table is checked before use: the activation table must name
// exactly the network's quantization points in order; each Dense/Conv2D
// weight must be symmetric per-channel int8 or int4 codes of the layer's
// shape; each bias int32 codes, one per output channel, within ±2³⁰, with
// the accumulator's scale. Errors name the parameter or tensor and wrap
// safetensors.ErrFormat.
func FromArtifact(net *nn.Network, c *packed.Compressed, threads int) (*Model, error) {
	if c.Activations == nil {
		return nil, fmt.Errorf("qnn: %w", ErrNoActivations)
	}
	p, err := planNet(net)
	if err != nil {
		return nil, fmt.Errorf("qnn: the artifact's network: %w: %w", err, safetensors.ErrFormat)
	}
	want, got := p.pointNames(), c.Activations
	if len(got.Tensors) != len(want) {
		return nil, fmt.Errorf("qnn: activations: %d tensors, the network quantizes %d (%q): %w", len(got.Tensors), len(want), want, safetensors.ErrFormat)
	}
	acts := make([]act, len(want))
	for k, name := range want {
		if got.Tensors[k] != name {
			return nil, fmt.Errorf("qnn: activations: tensor %d is %q, want %q (no such quantized tensor in the network at that place): %w", k, got.Tensors[k], name, safetensors.ErrFormat)
		}
		acts[k] = act{got.Scale[k], got.ZeroPoint[k]}
	}
	m, err := p.build(acts, threads, quant.Params{}, &source{c: c})
	if err != nil && !errors.Is(err, safetensors.ErrFormat) {
		// Whatever the builder refuses is a property of the file.
		err = fmt.Errorf("%w: %w", err, safetensors.ErrFormat)
	}
	return m, err
}

// source hands an artifact's integer weights and biases to the model
// builder.
type source struct{ c *packed.Compressed }

// layer returns the weight codes (as [out, k]) and the int32 bias of
// network layer i, checked against the layer's out channels and row length
// k.
func (s *source) layer(i, out, k int) (*quant.Quantized, *packed.Int32Codes, error) {
	wn, bn := layerName(i)+".weight", layerName(i)+".bias"
	fail := func(name, format string, args ...any) (*quant.Quantized, *packed.Int32Codes, error) {
		return nil, nil, fmt.Errorf("parameter %q: %s: %w", name, fmt.Sprintf(format, args...), safetensors.ErrFormat)
	}
	wp, ok := s.c.Param(wn)
	if !ok {
		return fail(wn, "missing")
	}
	q := wp.Quantized
	if q == nil || !q.Symmetric || q.Axis != 0 {
		return fail(wn, "scheme %s, want int8 or int4 codes with symmetric per-channel (axis 0) scales", wp.Scheme())
	}
	if len(q.Shape) == 0 || q.Shape[0] != out || len(q.Q) != out*k || len(q.Scale) != out {
		return fail(wn, "shape %v with %d scales, the layer needs %d channels of %d weights", q.Shape, len(q.Scale), out, k)
	}
	bp, ok := s.c.Param(bn)
	if !ok {
		return fail(bn, "missing")
	}
	b := bp.Int32
	if b == nil || b.Axis != 0 {
		return fail(bn, "scheme %s, want int32 codes with per-channel (axis 0) scales", bp.Scheme())
	}
	if len(b.Q) != out || len(b.Scale) != out {
		return fail(bn, "%d codes and %d scales, the layer has %d output channels", len(b.Q), len(b.Scale), out)
	}
	w := *q
	w.Shape = []int{out, k}
	return &w, b, nil
}

// checkBias checks channel o of layer i's stored bias: within ±maxBias and
// stored with the accumulator scale acc.
func (s *source) checkBias(i, o int, b *packed.Int32Codes, acc float64) error {
	name := layerName(i) + ".bias"
	if v := b.Q[o]; math.Abs(float64(v)) > maxBias {
		return fmt.Errorf("parameter %q: code[%d] = %d exceeds ±2^30 accumulator steps: %w", name, o, v, safetensors.ErrFormat)
	}
	if want := float32(acc); b.Scale[o] != want {
		return fmt.Errorf("parameter %q: scale[%d] = %v, want the accumulator scale (input scale × weight scale) %v: %w", name, o, b.Scale[o], want, safetensors.ErrFormat)
	}
	return nil
}
