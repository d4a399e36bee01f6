package tasks

import (
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// Quantization granularities.
const (
	PerTensor  = "per-tensor"
	PerChannel = "per-channel"
)

// QuantizePayload is the payload of compress:quantize: quantize the weights
// of a model artifact.
type QuantizePayload struct {
	V int `json:"v"`
	// Model is the artifact URI of the float32 model (safetensors).
	Model string `json:"model"`
	// Bits is the weight width: 8 (4 for packed int4).
	Bits int `json:"bits"`
	// Granularity is per-tensor or per-channel (output channel, axis 0).
	Granularity string `json:"granularity"`
	// Asymmetric selects an affine [min, max] range with a zero point;
	// the default is symmetric, zero point 0.
	Asymmetric bool `json:"asymmetric,omitempty"`
	// PerLayerBits overrides Bits per tensor ("layers.<i>.weight": 8 or
	// 4): a mixed-precision policy, such as a policy search's trial.
	// Weight-only quantization only.
	PerLayerBits map[string]int `json:"per_layer_bits,omitempty"`

	// The fields below select the full recipe instead of weight-only
	// quantization: activations calibrated on Data, an integer-only model
	// built and evaluated, optionally QAT and k-means weight sharing. The
	// model file must carry its architecture; Bits must be 8 and
	// Granularity per-channel.

	// Calibration is minmax, percentile, mse or kl.
	Calibration string `json:"calibration,omitempty"`
	// CalibSize is the number of calibration images (default 1000).
	CalibSize int `json:"calib_size,omitempty"`
	// QATEpochs fine-tunes with fake quantization first.
	QATEpochs int `json:"qat_epochs,omitempty"`
	// KMeansBits (1..8) stores k-means shared weights instead of int8 codes;
	// Huffman codes their indices.
	KMeansBits int  `json:"kmeans_bits,omitempty"`
	Huffman    bool `json:"huffman,omitempty"`
	// Data is the calibration and evaluation data set's URI (see
	// Preprocess); needed by the full recipe only.
	Data string `json:"data,omitempty"`
	Seed int64  `json:"seed,omitempty"`
	Preprocess
}

// FullRecipe reports whether p asks for calibration (and QAT or weight
// sharing) rather than weight-only quantization.
func (p *QuantizePayload) FullRecipe() bool {
	return p.Calibration != "" || p.QATEpochs > 0 || p.KMeansBits > 0
}

// TaskType implements Payload.
func (*QuantizePayload) TaskType() string { return TypeQuantize }

// Validate implements Payload.
func (p *QuantizePayload) Validate() error {
	var v validator
	v.version(p.V)
	v.uri("model", p.Model, true)
	v.check(p.Bits == 8 || p.Bits == 4, "bits", "%d not supported (want 8 or 4)", p.Bits)
	v.oneOf("granularity", p.Granularity, PerTensor, PerChannel)
	if p.Calibration != "" {
		v.oneOf("calibration", p.Calibration, "minmax", "percentile", "mse", "kl")
	}
	v.check(p.CalibSize >= 0, "calib_size", "%d must be >= 0", p.CalibSize)
	v.check(p.QATEpochs >= 0 && p.QATEpochs <= 100, "qat_epochs", "%d out of range [0, 100]", p.QATEpochs)
	v.check(p.KMeansBits >= 0 && p.KMeansBits <= 8, "kmeans_bits", "%d out of range [0, 8]", p.KMeansBits)
	v.check(!p.Huffman || p.KMeansBits > 0, "huffman", "needs kmeans_bits > 0")
	for _, k := range slices.Sorted(maps.Keys(p.PerLayerBits)) {
		b := p.PerLayerBits[k]
		v.check(b == 8 || b == 4, "per_layer_bits."+k, "%d not supported (want 8 or 4)", b)
	}
	v.check(len(p.PerLayerBits) == 0 || !p.FullRecipe(), "per_layer_bits", "weight-only quantization only (the full recipe is int8 throughout)")
	if p.FullRecipe() {
		v.check(p.Data != "", "data", "required by the full recipe (calibration)")
		v.check(p.Bits == 8, "bits", "the full recipe quantizes to 8 bits, got %d", p.Bits)
		v.check(p.Granularity == PerChannel, "granularity", "the full recipe quantizes per-channel, got %q", p.Granularity)
	}
	return v.err()
}

// PrunePayload is the payload of compress:prune.
type PrunePayload struct {
	V     int    `json:"v"`
	Model string `json:"model"`
	// Method is magnitude (per layer), global, structured (whole neurons and
	// filters removed) or n:m (2:4 semi-structured).
	Method string `json:"method"`
	// Sparsity is the target fraction of zero weights, in [0, 1)
	// (structured: the fraction of units per layer; n:m ignores it).
	Sparsity float64 `json:"sparsity"`
	// PerLayer overrides Sparsity per weight ("layers.<i>.weight") for the
	// magnitude and structured methods.
	PerLayer map[string]float64 `json:"per_layer,omitempty"`
	// Schedule is one-shot (default), iterative or agp.
	Schedule string `json:"schedule,omitempty"`
	// FineTuneEpochs is the number of epochs of masked fine-tuning.
	FineTuneEpochs int     `json:"finetune_epochs,omitempty"`
	LR             float64 `json:"lr,omitempty"`
	// Data is the URI of the data set used for fine-tuning and evaluation.
	Data string `json:"data"`
	Seed int64  `json:"seed,omitempty"`
	Preprocess
	Optim
}

// TaskType implements Payload.
func (*PrunePayload) TaskType() string { return TypePrune }

// Validate implements Payload.
func (p *PrunePayload) Validate() error {
	var v validator
	v.version(p.V)
	v.uri("model", p.Model, true)
	v.oneOf("method", p.Method, "magnitude", "global", "structured", "n:m")
	v.check(p.Sparsity >= 0 && p.Sparsity < 1, "sparsity", "%v out of range [0, 1)", p.Sparsity)
	for k, s := range p.PerLayer {
		v.check(s >= 0 && s < 1, "per_layer."+k, "%v out of range [0, 1)", s)
	}
	if p.Schedule != "" {
		v.oneOf("schedule", p.Schedule, "one-shot", "iterative", "agp")
	}
	v.check(p.FineTuneEpochs >= 0 && p.FineTuneEpochs <= 1000, "finetune_epochs", "%d out of range [0, 1000]", p.FineTuneEpochs)
	v.check(p.LR >= 0, "lr", "%v must be >= 0", p.LR)
	v.check(p.Data != "", "data", "required")
	v.preprocess(p.Preprocess)
	v.optim(p.Optim)
	return v.err()
}

// DistillPayload is the payload of compress:distill.
type DistillPayload struct {
	V       int    `json:"v"`
	Teacher string `json:"teacher"`
	// Student is an architecture: a name such as "lenet-300-100" or an
	// inline architecture object.
	Student     json.RawMessage `json:"student"`
	Temperature float64         `json:"temperature"`
	Alpha       float64         `json:"alpha"`
	Epochs      int             `json:"epochs"`
	LR          float64         `json:"lr,omitempty"`
	Data        string          `json:"data"`
	Seed        int64           `json:"seed,omitempty"`
	Preprocess
	Optim
}

// TaskType implements Payload.
func (*DistillPayload) TaskType() string { return TypeDistill }

// Validate implements Payload.
func (p *DistillPayload) Validate() error {
	var v validator
	v.version(p.V)
	v.uri("teacher", p.Teacher, true)
	v.check(len(p.Student) > 0, "student", "required")
	v.check(p.Temperature > 0, "temperature", "%v must be > 0", p.Temperature)
	v.check(p.Alpha >= 0 && p.Alpha <= 1, "alpha", "%v out of range [0, 1]", p.Alpha)
	v.check(p.Epochs > 0, "epochs", "%d must be > 0", p.Epochs)
	v.check(p.LR >= 0, "lr", "%v must be >= 0", p.LR)
	v.check(p.Data != "", "data", "required")
	v.preprocess(p.Preprocess)
	v.optim(p.Optim)
	return v.err()
}

// NASEvalPayload is the payload of nas:eval: evaluate one trial of a sweep.
type NASEvalPayload struct {
	V     int    `json:"v"`
	Sweep string `json:"sweep"`
	// Trial is the trial's id within the sweep; Attempt counts from 1.
	Trial   string `json:"trial"`
	Attempt int    `json:"attempt"`
	// Candidate is the genome: architecture and compression genes.
	Candidate json.RawMessage `json:"candidate"`
	// Epochs is the training budget (the fidelity). Horizon, when set, is
	// the epochs of the run the trial is the first Epochs of, From the
	// trial whose final checkpoint it continues, and Release the trials
	// whose checkpoints go once it has succeeded (nas.Trial).
	Epochs  int      `json:"epochs"`
	Horizon int      `json:"horizon,omitempty"`
	From    string   `json:"from,omitempty"`
	Release []string `json:"release,omitempty"`
}

// TaskType implements Payload.
func (*NASEvalPayload) TaskType() string { return TypeNASEval }

// Validate implements Payload.
func (p *NASEvalPayload) Validate() error {
	var v validator
	v.version(p.V)
	v.check(p.Sweep != "", "sweep", "required")
	v.check(p.Trial != "", "trial", "required")
	v.check(p.Attempt >= 1, "attempt", "%d must be >= 1", p.Attempt)
	v.check(len(p.Candidate) > 0, "candidate", "required")
	v.check(p.Epochs > 0, "epochs", "%d must be > 0", p.Epochs)
	v.check(p.Horizon == 0 || p.Horizon >= p.Epochs, "horizon", "%d must be 0 or >= epochs %d", p.Horizon, p.Epochs)
	v.check(p.From != p.Trial, "from", "%q names the trial itself", p.From)
	v.check(!slices.Contains(p.Release, p.Trial), "release", "names the trial itself")
	v.check(!slices.Contains(p.Release, ""), "release", "holds an empty trial id")
	return v.err()
}

// NASStepPayload is the payload of nas:step: advance a sweep's strategy.
type NASStepPayload struct {
	V     int    `json:"v"`
	Sweep string `json:"sweep"`
	// Force makes the step run even with no new results: the first step,
	// and the one after a resume.
	Force bool `json:"force,omitempty"`
}

// TaskType implements Payload.
func (*NASStepPayload) TaskType() string { return TypeNASStep }

// Validate implements Payload.
func (p *NASStepPayload) Validate() error {
	var v validator
	v.version(p.V)
	v.check(p.Sweep != "", "sweep", "required")
	return v.err()
}

// TrainPayload is the payload of train: train a model from scratch.
type TrainPayload struct {
	V int `json:"v"`
	// Arch is an architecture name such as "lenet-5" or an inline
	// architecture object.
	Arch      json.RawMessage `json:"arch"`
	Data      string          `json:"data"`
	Epochs    int             `json:"epochs"`
	BatchSize int             `json:"batch_size,omitempty"`
	LR        float64         `json:"lr,omitempty"`
	Seed      int64           `json:"seed,omitempty"`
	Preprocess
	Optim
}

// TaskType implements Payload.
func (*TrainPayload) TaskType() string { return TypeTrain }

// Validate implements Payload.
func (p *TrainPayload) Validate() error {
	var v validator
	v.version(p.V)
	v.check(len(p.Arch) > 0, "arch", "required")
	v.check(p.Epochs > 0, "epochs", "%d must be > 0", p.Epochs)
	v.check(p.BatchSize >= 0, "batch_size", "%d must be >= 0", p.BatchSize)
	v.check(p.LR >= 0, "lr", "%v must be >= 0", p.LR)
	v.check(p.Data != "", "data", "required")
	v.preprocess(p.Preprocess)
	v.optim(p.Optim)
	return v.err()
}

// EvalPayload is the payload of compress:eval: accuracy, loss, per-class
// accuracy and latency of a model on a data set's test split.
type EvalPayload struct {
	V         int    `json:"v"`
	Model     string `json:"model"`
	Data      string `json:"data"`
	BatchSize int    `json:"batch_size,omitempty"`
	Preprocess
}

// TaskType implements Payload.
func (*EvalPayload) TaskType() string { return TypeEval }

// Validate implements Payload.
func (p *EvalPayload) Validate() error {
	var v validator
	v.version(p.V)
	v.uri("model", p.Model, true)
	v.check(p.Data != "", "data", "required")
	v.check(p.BatchSize >= 0, "batch_size", "%d must be >= 0", p.BatchSize)
	v.preprocess(p.Preprocess)
	return v.err()
}

// Preprocess is the input transform fields of the payloads that read data:
// pixels are scaled to [0, 1], then (x - mean[c]) / std[c] per channel
// (one value, or one per channel). Empty means the default: a model that
// states its transform uses it; a model trained by the train task stores
// its training split's mean and std; a model without one gets [0, 1].
type Preprocess struct {
	Mean []float64 `json:"mean,omitempty"`
	Std  []float64 `json:"std,omitempty"`
}

// Optim is the optimizer fields of the payloads that train.
type Optim struct {
	// Optimizer is sgd (default) or adam.
	Optimizer string `json:"optimizer,omitempty"`
	// Momentum is SGD's momentum (0 means 0.9).
	Momentum float64 `json:"momentum,omitempty"`
	// WeightDecay is the L2 penalty.
	WeightDecay float64 `json:"weight_decay,omitempty"`
	// Schedule is the learning-rate schedule: constant, step or cosine
	// (lr_schedule: compress:prune's schedule is its pruning schedule).
	Schedule string `json:"lr_schedule,omitempty"`
}

// MaxSleep bounds a debug:sleep task.
const MaxSleep = time.Hour

// SleepPayload is the payload of debug:sleep.
type SleepPayload struct {
	V int `json:"v"`
	// Duration is how long the task waits; 0 makes it a no-op.
	Duration Duration `json:"duration,omitempty"`
	// Fail makes the task return this error message instead of succeeding,
	// for exercising retries and alerts.
	Fail string `json:"fail,omitempty"`
}

// TaskType implements Payload.
func (*SleepPayload) TaskType() string { return TypeSleep }

// Validate implements Payload.
func (p *SleepPayload) Validate() error {
	var v validator
	v.version(p.V)
	v.check(p.Duration >= 0 && time.Duration(p.Duration) <= MaxSleep, "duration", "%v out of range [0, %v]", time.Duration(p.Duration), MaxSleep)
	return v.err()
}
