package qnn

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/quant"
	"gorgonia.org/tensor"
)

// QATConfig configures quantization-aware training. Zero values mean: 1
// epoch, batch 64, learning rate 0.001, SGD momentum 0.9, seed 0, all
// batches, 8-bit weights.
type QATConfig struct {
	Epochs, BatchSize int
	LR                float64
	Seed              int64
	// MaxBatches, if > 0, caps the batches per epoch.
	MaxBatches int
	// WeightBits is the weight code width the training simulates, as
	// Options.WeightBits of the Quantize call that follows.
	WeightBits int
}

// TrainQAT fine-tunes a prepared network (see Prepare) with the integer
// model's rounding in its forward pass: each Dense/Conv2D weight is
// replaced by its symmetric per-channel reconstruction (cfg.WeightBits
// wide), and every activation at a quantization point by its value on the
// uint8 grid of ranges[point]. Gradients pass through the roundings unchanged
// (straight-through estimator) and are zero where an activation was
// clipped; they update float master weights, which are written back into
// net at the end. The ranges stay fixed. On graph networks the
// quantization points are those of the graph path (see the package
// documentation) and gradients flow through Add and Concat to every
// reader. Built on nn's exported Layer
// interface: no change to package nn is needed.
func TrainQAT(ctx context.Context, net *nn.Network, ranges []Range, train *data.Dataset, cfg QATConfig) error {
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
		return err
	}
	layers := make([]nn.Layer, 0, len(steps))
	for _, s := range steps {
		layers = append(layers, s.layer)
	}
	if g != nil {
		for _, n := range g.nodes {
			layers = append(layers, n.layer)
		}
	}
	if len(ranges) != points {
		return fmt.Errorf("qnn: qat: %d ranges for %d quantization points", len(ranges), points)
	}
	if train == nil || train.Len() == 0 {
		return errors.New("qnn: qat: empty training set")
	}
	wp, err := weightParams(cfg.WeightBits)
	if err != nil {
		return fmt.Errorf("qnn: qat: %w", err)
	}
	epochs, bs, lr := max(cfg.Epochs, 1), cfg.BatchSize, cfg.LR
	if bs <= 0 {
		bs = 64
	}
	if lr == 0 {
		lr = 0.001
	}
	type grid struct {
		scale  float32
		zero   uint8
		lo, hi float32
	}
	grids := make([]grid, points)
	for i, r := range ranges {
		s, z := quant.ActivationParams(r.Lo, r.Hi)
		grids[i] = grid{s, z, s * float32(0-int32(z)), s * float32(255-int32(z))}
	}
	// Master copies of the weights; the layers hold their fake-quantized
	// versions during training.
	var master, params []nn.Param
	type affine struct {
		w      *tensor.Dense
		master *tensor.Dense
		shape  []int
	}
	var affines []affine
	for _, l := range layers {
		var w, b, dw, db *tensor.Dense
		switch l := l.(type) {
		case *nn.Dense:
			w, b, dw, db = l.W, l.B, l.DW, l.DB
		case *nn.Conv2D:
			w, b, dw, db = l.W, l.B, l.DW, l.DB
		default:
			continue
		}
		m := tensor.New(tensor.WithShape(w.Shape()...), tensor.WithBacking(slices.Clone(w.Float32s())))
		sh := w.Shape()
		affines = append(affines, affine{w, m, []int{sh[0], w.Len() / sh[0]}})
		master = append(master, nn.Param{Name: "weight", Value: m, Grad: dw}, nn.Param{Name: "bias", Value: b, Grad: db})
		params = append(params, nn.Param{Value: w, Grad: dw}, nn.Param{Value: b, Grad: db})
	}
	fakeWeights := func() error {
		for _, a := range affines {
			q, err := quant.QuantizeTensor(a.master.Float32s(), a.shape, wp)
			if err != nil {
				return err
			}
			v, err := quant.Dequantize(q)
			if err != nil {
				return err
			}
			copy(a.w.Float32s(), v)
		}
		return nil
	}
	opt := &nn.SGD{LearningRate: lr, Momentum: 0.9}
	pass := nn.Pass{Train: true}
	for e := 0; e < epochs; e++ {
		order := train.Perm(cfg.Seed + int64(e))
		if cfg.MaxBatches > 0 {
			order = order[:min(len(order), cfg.MaxBatches*bs)]
		}
		for x, y := range train.Batches(bs, order) {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fakeWeights(); err != nil {
				return err
			}
			for _, p := range params {
				clear(p.Grad.Float32s())
			}
			if g != nil {
				masks := make([][]bool, points)
				fq := func(point int, t *tensor.Dense) (*tensor.Dense, error) {
					if point == points-1 {
						return t, nil
					}
					gr := grids[point]
					v := t.Float32s()
					mask := make([]bool, len(v))
					for i, xv := range v {
						mask[i] = xv >= gr.lo && xv <= gr.hi
					}
					masks[point] = mask
					return tensor.New(tensor.WithShape(t.Shape()...), tensor.WithBacking(fakeQuantize(v, gr.scale, gr.zero))), nil
				}
				if err := g.trainStep(inputTensor(net, x), y, pass, fq, masks); err != nil {
					return err
				}
				opt.Step(master)
				continue
			}
			var tape []nn.Backward
			var clip [][]bool
			fq := func(point int, t *tensor.Dense) *tensor.Dense {
				g := grids[point]
				v := t.Float32s()
				mask := make([]bool, len(v))
				for i, xv := range v {
					mask[i] = xv >= g.lo && xv <= g.hi
				}
				clip = append(clip, mask)
				tape = append(tape, nil) // marks a fake-quant node
				return tensor.New(tensor.WithShape(t.Shape()...), tensor.WithBacking(fakeQuantize(v, g.scale, g.zero)))
			}
			cur := fq(0, inputTensor(net, x))
			for _, s := range steps {
				out, back, err := s.layer.Forward(cur, pass)
				if err != nil {
					return err
				}
				tape = append(tape, back)
				if s.relu {
					if out, back, err = (&nn.ReLU{}).Forward(out, pass); err != nil {
						return err
					}
					tape = append(tape, back)
				}
				if s.point >= 0 && s.point < points-1 {
					out = fq(s.point, out)
				}
				cur = out
			}
			_, grad, err := nn.SoftmaxCrossEntropy(cur, y)
			if err != nil {
				return err
			}
			ci := len(clip) - 1
			for i := len(tape) - 1; i >= 0; i-- {
				if tape[i] == nil {
					if i == 0 {
						break
					}
					gs := grad.Float32s()
					for j, keep := range clip[ci] {
						if !keep {
							gs[j] = 0
						}
					}
					ci--
					continue
				}
				if grad, err = tape[i](grad, true); err != nil {
					return err
				}
			}
			opt.Step(master)
		}
	}
	for _, a := range affines {
		copy(a.w.Float32s(), a.master.Float32s())
	}
	return nil
}

