package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/producer"
	"github.com/compressq/compressq/tasks"
)

func newSubmitCmd() *cobra.Command {
	var (
		o         tasks.Options
		maxRetry  int
		timeout   time.Duration
		unique    time.Duration
		processIn time.Duration
		deadline  string
		processAt string
		wait      bool
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "submit FILE",
		Short: "Submit a job spec (YAML or JSON; - for stdin) and print its id",
		Example: `  compressq submit job.yaml
  compressq submit --priority high --max-retry 3 --timeout 30m job.yaml
  compressq submit --wait job.json        # block until done, then print the result`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readSpecFile(args[0])
			if err != nil {
				return err
			}
			spec, err := producer.ParseSpec(data)
			if err != nil {
				return usageError{err}
			}
			f := cmd.Flags()
			if f.Changed("queue") {
				spec.Options.Queue = o.Queue
			}
			if f.Changed("priority") {
				spec.Options.Priority = o.Priority
			}
			if f.Changed("max-retry") {
				spec.Options.MaxRetry = &maxRetry
			}
			if f.Changed("timeout") {
				spec.Options.Timeout = tasks.Duration(timeout)
			}
			if f.Changed("unique") {
				spec.Options.Unique = tasks.Duration(unique)
			}
			if f.Changed("process-in") {
				spec.Options.ProcessIn = tasks.Duration(processIn)
			}
			if spec.Options.Deadline, err = timeFlag(cmd, "deadline", deadline, spec.Options.Deadline); err != nil {
				return err
			}
			if spec.Options.ProcessAt, err = timeFlag(cmd, "process-at", processAt, spec.Options.ProcessAt); err != nil {
				return err
			}
			return withEnv(cmd, needProducer, func(e *env) error {
				id, err := e.p.Submit(cmd.Context(), spec)
				if err != nil {
					return err
				}
				if !wait {
					fmt.Fprintln(cmd.OutOrStdout(), id)
					return nil
				}
				fmt.Fprintln(cmd.ErrOrStderr(), "job", id, "submitted; waiting")
				st, err := waitJob(cmd.Context(), e.p, id, 500*time.Millisecond)
				if err != nil {
					return err
				}
				return printResult(cmd.OutOrStdout(), st, asJSON)
			})
		},
	}
	f := cmd.Flags()
	configs.BindRedisFlags(f)
	configs.BindArtifactFlags(f)
	f.StringVar(&o.Queue, "queue", "", "queue: critical, default, sweep or low")
	f.StringVar(&o.Priority, "priority", "", "priority: high, normal or low (an alias of queue)")
	f.IntVar(&maxRetry, "max-retry", 0, "retries after a failure before the task is archived")
	f.DurationVar(&timeout, "timeout", 0, "bound on one attempt of each step")
	f.StringVar(&deadline, "deadline", "", "RFC 3339 time after which no step may run")
	f.DurationVar(&unique, "unique", 0, "reject an identical task for this long")
	f.StringVar(&processAt, "process-at", "", "RFC 3339 time to start the job")
	f.DurationVar(&processIn, "process-in", 0, "start the job after this delay")
	f.BoolVar(&wait, "wait", false, "wait for the job to finish and print its result")
	f.BoolVar(&asJSON, "json", false, "with --wait: print the result as JSON")
	return cmd
}

// timeFlag parses an RFC 3339 flag value if the flag was set, else keeps old.
func timeFlag(cmd *cobra.Command, name, value string, old *time.Time) (*time.Time, error) {
	if !cmd.Flags().Changed(name) {
		return old, nil
	}
	t, err := time.Parse(time.RFC3339, value)
	if err != nil {
		return nil, usageError{fmt.Errorf("--%s: %q is not an RFC 3339 time", name, value)}
	}
	return &t, nil
}

func readSpecFile(name string) ([]byte, error) {
	var r io.Reader = os.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, usageError{err}
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, producer.MaxSpecBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > producer.MaxSpecBytes {
		return nil, usageError{fmt.Errorf("%s: job spec exceeds %d bytes", name, producer.MaxSpecBytes)}
	}
	return data, nil
}

// waitJob polls until the job succeeds or fails.
func waitJob(ctx context.Context, p *producer.Producer, id string, every time.Duration) (*producer.Status, error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		st, err := p.Status(ctx, id)
		if err != nil {
			return nil, err
		}
		if st.Status == rdb.StatusSucceeded || st.Status == rdb.StatusFailed {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func newStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "status JOB",
		Short:   "Show a job's state",
		Example: "  compressq status 3f2a…\n  compressq status --json 3f2a… | jq .status",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := jobStatus(cmd, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				st.Spec = nil
				return writeJSONTo(cmd.OutOrStdout(), st)
			}
			printStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	configs.BindRedisFlags(cmd.Flags())
	return cmd
}

func newResultCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "result JOB",
		Short:   "Show the results of a job's steps",
		Example: "  compressq result 3f2a…\n  compressq result --json 3f2a… | jq '.[0].artifact'",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := jobStatus(cmd, args[0])
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), st, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the step results as a JSON array")
	configs.BindRedisFlags(cmd.Flags())
	return cmd
}

