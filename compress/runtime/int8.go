package runtime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/qnn"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/sparse"
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
	// Kernels and MinTime choose each layer's kernel as in
	// NewInt8PlanWith.
	Kernels []string
	MinTime time.Duration
}

// The kernels an int8 plan can choose for a Dense or Conv2D layer.
const (
	// KernelInt8 is the dense int8 GEMM of compress/fixed on the packed
	// weights (VNNI, AVX2 or Go), the integer model's own.
	KernelInt8 = "int8"
	// KernelCSRInt8 runs the layer as sparse int8 matrix–vector products,
	// one per row of its input (a sample for Dense, an im2row row for
	// Conv2D): sparse.SpMVInt8 on the weights' nonzeros laid out as a
	// sparse.SlicedInt8, on the calling goroutine.
	KernelCSRInt8 = "csr-int8"
)

// Int8Kernels lists the kernels an int8 plan can choose, in the order they
// are measured.
var Int8Kernels = []string{KernelInt8, KernelCSRInt8}

// defaultInt8MinTime is how long an int8 plan times each candidate kernel
// of a layer unless told otherwise: the candidates differ by several times
// on layers where the choice matters, and plans are built per batch size.
const defaultInt8MinTime = 2 * time.Millisecond

// Int8Plan runs an integer-only model (compress/qnn): weights int8 per
// channel, activation scales stored in the artifact it came from (Load) or
// calibrated (NewInt8Plan), every layer in integer arithmetic
// (qnn.Model.ForwardWith). Like Plan it chooses each Dense and Conv2D
// layer's kernel by timing the candidates on the layer's own weights at
// the plan's batch size and thread count, as the layer calls them: the
// dense int8 GEMM of compress/fixed (KernelInt8) or, for weights at least
// 30% zero, the sparse int8 matrix–vector kernel of compress/sparse
// (KernelCSRInt8). Both are exact, so the logits do not depend on the
// choice: they equal the integer model's Forward bit for bit. It keeps its
// input codes and logits between Runs; on one thread, or on the lanes
// schedule (Schedule), a Run allocates nothing. A plan on the lanes
// schedule owns worker goroutines until Close.
type Int8Plan struct {
	mu      sync.Mutex
	m       *qnn.Model
	batch   int
	threads int
	in      []int
	inN     int // values per sample
	out     []float32
	q       []uint8 // the quantized input, reused by every Run
	logits  []int32 // the integer logits, likewise
	// mm replaces the GEMM of the layers that run a sparse kernel (nil
	// entries keep the integer model's own; nil when none is replaced).
	mm      []qnn.Matmul
	choices []LayerChoice
	// The lanes schedule: with several threads, each of the plan's
	// goroutines carries a contiguous share of the batch through the
	// whole model on one thread (lanes, parts), instead of qnn starting
	// goroutines for its chunks on every call.
	w      *workers
	sched  Schedule
	lanes  []int8Lane
	parts  []func()
	x      []float32 // the Run's input, for the lanes
	closed bool
}

// int8Lane is the samples [lo, hi) of a lanes schedule, and its error.
type int8Lane struct {
	lo, hi int
	err    error
}

// NewInt8PlanFor runs the integer model m on batch samples per Run, on up
// to threads goroutines, choosing each layer's kernel among Int8Kernels
// (NewInt8PlanWith with default options).
func NewInt8PlanFor(m *qnn.Model, batch, threads int) (*Int8Plan, error) {
	return NewInt8PlanWith(context.Background(), m, Options{Batch: batch, Threads: threads})
}

