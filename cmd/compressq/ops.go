package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"
	"github.com/spf13/cobra"

	"github.com/compressq/compressq/configs"
)

// Operator commands: read and change queue state through asynq's Inspector.
// Each prints a table by default and JSON with --json.

// taskStates are the values of `tasks ls --state`, in asynq's order.
var taskStates = []string{"pending", "active", "scheduled", "retry", "archived", "completed"}

// newOpsCmds returns the operator commands: queues, tasks (ls, show, retry,
// archive, delete), pause, unpause and workers.
func newOpsCmds() []*cobra.Command {
	cmds := []*cobra.Command{newQueuesCmd(), newTasksCmd(), newPauseCmd(true), newPauseCmd(false), newWorkersCmd()}
	for _, c := range cmds {
		configs.BindRedisFlags(c.PersistentFlags())
	}
	return cmds
}

// withInspector runs f with an Inspector on the configured Redis.
func withInspector(cmd *cobra.Command, f func(*asynq.Inspector) error) error {
	return withEnv(cmd, needRedis, func(e *env) error {
		// The Inspector shares e.rc, which withEnv closes; closing the
		// Inspector itself would only report that the connection is shared.
		return f(asynq.NewInspectorFromRedisClient(e.rc))
	})
}

// usageArgs makes an argument-count error a usageError (exit code 2).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// queueRow is one queue in `compressq queues`.
type queueRow struct {
	Queue          string  `json:"queue"`
	Paused         bool    `json:"paused"`
	Size           int     `json:"size"`
	Pending        int     `json:"pending"`
	Active         int     `json:"active"`
	Scheduled      int     `json:"scheduled"`
	Retry          int     `json:"retry"`
	Archived       int     `json:"archived"`
	Completed      int     `json:"completed"`
	Aggregating    int     `json:"aggregating"`
	LatencySeconds float64 `json:"latency_seconds"`
	ProcessedToday int     `json:"processed_today"`
	FailedToday    int     `json:"failed_today"`
	ProcessedTotal int     `json:"processed_total"`
	FailedTotal    int     `json:"failed_total"`
	MemoryBytes    int64   `json:"memory_bytes"`
}

func newQueuesCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "queues",
		Short: "Show every queue: tasks by state, oldest pending age, processed and failed today, paused",
		Example: `  compressq queues
  compressq queues --json | jq '.[] | select(.pending > 100) | .queue'`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withInspector(cmd, func(insp *asynq.Inspector) error {
				names, err := insp.Queues()
				if err != nil {
					return fmt.Errorf("list queues: %w", err)
				}
				slices.Sort(names)
				rows := make([]queueRow, 0, len(names))
				for _, q := range names {
					i, err := insp.GetQueueInfo(q)
					if err != nil {
						return fmt.Errorf("queue %q: %w", q, err)
					}
					rows = append(rows, queueRow{
						Queue: i.Queue, Paused: i.Paused, Size: i.Size,
						Pending: i.Pending, Active: i.Active, Scheduled: i.Scheduled, Retry: i.Retry,
						Archived: i.Archived, Completed: i.Completed, Aggregating: i.Aggregating,
						LatencySeconds: i.Latency.Seconds(),
						ProcessedToday: i.Processed, FailedToday: i.Failed,
						ProcessedTotal: i.ProcessedTotal, FailedTotal: i.FailedTotal,
						MemoryBytes: i.MemoryUsage,
					})
				}
				if asJSON {
					return writeJSONTo(cmd.OutOrStdout(), rows)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "QUEUE\tSTATE\tPENDING\tACTIVE\tSCHEDULED\tRETRY\tARCHIVED\tCOMPLETED\tLATENCY\tPROCESSED TODAY\tFAILED TODAY\tMEMORY")
				for _, r := range rows {
					state := "running"
					if r.Paused {
						state = "paused"
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%d\t%s\n", r.Queue, state,
						r.Pending, r.Active, r.Scheduled, r.Retry, r.Archived, r.Completed,
						(time.Duration(r.LatencySeconds * float64(time.Second))).Round(time.Millisecond),
						r.ProcessedToday, r.FailedToday, bytesString(r.MemoryBytes))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// taskRow is one task in `compressq tasks ls` and `tasks show`.
type taskRow struct {
	ID            string          `json:"id"`
	Queue         string          `json:"queue"`
	Type          string          `json:"type"`
	State         string          `json:"state"`
	Retried       int             `json:"retried"`
	MaxRetry      int             `json:"max_retry"`
	LastError     string          `json:"last_error,omitempty"`
	LastFailedAt  *time.Time      `json:"last_failed_at,omitempty"`
	NextProcessAt *time.Time      `json:"next_process_at,omitempty"`
	CompletedAt   *time.Time      `json:"completed_at,omitempty"`
	Deadline      *time.Time      `json:"deadline,omitempty"`
	Timeout       string          `json:"timeout,omitempty"`
	Retention     string          `json:"retention,omitempty"`
	Group         string          `json:"group,omitempty"`
	Orphaned      bool            `json:"orphaned,omitempty"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	Result        json.RawMessage `json:"result,omitempty"`
}

func newTaskRow(t *asynq.TaskInfo) taskRow {
	r := taskRow{
		ID: t.ID, Queue: t.Queue, Type: t.Type, State: t.State.String(),
		Retried: t.Retried, MaxRetry: t.MaxRetry, LastError: t.LastErr,
		LastFailedAt: timePtr(t.LastFailedAt), NextProcessAt: timePtr(t.NextProcessAt),
		CompletedAt: timePtr(t.CompletedAt), Deadline: timePtr(t.Deadline),
		Group: t.Group, Orphaned: t.IsOrphaned,
		Payload: rawJSON(t.Payload), Result: rawJSON(t.Result),
	}
	if t.Timeout > 0 {
		r.Timeout = t.Timeout.String()
	}
	if t.Retention > 0 {
		r.Retention = t.Retention.String()
	}
	return r
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// rawJSON returns b as JSON: itself if it is JSON, else a JSON string.
func rawJSON(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	if json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(string(b))
	return s
}

func newTasksCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tasks",
		Short: "List, show, retry, archive or delete the tasks of a queue",
		Example: `  compressq tasks ls default --state retry
  compressq tasks show default 3f2a…:0
  compressq tasks retry default 3f2a…:0`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("tasks needs a subcommand: ls, show, retry, archive or delete")}
		},
	}
	cmd.AddCommand(newTasksLsCmd(), newTasksShowCmd())
	for _, a := range []struct {
		use, short, example, done string
		do                        func(*asynq.Inspector, string, string) error
	}{
		{"retry", "Run a scheduled, retry or archived task now (move it to pending)",
			"  compressq tasks retry default 3f2a…:0\n  compressq tasks ls default --state archived --json | jq -r '.[].id' | xargs -n1 compressq tasks retry default",
			"pending", (*asynq.Inspector).RunTask},
		{"archive", "Archive a pending, scheduled or retry task: it stays visible but never runs",
			"  compressq tasks archive default 3f2a…:0", "archived", (*asynq.Inspector).ArchiveTask},
		{"delete", "Delete a task that is not running",
			"  compressq tasks delete default 3f2a…:0", "deleted", (*asynq.Inspector).DeleteTask},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:     a.use + " QUEUE ID",
			Short:   a.short,
			Example: a.example,
			Args:    usageArgs(cobra.ExactArgs(2)),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withInspector(cmd, func(insp *asynq.Inspector) error {
					if err := a.do(insp, args[0], args[1]); err != nil {
						return fmt.Errorf("%s task %s in queue %s: %w", a.use, args[1], args[0], err)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "task %s in queue %s: %s\n", args[1], args[0], a.done)
					return nil
				})
			},
		})
	}
	return cmd
}

func newTasksLsCmd() *cobra.Command {
	var (
		state       string
		limit, page int
		asJSON      bool
	)
	cmd := &cobra.Command{
		Use:   "ls QUEUE",
		Short: "List the tasks of a queue in one state",
		Example: `  compressq tasks ls default                      # pending tasks
  compressq tasks ls critical --state archived --limit 10
  compressq tasks ls default --state retry --json | jq -r '.[].last_error'`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			list, ok := map[string]func(*asynq.Inspector, string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
				"pending":   (*asynq.Inspector).ListPendingTasks,
				"active":    (*asynq.Inspector).ListActiveTasks,
				"scheduled": (*asynq.Inspector).ListScheduledTasks,
				"retry":     (*asynq.Inspector).ListRetryTasks,
				"archived":  (*asynq.Inspector).ListArchivedTasks,
				"completed": (*asynq.Inspector).ListCompletedTasks,
			}[state]
			if !ok {
				return usageError{fmt.Errorf("--state: %q is not one of %s", state, strings.Join(taskStates, ", "))}
			}
			if limit < 1 || page < 1 {
				return usageError{fmt.Errorf("--limit and --page must be at least 1 (got %d, %d)", limit, page)}
			}
			return withInspector(cmd, func(insp *asynq.Inspector) error {
				infos, err := list(insp, args[0], asynq.PageSize(limit), asynq.Page(page))
				if err != nil {
					return fmt.Errorf("queue %s, %s tasks: %w", args[0], state, err)
				}
				rows := make([]taskRow, len(infos))
				for i, t := range infos {
					rows[i] = newTaskRow(t)
				}
				if asJSON {
					return writeJSONTo(cmd.OutOrStdout(), rows)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tTYPE\tSTATE\tRETRIED\tWHEN\tLAST ERROR")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", r.ID, r.Type, r.State, r.Retried, r.MaxRetry, when(r), clip(r.LastError, 60))
				}
				return tw.Flush()
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&state, "state", "pending", "task state: "+strings.Join(taskStates, ", "))
	f.IntVar(&limit, "limit", 50, "list at most this many tasks")
	f.IntVar(&page, "page", 1, "page of --limit tasks to list, from 1")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// when is the time that matters for a task in its state.
func when(r taskRow) string {
	switch {
	case r.CompletedAt != nil:
		return "completed " + r.CompletedAt.Format(time.RFC3339)
	case r.NextProcessAt != nil && r.State != "pending":
		return "runs " + r.NextProcessAt.Format(time.RFC3339)
	case r.LastFailedAt != nil:
		return "failed " + r.LastFailedAt.Format(time.RFC3339)
	}
	return "-"
}

func newTasksShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show QUEUE ID",
		Short: "Show one task: state, retries, last error, payload and result",
		Example: `  compressq tasks show default 3f2a…:0
  compressq tasks show default 3f2a…:0 --json | jq .payload`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withInspector(cmd, func(insp *asynq.Inspector) error {
				t, err := insp.GetTaskInfo(args[0], args[1])
				if err != nil {
					return fmt.Errorf("task %s in queue %s: %w", args[1], args[0], err)
				}
				r := newTaskRow(t)
				if asJSON {
					return writeJSONTo(cmd.OutOrStdout(), r)
				}
				printTask(cmd.OutOrStdout(), r)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printTask(w io.Writer, r taskRow) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\nqueue\t%s\ntype\t%s\nstate\t%s\nretried\t%d of %d\n", r.ID, r.Queue, r.Type, r.State, r.Retried, r.MaxRetry)
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"next run", r.NextProcessAt}, {"last failed", r.LastFailedAt}, {"completed", r.CompletedAt}, {"deadline", r.Deadline}} {
		if f.t != nil {
			fmt.Fprintf(tw, "%s\t%s\n", f.name, f.t.Format(time.RFC3339))
		}
	}
	for _, f := range [][2]string{{"timeout", r.Timeout}, {"retention", r.Retention}, {"group", r.Group}, {"last error", r.LastError}, {"payload", clip(string(r.Payload), 200)}, {"result", clip(string(r.Result), 200)}} {
		if f[1] != "" {
			fmt.Fprintf(tw, "%s\t%s\n", f[0], f[1])
		}
	}
	if r.Orphaned {
		fmt.Fprintln(tw, "orphaned\tyes: its worker stopped heartbeating; the task returns to the queue when its lease expires")
	}
	tw.Flush()
}

func newPauseCmd(pause bool) *cobra.Command {
	use, short, example, done := "pause", "Stop workers from taking tasks from a queue (running tasks finish; new tasks still queue)",
		"  compressq pause sweep\n  compressq queues        # STATE shows paused", "paused"
	do := (*asynq.Inspector).PauseQueue
	if !pause {
		use, short, example, done = "unpause", "Let workers take tasks from a paused queue again", "  compressq unpause sweep", "running"
		do = (*asynq.Inspector).UnpauseQueue
	}
	return &cobra.Command{
		Use:     use + " QUEUE",
		Short:   short,
		Example: example,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withInspector(cmd, func(insp *asynq.Inspector) error {
				if err := do(insp, args[0]); err != nil {
					return fmt.Errorf("%s queue %s: %w", use, args[0], err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "queue %s: %s\n", args[0], done)
				return nil
			})
		},
	}
}

// workerRow is one worker process in `compressq workers`.
type workerRow struct {
	ID             string         `json:"id"`
	Host           string         `json:"host"`
	PID            int            `json:"pid"`
	Concurrency    int            `json:"concurrency"`
	Queues         map[string]int `json:"queues"`
	StrictPriority bool           `json:"strict_priority"`
	Status         string         `json:"status"`
	Started        time.Time      `json:"started"`
	Active         []activeTask   `json:"active"`
}

// activeTask is a task a worker is running.
type activeTask struct {
	ID       string    `json:"id"`
	Type     string    `json:"type"`
	Queue    string    `json:"queue"`
	Started  time.Time `json:"started"`
	Deadline time.Time `json:"deadline"`
}

func newWorkersCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "workers",
		Short: "List the running worker processes and the tasks each is running",
		Example: `  compressq workers
  compressq workers --json | jq '.[] | {host, pid, busy: (.active | length)}'`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withInspector(cmd, func(insp *asynq.Inspector) error {
				servers, err := insp.Servers()
				if err != nil {
					return fmt.Errorf("list workers: %w", err)
				}
				rows := make([]workerRow, len(servers))
				for i, s := range servers {
					rows[i] = workerRow{ID: s.ID, Host: s.Host, PID: s.PID, Concurrency: s.Concurrency,
						Queues: s.Queues, StrictPriority: s.StrictPriority, Status: s.Status, Started: s.Started,
						Active: []activeTask{}}
					for _, a := range s.ActiveWorkers {
						rows[i].Active = append(rows[i].Active, activeTask{ID: a.TaskID, Type: a.TaskType, Queue: a.Queue, Started: a.Started, Deadline: a.Deadline})
					}
					slices.SortFunc(rows[i].Active, func(a, b activeTask) int { return a.Started.Compare(b.Started) })
				}
				slices.SortFunc(rows, func(a, b workerRow) int {
					return strings.Compare(fmt.Sprintf("%s %09d", a.Host, a.PID), fmt.Sprintf("%s %09d", b.Host, b.PID))
				})
				if asJSON {
					return writeJSONTo(cmd.OutOrStdout(), rows)
				}
				w := cmd.OutOrStdout()
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "HOST\tPID\tSTATUS\tBUSY\tSTARTED\tQUEUES")
				busy := 0
				for _, r := range rows {
					busy += len(r.Active)
					fmt.Fprintf(tw, "%s\t%d\t%s\t%d/%d\t%s\t%s\n", r.Host, r.PID, r.Status, len(r.Active), r.Concurrency, r.Started.Format(time.RFC3339), queueWeights(r.Queues))
				}
				if err := tw.Flush(); err != nil || busy == 0 {
					return err
				}
				fmt.Fprintln(w)
				tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "HOST\tPID\tQUEUE\tTYPE\tTASK\tSTARTED")
				for _, r := range rows {
					for _, a := range r.Active {
						fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", r.Host, r.PID, a.Queue, a.Type, a.ID, a.Started.Format(time.RFC3339))
					}
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// queueWeights formats a queue-weight map as "critical=6,default=3", heaviest first.
func queueWeights(q map[string]int) string {
	names := slices.Collect(maps.Keys(q))
	slices.SortFunc(names, func(a, b string) int {
		if q[a] != q[b] {
			return q[b] - q[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%d", n, q[n])
	}
	return strings.Join(parts, ",")
}

// bytesString formats n bytes with a binary unit.
func bytesString(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
