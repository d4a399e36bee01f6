package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/onnx"
	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/qnn"
	"github.com/compressq/compressq/compress/safetensors"
)

// Model is a loaded model with the plans built for it, one per setting,
// kept in memory until Close.
type Model struct {
	// Net is the network the file holds (for an integer-only artifact,
	// its dequantized float32 network).
	Net *nn.Network
	// Int8 is the integer-only model of a compressed artifact that stores
	// one (activation scales included); nil for any other file. Int8Plan
	// runs it.
	Int8 *qnn.Model
	// Format is the file's format: FormatSafetensors, FormatCompressed or
	// FormatONNX.
	Format string

	mu        sync.Mutex
	plans     map[planKey]*Plan
	int8Plans map[planKey]*Int8Plan
}

// planKey identifies a plan of a model.
type planKey struct {
	batch, threads int
	kernels        string
}

// The formats Load recognises, as Model.Format names them (the names
// recipe.LoadModel uses).
const (
	FormatSafetensors = "safetensors"
	FormatCompressed  = "compressed"
	FormatONNX        = "onnx"
)

// Load reads a model file in any format compressq writes, recognised by
// content as recipe.LoadModel does (which this package cannot import:
// recipes will run models through the runtime): a safetensors network or
// a compressed artifact through model.Load (quantized, codebook and sparse
// tensors decoded to float32), anything else as ONNX through onnx.Decode
// and onnx.GraphToNetwork. A compressed artifact that stores an
// integer-only model (its activation table) also gets Model.Int8, rebuilt
// by qnn.FromArtifact from the stored scales: no calibration. The loaders'
// errors are returned wrapped, never replaced.
func Load(raw []byte, limits safetensors.Limits) (*Model, error) {
	if len(raw) >= 9 && raw[8] == '{' { // an 8-byte header length, then JSON
		net, err := model.Load(raw, limits)
		if err != nil {
			return nil, err
		}
		sf, err := safetensors.ReadSafetensors(raw, limits)
		if err != nil {
			return nil, err
		}
		if !packed.IsCompressedFormat(sf.Metadata[packed.FormatKey]) {
			return NewModel(net, FormatSafetensors), nil
		}
		m := NewModel(net, FormatCompressed)
		if _, ok := sf.Metadata[packed.ActivationsKey]; ok {
			c, err := packed.ReadCompressed(raw, limits)
			if err != nil {
				return nil, err
			}
			if m.Int8, err = qnn.FromArtifact(net, c, 0); err != nil {
				return nil, err
			}
		}
		return m, nil
	}
	var ol onnx.Limits
	if limits.MaxFileBytes > 0 && limits.MaxFileBytes < 1<<31 {
		ol.MaxBytes = int(limits.MaxFileBytes)
	}
	g, err := onnx.Decode(raw, ol)
	if err != nil {
		return nil, fmt.Errorf("not a model file compressq reads (safetensors, a compressed artifact or ONNX): %w", err)
	}
	net, err := onnx.GraphToNetwork(g)
	if err != nil {
		return nil, err
	}
	return NewModel(net, FormatONNX), nil
}

// NewModel wraps a network already in memory; format is informational.
func NewModel(net *nn.Network, format string) *Model {
	return &Model{Net: net, Format: format}
}

// Plan returns the model's plan for o's batch size, thread count and kernel
// set, building it with NewPlan on first use (MinTime then applies). The
// plan belongs to the model: Close the model, not the plan.
func (m *Model) Plan(ctx context.Context, o Options) (*Plan, error) {
	if m.Net == nil {
		return nil, fmt.Errorf("runtime: plan: model has no network")
	}
	key := planKey{o.Batch, o.Threads, strings.Join(o.Kernels, ",")}
	return keptPlan(m, &m.plans, key, func() (*Plan, error) { return NewPlan(ctx, m.Net, o) })
}

// Int8Plan returns the plan that runs the model's integer-only model
// (Int8) for o.Batch samples on o.Threads goroutines, building it on first
// use and timing each layer's candidate kernels for o.MinTime (see
// NewInt8PlanWith; o.Kernels names float kernels and does not apply:
// NewInt8PlanWith takes Int8Kernels). It fails for a model without one.
// The plan belongs to the model: Close the model, not the plan.
func (m *Model) Int8Plan(o Options) (*Int8Plan, error) {
	if m.Int8 == nil {
		return nil, errors.New("runtime: int8 plan: the model file stores no integer-only model (activation scales)")
	}
	key := planKey{batch: o.Batch, threads: o.Threads}
	return keptPlan(m, &m.int8Plans, key, func() (*Int8Plan, error) {
		return NewInt8PlanWith(context.Background(), m.Int8, Options{Batch: o.Batch, Threads: o.Threads, MinTime: o.MinTime})
	})
}

// keptPlan returns the plan kept in plans under key, building and keeping
// it first if there is none.
func keptPlan[P any](m *Model, plans *map[planKey]P, key planKey, build func() (P, error)) (P, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := (*plans)[key]; ok {
		return p, nil
	}
	p, err := build()
	if err != nil {
		return p, err
	}
	if *plans == nil {
		*plans = map[planKey]P{}
	}
	(*plans)[key] = p
	return p, nil
}

// Close closes every plan of the model.
func (m *Model) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, p := range m.plans {
		p.Close()
		delete(m.plans, k)
	}
	for k, p := range m.int8Plans {
		p.Close()
		delete(m.int8Plans, k)
	}
}
