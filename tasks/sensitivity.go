package tasks

import (
	"slices"
	"strconv"
)

// DefaultSensitivityLevels are the sparsities a compress:sensitivity task
// measures when its payload names none.
var DefaultSensitivityLevels = []float64{0.5, 0.7, 0.8, 0.9, 0.95, 0.98}

// MaxSensitivityPoints bounds the fan-out of one compress:sensitivity task:
// parameters × levels.
const MaxSensitivityPoints = 1024

// Evaluation splits of a sensitivity analysis.
const (
	SplitTest  = "test"
	SplitTrain = "train"
)

// SensitivityPayload is the payload of compress:sensitivity: measure, for
// each named parameter on its own, the accuracy of the model with that
// parameter magnitude-pruned to each level (no fine-tuning), and optionally
// choose per-layer sparsities that reach a global target.
type SensitivityPayload struct {
	V     int    `json:"v"`
	Model string `json:"model"`
	// Data is the data set's URI.
	Data string `json:"data"`
	Preprocess
	// Params are the parameters to analyse ("layers.<i>.weight"); empty
	// means the weight of every Dense and Conv2D layer.
	Params []string `json:"params,omitempty"`
	// Levels are the sparsities measured per parameter, each in [0, 1),
	// none repeated; empty means DefaultSensitivityLevels.
	Levels []float64 `json:"levels,omitempty"`
	// Split is what accuracy is measured on: test (default: the first
	// EvalSize test images) or train (the last EvalSize training images,
	// which keeps the test split out of the choice when the model was
	// trained without them).
	Split string `json:"split,omitempty"`
	// EvalSize is the number of images evaluated; 0 means the whole split.
	EvalSize int `json:"eval_size,omitempty"`
	// Target, when > 0, is the global sparsity over Params to choose
	// per-layer sparsities for (prune.Choose).
	Target float64 `json:"target,omitempty"`
	// MaxDrop, with Target, is the largest accuracy drop the choice may
	// predict for any layer.
	MaxDrop float64 `json:"max_drop,omitempty"`
	// PlotFormat is png (default) or svg.
	PlotFormat string `json:"plot_format,omitempty"`
}

// TaskType implements Payload.
func (*SensitivityPayload) TaskType() string { return TypeSensitivity }

// EffectiveLevels returns Levels, or DefaultSensitivityLevels when empty.
func (p *SensitivityPayload) EffectiveLevels() []float64 {
	if len(p.Levels) == 0 {
		return slices.Clone(DefaultSensitivityLevels)
	}
	return p.Levels
}

// Validate implements Payload.
func (p *SensitivityPayload) Validate() error {
	var v validator
	v.version(p.V)
	v.uri("model", p.Model, true)
	v.check(p.Data != "", "data", "required")
	v.preprocess(p.Preprocess)
	seen := map[string]bool{}
	for i, n := range p.Params {
		f := "params[" + strconv.Itoa(i) + "]"
		v.check(n != "", f, "empty parameter name")
		v.check(!seen[n], f, "%q repeated", n)
		seen[n] = true
	}
	levels := map[float64]bool{}
	for i, s := range p.Levels {
		f := "levels[" + strconv.Itoa(i) + "]"
		v.check(s >= 0 && s < 1, f, "%v out of range [0, 1)", s)
		v.check(!levels[s], f, "%v repeated", s)
		levels[s] = true
	}
	if n := max(len(p.Params), 1) * len(p.EffectiveLevels()); n > MaxSensitivityPoints {
		v.check(false, "levels", "%d parameters × %d levels exceed the limit of %d points", max(len(p.Params), 1), len(p.EffectiveLevels()), MaxSensitivityPoints)
	}
	if p.Split != "" {
		v.oneOf("split", p.Split, SplitTest, SplitTrain)
	}
	v.check(p.EvalSize >= 0, "eval_size", "%d must be >= 0", p.EvalSize)
	v.check(p.Target >= 0 && p.Target < 1, "target", "%v out of range [0, 1)", p.Target)
	v.check(p.MaxDrop >= 0 && p.MaxDrop <= 1, "max_drop", "%v out of range [0, 1]", p.MaxDrop)
	v.check(p.MaxDrop == 0 || p.Target > 0, "max_drop", "needs target > 0")
	if p.PlotFormat != "" {
		v.oneOf("plot_format", p.PlotFormat, "png", "svg")
	}
	return v.err()
}

// SensitivityPointPayload is the payload of compress:sensitivity:point: one
// (parameter, sparsity) evaluation of a sensitivity run. The
// compress:sensitivity handler enqueues these; users do not.
type SensitivityPointPayload struct {
	V int `json:"v"`
	// Run is the sensitivity run the point belongs to.
	Run      string  `json:"run"`
	Model    string  `json:"model"`
	Data     string  `json:"data"`
	Split    string  `json:"split,omitempty"`
	EvalSize int     `json:"eval_size,omitempty"`
	Param    string  `json:"param"`
	Sparsity float64 `json:"sparsity"`
	Preprocess
}

// TaskType implements Payload.
func (*SensitivityPointPayload) TaskType() string { return TypeSensitivityPoint }

