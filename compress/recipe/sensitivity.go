package recipe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/prune"
	"github.com/compressq/compressq/compress/safetensors"
)

// Evaluation splits of a sensitivity analysis.
const (
	SplitTest  = "test"
	SplitTrain = "train"
)

// SensitivityOptions selects a per-layer pruning sensitivity analysis: for
// each parameter on its own, the accuracy of the model with that parameter
// magnitude-pruned to each level (no fine-tuning).
type SensitivityOptions struct {
	// Model is the model file; Limits bound its decoding.
	Model  []byte
	Limits safetensors.Limits
	// Data is the loaded data set; Transform overrides the model's input
	// transform.
	Data      *data.Splits
	Transform data.Transform
	// Params are the parameters to analyse (empty: every Dense and Conv2D
	// weight); Levels the sparsities, each in [0, 1).
	Params []string
	Levels []float64
	// Split and EvalSize select the images (see EvalSet).
	Split    string
	EvalSize int
	// Target > 0 chooses per-layer sparsities reaching it; MaxDrop bounds
	// the accuracy drop the curves may predict.
	Target, MaxDrop float64
	// PlotFormat is png (default) or svg.
	PlotFormat string
}

// SensitivityCurve is the accuracy against one parameter's sparsity.
type SensitivityCurve struct {
	Param  string
	Size   int
	Points []prune.Point
}

// SensitivityChoice is the per-layer allocation chosen for a target.
type SensitivityChoice struct {
	PerLayer      map[string]float64
	Sparsity      float64
	PredictedDrop float64
	Met           bool
	Reason        string
}

// SensitivityReport is the outcome of an analysis.
type SensitivityReport struct {
	Split    string
	EvalSize int
	// Baseline is the unpruned accuracy on the same images.
	Baseline float64
	Curves   []SensitivityCurve
	// Choice is set when a target was given.
	Choice *SensitivityChoice
	// Plot is the curves drawn in PlotFormat.
	Plot       []byte
	PlotFormat string
}

// PlanParams returns the parameters to analyse: params, or every prunable
// weight of net when empty. A name net lacks is an *InputError naming the
// params entry.
func PlanParams(net *nn.Network, params []string) ([]string, error) {
	if len(params) == 0 {
		params = prune.Weights(net)
		if len(params) == 0 {
			return nil, &InputError{Field: "model", Err: errors.New("has no Dense or Conv2D weight to analyse")}
		}
	}
	var errs []error
	for i, name := range params {
		if _, ok := net.Param(name); !ok {
			errs = append(errs, &InputError{Field: "params[" + strconv.Itoa(i) + "]", Err: fmt.Errorf("the model has no parameter %q (its weights: %v)", name, prune.Weights(net))})
		}
	}
	return params, errors.Join(errs...)
}

// EvalSet returns the images an analysis measures accuracy on: the first
// size images of test, or with split "train" the last size images of train;
// size 0 means the whole split.
func EvalSet(train, test *data.Dataset, split string, size int) *data.Dataset {
	if split == SplitTrain {
		if size <= 0 || size >= train.Len() {
			return train
		}
		_, tail := train.Split(train.Len() - size)
		return tail
	}
	return test.Subset(size)
}

// Report builds an analysis' report from its curves (one per params entry,
// points in level order): the unpruned accuracy on eval, each parameter's
// size, the choice when target > 0, and the plot.
func Report(ctx context.Context, net *nn.Network, eval *data.Dataset, o SensitivityOptions, curves map[string][]prune.Point) (*SensitivityReport, error) {
	base, _, err := nn.EvaluateContext(ctx, net, eval)
	if err != nil {
		return nil, fmt.Errorf("sensitivity baseline: %w", err)
	}
	r := &SensitivityReport{Split: o.Split, EvalSize: eval.Len(), Baseline: base, PlotFormat: o.PlotFormat}
	if r.Split == "" {
		r.Split = SplitTest
	}
	if r.PlotFormat == "" {
		r.PlotFormat = "png"
	}
	sizes := map[string]int{}
	for _, name := range o.Params {
		prm, ok := net.Param(name)
		if !ok {
			return nil, &InputError{Field: "params", Err: fmt.Errorf("the model has no parameter %q", name)}
		}
		sizes[name] = prm.Value.Len()
		r.Curves = append(r.Curves, SensitivityCurve{Param: name, Size: sizes[name], Points: curves[name]})
	}
	var chosen map[string]float64
	if o.Target > 0 {
		r.Choice = choose(curves, sizes, base, o.Target, o.MaxDrop)
		chosen = r.Choice.PerLayer
	}
	var plot bytes.Buffer
	if err := prune.PlotCurves(&plot, o.Params, curves, base, chosen, r.PlotFormat); err != nil {
		return nil, fmt.Errorf("sensitivity plot: %w", err)
	}
	r.Plot = plot.Bytes()
	return r, nil
}

// choose runs prune.Choose and judges its answer against maxDrop.
func choose(curves map[string][]prune.Point, sizes map[string]int, base, target, maxDrop float64) *SensitivityChoice {
	per, err := prune.Choose(curves, sizes, base, target)
	if err != nil {
		return &SensitivityChoice{Reason: err.Error()}
	}
	c := &SensitivityChoice{PerLayer: per, Met: true}
	total, pruned := 0, 0.0
	for name, s := range per {
		total += sizes[name]
		pruned += s * float64(sizes[name])
		if d := base - prune.Interpolate(curves[name], base, s); d > c.PredictedDrop {
			c.PredictedDrop = d
		}
	}
	c.Sparsity = pruned / float64(total)
	if maxDrop > 0 && c.PredictedDrop > maxDrop {
		c.Met = false
		c.Reason = fmt.Sprintf("the curves predict an accuracy drop of %.4f at target %v, more than max_drop %v", c.PredictedDrop, target, maxDrop)
	}
	return c
}

// Sensitivity runs an analysis in one process: every point in turn
// (prune.Curves), then the report. o.Levels must be set.
func Sensitivity(ctx context.Context, o SensitivityOptions) (*SensitivityReport, error) {
	if o.Data == nil {
		return nil, &InputError{Field: "data", Err: errors.New("required")}
	}
	if len(o.Levels) == 0 {
		return nil, &InputError{Field: "levels", Err: errors.New("required")}
	}
	m, err := LoadModel("model", o.Model, o.Limits)
	if err != nil {
		return nil, err
	}
	if o.Params, err = PlanParams(m.Net, o.Params); err != nil {
		return nil, err
	}
	train, test, err := Prepare(o.Data, ModelTransform(o.Transform, m))
	if err != nil {
		return nil, err
	}
	eval := EvalSet(train, test, o.Split, o.EvalSize)
	curves, err := prune.Curves(ctx, m.Net, o.Params, o.Levels, eval)
	if err != nil {
		return nil, err
	}
	return Report(ctx, m.Net, eval, o, curves)
}