// NewInt8PlanWith runs the integer model m on o.Batch samples per Run, on
// up to o.Threads goroutines. Both must be at least 1 (threads at most
// MaxThreads), and a batch's inputs at most 2^30 values. o.Kernels
// restricts the candidates to names from Int8Kernels (nil: all; the dense
// KernelInt8 alone runs the model as it is); each candidate of a layer is
// timed for at least o.MinTime (0: 2 ms) and at least 3 calls, the fastest
// call counting, on random input codes of the shape Forward gives the
// layer (qnn.Model.GEMMCall).
func NewInt8PlanWith(ctx context.Context, m *qnn.Model, o Options) (*Int8Plan, error) {
	batch, threads := o.Batch, o.Threads
	if batch <= 0 {
		return nil, fmt.Errorf("runtime: int8 plan: batch %d: must be at least 1", batch)
	}
	if per := max(1, prod(m.Input), m.Classes); batch > maxActivations/per {
		return nil, fmt.Errorf("runtime: int8 plan: batch %d: more than 2^30 values of input or logits", batch)
	}
	if threads <= 0 || threads > MaxThreads {
		return nil, fmt.Errorf("runtime: int8 plan: threads %d: must be in [1, %d]", threads, MaxThreads)
	}
	cands := o.Kernels
	if cands == nil {
		cands = Int8Kernels
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("runtime: int8 plan: kernels: empty list (want some of %v)", Int8Kernels)
	}
	for _, k := range cands {
		if !slices.Contains(Int8Kernels, k) {
			return nil, fmt.Errorf("runtime: int8 plan: kernels: unknown kernel %q (want some of %v)", k, Int8Kernels)
		}
	}
	if o.MinTime <= 0 {
		o.MinTime = defaultInt8MinTime
	}
	p := &Int8Plan{m: m, batch: batch, threads: threads, in: slices.Clone(m.Input), inN: prod(m.Input), out: make([]float32, batch*m.Classes)}
	p.q, p.logits = make([]uint8, batch*p.inN), make([]int32, batch*m.Classes)
	if err := p.choose(ctx, cands, o.MinTime); err != nil {
		return nil, err
	}
	p.w = newWorkers(0)
	if err := p.schedule(ctx, o.MinTime); err != nil {
		p.w.stop()
		return nil, err
	}
	return p, nil
}

// schedule times, with several threads and samples, qnn's own schedule
// (chunks of images on goroutines it starts per call, or one chunk's GEMMs
// split) against lanes on the plan's worker goroutines, and keeps the
// faster; the plan then owns threads−1 workers until Close.
func (p *Int8Plan) schedule(ctx context.Context, minTime time.Duration) error {
	p.sched = Schedule{Chunk: min(p.batch, qnnChunk), Lanes: 1}
	if p.threads == 1 || p.batch == 1 {
		return nil
	}
	x := randInput01(p.batch*p.inN, 5)
	p.setLanes()
	chunk := min(qnnChunk, p.lanes[0].hi-p.lanes[0].lo)
	ns, err := timeInterleaved(ctx, []func() error{
		func() error { return p.runQNN(x) },
		func() error { return p.runLanes(x) },
	}, minTime)
	if err != nil {
		return err
	}
	p.sched.Nanos = map[string]float64{int8ScheduleQNN: ns[0], ScheduleName(p.batch, chunk, len(p.lanes)): ns[1]}
	if ns[1] < ns[0] {
		p.sched.Chunk, p.sched.Lanes = chunk, len(p.lanes)
		return nil
	}
	p.w.stop()
	p.w, p.lanes, p.parts = newWorkers(0), nil, nil
	return nil
}

// setLanes switches p (with no lanes yet) to lanes of samples on threads−1
// new workers and the calling goroutine.
func (p *Int8Plan) setLanes() {
	p.w.stop()
	p.w = newWorkers(p.threads - 1)
	for _, sp := range split(p.batch, p.threads, 1) {
		p.lanes = append(p.lanes, int8Lane{lo: sp.lo, hi: sp.hi})
	}
	for i := range p.lanes {
		l := &p.lanes[i]
		p.parts = append(p.parts, func() { l.err = p.runLane(l.lo, l.hi) })
	}
}