// Validate implements Payload.
func (p *SensitivityPointPayload) Validate() error {
	var v validator
	v.version(p.V)
	v.check(p.Run != "", "run", "required")
	v.uri("model", p.Model, true)
	v.check(p.Data != "", "data", "required")
	v.preprocess(p.Preprocess)
	if p.Split != "" {
		v.oneOf("split", p.Split, SplitTest, SplitTrain)
	}
	v.check(p.EvalSize >= 0, "eval_size", "%d must be >= 0", p.EvalSize)
	v.check(p.Param != "", "param", "required")
	v.check(p.Sparsity >= 0 && p.Sparsity < 1, "sparsity", "%v out of range [0, 1)", p.Sparsity)
	return v.err()
}

// SensitivityGatherPayload is the payload of compress:sensitivity:gather:
// build the report of a run whose points are all recorded. The point that
// completes a run enqueues it.
type SensitivityGatherPayload struct {
	V   int    `json:"v"`
	Run string `json:"run"`
}

// TaskType implements Payload.
func (*SensitivityGatherPayload) TaskType() string { return TypeSensitivityGather }

// Validate implements Payload.
func (p *SensitivityGatherPayload) Validate() error {
	var v validator
	v.version(p.V)
	v.check(p.Run != "", "run", "required")
	return v.err()
}

// SensitivityPointTaskID is the task id of the point (param, sparsity) of
// run: fixed, so a retried fan-out enqueues no point twice.
func SensitivityPointTaskID(run, param string, sparsity float64) string {
	return run + "/point-" + param + "@" + strconv.FormatFloat(sparsity, 'g', -1, 64)
}

// SensitivityGatherTaskID is the task id of run's gather task.
func SensitivityGatherTaskID(run string) string { return run + "/gather" }

// SensitivityPoint is one point of a sensitivity curve.
type SensitivityPoint struct {
	Sparsity float64 `json:"sparsity"`
	Accuracy float64 `json:"accuracy"`
}

// SensitivityCurve is the accuracy of the model against the sparsity of one
// parameter, the others untouched.
type SensitivityCurve struct {
	Param string `json:"param"`
	// Size is the parameter's number of entries.
	Size   int                `json:"size"`
	Points []SensitivityPoint `json:"points"`
}

// SensitivityChoice is the per-layer allocation chosen for a global target.
type SensitivityChoice struct {
	// PerLayer is the sparsity per parameter, ready for compress:prune's
	// per_layer with method magnitude; empty when the curves cannot reach
	// the target.
	PerLayer map[string]float64 `json:"per_layer,omitempty"`
	// Sparsity is the fraction of the analysed parameters' entries PerLayer
	// prunes.
	Sparsity float64 `json:"sparsity"`
	// PredictedDrop is the largest accuracy drop any one layer's curve
	// predicts at its chosen sparsity (curves linearly interpolated).
	PredictedDrop float64 `json:"predicted_drop"`
	// Met is true when PerLayer reaches the target within max_drop.
	Met bool `json:"met"`
	// Reason says why Met is false.
	Reason string `json:"reason,omitempty"`
}

// SensitivityResult is the result of compress:sensitivity:gather, and so
// of the job step that ran compress:sensitivity; the report artifact holds
// the same object with Artifact empty.
type SensitivityResult struct {
	// Artifact is the report (this object as JSON); Plot the curves drawn.
	Artifact string `json:"artifact"`
	Plot     string `json:"plot"`
	Run      string `json:"run"`
	Model    string `json:"model"`
	Data     string `json:"data,omitempty"`
	Split    string `json:"split"`
	// EvalSize is the number of images each point was measured on.
	EvalSize int `json:"eval_size"`
	// Baseline is the accuracy of the unpruned model on the same images.
	Baseline float64            `json:"baseline_accuracy"`
	Curves   []SensitivityCurve `json:"curves"`
	Target   float64            `json:"target,omitempty"`
	MaxDrop  float64            `json:"max_drop,omitempty"`
	Choice   *SensitivityChoice `json:"choice,omitempty"`
}

// OutputArtifact implements Result.
func (r *SensitivityResult) OutputArtifact() string { return r.Artifact }

// SensitivityFanOutResult is what the compress:sensitivity task itself
// records: the run it started. The job's result is the gather's.
type SensitivityFanOutResult struct {
	Run    string `json:"run"`
	Points int    `json:"points"`
	// Enqueued counts the points this attempt enqueued; a retried attempt
	// enqueues only those not yet recorded.
	Enqueued int `json:"enqueued"`
}

// OutputArtifact implements Result.
func (*SensitivityFanOutResult) OutputArtifact() string { return "" }

// SensitivityPointResult is the result of compress:sensitivity:point.
type SensitivityPointResult struct {
	Run      string  `json:"run"`
	Param    string  `json:"param"`
	Sparsity float64 `json:"sparsity"`
	Accuracy float64 `json:"accuracy"`
	// Complete is true when every point of the run was recorded once this
	// one was; the task then enqueued the gather.
	Complete bool `json:"complete,omitempty"`
}

// OutputArtifact implements Result.
func (*SensitivityPointResult) OutputArtifact() string { return "" }
