package runtime

import (
	"fmt"

	"github.com/compressq/compressq/compress/kernels"
	"github.com/compressq/compressq/compress/nn"
	"gorgonia.org/tensor"
)

// step is one planned layer.
type step interface {
	run(w *workers) error
}

// weightStep is the step of a layer with weights, whose work is split
// across width goroutines.
type weightStep interface {
	step
	width() int
}

// clampStep is a ReLU or Clip that is not fused into its source.
type clampStep struct {
	x, y []float32
	act  clampRange
}

func (s *clampStep) run(*workers) error { s.act.biasClamp(s.y, s.x, 0); return nil }

// poolStep is a MaxPool2D or AvgPool2D over n images, its channel planes
// split across the plan's threads when the input is large enough to pay
// for the hand-off (parallelMin).
type poolStep struct {
	max, plain, countPad bool
	n, k, stride         int
	g                    kernels.ConvGeom
	x, y                 []float32
	parts                []func()
}

// parallelMin is the fewest values a native step's input needs before it
// is split across the plan's threads.
const parallelMin = 1 << 16

// newPoolStep returns s with its parts built for threads.
func newPoolStep(s *poolStep, threads int) *poolStep {
	planes, in := s.n*s.g.C, s.g.H*s.g.W
	if planes*in < parallelMin {
		threads = 1
	}
	oh, ow := s.g.Out()
	for _, sp := range split(planes, threads, 1) {
		g := s.g
		g.C = sp.hi - sp.lo
		x, y := s.x[sp.lo*in:sp.hi*in], s.y[sp.lo*oh*ow:sp.hi*oh*ow]
		s.parts = append(s.parts, func() { s.planes(g, x, y) })
	}
	return s
}

// planes pools the g.C planes of x into y (one image of g.C channels).
func (s *poolStep) planes(g kernels.ConvGeom, x, y []float32) {
	switch {
	case s.max && s.plain:
		kernels.MaxPool2D(x, 1, g.C, g.H, g.W, s.k, s.stride, y, nil)
	case s.max:
		kernels.MaxPool2DGeom(x, 1, g, y, nil)
	case s.plain:
		kernels.AvgPool2D(x, 1, g.C, g.H, g.W, s.k, s.stride, y)
	default:
		kernels.AvgPool2DGeom(x, 1, g, s.countPad, y)
	}
}

func (s *poolStep) run(w *workers) error {
	w.run(s.parts)
	return nil
}

// poolGeom returns the geometry of a pooling window over [c, h, w] images
// and whether it is plain (unpadded, floor-rounded).
func poolGeom(k, stride, pad int, pads nn.Pads, ceil bool, in []int) (kernels.ConvGeom, bool) {
	if pads == (nn.Pads{}) {
		pads = nn.Pads{pad, pad, pad, pad}
	}
	g := kernels.ConvGeom{C: in[0], H: in[1], W: in[2], KH: k, KW: k, Stride: max(stride, 1), Dilation: 1,
		PadTop: pads[0], PadLeft: pads[1], PadBottom: pads[2], PadRight: pads[3], CeilMode: ceil}
	return g, pads == (nn.Pads{}) && !ceil
}

// globalAvgStep averages each channel plane, summing in float64 as
// nn.GlobalAvgPool does.
type globalAvgStep struct {
	planes, hw int
	x, y       []float32
}

func (s *globalAvgStep) run(*workers) error {
	for i := range s.planes {
		var sum float64
		for _, v := range s.x[i*s.hw : (i+1)*s.hw] {
			sum += float64(v)
		}
		s.y[i] = float32(sum / float64(s.hw))
	}
	return nil
}

// addStep sums its inputs element-wise, with a fused activation, its
// elements split across the plan's threads when there are enough
// (parallelMin).
type addStep struct {
	xs    [][]float32
	y     []float32
	act   clampRange
	parts []func()
}

// addChunk is how many elements an addStep sums and clamps at a time, so
// that they stay in L1 between the two.
const addChunk = 2048

// newAddStep returns s with its parts built for threads.
func newAddStep(s *addStep, threads int) *addStep {
	if len(s.y) < parallelMin {
		threads = 1
	}
	for _, sp := range split(len(s.y), threads, addChunk) {
		s.parts = append(s.parts, func() { s.span(sp.lo, sp.hi) })
	}
	return s
}

func (s *addStep) run(w *workers) error {
	w.run(s.parts)
	return nil
}

// span computes elements [lo, hi).
func (s *addStep) span(lo, hi int) {
	for c := lo; c < hi; c += addChunk {
		e := min(c+addChunk, hi)
		y := s.y[c:e]
		if len(s.xs) == 1 {
			copy(y, s.xs[0][c:e])
		} else {
			kernels.Add(y, s.xs[0][c:e], s.xs[1][c:e])
		}
		for _, x := range s.xs[min(2, len(s.xs)):] {
			kernels.Add(y, y, x[c:e])
		}
		if !s.act.none() {
			s.act.biasClamp(y, y, 0)
		}
	}
}

// layerStep runs a layer the package has no native step for through the
// layer's own Forward (or Merge) on tensors wrapping the plan's buffers,
// and copies the result into the plan's output buffer. Forward allocates
// its output, so such a layer allocates on every Run.
type layerStep struct {
	l  nn.Layer
	xs []*tensor.Dense
	y  []float32
}

func (s *layerStep) run(*workers) error {
	var out *tensor.Dense
	var err error
	if m, ok := s.l.(nn.Merger); ok {
		out, _, err = m.Merge(s.xs, nn.Pass{})
	} else {
		out, _, err = s.l.Forward(s.xs[0], nn.Pass{})
	}
	if err != nil {
		return err
	}
	ys, ok := out.Data().([]float32)
	if !ok || len(ys) != len(s.y) {
		return fmt.Errorf("%s: output of %d values, want %d", s.l.Spec().Type, out.Len(), len(s.y))
	}
	copy(s.y, ys)
	return nil
}
