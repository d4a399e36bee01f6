package main

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/datasets"
	"github.com/compressq/compressq/tasks"
)

// preprocessFlags are --mean and --std as typed.
type preprocessFlags struct{ mean, std string }

func addPreprocessFlags(f *pflag.FlagSet, pf *preprocessFlags) {
	f.StringVar(&pf.mean, "mean", "", "input mean per channel on [0,1] pixels, comma-separated (default: the model's, or for train the data's)")
	f.StringVar(&pf.std, "std", "", "input std per channel, comma-separated (e.g. 0.00392157 feeds 0-255 pixels)")
}

// apply parses the flags into a payload's fields.
func (pf preprocessFlags) apply(p *tasks.Preprocess) error {
	t, err := data.ParseTransform(pf.mean, pf.std)
	if err != nil {
		return usageError{err}
	}
	p.Mean, p.Std = t.Mean, t.Std
	return nil
}

// addOptimFlags adds --optimizer, --momentum, --weight-decay and the
// learning-rate schedule flag (named schedule) with the given defaults.
func addOptimFlags(f *pflag.FlagSet, o *tasks.Optim, def tasks.Optim, schedule string) {
	f.StringVar(&o.Optimizer, "optimizer", def.Optimizer, "sgd or adam")
	f.Float64Var(&o.Momentum, "momentum", def.Momentum, "SGD momentum (0: 0.9)")
	f.Float64Var(&o.WeightDecay, "weight-decay", def.WeightDecay, "L2 weight decay")
	f.StringVar(&o.Schedule, schedule, def.Schedule, "learning-rate schedule: constant, step or cosine")
}

// loadData reads the data set a --data flag names: a local directory,
// .zip or .npz, or a URI in the artifact store.
func loadData(ctx context.Context, e *env, ref string) (*data.Splits, error) {
	s, err := datasets.LoadLocal(ctx, func() (*artifact.Store, error) { return e.store(ctx) }, ref)
	if err != nil {
		return nil, usageError{err}
	}
	return s, nil
}
