package runtime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/compressq/compressq/compress/kernels"
	"github.com/compressq/compressq/compress/nn"
	"gorgonia.org/tensor"
)

// MaxThreads bounds Options.Threads.
const MaxThreads = 1024

// maxActivations bounds the float32 values of a plan's activation buffers
// (4 GiB), so that a huge batch is refused rather than exhausting memory.
const maxActivations = 1 << 30

// serialSuffix marks, in LayerChoice.Nanos, a kernel timed on one thread.
const serialSuffix = "@1"

// The layouts a dense convolution is timed in (LayerChoice.Layout): windows
// of the zero-padded image read in place (kernels.ShiftedApplies), or
// im2col rows.
const (
	LayoutShifted = "shifted"
	LayoutIm2col  = "im2col"
)

// Options configures a plan. Batch and Threads must be at least 1, Threads
// at most MaxThreads, and the batch's activations must fit in 2^30 values.
type Options struct {
	// Batch is the number of samples each Run takes.
	Batch int
	// Threads is the number of goroutines a layer's work is split across
	// (the calling one and Threads−1 workers the plan owns).
	Threads int
	// Kernels restricts the candidates measured for layers with weights to
	// these names from Kernels (from Int8Kernels for NewInt8PlanWith); nil
	// means all of them. "dense/shifted" or "dense/im2col" restricts a
	// convolution on the dense kernel to that layout (LayerChoice.Layout).
	Kernels []string
	// MinTime is the least time each candidate kernel of a layer is timed
	// for (at least 3 calls; the fastest call counts); 0 means 10 ms (2 ms
	// for int8 plans).
	MinTime time.Duration
}

// LayerChoice describes how a plan runs one layer of the network after
// batch-norm folding (so indices can differ from the file's when it has
// batch norms).
type LayerChoice struct {
	// Index is the layer's index in the folded network; Type its type.
	Index int    `json:"index"`
	Type  string `json:"type"`
	// Kernel is, for a layer with weights, the chosen kernel (one of
	// Kernels, or of Int8Kernels in an int8 plan); otherwise "native" (run by this package), "fused" (an
	// activation computed in its source's epilogue), "view" (a reshape that
	// shares its source's buffer) or "nn" (run by the layer's own Forward,
	// which allocates).
	Kernel string `json:"kernel"`
	// Layout is, for a convolution on the dense kernel whose geometry
	// allows both, how the kernel reads the image: LayoutShifted or
	// LayoutIm2col, whichever measured faster (both are in Nanos as
	// "dense/shifted" and "dense/im2col").
	Layout string `json:"layout,omitempty"`
	// Threads is the number of goroutines a weight layer's step uses: up
	// to the plan's (fewer when the layer has fewer rows or images to
	// split), or 1 where that measured faster.
	Threads int `json:"threads,omitempty"`
	// FusedInto is the index of the layer a "fused" activation runs in.
	FusedInto int `json:"fused_into,omitempty"`
	// Rows and Cols are a weight layer's matrix shape [out, in·k·k].
	Rows int `json:"rows,omitempty"`
	Cols int `json:"cols,omitempty"`
	// Sparsity is the fraction of zero weights.
	Sparsity float64 `json:"sparsity,omitempty"`
	// Nanos is, per measured kernel, the fastest time of one call of the
	// whole layer (batch, epilogue and thread split included); a name with
	// the suffix "@1" is the kernel run on one thread of a plan with more.
	Nanos map[string]float64 `json:"nanos,omitempty"`
	// Skipped says, per kernel not measured, why.
	Skipped map[string]string `json:"skipped,omitempty"`
}

// Plan is an executable plan of one network for one batch size and thread
// count. Run may be called from several goroutines; calls run one at a
// time.
type Plan struct {
	mu       sync.Mutex
	batch    int
	threads  int
	in, out  []int
	input    []float32
	output   []float32
	steps    []step
	index    []int // layer index of each step
	w        *workers
	choices  []LayerChoice
	fallback bool
	closed   bool
	perImage int // activation values per image, input included
	sched    Schedule
	chunks   *chunks // the chunked schedule, when it runs
	inLen    int     // values of one Run's input
}

