package nas

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/prune"
	"github.com/compressq/compressq/compress/ptq"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/runtime"
	"github.com/compressq/compressq/compress/safetensors"
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
// epochs (rounded up; of the Horizon when the trial has one) and training
// continues with the masks (a trial that ends before that point, a
// one-epoch one for instance, is pruned after training, without
// fine-tuning, for its measurement only: its checkpoints hold the
// unpruned run); then weights are
// replaced by their k-means shared values (quant.KMeans, 20 iterations,
// pruned weights kept at zero) when KMeansBits > 0, or by their per-tensor
// symmetric 4- or 8-bit quantized values (quant.QuantizeTensor) when
// WeightBits < 32. Bytes is EstimateBytes of the network. LatencyFP32 times
// the float network's runtime plan; LatencyInt8 times the runtime plan of
// the same network converted to an integer-only model (compress/qnn:
// per-channel int8 weights, uint8 activations calibrated by min/max on the
// first CalibImages training images); single samples on one thread in both
// cases, each layer on the kernel the plan measured fastest (sparse ones
// for pruned weights where they win), as compressq would deploy it.
//
// With Base set the space is a policy search (Space.Policy): every trial
// starts from a copy of Base, masks each searched weight to its
// sparsity by magnitude before training and fine-tunes for the trial's
// epochs with the masks (its whole run is the fine-tuning phase). Then it
// writes the compressed artifact compressq would ship (ptq.WeightOnly:
// per-channel symmetric codes, each searched weight at its precision, the
// rest at 8 bits, int8 tensors sparse where smaller), loads it back and
// measures that model: Bytes is the artifact's length, and the artifact is
// returned in TrialRun.Artifact.
type Trainer struct {
	// Space maps genomes to architectures, or is the policy space over
	// Base.
	Space Space
	// Base is a policy search's base model (nil for an architecture
	// search); trials train copies of it. BaseTransform, when set, is the
	// input transform the base model states, carried into each trial's
	// artifact.
	Base          *nn.Network
	BaseTransform *data.Transform
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
	// EpochImages, if > 0, makes each epoch a pass over that many training
	// images (rounded up to whole batches), a different random draw every
	// epoch (nn.TrainConfig.MaxBatches), instead of over all of Train.
	EpochImages int
	// TestEachEpoch measures Test's accuracy after every training epoch,
	// for the learning curve (TrialRun.Curve). The weights do not change;
	// it costs one pass over Test per epoch.
	TestEachEpoch bool
	// RungTestImages, if > 0, scores a trial that is a cut of a longer run
	// (Epochs < Horizon: an ASHA rung below the top, an earlier PBT
	// generation) on RungTestImages images spread evenly over Test
	// (data.Dataset.Spread, the same for every trial) only, and records so
	// in Objectives.TestImages: ranking candidates for promotion does not
	// need all of the test set. A trial that ends its run is scored on all
	// of it.
	RungTestImages int

	rungTest     *data.Dataset
	rungTestOnce sync.Once
}

// Checkpoints keeps a trial's training checkpoints for
// Trainer.EvaluateCheckpointed; the worker supplies one over its artifact
// store (package nas stores nothing itself).
type Checkpoints interface {
	// Save keeps b, the trial's state after epoch (counted over the whole
	// trial, from 1).
	Save(ctx context.Context, epoch int, b []byte) error
	// Latest returns the newest checkpoint kept and its epoch; 0 and nil
	// when there is none.
	Latest(ctx context.Context) (epoch int, b []byte, err error)
}

// Evaluate implements Evaluator. The training hyperparameters a candidate
// of a space of Params sets (Candidate.Training) replace Config's; its
// epochs arrive as the trial's.
func (e *Trainer) Evaluate(ctx context.Context, t Trial) (Objectives, error) {
	o, _, err := e.EvaluateCheckpointed(ctx, t, nil)
	return o, err
}

// TrialRun tells how EvaluateCheckpointed trained a trial.
type TrialRun struct {
	// ResumedFrom is the epoch of the checkpoint training continued from,
	// 0 when it started afresh.
	ResumedFrom int
	// Weights is the hex SHA-256 of the final network's parameters (after
	// the compression genes; running statistics included), each as
	// little-endian float32 in nn.Network.Params order: equal digests,
	// equal weights.
	Weights string
	// Curve holds the trial's training epochs in order, as far as they
	// ran (a failed trial's too). A trial resumed in its fine-tuning
	// phase has that phase's epochs only.
	Curve []Epoch
	// Artifact is a policy trial's compressed model (a compressq
	// artifact: its weights at their precisions, stored sparsely where
	// smaller), the very model its objectives were measured on.
	Artifact []byte
}

