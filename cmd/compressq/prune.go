package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/compress/safetensors"
	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/taskmap"
	"github.com/compressq/compressq/tasks"
)

func newPruneCmd() *cobra.Command {
	var (
		p        = tasks.PrunePayload{V: tasks.Version}
		out      string
		asJSON   bool
		perLayer string
	)
	var pre preprocessFlags
	cmd := &cobra.Command{
		Use:   "prune --model FILE --out FILE",
		Short: "Prune and fine-tune a model locally, as the compress:prune task does, without Redis",
		Example: `  compressq prune --model lenet.safetensors --method global --sparsity 0.9 --schedule agp --finetune-epochs 5 --out lenet-sparse.safetensors
  compressq prune --model lenet5.safetensors --method structured --sparsity 0.5 --finetune-epochs 1 --out lenet5-half.safetensors
  compressq prune --model lenet.safetensors --method magnitude --sparsity 0 --per-layer "$(jq -c .choice.per_layer report.json)" --out lenet-sparse.safetensors`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if perLayer != "" {
				if err := json.Unmarshal([]byte(perLayer), &p.PerLayer); err != nil {
					return usageError{fmt.Errorf("--per-layer: want a JSON object of sparsities by weight name: %v", err)}
				}
			}
			return modelTask[*tasks.PruneResult]{
				payload: &p, model: &p.Model, data: &p.Data, pre: &p.Preprocess, flags: pre, needData: true,
				run: func(ctx context.Context, raw []byte, limits safetensors.Limits, s *data.Splits) ([]byte, *tasks.PruneResult, error) {
					r, err := recipe.Prune(ctx, taskmap.PruneOptions(&p, raw, limits, s))
					if err != nil {
						return nil, nil, err
					}
					return r.Model, taskmap.PruneResult(r), nil
				},
				done: func(w io.Writer, res *tasks.PruneResult, out string, asJSON bool) error {
					res.Artifact = out
					if asJSON {
						return writeJSONTo(w, res)
					}
					printPruneResult(w, res)
					return nil
				},
			}.exec(cmd, out, asJSON)
		},
	}
	f := cmd.Flags()
	addPreprocessFlags(f, &pre)
	configs.BindArtifactFlags(f)
	addOptimFlags(f, &p.Optim, tasks.Optim{}, "lr-schedule")
	f.StringVar(&p.Model, "model", "", "model file (safetensors with its architecture)")
	f.StringVar(&p.Method, "method", "global", "magnitude (per layer), global, structured or n:m")
	f.Float64Var(&p.Sparsity, "sparsity", 0.9, "fraction of weights (structured: units) to remove")
	f.StringVar(&perLayer, "per-layer", "", `sparsity per weight as JSON, e.g. {"layers.1.weight":0.95} (magnitude and structured; a sensitivity report's choice.per_layer)`)
	f.StringVar(&p.Schedule, "schedule", "", "one-shot (default), iterative or agp")
	f.IntVar(&p.FineTuneEpochs, "finetune-epochs", 1, "masked fine-tuning epochs")
	f.Float64Var(&p.LR, "lr", 0, "fine-tuning learning rate (0: the optimizer's default)")
	f.Int64Var(&p.Seed, "seed", 1, "random seed")
	f.StringVar(&p.Data, "data", "", "data set: a directory, a .zip or .npz, or a data set URI (compressq data put)")
	f.StringVar(&out, "out", "", "where to write the pruned model")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.MarkFlagRequired("model")
	return cmd
}

func printPruneResult(w io.Writer, r *tasks.PruneResult) {
	fmt.Fprintf(w, "  artifact  %s\n", r.Artifact)
	fmt.Fprintf(w, "  params    %d → %d (nonzero %d → %d, %.1f× fewer)\n", r.ParamsBefore, r.ParamsAfter, r.NonzeroBefore, r.NonzeroAfter, float64(r.NonzeroBefore)/float64(max(r.NonzeroAfter, 1)))
	fmt.Fprintf(w, "  bytes     %d → %d\n", r.BytesBefore, r.BytesAfter)
	fmt.Fprintf(w, "  accuracy  %.2f%% → %.2f%% pruned → %.2f%% fine-tuned\n", 100*r.AccuracyBefore, 100*r.AccuracyPruned, 100*r.AccuracyAfter)
	fmt.Fprintf(w, "  latency   %.3g ms → %.3g ms per batch of %d, one thread (runtime plans)\n", 1e3*r.LatencyBefore, 1e3*r.LatencyAfter, r.LatencyBatch)
	if len(r.KernelsAfter) > 0 {
		fmt.Fprintf(w, "  kernels   %s\n", strings.Join(r.KernelsAfter, ", "))
	}
	names := make([]string, 0, len(r.PerLayerSparsity))
	for n := range r.PerLayerSparsity {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-18s %.1f%% zeros\n", n, 100*r.PerLayerSparsity[n])
	}
}
