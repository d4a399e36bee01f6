package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/taskmap"
	"github.com/compressq/compressq/tasks"
)

func newTrainCmd() *cobra.Command {
	var (
		p       = tasks.TrainPayload{V: tasks.Version}
		arch    string
		out     string
		asJSON  bool
		dataDir string
		pre     preprocessFlags
	)
	cmd := &cobra.Command{
		Use:   "train --arch NAME|FILE --out FILE",
		Short: "Train a model locally, as the train task does, without Redis",
		Example: `  compressq data mnist --out ./mnist
  compressq train --arch lenet-300-100 --epochs 10 --data ./mnist --out lenet300.safetensors
  compressq train --arch my-cnn.json --epochs 5 --data ./fashion-mnist --mean 0.286 --std 0.353 --out cnn.safetensors --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{fmt.Errorf("--out: required")}
			}
			raw, err := archFlag(arch)
			if err != nil {
				return usageError{err}
			}
			p.Arch, p.Data = raw, dataDir
			if err := pre.apply(&p.Preprocess); err != nil {
				return err
			}
			if err := p.Validate(); err != nil {
				return usageError{err}
			}
			return withEnv(cmd, 0, func(e *env) error {
				splits, err := loadData(cmd.Context(), e, dataDir)
				if err != nil {
					return err
				}
				progress, wait := progressBars(cmd.ErrOrStderr(), p.Epochs)
				r, err := recipe.Train(cmd.Context(), taskmap.TrainOptions(&p, splits, progress))
				wait()
				if err != nil {
					return err
				}
				if err := os.WriteFile(out, r.Model, 0o644); err != nil {
					return err
				}
				res := taskmap.TrainResult(r)
				res.Artifact = out
				if asJSON {
					return writeJSONTo(cmd.OutOrStdout(), res)
				}
				printTrainResult(cmd.OutOrStdout(), res)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&arch, "arch", "", "architecture: a name ("+fmt.Sprint(nn.ArchNames())+") or a JSON file")
	f.IntVar(&p.Epochs, "epochs", 1, "training epochs")
	f.IntVar(&p.BatchSize, "batch-size", 64, "mini-batch size")
	f.Float64Var(&p.LR, "lr", 0.05, "learning rate (0: the optimizer's default)")
	f.Int64Var(&p.Seed, "seed", 1, "random seed")
	f.StringVar(&dataDir, "data", "", "data set: a directory, a .zip or .npz, or a data set URI (compressq data put)")
	addPreprocessFlags(f, &pre)
	configs.BindArtifactFlags(f)
	addOptimFlags(f, &p.Optim, tasks.Optim{Optimizer: "sgd", Momentum: 0.9, WeightDecay: 1e-4, Schedule: "cosine"}, "schedule")
	f.StringVar(&out, "out", "", "where to write the model (safetensors)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.MarkFlagRequired("arch")
	cmd.MarkFlagRequired("data")
	return cmd
}

// archFlag turns --arch into the payload's arch field: a known name, or the
// contents of a JSON file.
func archFlag(s string) (json.RawMessage, error) {
	if _, err := nn.ArchByName(s); err == nil {
		return json.Marshal(s)
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return nil, fmt.Errorf("--arch: %q is neither a known architecture %v nor a readable file: %w", s, nn.ArchNames(), err)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("--arch: %s is not JSON", s)
	}
	return b, nil
}

// progressBars draws one bar per epoch on w when it is a terminal; the
// returned wait flushes them. Off a terminal it reports nothing.
func progressBars(w io.Writer, epochs int) (func(nn.Progress), func()) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, func() {}
	}
	pb := mpb.New(mpb.WithOutput(w))
	var bar *mpb.Bar
	epoch := 0
	return func(pr nn.Progress) {
			if pr.Epoch != epoch {
				epoch = pr.Epoch
				bar = pb.AddBar(int64(pr.Batches),
					mpb.PrependDecorators(decor.Name(fmt.Sprintf("epoch %d/%d ", pr.Epoch, epochs))),
					mpb.AppendDecorators(decor.Percentage(), decor.Name(" "), decor.EwmaETA(decor.ET_STYLE_GO, 30)))
			}
			bar.SetCurrent(int64(pr.Batch))
			if pr.Done != nil {
				bar.SetTotal(int64(pr.Batches), true)
			}
		}, func() {
			if bar != nil && !bar.Completed() {
				bar.Abort(false)
			}
			pb.Wait()
		}
}

func printTrainResult(w io.Writer, r *tasks.TrainResult) {
	fmt.Fprintf(w, "model     %s\narch      %s (%d parameters)\naccuracy  %.2f%% (test loss %.4f)\ntime      %.1fs\n\n", r.Artifact, r.Arch, r.Params, 100*r.Accuracy, r.Loss, r.Seconds)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "epoch\tlr\ttrain loss\ttrain acc\ttest loss\ttest acc\tseconds\t")
	for _, e := range r.Curve {
		fmt.Fprintf(tw, "%d\t%.4g\t%.4f\t%.2f%%\t%.4f\t%.2f%%\t%.1f\t\n", e.Epoch, e.LR, e.TrainLoss, 100*e.TrainAcc, e.TestLoss, 100*e.TestAcc, e.Seconds)
	}
	tw.Flush()
}