func newJobsCmd() *cobra.Command {
	var (
		asJSON        bool
		offset, limit int
	)
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "List jobs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEnv(cmd, needProducer, func(e *env) error {
				jobs, err := e.p.List(cmd.Context(), offset, limit)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSONTo(cmd.OutOrStdout(), jobs)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "JOB\tNAME\tSTATUS\tSTEP\tCREATED\tERROR")
				for _, j := range jobs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", j.ID, j.Name, j.Status, j.Current+1, j.Steps, j.Created.Format(time.RFC3339), clip(j.Error, 60))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&offset, "offset", 0, "skip this many jobs")
	cmd.Flags().IntVar(&limit, "limit", 50, "list at most this many jobs")
	configs.BindRedisFlags(cmd.Flags())
	return cmd
}

func jobStatus(cmd *cobra.Command, id string) (st *producer.Status, err error) {
	err = withEnv(cmd, needProducer, func(e *env) error {
		st, err = e.p.Status(cmd.Context(), id)
		return err
	})
	return st, err
}

func printStatus(w io.Writer, st *producer.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "job\t%s\n", st.ID)
	if st.Name != "" {
		fmt.Fprintf(tw, "name\t%s\n", st.Name)
	}
	fmt.Fprintf(tw, "status\t%s\n", st.Status)
	fmt.Fprintf(tw, "step\t%d of %d\n", st.Current+1, st.Steps)
	fmt.Fprintf(tw, "created\t%s\n", st.Created.Format(time.RFC3339))
	fmt.Fprintf(tw, "updated\t%s\n", st.Updated.Format(time.RFC3339))
	if st.Error != "" {
		fmt.Fprintf(tw, "error\tstep %d: %s\n", st.FailedStep, st.Error)
	}
	if t := st.Task; t != nil {
		fmt.Fprintf(tw, "task\t%s in %s: %s, retried %d of %d\n", t.ID, t.Queue, t.State, t.Retried, t.MaxRetry)
		if t.LastErr != "" {
			fmt.Fprintf(tw, "last error\t%s\n", t.LastErr)
		}
	}
	for i, a := range st.Artifacts {
		if a != "" {
			fmt.Fprintf(tw, "artifact %d\t%s\n", i, a)
		}
	}
	tw.Flush()
}

// printResult prints each finished step's result: a table per known result
// type, JSON otherwise.
func printResult(w io.Writer, st *producer.Status, asJSON bool) error {
	if asJSON {
		return writeJSONTo(w, st.Results)
	}
	if st.Status == rdb.StatusFailed {
		fmt.Fprintf(w, "job %s failed at step %d: %s\n", st.ID, st.FailedStep, st.Error)
	}
	for i, raw := range st.Results {
		if raw == nil {
			continue
		}
		fmt.Fprintf(w, "step %d:\n", i)
		var q tasks.QuantizeResult
		if err := json.Unmarshal(raw, &q); err == nil && q.Artifact != "" && q.BytesAfter > 0 {
			printQuantizeResult(w, &q)
			continue
		}
		var pr tasks.PruneResult
		if err := json.Unmarshal(raw, &pr); err == nil && pr.Artifact != "" && pr.PerLayerSparsity != nil {
			printPruneResult(w, &pr)
			continue
		}
		var sr tasks.SensitivityResult
		if err := json.Unmarshal(raw, &sr); err == nil && sr.Curves != nil {
			printSensitivityResult(w, &sr)
			continue
		}
		var dr tasks.DistillResult
		if err := json.Unmarshal(raw, &dr); err == nil && dr.Artifact != "" && dr.TeacherAccuracy > 0 {
			printDistillResult(w, &dr)
			continue
		}
		var tr tasks.TrainResult
		if err := json.Unmarshal(raw, &tr); err == nil && tr.Artifact != "" && tr.Curve != nil {
			printTrainResult(w, &tr)
			continue
		}
		fmt.Fprintf(w, "%s\n", raw)
	}
	return nil
}

func printQuantizeResult(w io.Writer, r *tasks.QuantizeResult) {
	fmt.Fprintf(w, "  artifact  %s\n  bytes     %d → %d (%.2f× smaller)\n", r.Artifact, r.BytesBefore, r.BytesAfter, r.Ratio)
	if r.AccuracyInt8 > 0 {
		fmt.Fprintf(w, "  accuracy  fp32 %.2f%%, fake-quant %.2f%%, int8 %.2f%%", 100*r.AccuracyFP32, 100*r.AccuracyFake, 100*r.AccuracyInt8)
		if r.AccuracyShared > 0 {
			fmt.Fprintf(w, ", k-means shared %.2f%%", 100*r.AccuracyShared)
		}
		fmt.Fprintf(w, "\n  test set  %.2fs fp32, %.2fs int8\n", r.LatencyFP32, r.LatencyInt8)
		if r.PlanLatencyInt8 > 0 {
			fmt.Fprintf(w, "  latency   fp32 %.3g ms, int8 %.3g ms per batch of %d, one thread (runtime plans; %.2f× faster)\n",
				1e3*r.PlanLatencyFP32, 1e3*r.PlanLatencyInt8, r.PlanBatch, r.PlanLatencyFP32/r.PlanLatencyInt8)
		}
	}
	if len(r.Tensors) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  tensor\tshape\tencoding\tmax |err|\tmean |err|\tbound\t")
	for _, t := range r.Tensors {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%.3g\t%.3g\t%.3g\t\n", t.Name, shapeString(t.Shape), t.Encoding, t.MaxAbs, t.MeanAbs, t.Bound)
	}
	tw.Flush()
}

func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, "×") + "]"
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
