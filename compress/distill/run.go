package distill

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"gorgonia.org/tensor"
)

// Defaults applied by Run to zero Options fields.
const (
	// DefaultT is the softmax temperature of the soft targets.
	DefaultT = 4
	// DefaultAlpha is the weight of the soft loss.
	DefaultAlpha = 0.9
)

// Hint configures the optional FitNets hint stage that runs before
// distillation: the student's layers up to StudentLayer are trained alone to
// minimise HintLoss between their output and the output of the teacher's
// layer TeacherLayer (inference mode), whose per-sample shapes must match.
type Hint struct {
	// TeacherLayer and StudentLayer are layer indices into the networks'
	// Arch().Layers; the outputs of those layers are compared.
	TeacherLayer, StudentLayer int
	// Epochs of the hint stage (0 means 1).
	Epochs int
	// LR of the hint stage (0 means Options.LR).
	LR float64
}

// Options configures Run. The zero value distils for one epoch at T = 4,
// α = 0.9 with SGD (momentum 0.9, learning rate 0.01), batch 64, seed 0.
type Options struct {
	// T is the softmax temperature (0 means DefaultT).
	T float64
	// Alpha is the weight of the soft loss in [0, 1]; (1−Alpha) weighs the
	// hard cross-entropy. 0 means DefaultAlpha: to train on the hard labels
	// alone, use nn.Train.
	Alpha float64
	// Epochs, LR, Batch, Seed, Optimizer, Momentum, WeightDecay, Schedule and
	// MaxBatches are passed to nn.TrainConfig (Batch as BatchSize), with its
	// defaults for zero values.
	Epochs      int
	LR          float64
	Batch       int
	Seed        int64
	Optimizer   string
	Momentum    float64
	WeightDecay float64
	Schedule    string
	MaxBatches  int
	// Hint, if set, runs a hint stage before distillation.
	Hint *Hint
	// Progress, if set, receives nn.Train's progress reports of the
	// distillation stage.
	Progress func(nn.Progress)
}

// Validate reports every invalid field at once.
func (o Options) Validate() error {
	var errs []error
	if !(o.T >= 0) || math.IsInf(o.T, 0) {
		errs = append(errs, fmt.Errorf("field T: %g, want finite and >= 0 (0 means %d)", o.T, DefaultT))
	}
	if !(o.Alpha >= 0 && o.Alpha <= 1) {
		errs = append(errs, fmt.Errorf("field Alpha: %g, want in [0, 1]", o.Alpha))
	}
	if h := o.Hint; h != nil {
		if h.TeacherLayer < 0 || h.StudentLayer < 0 {
			errs = append(errs, fmt.Errorf("Hint: layers %d (teacher) and %d (student), want >= 0", h.TeacherLayer, h.StudentLayer))
		}
		if h.Epochs < 0 {
			errs = append(errs, fmt.Errorf("Hint.Epochs: %d, want >= 0", h.Epochs))
		}
		if !(h.LR >= 0) {
			errs = append(errs, fmt.Errorf("Hint.LR: %g, want >= 0", h.LR))
		}
	}
	if err := o.trainConfig().Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (o Options) trainConfig() nn.TrainConfig {
	return nn.TrainConfig{Epochs: o.Epochs, BatchSize: o.Batch, LR: o.LR, Seed: o.Seed, Optimizer: o.Optimizer,
		Momentum: o.Momentum, WeightDecay: o.WeightDecay, Schedule: o.Schedule, MaxBatches: o.MaxBatches}
}

// EpochPoint is one point of the distillation learning curve.
type EpochPoint struct {
	// Epoch counts from 1.
	Epoch int `json:"epoch"`
	// TrainLoss is the mean distillation loss over the epoch's batches.
	TrainLoss float64 `json:"train_loss"`
	// TestAccuracy is the student's accuracy on the test set after the epoch.
	TestAccuracy float64 `json:"test_accuracy"`
}

// Result is what Run measured.
type Result struct {
	// StudentAccuracy and TeacherAccuracy are top-1 accuracies on the test
	// set after distillation.
	StudentAccuracy float64 `json:"student_accuracy"`
	TeacherAccuracy float64 `json:"teacher_accuracy"`
	// Errors and TeacherErrors count misclassified test samples.
	Errors        int `json:"errors"`
	TeacherErrors int `json:"teacher_errors"`
	// HintLoss is the final epoch's mean hint loss (0 without a hint stage).
	HintLoss float64 `json:"hint_loss,omitempty"`
	// Curve is the per-epoch learning curve of the distillation stage.
	Curve []EpochPoint `json:"curve"`
}

// Run distils teacher into student on train and scores both on test. The
// teacher is only read (inference mode), so it may be shared; the student is
// trained in place. With opts.Hint it first runs the hint stage. It checks
// ctx between batches and returns ctx's error when cancelled.
//
// When the distillation stage visits training samples more than once (more
// than one epoch), Run computes the teacher's logits for the whole training
// set once, N×K float32 values, instead of a teacher forward pass per batch
// per epoch. Inference output per sample does not depend on the other
// samples of its batch, so the student trains exactly as without the cache.
func Run(ctx context.Context, teacher, student *nn.Network, train, test *data.Dataset, opts Options) (*Result, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("distill options: %w", err)
	}
	if teacher == nil || student == nil {
		return nil, errors.New("distill: nil network")
	}
	if test == nil || test.Len() == 0 {
		return nil, errors.New("distill: empty test set")
	}
	if !slices.Equal(teacher.OutputShape(), student.OutputShape()) {
		return nil, fmt.Errorf("distill: teacher output %v, student output %v, want equal", teacher.OutputShape(), student.OutputShape())
	}
	T, alpha := opts.T, opts.Alpha
	if T == 0 {
		T = DefaultT
	}
	if alpha == 0 {
		alpha = DefaultAlpha
	}
	res := &Result{}
	if opts.Hint != nil {
		l, err := hintStage(ctx, teacher, student, train, opts)
		if err != nil {
			return nil, err
		}
		res.HintLoss = l
	}
	cfg := opts.trainConfig()
	cfg.Val = test
	forward := func(x *tensor.Dense) (*tensor.Dense, error) { return teacher.Forward(reshapeInput(teacher, x), false) }
	if revisits(train, cfg) {
		st, err := newSoftTargets(ctx, teacher, train, batchSize(cfg))
		if err != nil {
			return nil, err
		}
		if st != nil {
			forward = st.lookup(forward)
		}
	}
	cfg.Loss = func(x, logits *tensor.Dense, labels []int) (float64, *tensor.Dense, error) {
		v, err := forward(x)
		if err != nil {
			return 0, nil, fmt.Errorf("teacher: %w", err)
		}
		return Loss(logits, v, labels, T, alpha)
	}
	h, err := nn.Train(ctx, student, train, cfg, opts.Progress)
	if err != nil {
		return nil, fmt.Errorf("distill: %w", err)
	}
	for _, e := range h.Epochs {
		res.Curve = append(res.Curve, EpochPoint{Epoch: e.Epoch, TrainLoss: e.TrainLoss, TestAccuracy: e.ValAcc})
	}
	if res.StudentAccuracy, _, err = nn.EvaluateContext(ctx, student, test); err != nil {
		return nil, fmt.Errorf("distill: student: %w", err)
	}
	if res.TeacherAccuracy, _, err = nn.EvaluateContext(ctx, teacher, test); err != nil {
		return nil, fmt.Errorf("distill: teacher: %w", err)
	}
	res.Errors = errorsOf(res.StudentAccuracy, test.Len())
	res.TeacherErrors = errorsOf(res.TeacherAccuracy, test.Len())
	return res, nil
}

