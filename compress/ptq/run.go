package ptq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/qnn"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/runtime"
	"gorgonia.org/tensor"
)

// RunOptions selects the full quantization recipe of Run. The zero value
// is int8 PTQ with min/max calibration on 1,000 images.
type RunOptions struct {
	// Calibration is quant.CalibMinMax (default), CalibPercentile,
	// CalibMSE or CalibKL.
	Calibration string
	// CalibSize is the number of calibration images (default 1000).
	CalibSize int
	// InputNorm, if set, is the normalization of the data sets, so uint8
	// pixels are the integer model's input codes.
	InputNorm *data.Normalization
	// Transform is the input transform the data sets carry; it is recorded
	// in the artifact's metadata.
	Transform data.Transform
	// QATEpochs > 0 fine-tunes with fake quantization before the final
	// quantization; QATLR is its learning rate (default 0.001) and
	// QATMaxBatches caps its batches per epoch.
	QATEpochs, QATMaxBatches int
	QATLR                    float64
	// KMeansBits > 0 (1..8) also builds a weight-shared (k-means) copy of
	// the float network, fine-tunes its centroids for KMeansEpochs epochs
	// (gradient sharing) and stores it as the artifact; Huffman codes its
	// indices.
	KMeansBits, KMeansEpochs int
	Huffman                  bool
	// Seed drives the QAT and fine-tuning batch order.
	Seed int64
}

// Result reports one Run.
type Result struct {
	// Artifact is the compressed artifact. Without KMeansBits it holds the
	// integer-only model Model completely (qnn.Model.Compressed: int8
	// per-channel weights, int32 biases and every activation's scale and
	// zero point, format version 2), so it runs in integers without
	// calibration (qnn.Load, compress/runtime); with KMeansBits, the
	// codebook weights of the shared float network. Each weight is stored
	// sparsely (only its nonzeros) when that takes fewer bytes, which
	// happens for pruned weights.
	Artifact []byte
	// Model is the integer-only model.
	Model *qnn.Model
	// AccuracyFP32 is the float network's accuracy on the test set;
	// AccuracyFake the fake-quant simulation's; AccuracyInt8 the integer
	// path's; AccuracyShared the k-means model's (0 without KMeansBits).
	AccuracyFP32, AccuracyFake, AccuracyInt8, AccuracyShared float64
	// BytesFP32 is the size of the float model file; BytesAfter the
	// artifact's.
	BytesFP32, BytesAfter int64
	// LatencyFP32 and LatencyInt8 are the wall times of evaluating the test
	// set with nn.Evaluate and the integer path (one measurement each, in
	// this call: a ratio, not a benchmark).
	LatencyFP32, LatencyInt8 time.Duration
	// PlanLatencyFP32 and PlanLatencyInt8 are the median times of one pass
	// over PlanBatch test images (64, or the whole test set when smaller)
	// on one thread through the runtime's plans — the float network's
	// (runtime.NewPlan) and the integer model's (runtime.NewInt8PlanWith,
	// the float input quantized included) — the deployment speed the int8
	// model buys.
	PlanLatencyFP32, PlanLatencyInt8 time.Duration
	PlanBatch                        int
}

// planLatencies times the float network and the integer model through
// the runtime's plans as the reports do (runtime.ReportTiming and
// ReportTimingInt8; Result.PlanLatencyFP32 and PlanLatencyInt8).
func planLatencies(ctx context.Context, net *nn.Network, m *qnn.Model, test *data.Dataset, res *Result) error {
	fp, err := runtime.ReportTiming(ctx, net, test)
	if err != nil {
		return fmt.Errorf("ptq: float plan: %w", err)
	}
	ip, err := runtime.ReportTimingInt8(ctx, m, test)
	if err != nil {
		return fmt.Errorf("ptq: int8 plan: %w", err)
	}
	res.PlanBatch, res.PlanLatencyFP32, res.PlanLatencyInt8 = fp.Batch, fp.Median, ip.Median
	return nil
}