// qnnChunk is how many images qnn carries through the model at a time
// (its chunkImages).
const qnnChunk = 8

// int8ScheduleQNN names, in Schedule.Nanos, the schedule qnn runs itself.
const int8ScheduleQNN = "qnn chunks"

// randInput01 returns n values uniform in [0, 1) from a fixed seed.
func randInput01(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n)
	for i := range x {
		x[i] = r.Float32()
	}
	return x
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
	return NewInt8PlanWith(ctx, m, Options{Batch: o.Batch, Threads: o.Threads, Kernels: o.Kernels, MinTime: o.MinTime})
}

// Run quantizes x (Batch samples of the input shape, normalized) to the
// model's input codes, runs the integer model and returns the logits
// scaled back to real values, [Batch, classes]. The returned slice belongs
// to the plan and is overwritten by the next Run.
func (p *Int8Plan) Run(x []float32) ([]float32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("runtime: int8 run: plan is closed")
	}
	if want := p.batch * p.inN; len(x) != want {
		return nil, fmt.Errorf("runtime: int8 run: input has %d values, want batch %d × %v = %d", len(x), p.batch, p.in, want)
	}
	return p.run(x)
}

// run is Run on a checked input.
func (p *Int8Plan) run(x []float32) ([]float32, error) {
	run := p.runQNN
	if len(p.lanes) > 0 {
		run = p.runLanes
	}
	if err := run(x); err != nil {
		return nil, fmt.Errorf("runtime: int8 run: %w", err)
	}
	return p.out, nil
}

// runQNN runs the batch on qnn's own schedule.
func (p *Int8Plan) runQNN(x []float32) error {
	p.m.QuantizeInputTo(p.q, x)
	if err := p.m.ForwardWith(p.logits, p.q, p.threads, p.mm); err != nil {
		return err
	}
	p.scale(0, p.batch)
	return nil
}

// runLanes runs the batch in the lanes on the plan's workers.
func (p *Int8Plan) runLanes(x []float32) error {
	p.x = x
	p.w.run(p.parts)
	p.x = nil
	for i := range p.lanes {
		if err := p.lanes[i].err; err != nil {
			return err
		}
	}
	return nil
}

// runLane quantizes samples [lo, hi) of the Run's input, runs them through
// the model on the calling goroutine and scales their logits.
func (p *Int8Plan) runLane(lo, hi int) error {
	c := p.m.Classes
	q := p.q[lo*p.inN : hi*p.inN]
	p.m.QuantizeInputTo(q, p.x[lo*p.inN:hi*p.inN])
	if err := p.m.ForwardWith(p.logits[lo*c:hi*c], q, 1, p.mm); err != nil {
		return err
	}
	p.scale(lo, hi)
	return nil
}

// scale writes the real logits of samples [lo, hi).
func (p *Int8Plan) scale(lo, hi int) {
	c := p.m.Classes
	for i := lo * c; i < hi*c; i++ {
		p.out[i] = float32(p.logits[i]) * p.m.LogitScale
	}
}

// Schedule returns how Run carries the batch through the model: qnn's
// own chunks (Lanes 1), or lanes of samples on the plan's goroutines.
func (p *Int8Plan) Schedule() Schedule {
	s := p.sched
	s.Nanos = maps.Clone(s.Nanos)
	return s
}

// Close stops the plan's worker goroutines (a lanes schedule has them);
// Run fails afterwards. Closing twice is harmless.
func (p *Int8Plan) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		p.w.stop()
	}
}

// Model returns the integer model the plan runs.
func (p *Int8Plan) Model() *qnn.Model { return p.m }

// InputShape returns the per-sample input shape.
func (p *Int8Plan) InputShape() []int { return slices.Clone(p.in) }

