package qnn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/quant"
	"gorgonia.org/tensor"
)

// Step kinds of a quantized network.
const (
	KindConv    = "conv2d"
	KindDense   = "dense"
	KindMaxPool = "maxpool2d"
	KindFlatten = "flatten"
	KindReLU    = "relu"
)

// step is one stage of a prepared float network: an nn layer (with a fused
// following ReLU for affine layers) and the index of the quantization point
// at its output (−1 when the output keeps its input's quantization).
type step struct {
	kind  string
	layer nn.Layer
	relu  bool
	point int
	// index is the layer's index in the network, tail that of the last
	// layer folded into the step (its fused ReLU).
	index, tail int
}

// Prepare returns a copy of net ready for quantization: every BatchNorm
// folded into the Dense or Conv2D layer before it. It fails, naming the
// layer, if the network has a layer without an integer form (see the
// package documentation) or a BatchNorm that cannot be folded.
//
// A chain of plain Dense, Conv2D, MaxPool2D, ReLU, Flatten and Dropout
// layers takes the chain path of the package; anything else (branches,
// merges, grouped, dilated or asymmetrically padded convolutions, padded
// pools, global pools, Clip, Reshape, Identity) the graph path.
func Prepare(net *nn.Network) (*nn.Network, error) {
	// Check the types first, so errors name the layer's index in net
	// rather than in the folded copy.
	for i, l := range net.Layers() {
		switch l.(type) {
		case *nn.Dense, *nn.Conv2D, *nn.MaxPool2D, *nn.Flatten, *nn.ReLU, *nn.Dropout, *nn.BatchNorm,
			*nn.Add, *nn.Concat, *nn.GlobalAvgPool, *nn.GlobalMaxPool, *nn.Clip, *nn.Reshape, *nn.Identity:
		default:
			return nil, fmt.Errorf("qnn: layers[%d]: %s is not supported by integer inference", i, l.Spec().Type)
		}
	}
	f, err := net.FoldBatchNorm()
	if err != nil {
		return nil, fmt.Errorf("qnn: fold batchnorm: %w", err)
	}
	if chainable(f) {
		_, _, err = plan(f)
	} else if _, err = planGraph(f); err != nil {
		// Name the layer by its index in net, not in the folded copy.
		var le *LayerError
		if errors.As(err, &le) {
			le.Index = keptLayers(net)[le.Index]
		}
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// keptLayers returns the indices in net of the layers that
// net.FoldBatchNorm keeps, in order: all but each BatchNorm whose only
// input is a Dense or Conv2D layer read by nothing else.
func keptLayers(net *nn.Network) []int {
	a, layers := net.Arch(), net.Layers()
	cons := a.Consumers()
	var kept []int
	for i, l := range layers {
		if _, ok := l.(*nn.BatchNorm); ok {
			if s := a.Sources(i)[0]; s >= 0 && len(cons[s]) == 1 {
				switch layers[s].(type) {
				case *nn.Dense, *nn.Conv2D:
					continue
				}
			}
		}
		kept = append(kept, i)
	}
	return kept
}

// plan splits a prepared network into steps and returns them with the
// number of quantization points (point 0 is the network input).
func plan(net *nn.Network) ([]step, int, error) {
	if !net.Arch().IsChain() {
		return nil, 0, errors.New("qnn: integer inference supports chains of layers only, not graphs with branches or residual connections")
	}
	layers := net.Layers()
	var steps []step
	points := 1
	for i := 0; i < len(layers); i++ {
		s := step{index: i}
		switch l := layers[i].(type) {
		case *nn.Dense, *nn.Conv2D:
			s = step{kind: KindDense, layer: l, point: points, index: i}
			if _, ok := l.(*nn.Conv2D); ok {
				if err := checkPlain(i, l); err != nil {
					return nil, 0, err
				}
				s.kind = KindConv
			}
			points++
			if i+1 < len(layers) {
				if _, ok := layers[i+1].(*nn.ReLU); ok {
					s.relu = true
					i++
				}
			}
		case *nn.MaxPool2D:
			if err := checkPlain(i, l); err != nil {
				return nil, 0, err
			}
			s.kind, s.layer, s.point = KindMaxPool, l, -1
		case *nn.Flatten:
			s.kind, s.layer, s.point = KindFlatten, l, -1
		case *nn.ReLU:
			s.kind, s.layer, s.point = KindReLU, l, -1
		case *nn.Dropout:
			continue // identity at inference
		default:
			return nil, 0, fmt.Errorf("qnn: layers[%d]: %s is not supported by integer inference (fold BatchNorm with Prepare)", i, l.Spec().Type)
		}
		s.tail = i
		steps = append(steps, s)
	}
	if len(steps) == 0 || (steps[len(steps)-1].kind != KindDense && steps[len(steps)-1].kind != KindConv) {
		return nil, 0, errors.New("qnn: the network must end with a dense or conv2d layer (its int32 accumulators are the logits)")
	}
	if steps[len(steps)-1].relu {
		return nil, 0, errors.New("qnn: the network must not end with a ReLU")
	}
	return steps, points, nil
}

// checkPlain refuses a conv2d that is grouped, dilated or asymmetrically
// padded and a maxpool2d that is padded or in ceil mode: the integer
// kernels implement only the plain forms.
func checkPlain(i int, l nn.Layer) error {
	var ext []string
	switch l := l.(type) {
	case *nn.Conv2D:
		ext = l.Extensions()
	case *nn.MaxPool2D:
		ext = l.Extensions()
	}
	if len(ext) > 0 {
		return fmt.Errorf("qnn: layers[%d]: %s %s is not supported by integer inference", i, strings.Join(ext, ", "), l.Spec().Type)
	}
	return nil
}

// forwardFloat runs the steps in inference mode on x, calling at(point, y)
// at every quantization point (the input is point 0) and continuing with the
// tensor it returns.
func forwardFloat(steps []step, x *tensor.Dense, at func(point int, y *tensor.Dense) (*tensor.Dense, error)) (*tensor.Dense, error) {
	x, err := at(0, x)
	if err != nil {
		return nil, err
	}
	for _, s := range steps {
		if x, _, err = s.layer.Forward(x, nn.Pass{}); err != nil {
			return nil, err
		}
		if s.relu {
			if x, _, err = (&nn.ReLU{}).Forward(x, nn.Pass{}); err != nil {
				return nil, err
			}
		}
		if s.point >= 0 {
			if x, err = at(s.point, x); err != nil {
				return nil, err
			}
		}
	}
	return x, nil
}

// inputTensor reshapes a data batch to the network's input shape.
func inputTensor(net *nn.Network, x *tensor.Dense) *tensor.Dense {
	in := net.InputShape()
	if sh := x.Shape(); slices.Equal(sh[1:], in) {
		return x
	}
	return tensor.New(tensor.WithShape(append([]int{x.Shape()[0]}, in...)...), tensor.WithBacking(x.Float32s()))
}

// Calibrate runs the prepared network (see Prepare) over the first size
// images of calib (all if size ≤ 0 or larger than the set) in batches of
// 100 and returns one observer per quantization point: index 0 the network
// input, then the output of each Dense/Conv2D layer (after its fused ReLU,
// or on the graph path ReLU/Clip) and, on the graph path, of each Add and
// Concat, in layer order. The last observer, at the logits, is collected
// but not used for quantization.
func Calibrate(ctx context.Context, net *nn.Network, calib *data.Dataset, size int) ([]*quant.Observer, error) {
	if calib == nil || calib.Len() == 0 {
		return nil, errors.New("qnn: calibrate: empty calibration set")
	}
	if size <= 0 || size > calib.Len() {
		size = calib.Len()
	}
	var g *gplan
	var steps []step
	var points int
	var err error
	if chainable(net) {
		steps, points, err = plan(net)
	} else if g, err = planGraph(net); err == nil {
		points = g.points
	}
	if err != nil {
		return nil, err
	}
	obs := make([]*quant.Observer, points)
	for i := range obs {
		obs[i] = &quant.Observer{}
	}
	for x, _ := range calib.Subset(size).Batches(100, nil) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		observe := func(p int, y *tensor.Dense) (*tensor.Dense, error) {
			return y, obs[p].Observe(y.Float32s())
		}
		var err error
		if g != nil {
			_, _, err = g.forward(inputTensor(net, x), nn.Pass{}, observe)
		} else {
			_, err = forwardFloat(steps, inputTensor(net, x), observe)
		}
		if err != nil {
			return nil, fmt.Errorf("qnn: calibrate: %w", err)
		}
	}
	return obs, nil
}

// Range is a calibrated clipping range of one quantization point.
type Range struct{ Lo, Hi float64 }

// Ranges turns observers into 8-bit clipping ranges by the named method
// (quant.CalibMinMax, CalibPercentile, CalibMSE or CalibKL).
func Ranges(obs []*quant.Observer, method string) ([]Range, error) {
	r := make([]Range, len(obs))
	for i, o := range obs {
		lo, hi, err := o.Range(method, 8)
		if err != nil {
			return nil, fmt.Errorf("qnn: point %d: %w", i, err)
		}
		r[i] = Range{lo, hi}
	}
	return r, nil
}

// quantizeValue rounds x to the uint8 grid of (scale, zero): half to even,
// then clamped to [0, 255].
func quantizeValue(x float64, inv float64, zero uint8) uint8 {
	v := math.RoundToEven(x*inv) + float64(zero)
	return uint8(max(0, min(255, v)))
}