// Phases of a trial's training in Epoch.Phase.
const (
	PhaseTrain    = "train"
	PhaseFineTune = "fine-tune" // after pruning
)

// Epoch is one training epoch of a trial: a point of its learning curve.
type Epoch struct {
	// Epoch counts over the whole trial from 1, both phases.
	Epoch int    `json:"epoch"`
	Phase string `json:"phase"`
	// LR is the learning rate at the end of the epoch.
	LR float64 `json:"lr"`
	// TrainLoss and TrainAcc are the means over the epoch's batches.
	TrainLoss float64 `json:"train_loss"`
	TrainAcc  float64 `json:"train_acc"`
	// TestAcc is the test accuracy after the epoch, before the
	// compression genes are applied (Trainer.TestEachEpoch); nil when not
	// measured.
	TestAcc *float64 `json:"test_acc,omitempty"`
	// Seconds is the epoch's wall time.
	Seconds float64 `json:"seconds"`
}

// curve appends the epochs of h, one phase's history, to run.Curve.
func (run *TrialRun) curve(h nn.History, phase string, offset int) {
	for _, e := range h.Epochs {
		p := Epoch{Epoch: offset + e.Epoch, Phase: phase, LR: e.LR, TrainLoss: e.TrainLoss, TrainAcc: e.TrainAcc,
			Seconds: e.Duration.Seconds()}
		if !math.IsNaN(e.ValAcc) {
			acc := e.ValAcc
			p.TestAcc = &acc
		}
		run.Curve = append(run.Curve, p)
	}
}

// EvaluateCheckpointed is Evaluate that saves the training state to c after
// every epoch and, when c holds a checkpoint of the trial, continues from
// it instead of training from the start: the result is the same, bit for
// bit on the same kernel path (nn.TrainConfig.Resume). With sparsity the
// epochs count over both phases: a checkpoint at epoch n ≤ ⌈epochs/2⌉ is
// before pruning, a later one holds the pruned network with its masks. A
// nil c trains without checkpoints. An unreadable or mismatched
// checkpoint is an error, not a silent restart.
func (e *Trainer) EvaluateCheckpointed(ctx context.Context, t Trial, c Checkpoints) (Objectives, TrialRun, error) {
	var run TrialRun
	o, err := e.evaluate(ctx, t, c, &run)
	return o, run, err
}

