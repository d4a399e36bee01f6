package nn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/compressq/compressq/compress/data"
	"gorgonia.org/tensor"
)

// Learning-rate schedules for TrainConfig.Schedule.
const (
	// ScheduleConstant keeps the base learning rate.
	ScheduleConstant = "constant"
	// ScheduleStep multiplies the rate by StepGamma every StepEpochs epochs.
	ScheduleStep = "step"
	// ScheduleCosine anneals the rate per batch from the base to zero along
	// half a cosine over the whole run.
	ScheduleCosine = "cosine"
)

// Optimizer names for TrainConfig.Optimizer.
const (
	OptimizerSGD  = "sgd"
	OptimizerAdam = "adam"
)

// ErrDiverged is returned by Train when the training loss stops being a
// finite number: the learning rate is too high for the model and data (or
// the inputs hold NaN or Inf). Retrying the same configuration diverges
// again.
var ErrDiverged = errors.New("training diverged")

// LossFunc computes a batch loss and its gradient with respect to logits from
// the batch input x, the network's output logits and the labels. Train's
// default is SoftmaxCrossEntropy; distillation supplies its own.
type LossFunc func(x, logits *tensor.Dense, labels []int) (loss float64, grad *tensor.Dense, err error)

// TrainConfig configures Train. The zero value trains one epoch of SGD
// (momentum 0.9, learning rate 0.01) at batch size 64 with seed 0.
type TrainConfig struct {
	// Epochs is the number of passes over the training set (0 means 1).
	Epochs int
	// BatchSize is the mini-batch size (0 means 64).
	BatchSize int
	// Optimizer is "sgd" (default) or "adam"; ignored when Opt is set.
	Optimizer string
	// LR is the base learning rate (0 means 0.01 for SGD, 0.001 for Adam,
	// or Opt's own rate when Opt is set).
	LR float64
	// Momentum is SGD's momentum (0 means 0.9; pass Opt for plain SGD).
	Momentum float64
	// WeightDecay is the L2 penalty added to gradients.
	WeightDecay float64
	// Schedule is "constant" (default), "step" or "cosine".
	Schedule string
	// StepEpochs is the step schedule's period (0 means max(1, Epochs/3)).
	StepEpochs int
	// StepGamma is the step schedule's factor (0 means 0.1).
	StepGamma float64
	// Seed fixes the batch order and dropout: the same network, data, config
	// and seed give bit-identical weights. Parallel work is split into chunks
	// whose partial sums are reduced in a fixed order, so the result does
	// not depend on GOMAXPROCS; it can differ between kernel paths (assembly
	// or pure Go), which round differently.
	Seed int64
	// Val, if set, is evaluated after every epoch.
	Val *data.Dataset
	// Patience, if > 0 and Val is set, stops training after that many epochs
	// without a better validation accuracy.
	Patience int
	// RestoreBest, with Val set, restores the parameters of the epoch with
	// the best validation accuracy when training ends.
	RestoreBest bool
	// MaxBatches, if > 0, caps the batches per epoch (short runs).
	MaxBatches int
	// Loss replaces softmax cross-entropy.
	Loss LossFunc
	// Opt, if set, is used instead of building an optimizer from Optimizer,
	// LR, Momentum and WeightDecay; its state carries across calls.
	Opt Optimizer
	// AfterEpoch, if set, is called after every epoch (after progress)
	// with the run's state at its end, which it may keep (TrainState.
	// MarshalBinary); an error ends training and Train returns it. The
	// optimizer must be *SGD or *Adam.
	AfterEpoch func(*TrainState) error
	// StopAfter, if > 0, ends the run after that epoch (when it is below
	// Epochs) as if it were cut there: the schedule and the run's identity
	// are still those of Epochs, so a later call with the same config
	// (and a larger StopAfter, or none) resuming from the state at
	// StopAfter trains exactly what one call without the cut would — how a
	// multi-fidelity search continues a configuration from a lower rung.
	// RestoreBest is not applied at the cut.
	StopAfter int
	// Resume, if set, continues the run whose state it is: the network's
	// parameters and masks, the optimizer's state, the dropout generator,
	// the history and the early-stopping bookkeeping are restored from it
	// and training goes on from epoch Resume.Epoch+1 (a state at the last
	// epoch trains nothing). The config must be the run's own, with the
	// same data set: Train refuses a different Epochs, BatchSize,
	// MaxBatches (as batches per epoch), Seed or optimizer type, and the
	// network's parameters must match the state's by name and size. The
	// result then equals the uninterrupted run's bit for bit on the same
	// kernel path.
	Resume *TrainState
}