// errorsOf converts an accuracy on n samples back to the count of errors.
func errorsOf(acc float64, n int) int { return n - int(math.Round(acc*float64(n))) }

// hintStage trains the student's layers [0, StudentLayer] to regress the
// teacher's layer TeacherLayer output, then copies the trained parameters
// back into student. It returns the last epoch's mean hint loss.
func hintStage(ctx context.Context, teacher, student *nn.Network, train *data.Dataset, opts Options) (float64, error) {
	h := opts.Hint
	tp, err := prefix(teacher, h.TeacherLayer)
	if err != nil {
		return 0, fmt.Errorf("distill hint: teacher: %w", err)
	}
	sp, err := prefix(student, h.StudentLayer)
	if err != nil {
		return 0, fmt.Errorf("distill hint: student: %w", err)
	}
	if !slices.Equal(tp.OutputShape(), sp.OutputShape()) {
		return 0, fmt.Errorf("distill hint: teacher layer %d output %v and student layer %d output %v differ",
			h.TeacherLayer, tp.OutputShape(), h.StudentLayer, sp.OutputShape())
	}
	cfg := opts.trainConfig()
	cfg.Epochs = max(h.Epochs, 1)
	if h.LR > 0 {
		cfg.LR = h.LR
	}
	cfg.Loss = func(x, out *tensor.Dense, _ []int) (float64, *tensor.Dense, error) {
		v, err := tp.Forward(reshapeInput(tp, x), false)
		if err != nil {
			return 0, nil, fmt.Errorf("teacher: %w", err)
		}
		return HintLoss(out, v)
	}
	hist, err := nn.Train(ctx, sp, train, cfg, nil)
	if err != nil {
		return 0, fmt.Errorf("distill hint: %w", err)
	}
	for _, p := range sp.Params() {
		q, ok := student.Param(p.Name)
		if !ok {
			return 0, fmt.Errorf("distill hint: student has no parameter %q", p.Name)
		}
		copy(q.Value.Float32s(), p.Value.Float32s())
	}
	return hist.Epochs[len(hist.Epochs)-1].TrainLoss, nil
}

// prefix returns a new network made of net's layers [0, last] with copies of
// their parameters (parameter names are kept, as layer indices are),
// followed by a flatten so that its output is [N, F] as nn.Train expects.
func prefix(net *nn.Network, last int) (*nn.Network, error) {
	a := net.Arch()
	if last < 0 || last >= len(a.Layers) {
		return nil, fmt.Errorf("layer %d out of range [0, %d)", last, len(a.Layers))
	}
	a.Layers = append(a.Layers[:last+1:last+1], nn.LayerSpec{Type: nn.TypeFlatten, Inputs: []int{last}})
	p, err := nn.Build(a, 0)
	if err != nil {
		return nil, err
	}
	for _, q := range p.Params() {
		src, ok := net.Param(q.Name)
		if !ok {
			return nil, fmt.Errorf("no parameter %q", q.Name)
		}
		copy(q.Value.Float32s(), src.Value.Float32s())
	}
	return p, nil
}

// reshapeInput views a data set batch [N, C, H, W] as net's input shape when
// the two differ only in shape (e.g. an [F] input fed flattened images).
func reshapeInput(net *nn.Network, x *tensor.Dense) *tensor.Dense {
	in := net.InputShape()
	sh := x.Shape()
	if slices.Equal(sh[1:], in) {
		return x
	}
	return tensor.New(tensor.WithShape(append([]int{sh[0]}, in...)...), tensor.WithBacking(x.Float32s()))
}
