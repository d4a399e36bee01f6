package recipe

import (
	"context"
	"fmt"
	goruntime "runtime"
	"slices"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/qnn"
	cqruntime "github.com/compressq/compressq/compress/runtime"
	"github.com/compressq/compressq/compress/safetensors"
	"gorgonia.org/tensor"
)

// EvalOptions selects an evaluation: a model file (any format LoadModel
// reads) on the test split of a data set. A compressed artifact that
// stores an integer-only model runs in integers (the runtime's int8 plan,
// with the stored activation scales); every other file in float32.
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
	// Path is how the model ran: PathFloat32 or PathInt8.
	Path string `json:"path"`
}

// The ways Eval runs a model, as EvalResult.Path names them.
const (
	PathFloat32 = "float32"
	PathInt8    = "int8"
)

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
	if m.Int8 != nil {
		fwd, closePlans := int8Forward(m.Int8)
		defer closePlans()
		return evaluate(ctx, m.Net.InputShape(), fwd, test, o.BatchSize, t, PathInt8)
	}
	fwd := func(x *tensor.Dense) (*tensor.Dense, error) { return m.Net.Forward(x, false) }
	return evaluate(ctx, m.Net.InputShape(), fwd, test, o.BatchSize, t, PathFloat32)
}

// int8Forward returns a forward function that runs q through the
// runtime's int8 plans (one per batch size seen) on GOMAXPROCS threads and
// returns its logits scaled to real values, and a function that closes
// the plans.
func int8Forward(q *qnn.Model) (func(x *tensor.Dense) (*tensor.Dense, error), func()) {
	plans := map[int]*cqruntime.Int8Plan{}
	threads := min(goruntime.GOMAXPROCS(0), cqruntime.MaxThreads)
	closeAll := func() {
		for _, p := range plans {
			p.Close()
		}
	}
	return func(x *tensor.Dense) (*tensor.Dense, error) {
		n := x.Shape()[0]
		p, ok := plans[n]
		if !ok {
			var err error
			if p, err = cqruntime.NewInt8PlanFor(q, n, threads); err != nil {
				return nil, err
			}
			plans[n] = p
		}
		out, err := p.Run(x.Float32s())
		if err != nil {
			return nil, err
		}
		return tensor.New(tensor.WithShape(n, q.Classes), tensor.WithBacking(slices.Clone(out))), nil
	}, closeAll
}

// evaluate runs forward over test in batches; in is the model's
// per-sample input shape and path names how forward runs it.
func evaluate(ctx context.Context, in []int, forward func(*tensor.Dense) (*tensor.Dense, error), test *data.Dataset, batch int, t data.Transform, path string) (*EvalResult, error) {
	size := 1
	for _, d := range in {
		size *= d
	}
	if test.C*test.H*test.W != size {
		return nil, &InputError{Field: "data", Err: fmt.Errorf("%s samples %v do not fit the model's input %v", test.Name, test.SampleShape(), in)}
	}
	res := &EvalResult{Samples: test.Len(), PerClass: make([]float64, test.Classes), Classes: test.ClassNames, BatchSize: batch, Transform: t, Path: path}
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
		logits, err := forward(x)
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