// Run quantizes a trained network: BatchNorm folded, activations
// calibrated on calib, optional QAT on calib, integer model built and
// evaluated on test; optionally weight sharing. net is not modified.
func Run(ctx context.Context, net *nn.Network, calib, test *data.Dataset, o RunOptions) (*Result, error) {
	if calib == nil || test == nil {
		return nil, errors.New("ptq: run: calibration and test sets are required")
	}
	size := o.CalibSize
	if size == 0 {
		size = 1000
	}
	res := &Result{}
	var buf bytes.Buffer
	if err := model.Save(&buf, net); err != nil {
		return nil, err
	}
	res.BytesFP32 = int64(buf.Len())
	start := time.Now()
	acc, _, err := nn.EvaluateContext(ctx, net, test)
	if err != nil {
		return nil, err
	}
	res.LatencyFP32, res.AccuracyFP32 = time.Since(start), acc
	p, err := qnn.Prepare(net)
	if err != nil {
		return nil, err
	}
	obs, err := qnn.Calibrate(ctx, p, calib, size)
	if err != nil {
		return nil, err
	}
	ranges, err := qnn.Ranges(obs, o.Calibration)
	if err != nil {
		return nil, err
	}
	if o.InputNorm != nil {
		ranges[0] = qnn.Range{Lo: float64(o.InputNorm.Shift), Hi: float64(o.InputNorm.Shift) + 255*float64(o.InputNorm.Scale)}
	}
	if o.QATEpochs > 0 {
		cfg := qnn.QATConfig{Epochs: o.QATEpochs, LR: o.QATLR, Seed: o.Seed, MaxBatches: o.QATMaxBatches}
		if err := qnn.TrainQAT(ctx, p, ranges, calib, cfg); err != nil {
			return nil, fmt.Errorf("ptq: qat: %w", err)
		}
	}
	m, err := qnn.Quantize(p, ranges, qnn.Options{InputNorm: o.InputNorm})
	if err != nil {
		return nil, err
	}
	res.Model = m
	fake, err := qnn.Evaluate(ctx, m, test, qnn.PathFake)
	if err != nil {
		return nil, err
	}
	start = time.Now()
	ints, err := qnn.Evaluate(ctx, m, test, qnn.PathInt)
	if err != nil {
		return nil, err
	}
	res.LatencyInt8 = time.Since(start)
	res.AccuracyFake, res.AccuracyInt8 = fake.Accuracy(), ints.Accuracy()
	if err := planLatencies(ctx, net, m, test, res); err != nil {
		return nil, err
	}
	var c *packed.Compressed
	if o.KMeansBits > 0 {
		shared, err := Share(ctx, net, calib, o.KMeansBits, o.KMeansEpochs, o.Seed)
		if err != nil {
			return nil, err
		}
		if res.AccuracyShared, _, err = nn.EvaluateContext(ctx, shared.Net, test); err != nil {
			return nil, err
		}
		if c, err = shared.Compressed(o.Huffman); err != nil {
			return nil, err
		}
	} else if c, err = m.Compressed(); err != nil {
		return nil, err
	}
	c.Metadata = model.TransformMetadata(o.Transform)
	buf.Reset()
	if err := packed.WriteCompressed(&buf, c); err != nil {
		return nil, err
	}
	res.Artifact = buf.Bytes()
	res.BytesAfter = int64(buf.Len())
	return res, nil
}

// Compressed returns the artifact content of the shared network: codebook
// weights (indices Huffman coded when huffman is set) and float32 other
// parameters, each stored sparsely where that is smaller
// (packed.CompressedParam.ChooseSparse), with the architecture.
func (sn *SharedNet) Compressed(huffman bool) (*packed.Compressed, error) {
	arch, err := json.Marshal(sn.Net.Arch())
	if err != nil {
		return nil, err
	}
	c := &packed.Compressed{Arch: string(arch)}
	for _, prm := range sn.Net.Params() {
		cp := packed.CompressedParam{Name: prm.Name, Shape: []int(prm.Value.Shape())}
		if s, ok := sn.Shared[prm.Name]; ok {
			cp.Shared, cp.Huffman = s, huffman
		} else {
			cp.Values = append([]float32(nil), prm.Value.Float32s()...)
		}
		if _, _, err := cp.ChooseSparse(); err != nil {
			return nil, err
		}
		c.Params = append(c.Params, cp)
	}
	return c, nil
}

// SharedNet is a network whose weight matrices each hold at most 2^bits
// distinct values.
type SharedNet struct {
	// Net is the weight-shared float network.
	Net *nn.Network
	// Shared maps each shared parameter ("layers.<i>.weight") to its
	// codebook and indices.
	Shared map[string]*quant.Shared
}