// Validate reports every invalid field at once.
func (c TrainConfig) Validate() error {
	var errs []error
	bad := func(field string, v any, want string) {
		errs = append(errs, fmt.Errorf("%s: %v, want %s", field, v, want))
	}
	if c.Epochs < 0 {
		bad("Epochs", c.Epochs, ">= 0")
	}
	if c.BatchSize < 0 {
		bad("BatchSize", c.BatchSize, ">= 0")
	}
	if c.Opt == nil && c.Optimizer != "" && c.Optimizer != OptimizerSGD && c.Optimizer != OptimizerAdam {
		bad("Optimizer", fmt.Sprintf("%q", c.Optimizer), `"sgd" or "adam"`)
	}
	if !(c.LR >= 0) || math.IsInf(c.LR, 0) {
		bad("LR", c.LR, "finite and >= 0")
	}
	if !(c.Momentum >= 0 && c.Momentum < 1) {
		bad("Momentum", c.Momentum, "in [0, 1)")
	}
	if !(c.WeightDecay >= 0) {
		bad("WeightDecay", c.WeightDecay, ">= 0")
	}
	switch c.Schedule {
	case "", ScheduleConstant, ScheduleStep, ScheduleCosine:
	default:
		bad("Schedule", fmt.Sprintf("%q", c.Schedule), `"constant", "step" or "cosine"`)
	}
	if c.StepEpochs < 0 {
		bad("StepEpochs", c.StepEpochs, ">= 0")
	}
	if !(c.StepGamma >= 0 && c.StepGamma <= 1) {
		bad("StepGamma", c.StepGamma, "in [0, 1]")
	}
	if c.StopAfter < 0 {
		bad("StopAfter", c.StopAfter, ">= 0")
	}
	if c.Patience < 0 {
		bad("Patience", c.Patience, ">= 0")
	}
	if c.MaxBatches < 0 {
		bad("MaxBatches", c.MaxBatches, ">= 0")
	}
	return errors.Join(errs...)
}

// EpochStats summarizes one training epoch.
type EpochStats struct {
	// Epoch counts from 1.
	Epoch int
	// LR is the learning rate at the end of the epoch.
	LR float64
	// TrainLoss and TrainAcc are the means over the epoch's batches (with
	// training behaviour: dropout on, batch statistics).
	TrainLoss, TrainAcc float64
	// ValLoss and ValAcc are set when TrainConfig.Val is (NaN otherwise).
	ValLoss, ValAcc float64
	// Duration is the wall time of the epoch including validation.
	Duration time.Duration
}

// History is the per-epoch curve of a training run.
type History struct {
	Epochs []EpochStats
	// BestEpoch is the epoch (from 1) with the best validation accuracy, 0
	// without validation.
	BestEpoch int
	// EarlyStopped says training ended by patience.
	EarlyStopped bool
}

// Progress is reported after every batch and at the end of every epoch.
type Progress struct {
	// Epoch counts from 1 up to Epochs.
	Epoch, Epochs int
	// Batch is the number of batches done in this epoch, out of Batches.
	Batch, Batches int
	// Loss is the mean training loss of the epoch so far.
	Loss float64
	// LR is the current learning rate.
	LR float64
	// Done is set on the report that ends an epoch, with its statistics.
	Done *EpochStats
}

