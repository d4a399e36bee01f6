package nn

import (
	"math"
	"math/bits"
	"sync"

	"github.com/compressq/compressq/compress/kernels"

	"gorgonia.org/tensor"
)

// inferStep is one layer's part of an inference pass (Forward with
// train=false), planned once per network from its graph: a batch norm and an
// activation that only read a convolution are computed inside it, while its
// output is still in cache, instead of as passes of their own.
type inferStep struct {
	// bn, for a Conv2D, is the BatchNorm layer (index) folded into its
	// weights for this pass, or -1.
	bn int
	// act is the ReLU or Clip layer (index) applied to this layer's output
	// in place — in a convolution's epilogue — or -1.
	act int
	// absorbed marks a layer another step computes: its output is its
	// source's.
	absorbed bool
}

// planInference finds, for every Conv2D, a BatchNorm reading only it and
// then a ReLU or Clip reading only that, and for every Add or BatchNorm
// that is not folded a ReLU or Clip reading only it; "only" means the
// producer has no other reader, so changing its output in place is safe.
func planInference(a Arch, layers []Layer) []inferStep {
	cons := a.Consumers()
	steps := make([]inferStep, len(layers))
	for i := range steps {
		steps[i].bn, steps[i].act = -1, -1
	}
	// sole returns the one layer reading layer i's output, or -1.
	sole := func(i int) int {
		if len(cons[i]) != 1 {
			return -1
		}
		return cons[i][0]
	}
	for i, l := range layers {
		if steps[i].absorbed {
			continue
		}
		switch l := l.(type) {
		case *Conv2D:
			last := i
			if j := sole(i); j >= 0 {
				if bn, ok := layers[j].(*BatchNorm); ok && bn.Features == l.OutC {
					steps[i].bn, steps[j].absorbed, last = j, true, j
				}
			}
			if k := sole(last); k >= 0 && isClamp(layers[k]) {
				steps[i].act, steps[k].absorbed = k, true
			}
		case *Add, *BatchNorm:
			if k := sole(i); k >= 0 && isClamp(layers[k]) {
				steps[i].act, steps[k].absorbed = k, true
			}
		}
	}
	return steps
}

// ClampBounds reports whether l is a ReLU or Clip and the range [lo, hi]
// it clamps its input to (ReLU: [0, +Inf]). Inference passes apply such a
// layer inside the layer it reads (see planInference), as runtime plans do.
func ClampBounds(l Layer) (lo, hi float32, ok bool) {
	lo, hi = float32(math.Inf(-1)), float32(math.Inf(1))
	switch l := l.(type) {
	case *ReLU:
		return 0, hi, true
	case *Clip:
		return float32(l.Min), float32(l.Max), true
	}
	return lo, hi, false
}

// isClamp reports whether l is a ReLU or Clip.
func isClamp(l Layer) bool {
	_, _, ok := ClampBounds(l)
	return ok
}

// clampBounds returns the bounds of the ReLU or Clip layer act, or of no
// activation (act < 0): ±Inf.
func clampBounds(layers []Layer, act int) (lo, hi float32) {
	if act < 0 {
		return float32(math.Inf(-1)), float32(math.Inf(1))
	}
	lo, hi, _ = ClampBounds(layers[act])
	return lo, hi
}

// inferLayer runs layer i of an inference pass on its inputs xs as step
// plans it. Convolutions and residual sums take their output buffers from
// bufs, which the pass recycles once nothing reads them.
func (n *Network) inferLayer(i int, xs []*tensor.Dense, bufs *passBuffers) (*tensor.Dense, error) {
	st, l := n.infer[i], n.layers[i]
	lo, hi := clampBounds(n.layers, st.act)
	switch l := l.(type) {
	case *Conv2D:
		var bn *BatchNorm
		if st.bn >= 0 {
			bn = n.layers[st.bn].(*BatchNorm)
		}
		return l.inferForward(xs[0], bn, lo, hi, bufs.get)
	case *Add:
		y, err := l.sum(xs, bufs.get)
		if err != nil || st.act < 0 {
			return y, err
		}
		clampInPlace(y.Float32s(), lo, hi)
		return y, nil
	}
	var y *tensor.Dense
	var err error
	if m, ok := l.(Merger); ok {
		y, _, err = m.Merge(xs, Pass{})
	} else {
		y, _, err = l.Forward(xs[0], Pass{})
	}
	if err != nil || st.act < 0 {
		return y, err
	}
	ys := y.Float32s()
	clampInPlace(ys, lo, hi)
	return y, nil
}

// clampInPlace clamps every element of ys to [lo, hi]; NaN stays NaN.
func clampInPlace(ys []float32, lo, hi float32) {
	forRange(len(ys), func(a, b int) { kernels.ScaleBiasClamp(ys[a:b], ys[a:b], 1, 0, lo, hi) })
}

// floatPools recycle scratch buffers (im2col columns, padded images,
// batched GEMM operands) between calls, so a pass does not allocate and
// clear them anew: pool b holds buffers of capacity 2^b, so a request finds
// a buffer of its size class, never one too small.
var floatPools [48]sync.Pool

// getFloats returns a pooled buffer of length n with unspecified contents;
// give it back with putFloats.
func getFloats(n int) *[]float32 {
	b := bits.Len(uint(max(n, 1) - 1))
	if p, ok := floatPools[b].Get().(*[]float32); ok {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n, 1<<b)
	return &s
}

// putFloats returns a buffer from getFloats to the pool.
func putFloats(p *[]float32) {
	floatPools[bits.Len(uint(cap(*p)-1))].Put(p)
}

// newFloats allocates a zeroed buffer: the alloc of passes that keep their
// outputs.
func newFloats(n int) []float32 { return make([]float32, n) }

// passBuffers lends output buffers to the layers of one inference pass and
// takes them back when the pass drops the last tensor that shares one.
type passBuffers struct {
	lent map[*float32]*[]float32
}

// get lends a buffer of n floats with unspecified contents.
func (b *passBuffers) get(n int) []float32 {
	p := getFloats(n)
	if n > 0 {
		if b.lent == nil {
			b.lent = make(map[*float32]*[]float32)
		}
		b.lent[&(*p)[0]] = p
	}
	return *p
}

// release returns t's buffer to the pool if the pass lent it and no tensor
// in live shares it (a reshape's view, an absorbed layer's alias, the
// pass's output).
func (b *passBuffers) release(t *tensor.Dense, live []*tensor.Dense) {
	if t == nil || b.lent == nil {
		return
	}
	data := t.Float32s()
	if len(data) == 0 {
		return
	}
	p, ok := b.lent[&data[0]]
	if !ok {
		return
	}
	for _, o := range live {
		if o != nil && len(o.Float32s()) > 0 && &o.Float32s()[0] == &data[0] {
			return
		}
	}
	delete(b.lent, &data[0])
	putFloats(p)
}
