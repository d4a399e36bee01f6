package nas

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/qnn"
	"github.com/compressq/compressq/compress/quant"
	"gorgonia.org/tensor"
)

// Evaluator scores one trial: trains and measures its candidate (or looks it
// up) for the trial's epochs.
type Evaluator interface {
	Evaluate(ctx context.Context, t Trial) (Objectives, error)
}

// Trainer is the real evaluator: it builds the candidate's network, trains
// it on Train for the trial's epochs, applies the compression genes, and
// measures test accuracy, size and fp32 latency.
//
// Compression is simulated in float32: with sparsity s > 0 the smallest
// fraction s of each weight tensor (by magnitude) is masked after half the
// epochs (rounded up) and training continues with the masks (a one-epoch
// trial is pruned after training, without fine-tuning); then weights are
// replaced by their k-means shared values (quant.KMeans, 20 iterations,
// pruned weights kept at zero) when KMeansBits > 0, or by their per-tensor
// symmetric 4- or 8-bit quantized values (quant.QuantizeTensor) when
// WeightBits < 32. Bytes is EstimateBytes of the network. LatencyFP32 times
// the float network; LatencyInt8 times the same network converted to an
// integer-only model (compress/qnn: per-channel int8 weights, uint8
// activations calibrated by min/max on the first CalibImages training
// images), single samples in both cases.
type Trainer struct {
	// Space maps genomes to architectures.
	Space Space
	// Train and Test are the data sets.
	Train, Test *data.Dataset
	// Config is the training configuration; its Epochs is replaced by the
	// trial's and its Seed seeds the initial weights too.
	Config nn.TrainConfig
	// LatencyRuns is the number of single-sample forward passes timed; the
	// median is reported (0 means 50).
	LatencyRuns int
	// CalibImages is the number of training images that calibrate the
	// integer model's activation ranges (0 means 256).
	CalibImages int
}

// Evaluate implements Evaluator. The training hyperparameters a candidate
// of a space of Params sets (Candidate.Training) replace Config's; its
// epochs arrive as the trial's.
func (e *Trainer) Evaluate(ctx context.Context, t Trial) (Objectives, error) {
	g := t.Candidate.Genome
	a, err := e.Space.Arch(g)
	if err != nil {
		return Objectives{}, err
	}
	net, err := nn.Build(a, e.Config.Seed)
	if err != nil {
		return Objectives{}, err
	}
	epochs := max(t.Epochs, 1)
	cfg := t.Candidate.Training().apply(e.Config)
	first := epochs
	if g.Compression.Sparsity > 0 && epochs > 1 {
		first = (epochs + 1) / 2
	}
	cfg.Epochs = first
	if _, err := nn.Train(ctx, net, e.Train, cfg, nil); err != nil {
		return Objectives{}, fmt.Errorf("train %s: %w", t.ID, err)
	}
	if g.Compression.Sparsity > 0 {
		if err := prune(net, g.Compression.Sparsity); err != nil {
			return Objectives{}, err
		}
		if rest := epochs - first; rest > 0 {
			cfg.Epochs = rest
			cfg.Seed = cfg.Seed + 1
			if _, err := nn.Train(ctx, net, e.Train, cfg, nil); err != nil {
				return Objectives{}, fmt.Errorf("fine-tune %s: %w", t.ID, err)
			}
		}
	}
	if err := quantize(net, g.Compression); err != nil {
		return Objectives{}, fmt.Errorf("quantize %s: %w", t.ID, err)
	}
	acc, _, err := nn.EvaluateContext(ctx, net, e.Test)
	if err != nil {
		return Objectives{}, err
	}
	z, err := SizeOf(a)
	if err != nil {
		return Objectives{}, err
	}
	runs := orDefault(e.LatencyRuns, 50)
	lat, err := latency(ctx, net, e.Test, runs)
	if err != nil {
		return Objectives{}, err
	}
	lat8, err := latencyInt8(ctx, net, e.Train, e.Test, orDefault(e.CalibImages, 256), runs)
	if err != nil {
		return Objectives{}, fmt.Errorf("int8 latency %s: %w", t.ID, err)
	}
	return Objectives{Accuracy: acc, Params: net.NumParams(), Bytes: EstimateBytes(z, g.Compression), LatencyFP32: lat, LatencyInt8: lat8}, nil
}

