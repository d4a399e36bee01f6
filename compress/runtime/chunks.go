package runtime

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/compressq/compressq/compress/nn"
)

// Schedule says how a plan runs its batch through the layers.
//
// Layer by layer over the whole batch, every activation of a large batch
// leaves the cache before the next layer reads it: a batch of 64 ran the
// PyTorch ResNet fixture about a sixth slower per image than batches of 1
// to 8 on one thread. So NewPlan also times the batch as chunks of a few
// images carried through all the layers, each chunk's activations small
// enough to stay in the core's cache (chunkBytes), and, with several
// threads, as lanes: one goroutine per thread, each carrying its own
// share of the images (in such chunks, or all at once) through layers
// that run on one thread, with no hand-off between the threads inside a
// Run. The fastest schedule runs.
type Schedule struct {
	// Chunk is how many images the layers run on at a time: the batch
	// size, or fewer (the last chunk of a lane holds the rest).
	Chunk int `json:"chunk"`
	// Lanes is the number of goroutines carrying chunks side by side,
	// each with its own activation buffers and one-thread layers; 1 when
	// the layers split their work across the plan's threads.
	Lanes int `json:"lanes"`
	// Nanos is, per measured schedule (ScheduleName), the fastest time of
	// one Run. An int8 plan names qnn's own schedule "qnn chunks": chunks
	// of 8 images on goroutines qnn starts per call, or one chunk's GEMMs
	// split across them.
	Nanos map[string]float64 `json:"nanos,omitempty"`
}

// ScheduleName names a schedule as Schedule.Nanos keys it: "batch",
// "chunks of C", or "chunks of C in L lanes".
func ScheduleName(batch, chunk, lanes int) string {
	switch {
	case lanes > 1:
		return fmt.Sprintf("chunks of %d in %d lanes", chunk, lanes)
	case chunk < batch:
		return fmt.Sprintf("chunks of %d", chunk)
	}
	return "batch"
}

// chunkBytes bounds the activation buffers of one chunk (every layer's
// output and the input, float32): half of a common per-core L2 cache, so
// that the weights and the layers' scratch space fit beside them.
const chunkBytes = 256 << 10

// maxChunk bounds a chunk: beyond it a batch gains little from fewer
// calls, and a smaller chunk keeps more of the batch to share out.
const maxChunk = 16

// chunkSize returns the largest power of two up to maxChunk whose
// activations (perImage float32 values an image) fit chunkBytes, at least
// 1.
func chunkSize(perImage int) int {
	c := 1
	for c*2 <= maxChunk && c*2*perImage*4 <= chunkBytes {
		c *= 2
	}
	return c
}

// lane carries the images [lo, hi) of a batch through the layers, a chunk
// at a time: full runs chunks of full.batch images, tail the last
// (hi−lo) mod full.batch (nil when there are none).
type lane struct {
	lo, hi     int
	full, tail *Plan
	err        error
}

// chunks is a plan's chunked schedule: its lanes, and one part per lane
// for the plan's workers when there are several.
type chunks struct {
	lanes     []lane
	parts     []func()
	x, y      []float32 // the Run's input and output
	inN, outN int       // values per image
	chunk     int
	fallback  bool // some sub-plan runs a layer through nn
}

// run carries l's images from c.x to c.y.
func (c *chunks) run(l *lane) error {
	for i := l.lo; i < l.hi; {
		p := l.full
		if l.hi-i < p.batch {
			p = l.tail
		}
		n := p.batch
		copy(p.input, c.x[i*c.inN:(i+n)*c.inN])
		if err := p.runSteps(); err != nil {
			return err
		}
		copy(c.y[i*c.outN:(i+n)*c.outN], p.output)
		i += n
	}
	return nil
}

// runAll runs every lane, on the workers when there are several, and
// returns the first error.
func (c *chunks) runAll(w *workers, x, y []float32) error {
	c.x, c.y = x, y
	defer func() { c.x, c.y = nil, nil }()
	if len(c.lanes) == 1 {
		return c.run(&c.lanes[0])
	}
	w.run(c.parts)
	for i := range c.lanes {
		if err := c.lanes[i].err; err != nil {
			return err
		}
	}
	return nil
}