// Train trains net on train with softmax cross-entropy (or cfg.Loss) and
// mini-batch gradient descent, calling progress (if not nil) after each batch
// and epoch. It checks ctx between batches and returns the history so far
// with ctx's error when cancelled. The run is deterministic for a given
// network state, data and cfg.Seed.
func Train(ctx context.Context, net *Network, train *data.Dataset, cfg TrainConfig, progress func(Progress)) (History, error) {
	var h History
	if err := cfg.Validate(); err != nil {
		return h, fmt.Errorf("train config: %w", err)
	}
	if train == nil || train.Len() == 0 {
		return h, errors.New("train: empty training set")
	}
	if err := checkSamples(net, train); err != nil {
		return h, fmt.Errorf("train: %w", err)
	}
	epochs := max(cfg.Epochs, 1)
	bs := cfg.BatchSize
	if bs == 0 {
		bs = 64
	}
	opt := cfg.Opt
	if opt == nil {
		switch cfg.Optimizer {
		case OptimizerAdam:
			opt = &Adam{LearningRate: 0.001, WeightDecay: cfg.WeightDecay}
		default:
			mom := cfg.Momentum
			if mom == 0 {
				mom = 0.9
			}
			opt = &SGD{LearningRate: 0.01, Momentum: mom, WeightDecay: cfg.WeightDecay}
		}
	}
	base := cfg.LR
	if base == 0 {
		base = opt.LR()
	}
	lossFn := cfg.Loss
	if lossFn == nil {
		lossFn = func(_, logits *tensor.Dense, y []int) (float64, *tensor.Dense, error) {
			return SoftmaxCrossEntropy(logits, y)
		}
	}
	batches := (train.Len() + bs - 1) / bs
	if cfg.MaxBatches > 0 {
		batches = min(batches, cfg.MaxBatches)
	}
	totalSteps := epochs * batches
	stepEpochs := cfg.StepEpochs
	if stepEpochs == 0 {
		stepEpochs = max(1, epochs/3)
	}
	gamma := cfg.StepGamma
	if gamma == 0 {
		gamma = 0.1
	}
	lrAt := func(epoch, step int) float64 { // epoch from 0, step global from 0
		switch cfg.Schedule {
		case ScheduleStep:
			return base * math.Pow(gamma, float64(epoch/stepEpochs))
		case ScheduleCosine:
			return base * 0.5 * (1 + math.Cos(math.Pi*float64(step)/float64(totalSteps)))
		}
		return base
	}
	net.SetSeed(cfg.Seed)
	run := runKey{Epochs: epochs, BatchSize: bs, Batches: batches, Seed: cfg.Seed, Optimizer: optimizerKind(opt)}
	bestAcc := math.Inf(-1)
	var best [][]float32
	sinceBest := 0
	first := 0
	if r := cfg.Resume; r != nil {
		var err error
		if best, err = r.restore(net, opt, run); err != nil {
			return h, err
		}
		h = History{Epochs: slices.Clone(r.History.Epochs), BestEpoch: r.History.BestEpoch, EarlyStopped: r.History.EarlyStopped}
		if h.BestEpoch > 0 && h.BestEpoch <= len(h.Epochs) {
			bestAcc = h.Epochs[h.BestEpoch-1].ValAcc
		}
		sinceBest, first = r.sinceBest, r.Epoch
		if h.EarlyStopped {
			first = epochs
		}
	}
	step := first * batches
	last := epochs
	if cfg.StopAfter > 0 && cfg.StopAfter < epochs {
		last = cfg.StopAfter
	}
	for e := first; e < last; e++ {
		start := time.Now()
		order := train.Perm(mixSeed(cfg.Seed, e))[:min(train.Len(), batches*bs)]
		var sumLoss float64
		var correct, seen, b int
		for x, y := range train.Batches(bs, order) {
			if err := ctx.Err(); err != nil {
				return h, err
			}
			lr := lrAt(e, step)
			opt.SetLR(lr)
			net.ZeroGrad()
			logits, err := net.Forward(asInput(net, x), true)
			if err != nil {
				return h, err
			}
			loss, grad, err := lossFn(x, logits, y)
			if err != nil {
				return h, err
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return h, fmt.Errorf("epoch %d, batch %d: loss %v at learning rate %g: %w", e+1, b+1, loss, lr, ErrDiverged)
			}
			if err := net.AccumulateGrads(grad); err != nil {
				return h, err
			}
			opt.Step(net.params)
			pred, err := Argmax(logits)
			if err != nil {
				return h, err
			}
			for i, p := range pred {
				if p == y[i] {
					correct++
				}
			}
			seen += len(y)
			sumLoss += loss * float64(len(y))
			b++
			step++
			if progress != nil {
				progress(Progress{Epoch: e + 1, Epochs: epochs, Batch: b, Batches: batches, Loss: sumLoss / float64(seen), LR: lr})
			}
		}
		st := EpochStats{Epoch: e + 1, LR: opt.LR(), TrainLoss: sumLoss / float64(seen),
			TrainAcc: float64(correct) / float64(seen), ValLoss: math.NaN(), ValAcc: math.NaN()}
		stop := false
		if cfg.Val != nil {
			acc, loss, err := EvaluateContext(ctx, net, cfg.Val)
			if err != nil {
				return h, err
			}
			st.ValAcc, st.ValLoss = acc, loss
			if acc > bestAcc {
				bestAcc, h.BestEpoch, sinceBest = acc, e+1, 0
				if cfg.RestoreBest {
					best = snapshot(net)
				}
			} else {
				sinceBest++
				stop = cfg.Patience > 0 && sinceBest >= cfg.Patience
			}
		}
		st.Duration = time.Since(start)
		h.Epochs = append(h.Epochs, st)
		if progress != nil {
			progress(Progress{Epoch: e + 1, Epochs: epochs, Batch: b, Batches: batches, Loss: st.TrainLoss, LR: st.LR, Done: &st})
		}
		h.EarlyStopped = stop
		if cfg.AfterEpoch != nil {
			s, err := captureState(net, opt, run, e+1, h, best, sinceBest)
			if err != nil {
				return h, err
			}
			if err := cfg.AfterEpoch(s); err != nil {
				return h, fmt.Errorf("after epoch %d: %w", e+1, err)
			}
		}
		if stop {
			break
		}
	}
	if best != nil && last == epochs {
		for i, p := range net.params {
			copy(p.Value.Float32s(), best[i])
		}
	}
	return h, nil
}

