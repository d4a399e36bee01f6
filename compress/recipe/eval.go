package recipe

import (
	"context"
	"fmt"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/safetensors"
)

// EvalOptions selects an evaluation: a model file (any format LoadModel
// reads) on the test split of a data set.
type EvalOptions struct {
	// Model holds the model file's bytes; Limits bound its decoding.
	Model  []byte
	Limits safetensors.Limits
	// Data is the loaded data set (not normalized); its test split is used.
	Data *data.Splits
	// Transform overrides the model's input transform (see ModelTransform).
	Transform data.Transform
	// BatchSize is the inference batch (0 means 256).
	BatchSize int
}

// EvalResult reports an evaluation.
type EvalResult struct {
	Samples  int     `json:"samples"`
	Accuracy float64 `json:"accuracy"`
	// Loss is the mean softmax cross-entropy.
	Loss float64 `json:"loss"`
	// PerClass is the accuracy on each class's samples (0 for a class with
	// none); Classes names them when the data set does.
	PerClass []float64 `json:"per_class"`
	Classes  []string  `json:"classes,omitempty"`
	// LatencyMS is the mean wall time per image at BatchSize, in
	// milliseconds, of this run (one measurement, not a benchmark).
	LatencyMS float64 `json:"latency_ms_per_image"`
	BatchSize int     `json:"batch_size"`
	// Transform is the input transform applied.
	Transform data.Transform `json:"transform"`
}

// Eval measures a model's accuracy, loss, per-class accuracy and latency on
// a data set's test split.
func Eval(ctx context.Context, o EvalOptions) (*EvalResult, error) {
	if o.Data == nil {
		return nil, &InputError{Field: "data", Err: fmt.Errorf("required")}
	}
	if o.BatchSize < 0 {
		return nil, &InputError{Field: "batch_size", Err: fmt.Errorf("%d must be >= 0", o.BatchSize)}
	}
	if o.BatchSize == 0 {
		o.BatchSize = 256
	}
	m, err := LoadModel("model", o.Model, o.Limits)
	if err != nil {
		return nil, err
	}
	t := ModelTransform(o.Transform, m)
	if err := t.Validate(o.Data.Test.C); err != nil {
		return nil, &InputError{Field: "mean", Err: err}
	}
	test, err := o.Data.Test.Normalized(t)
	if err != nil {
		return nil, err
	}
	return evaluate(ctx, m.Net, test, o.BatchSize, t)
}

func evaluate(ctx context.Context, net *nn.Network, test *data.Dataset, batch int, t data.Transform) (*EvalResult, error) {
	in := net.InputShape()
	size := 1
	for _, d := range in {
		size *= d
	}
	if test.C*test.H*test.W != size {
		return nil, &InputError{Field: "data", Err: fmt.Errorf("%s samples %v do not fit the model's input %v", test.Name, test.SampleShape(), in)}
	}
	res := &EvalResult{Samples: test.Len(), PerClass: make([]float64, test.Classes), Classes: test.ClassNames, BatchSize: batch, Transform: t}
	total := make([]int, test.Classes)
	var correct int
	var loss float64
	var elapsed time.Duration
	for x, y := range test.Batches(batch, nil) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := x.Reshape(append([]int{len(y)}, in...)...); err != nil {
			return nil, err
		}
		start := time.Now()
		logits, err := net.Forward(x, false)
		elapsed += time.Since(start)
		if err != nil {
			return nil, err
		}
		if c := logits.Shape()[1]; c < test.Classes {
			return nil, &InputError{Field: "data", Err: fmt.Errorf("%s has %d classes but the model outputs %d", test.Name, test.Classes, c)}
		}
		l, _, err := nn.SoftmaxCrossEntropy(logits, y)
		if err != nil {
			return nil, err
		}
		loss += l * float64(len(y))
		pred, err := nn.Argmax(logits)
		if err != nil {
			return nil, err
		}
		for i, p := range pred {
			total[y[i]]++
			if p == y[i] {
				correct++
				res.PerClass[y[i]]++
			}
		}
	}
	for c := range res.PerClass {
		if total[c] > 0 {
			res.PerClass[c] /= float64(total[c])
		}
	}
	n := float64(test.Len())
	res.Accuracy, res.Loss = float64(correct)/n, loss/n
	res.LatencyMS = float64(elapsed.Microseconds()) / 1000 / n
	return res, nil
}
