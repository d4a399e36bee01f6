package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/qnn"
	"github.com/compressq/compressq/compress/quant"
)

// Int8Options configures NewInt8Plan.
type Int8Options struct {
	// Batch is the number of samples each Run takes; Threads bounds the
	// goroutines of each Run (qnn.Options.Threads). Both at least 1.
	Batch, Threads int
	// Calibration holds the samples, normalized like the model's input,
	// whose activation ranges fix the activation scales. Required.
	Calibration *data.Dataset
	// CalibrationSize uses the first CalibrationSize samples (0: all).
	CalibrationSize int
	// Method is the range calibration method (quant.CalibMinMax,
	// CalibPercentile, CalibMSE or CalibKL); "" means min-max.
	Method string
	// InputNorm, if not nil, fixes the input quantization to the data
	// normalization (see qnn.Options.InputNorm).
	InputNorm *data.Normalization
}

// Int8Plan runs an integer-only model (compress/qnn): weights int8 per
// channel, activation scales stored in the artifact it came from (Load) or
// calibrated (NewInt8Plan), every layer in integer arithmetic
// (qnn.Model.ForwardThreads, int8 GEMMs of compress/fixed). Unlike Plan it
// chooses no kernels per layer — the sparse int8 kernels are not planned.
// It keeps its input codes and logits between Runs; on one thread a Run
// allocates nothing.
type Int8Plan struct {
	mu      sync.Mutex
	m       *qnn.Model
	batch   int
	threads int
	in      []int
	out     []float32
	q       []uint8 // the quantized input, reused by every Run
	logits  []int32 // the integer logits, likewise
}

// NewInt8PlanFor runs the integer model m on batch samples per Run, on up
// to threads goroutines. Both must be at least 1 (threads at most
// MaxThreads), and a batch's inputs at most 2^30 values.
func NewInt8PlanFor(m *qnn.Model, batch, threads int) (*Int8Plan, error) {
	if batch <= 0 {
		return nil, fmt.Errorf("runtime: int8 plan: batch %d: must be at least 1", batch)
	}
	if per := max(1, prod(m.Input), m.Classes); batch > maxActivations/per {
		return nil, fmt.Errorf("runtime: int8 plan: batch %d: more than 2^30 values of input or logits", batch)
	}
	if threads <= 0 || threads > MaxThreads {
		return nil, fmt.Errorf("runtime: int8 plan: threads %d: must be in [1, %d]", threads, MaxThreads)
	}
	return &Int8Plan{m: m, batch: batch, threads: threads, in: slices.Clone(m.Input), out: make([]float32, batch*m.Classes)}, nil
}

// NewInt8Plan quantizes net with qnn (Prepare, Calibrate on o.Calibration,
// Ranges, Quantize) for o.Batch samples on up to o.Threads goroutines. net
// must have only layers qnn has integer forms for; the error names the
// first that has none.
func NewInt8Plan(ctx context.Context, net *nn.Network, o Int8Options) (*Int8Plan, error) {
	if o.Batch <= 0 {
		return nil, fmt.Errorf("runtime: int8 plan: batch %d: must be at least 1", o.Batch)
	}
	if o.Threads <= 0 || o.Threads > MaxThreads {
		return nil, fmt.Errorf("runtime: int8 plan: threads %d: must be in [1, %d]", o.Threads, MaxThreads)
	}
	if o.Calibration == nil || o.Calibration.Len() == 0 {
		return nil, errors.New("runtime: int8 plan: calibration: no samples")
	}
	method := o.Method
	if method == "" {
		method = quant.CalibMinMax
	}
	prep, err := qnn.Prepare(net)
	if err != nil {
		return nil, fmt.Errorf("runtime: int8 plan: %w", err)
	}
	obs, err := qnn.Calibrate(ctx, prep, o.Calibration, o.CalibrationSize)
	if err != nil {
		return nil, fmt.Errorf("runtime: int8 plan: %w", err)
	}
	ranges, err := qnn.Ranges(obs, method)
	if err != nil {
		return nil, fmt.Errorf("runtime: int8 plan: method %q: %w", method, err)
	}
	m, err := qnn.Quantize(prep, ranges, qnn.Options{Threads: o.Threads, InputNorm: o.InputNorm})
	if err != nil {
		return nil, fmt.Errorf("runtime: int8 plan: %w", err)
	}
	return NewInt8PlanFor(m, o.Batch, o.Threads)
}

// Run quantizes x (Batch samples of the input shape, normalized) to the
// model's input codes, runs the integer model and returns the logits
// scaled back to real values, [Batch, classes]. The returned slice belongs
// to the plan and is overwritten by the next Run.
func (p *Int8Plan) Run(x []float32) ([]float32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if want := p.batch * prod(p.in); len(x) != want {
		return nil, fmt.Errorf("runtime: int8 run: input has %d values, want batch %d × %v = %d", len(x), p.batch, p.in, want)
	}
	p.q = slices.Grow(p.q[:0], len(x))[:len(x)]
	p.m.QuantizeInputTo(p.q, x)
	p.logits = slices.Grow(p.logits[:0], len(p.out))[:len(p.out)]
	if err := p.m.ForwardThreadsTo(p.logits, p.q, p.threads); err != nil {
		return nil, fmt.Errorf("runtime: int8 run: %w", err)
	}
	for i, v := range p.logits {
		p.out[i] = float32(v) * p.m.LogitScale
	}
	return p.out, nil
}

// Model returns the integer model the plan runs.
func (p *Int8Plan) Model() *qnn.Model { return p.m }

// InputShape returns the per-sample input shape.
func (p *Int8Plan) InputShape() []int { return slices.Clone(p.in) }

// Layers describes the integer model's layers as a plan reports them:
// Dense and Conv2D (depthwise too) run the int8 kernels ("int8", with
// their weight matrix shape and the fraction of zero codes), every other
// layer "native". Index is the layer's index in the integer model.
func (p *Int8Plan) Layers() []LayerChoice {
	out := make([]LayerChoice, len(p.m.Layers))
	for i, l := range p.m.Layers {
		c := LayerChoice{Index: i, Type: l.Kind, Kernel: "native"}
		if l.W != nil {
			c.Kernel, c.Threads = "int8", p.threads
			c.Rows, c.Cols = l.W.Shape[0], l.W.Shape[1]
			zeros := 0
			for _, v := range l.W.Q {
				if v == 0 {
					zeros++
				}
			}
			c.Sparsity = float64(zeros) / float64(max(1, len(l.W.Q)))
		}
		out[i] = c
	}
	return out
}