// Share clusters every weight tensor of a copy of net into 2^bits shared
// values (per layer, linear initialization) and, for epochs > 0, fine-tunes
// the centroids on train: the gradient of a centroid is the sum of the
// gradients of its weights (SGD, learning rate 0.001, momentum 0.9; biases
// train normally).
//
// Pruned weights form a zero cluster (codebook entry 0, pinned at 0), so
// they stay zero and a sparse encoding can leave them out: the weights
// masked out by nn.Param.Mask or, for a weight without a mask (a pruned
// model read back from a file), its exact zeros when they are at least one
// in 2^bits of its elements, as many as a centroid serves on average.
func Share(ctx context.Context, net *nn.Network, train *data.Dataset, bits, epochs int, seed int64) (*SharedNet, error) {
	c := net.Clone()
	sn := &SharedNet{Net: c, Shared: map[string]*quant.Shared{}}
	for _, prm := range c.Params() {
		if !strings.HasSuffix(prm.Name, ".weight") {
			continue
		}
		mask := pruneMask(prm, bits)
		s, err := quant.KMeans(prm.Value.Float32s(), bits, mask, 0)
		if err != nil {
			return nil, fmt.Errorf("ptq: k-means %s: %w", prm.Name, err)
		}
		if err := s.Values(prm.Value.Float32s()); err != nil {
			return nil, err
		}
		sn.Shared[prm.Name] = s
	}
	if epochs > 0 {
		opt := &sharedSGD{inner: &nn.SGD{LearningRate: 0.001, Momentum: 0.9}, shared: map[*tensor.Dense]*quant.Shared{}, vel: map[*quant.Shared][]float64{}}
		for _, prm := range c.Params() {
			if s, ok := sn.Shared[prm.Name]; ok {
				opt.shared[prm.Value] = s
			}
		}
		if _, err := nn.Train(ctx, c, train, nn.TrainConfig{Epochs: epochs, LR: 0.001, Seed: seed, Opt: opt}, nil); err != nil {
			return nil, fmt.Errorf("ptq: centroid fine-tuning: %w", err)
		}
	}
	return sn, nil
}

// pruneMask returns the 0/1 mask of prm's pruned weights for Share: its
// Mask, else its exact zeros when at least len/2^bits of them, else nil.
func pruneMask(prm nn.Param, bits int) []float32 {
	if prm.Mask != nil {
		return prm.Mask.Float32s()
	}
	w := prm.Value.Float32s()
	mask := make([]float32, len(w))
	zeros := 0
	for i, v := range w {
		if v != 0 {
			mask[i] = 1
		} else {
			zeros++
		}
	}
	if zeros == 0 || zeros<<bits < len(w) {
		return nil
	}
	return mask
}

// sharedSGD is an nn.Optimizer that trains shared weights through their
// centroids: each centroid moves by the summed gradient of its weights
// (momentum SGD), then the weights are set from the centroids. Other
// parameters go to the inner optimizer. The zero cluster stays at 0.
type sharedSGD struct {
	inner  *nn.SGD
	shared map[*tensor.Dense]*quant.Shared
	vel    map[*quant.Shared][]float64
}

// Step implements nn.Optimizer.
func (o *sharedSGD) Step(params []nn.Param) {
	var rest []nn.Param
	for _, p := range params {
		s, ok := o.shared[p.Value]
		if !ok {
			rest = append(rest, p)
			continue
		}
		g := p.Grad.Float32s()
		sum := make([]float64, len(s.Centroids))
		for i, j := range s.Index {
			sum[j] += float64(g[i])
		}
		v := o.vel[s]
		if v == nil {
			v = make([]float64, len(s.Centroids))
			o.vel[s] = v
		}
		for j := range s.Centroids {
			if s.ZeroCluster && j == 0 {
				continue
			}
			v[j] = o.inner.Momentum*v[j] + sum[j]
			s.Centroids[j] -= float32(o.inner.LearningRate * v[j])
		}
		_ = s.Values(p.Value.Float32s())
	}
	o.inner.Step(rest)
}

// SetLR implements nn.Optimizer.
func (o *sharedSGD) SetLR(lr float64) { o.inner.SetLR(lr) }

// LR implements nn.Optimizer.
func (o *sharedSGD) LR() float64 { return o.inner.LR() }