// trainStep runs one training forward pass of the graph nodes on x with
// the fake-quantization at(point, ·) (which records in masks[point] where
// the activation was inside its clipping range) and back-propagates the
// softmax cross-entropy of labels y, adding parameter gradients into the
// layers' Grad tensors. Gradients pass the roundings unchanged and are zero
// where an activation was clipped.
func (g *gplan) trainStep(x *tensor.Dense, y []int, pass nn.Pass, at func(int, *tensor.Dense) (*tensor.Dense, error), masks [][]bool) error {
	out, tape, err := g.forward(x, pass, at)
	if err != nil {
		return err
	}
	_, grad, err := nn.SoftmaxCrossEntropy(out, y)
	if err != nil {
		return err
	}
	grads := make([]*tensor.Dense, len(g.nodes))
	grads[len(grads)-1] = grad
	for i := len(g.nodes) - 1; i >= 0; i-- {
		d := grads[i]
		grads[i] = nil
		if d == nil {
			continue
		}
		n, t := g.nodes[i], tape[i]
		if n.point >= 0 && masks[n.point] != nil {
			ds := slices.Clone(d.Float32s())
			for j, keep := range masks[n.point] {
				if !keep {
					ds[j] = 0
				}
			}
			d = tensor.New(tensor.WithShape(d.Shape()...), tensor.WithBacking(ds))
		}
		for j := len(t.acts) - 1; j >= 0; j-- {
			if d, err = t.acts[j](d, true); err != nil {
				return fmt.Errorf("layers[%d] backward: %w", n.index, err)
			}
		}
		if t.merge != nil {
			dxs, err := t.merge(d)
			if err != nil {
				return fmt.Errorf("layers[%d] backward: %w", n.index, err)
			}
			for k, s := range n.srcs {
				if s >= 0 {
					grads[s] = sumGrad(grads[s], dxs[k])
				}
			}
			continue
		}
		s := n.srcs[0]
		dx, err := t.back(d, s >= 0)
		if err != nil {
			return fmt.Errorf("layers[%d] backward: %w", n.index, err)
		}
		if s >= 0 {
			grads[s] = sumGrad(grads[s], dx)
		}
	}
	return nil
}

// sumGrad returns acc + d in a new tensor (d alone when acc is nil);
// neither is modified, as backward closures may share tensors.
func sumGrad(acc, d *tensor.Dense) *tensor.Dense {
	if acc == nil {
		return d
	}
	a, b := acc.Float32s(), d.Float32s()
	sum := make([]float32, len(a))
	for i := range sum {
		sum[i] = a[i] + b[i]
	}
	return tensor.New(tensor.WithShape(acc.Shape()...), tensor.WithBacking(sum))
}