// weights returns the dense and conv weight parameters of net.
func weights(net *nn.Network) []nn.Param {
	var out []nn.Param
	for i, l := range net.Layers() {
		switch l.Spec().Type {
		case nn.TypeDense, nn.TypeConv2D:
			p, ok := net.Param(fmt.Sprintf("layers.%d.weight", i))
			if ok {
				out = append(out, p)
			}
		}
	}
	return out
}

// prune masks the fraction s of smallest-magnitude entries of each weight
// tensor.
func prune(net *nn.Network, s float64) error {
	for _, p := range weights(net) {
		w := p.Value.Float32s()
		k := int(math.Round(s * float64(len(w))))
		mags := make([]float32, len(w))
		for i, v := range w {
			mags[i] = float32(math.Abs(float64(v)))
		}
		order := make([]int, len(w))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			switch {
			case mags[a] < mags[b]:
				return -1
			case mags[a] > mags[b]:
				return 1
			}
			return 0
		})
		m := make([]float32, len(w))
		for i := range m {
			m[i] = 1
		}
		for _, i := range order[:k] {
			m[i] = 0
		}
		mask := tensor.New(tensor.WithShape(p.Value.Shape().Clone()...), tensor.WithBacking(m))
		if err := net.SetMask(p.Name, mask); err != nil {
			return err
		}
	}
	return nil
}

// quantize replaces each weight tensor by its k-means or uniform quantized
// values.
func quantize(net *nn.Network, c Compression) error {
	for _, p := range weights(net) {
		w := p.Value.Float32s()
		switch {
		case c.KMeansBits > 0:
			var mask []float32
			if p.Mask != nil {
				mask = p.Mask.Float32s()
			}
			sh, err := quant.KMeans(w, c.KMeansBits, mask, 20)
			if err != nil {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
			if err := sh.Values(w); err != nil {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
		case c.WeightBits < 32:
			q, err := quant.QuantizeTensor(w, p.Value.Shape(), quant.Params{Bits: c.WeightBits, Scheme: quant.PerTensor, Symmetric: true})
			if err != nil {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
			v, err := quant.Dequantize(q)
			if err != nil {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
			copy(w, v)
		}
	}
	return nil
}

// latencyInt8 converts net to an integer-only model calibrated on the
// first calib images of train and returns the median wall time in seconds
// of runs single-sample integer passes over the first test images (input
// quantization not timed).
func latencyInt8(ctx context.Context, net *nn.Network, train, test *data.Dataset, calib, runs int) (float64, error) {
	if test.Len() == 0 {
		return 0, errors.New("latency: empty data set")
	}
	p, err := qnn.Prepare(net)
	if err != nil {
		return 0, err
	}
	obs, err := qnn.Calibrate(ctx, p, train, min(calib, train.Len()))
	if err != nil {
		return 0, err
	}
	ranges, err := qnn.Ranges(obs, quant.CalibMinMax)
	if err != nil {
		return 0, err
	}
	m, err := qnn.Quantize(p, ranges, qnn.Options{})
	if err != nil {
		return 0, err
	}
	times := make([]float64, runs)
	for i := range runs {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		x, _ := test.Batch([]int{i % test.Len()})
		in := m.QuantizeInput(x.Float32s())
		start := time.Now()
		if _, err := m.Forward(in); err != nil {
			return 0, err
		}
		times[i] = time.Since(start).Seconds()
	}
	slices.Sort(times)
	return times[runs/2], nil
}

// latency returns the median wall time in seconds of runs single-sample
// inference passes over the first test images.
func latency(ctx context.Context, net *nn.Network, set *data.Dataset, runs int) (float64, error) {
	if set.Len() == 0 {
		return 0, errors.New("latency: empty data set")
	}
	in := net.InputShape()
	times := make([]float64, runs)
	for i := range runs {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		x, _ := set.Batch([]int{i % set.Len()})
		x = tensor.New(tensor.WithShape(append([]int{1}, in...)...), tensor.WithBacking(x.Float32s()))
		start := time.Now()
		if _, err := net.Forward(x, false); err != nil {
			return 0, err
		}
		times[i] = time.Since(start).Seconds()
	}
	slices.Sort(times)
	return times[runs/2], nil
}
