package prune

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
)

// Methods for Options.Method.
const (
	// MethodGlobal is unstructured magnitude pruning with one threshold.
	MethodGlobal = "global"
	// MethodLayer is unstructured magnitude pruning per layer: every
	// prunable weight to Sparsity, or each to its PerLayer entry.
	MethodLayer = "layer"
	// MethodNM is N:M semi-structured pruning (2:4 by default).
	MethodNM = "nm"
	// MethodStructured removes a Sparsity fraction of the filters or neurons
	// of every layer Structured can prune (see StructuredGroups; the units
	// that reach the outputs stay), or PerLayer fractions keyed by weight
	// name, and returns a smaller network.
	MethodStructured = "structured"
)

// Schedules for Options.Schedule.
const (
	// ScheduleOneShot prunes once, then fine-tunes for FineTuneEpochs.
	ScheduleOneShot = "oneshot"
	// ScheduleIterative prunes in Steps rounds, each followed by
	// FineTuneEpochs of training.
	ScheduleIterative = "iterative"
	// ScheduleAGP prunes gradually along the AGP curve over the first
	// two thirds of FineTuneEpochs (Steps pruning steps) while training.
	ScheduleAGP = "agp"
)

// Options configures Run. The zero value is invalid only in Sparsity: set
// Sparsity or PerLayer; the rest default to global one-shot pruning with
// one epoch of fine-tuning.
type Options struct {
	// Method is MethodGlobal (default), MethodLayer, MethodNM or
	// MethodStructured.
	Method string
	// Sparsity is the fraction of prunable weights to remove (for
	// MethodStructured the fraction of units per layer); ignored by
	// MethodNM, whose sparsity is 1 − N/M.
	Sparsity float64
	// PerLayer, if set, gives each weight (by parameter name,
	// "layers.<i>.weight") its own sparsity, for MethodLayer and
	// MethodStructured.
	PerLayer map[string]float64
	// N and M give the N:M pattern (0 means 2:4).
	N, M int
	// Norm ranks units for MethodStructured: NormL1 (default) or NormL2.
	Norm string
	// Schedule is ScheduleOneShot (default), ScheduleIterative or
	// ScheduleAGP. MethodNM and MethodStructured are always one-shot.
	Schedule string
	// Steps is the number of pruning rounds (iterative) or steps (AGP);
	// 0 means 3 rounds or 20 steps.
	Steps int
	// FineTuneEpochs is the training after (or, for AGP, during) pruning;
	// 0 skips fine-tuning for one-shot and means 1 otherwise.
	FineTuneEpochs int
	// Train is the fine-tuning configuration (Epochs is set from
	// FineTuneEpochs; LR, schedule, batch size, seed are used as given).
	Train nn.TrainConfig
}

// Validate reports every invalid field at once.
func (o Options) Validate() error {
	var errs []error
	switch o.Method {
	case "", MethodGlobal, MethodLayer, MethodNM, MethodStructured:
	default:
		errs = append(errs, fmt.Errorf("%s: %q, want global, layer, nm or structured", "Method", o.Method))
	}
	switch o.Schedule {
	case "", ScheduleOneShot, ScheduleIterative, ScheduleAGP:
	default:
		errs = append(errs, fmt.Errorf("%s: %q, want oneshot, iterative or agp", "Schedule", o.Schedule))
	}
	if !(o.Sparsity >= 0 && o.Sparsity < 1) {
		errs = append(errs, fmt.Errorf("%s: %v, want in [0, 1)", "Sparsity", o.Sparsity))
	}
	for k, v := range o.PerLayer {
		if !(v >= 0 && v < 1) {
			errs = append(errs, fmt.Errorf("%s[%q]: %v, want in [0, 1)", "PerLayer", k, v))
		}
	}
	if o.Method == MethodNM && o.N != 0 && !(o.N >= 1 && o.M > o.N) {
		errs = append(errs, fmt.Errorf("%s: %d:%d, want 1 ≤ N < M", "N:M", o.N, o.M))
	}
	if o.Norm != "" && o.Norm != NormL1 && o.Norm != NormL2 {
		errs = append(errs, fmt.Errorf("%s: %q, want l1 or l2", "Norm", o.Norm))
	}
	if o.Steps < 0 || o.FineTuneEpochs < 0 {
		errs = append(errs, fmt.Errorf("%s: want ≥ 0", "Steps, FineTuneEpochs"))
	}
	if err := o.Train.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", "Train", err))
	}
	return errors.Join(errs...)
}

// Result is what Run produced.
type Result struct {
	// Network is the pruned, fine-tuned network (masks attached for
	// unstructured and N:M methods; smaller and unmasked for structured).
	Network *nn.Network
	// PerLayerSparsity is the fraction of zeros in each prunable weight of
	// Network.
	PerLayerSparsity map[string]float64
	// ParamsBefore and ParamsAfter count all parameters; NonzeroBefore and
	// NonzeroAfter the nonzero ones.
	ParamsBefore, ParamsAfter, NonzeroBefore, NonzeroAfter int
	// AccuracyBefore and AccuracyAfter are test accuracies of the input
	// and the result; AccuracyPruned is the accuracy right after pruning,
	// before fine-tuning (one-shot schedules only, else equal to After).
	AccuracyBefore, AccuracyPruned, AccuracyAfter float64
	// History is the last fine-tuning run's history.
	History nn.History
}