// NewPlan builds the plan of net for o.Batch samples on o.Threads threads,
// timing the candidate kernels of every layer with weights on this CPU
// (see the package comment). net is not modified and not used by the plan
// afterwards (the plan works on a batch-norm-folded copy). Close the plan
// to release its worker goroutines.
func NewPlan(ctx context.Context, net *nn.Network, o Options) (*Plan, error) {
	if o.Batch <= 0 {
		return nil, fmt.Errorf("runtime: plan: batch %d: must be at least 1", o.Batch)
	}
	if o.Threads <= 0 {
		return nil, fmt.Errorf("runtime: plan: threads %d: must be at least 1", o.Threads)
	}
	if o.Threads > MaxThreads {
		return nil, fmt.Errorf("runtime: plan: threads %d: at most %d", o.Threads, MaxThreads)
	}
	cands := o.Kernels
	if cands == nil {
		cands = Kernels
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("runtime: plan: kernels: empty list (want some of %v)", Kernels)
	}
	for _, k := range cands {
		if err := CheckKernel(k); err != nil {
			return nil, fmt.Errorf("runtime: plan: kernels: %w", err)
		}
	}
	if o.MinTime <= 0 {
		o.MinTime = 10 * time.Millisecond
	}
	o.Kernels = cands
	folded, err := net.FoldBatchNorm()
	if err != nil {
		return nil, fmt.Errorf("runtime: plan: fold batch norms: %w", err)
	}
	p := &Plan{batch: o.Batch, threads: o.Threads, w: newWorkers(o.Threads - 1)}
	err = p.build(ctx, folded, o, nil)
	if err == nil {
		err = p.schedule(ctx, folded, o)
	}
	if err != nil {
		p.w.stop()
		return nil, err
	}
	return p, nil
}