func (e *Trainer) evaluate(ctx context.Context, t Trial, c Checkpoints, run *TrialRun) (Objectives, error) {
	net, comp, err := e.network(t.Candidate)
	if err != nil {
		return Objectives{}, err
	}
	sparse := false
	for _, c := range comp {
		sparse = sparse || c.Sparsity > 0
	}
	// The run spans horizon epochs (its schedule and pruning point); the
	// trial trains its first epochs of them.
	epochs := max(t.Epochs, 1)
	horizon := max(t.Horizon, epochs)
	cfg := t.Candidate.Training().apply(e.Config)
	if e.EpochImages > 0 {
		bs := cmp.Or(cfg.BatchSize, 64)
		cfg.MaxBatches = (e.EpochImages + bs - 1) / bs
	}
	if e.TestEachEpoch {
		cfg.Val = e.Test
	}
	first := horizon
	switch {
	case e.Base != nil:
		first = 0 // a policy's whole run fine-tunes the pruned model
	case sparse && horizon > 1:
		first = (horizon + 1) / 2
	}
	var from int
	var state *nn.TrainState
	if c != nil {
		var b []byte
		if from, b, err = c.Latest(ctx); err != nil {
			return Objectives{}, fmt.Errorf("checkpoint of %s: %w", t.ID, err)
		}
		if from < 0 || from > epochs {
			return Objectives{}, fmt.Errorf("checkpoint of %s: epoch %d of a %d-epoch trial", t.ID, from, epochs)
		}
		if b == nil {
			from = 0
		} else {
			if state, err = nn.UnmarshalTrainState(b); err != nil {
				return Objectives{}, fmt.Errorf("checkpoint of %s at epoch %d: %w", t.ID, from, err)
			}
			run.ResumedFrom = from
		}
	}
	// phase trains epochs [offset+1, offset+cfg.Epochs] of the run, up to
	// the trial's last, resuming when the checkpoint falls in them; what is
	// its Phase.
	phase := func(what string, cfg nn.TrainConfig, offset int) error {
		if state != nil && from > offset && from <= offset+cfg.Epochs {
			cfg.Resume = state
		}
		if epochs-offset < cfg.Epochs {
			cfg.StopAfter = epochs - offset
		}
		if c != nil {
			cfg.AfterEpoch = func(s *nn.TrainState) error {
				b, err := s.MarshalBinary()
				if err == nil {
					err = c.Save(ctx, offset+s.Epoch, b)
				}
				return err
			}
		}
		h, err := nn.Train(ctx, net, e.Train, cfg, nil)
		run.curve(h, what, offset)
		if err != nil {
			return fmt.Errorf("%s %s: %w", what, t.ID, err)
		}
		return nil
	}
	cfg.Epochs = first
	if from <= first && first > 0 {
		if err := phase(PhaseTrain, cfg, 0); err != nil {
			return Objectives{}, err
		}
	}
	if sparse || e.Base != nil {
		if from <= first {
			if err := pruneWeights(net, comp); err != nil {
				return Objectives{}, err
			}
		}
		if epochs > first {
			cfg.Epochs = horizon - first
			cfg.Seed = cfg.Seed + 1
			if err := phase(PhaseFineTune, cfg, first); err != nil {
				return Objectives{}, err
			}
		}
	}
	var bytes int
	if e.Base != nil {
		if run.Artifact, net, err = e.artifact(ctx, net, comp); err != nil {
			return Objectives{}, fmt.Errorf("compress %s: %w", t.ID, err)
		}
		bytes = len(run.Artifact)
	} else {
		if err := quantize(net, comp); err != nil {
			return Objectives{}, fmt.Errorf("quantize %s: %w", t.ID, err)
		}
		if bytes, err = e.bytes(t.Candidate); err != nil {
			return Objectives{}, err
		}
	}
	run.Weights = weightsDigest(net)
	test, testImages := e.Test, 0
	if n := e.RungTestImages; n > 0 && n < test.Len() && epochs < horizon {
		e.rungTestOnce.Do(func() { e.rungTest = e.Test.Spread(n) })
		test, testImages = e.rungTest, n
	}
	acc, _, err := nn.EvaluateContext(ctx, net, test)
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
	o := Objectives{Accuracy: acc, Params: net.NumParams(), Bytes: bytes, LatencyFP32: lat, LatencyInt8: lat8, MACs: keptMACs(net),
		TestImages: testImages}
	if m := e.Space.Constraints.MaxLatencyInt8; m > 0 && lat8 > m {
		o.Violation = lat8/m - 1
	}
	if m := e.Space.Constraints.MaxBytes; e.Base != nil && m > 0 && bytes > m {
		// The budget was checked on the estimate before training; the
		// written artifact is the measured figure.
		o.Violation = max(o.Violation, float64(bytes)/float64(m)-1)
	}
	return o, nil
}

// artifact writes a policy trial's fine-tuned net as its compressed
// artifact (policyArtifact) and returns it with the network it loads back
// as.
func (e *Trainer) artifact(ctx context.Context, net *nn.Network, comp map[string]Compression) ([]byte, *nn.Network, error) {
	art, err := policyArtifact(ctx, net, comp, e.BaseTransform)
	if err != nil {
		return nil, nil, err
	}
	loaded, err := model.Load(art, safetensors.Limits{})
	if err != nil {
		return nil, nil, fmt.Errorf("the artifact does not load back: %w", err)
	}
	return art, loaded, nil
}

// network returns the trial's network before training — a copy of Base,
// or the genome's architecture built from Config.Seed — and what each of
// its weight tensors is to be compressed with.
func (e *Trainer) network(c Candidate) (*nn.Network, map[string]Compression, error) {
	comp := map[string]Compression{}
	if e.Base != nil {
		if e.Space.Policy == nil {
			return nil, nil, errors.New("trainer: a base model needs a policy space")
		}
		for name, lp := range e.Space.Policy.Assignment(c.Values) {
			comp[name] = Compression{Sparsity: lp.Sparsity, WeightBits: lp.Bits}
		}
		return e.Base.Clone(), comp, nil
	}
	a, err := e.Space.Arch(c.Genome)
	if err != nil {
		return nil, nil, err
	}
	net, err := nn.Build(a, e.Config.Seed)
	if err != nil {
		return nil, nil, err
	}
	for _, name := range prune.Weights(net) {
		comp[name] = c.Genome.Compression
	}
	return net, comp, nil
}

