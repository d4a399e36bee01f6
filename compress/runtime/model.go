package runtime

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/compress/safetensors"
)

// Model is a loaded float32 model with the plans built for it, one per
// setting, kept in memory until Close.
type Model struct {
	// Net is the network the file holds.
	Net *nn.Network
	// Format is the file's format as recipe.LoadModel names it
	// (safetensors, compressed or onnx).
	Format string

	mu    sync.Mutex
	plans map[planKey]*Plan
}

// planKey identifies a plan of a model.
type planKey struct {
	batch, threads int
	kernels        string
}

// Load reads a model file in any format compressq writes (see
// recipe.LoadModel) within limits; the loader's error is returned as is.
func Load(raw []byte, limits safetensors.Limits) (*Model, error) {
	m, err := recipe.LoadModel("model", raw, limits)
	if err != nil {
		return nil, err
	}
	return NewModel(m.Net, m.Format), nil
}

// NewModel wraps a network already in memory; format is informational.
func NewModel(net *nn.Network, format string) *Model {
	return &Model{Net: net, Format: format}
}

// Plan returns the model's plan for o's batch size, thread count and kernel
// set, building it with NewPlan on first use (MinTime then applies). The
// plan belongs to the model: Close the model, not the plan.
func (m *Model) Plan(ctx context.Context, o Options) (*Plan, error) {
	key := planKey{o.Batch, o.Threads, strings.Join(o.Kernels, ",")}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.plans[key]; ok {
		return p, nil
	}
	if m.Net == nil {
		return nil, fmt.Errorf("runtime: plan: model has no network")
	}
	p, err := NewPlan(ctx, m.Net, o)
	if err != nil {
		return nil, err
	}
	if m.plans == nil {
		m.plans = map[planKey]*Plan{}
	}
	m.plans[key] = p
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
}
