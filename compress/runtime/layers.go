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

// poolStep is a MaxPool2D or AvgPool2D over n images.
type poolStep struct {
	max, plain, countPad bool
	n, k, stride         int
	g                    kernels.ConvGeom
	x, y                 []float32
}

func (s *poolStep) run(*workers) error {
	switch {
	case s.max && s.plain:
		kernels.MaxPool2D(s.x, s.n, s.g.C, s.g.H, s.g.W, s.k, s.stride, s.y, nil)
	case s.max:
		kernels.MaxPool2DGeom(s.x, s.n, s.g, s.y, nil)
	case s.plain:
		kernels.AvgPool2D(s.x, s.n, s.g.C, s.g.H, s.g.W, s.k, s.stride, s.y)
	default:
		kernels.AvgPool2DGeom(s.x, s.n, s.g, s.countPad, s.y)
	}
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

// addStep sums its inputs element-wise, with a fused activation.
type addStep struct {
	xs  [][]float32
	y   []float32
	act clampRange
}

func (s *addStep) run(*workers) error {
	// In chunks that stay in L1 between the sums and the clamp.
	const chunk = 2048
	for lo := 0; lo < len(s.y); lo += chunk {
		y := s.y[lo:min(lo+chunk, len(s.y))]
		hi := lo + len(y)
		if len(s.xs) == 1 {
			copy(y, s.xs[0][lo:hi])
		} else {
			kernels.Add(y, s.xs[0][lo:hi], s.xs[1][lo:hi])
		}
		for _, x := range s.xs[min(2, len(s.xs)):] {
			kernels.Add(y, y, x[lo:hi])
		}
		if !s.act.none() {
			s.act.biasClamp(y, y, 0)
		}
	}
	return nil
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
