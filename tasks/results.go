package tasks

import "encoding/json"

// TensorError is the reconstruction error of one quantized tensor.
type TensorError struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	// Encoding is how the tensor is stored, e.g. "int8/per-channel/symmetric"
	// or "float32" for tensors kept as they were.
	Encoding string  `json:"encoding"`
	MaxAbs   float64 `json:"max_abs_error"`
	MeanAbs  float64 `json:"mean_abs_error"`
	// Bound is the largest error the scheme allows for this tensor: half the
	// largest quantization step.
	Bound float64 `json:"bound"`
}

// QuantizeResult is the result of compress:quantize.
type QuantizeResult struct {
	Artifact    string        `json:"artifact"`
	BytesBefore int64         `json:"bytes_before"`
	BytesAfter  int64         `json:"bytes_after"`
	Ratio       float64       `json:"ratio"`
	Tensors     []TensorError `json:"tensors,omitempty"`

	// Set by the full recipe: test accuracy of the float model, of the
	// fake-quant simulation, of the integer-only model, and of the k-means
	// shared model (with kmeans_bits); the time to evaluate the test set
	// in float32 and in integers.
	AccuracyFP32   float64 `json:"accuracy_fp32,omitempty"`
	AccuracyFake   float64 `json:"accuracy_fake_quant,omitempty"`
	AccuracyInt8   float64 `json:"accuracy_int8,omitempty"`
	AccuracyShared float64 `json:"accuracy_shared,omitempty"`
	LatencyFP32    float64 `json:"eval_seconds_fp32,omitempty"`
	LatencyInt8    float64 `json:"eval_seconds_int8,omitempty"`
	// PlanLatencyFP32 and PlanLatencyInt8 (seconds) are the median times
	// of one pass over PlanBatch test images on one thread through the
	// runtime's float plan of the input model and int8 plan of the
	// integer model (see docs/runtime.md).
	PlanBatch       int     `json:"latency_batch,omitempty"`
	PlanLatencyFP32 float64 `json:"latency_fp32,omitempty"`
	PlanLatencyInt8 float64 `json:"latency_int8,omitempty"`
}

// OutputArtifact implements Result.
func (r *QuantizeResult) OutputArtifact() string { return r.Artifact }

// SleepResult is the result of debug:sleep.
type SleepResult struct {
	Slept Duration `json:"slept"`
}

// OutputArtifact implements Result.
func (*SleepResult) OutputArtifact() string { return "" }

// EpochResult is one epoch of a training curve.
type EpochResult struct {
	Epoch     int     `json:"epoch"`
	LR        float64 `json:"lr"`
	TrainLoss float64 `json:"train_loss"`
	TrainAcc  float64 `json:"train_accuracy"`
	TestLoss  float64 `json:"test_loss"`
	TestAcc   float64 `json:"test_accuracy"`
	Seconds   float64 `json:"seconds"`
}

// TrainResult is the result of train.
type TrainResult struct {
	Artifact string `json:"artifact"`
	Arch     string `json:"arch"`
	Params   int    `json:"params"`
	// Accuracy and Loss are measured on the test split after training.
	Accuracy float64       `json:"accuracy"`
	Loss     float64       `json:"loss"`
	Curve    []EpochResult `json:"curve"`
	Seconds  float64       `json:"seconds"`
	// Mean and Std are the input transform the model was trained with and
	// records.
	Mean []float64 `json:"mean,omitempty"`
	Std  []float64 `json:"std,omitempty"`
}

// OutputArtifact implements Result.
func (r *TrainResult) OutputArtifact() string { return r.Artifact }

// NASEvalResult is the result of nas:eval: what was measured, or why the
// trial failed (the sweep's strategy decides whether to retry it).
type NASEvalResult struct {
	Sweep      string          `json:"sweep"`
	Trial      string          `json:"trial"`
	Attempt    int             `json:"attempt"`
	Objectives json.RawMessage `json:"objectives,omitempty"`
	Error      string          `json:"error,omitempty"`
	// ResumedFrom is the epoch of the checkpoint a trained trial continued
	// from (0: it trained from the start): its own, or for a promotion the
	// lower rung's trial's (NASEvalPayload.From).
	ResumedFrom int `json:"resumed_from,omitempty"`
	// Weights is the hex SHA-256 of a trained trial's final parameters
	// (nas.TrialRun.Weights).
	Weights string `json:"weights,omitempty"`
	// Curve is a trained trial's learning curve: per epoch, the training
	// loss and accuracy and the test accuracy (nas.TrialRun.Curve).
	Curve json.RawMessage `json:"curve,omitempty"`
}