// build plans every layer of the folded network for p's batch and threads,
// using p's workers. forced, when not nil, holds the choices of a plan of
// the same network, batch and threads, which it copies without timing.
func (p *Plan) build(ctx context.Context, net *nn.Network, o Options, forced []LayerChoice) error {
	p.in, p.out = net.InputShape(), net.OutputShape()
	p.inLen = o.Batch * prod(p.in)
	a, layers := net.Arch(), net.Layers()
	cons := a.Consumers()
	n := o.Batch
	// fused[i] is the activation computed in layer i's epilogue, or -1.
	fused := make([]int, len(layers))
	into := make([]int, len(layers))
	for i := range layers {
		fused[i], into[i] = -1, -1
	}
	for i, l := range layers {
		if !fusable(l) || len(cons[i]) != 1 {
			continue
		}
		if k := cons[i][0]; isClamp(layers[k]) && len(a.Sources(k)) == 1 {
			fused[i], into[k] = k, i
		}
	}
	total := prod(p.in)
	for i, l := range layers {
		if into[i] < 0 && !isView(l) {
			total += prod(net.LayerOutputShape(i))
		}
	}
	if total > 0 && n > maxActivations/total {
		return fmt.Errorf("runtime: plan: batch %d: the activations would take %d×%d values, more than %d", n, n, total, maxActivations)
	}
	p.perImage = total
	bufs := make([][]float32, len(layers)+1)
	bufs[0] = make([]float32, n*prod(p.in))
	p.input = bufs[0]
	for i, l := range layers {
		src := a.Sources(i)
		if into[i] >= 0 || isView(l) {
			bufs[i+1] = bufs[src[0]+1]
		} else {
			bufs[i+1] = make([]float32, n*prod(net.LayerOutputShape(i)))
		}
	}
	p.output = bufs[len(layers)]
	rng := rand.New(rand.NewPCG(1, 2))
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		src := a.Sources(i)
		x, y := bufs[src[0]+1], bufs[i+1]
		in := net.LayerInputShape(i)
		ch := LayerChoice{Index: i, Type: l.Spec().Type}
		var fc *LayerChoice
		if forced != nil {
			fc = &forced[i]
		}
		act := noClamp
		if fused[i] >= 0 {
			act = clampOf(layers[fused[i]])
		}
		var st step
		switch l := l.(type) {
		case *nn.Dense:
			w := l.W.Float32s()
			ch.Rows, ch.Cols, ch.Sparsity = l.Out, l.In, sparsityOf(w)
			b := l.B.Float32s()
			mk := func(m *matrix, t int, _ string) weightStep { return newFCStep(m, n, x, y, b, act, t) }
			var err error
			if st, err = p.choose(ctx, &ch, fc, o, w, x, rng, mk, nil); err != nil {
				return fmt.Errorf("runtime: plan: layers[%d]: %w", i, err)
			}
		case *nn.Conv2D:
			if l.Groups > 1 {
				st, ch.Kernel = p.viaLayer(l, n, [][]int{in}, [][]float32{x}, y), "nn"
				break
			}
			g := convGeom(l, in)
			w := l.W.Float32s()
			ch.Rows, ch.Cols, ch.Sparsity = l.OutC, len(w)/l.OutC, sparsityOf(w)
			b := l.B.Float32s()
			mk := func(m *matrix, t int, layout string) weightStep {
				return newConvStep(m, g, n, x, y, b, act, t, layout == LayoutShifted)
			}
			var layouts []string
			if kernels.ShiftedApplies(g) {
				layouts = []string{LayoutShifted, LayoutIm2col}
			}
			var err error
			if st, err = p.choose(ctx, &ch, fc, o, w, x, rng, mk, layouts); err != nil {
				return fmt.Errorf("runtime: plan: layers[%d]: %w", i, err)
			}
		case *nn.ReLU, *nn.Clip:
			if into[i] >= 0 {
				ch.Kernel, ch.FusedInto = "fused", into[i]
				break
			}
			st, ch.Kernel = &clampStep{x: x, y: y, act: clampOf(l)}, "native"
		case *nn.MaxPool2D:
			g, plain := poolGeom(l.Kernel, l.Stride, l.Pad, l.Pads, l.CeilMode, in)
			st, ch.Kernel = newPoolStep(&poolStep{max: true, plain: plain, n: n, k: l.Kernel, stride: g.Stride, g: g, x: x, y: y}, o.Threads), "native"
		case *nn.AvgPool2D:
			g, plain := poolGeom(l.Kernel, l.Stride, l.Pad, l.Pads, l.CeilMode, in)
			st, ch.Kernel = newPoolStep(&poolStep{plain: plain, countPad: l.CountIncludePad, n: n, k: l.Kernel, stride: g.Stride, g: g, x: x, y: y}, o.Threads), "native"
		case *nn.GlobalAvgPool:
			st, ch.Kernel = &globalAvgStep{planes: n * in[0], hw: prod(in[1:]), x: x, y: y}, "native"
		case *nn.Add:
			xs := make([][]float32, len(src))
			same := true
			for k, s := range src {
				xs[k] = bufs[s+1]
				same = same && len(xs[k]) == len(y)
			}
			if !same {
				shapes := make([][]int, len(src))
				for k, s := range src {
					shapes[k] = sourceShape(net, s)
				}
				st, ch.Kernel = p.viaLayer(l, n, shapes, xs, y), "nn"
				break
			}
			st, ch.Kernel = newAddStep(&addStep{xs: xs, y: y, act: act}, o.Threads), "native"
		default:
			if isView(l) {
				ch.Kernel = "view"
				break
			}
			shapes, xs := make([][]int, len(src)), make([][]float32, len(src))
			for k, s := range src {
				shapes[k], xs[k] = sourceShape(net, s), bufs[s+1]
			}
			st, ch.Kernel = p.viaLayer(l, n, shapes, xs, y), "nn"
		}
		if fused[i] >= 0 && ch.Kernel == "nn" {
			return fmt.Errorf("runtime: plan: layers[%d]: internal error: activation fused into a layer run by nn", i)
		}
		p.choices = append(p.choices, ch)
		if st != nil {
			p.steps = append(p.steps, st)
			p.index = append(p.index, i)
		}
	}
	return nil
}

// CheckKernel reports whether k may be in Options.Kernels: one of Kernels,
// or the dense kernel with a layout ("dense/shifted", "dense/im2col").
func CheckKernel(k string) error {
	base, layout, hasLayout := strings.Cut(k, "/")
	if !slices.Contains(Kernels, base) {
		return fmt.Errorf("unknown kernel %q (want some of %v)", k, Kernels)
	}
	if hasLayout && (base != KernelDense || (layout != LayoutShifted && layout != LayoutIm2col)) {
		return fmt.Errorf("%q: only %s takes a layout, %s or %s", k, KernelDense, LayoutShifted, LayoutIm2col)
	}
	return nil
}