// bytes is the candidate's stored size, EstimateBytes of its genome.
func (e *Trainer) bytes(c Candidate) (int, error) {
	a, err := e.Space.Arch(c.Genome)
	if err != nil {
		return 0, err
	}
	z, err := SizeOf(a)
	if err != nil {
		return 0, err
	}
	return EstimateBytes(z, c.Genome.Compression), nil
}

// keptMACs is Objectives.MACs of net: each Dense and Conv2D layer's
// multiply-accumulates scaled by its weight's nonzero fraction.
func keptMACs(net *nn.Network) int64 {
	sparsity := prune.Count(net).PerLayer
	var total int64
	for _, s := range net.Summary() {
		total += int64(math.Round(float64(s.MACs) * (1 - sparsity[fmt.Sprintf("layers.%d.weight", s.Index)])))
	}
	return total
}

// policyArtifact writes net as compressq ships a policy: ptq.WeightOnly,
// per-channel symmetric codes, each weight of comp at its bits and every
// other tensor at 8, int8 tensors sparse where smaller; with transform t
// when set.
func policyArtifact(ctx context.Context, net *nn.Network, comp map[string]Compression, t *data.Transform) ([]byte, error) {
	var buf bytes.Buffer
	var err error
	if t != nil {
		err = model.SaveWithTransform(&buf, net, *t)
	} else {
		err = model.Save(&buf, net)
	}
	if err != nil {
		return nil, err
	}
	bits := map[string]int{}
	for name, c := range comp {
		if c.WeightBits != 8 {
			bits[name] = c.WeightBits
		}
	}
	art, _, err := ptq.WeightOnly(ctx, buf.Bytes(), safetensors.Limits{}, ptq.Options{Bits: 8, Scheme: quant.PerChannel, Symmetric: true, TensorBits: bits})
	return art, err
}

// weightsDigest is TrialRun.Weights of net.
func weightsDigest(net *nn.Network) string {
	h := sha256.New()
	var buf []byte
	for _, p := range net.Params() {
		buf = buf[:0]
		for _, v := range p.Value.Float32s() {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// pruneWeights masks the fraction comp[name].Sparsity of the
// smallest-magnitude entries of each named weight tensor that has one
// (prune.Magnitude; a weight at sparsity 0 gets no mask).
func pruneWeights(net *nn.Network, comp map[string]Compression) error {
	sparsity := map[string]float64{}
	for name, c := range comp {
		if c.Sparsity > 0 {
			sparsity[name] = c.Sparsity
		}
	}
	return prune.Magnitude(net, sparsity)
}

// quantize replaces each named weight tensor by its k-means or uniform
// quantized values.
func quantize(net *nn.Network, comp map[string]Compression) error {
	for _, name := range sortedKeys(comp) {
		c := comp[name]
		p, ok := net.Param(name)
		if !ok {
			return fmt.Errorf("quantize: the network has no weight %q", name)
		}
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

// latencyKernelTime is how long a latency plan times each candidate kernel
// of a layer: a trial builds two plans, and the kernels that matter differ
// by several times.
const latencyKernelTime = time.Millisecond

// latencyInt8 converts net to an integer-only model calibrated on the
// first calib images of train and returns the median wall time in seconds
// of runs single-sample passes of its runtime plan (runtime.Int8Plan, one
// thread, each layer's kernel chosen by timing: dense int8 or sparse int8)
// over the first test images, quantizing the float input included.
func latencyInt8(ctx context.Context, net *nn.Network, train, test *data.Dataset, calib, runs int) (float64, error) {
	if test.Len() == 0 {
		return 0, errors.New("latency: empty data set")
	}
	plan, err := runtime.NewInt8Plan(ctx, net, runtime.Int8Options{Batch: 1, Threads: 1, Calibration: train,
		CalibrationSize: min(calib, train.Len()), MinTime: latencyKernelTime})
	if err != nil {
		return 0, err
	}
	d, err := runtime.MedianLatency(ctx, test, 1, runs, plan.Run)
	return d.Seconds(), err
}

// latency returns the median wall time in seconds of runs single-sample
// passes of net's runtime plan (runtime.Plan, one thread, batch norms
// folded, activations fused, each layer's kernel — dense or sparse — chosen
// by timing) over the first test images.
func latency(ctx context.Context, net *nn.Network, set *data.Dataset, runs int) (float64, error) {
	if set.Len() == 0 {
		return 0, errors.New("latency: empty data set")
	}
	d, _, err := runtime.PlanLatency(ctx, net, set, 1, runs, latencyKernelTime)
	return d.Seconds(), err
}