// OutputArtifact implements Result.
func (*NASEvalResult) OutputArtifact() string { return "" }

// NASStepResult is the result of nas:step.
type NASStepResult struct {
	Sweep    string `json:"sweep"`
	Status   string `json:"status"`
	Told     int    `json:"told"`
	Asked    int    `json:"asked"`
	Pending  int    `json:"pending"`
	Finished int    `json:"finished"`
}

// OutputArtifact implements Result.
func (*NASStepResult) OutputArtifact() string { return "" }

// PruneResult is the result of compress:prune.
type PruneResult struct {
	Artifact         string             `json:"artifact"`
	PerLayerSparsity map[string]float64 `json:"sparsity_per_layer"`
	ParamsBefore     int                `json:"params_before"`
	ParamsAfter      int                `json:"params_after"`
	NonzeroBefore    int                `json:"nonzero_before"`
	NonzeroAfter     int                `json:"nonzero_after"`
	BytesBefore      int64              `json:"bytes_before"`
	BytesAfter       int64              `json:"bytes_after"`
	AccuracyBefore   float64            `json:"accuracy_before"`
	AccuracyPruned   float64            `json:"accuracy_pruned"`
	AccuracyAfter    float64            `json:"accuracy_after"`
	// LatencyBefore and LatencyAfter are median times (seconds) of one
	// pass over LatencyBatch test images (64, or the test set when
	// smaller) on one thread through the runtime's plan of the input and of
	// the pruned model, which runs each layer on the kernel — dense, CSR,
	// BSR or 2:4 — that measured fastest on its weights; KernelsBefore and
	// KernelsAfter name them per layer with weights ("index (type): kernel").
	LatencyBefore float64  `json:"latency_before"`
	LatencyAfter  float64  `json:"latency_after"`
	LatencyBatch  int      `json:"latency_batch,omitempty"`
	KernelsBefore []string `json:"kernels_before,omitempty"`
	KernelsAfter  []string `json:"kernels_after,omitempty"`
}

// OutputArtifact implements Result.
func (r *PruneResult) OutputArtifact() string { return r.Artifact }

// DistillResult is the result of compress:distill.
type DistillResult struct {
	Artifact        string        `json:"artifact"`
	Arch            string        `json:"arch"`
	Params          int           `json:"params"`
	StudentAccuracy float64       `json:"student_accuracy"`
	TeacherAccuracy float64       `json:"teacher_accuracy"`
	Errors          int           `json:"errors"`
	TeacherErrors   int           `json:"teacher_errors"`
	Curve           []EpochResult `json:"curve"`
	Seconds         float64       `json:"seconds"`
}

// OutputArtifact implements Result.
func (r *DistillResult) OutputArtifact() string { return r.Artifact }

// EvalResult is the result of compress:eval.
type EvalResult struct {
	Model    string  `json:"model"`
	Data     string  `json:"data"`
	Samples  int     `json:"samples"`
	Accuracy float64 `json:"accuracy"`
	Loss     float64 `json:"loss"`
	// PerClass is the accuracy on each class; Classes names them when the
	// data set does.
	PerClass []float64 `json:"per_class"`
	Classes  []string  `json:"classes,omitempty"`
	// LatencyMS is the mean inference time per image at BatchSize.
	LatencyMS float64 `json:"latency_ms_per_image"`
	BatchSize int     `json:"batch_size"`
	// Mean and Std are the input transform applied.
	Mean []float64 `json:"mean,omitempty"`
	Std  []float64 `json:"std,omitempty"`
	// Path is how the model ran: "float32", or "int8" for a compressed
	// artifact that stores an integer-only model (its activation scales).
	Path string `json:"path,omitempty"`
}

// OutputArtifact implements Result: an evaluation stores nothing.
func (r *EvalResult) OutputArtifact() string { return "" }
