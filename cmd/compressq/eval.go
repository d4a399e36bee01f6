package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/taskmap"
	"github.com/compressq/compressq/tasks"
)

func newEvalCmd() *cobra.Command {
	var (
		p      = tasks.EvalPayload{V: tasks.Version}
		pre    preprocessFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "eval --model FILE --data DIR|URI",
		Short: "Accuracy, loss, per-class accuracy and latency of a model, as the compress:eval task measures them",
		Example: `  compressq eval --model lenet.safetensors --data ./mnist
  compressq eval --model zoo-mnist.safetensors --data ./mnist --std 0.00392157 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := pre.apply(&p.Preprocess); err != nil {
				return err
			}
			file := p.Model
			p.Model = "file://" + file // the payload wants a URI; validation only
			dataRef := p.Data
			if err := p.Validate(); err != nil {
				return usageError{err}
			}
			return withEnv(cmd, 0, func(e *env) error {
				raw, err := readLimited(file, e.cfg.Artifacts.MaxBytes)
				if err != nil {
					return err
				}
				s, err := loadData(cmd.Context(), e, dataRef)
				if err != nil {
					return err
				}
				r, err := recipe.Eval(cmd.Context(), taskmap.EvalOptions(&p, raw, e.limits(), s))
				if err != nil {
					return fmt.Errorf("%s: %w", file, err)
				}
				p.Model = file
				res := taskmap.EvalResult(&p, r)
				if asJSON {
					return writeJSONTo(cmd.OutOrStdout(), res)
				}
				printEvalResult(cmd.OutOrStdout(), res)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.Model, "model", "", "model file")
	f.StringVar(&p.Data, "data", "", "data set: a directory, a .zip or .npz, or a data set URI")
	f.IntVar(&p.BatchSize, "batch-size", 0, "inference batch (default 256)")
	addPreprocessFlags(f, &pre)
	configs.BindArtifactFlags(f)
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.MarkFlagRequired("model")
	cmd.MarkFlagRequired("data")
	return cmd
}

func printEvalResult(w io.Writer, r *tasks.EvalResult) {
	fmt.Fprintf(w, "model     %s\ndata      %s (%d test images)\npath      %s\naccuracy  %.2f%% (loss %.4f)\nlatency   %.4f ms/image at batch %d\ninput     %s\n",
		r.Model, r.Data, r.Samples, r.Path, 100*r.Accuracy, r.Loss, r.LatencyMS, r.BatchSize, data.Transform{Mean: r.Mean, Std: r.Std})
	for c, a := range r.PerClass {
		name := fmt.Sprint(c)
		if c < len(r.Classes) {
			name = r.Classes[c]
		}
		fmt.Fprintf(w, "  class %-8s %.2f%%\n", name, 100*a)
	}
}