// Layers describes the integer model's layers as the plan runs them:
// Dense and Conv2D (not depthwise) report the chosen kernel (KernelInt8 or
// KernelCSRInt8), the goroutines it uses, their weight matrix shape, the
// fraction of zero codes and the measured times; every other layer
// "native". Index is the layer's index in the integer model.
func (p *Int8Plan) Layers() []LayerChoice { return slices.Clone(p.choices) }

// choose picks the kernel of every layer with a GEMM among cands, timing
// them as NewInt8PlanWith describes, and records the choices.
func (p *Int8Plan) choose(ctx context.Context, cands []string, minTime time.Duration) error {
	rng := rand.New(rand.NewPCG(1, 2))
	mm := make([]qnn.Matmul, len(p.m.Layers))
	sparseAny := false
	for i, l := range p.m.Layers {
		c := LayerChoice{Index: i, Type: l.Kind, Kernel: "native"}
		if !l.HasGEMM() {
			p.choices = append(p.choices, c)
			continue
		}
		w := l.FastWeights()
		rows := l.W.Shape[0]
		k := len(w) / rows
		c.Rows, c.Cols, c.Sparsity = rows, k, sparsityOf(w)
		n, gemmThreads := p.m.GEMMCall(i, p.batch, p.threads)
		type cand struct {
			name    string
			mm      qnn.Matmul
			threads int
		}
		var cs []cand
		for _, name := range cands {
			switch name {
			case KernelInt8:
				cs = append(cs, cand{name, l.GEMM(gemmThreads), p.threads})
			case KernelCSRInt8:
				if c.Sparsity < minSparsity {
					if c.Skipped == nil {
						c.Skipped = map[string]string{}
					}
					c.Skipped[name] = fmt.Sprintf("%v: sparsity %.2f below %.2f", errNotApplicable, c.Sparsity, minSparsity)
					continue
				}
				csr, err := sparse.FromDenseCSR(w, rows, k, k)
				if err != nil {
					return fmt.Errorf("runtime: int8 plan: layers[%d]: %s: %w", i, name, err)
				}
				// One goroutine per call: the layer uses more only when the
				// batch's chunks run in parallel (then the GEMM gets one too).
				threads := 1
				if gemmThreads < p.threads {
					threads = p.threads
				}
				cs = append(cs, cand{name, &slicedMatmul{a: sparse.NewSlicedInt8(csr), k: k, out: rows}, threads})
			}
		}
		if len(cs) == 0 {
			return fmt.Errorf("runtime: int8 plan: layers[%d]: no kernel of %v fits the weights: %v", i, cands, c.Skipped)
		}
		best := 0
		if len(cs) > 1 {
			x, acc := make([]uint8, n*k), make([]int32, n*rows)
			for j := range x {
				x[j] = uint8(rng.UintN(256))
			}
			c.Nanos = map[string]float64{}
			bestNs := math.Inf(1)
			for j, cd := range cs {
				ns, err := timeCall(ctx, func() error { cd.mm.Mul(x, n, l.InZero, acc); return nil }, minTime)
				if err != nil {
					return fmt.Errorf("runtime: int8 plan: %w", err)
				}
				c.Nanos[cd.name] = ns
				if ns < bestNs {
					best, bestNs = j, ns
				}
			}
		}
		c.Kernel, c.Threads = cs[best].name, cs[best].threads
		if c.Kernel != KernelInt8 {
			mm[i], sparseAny = cs[best].mm, true
		}
		p.choices = append(p.choices, c)
	}
	if sparseAny {
		p.mm = mm
	}
	return nil
}

// slicedMatmul runs a layer as sparse matrix–vector products, one per row
// of its input: acc [n, out] = (x − zero)·Wᵀ for x [n, k].
type slicedMatmul struct {
	a      *sparse.SlicedInt8
	k, out int
}

func (s *slicedMatmul) Mul(x []uint8, n int, zero uint8, acc []int32) {
	sparse.SpMVInt8Batch(s.a, x, n, s.k, zero, acc, s.out)
}