// choose encodes w in every candidate kernel the weights allow, times each
// as the whole layer step mk builds on random input in x — split across
// the plan's threads and, when that split uses several, also on one thread
// (a small layer can lose more to the hand-off than it gains), and the
// dense kernel in each of layouts (a convolution's) — and returns the
// fastest step, recording the times in ch. With fc not nil it builds fc's
// kernel, layout and threads alone, untimed (fc's times are kept).
func (p *Plan) choose(ctx context.Context, ch *LayerChoice, fc *LayerChoice, o Options, w, x []float32, rng *rand.Rand, mk func(m *matrix, threads int, layout string) weightStep, layouts []string) (step, error) {
	type cand struct {
		name string
		st   weightStep
	}
	var cands []cand
	seen := map[string]bool{}
	for _, kl := range o.Kernels {
		k, forced, _ := strings.Cut(kl, "/")
		m, err := encode(k, w, ch.Rows, ch.Cols, ch.Sparsity)
		if errors.Is(err, errNotApplicable) {
			if ch.Skipped == nil {
				ch.Skipped = map[string]string{}
			}
			ch.Skipped[k] = err.Error()
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		lays := []string{""}
		switch {
		case k != KernelDense || len(layouts) == 0:
		case forced != "":
			lays = []string{forced}
		default:
			lays = layouts
		}
		for _, lay := range lays {
			name := k
			if lay != "" {
				name += "/" + lay
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			st := mk(m, o.Threads, lay)
			cands = append(cands, cand{name, st})
			if st.width() > 1 {
				cands = append(cands, cand{name + serialSuffix, mk(m, 1, lay)})
			}
		}
	}
	if fc != nil {
		name := fc.Kernel
		if fc.Layout != "" {
			name += "/" + fc.Layout
		}
		cands = slices.DeleteFunc(cands, func(c cand) bool {
			return strings.TrimSuffix(c.name, serialSuffix) != name || c.st.width() != fc.Threads
		})
		ch.Nanos = fc.Nanos
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("no kernel of %v fits the weights: %v", o.Kernels, ch.Skipped)
	}
	if len(cands) == 1 {
		ch.Kernel, ch.Layout, _ = strings.Cut(cands[0].name, "/")
		ch.Threads = cands[0].st.width()
		return cands[0].st, nil
	}
	for j := range x {
		x[j] = float32(rng.NormFloat64())
	}
	ch.Nanos = map[string]float64{}
	best, bestNs := -1, math.Inf(1)
	for j, c := range cands {
		ns, err := p.time(ctx, c.st, o.MinTime)
		if err != nil {
			return nil, err
		}
		ch.Nanos[c.name] = ns
		if ns < bestNs {
			best, bestNs = j, ns
		}
	}
	ch.Kernel, ch.Layout, _ = strings.Cut(strings.TrimSuffix(cands[best].name, serialSuffix), "/")
	ch.Threads = cands[best].st.width()
	return cands[best].st, nil
}

// time returns the fastest of at least 3 calls of st repeated for at least
// minTime, after one warm-up call. The minimum is the estimate least
// disturbed by other load on a shared machine; every candidate is timed
// the same way.
func (p *Plan) time(ctx context.Context, st step, minTime time.Duration) (float64, error) {
	return timeCall(ctx, func() error { return st.run(p.w) }, minTime)
}

// timeCall returns the fastest of at least 3 calls of fn repeated for at
// least minTime, after one warm-up call, in nanoseconds: how plans time
// every candidate kernel (timeInterleaved with one function).
func timeCall(ctx context.Context, fn func() error, minTime time.Duration) (float64, error) {
	ns, err := timeInterleaved(ctx, []func() error{fn}, minTime)
	if err != nil {
		return 0, err
	}
	return ns[0], nil
}

// viaLayer returns a step that runs l through its own Forward or Merge on
// tensors wrapping xs (per-sample shapes shapes) and copies the result to y.
func (p *Plan) viaLayer(l nn.Layer, n int, shapes [][]int, xs [][]float32, y []float32) step {
	p.fallback = true
	ts := make([]*tensor.Dense, len(xs))
	for k, x := range xs {
		ts[k] = tensor.New(tensor.WithShape(append([]int{n}, shapes[k]...)...), tensor.WithBacking(x))
	}
	return &layerStep{l: l, xs: ts, y: y}
}

// sourceShape is the per-sample shape of source s (the network input for -1).
func sourceShape(net *nn.Network, s int) []int {
	if s < 0 {
		return net.InputShape()
	}
	return net.LayerOutputShape(s)
}

// convGeom is the im2col geometry of an ungrouped c over one image of
// shape in [C H W].
func convGeom(c *nn.Conv2D, in []int) kernels.ConvGeom {
	pads := c.Pads
	if pads == (nn.Pads{}) {
		pads = nn.Pads{c.Pad, c.Pad, c.Pad, c.Pad}
	}
	return kernels.ConvGeom{C: in[0], H: in[1], W: in[2], KH: c.Kernel, KW: c.Kernel, Stride: max(c.Stride, 1),
		Dilation: max(c.Dilation, 1), PadTop: pads[0], PadLeft: pads[1], PadBottom: pads[2], PadRight: pads[3]}
}

// fusable reports whether a ReLU or Clip reading only l can be computed in
// l's step.
func fusable(l nn.Layer) bool {
	switch l := l.(type) {
	case *nn.Dense, *nn.Add:
		return true
	case *nn.Conv2D:
		return l.Groups <= 1
	}
	return false
}

// isClamp reports whether l is a ReLU or Clip.
func isClamp(l nn.Layer) bool {
	_, _, ok := nn.ClampBounds(l)
	return ok
}

// clampOf returns the range a ReLU or Clip clamps to.
func clampOf(l nn.Layer) clampRange {
	lo, hi, _ := nn.ClampBounds(l)
	return clampRange{lo, hi}
}

// isView reports whether l passes its input through unchanged in row-major
// order at inference (so its output can share the input's buffer).
func isView(l nn.Layer) bool {
	switch l.(type) {
	case *nn.Flatten, *nn.Reshape, *nn.Identity, *nn.Dropout:
		return true
	}
	return false
}

func prod(s []int) int {
	p := 1
	for _, v := range s {
		p *= v
	}
	return p
}

// Run runs the plan on x, Batch samples of the input shape in row-major
// order, and returns the output [Batch, output shape...]. The returned
// slice belongs to the plan and is overwritten by the next Run. Run does
// not allocate unless a layer runs through nn (Allocates reports it).
func (p *Plan) Run(x []float32) ([]float32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("runtime: run: plan is closed")
	}
	if len(x) != p.inLen {
		return nil, fmt.Errorf("runtime: run: input has %d values, want batch %d × %v = %d", len(x), p.batch, p.in, p.inLen)
	}
	if p.chunks != nil {
		if err := p.chunks.runAll(p.w, x, p.output); err != nil {
			return nil, err
		}
		return p.output, nil
	}
	copy(p.input, x)
	if err := p.runSteps(); err != nil {
		return nil, err
	}
	return p.output, nil
}

// runSteps runs every step on p.input into p.output.
func (p *Plan) runSteps() error {
	for k, st := range p.steps {
		if err := st.run(p.w); err != nil {
			return fmt.Errorf("runtime: run: layers[%d]: %w", p.index[k], err)
		}
	}
	return nil
}

// Close stops the plan's worker goroutines; Run fails afterwards. Closing
// twice is harmless.
func (p *Plan) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		p.w.stop()
	}
}

// Batch returns the number of samples a Run takes.
func (p *Plan) Batch() int { return p.batch }

// Threads returns the number of goroutines a layer's work is split across.
func (p *Plan) Threads() int { return p.threads }

// InputShape returns the per-sample input shape.
func (p *Plan) InputShape() []int { return slices.Clone(p.in) }

// OutputShape returns the per-sample output shape.
func (p *Plan) OutputShape() []int { return slices.Clone(p.out) }

// Schedule returns how Run carries the batch through the layers.
func (p *Plan) Schedule() Schedule {
	s := p.sched
	s.Nanos = maps.Clone(s.Nanos)
	return s
}

// Layers returns how each layer runs, in order: in a chunked schedule, as
// a chunk runs (LayerChoice.Nanos then times a chunk).
func (p *Plan) Layers() []LayerChoice { return slices.Clone(p.choices) }

// Allocates reports whether some layer runs through its nn Forward, which
// allocates its output on every Run.
func (p *Plan) Allocates() bool { return p.fallback }