// Run prunes a copy of net with o and fine-tunes it on train, measuring
// accuracy on test and parameter counts before and after. net
// is not changed.
func Run(ctx context.Context, net *nn.Network, train, test *data.Dataset, o Options) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("prune options: %w", err)
	}
	if len(Weights(net)) == 0 {
		return nil, errNoPrunable
	}
	res := &Result{}
	var err error
	if res.AccuracyBefore, _, err = nn.EvaluateContext(ctx, net, test); err != nil {
		return nil, err
	}
	before := Count(net)
	res.ParamsBefore, res.NonzeroBefore = before.Params, before.NonzeroParams
	work := net.Clone()
	cfg := o.Train
	cfg.Epochs = max(o.FineTuneEpochs, 1)
	prune := o.pruner()
	schedule := o.Schedule
	if o.Method == MethodNM || o.Method == MethodStructured {
		schedule = ScheduleOneShot
	}
	switch o.Method {
	case MethodStructured:
		fr, err := o.structuredFractions(work)
		if err != nil {
			return nil, err
		}
		if work, err = Structured(work, fr, o.Norm); err != nil {
			return nil, err
		}
	case MethodNM:
		n, m := o.N, o.M
		if n == 0 {
			n, m = 2, 4
		}
		if err := NM(work, n, m); err != nil {
			return nil, err
		}
	}
	switch schedule {
	case "", ScheduleOneShot:
		if o.Method != MethodNM && o.Method != MethodStructured {
			if err := prune(work, o.Sparsity); err != nil {
				return nil, err
			}
		}
		if res.AccuracyPruned, _, err = nn.EvaluateContext(ctx, work, test); err != nil {
			return nil, err
		}
		if o.FineTuneEpochs > 0 {
			if res.History, err = nn.Train(ctx, work, train, cfg, nil); err != nil {
				return nil, err
			}
		}
	case ScheduleIterative:
		per := cfg
		steps := o.Steps
		if steps == 0 {
			steps = 3
		}
		if res.History, err = Iterative(ctx, work, train, per, o.target(), steps, prune); err != nil {
			return nil, err
		}
	case ScheduleAGP:
		steps := o.Steps
		if steps == 0 {
			steps = 20
		}
		bs := cmpOr(cfg.BatchSize, 64)
		batches := (train.Len() + bs - 1) / bs
		if cfg.MaxBatches > 0 {
			batches = min(batches, cfg.MaxBatches)
		}
		span := max(cfg.Epochs*batches*2/3, 1)
		a := AGP{Final: o.target(), Every: max(span/steps, 1), Steps: min(steps, span)}
		if res.History, err = TrainAGP(ctx, work, train, cfg, a, prune); err != nil {
			return nil, err
		}
	}
	res.Network = work
	after := Count(work)
	res.PerLayerSparsity = after.PerLayer
	res.ParamsAfter, res.NonzeroAfter = after.Params, after.NonzeroParams
	if res.AccuracyAfter, _, err = nn.EvaluateContext(ctx, work, test); err != nil {
		return nil, err
	}
	if schedule != ScheduleOneShot && schedule != "" {
		res.AccuracyPruned = res.AccuracyAfter
	}
	return res, nil
}

// target is the final sparsity of the schedule: Sparsity, or the largest
// PerLayer value when PerLayer is set (ScaledPruner scales the rest).
func (o Options) target() float64 {
	if o.Method == MethodLayer && o.PerLayer != nil {
		t := 0.0
		for _, v := range o.PerLayer {
			t = max(t, v)
		}
		return t
	}
	return o.Sparsity
}

func (o Options) pruner() Pruner {
	switch o.Method {
	case MethodLayer:
		if o.PerLayer != nil {
			return ScaledPruner(o.PerLayer)
		}
		return UniformPruner
	}
	return GlobalPruner
}

// structuredFractions maps o to Structured's per-layer fractions: PerLayer
// entries by weight name ("layers.<i>.weight"), or else Sparsity for every
// layer in StructuredGroups.
func (o Options) structuredFractions(net *nn.Network) (map[int]float64, error) {
	fr := map[int]float64{}
	if o.PerLayer != nil {
		for name, s := range o.PerLayer {
			i, err := weightLayer(name)
			if err != nil {
				return nil, err
			}
			if s > 0 {
				fr[i] = s
			}
		}
		return fr, nil
	}
	sets, err := StructuredGroups(net)
	if err != nil {
		return nil, err
	}
	for _, set := range sets {
		for _, i := range set {
			fr[i] = o.Sparsity
		}
	}
	return fr, nil
}

// weightLayer returns i for the parameter name "layers.<i>.weight".
func weightLayer(name string) (int, error) {
	rest, ok := strings.CutPrefix(name, "layers.")
	if ok {
		rest, ok = strings.CutSuffix(rest, ".weight")
	}
	i, err := strconv.Atoi(rest)
	if !ok || err != nil || i < 0 {
		return 0, fmt.Errorf("prune: PerLayer[%q]: want a weight name layers.<i>.weight", name)
	}
	return i, nil
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
