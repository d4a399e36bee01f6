package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/sweep"
)

func newSweepCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sweep",
		Short: "Architecture-search sweeps: start, watch, steer and export them",
		Long: `A sweep searches a space of architectures and compression settings with a strategy
(random, grid, evolution, asha, nsga2), fanning trials out over the workers as nas:eval
tasks. Its state lives in Redis, so any process may die and the sweep carries on.
The spec format is documented in docs/sweeps.md.`,
	}
	cmd.AddCommand(sweepStartCmd(), sweepStatusCmd(), sweepTopCmd(), sweepParetoCmd(), sweepExportCmd(),
		sweepSetCmd("pause", "Stop starting trials (running ones finish)", (*sweep.Controller).Pause),
		sweepSetCmd("resume", "Start trials again after a pause", (*sweep.Controller).Resume),
		sweepSetCmd("cancel", "End the sweep: no further trials start", (*sweep.Controller).Cancel),
		sweepListCmd())
	configs.BindRedisFlags(cmd.PersistentFlags())
	return cmd
}

// withSweeps loads the configuration and opens a sweep controller, which
// checks a new sweep's artifact URIs against the store (as submit does).
func withSweeps(cmd *cobra.Command, f func(c *sweep.Controller) error) error {
	return withEnv(cmd, needRedis, func(e *env) error {
		c, err := e.sweeps()
		if err != nil {
			return err
		}
		defer c.Close()
		return f(c)
	})
}

// withSweepStatus loads one sweep's status and hands it to f.
func withSweepStatus(cmd *cobra.Command, id string, f func(st *sweep.Status) error) error {
	return withSweeps(cmd, func(c *sweep.Controller) error {
		st, err := c.Status(cmd.Context(), id)
		if err != nil {
			return err
		}
		return f(st)
	})
}

func sweepStartCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "start SPEC",
		Short:   "Start a sweep from a spec file (YAML or JSON; - for stdin) and print its id",
		Example: "  sed \"s|\\$DATA|$DATA|\" docs/examples/sweep-mnist.yaml | compressq sweep start -",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := readSpecFile(args[0])
			if err != nil {
				return err
			}
			spec, err := sweep.ParseSpec(doc)
			if err != nil {
				return usageError{err}
			}
			return withSweeps(cmd, func(c *sweep.Controller) error {
				id, err := c.Start(cmd.Context(), spec)
				if errors.Is(err, sweep.ErrInvalidSpec) {
					return usageError{err}
				}
				if err == nil {
					fmt.Fprintln(cmd.OutOrStdout(), id)
				}
				return err
			})
		},
	}
	// The evaluator's table or data set URI is checked against the store.
	configs.BindArtifactFlags(cmd.Flags())
	return cmd
}

func sweepStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "status SWEEP",
		Short:   "Show a sweep's progress",
		Example: "  compressq sweep status s1\n  compressq sweep status --json s1 | jq .progress.Completed",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withSweepStatus(cmd, args[0], func(st *sweep.Status) error {
				if asJSON {
					return writeJSONTo(cmd.OutOrStdout(), st)
				}
				p := st.Progress
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "sweep\t%s %s\n", st.ID, st.Name)
				fmt.Fprintf(tw, "status\t%s\n", st.Status)
				fmt.Fprintf(tw, "strategy\t%s, seed %d, %d trials at most, %d at once\n", st.Spec.Config.Strategy, st.Spec.Config.Seed, st.Spec.Config.MaxTrials, st.Spec.Concurrency)
				fmt.Fprintf(tw, "trials\t%d completed, %d failed, %d pending, %d results waiting\n", p.Completed, p.Failed, p.Pending, st.Inbox)
				fmt.Fprintf(tw, "updated\t%s\n", st.Updated.Format("2006-01-02 15:04:05"))
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON, every trial included")
	return cmd
}

// completed returns the records that have objectives.
func completed(rs []nas.Record) []nas.Record {
	var out []nas.Record
	for _, r := range rs {
		if r.Objectives != nil {
			out = append(out, r)
		}
	}
	return out
}

func printRecords(w io.Writer, rs []nas.Record) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TRIAL\tEPOCHS\tACCURACY\tPARAMS\tBYTES\tLATENCY fp32\tLATENCY int8\tGENOME")
	for _, r := range rs {
		o := r.Objectives
		fmt.Fprintf(tw, "%s\t%d\t%.4f\t%d\t%d\t%.3gs\t%.3gs\t%s\n", r.Trial.ID, r.Trial.Epochs, o.Accuracy, o.Params, o.Bytes,
			o.LatencyFP32, o.LatencyInt8, r.Trial.Candidate.Describe())
	}
	return tw.Flush()
}