// newChunks builds the sub-plans of a chunked schedule of batch images in
// chunks of chunk: lanes == 1 runs them in turn with layers split across
// o.Threads (sharing w), lanes > 1 splits the batch into that many
// contiguous shares of whole chunks, each lane with one-thread layers.
// Only the first sub-plan of each shape is timed; the others copy its
// kernel choices.
func newChunks(ctx context.Context, net *nn.Network, o Options, w *workers, batch, chunk, lanes int) (*chunks, error) {
	threads := o.Threads
	if lanes > 1 {
		threads = 1
	}
	c := &chunks{chunk: chunk, inN: prod(net.InputShape()), outN: prod(net.OutputShape())}
	var first, firstTail *Plan
	sub := func(n int, like *Plan) (*Plan, error) {
		so := o
		so.Batch, so.Threads = n, threads
		sw := w
		if lanes > 1 {
			sw = newWorkers(0)
		}
		var forced []LayerChoice
		if like != nil {
			forced = like.choices
		}
		p := &Plan{batch: n, threads: threads, w: sw}
		if err := p.build(ctx, net, so, forced); err != nil {
			return nil, err
		}
		c.fallback = c.fallback || p.fallback
		return p, nil
	}
	for _, sp := range split(batch, lanes, chunk) {
		l := lane{lo: sp.lo, hi: sp.hi}
		if sp.hi-sp.lo >= chunk {
			p, err := sub(chunk, first)
			if err != nil {
				return nil, err
			}
			first = cmp.Or(first, p)
			l.full = p
		}
		if r := (sp.hi - sp.lo) % chunk; r > 0 {
			p, err := sub(r, firstTail)
			if err != nil {
				return nil, err
			}
			firstTail = cmp.Or(firstTail, p)
			l.tail = p
			if l.full == nil {
				l.full = p
			}
		}
		c.lanes = append(c.lanes, l)
	}
	if len(c.lanes) > 1 {
		for i := range c.lanes {
			l := &c.lanes[i]
			c.parts = append(c.parts, func() { l.err = c.run(l) })
		}
	}
	return c, nil
}

// schedule times the whole-batch plan p has built against the chunked
// schedules net allows at p's batch and thread count, keeps the fastest,
// and releases the others' buffers.
func (p *Plan) schedule(ctx context.Context, net *nn.Network, o Options) error {
	p.sched = Schedule{Chunk: p.batch, Lanes: 1}
	type cand struct {
		chunk, lanes int
	}
	var cands []cand
	c := chunkSize(p.perImage)
	if c < p.batch {
		cands = append(cands, cand{c, 1})
	}
	if p.threads > 1 && p.batch > 1 {
		// Lanes of cache-sized chunks, and lanes each carrying its whole
		// share at once (for layers that gain from a large batch).
		share := (p.batch + p.threads - 1) / p.threads
		for _, cp := range []int{min(c, share), share} {
			if cd := (cand{cp, min(p.threads, (p.batch+cp-1)/cp)}); !slices.Contains(cands, cd) {
				cands = append(cands, cd)
			}
		}
	}
	if len(cands) == 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, len(p.input))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, len(p.output))
	names := []string{ScheduleName(p.batch, p.batch, 1)}
	runs := []func() error{func() error { copy(p.input, x); return p.runSteps() }}
	var chs []*chunks
	for _, cd := range cands {
		ch, err := newChunks(ctx, net, o, p.w, p.batch, cd.chunk, cd.lanes)
		if err != nil {
			return err
		}
		chs = append(chs, ch)
		names = append(names, ScheduleName(p.batch, cd.chunk, len(ch.lanes)))
		runs = append(runs, func() error { return ch.runAll(p.w, x, y) })
	}
	ns, err := timeInterleaved(ctx, runs, o.MinTime)
	if err != nil {
		return err
	}
	p.sched.Nanos = map[string]float64{}
	best := 0
	for i, name := range names {
		p.sched.Nanos[name] = ns[i]
		if ns[i] < ns[best] {
			best = i
		}
	}
	if best > 0 {
		p.adopt(chs[best-1], y)
	}
	return nil
}

// timeInterleaved returns, per function, the fastest of its calls in
// nanoseconds, calling them in turn — one call each per round, after one
// warm-up round — for at least 3 rounds and until each has run for about
// minTime: a burst of other load on the machine then falls on every
// candidate alike rather than on whichever was being timed.
func timeInterleaved(ctx context.Context, fns []func() error, minTime time.Duration) ([]float64, error) {
	for _, fn := range fns {
		if err := fn(); err != nil {
			return nil, err
		}
	}
	best := make([]time.Duration, len(fns))
	for i := range best {
		best[i] = time.Duration(math.MaxInt64)
	}
	var total time.Duration
	for round := 0; round < 3 || total < minTime*time.Duration(len(fns)); round++ {
		for i, fn := range fns {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			t0 := time.Now()
			if err := fn(); err != nil {
				return nil, err
			}
			el := time.Since(t0)
			best[i], total = min(best[i], el), total+el
		}
	}
	ns := make([]float64, len(fns))
	for i, b := range best {
		ns[i] = float64(b.Nanoseconds())
	}
	return ns, nil
}

// adopt makes p run c, writing into y (the batch's output), and drops the
// whole-batch steps and their buffers.
func (p *Plan) adopt(c *chunks, y []float32) {
	p.sched.Chunk, p.sched.Lanes = c.chunk, len(c.lanes)
	p.chunks, p.fallback = c, c.fallback
	p.choices = c.lanes[0].full.choices
	p.steps, p.index, p.input = nil, nil, nil
	p.output = y
}
