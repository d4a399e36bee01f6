package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/compressq/compressq/compress/prune"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/datasets"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/taskmap"
	"github.com/compressq/compressq/producer"
	"github.com/compressq/compressq/tasks"
)

func newSensitivityCmd() *cobra.Command {
	var (
		p        = tasks.SensitivityPayload{V: tasks.Version}
		queue    string
		local    bool
		wait     bool
		asJSON   bool
		out      string
		plotFile string
		pre      preprocessFlags
	)
	cmd := &cobra.Command{
		Use:   "sensitivity MODEL",
		Short: "Per-layer pruning sensitivity: accuracy against each layer's sparsity, fanned out over the workers",
		Long: `sensitivity submits a compress:sensitivity job: one task per (parameter, sparsity level)
measures the accuracy of MODEL with only that parameter magnitude-pruned to that level, and a
gather task turns the points into a report (curves, unpruned accuracy, and with --target the
per-layer sparsities that reach that global sparsity losing the least accuracy) stored as JSON
and as a plot. MODEL is an artifact URI or a local file, which is put into the artifact store
first. --local runs every point in this process instead, without Redis.`,
		Example: `  compressq sensitivity lenet.safetensors --data file:///srv/artifacts/sha256/cd/cd34….zip --target 0.9 --wait --out report.json --plot curves.png
  compressq sensitivity file:///srv/artifacts/sha256/ab/ab12….safetensors --data file:///srv/artifacts/sha256/cd/cd34….zip --levels 0.5,0.8,0.95 --eval-size 2000
  compressq sensitivity lenet.safetensors --local --data ./mnist --params layers.1.weight,layers.3.weight --plot curves.svg`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if plotFile != "" {
				format := strings.TrimPrefix(filepath.Ext(plotFile), ".")
				if format != "png" && format != "svg" {
					return usageError{fmt.Errorf("--plot %q: want a .png or .svg file", plotFile)}
				}
				if p.PlotFormat == "" {
					p.PlotFormat = format
				}
			}
			if err := pre.apply(&p.Preprocess); err != nil {
				return err
			}
			if (out != "" || plotFile != "") && !wait && !local {
				return usageError{fmt.Errorf("--out and --plot need --wait or --local")}
			}
			return withEnv(cmd, 0, func(e *env) error {
				var res *tasks.SensitivityResult
				var err error
				if local {
					if res, err = sensitivityLocal(cmd, e, &p, args[0]); err != nil {
						return err
					}
				} else {
					id, err := submitSensitivity(cmd, e, &p, args[0], queue)
					if err != nil || !wait {
						return err
					}
					if res, err = waitSensitivity(cmd, e, id); err != nil {
						return err
					}
				}
				if out != "" {
					if err := writeReport(out, res); err != nil {
						return err
					}
				}
				if plotFile != "" {
					if err := plotReport(plotFile, res); err != nil {
						return err
					}
				}
				if asJSON {
					return writeJSONTo(cmd.OutOrStdout(), res)
				}
				printSensitivityResult(cmd.OutOrStdout(), res)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.Data, "data", "", "data set: a data set URI, or a local directory, .zip or .npz (put into the store first)")
	addPreprocessFlags(f, &pre)
	configs.BindArtifactFlags(f)
	configs.BindRedisFlags(f)
	f.StringSliceVar(&p.Params, "params", nil, "parameters to analyse (default: the weight of every dense and conv layer)")
	f.Float64SliceVar(&p.Levels, "levels", slices.Clone(tasks.DefaultSensitivityLevels), "sparsity levels")
	f.StringVar(&p.Split, "split", "", "measure on test (default: the first --eval-size test images) or train (the last --eval-size training images)")
	f.IntVar(&p.EvalSize, "eval-size", 0, "images per evaluation (0: the whole split)")
	f.Float64Var(&p.Target, "target", 0, "choose per-layer sparsities reaching this global sparsity")
	f.Float64Var(&p.MaxDrop, "max-drop", 0, "with --target: the largest accuracy drop (fraction) the choice may predict")
	f.StringVar(&p.PlotFormat, "plot-format", "", "format of the plot the workers store: png (default) or svg")
	f.StringVar(&queue, "queue", "", "queue: critical, default, sweep or low")
	f.BoolVar(&local, "local", false, "run every point in this process, without Redis")
	f.BoolVar(&wait, "wait", false, "wait for the report")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.StringVar(&out, "out", "", "write the report (JSON) to this file")
	f.StringVar(&plotFile, "plot", "", "draw the curves into this file (.png or .svg)")
	return cmd
}

// submitSensitivity puts MODEL and --data into the store if they are local
// paths and submits the job; it prints the job id when not waiting.
func submitSensitivity(cmd *cobra.Command, e *env, p *tasks.SensitivityPayload, modelArg, queue string) (string, error) {
	p.Model = modelArg
	if !strings.Contains(modelArg, "://") {
		f, err := os.Open(modelArg)
		if err != nil {
			return "", usageError{err}
		}
		defer f.Close()
		st, err := e.store(cmd.Context())
		if err != nil {
			return "", err
		}
		if p.Model, err = st.Put(cmd.Context(), f, artifactExt(modelArg)); err != nil {
			return "", err
		}
	}
	if p.Data != "" && !strings.Contains(p.Data, "://") {
		// A local data set goes into the store first, as the model does.
		if _, err := os.Stat(p.Data); err == nil {
			st, err := e.store(cmd.Context())
			if err != nil {
				return "", err
			}
			if p.Data, err = datasets.Put(cmd.Context(), st, p.Data); err != nil {
				return "", usageError{err}
			}
		}
	}
	payload, err := tasks.Marshal(p)
	if err != nil {
		return "", usageError{err}
	}
	spec := &tasks.JobSpec{Name: "sensitivity", Type: tasks.TypeSensitivity, Payload: payload, Options: tasks.Options{Queue: queue}}
	pr, err := e.producer()
	if err != nil {
		return "", err
	}
	id, err := pr.Submit(cmd.Context(), spec)
	if err != nil {
		return "", err
	}
	if wait, _ := cmd.Flags().GetBool("wait"); wait {
		fmt.Fprintln(cmd.ErrOrStderr(), "job", id, "submitted; waiting")
	} else {
		fmt.Fprintln(cmd.OutOrStdout(), id)
	}
	return id, nil
}

// waitSensitivity waits for the job and returns its report.
func waitSensitivity(cmd *cobra.Command, e *env, id string) (*tasks.SensitivityResult, error) {
	pr, err := e.producer()
	if err != nil {
		return nil, err
	}
	st, err := waitJob(cmd.Context(), pr, id, 500*time.Millisecond)
	if err != nil {
		return nil, err
	}
	return sensitivityOf(st)
}

func sensitivityOf(st *producer.Status) (*tasks.SensitivityResult, error) {
	if st.Status == rdb.StatusFailed {
		return nil, fmt.Errorf("job %s failed: %s", st.ID, st.Error)
	}
	var res tasks.SensitivityResult
	if len(st.Results) == 0 || json.Unmarshal(st.Results[0], &res) != nil || res.Curves == nil {
		return nil, fmt.Errorf("job %s has no sensitivity report", st.ID)
	}
	return &res, nil
}

// sensitivityLocal runs the analysis in this process; the model is a file.
func sensitivityLocal(cmd *cobra.Command, e *env, p *tasks.SensitivityPayload, file string) (*tasks.SensitivityResult, error) {
	p.Model = "file://" + file // the payload wants a URI; validation only
	if err := p.Validate(); err != nil {
		return nil, usageError{err}
	}
	raw, err := readLimited(file, e.cfg.Artifacts.MaxBytes)
	if err != nil {
		return nil, err
	}
	splits, err := loadData(cmd.Context(), e, p.Data)
	if err != nil {
		return nil, err
	}
	r, err := recipe.Sensitivity(cmd.Context(), taskmap.SensitivityOptions(p, raw, e.limits(), splits))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	res := taskmap.SensitivityResult(p, r)
	res.Model = file
	return res, nil
}

func writeReport(name string, res *tasks.SensitivityResult) error {
	var buf bytes.Buffer
	if err := writeJSONTo(&buf, res); err != nil {
		return err
	}
	return os.WriteFile(name, buf.Bytes(), 0o644)
}

// plotReport draws the report's curves into a file; the extension picks
// the format.
func plotReport(name string, res *tasks.SensitivityResult) error {
	names := make([]string, len(res.Curves))
	curves := map[string][]prune.Point{}
	for i, c := range res.Curves {
		names[i] = c.Param
		for _, pt := range c.Points {
			curves[c.Param] = append(curves[c.Param], prune.Point{Sparsity: pt.Sparsity, Accuracy: pt.Accuracy})
		}
	}
	var chosen map[string]float64
	if res.Choice != nil {
		chosen = res.Choice.PerLayer
	}
	var buf bytes.Buffer
	if err := prune.PlotCurves(&buf, names, curves, res.Baseline, chosen, strings.TrimPrefix(filepath.Ext(name), ".")); err != nil {
		return err
	}
	return os.WriteFile(name, buf.Bytes(), 0o644)
}

// printSensitivityResult prints the curves as a table, one row per
// parameter, one column per level, and the choice.
func printSensitivityResult(w io.Writer, r *tasks.SensitivityResult) {
	if r.Artifact != "" {
		fmt.Fprintf(w, "  report    %s\n  plot      %s\n", r.Artifact, r.Plot)
	}
	fmt.Fprintf(w, "  baseline  %.2f%% on %d %s images\n", 100*r.Baseline, r.EvalSize, r.Split)
	if len(r.Curves) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "  parameter\tsize\t")
	for _, p := range r.Curves[0].Points {
		fmt.Fprintf(tw, "%g\t", p.Sparsity)
	}
	fmt.Fprintln(tw)
	for _, c := range r.Curves {
		fmt.Fprintf(tw, "  %s\t%d\t", c.Param, c.Size)
		for _, p := range c.Points {
			fmt.Fprintf(tw, "%.2f%%\t", 100*p.Accuracy)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	c := r.Choice
	if c == nil {
		return
	}
	if len(c.PerLayer) == 0 {
		fmt.Fprintf(w, "  no choice for target %g: %s\n", r.Target, c.Reason)
		return
	}
	fmt.Fprintf(w, "  choice for target %g: %.4f of the analysed weights pruned, predicted drop %.2f pt", r.Target, c.Sparsity, 100*c.PredictedDrop)
	if !c.Met {
		fmt.Fprintf(w, " — NOT MET: %s", c.Reason)
	}
	fmt.Fprintln(w)
	names := make([]string, 0, len(c.PerLayer))
	for n := range c.PerLayer {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "    %-18s %.4f\n", n, c.PerLayer[n])
	}
}