func sweepTopCmd() *cobra.Command {
	var n int
	cmd := &cobra.Command{
		Use:     "top SWEEP",
		Short:   "Show the most accurate trials so far",
		Example: "  compressq sweep top s1 -n 5",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withSweepStatus(cmd, args[0], func(st *sweep.Status) error {
				rs := completed(st.Progress.Records)
				sort.SliceStable(rs, func(i, j int) bool { return rs[i].Objectives.Accuracy > rs[j].Objectives.Accuracy })
				return printRecords(cmd.OutOrStdout(), rs[:min(n, len(rs))])
			})
		},
	}
	cmd.Flags().IntVarP(&n, "n", "n", 10, "how many trials")
	return cmd
}

func sweepParetoCmd() *cobra.Command {
	var (
		objectives []string
		plotFile   string
	)
	cmd := &cobra.Command{
		Use:   "pareto SWEEP",
		Short: "Show the Pareto front (and plot it)",
		Example: `  compressq sweep pareto s1
  compressq sweep pareto s1 --objectives accuracy,bytes --plot front.png`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withSweepStatus(cmd, args[0], func(st *sweep.Status) error {
				front, err := nas.ParetoFront(st.Progress.Records, objectives)
				if err != nil {
					return usageError{err}
				}
				if err := printRecords(cmd.OutOrStdout(), front); err != nil {
					return err
				}
				if plotFile == "" {
					return nil
				}
				if len(objectives) != 2 {
					return usageError{fmt.Errorf("--plot needs exactly two --objectives, got %v", objectives)}
				}
				format := strings.TrimPrefix(filepath.Ext(plotFile), ".")
				f, err := os.Create(plotFile)
				if err != nil {
					return err
				}
				if err := nas.PlotPareto(f, st.Progress.Records, objectives[1], objectives[0], format); err != nil {
					f.Close()
					return err
				}
				return f.Close()
			})
		},
	}
	cmd.Flags().StringSliceVar(&objectives, "objectives", []string{nas.ObjectiveAccuracy, nas.ObjectiveBytes}, "objectives of the front: "+strings.Join(nas.ObjectiveNames, ", "))
	cmd.Flags().StringVar(&plotFile, "plot", "", "write a plot of the first objective against the second (.png or .svg)")
	return cmd
}

func sweepExportCmd() *cobra.Command {
	var (
		asJSON bool
		out    string
	)
	cmd := &cobra.Command{
		Use:     "export SWEEP",
		Short:   "Export every trial as CSV (default) or JSON",
		Example: "  compressq sweep export s1 --out s1.csv\n  compressq sweep export s1 --json > s1.json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withSweepStatus(cmd, args[0], func(st *sweep.Status) error {
				w := cmd.OutOrStdout()
				if out != "" {
					f, err := os.Create(out)
					if err != nil {
						return err
					}
					defer f.Close()
					w = f
				}
				if asJSON {
					return nas.WriteJSON(w, st.Progress.Records)
				}
				return nas.WriteCSV(w, st.Progress.Records)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON instead of CSV")
	cmd.Flags().Bool("csv", true, "CSV (the default)")
	cmd.Flags().StringVar(&out, "out", "", "write to this file instead of stdout")
	return cmd
}

func sweepSetCmd(name, short string, f func(*sweep.Controller, context.Context, string) error) *cobra.Command {
	return &cobra.Command{
		Use:     name + " SWEEP",
		Short:   short,
		Example: "  compressq sweep " + name + " s1",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withSweeps(cmd, func(c *sweep.Controller) error { return f(c, cmd.Context(), args[0]) })
		},
	}
}

func sweepListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List sweeps, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withSweeps(cmd, func(c *sweep.Controller) error {
				ids, err := c.List(cmd.Context(), 0, 100)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SWEEP\tSTATUS\tSTRATEGY\tCOMPLETED\tFAILED\tPENDING")
				for _, id := range ids {
					st, err := c.Status(cmd.Context(), id)
					if err != nil {
						continue // expired between the listing and now
					}
					p := st.Progress
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\n", id, st.Status, st.Spec.Config.Strategy, p.Completed, p.Failed, p.Pending)
				}
				return tw.Flush()
			})
		},
	}
}