// checkSamples reports whether set's samples fit net's input: the same
// shape, or the same number of values (a [C H W] sample feeds an [F] input
// with F = C·H·W, as a flattened vector).
func checkSamples(net *Network, set *data.Dataset) error {
	in := net.InputShape()
	if s := set.SampleShape(); !slices.Equal(s, in) && prod(s) != prod(in) {
		return fmt.Errorf("%s samples %v do not match network input %v", set.Name, s, in)
	}
	return nil
}

// asInput reshapes a batch from a Dataset to the network's input shape when
// they differ only in shape (see checkSamples).
func asInput(net *Network, x *tensor.Dense) *tensor.Dense {
	in := net.InputShape()
	if sh := x.Shape(); slices.Equal(sh[1:], in) {
		return x
	}
	return newTensor(x.Float32s(), batchShape(x.Shape()[0], in)...)
}

// mixSeed derives the shuffling seed of an epoch from the run seed.
func mixSeed(seed int64, epoch int) int64 {
	z := uint64(seed) + uint64(epoch+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return int64(z ^ (z >> 31))
}

func snapshot(net *Network) [][]float32 {
	s := make([][]float32, len(net.params))
	for i, p := range net.params {
		s[i] = slices.Clone(p.Value.Float32s())
	}
	return s
}

// evalBatch is the batch size of Evaluate.
const evalBatch = 1000

// Evaluate returns net's top-1 accuracy and mean softmax cross-entropy on
// set, running inference (train=false) in batches.
func Evaluate(net *Network, set *data.Dataset) (accuracy, loss float64, err error) {
	return EvaluateContext(context.Background(), net, set)
}

// EvaluateContext is Evaluate with cancellation checked between batches.
func EvaluateContext(ctx context.Context, net *Network, set *data.Dataset) (accuracy, loss float64, err error) {
	if set == nil || set.Len() == 0 {
		return 0, 0, errors.New("evaluate: empty data set")
	}
	if err := checkSamples(net, set); err != nil {
		return 0, 0, fmt.Errorf("evaluate: %w", err)
	}
	var correct int
	var sum float64
	for x, y := range set.Batches(evalBatch, nil) {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		logits, err := net.Forward(asInput(net, x), false)
		if err != nil {
			return 0, 0, err
		}
		l, _, err := crossEntropy(logits, y, false)
		if err != nil {
			return 0, 0, err
		}
		sum += l * float64(len(y))
		pred, err := Argmax(logits)
		if err != nil {
			return 0, 0, err
		}
		for i, p := range pred {
			if p == y[i] {
				correct++
			}
		}
	}
	n := float64(set.Len())
	return float64(correct) / n, sum / n, nil
}
